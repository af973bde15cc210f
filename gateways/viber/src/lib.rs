//! otpgate's Viber channel: verification codes sent as a Viber Business Messages OTP template
//! to the Viber account of a phone number, with delivery told by signed callbacks.
//!
//! # Layout
//! - [`api`]: the JSON shapes (the `send_message` body and answer, callbacks), shared with the
//!   fake.
//! - [`status`]: the one table that classifies refusals and transport failures.
//! - [`signature`]: the header names and the HMAC that signs callbacks.
//! - `tracker`: matches callbacks to sent messages, reports each outcome once.
//! - [`ViberGateway`]: the [`Gateway`] the engine calls, plus [`ViberGateway::handle_callback`]
//!   for the engine's callback route.
//! - [`fake`]: a fake platform (also the `otpgate-fake-viber` binary).
#![forbid(unsafe_code)]

pub mod api;
pub mod fake;
pub mod signature;
pub mod status;
mod tracker;

pub use signature::{AUTH_HEADER, SIGNATURE_HEADER};

use api::{Callback, SendAnswer, SendMessage};
use async_trait::async_trait;
use otpgate_gateway::{Accepted, Channel, Coverage, Gateway, GatewayError, OutboundMessage, ReportSender};
use std::sync::Arc;
use std::time::Duration;
use tracker::Tracker;

/// One Viber Business Messages account (the engine maps its `[[carriers]]` entry to this).
#[derive(Clone)]
pub struct ViberConfig {
    pub name: String,
    /// The platform's API root; `send` POSTs to `{base_url}/send_message`.
    pub base_url: String,
    /// Sent as `X-Viber-Auth-Token`; also the key that signs callbacks.
    pub token: String,
    pub coverage: Coverage,
    /// Per request, connection included.
    pub timeout: Duration,
}

// The token stays out of every `{:?}`.
impl std::fmt::Debug for ViberConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViberConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("token", &"<redacted>")
            .field("coverage", &self.coverage)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a callback was refused. Nothing was applied in any case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The signature header is missing or does not match the body.
    #[error("missing or invalid signature")]
    BadSignature,
    /// Correctly signed, but not a callback we can read.
    #[error("malformed callback: {0}")]
    Malformed(String),
}

impl CallbackError {
    /// The HTTP status the engine's callback route answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            CallbackError::BadSignature => 401,
            CallbackError::Malformed(_) => 400,
        }
    }
}

pub struct ViberGateway {
    config: ViberConfig,
    http: reqwest::Client,
    tracker: Tracker,
}

impl ViberGateway {
    pub fn new(config: ViberConfig, reports: ReportSender) -> Arc<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .expect("a rustls client with default settings builds");
        let tracker = Tracker::new(config.name.clone(), reports);
        Arc::new(Self { config, http, tracker })
    }

    /// Applies one callback POSTed to the account's webhook: the `X-Viber-Content-Signature`
    /// header value and the raw body. Returns how many outcomes were reported to the engine
    /// (0 for other events, repeats such as `seen` after `delivered`, and unknown tokens; else 1).
    pub fn handle_callback(&self, signature: Option<&str>, body: &[u8]) -> Result<usize, CallbackError> {
        let Some(sig) = signature else {
            return Err(CallbackError::BadSignature);
        };
        if !signature::verify(&self.config.token, body, sig) {
            return Err(CallbackError::BadSignature);
        }
        let callback: Callback = serde_json::from_slice(body).map_err(|e| CallbackError::Malformed(e.to_string()))?;
        if tracker::outcome_of(&callback.event).is_none() {
            return Ok(0);
        }
        let Some(token) = callback.message_token else {
            return Err(CallbackError::Malformed(format!(
                "`{}` callback without message_token",
                callback.event
            )));
        };
        let token = token.to_string();
        let applied = self.tracker.apply(&token, &callback.event, callback.desc.as_deref());
        tracing::debug!(
            carrier = %self.config.name,
            message_token = %token,
            event = %callback.event,
            applied,
            "viber delivery callback"
        );
        Ok(usize::from(applied))
    }

    /// Messages waiting for their delivery callback.
    pub fn tracked(&self) -> usize {
        self.tracker.tracked()
    }

    async fn send_message(&self, body: &SendMessage) -> Result<u64, GatewayError> {
        let url = format!("{}/send_message", self.config.base_url.trim_end_matches('/'));
        let response = self
            .http
            .post(url)
            .header(AUTH_HEADER, &self.config.token)
            .json(body)
            .send()
            .await
            .map_err(|e| status::classify_transport(&e))?;
        let http_status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(|e| status::classify_transport(&e))?;
        match serde_json::from_slice::<SendAnswer>(&bytes) {
            Ok(SendAnswer {
                status: 0,
                message_token: Some(token),
                ..
            }) if http_status < 300 => Ok(token),
            Ok(SendAnswer { status: 0, .. }) if http_status < 300 => Err(GatewayError::transient(
                "bad_response",
                format!("HTTP {http_status}: status 0 without message_token"),
            )),
            Ok(answer) => Err(status::classify(
                http_status,
                Some(answer.status).filter(|s| *s != 0),
                &answer.status_message,
                retry_after,
            )),
            Err(_) if http_status >= 300 => Err(status::classify(http_status, None, "", retry_after)),
            Err(e) => Err(GatewayError::transient(
                "bad_response",
                format!("HTTP {http_status}, unreadable body: {e}"),
            )),
        }
    }
}

#[async_trait]
impl Gateway for ViberGateway {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn channels(&self) -> &[Channel] {
        &[Channel::Viber]
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
        let receiver = message.to.trim_start_matches('+');
        let body = SendMessage::otp(receiver, &message.code, &message.request_id);
        let token = self.send_message(&body).await.inspect_err(|e| {
            tracing::debug!(carrier = %self.config.name, request_id = %message.request_id, error = %e, "viber send failed");
        })?;
        let carrier_message_id = token.to_string();
        // Callbacks go to the account-wide webhook, so every accepted message is tracked.
        self.tracker.track(&carrier_message_id, message);
        Ok(Accepted {
            carrier_message_id,
            parts: 1,
            delivery: None,
        })
    }
}
