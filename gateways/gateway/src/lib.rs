//! The contract between the otpgate engine and every delivery channel.
//!
//! # Layout
//! - [`Channel`]: the six channels a code can travel on, with their wire spellings.
//! - [`Gateway`]: what a carrier connection (SMPP bind, SIP trunk, HTTP platform) implements.
//! - [`Coverage`]: the countries a carrier serves and its fee in each.
//! - [`GatewayError`]: classified failures; routing and fallback branch only on [`ErrorKind`]
//!   and, for permanent refusals, on the [`Fault`] (number, carrier or message).
//! - [`DeliveryReport`]: a receipt that arrived after the carrier took a message, sent to the
//!   engine through a [`ReportSender`] each gateway is built with.
//! - [`config`]: the [`config::Problems`] each protocol's carrier keys are validated into.
//! - [`sandbox`]: the sandbox channel, which "delivers" into an in-memory inbox.
//!
//! Protocol crates (SMPP, SIP, the HTTP platforms and `otpgate-http-kit`, the kit those share)
//! live beside this one under `gateways/` and depend on it; the engine depends on them only
//! through `Arc<dyn Gateway>` and their config types.
#![forbid(unsafe_code)]

mod channel;
pub mod config;
mod coverage;
mod error;
pub mod sandbox;

pub use channel::{Channel, ParseChannelError};
pub use coverage::Coverage;
pub use error::{ErrorKind, Fault, GatewayError};

use async_trait::async_trait;

/// `otpgate_carrier_up{carrier}`: 1 while a carrier can take messages, else 0 (CONTRACT §7).
/// Defined here, once, for the engine and the gateways that set it.
pub const CARRIER_UP: &str = "otpgate_carrier_up";

/// One message to deliver. `text` is already rendered for the recipient's locale; `code` is
/// carried separately because some platforms (WhatsApp templates, Telegram Gateway) take the
/// code as a parameter rather than inside free text.
#[derive(Clone)]
pub struct OutboundMessage {
    /// The verification this message belongs to; used to correlate receipts.
    pub request_id: String,
    /// The application (tenant) that asked for it; the sandbox inbox is kept per application.
    pub application: String,
    /// E.164 with the leading `+`.
    pub to: String,
    pub channel: Channel,
    pub code: String,
    pub text: String,
    pub locale: String,
}

// The code is a secret: keep it out of every `{:?}` that might reach a log line.
impl std::fmt::Debug for OutboundMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundMessage")
            .field("request_id", &self.request_id)
            .field("application", &self.application)
            .field("to", &self.to)
            .field("channel", &self.channel)
            .field("code", &"<redacted>")
            .field("locale", &self.locale)
            .finish()
    }
}

/// What a carrier said when it took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The carrier's id for the message (the first part's, for a long SMS sent in parts), used
    /// to match later delivery receipts.
    pub carrier_message_id: String,
    /// How many messages the carrier took: parts of a concatenated SMS count one each.
    pub parts: u32,
    /// Set when the channel knows the outcome at once (the sandbox does); otherwise a receipt
    /// arrives later through the engine's receipt path.
    pub delivery: Option<Delivery>,
}

/// Final outcome of one message on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    Failed,
}

/// A receipt the carrier sent after it took a message: the message reached the handset, or
/// definitely will not. Gateways match it to the message and send it to the engine.
///
/// A final receipt for a message the gateway does not remember (sent before a restart, or by
/// another node) is sent too, *unmatched* ([`DeliveryReport::unmatched`]): `request_id` and
/// `application` empty, `to` the handset as the receipt spells it (or empty) and
/// `carrier_message_id` the id as the gateway would have tracked it. The engine matches it
/// through the messages it stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub request_id: String,
    pub application: String,
    /// E.164 with the leading `+`, as in [`OutboundMessage::to`].
    pub to: String,
    pub carrier: String,
    pub channel: Channel,
    pub carrier_message_id: String,
    pub delivery: Delivery,
    /// The carrier's own word for the outcome (`DELIVRD`, `UNDELIV`, `read`, ...), for the report.
    pub status: String,
    /// The carrier's error code, when it gave one.
    pub error: Option<String>,
}

impl DeliveryReport {
    /// A final receipt the gateway could not match to a message it sent (see the type's doc).
    pub fn unmatched(
        carrier: String,
        channel: Channel,
        carrier_message_id: String,
        handset: Option<String>,
        delivery: Delivery,
        status: String,
        error: Option<String>,
    ) -> Self {
        Self {
            request_id: String::new(),
            application: String::new(),
            to: handset.unwrap_or_default(),
            carrier,
            channel,
            carrier_message_id,
            delivery,
            status,
            error,
        }
    }

    /// Whether the gateway left the matching to the engine ([`DeliveryReport::unmatched`]).
    pub fn is_unmatched(&self) -> bool {
        self.request_id.is_empty()
    }
}

/// Where gateways send [`DeliveryReport`]s; the engine holds the receiving end.
pub type ReportSender = tokio::sync::mpsc::UnboundedSender<DeliveryReport>;
pub type ReportReceiver = tokio::sync::mpsc::UnboundedReceiver<DeliveryReport>;

/// A connected pair for [`ReportSender`] / [`ReportReceiver`].
pub fn report_channel() -> (ReportSender, ReportReceiver) {
    tokio::sync::mpsc::unbounded_channel()
}

/// A carrier connection that can carry one-time codes on one or more channels.
#[async_trait]
pub trait Gateway: Send + Sync + 'static {
    /// The carrier's configured name; used in metrics labels and reports.
    fn name(&self) -> &str;
    /// Channels this carrier carries.
    fn channels(&self) -> &[Channel];
    /// Whether the carrier serves a country (ISO 3166-1 alpha-2).
    fn serves_country(&self, country: &str) -> bool;
    /// Pass-through fee in micro-dollars for one message to `country`.
    fn fee_micros(&self, country: &str) -> u64;
    /// Whether a verification whose message this carrier accepted is charged (not the sandbox).
    fn billable(&self) -> bool {
        true
    }
    /// Whether the carrier is currently able to take messages (bound, reachable).
    fn is_up(&self) -> bool;
    /// Hand one message to the carrier. Returns once the carrier accepted or refused it.
    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, GatewayError>;
    /// How long after `send` accepted `message` its outcome may take to arrive as a
    /// [`DeliveryReport`], when that is known to be longer than a receipt usually takes: a voice
    /// call is accepted when answered and reports once the prompt has played. The engine waits at
    /// least this long before it falls back to the next channel.
    fn outcome_within(&self, _message: &OutboundMessage) -> Option<std::time::Duration> {
        None
    }
    /// Brings gauges that are cheaper to read than to maintain per message up to date; called
    /// when metrics are scraped.
    fn refresh_metrics(&self) {}
    /// Leaves the carrier cleanly (SMPP unbind, SIP de-registration) once in-flight sends are
    /// done. Called once, on shutdown.
    async fn shutdown(&self) {}
}
