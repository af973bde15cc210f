//! otpgate's Viber channel: verification codes sent as a Viber Business Messages OTP template
//! to the Viber account of a phone number, with delivery told by signed callbacks.
//!
//! # Layout
//! - [`wire`]: the JSON shapes (the `send_message` body and answer, callbacks), the headers and
//!   the callback signature, shared with the fake.
//! - [`status`]: the status table that classifies refusals.
//! - This file: [`Viber`], its `[[carriers]]` keys and the [`Platform`] the kit's
//!   [`HttpGateway`] runs.
//! - [`fake`]: a fake platform (also the `otpgate-fake-viber` binary).
#![forbid(unsafe_code)]

pub mod fake;
pub mod status;
pub mod wire;

use otpgate_gateway::config::{CarrierContext, Problems};
use otpgate_gateway::Delivery::{Delivered, Failed};
use otpgate_gateway::{Channel, GatewayError, OutboundMessage};
use otpgate_http_kit::{CallbackRejection, Event, Headers, HttpGateway, Outcomes, Platform, PlatformClient, Secret};
use serde::Deserialize;
use wire::{Callback, SendAnswer, SendMessage, AUTH_HEADER, SIGNATURE, SIGNATURE_HEADER};

/// The gateway of a `protocol = "viber"` carrier.
pub type ViberGateway = HttpGateway<Viber>;

/// One Viber Business Messages account: the keys of a `protocol = "viber"` carrier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Viber {
    /// Required: sent as `X-Viber-Auth-Token`; also the key that signs callbacks.
    #[serde(default)]
    pub token: Secret,
}

impl Platform for Viber {
    const CHANNEL: Channel = Channel::Viber;
    const DEFAULT_BASE_URL: &'static str = "https://chatapi.viber.com/pa";
    /// `delivered` and `seen` mean the handset has it; `failed` that it never will.
    const OUTCOMES: Outcomes = &[("delivered", Delivered), ("seen", Delivered), ("failed", Failed)];

    async fn send(&self, client: &PlatformClient, message: &OutboundMessage) -> Result<String, GatewayError> {
        let body = SendMessage::otp(message.to.trim_start_matches('+'), &message.code, &message.request_id);
        let request = client
            .http()
            .post(client.url("/send_message"))
            .header(AUTH_HEADER, self.token.expose())
            .json(&body);
        let answer = client.send(request).await?;
        match serde_json::from_slice::<SendAnswer>(&answer.body) {
            Ok(SendAnswer {
                status: 0,
                message_token: Some(token),
                ..
            }) if answer.is_success() => Ok(token.to_string()),
            Ok(SendAnswer { status: 0, .. }) if answer.is_success() => {
                Err(answer.unreadable("status 0 without message_token"))
            }
            Ok(refused) => Err(answer.refusal(
                status::refusal(answer.status, refused.status),
                format!("status {} {}", refused.status, refused.status_message),
            )),
            Err(e) if answer.is_success() => Err(answer.unreadable(e)),
            Err(_) => Err(answer.refusal(None, "no Viber status")),
        }
    }

    /// Callbacks go to the account-wide webhook; each carries one event.
    fn callback(&self, headers: Headers<'_>, body: &[u8]) -> Result<Vec<Event>, CallbackRejection> {
        SIGNATURE.verify(self.token.expose(), &[body], headers(SIGNATURE_HEADER).as_deref())?;
        let callback: Callback =
            serde_json::from_slice(body).map_err(|e| CallbackRejection::malformed("callback", e))?;
        if !Self::OUTCOMES.iter().any(|(event, _)| *event == callback.event) {
            // `subscribed`, `webhook`, ...: not about a message we sent.
            return Ok(Vec::new());
        }
        let token = callback.message_token.ok_or_else(|| {
            CallbackRejection::Malformed(format!("`{}` callback without message_token", callback.event))
        })?;
        Ok(vec![Event {
            carrier_id: token.to_string(),
            event: callback.event,
            error: callback.desc,
        }])
    }

    fn check(&mut self, _carrier: &CarrierContext, problems: &mut Problems) {
        problems.require("token", self.token.expose(), "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_callback_without_its_message_token_is_malformed_and_others_are_ignored() {
        let viber = Viber {
            token: Secret::new("t"),
        };
        let signed = |body: &'static [u8]| {
            let signature = SIGNATURE.sign("t", &[body]);
            viber.callback(&move |name| (name == SIGNATURE_HEADER).then(|| signature.clone()), body)
        };
        assert_eq!(signed(br#"{"event":"subscribed","user_id":"u"}"#), Ok(vec![]));
        assert!(matches!(
            signed(br#"{"event":"delivered","timestamp":1}"#),
            Err(CallbackRejection::Malformed(_))
        ));
    }
}
