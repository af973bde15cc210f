//! The PDUs this ESME reads and writes, apart from the session that moves them.
//!
//! Reading: [`read`] turns a [`Frame`] into what the session has to do — the answer it owes the
//! SMSC, and the event behind it. Responses are told apart by the header's `command_id`, not by
//! their body: SMPP 3.4 §3.3 lets any response with a non-zero `command_status` be a bare
//! 16-octet header (npm `smpp` sends every refusal that way), and rusmpp returns those without a
//! `pdu()`.
//!
//! Writing: one function per PDU the session sends, every field set explicitly to its SMPP 3.4
//! meaning (§4) rather than left to a builder's default; `submit_sm` is built in
//! [`crate::encoding`]. `tests/golden_bytes.rs` decodes each of them octet by octet.
use crate::codec::Frame;
use crate::receipt::{self, Receipt};
use rusmpp::pdus::{BindTransceiver, DataSmResp, DeliverSmResp};
use rusmpp::types::COctetString;
use rusmpp::values::{InterfaceVersion, Npi, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};

/// What one inbound PDU asks of the session: `reply` to write first (if the PDU wants one),
/// then `event` to act on.
#[derive(Debug)]
pub struct Inbound {
    pub reply: Option<Command>,
    pub event: Event,
}

#[derive(Debug, PartialEq)]
pub enum Event {
    /// A response (any `*_resp`, or generic_nack) to one of our requests.
    Response(Response),
    /// A delivery receipt in a deliver_sm or data_sm; `source_addr` is the handset as the SMSC
    /// spells it.
    Receipt { receipt: Receipt, source_addr: String },
    /// A deliver_sm / data_sm that is not a receipt (a mobile-originated message): answered,
    /// not used.
    NotAReceipt,
    /// enquire_link (answered).
    EnquireLink,
    /// The SMSC unbinds us (answered): the session ends.
    Unbind,
    /// A request this ESME does not serve, or could not decode (answered with an error unless
    /// it takes no answer, like alert_notification).
    Unsupported { command_id: u32 },
}

/// A response, read from its header and, when present, its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub command_id: CommandId,
    pub command_status: u32,
    pub sequence_number: u32,
    /// submit_sm_resp's `message_id`, when it came with a body.
    pub message_id: Option<String>,
}

/// Reads one frame.
pub fn read(frame: Frame) -> Inbound {
    let command = match frame {
        Frame::Decoded(command) => command,
        Frame::Undecodable(header) if header.is_response() => {
            // A refusal with a body we cannot parse is still a refusal of that sequence_number.
            return no_reply(Event::Response(Response {
                command_id: CommandId::from(header.command_id),
                command_status: header.command_status,
                sequence_number: header.sequence_number,
                message_id: None,
            }));
        }
        Frame::Undecodable(header) => return unsupported(header.command_id, header.sequence_number, true),
    };
    let sequence_number = command.sequence_number();
    let command_id = command.id();
    if command_id.is_response() {
        let message_id = match command.pdu() {
            Some(Pdu::SubmitSmResp(resp)) => Some(resp.message_id().as_str().to_owned()),
            _ => None,
        };
        return no_reply(Event::Response(Response {
            command_id,
            command_status: u32::from(command.status()),
            sequence_number,
            message_id,
        }));
    }
    match command.pdu() {
        Some(Pdu::DeliverSm(deliver_sm)) => Inbound {
            // Always acknowledged, receipt or not, or the SMSC redelivers it forever.
            reply: Some(deliver_sm_resp(sequence_number, CommandStatus::EsmeRok)),
            event: receipt_event(receipt::from_deliver_sm(deliver_sm), deliver_sm.source_addr.as_str()),
        },
        Some(Pdu::DataSm(data_sm)) => Inbound {
            reply: Some(data_sm_resp(sequence_number, CommandStatus::EsmeRok)),
            event: receipt_event(receipt::from_data_sm(data_sm), data_sm.source_addr.as_str()),
        },
        Some(Pdu::EnquireLink) => Inbound {
            reply: Some(enquire_link_resp(sequence_number)),
            event: Event::EnquireLink,
        },
        Some(Pdu::Unbind) => Inbound {
            reply: Some(unbind_resp(sequence_number)),
            event: Event::Unbind,
        },
        _ => unsupported(command_id.into(), sequence_number, command.pdu().is_none()),
    }
}

