//! One SMPP connection: bind, answer, apply rules, send receipts.
//!
//! A single task owns the socket. It decodes every frame already readable, answers each into one
//! write buffer, and writes that buffer with one syscall when the read side runs dry (or the
//! batch grows large): under a pipelined load hundreds of responses leave per write. All PDU
//! handling is synchronous; the only awaits are the socket write and waiting for input.
//!
//! Reading and writing never overlap, so the task keeps the stream whole instead of splitting
//! it: the same code serves a `TcpStream` and a TLS stream, monomorphised, with no lock between
//! two halves.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt;
use rusmpp::pdus::{BindReceiverResp, BindTransceiverResp, BindTransmitterResp, SubmitSm, SubmitSmResp};
use rusmpp::tlvs::TlvValue;
use rusmpp::types::COctetString;
use rusmpp::values::InterfaceVersion;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::FramedRead;

use crate::receipt::{receipt_excerpt, unix_now, Address, Receipt, ReceiptForm, ReceiptPdu};
use crate::records::{hex, MessageRecord};
use crate::rules::{Action, FinalState, ReceiptPlan, RuleSet, Verdict};
use crate::server::Shared;
use crate::stats::Tally;
use crate::text;
use crate::wire::{self, FrameDecoder, Inbound};

/// Write once this much is buffered even if more input is readable.
const FLUSH_AT: usize = 128 * 1024;
const READ_CAPACITY: usize = 64 * 1024;
/// The system_id this SMSC announces in bind responses.
const SMSC_SYSTEM_ID: &[u8] = b"smsc-sim\0";
const UDHI: u8 = 0x40;
/// How long closing may wait for the peer to take a TLS close_notify.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// Write what is buffered, then close.
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BindKind {
    Transmitter,
    Receiver,
    Transceiver,
}

impl BindKind {
    fn can_submit(self) -> bool {
        self != BindKind::Receiver
    }

    fn can_receive(self) -> bool {
        self != BindKind::Transmitter
    }
}

struct Bound {
    system_id: Arc<str>,
    kind: BindKind,
}

/// Runs one accepted connection (plain TCP, or TLS after its handshake) to its end.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, shared: Arc<Shared>) {
    let connection_id = shared.next_connection_id();
    shared.stats.connection_opened();
    let mut reader = FramedRead::with_capacity(stream, FrameDecoder::default(), READ_CAPACITY);
    let (outbox, mut inbox) = mpsc::unbounded_channel();
    let mut session = Session::new(connection_id, shared.clone(), outbox);
    let ended = session.run(&mut reader, &mut inbox).await;
    shared.router.unregister(connection_id);
    session.commit();
    shared.stats.connection_closed();
    match ended {
        // FIN (and TLS close_notify) only now, so a client that sees the close finds it counted.
        Ok(()) => {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, reader.get_mut().shutdown()).await;
        }
        Err(error) => tracing::debug!(connection_id, %error, "connection ended by a write error"),
    }
    tracing::debug!(connection_id, "connection closed");
}

struct Session {
    connection_id: u64,
    shared: Arc<Shared>,
    bound: Option<Bound>,
    /// Handed to the router when a receiving bind succeeds.
    outbox: mpsc::UnboundedSender<Receipt>,
    out: BytesMut,
    next_sequence: u32,
    /// Submits held unanswered by `hold_then_drop`.
    held: usize,
    rules_generation: u64,
    rules: Arc<RuleSet>,
    tally: Tally,
    records: Vec<MessageRecord>,
}

