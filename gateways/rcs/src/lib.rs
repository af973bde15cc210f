//! otpgate's RCS channel: verification codes sent as text messages from a Google RCS Business
//! Messaging (RBM) agent (<https://developers.google.com/business-communications/rcs-business-messaging>).
//!
//! # Layout
//! - [`api`]: the platform's JSON shapes (agent message, Google error body, the Pub/Sub-style
//!   webhook envelope and the agent event inside it), shared with the fake.
//! - [`status`]: the one table that classifies refusals and transport failures.
//! - [`signature`]: the `X-Goog-Signature` HMAC that signs webhook events.
//! - `tracker`: matches events to sent messages, reports each outcome once.
//! - [`RcsGateway`]: the [`Gateway`] the engine calls, plus [`RcsGateway::handle_callback`] for
//!   the engine's webhook route.
//! - [`fake`]: a fake RBM platform (also the `otpgate-fake-rcs` binary).
#![forbid(unsafe_code)]

pub mod api;
pub mod fake;
pub mod signature;
pub mod status;
mod tracker;

pub use signature::SIGNATURE_HEADER;

use api::{AgentEvent, AgentMessage, PushEnvelope};
use async_trait::async_trait;
use otpgate_gateway::{Accepted, Channel, Coverage, Gateway, GatewayError, OutboundMessage, ReportSender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracker::Tracker;

/// One RBM agent (the engine maps its `protocol = "rcs"` `[[carriers]]` entry to this).
#[derive(Clone)]
pub struct RcsConfig {
    pub name: String,
    /// `https://rcsbusinessmessaging.googleapis.com` for the real platform.
    pub base_url: String,
    pub agent_id: String,
    /// The OAuth access token sent as `Authorization: Bearer`.
    pub token: String,
    /// The agent's webhook client token, the key of `X-Goog-Signature`. An extension key, not in
    /// the contract's carrier table.
    pub webhook_token: String,
    pub coverage: Coverage,
    /// Per request, connection included.
    pub timeout: Duration,
}

// The tokens stay out of every `{:?}`.
impl std::fmt::Debug for RcsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RcsConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("agent_id", &self.agent_id)
            .field("token", &"<redacted>")
            .field("webhook_token", &"<redacted>")
            .field("coverage", &self.coverage)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a webhook request was refused. Nothing was applied in any case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// Signature header missing, or the signature does not match `message.data`.
    #[error("missing or invalid signature")]
    BadSignature,
    /// Not a push envelope, `data` not base64, or (correctly signed) not an agent event.
    #[error("malformed callback: {0}")]
    Malformed(String),
}

impl CallbackError {
    /// The HTTP status the engine's webhook route answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            CallbackError::BadSignature => 401,
            CallbackError::Malformed(_) => 400,
        }
    }
}

pub struct RcsGateway {
    config: RcsConfig,
    http: reqwest::Client,
    tracker: Tracker,
    /// With `sequence`, makes every `messageId` unique: RBM refuses a reused one, and a
    /// verification's resends share its request id.
    started: u64,
    sequence: AtomicU64,
}

impl RcsGateway {
    pub fn new(config: RcsConfig, reports: ReportSender) -> Arc<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .expect("a rustls client with default settings builds");
        let tracker = Tracker::new(config.name.clone(), reports);
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        Arc::new(Self {
            config,
            http,
            tracker,
            started,
            sequence: AtomicU64::new(0),
        })
    }

    /// Applies one webhook request: the `X-Goog-Signature` header value and the raw body.
    /// Returns how many outcomes were reported to the engine (0 for `IS_TYPING`, user messages,
    /// repeats and unknown messages; else 1).
    pub fn handle_callback(&self, signature: Option<&str>, body: &[u8]) -> Result<usize, CallbackError> {
        let Some(signature) = signature else {
            return Err(CallbackError::BadSignature);
        };
        let envelope: PushEnvelope =
            serde_json::from_slice(body).map_err(|e| CallbackError::Malformed(format!("envelope: {e}")))?;
        let data = envelope
            .data()
            .map_err(|e| CallbackError::Malformed(format!("message.data: {e}")))?;
        if !signature::verify(&self.config.webhook_token, &data, signature) {
            return Err(CallbackError::BadSignature);
        }
        let event: AgentEvent =
            serde_json::from_slice(&data).map_err(|e| CallbackError::Malformed(format!("event: {e}")))?;
        let Some(event_type) = event.event_type else {
            return Ok(0);
        };
        let applied = self.tracker.apply(&event.message_id, &event_type);
        tracing::debug!(
            carrier = %self.config.name,
            message_id = %event.message_id,
            event_type = %event_type,
            applied,
            "rcs event"
        );
        Ok(usize::from(applied))
    }

    /// Messages waiting for their outcome event.
    pub fn tracked(&self) -> usize {
        self.tracker.tracked()
    }

    fn next_message_id(&self, request_id: &str) -> String {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!("{request_id}-{:x}-{n}", self.started)
    }
}

#[async_trait]
impl Gateway for RcsGateway {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn channels(&self) -> &[Channel] {
        &[Channel::Rcs]
    }

    fn serves_country(&self, country: &str) -> bool {
        self.config.coverage.serves(country)
    }

    fn fee_micros(&self, country: &str) -> u64 {
        self.config.coverage.fee_micros(country)
    }

    /// An HTTP platform has no session to lose; failures show up per send.
    fn is_up(&self) -> bool {
        true
    }

    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, GatewayError> {
        let Some(digits) = api::e164_digits(&message.to) else {
            return Err(GatewayError::permanent(
                "invalid_request",
                "destination is not an E.164 number",
            ));
        };
        let message_id = self.next_message_id(&message.request_id);
        let response = self
            .http
            .post(api::agent_messages_url(&self.config.base_url, digits))
            .query(&[("messageId", message_id.as_str()), ("agentId", &self.config.agent_id)])
            .bearer_auth(&self.config.token)
            .json(&AgentMessage::text(&message.text))
            .send()
            .await
            .map_err(|e| status::classify_transport(&e));
        let outcome = match response {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let http_status = response.status().as_u16();
                let retry_after = status::parse_retry_after(
                    response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok()),
                );
                let body = response.bytes().await.unwrap_or_default();
                let google_status = api::error_status(&body);
                Err(status::classify(http_status, google_status.as_deref(), retry_after))
            }
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            tracing::debug!(carrier = %self.config.name, request_id = %message.request_id, error = %e, "rcs send failed");
            return Err(e);
        }
        self.tracker.track(&message_id, message);
        Ok(Accepted {
            carrier_message_id: message_id,
            parts: 1,
            delivery: None,
        })
    }
}
