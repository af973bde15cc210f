//! otpgate's Telegram channel: verification codes sent by Telegram's Gateway API
//! (<https://core.telegram.org/gateway/api>) to the Telegram account of a phone number.
//!
//! # Layout
//! - [`api`]: the platform's JSON shapes (requests, `RequestStatus`, the `{ok, result, error}`
//!   envelope), shared with the fake.
//! - [`status`]: the one table that classifies refusals and transport failures.
//! - [`signature`]: the HMAC that signs delivery reports.
//! - `tracker`: matches delivery reports to sent messages, reports each outcome once.
//! - [`TelegramGateway`]: the [`Gateway`] the engine calls, plus [`TelegramGateway::handle_report`]
//!   for the engine's callback route.
//! - [`fake`]: a fake Gateway API platform (also the `otpgate-fake-telegram` binary).
#![forbid(unsafe_code)]

pub mod api;
pub mod fake;
pub mod signature;
pub mod status;
mod tracker;

pub use signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER};

use api::{CheckSendAbility, Envelope, RequestStatus, SendVerificationMessage};
use async_trait::async_trait;
use otpgate_gateway::{Accepted, Channel, Coverage, Gateway, GatewayError, OutboundMessage, ReportSender};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracker::Tracker;

/// Reports signed longer ago (or further ahead) than this are refused as replays.
pub const MAX_REPORT_AGE: Duration = Duration::from_secs(300);

/// One Telegram Gateway account (the engine maps its `[[carriers]]` entry to this).
#[derive(Clone)]
pub struct TelegramConfig {
    pub name: String,
    /// `https://gatewayapi.telegram.org` for the real platform.
    pub base_url: String,
    pub token: String,
    /// Where Telegram should POST delivery reports (the engine's report route); none, no reports.
    pub callback_url: Option<String>,
    /// How long the message stays valid on Telegram's side (30..=3600 s).
    pub ttl_seconds: u32,
    pub coverage: Coverage,
    /// Per request, connection included.
    pub timeout: Duration,
}

// The token stays out of every `{:?}`.
impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("token", &"<redacted>")
            .field("callback_url", &self.callback_url)
            .field("ttl_seconds", &self.ttl_seconds)
            .field("coverage", &self.coverage)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a delivery report was refused. Nothing was applied in any case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// Signature or timestamp header missing, or the signature does not match.
    #[error("missing or invalid signature")]
    BadSignature,
    /// Correctly signed, but too old (or too far in the future): a replay.
    #[error("stale timestamp")]
    Stale,
    /// Correctly signed, but not a `RequestStatus`.
    #[error("malformed report: {0}")]
    Malformed(String),
}

impl ReportError {
    /// The HTTP status the engine's callback route answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            ReportError::BadSignature | ReportError::Stale => 401,
            ReportError::Malformed(_) => 400,
        }
    }
}

pub struct TelegramGateway {
    config: TelegramConfig,
    http: reqwest::Client,
    tracker: Tracker,
}

impl TelegramGateway {
    pub fn new(config: TelegramConfig, reports: ReportSender) -> Arc<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .expect("a rustls client with default settings builds");
        let tracker = Tracker::new(config.name.clone(), reports);
        Arc::new(Self { config, http, tracker })
    }

    /// Whether Telegram can send a code to `phone` (E.164 with `+`). Telegram charges for this
    /// call, so `send` does not make it; `Ok(false)` means the number has no reachable account.
    pub async fn check_send_ability(&self, phone: &str) -> Result<bool, GatewayError> {
        let body = CheckSendAbility {
            phone_number: phone.to_owned(),
        };
        match self.call::<_, RequestStatus>("checkSendAbility", &body).await {
            Ok(_) => Ok(true),
            Err(e) if e.reason() == "not_telegram_user" => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Applies one delivery report POSTed to `callback_url`: the `X-Request-Timestamp` and
    /// `X-Request-Signature` header values and the raw body. Returns how many outcomes were
    /// reported to the engine (0 for `sent`, repeats and unknown requests; else 1).
    pub fn handle_report(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<usize, ReportError> {
        let (Some(timestamp), Some(sig)) = (timestamp, signature) else {
            return Err(ReportError::BadSignature);
        };
        if !signature::verify(&self.config.token, timestamp, body, sig) {
            return Err(ReportError::BadSignature);
        }
        let signed_at: u64 = timestamp
            .trim()
            .parse()
            .map_err(|_| ReportError::Malformed("timestamp is not unix seconds".into()))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if now.abs_diff(signed_at) > MAX_REPORT_AGE.as_secs() {
            return Err(ReportError::Stale);
        }
        let status: RequestStatus = serde_json::from_slice(body).map_err(|e| ReportError::Malformed(e.to_string()))?;
        let Some(delivery) = status.delivery_status else {
            return Ok(0);
        };
        let applied = self.tracker.apply(&status.request_id, &delivery.status);
        tracing::debug!(
            carrier = %self.config.name,
            telegram_id = %status.request_id,
            status = %delivery.status,
            applied,
            "telegram delivery report"
        );
        Ok(usize::from(applied))
    }

    /// Messages waiting for their delivery report.
    pub fn tracked(&self) -> usize {
        self.tracker.tracked()
    }

    async fn call<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        body: &B,
    ) -> Result<R, GatewayError> {
        let url = format!("{}/{method}", self.config.base_url.trim_end_matches('/'));
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.config.token)
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
        match serde_json::from_slice::<Envelope<R>>(&bytes) {
            Ok(Envelope {
                ok: true,
                result: Some(result),
                ..
            }) if http_status < 300 => Ok(result),
            Ok(envelope) => Err(status::classify(http_status, envelope.error.as_deref(), retry_after)),
            Err(_) if http_status >= 300 => Err(status::classify(http_status, None, retry_after)),
            Err(e) => Err(GatewayError::transient(
                "bad_response",
                format!("HTTP {http_status}, unreadable body: {e}"),
            )),
        }
    }
}

#[async_trait]
impl Gateway for TelegramGateway {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn channels(&self) -> &[Channel] {
        &[Channel::Telegram]
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
        let body = SendVerificationMessage {
            phone_number: message.to.clone(),
            code: message.code.clone(),
            ttl: Some(self.config.ttl_seconds),
            callback_url: self.config.callback_url.clone(),
            payload: Some(message.request_id.clone()),
        };
        let result: RequestStatus = self.call("sendVerificationMessage", &body).await.inspect_err(|e| {
            tracing::debug!(carrier = %self.config.name, request_id = %message.request_id, error = %e, "telegram send failed");
        })?;
        if self.config.callback_url.is_some() {
            self.tracker.track(&result.request_id, message);
        }
        Ok(Accepted {
            carrier_message_id: result.request_id,
            parts: 1,
            delivery: None,
        })
    }
}