impl Session {
    fn new(connection_id: u64, shared: Arc<Shared>, outbox: mpsc::UnboundedSender<Receipt>) -> Session {
        let (rules_generation, rules) = shared.rules();
        Session {
            connection_id,
            shared,
            bound: None,
            outbox,
            out: BytesMut::with_capacity(FLUSH_AT),
            next_sequence: 1,
            held: 0,
            rules_generation,
            rules,
            tally: Tally::default(),
            records: Vec::new(),
        }
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        reader: &mut FramedRead<S, FrameDecoder>,
        inbox: &mut mpsc::UnboundedReceiver<Receipt>,
    ) -> std::io::Result<()> {
        let shutdown = self.shared.shutdown.clone();
        loop {
            let flow = tokio::select! {
                _ = shutdown.cancelled() => Flow::Close,
                flow = poll_fn(|cx| self.drain_readable(cx, reader)) => flow,
                Some(receipt) = inbox.recv() => {
                    self.write_receipt(&receipt);
                    while let Ok(receipt) = inbox.try_recv() {
                        self.write_receipt(&receipt);
                    }
                    Flow::Continue
                }
            };
            // Count and record before the client can see the answers.
            self.commit();
            if !self.out.is_empty() {
                let stream = reader.get_mut();
                stream.write_all(&self.out).await?;
                // A no-op on TCP; TLS may hold the tail of a record until flushed.
                stream.flush().await?;
                self.out.clear();
            }
            if flow == Flow::Close {
                return Ok(());
            }
        }
    }

