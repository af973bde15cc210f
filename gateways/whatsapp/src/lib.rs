//! otpgate's WhatsApp Cloud API gateway: one-time codes sent as authentication templates, their
//! outcome learnt from signed status webhooks.
//!
//! # Layout
//! - [`wire`]: the Cloud API's JSON shapes (template body, send answer, Graph error, status
//!   webhook) and the webhook signature, pure and shared with the fake server.
//! - [`status`]: the status table from Graph `error.code` to a classified refusal.
//! - This file: [`WhatsApp`], its `[[carriers]]` keys and the [`Platform`] the kit's
//!   [`HttpGateway`] runs.
//! - [`fake`]: a fake Cloud API server (also the `otpgate-fake-whatsapp` binary) for tests.
//!
//! The engine routes every webhook request (`X-Hub-Signature-256` header and raw body) to
//! [`HttpGateway::handle_callback`], and the registration check to
//! [`WhatsApp::verify_subscription`].
#![forbid(unsafe_code)]

pub mod fake;
pub mod status;
pub mod wire;

use otpgate_gateway::config::{CarrierContext, Problems};
use otpgate_gateway::Delivery::{Delivered, Failed};
use otpgate_gateway::{Channel, GatewayError, OutboundMessage};
use otpgate_http_kit::{CallbackRejection, Event, Headers, HttpGateway, Outcomes, Platform, PlatformClient, Secret};
use serde::Deserialize;
use std::collections::HashMap;
use wire::{WebhookPayload, SIGNATURE, SIGNATURE_HEADER};

/// The gateway of a `protocol = "whatsapp"` carrier.
pub type WhatsAppGateway = HttpGateway<WhatsApp>;

/// One WhatsApp Business phone number on the Cloud API: the keys of a `protocol = "whatsapp"`
/// carrier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsApp {
    /// Required.
    #[serde(default)]
    pub phone_number_id: String,
    /// Required.
    #[serde(default)]
    pub access_token: Secret,
    /// The approved authentication template's name (default `otp_code`) and language code
    /// (default `en_US`).
    #[serde(default = "default_template")]
    pub template: String,
    #[serde(default = "default_language")]
    pub language: String,
    /// Extension, required: the Meta app secret that signs status webhooks
    /// (`X-Hub-Signature-256`).
    #[serde(default)]
    pub app_secret: Secret,
    /// Extension: the token Meta's webhook registration check must present (`hub.verify_token`).
    #[serde(default)]
    pub verify_token: Option<Secret>,
}

fn default_template() -> String {
    "otp_code".into()
}

fn default_language() -> String {
    "en_US".into()
}

impl WhatsApp {
    /// Meta's webhook registration check (a GET with `hub.mode=subscribe`, `hub.verify_token`,
    /// `hub.challenge`): the challenge to echo back, or `None` to refuse. Always `None` without
    /// a configured `verify_token`.
    pub fn verify_subscription(&self, query: &HashMap<String, String>) -> Option<String> {
        let expected = self.verify_token.as_ref()?;
        let mode = query.get("hub.mode").map(String::as_str);
        let token = query.get("hub.verify_token").map(String::as_bytes).unwrap_or_default();
        let matches: bool = subtle::ConstantTimeEq::ct_eq(token, expected.expose().as_bytes()).into();
        (mode == Some("subscribe") && matches).then(|| query.get("hub.challenge").cloned().unwrap_or_default())
    }
}

impl Platform for WhatsApp {
    const CHANNEL: Channel = Channel::Whatsapp;
    const DEFAULT_BASE_URL: &'static str = "https://graph.facebook.com/v21.0";
    /// `delivered` and `read` mean the handset has it (`read` may come without `delivered`);
    /// `failed` that it never will.
    const OUTCOMES: Outcomes = &[("delivered", Delivered), ("read", Delivered), ("failed", Failed)];

    async fn send(&self, client: &PlatformClient, message: &OutboundMessage) -> Result<String, GatewayError> {
        let body = wire::template_body(&message.to, &self.template, &self.language, &message.code);
        let request = client
            .http()
            .post(client.url(&format!("/{}/messages", self.phone_number_id)))
            .bearer_auth(self.access_token.expose())
            .json(&body);
        let answer = client.send(request).await?;
        if answer.is_success() {
            return wire::accepted_id(&answer.body).ok_or_else(|| answer.unreadable("no messages[0].id"));
        }
        // The Graph message may echo request parameters, never the code itself: the code is
        // only in template parameters, which Meta does not repeat in errors.
        let graph = wire::graph_error(&answer.body);
        let code = graph.as_ref().and_then(|g| g.code);
        let detail = match &graph {
            Some(g) => format!("code {}: {}", code.unwrap_or_default(), g.message),
            None => "no Graph error".into(),
        };
        Err(answer.refusal(code.and_then(status::refusal), detail))
    }

    /// A webhook carries any number of statuses, for any messages, in any order.
    fn callback(&self, headers: Headers<'_>, body: &[u8]) -> Result<Vec<Event>, CallbackRejection> {
        SIGNATURE.verify(self.app_secret.expose(), &[body], headers(SIGNATURE_HEADER).as_deref())?;
        let payload: WebhookPayload =
            serde_json::from_slice(body).map_err(|e| CallbackRejection::malformed("webhook", e))?;
        let events = payload.statuses().map(|status| Event {
            error: (status.status == "failed")
                .then(|| status.errors.first().map(|e| e.code.to_string()))
                .flatten(),
            carrier_id: status.id,
            event: status.status,
        });
        Ok(events.collect())
    }

    fn check(&mut self, _carrier: &CarrierContext, problems: &mut Problems) {
        let secrets = [("access_token", &self.access_token), ("app_secret", &self.app_secret)];
        problems.require("phone_number_id", &self.phone_number_id, "");
        for (key, secret) in secrets {
            problems.require(key, secret.expose(), "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whatsapp(verify_token: Option<&str>) -> WhatsApp {
        WhatsApp {
            phone_number_id: "1234".into(),
            access_token: Secret::new("tok"),
            template: "otp_code".into(),
            language: "en_US".into(),
            app_secret: Secret::new("app-secret"),
            verify_token: verify_token.map(Secret::new),
        }
    }

    #[test]
    fn the_registration_check_echoes_the_challenge_only_for_the_right_token() {
        let query = |token: &str| {
            HashMap::from([
                ("hub.mode".to_owned(), "subscribe".to_owned()),
                ("hub.verify_token".to_owned(), token.to_owned()),
                ("hub.challenge".to_owned(), "1158201444".to_owned()),
            ])
        };
        let checked = whatsapp(Some("meta-verify"));
        assert_eq!(
            checked.verify_subscription(&query("meta-verify")).as_deref(),
            Some("1158201444")
        );
        assert_eq!(checked.verify_subscription(&query("guess")), None);
        assert_eq!(whatsapp(None).verify_subscription(&query("")), None);
    }

    #[test]
    fn a_failed_status_carries_its_first_error_code() {
        let body = wire::status_webhook(
            "1234",
            &wire::Status {
                id: "wamid.2".into(),
                status: "failed".into(),
                recipient_id: "5511".into(),
                errors: vec![wire::StatusError {
                    code: 131026,
                    title: "Message undeliverable".into(),
                }],
            },
            1,
        )
        .to_string();
        let signature = SIGNATURE.sign("app-secret", &[body.as_bytes()]);
        let events = whatsapp(None)
            .callback(&|_| Some(signature.clone()), body.as_bytes())
            .unwrap();
        assert_eq!(events[0].error.as_deref(), Some("131026"));
    }
}