fn no_reply(event: Event) -> Inbound {
    Inbound { reply: None, event }
}

fn receipt_event(receipt: Option<Receipt>, source_addr: &str) -> Event {
    match receipt {
        Some(receipt) => Event::Receipt {
            receipt,
            source_addr: source_addr.to_owned(),
        },
        None => Event::NotAReceipt,
    }
}

/// The answer to a request we do not serve (`undecodable`: or whose body we could not read).
fn unsupported(command_id: u32, sequence_number: u32, undecodable: bool) -> Inbound {
    let event = Event::Unsupported { command_id };
    let reply = match CommandId::from(command_id) {
        // §4.12.1: alert_notification takes no response.
        CommandId::AlertNotification => None,
        // A receipt we cannot read will not read better when redelivered: ESME_RX_P_APPN
        // (§5.1.3) tells the SMSC not to retry it.
        CommandId::DeliverSm => Some(deliver_sm_resp(sequence_number, CommandStatus::EsmeRxPAppn)),
        CommandId::DataSm => Some(data_sm_resp(sequence_number, CommandStatus::EsmeRxPAppn)),
        _ => Some(generic_nack(
            sequence_number,
            if undecodable {
                CommandStatus::EsmeRinvcmdlen
            } else {
                CommandStatus::EsmeRinvcmdid
            },
        )),
    };
    Inbound { reply, event }
}

/// bind_transceiver (§4.1.5): interface_version 0x34, addr_ton / addr_npi 0 and an empty
/// address_range (no routing restriction asked).
pub fn bind_transceiver(
    sequence_number: u32,
    system_id: COctetString<1, 16>,
    password: COctetString<1, 9>,
    system_type: COctetString<1, 13>,
) -> Command {
    let bind = BindTransceiver::builder()
        .system_id(system_id)
        .password(password)
        .system_type(system_type)
        .interface_version(InterfaceVersion::Smpp3_4)
        .addr_ton(Ton::Unknown)
        .addr_npi(Npi::Unknown)
        .address_range(COctetString::empty())
        .build();
    Command::new(CommandStatus::EsmeRok, sequence_number, Pdu::BindTransceiver(bind))
}

/// enquire_link (§4.11.1): header only.
pub fn enquire_link(sequence_number: u32) -> Command {
    Command::new(CommandStatus::EsmeRok, sequence_number, Pdu::EnquireLink)
}

/// enquire_link_resp (§4.11.2): header only.
pub fn enquire_link_resp(sequence_number: u32) -> Command {
    Command::new(CommandStatus::EsmeRok, sequence_number, Pdu::EnquireLinkResp)
}

/// unbind (§4.2.1): header only.
pub fn unbind(sequence_number: u32) -> Command {
    Command::new(CommandStatus::EsmeRok, sequence_number, Pdu::Unbind)
}

/// unbind_resp (§4.2.2): header only.
pub fn unbind_resp(sequence_number: u32) -> Command {
    Command::new(CommandStatus::EsmeRok, sequence_number, Pdu::UnbindResp)
}

/// deliver_sm_resp (§4.6.2): message_id is unused and set to NULL (one 0x00 octet).
pub fn deliver_sm_resp(sequence_number: u32, status: CommandStatus) -> Command {
    let resp = DeliverSmResp::new(COctetString::empty(), Vec::new());
    Command::new(status, sequence_number, Pdu::DeliverSmResp(resp))
}

