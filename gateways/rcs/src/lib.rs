//! otpgate's RCS channel: verification codes sent as text messages from a Google RCS Business
//! Messaging (RBM) agent (<https://developers.google.com/business-communications/rcs-business-messaging>).
//!
//! # Layout
//! - [`wire`]: the platform's JSON shapes (agent message, Google error body, the Pub/Sub-style
//!   webhook envelope and the agent event inside it) and the webhook signature, shared with the
//!   fake.
//! - [`status`]: the status table that classifies refusals.
//! - This file: [`Rcs`], its `[[carriers]]` keys and the [`Platform`] the kit's
//!   [`HttpGateway`] runs.
//! - [`fake`]: a fake RBM platform (also the `otpgate-fake-rcs` binary).
#![forbid(unsafe_code)]

pub mod fake;
pub mod status;
pub mod wire;

use otpgate_gateway::config::{CarrierContext, Problems};
use otpgate_gateway::Delivery::{Delivered, Failed};
use otpgate_gateway::{Channel, GatewayError, OutboundMessage};
use otpgate_http_kit::{CallbackRejection, Event, Headers, HttpGateway, Outcomes, Platform, PlatformClient, Secret};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use wire::{AgentEvent, AgentMessage, PushEnvelope, SIGNATURE, SIGNATURE_HEADER};

/// The gateway of a `protocol = "rcs"` carrier.
pub type RcsGateway = HttpGateway<Rcs>;

/// One RBM agent: the keys of a `protocol = "rcs"` carrier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rcs {
    /// Required.
    #[serde(default)]
    pub agent_id: String,
    /// Required: the OAuth access token sent as `Authorization: Bearer`.
    #[serde(default)]
    pub token: Secret,
    /// Extension, required: the agent's webhook client token, the key of `X-Goog-Signature`.
    #[serde(default)]
    pub webhook_token: Secret,
}

/// A `messageId` for a send of `request_id`, unique across sends and restarts: RBM refuses a
/// reused one, and a verification's resends share its request id.
fn next_message_id(request_id: &str) -> String {
    static STARTED: OnceLock<u64> = OnceLock::new();
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let started = STARTED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64
    });
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("{request_id}-{started:x}-{n}")
}

impl Platform for Rcs {
    const CHANNEL: Channel = Channel::Rcs;
    const DEFAULT_BASE_URL: &'static str = "https://rcsbusinessmessaging.googleapis.com";
    /// `DELIVERED` and `READ` mean the handset has it. `FAILED` is not an RBM event type; we
    /// accept it (and the fake sends it) for failures.
    const OUTCOMES: Outcomes = &[("DELIVERED", Delivered), ("READ", Delivered), ("FAILED", Failed)];

    async fn send(&self, client: &PlatformClient, message: &OutboundMessage) -> Result<String, GatewayError> {
        let Some(digits) = wire::e164_digits(&message.to) else {
            return Err(GatewayError::number_at_fault(
                "invalid_destination",
                "destination is not an E.164 number",
            ));
        };
        let message_id = next_message_id(&message.request_id);
        let request = client
            .http()
            .post(client.url(&wire::agent_messages_path(digits)))
            .query(&[("messageId", message_id.as_str()), ("agentId", &self.agent_id)])
            .bearer_auth(self.token.expose())
            .json(&AgentMessage::text(&message.text));
        let answer = client.send(request).await?;
        if answer.is_success() {
            return Ok(message_id);
        }
        let status = wire::error_status(&answer.body);
        let detail = status.clone().unwrap_or_else(|| "no error status".into());
        Err(answer.refusal(status::refusal(answer.status, status.as_deref()), detail))
    }

    fn callback(&self, headers: Headers<'_>, body: &[u8]) -> Result<Vec<Event>, CallbackRejection> {
        let signature = headers(SIGNATURE_HEADER).ok_or(CallbackRejection::BadSignature)?;
        let envelope: PushEnvelope =
            serde_json::from_slice(body).map_err(|e| CallbackRejection::malformed("envelope", e))?;
        let data = envelope
            .data()
            .map_err(|e| CallbackRejection::malformed("message.data", e))?;
        SIGNATURE.verify(self.webhook_token.expose(), &[&data], Some(&signature))?;
        let event: AgentEvent = serde_json::from_slice(&data).map_err(|e| CallbackRejection::malformed("event", e))?;
        // User messages carry no event type.
        let event = event.event_type.map(|event_type| Event {
            carrier_id: event.message_id,
            event: event_type,
            error: None,
        });
        Ok(event.into_iter().collect())
    }

    fn check(&mut self, _carrier: &CarrierContext, problems: &mut Problems) {
        let webhook_token = ("webhook_token", self.webhook_token.expose());
        for (key, value) in [
            ("agent_id", self.agent_id.as_str()),
            ("token", self.token.expose()),
            webhook_token,
        ] {
            problems.require(key, value, "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcs() -> Rcs {
        Rcs {
            agent_id: "agent".into(),
            token: Secret::new("access"),
            webhook_token: Secret::new("client"),
        }
    }

    /// `data` wrapped as RBM posts it, signed with `key`.
    fn callback(data: &[u8], key: &str) -> Result<Vec<Event>, CallbackRejection> {
        let body = serde_json::to_vec(&PushEnvelope::wrap(data, "p", "t")).unwrap();
        let signature = SIGNATURE.sign(key, &[data]);
        rcs().callback(
            &move |name| (name == SIGNATURE_HEADER).then(|| signature.clone()),
            &body,
        )
    }

    #[test]
    fn only_signed_agent_events_are_read() {
        let typing = br#"{"eventType":"IS_TYPING","messageId":"m1"}"#;
        let delivered = br#"{"eventType":"DELIVERED","messageId":"m1"}"#;
        assert_eq!(callback(typing, "client").unwrap()[0].event, "IS_TYPING");
        assert_eq!(callback(br#"{"text":"hi","messageId":"m2"}"#, "client"), Ok(vec![]));
        assert_eq!(callback(delivered, "access"), Err(CallbackRejection::BadSignature));
        assert!(matches!(
            callback(b"[1,2]", "client"),
            Err(CallbackRejection::Malformed(_))
        ));
        let header = |_: &str| Some("x".to_owned());
        for body in [b"not json".as_slice(), br#"{"message":{"data":"%%%"}}"#] {
            assert!(matches!(
                rcs().callback(&header, body),
                Err(CallbackRejection::Malformed(_))
            ));
        }
    }

    #[test]
    fn every_send_gets_its_own_message_id() {
        assert_ne!(next_message_id("req-1"), next_message_id("req-1"));
    }
}
