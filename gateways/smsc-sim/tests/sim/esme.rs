//! A bare ESME for the tests: rusmpp's `CommandCodec` over a TcpStream (or a TLS stream), no
//! session logic, so every test sees exactly the PDUs the simulator sends.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, DeliverSm, SubmitSm};
use rusmpp::tlvs::TlvValue;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, InterfaceVersion, MessageState, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// How long a test waits for a PDU it expects.
pub const PATIENCE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub enum Bind {
    Transmitter,
    Receiver,
    Transceiver,
}

/// What an ESME can speak over: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub struct Esme {
    framed: Framed<Box<dyn Io>, CommandCodec>,
    sequence: u32,
}

impl Esme {
    pub async fn connect(addr: SocketAddr) -> Esme {
        Esme::over(tcp(addr).await)
    }

    /// An ESME on an already open stream.
    pub fn over(stream: impl Io + 'static) -> Esme {
        Esme {
            framed: Framed::new(Box::new(stream), CommandCodec::new()),
            sequence: 0,
        }
    }

    /// Connects and binds as a transceiver with the default credentials.
    pub async fn bound(addr: SocketAddr) -> Esme {
        Esme::bound_as(addr, Bind::Transceiver).await
    }

    pub async fn bound_as(addr: SocketAddr, kind: Bind) -> Esme {
        let mut esme = Esme::connect(addr).await;
        let response = esme.bind(kind, "otpgate", "secret").await;
        assert_eq!(response.status(), CommandStatus::EsmeRok, "bind refused");
        esme
    }

    pub async fn bind(&mut self, kind: Bind, system_id: &str, password: &str) -> Command {
        let system_id = COctetString::from_string(system_id.to_owned()).unwrap();
        let password = COctetString::from_string(password.to_owned()).unwrap();
        let pdu: Pdu = match kind {
            Bind::Transmitter => BindTransmitter::builder()
                .system_id(system_id)
                .password(password)
                .interface_version(InterfaceVersion::Smpp3_4)
                .build()
                .into(),
            Bind::Receiver => BindReceiver::builder()
                .system_id(system_id)
                .password(password)
                .interface_version(InterfaceVersion::Smpp3_4)
                .build()
                .into(),
            Bind::Transceiver => BindTransceiver::builder()
                .system_id(system_id)
                .password(password)
                .interface_version(InterfaceVersion::Smpp3_4)
                .build()
                .into(),
        };
        let sequence = self.send(pdu).await;
        let response = self.next().await.expect("a bind response");
        assert_eq!(response.sequence_number(), sequence);
        response
    }

    /// Sends a request and returns its sequence number.
    pub async fn send(&mut self, pdu: impl Into<Pdu>) -> u32 {
        self.sequence += 1;
        let command = Command::new(CommandStatus::EsmeRok, self.sequence, pdu);
        self.framed.send(command).await.expect("send a PDU");
        self.sequence
    }

    /// The stream itself, for bytes rusmpp would refuse to encode.
    pub fn stream(&mut self) -> &mut Box<dyn Io> {
        self.framed.get_mut()
    }

    pub async fn send_raw(&mut self, command: Command) {
        self.framed.send(command).await.expect("send a PDU");
    }

    /// The next PDU; `None` when the simulator closed the connection. Panics after [`PATIENCE`].
    pub async fn next(&mut self) -> Option<Command> {
        match tokio::time::timeout(PATIENCE, self.framed.next()).await {
            Ok(Some(Ok(command))) => Some(command),
            Ok(Some(Err(_))) | Ok(None) => None,
            Err(_) => panic!("no PDU from the simulator within {PATIENCE:?}"),
        }
    }

    /// Everything the simulator sends before answering an enquire_link sent now. Responses go
    /// out in order, so an answer missing here was never written.
    pub async fn until_barrier(&mut self) -> Vec<Command> {
        let barrier = self.send(Pdu::EnquireLink).await;
        let mut seen = Vec::new();
        loop {
            let command = self.next().await.expect("connection open until the barrier");
            if command.id() == CommandId::EnquireLinkResp && command.sequence_number() == barrier {
                return seen;
            }
            seen.push(command);
        }
    }

    /// Asserts the simulator closes the connection without sending anything more.
    pub async fn expect_closed(&mut self) {
        if let Some(command) = self.next().await {
            panic!("expected the connection to close, got {command:?}");
        }
    }

    /// Sends a submit_sm and returns its response.
    pub async fn submit(&mut self, submit: SubmitSm) -> Command {
        let sequence = self.send(submit).await;
        let response = self.next().await.expect("a submit_sm_resp");
        assert_eq!(response.id(), CommandId::SubmitSmResp, "{response:?}");
        assert_eq!(response.sequence_number(), sequence);
        response
    }

    /// Waits for the next deliver_sm and acknowledges it.
    pub async fn receipt(&mut self) -> DeliverSm {
        let command = self.next().await.expect("a deliver_sm");
        let Some(Pdu::DeliverSm(deliver)) = command.pdu() else {
            panic!("expected deliver_sm, got {command:?}");
        };
        let deliver = deliver.clone();
        let ack = Command::new(
            CommandStatus::EsmeRok,
            command.sequence_number(),
            Pdu::DeliverSmResp(Default::default()),
        );
        self.send_raw(ack).await;
        deliver
    }
}

/// A TCP connection to the simulator, TCP_NODELAY set.
pub async fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).await.expect("connect to the simulator");
    stream.set_nodelay(true).unwrap();
    stream
}

/// A GSM 7-bit (unpacked) submit_sm from "otpgate" to `destination` asking for a receipt.
pub fn gsm_submit(destination: &str, text: &str) -> SubmitSm {
    let bytes = rusmpp_extra::encoding::gsm7bit::Gsm7BitUnpacked::new()
        .encode_to_vec(text)
        .expect("GSM-encodable text");
    submit_bytes(destination, DataCoding::McSpecific, 0, bytes)
}

pub fn submit_bytes(destination: &str, coding: DataCoding, esm_class: u8, bytes: Vec<u8>) -> SubmitSm {
    SubmitSm::builder()
        .source_addr_ton(Ton::Alphanumeric)
        .source_addr_npi(Npi::Unknown)
        .source_addr(COctetString::from_string("otpgate".into()).unwrap())
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(COctetString::from_string(destination.into()).unwrap())
        .esm_class(EsmClass::from(esm_class))
        .registered_delivery(RegisteredDelivery::from(1))
        .data_coding(coding)
        .short_message(OctetString::from_vec(bytes).unwrap())
        .build()
}

/// The submit_sm_resp's message_id.
pub fn message_id(response: &Command) -> String {
    match response.pdu() {
        Some(Pdu::SubmitSmResp(resp)) => resp.message_id().as_str().to_owned(),
        other => panic!("expected submit_sm_resp, got {other:?}"),
    }
}

pub fn receipt_text(deliver: &DeliverSm) -> String {
    String::from_utf8(deliver.short_message().as_ref().to_vec()).unwrap()
}

/// The receipt's (receipted_message_id, message_state) TLVs.
pub fn receipt_tlvs(deliver: &DeliverSm) -> (Option<String>, Option<MessageState>) {
    let mut id = None;
    let mut state = None;
    for tlv in deliver.tlvs() {
        match tlv.value() {
            Some(TlvValue::ReceiptedMessageId(value)) => id = Some(value.as_str().to_owned()),
            Some(TlvValue::MessageState(value)) => state = Some(*value),
            _ => {}
        }
    }
    (id, state)
}