    /// Handles every frame that can be decoded without waiting; pending only if there was none.
    fn drain_readable<S: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut FramedRead<S, FrameDecoder>,
    ) -> Poll<Flow> {
        let mut handled = false;
        loop {
            match reader.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(inbound))) => {
                    handled = true;
                    if self.handle(inbound) == Flow::Close {
                        return Poll::Ready(Flow::Close);
                    }
                    if self.out.len() >= FLUSH_AT {
                        return Poll::Ready(Flow::Continue);
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    tracing::debug!(connection_id = self.connection_id, %error, "unreadable stream");
                    return Poll::Ready(Flow::Close);
                }
                Poll::Ready(None) => return Poll::Ready(Flow::Close),
                Poll::Pending if handled => return Poll::Ready(Flow::Continue),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Publishes this batch's counts and records.
    fn commit(&mut self) {
        self.shared.stats.add(&mut self.tally);
        self.shared.records.append(&mut self.records);
    }

    fn handle(&mut self, inbound: Inbound) -> Flow {
        let command = match inbound {
            Inbound::Command(command) => command,
            Inbound::Malformed {
                command_id,
                sequence_number,
            } => {
                if !is_response(command_id) {
                    self.nack(sequence_number, CommandStatus::EsmeRinvcmdlen);
                }
                return Flow::Continue;
            }
        };
        let sequence = command.sequence_number();
        // Answers to our receipts, read from the header: an ESME may refuse one with a bare
        // header too.
        match command.id() {
            CommandId::DeliverSmResp | CommandId::DataSmResp => {
                if command.id() == CommandId::DeliverSmResp {
                    self.tally.deliver_sm_resp += 1;
                } else {
                    self.tally.data_sm_resp += 1;
                }
                if command.status() != CommandStatus::EsmeRok {
                    self.tally.receipt_resp_error += 1;
                }
                return Flow::Continue;
            }
            _ => {}
        }
        match command.pdu() {
            Some(Pdu::SubmitSm(submit)) => self.submit(sequence, submit),
            Some(Pdu::EnquireLink) => {
                self.tally.enquire_link += 1;
                self.reply(CommandStatus::EsmeRok, sequence, Pdu::EnquireLinkResp);
                Flow::Continue
            }
            Some(Pdu::BindTransmitter(bind)) => self.bind(
                sequence,
                BindKind::Transmitter,
                (bind.system_id.as_ref(), bind.password.as_ref()),
                bind.interface_version,
            ),
            Some(Pdu::BindReceiver(bind)) => self.bind(
                sequence,
                BindKind::Receiver,
                (bind.system_id.as_ref(), bind.password.as_ref()),
                bind.interface_version,
            ),
            Some(Pdu::BindTransceiver(bind)) => self.bind(
                sequence,
                BindKind::Transceiver,
                (bind.system_id.as_ref(), bind.password.as_ref()),
                bind.interface_version,
            ),
            Some(Pdu::Unbind) => {
                self.tally.unbind += 1;
                self.reply(CommandStatus::EsmeRok, sequence, Pdu::UnbindResp);
                Flow::Close
            }
            Some(Pdu::UnbindResp) => Flow::Close,
            _ if is_response(command.id().into()) => Flow::Continue,
            _ => {
                self.nack(sequence, CommandStatus::EsmeRinvcmdid);
                Flow::Continue
            }
        }
    }

    fn bind(
        &mut self,
        sequence: u32,
        kind: BindKind,
        (system_id, password): (&[u8], &[u8]),
        version: InterfaceVersion,
    ) -> Flow {
        let settings = &self.shared.settings;
        let system_id = trim_nul(system_id);
        let status = if self.bound.is_some() {
            CommandStatus::EsmeRalybnd
        } else if system_id != settings.system_id.as_bytes() {
            CommandStatus::EsmeRinvsysid
        } else if trim_nul(password) != settings.password.as_bytes() {
            CommandStatus::EsmeRinvpaswd
        } else if !matches!(u8::from(version), 0x00..=0x34 | 0x50) {
            CommandStatus::EsmeRbindfail
        } else {
            CommandStatus::EsmeRok
        };
        let smsc_id = COctetString::from_static_slice(SMSC_SYSTEM_ID).unwrap_or_default();
        let version = Some(InterfaceVersion::Smpp3_4);
        let response: Pdu = match kind {
            BindKind::Transmitter => BindTransmitterResp::new(smsc_id, version).into(),
            BindKind::Receiver => BindReceiverResp::new(smsc_id, version).into(),
            BindKind::Transceiver => BindTransceiverResp::new(smsc_id, version).into(),
        };
        if status == CommandStatus::EsmeRok {
            self.reply(status, sequence, response);
        } else {
            self.reply_error(status, sequence, response, false);
        }
        match status {
            CommandStatus::EsmeRok => {
                self.tally.binds_ok += 1;
                let system_id: Arc<str> = String::from_utf8_lossy(system_id).into();
                tracing::info!(connection_id = self.connection_id, %system_id, ?kind, "bound");
                if kind.can_receive() {
                    self.shared
                        .router
                        .register(self.connection_id, system_id.clone(), self.outbox.clone());
                }
                self.bound = Some(Bound { system_id, kind });
                Flow::Continue
            }
            // A second bind on a bound session is refused but does not end it.
            CommandStatus::EsmeRalybnd => Flow::Continue,
            _ => {
                self.tally.binds_failed += 1;
                tracing::warn!(
                    connection_id = self.connection_id,
                    system_id = %String::from_utf8_lossy(system_id),
                    ?status,
                    "bind refused"
                );
                Flow::Close
            }
        }
    }

    fn submit(&mut self, sequence: u32, submit: &SubmitSm) -> Flow {
        self.tally.submit_sm += 1;
        let system_id = match &self.bound {
            Some(bound) if bound.kind.can_submit() => bound.system_id.clone(),
            _ => {
                self.refuse_submit(sequence, CommandStatus::EsmeRinvbndsts, false);
                return Flow::Continue;
            }
        };
        let registered_delivery = u8::from(submit.registered_delivery);
        let (action, verdict) = self.decide(submit.destination_addr.as_ref(), registered_delivery);
        let mut message_id = String::new();
        let mut flow = Flow::Continue;
        match verdict {
            Verdict::Accept { receipt } => {
                let id = self.shared.next_message_id();
                message_id = self.shared.settings.message_id_format.format(id);
                self.accept_submit(sequence, &message_id);
                if let Some(plan) = receipt.filter(|plan| wants_receipt(registered_delivery, plan.state)) {
                    let receipt = self.receipt_for(submit, system_id.clone(), id, &message_id, plan);
                    self.send_receipt(receipt, plan.delay.unwrap_or(self.shared.settings.receipt_delay));
                }
            }
            Verdict::Error { status, header_only } => {
                self.refuse_submit(sequence, CommandStatus::from(status), header_only);
            }
            Verdict::Silent => {}
            Verdict::Drop => {
                self.tally.dropped_connections += 1;
                flow = Flow::Close;
            }
            Verdict::Hold { pending } => {
                self.held += 1;
                if self.held >= pending {
                    self.tally.dropped_connections += 1;
                    flow = Flow::Close;
                }
            }
        }
        if self.shared.settings.record && !self.shared.records.is_full() {
            let record = self.record(submit, &system_id, sequence, message_id, action);
            self.records.push(record);
        }
        flow
    }

    /// The first live rule for `destination`, else the default: accept, and report delivery if
    /// the submit asked for a receipt.
    fn decide(&mut self, destination: &[u8], registered_delivery: u8) -> (&'static str, Verdict) {
        if self.shared.rules_generation() != self.rules_generation {
            (self.rules_generation, self.rules) = self.shared.rules();
        }
        let destination = trim_nul(destination);
        if let Some((action, verdict)) = self.rules.decide(destination) {
            return (action.name(), verdict);
        }
        let plan = ReceiptPlan {
            state: FinalState::Delivered,
            err: 0,
            delay: None,
            form: ReceiptForm::default(),
        };
        let action = if wants_receipt(registered_delivery, plan.state) {
            Action::Deliver
        } else {
            Action::Accept
        };
        (action.name(), Verdict::Accept { receipt: Some(plan) })
    }

    fn receipt_for(
        &self,
        submit: &SubmitSm,
        system_id: Arc<str>,
        id: u64,
        message_id: &str,
        plan: ReceiptPlan,
    ) -> Receipt {
        let settings = &self.shared.settings;
        let (_, user_data) = text::split_udh(content(submit), u8::from(submit.esm_class) & UDHI != 0);
        let excerpt = text::decode(u8::from(submit.data_coding), user_data)
            .map(|text| receipt_excerpt(&text))
            .unwrap_or_default();
        Receipt {
            origin_connection: self.connection_id,
            system_id,
            message_id: message_id.to_owned(),
            text_id: settings.receipt_text_id_format.format(id),
            from: Address {
                ton: submit.dest_addr_ton,
                npi: submit.dest_addr_npi,
                addr: submit.destination_addr.clone(),
            },
            to: Address {
                ton: submit.source_addr_ton,
                npi: submit.source_addr_npi,
                addr: submit.source_addr.clone(),
            },
            state: plan.state,
            err: plan.err,
            submitted_at_secs: unix_now().as_secs(),
            text: excerpt,
            form: plan.form,
        }
    }

    /// Due now on a receiving bind: written right behind the response. Otherwise routed.
    fn send_receipt(&mut self, receipt: Receipt, delay: Duration) {
        let here = self.bound.as_ref().is_some_and(|bound| bound.kind.can_receive());
        if !delay.is_zero() {
            let _ = self.shared.scheduler.send((receipt, delay));
        } else if here && !self.shared.settings.receipts_on_other_bind {
            self.write_receipt(&receipt);
        } else if !self.shared.router.route(receipt) {
            self.shared.stats.receipt_undeliverable();
        }
    }

    fn write_receipt(&mut self, receipt: &Receipt) {
        let pdu = receipt.to_pdu(unix_now().as_secs(), self.shared.settings.receipt_tlvs);
        match receipt.form.pdu {
            ReceiptPdu::DeliverSm => self.tally.deliver_sm_sent += 1,
            ReceiptPdu::DataSm => self.tally.data_sm_sent += 1,
        }
        let sequence = self.next_sequence();
        wire::put(&mut self.out, &Command::new(CommandStatus::EsmeRok, sequence, pdu));
    }

    fn accept_submit(&mut self, sequence: u32, message_id: &str) {
        self.tally.submit_sm_resp_ok += 1;
        let id = COctetString::from_string(message_id.to_owned()).unwrap_or_default();
        self.reply(CommandStatus::EsmeRok, sequence, SubmitSmResp::new(id, Vec::new()));
    }

    /// A submit_sm_resp with an error: an empty message_id, or no body at all when the rule or
    /// `--header-only-errors` asks.
    fn refuse_submit(&mut self, sequence: u32, status: CommandStatus, header_only: bool) {
        self.tally.submit_sm_resp_error += 1;
        self.reply_error(
            status,
            sequence,
            SubmitSmResp::new(COctetString::empty(), Vec::new()),
            header_only,
        );
    }

    fn record(
        &self,
        submit: &SubmitSm,
        system_id: &str,
        sequence: u32,
        message_id: String,
        action: &str,
    ) -> MessageRecord {
        let esm_class = u8::from(submit.esm_class);
        let data_coding = u8::from(submit.data_coding);
        let content = content(submit);
        let (udh, user_data) = text::split_udh(content, esm_class & UDHI != 0);
        MessageRecord {
            connection_id: self.connection_id,
            system_id: system_id.to_owned(),
            sequence_number: sequence,
            message_id,
            source_addr: submit.source_addr.as_str().to_owned(),
            source_addr_ton: u8::from(submit.source_addr_ton),
            source_addr_npi: u8::from(submit.source_addr_npi),
            destination_addr: submit.destination_addr.as_str().to_owned(),
            dest_addr_ton: u8::from(submit.dest_addr_ton),
            dest_addr_npi: u8::from(submit.dest_addr_npi),
            esm_class,
            data_coding,
            registered_delivery: u8::from(submit.registered_delivery),
            short_message_hex: hex(content),
            udh: udh.map(Into::into),
            text: text::decode(data_coding, user_data),
            action: action.to_owned(),
            received_at_ms: unix_now().as_millis() as u64,
        }
    }

    fn reply(&mut self, status: CommandStatus, sequence: u32, pdu: impl Into<Pdu>) {
        wire::put(&mut self.out, &Command::new(status, sequence, pdu));
    }

    /// An error response: with its body, or the bare header (`header_only` from a rule, or
    /// every error with `--header-only-errors`).
    fn reply_error(&mut self, status: CommandStatus, sequence: u32, pdu: impl Into<Pdu>, header_only: bool) {
        let pdu = pdu.into();
        if header_only || self.shared.settings.header_only_errors {
            wire::put_header_only(&mut self.out, pdu.command_id().into(), status.into(), sequence);
        } else {
            self.reply(status, sequence, pdu);
        }
    }

    fn nack(&mut self, sequence: u32, status: CommandStatus) {
        self.tally.generic_nack += 1;
        self.reply(status, sequence, Pdu::GenericNack);
    }

    fn next_sequence(&mut self) -> u32 {
        let sequence = self.next_sequence;
        self.next_sequence = if sequence >= 0x7FFF_FFFF { 1 } else { sequence + 1 };
        sequence
    }
}