/// data_sm_resp (§4.7.2): an ESME answering the SMSC's data_sm has no message id to give, so
/// message_id is NULL and no TLVs follow.
pub fn data_sm_resp(sequence_number: u32, status: CommandStatus) -> Command {
    let resp = DataSmResp::new(COctetString::empty(), Vec::new());
    Command::new(status, sequence_number, Pdu::DataSmResp(resp))
}

/// generic_nack (§4.3.1): header only, the error in command_status.
pub fn generic_nack(sequence_number: u32, status: CommandStatus) -> Command {
    Command::new(status, sequence_number, Pdu::GenericNack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::FrameCodec;
    use bytes::BytesMut;
    use tokio_util::codec::Decoder;

    fn read_bytes(bytes: &[u8]) -> Inbound {
        let frame = FrameCodec::default()
            .decode(&mut BytesMut::from(bytes))
            .unwrap()
            .expect("one whole frame");
        read(frame)
    }

    fn header_only(command_id: u32, status: u32, sequence_number: u32) -> Vec<u8> {
        [16u32, command_id, status, sequence_number]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect()
    }

    /// Every response of SMPP 3.4 §4, as a bare header with an error status, is matched by its
    /// sequence_number and keeps its status.
    #[test]
    fn every_header_only_error_response_is_read_from_its_header() {
        let responses = [
            0x8000_0001u32, // bind_receiver_resp
            0x8000_0002,    // bind_transmitter_resp
            0x8000_0003,    // query_sm_resp
            0x8000_0004,    // submit_sm_resp
            0x8000_0005,    // deliver_sm_resp
            0x8000_0006,    // unbind_resp
            0x8000_0007,    // replace_sm_resp
            0x8000_0008,    // cancel_sm_resp
            0x8000_0009,    // bind_transceiver_resp
            0x8000_0015,    // enquire_link_resp
            0x8000_0021,    // submit_multi_resp
            0x8000_0103,    // data_sm_resp
            0x8000_0000,    // generic_nack
        ];
        for (i, command_id) in responses.into_iter().enumerate() {
            let seq = 100 + i as u32;
            let inbound = read_bytes(&header_only(command_id, 0x0B, seq));
            assert!(inbound.reply.is_none(), "{command_id:#x}: a response is never answered");
            assert_eq!(
                inbound.event,
                Event::Response(Response {
                    command_id: CommandId::from(command_id),
                    command_status: 0x0B,
                    sequence_number: seq,
                    message_id: None,
                }),
                "{command_id:#x}"
            );
        }
    }

    #[test]
    fn an_accepted_submit_keeps_its_message_id() {
        let bytes = [0, 0, 0, 0x13, 0x80, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 3, b'4', b'2', 0];
        let Event::Response(response) = read_bytes(&bytes).event else {
            panic!()
        };
        assert_eq!(
            (response.command_status, response.message_id.as_deref()),
            (0, Some("42"))
        );
    }

    #[test]
    fn requests_we_do_not_serve_get_generic_nack_and_alert_notification_nothing() {
        let nack = read_bytes(&header_only(0x0000_0003, 0, 5)); // query_sm, header only
        let reply = nack.reply.unwrap();
        assert_eq!((reply.id(), reply.sequence_number()), (CommandId::GenericNack, 5));
        let unknown = read_bytes(&header_only(0x0000_0666, 0, 6)).reply.unwrap();
        assert_eq!(unknown.id(), CommandId::GenericNack);
        assert!(read_bytes(&header_only(0x0000_0102, 0, 7)).reply.is_none());
    }

    #[test]
    fn enquire_link_and_unbind_are_answered_with_their_sequence_number() {
        let enquire = read_bytes(&header_only(0x15, 0, 11));
        assert_eq!(enquire.event, Event::EnquireLink);
        let reply = enquire.reply.unwrap();
        assert_eq!((reply.id(), reply.sequence_number()), (CommandId::EnquireLinkResp, 11));
        let unbind = read_bytes(&header_only(0x06, 0, 12));
        assert_eq!(unbind.event, Event::Unbind);
        assert_eq!(unbind.reply.unwrap().id(), CommandId::UnbindResp);
    }
}
