//! otpgate's Telegram channel: verification codes sent by Telegram's Gateway API
//! (<https://core.telegram.org/gateway/api>) to the Telegram account of a phone number.
//!
//! # Layout
//! - [`wire`]: the platform's JSON shapes (requests, `RequestStatus`, the `{ok, result, error}`
//!   envelope), the report headers and signature, shared with the fake.
//! - [`status`]: the status table that classifies refusals.
//! - This file: [`Telegram`], its `[[carriers]]` keys and the [`Platform`] the kit's
//!   [`HttpGateway`] runs.
//! - [`fake`]: a fake Gateway API platform (also the `otpgate-fake-telegram` binary).
#![forbid(unsafe_code)]

pub mod fake;
pub mod status;
pub mod wire;

use otpgate_gateway::config::{CarrierContext, Problems};
use otpgate_gateway::Delivery::{Delivered, Failed};
use otpgate_gateway::{Channel, GatewayError, OutboundMessage};
use otpgate_http_kit::{CallbackRejection, Event, Headers, HttpGateway, Outcomes, Platform, PlatformClient, Secret};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use wire::{CheckSendAbility, Envelope, RequestStatus, SendVerificationMessage};
use wire::{SIGNATURE, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Reports signed longer ago (or further ahead) than this are refused as replays.
pub const MAX_REPORT_AGE: Duration = Duration::from_secs(300);

/// The gateway of a `protocol = "telegram"` carrier.
pub type TelegramGateway = HttpGateway<Telegram>;

/// One Telegram Gateway account: the keys of a `protocol = "telegram"` carrier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telegram {
    /// Required: the API token, sent as `Authorization: Bearer`; SHA-256 of it is the key of
    /// report signatures.
    #[serde(default)]
    pub token: Secret,
    /// Extension: how long Telegram keeps the code valid, 30..=3600 seconds (default 300).
    #[serde(default = "default_ttl")]
    pub ttl_seconds: u32,
    /// Where Telegram POSTs delivery reports: the carrier's callback route, not a key.
    #[serde(skip)]
    pub callback_url: Option<String>,
}

fn default_ttl() -> u32 {
    300
}

impl Telegram {
    /// Whether Telegram can send a code to `phone` (E.164 with `+`). Telegram charges for this
    /// call, so sends do not make it; `Ok(false)` means the number has no reachable account.
    pub async fn check_send_ability(&self, client: &PlatformClient, phone: &str) -> Result<bool, GatewayError> {
        let body = CheckSendAbility {
            phone_number: phone.to_owned(),
        };
        match self.call::<_, RequestStatus>(client, "checkSendAbility", &body).await {
            Ok(_) => Ok(true),
            Err(e) if e.fault() == Some(otpgate_gateway::Fault::Number) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        client: &PlatformClient,
        method: &str,
        body: &B,
    ) -> Result<R, GatewayError> {
        let request = client
            .http()
            .post(client.url(&format!("/{method}")))
            .bearer_auth(self.token.expose())
            .json(body);
        let answer = client.send(request).await?;
        match serde_json::from_slice::<Envelope<R>>(&answer.body) {
            Ok(Envelope {
                ok: true,
                result: Some(result),
                ..
            }) if answer.is_success() => Ok(result),
            Ok(refused) => {
                let error = refused.error.unwrap_or_default();
                Err(answer.refusal(status::refusal(&error), error))
            }
            Err(e) if answer.is_success() => Err(answer.unreadable(e)),
            Err(_) => Err(answer.refusal(None, "no Telegram error")),
        }
    }
}

impl Platform for Telegram {
    const CHANNEL: Channel = Channel::Telegram;
    const DEFAULT_BASE_URL: &'static str = "https://gatewayapi.telegram.org";
    /// `delivered` and `read` mean the handset has it; `expired` and `revoked` that it never will.
    const OUTCOMES: Outcomes = &[
        ("delivered", Delivered),
        ("read", Delivered),
        ("expired", Failed),
        ("revoked", Failed),
    ];

    async fn send(&self, client: &PlatformClient, message: &OutboundMessage) -> Result<String, GatewayError> {
        let body = SendVerificationMessage {
            phone_number: message.to.clone(),
            code: message.code.clone(),
            ttl: Some(self.ttl_seconds),
            callback_url: self.callback_url.clone(),
            payload: Some(message.request_id.clone()),
        };
        let status: RequestStatus = self.call(client, "sendVerificationMessage", &body).await?;
        Ok(status.request_id)
    }

    /// Reports go only to a `callback_url` given with the send.
    fn calls_back(&self) -> bool {
        self.callback_url.is_some()
    }

    fn callback(&self, headers: Headers<'_>, body: &[u8]) -> Result<Vec<Event>, CallbackRejection> {
        let timestamp = headers(TIMESTAMP_HEADER).ok_or(CallbackRejection::BadSignature)?;
        let signed = [timestamp.as_bytes(), b"\n", body];
        SIGNATURE.verify(self.token.expose(), &signed, headers(SIGNATURE_HEADER).as_deref())?;
        let signed_at: u64 = timestamp
            .trim()
            .parse()
            .map_err(|e| CallbackRejection::malformed("timestamp", e))?;
        if otpgate_http_kit::unix_now().abs_diff(signed_at) > MAX_REPORT_AGE.as_secs() {
            return Err(CallbackRejection::Stale);
        }
        let status: RequestStatus =
            serde_json::from_slice(body).map_err(|e| CallbackRejection::malformed("report", e))?;
        let event = status.delivery_status.map(|delivery| Event {
            carrier_id: status.request_id,
            event: delivery.status,
            error: None,
        });
        Ok(event.into_iter().collect())
    }

    fn check(&mut self, carrier: &CarrierContext, problems: &mut Problems) {
        problems.require("token", self.token.expose(), "a secret: no default");
        if !(30..=3600).contains(&self.ttl_seconds) {
            problems.push("ttl_seconds", format!("{} is outside 30..3600", self.ttl_seconds));
        }
        self.callback_url = Some(carrier.callback_url.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_signed_too_long_ago_or_ahead_are_replays() {
        let telegram = Telegram {
            token: Secret::new("123:secret"),
            callback_url: None,
            ttl_seconds: 300,
        };
        let report = |at: String| {
            let body = br#"{"request_id":"r1","phone_number":"+1"}"#;
            let signature = SIGNATURE.sign("123:secret", &[at.as_bytes(), b"\n", body]);
            let headers = move |name: &str| match name {
                TIMESTAMP_HEADER => Some(at.clone()),
                SIGNATURE_HEADER => Some(signature.clone()),
                _ => None,
            };
            telegram.callback(&headers, body)
        };
        let now = otpgate_http_kit::unix_now();
        assert_eq!(report(now.to_string()), Ok(vec![]), "no delivery_status yet");
        assert_eq!(report((now - 301).to_string()), Err(CallbackRejection::Stale));
        assert_eq!(report((now + 301).to_string()), Err(CallbackRejection::Stale));
        assert!(matches!(report("soon".into()), Err(CallbackRejection::Malformed(_))));
    }
}