/// registered_delivery's low two bits: 1 every final state, 2 failures only, 3 success only.
fn wants_receipt(registered_delivery: u8, state: FinalState) -> bool {
    match registered_delivery & 0x03 {
        1 => true,
        2 => !state.is_success(),
        3 => state.is_success(),
        _ => false,
    }
}

/// The message bytes: short_message, or the message_payload TLV when short_message is empty.
fn content(submit: &SubmitSm) -> &[u8] {
    let short_message = submit.short_message().as_ref();
    if !short_message.is_empty() {
        return short_message;
    }
    submit
        .tlvs()
        .iter()
        .find_map(|tlv| match tlv.value() {
            Some(TlvValue::MessagePayload(payload)) => Some(payload.value.as_ref()),
            _ => None,
        })
        .unwrap_or(short_message)
}

fn is_response(command_id: u32) -> bool {
    command_id & 0x8000_0000 != 0
}

/// C-octet strings keep their terminating NUL in rusmpp's byte view.
fn trim_nul(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(&[0]).unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_delivery_bits() {
        assert!(!wants_receipt(0, FinalState::Delivered));
        assert!(wants_receipt(1, FinalState::Delivered));
        assert!(wants_receipt(1, FinalState::Undeliverable));
        assert!(!wants_receipt(2, FinalState::Delivered));
        assert!(wants_receipt(2, FinalState::Expired));
        assert!(wants_receipt(3, FinalState::Delivered));
        assert!(!wants_receipt(3, FinalState::Rejected));
        // Bits above the receipt request (SME acks, intermediate notifications) do not matter.
        assert!(wants_receipt(0x11, FinalState::Delivered));
    }
}
