//! The Viber Business Messages JSON shapes otpgate speaks (see the crate README), the headers,
//! and the callback signature, shared by the gateway and the fake platform. No I/O here.
use otpgate_http_kit::{Encoding, Hash, HmacScheme, KeyFrom};
use serde::{Deserialize, Serialize};

/// Requests to the platform carry the account token in this header.
pub const AUTH_HEADER: &str = "X-Viber-Auth-Token";
/// Callbacks carry their signature in this header.
pub const SIGNATURE_HEADER: &str = "X-Viber-Content-Signature";
/// Hex HMAC-SHA256 over the raw body, keyed with the account token.
pub const SIGNATURE: HmacScheme = HmacScheme::new(Hash::Sha256, Encoding::Hex, KeyFrom::Secret, "");

/// The `type` of every message we send: a pre-approved template with the code as a parameter.
pub const TEMPLATE_TYPE: &str = "template";
/// The name of the OTP template.
pub const OTP_TEMPLATE: &str = "otp";

/// The body of `POST /send_message`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SendMessage {
    /// E.164 digits without the leading `+`.
    pub receiver: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub template: Template,
    /// Echoed back by the platform; we put our own request id here.
    pub tracking_data: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Template {
    pub name: String,
    pub parameters: TemplateParameters,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TemplateParameters {
    pub code: String,
}

impl SendMessage {
    /// The OTP template message carrying `code` to `receiver` (digits, no `+`).
    pub fn otp(receiver: &str, code: &str, tracking_data: &str) -> Self {
        Self {
            receiver: receiver.to_owned(),
            kind: TEMPLATE_TYPE.to_owned(),
            template: Template {
                name: OTP_TEMPLATE.to_owned(),
                parameters: TemplateParameters { code: code.to_owned() },
            },
            tracking_data: tracking_data.to_owned(),
        }
    }
}

/// The answer to `send_message`: `status` 0 with a `message_token`, or a non-zero `status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SendAnswer {
    pub status: i64,
    #[serde(default)]
    pub status_message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_token: Option<u64>,
}

/// The body of a callback the platform POSTs: `delivered`, `seen`, `failed`, or an event we
/// do not act on (`subscribed`, `webhook`, ...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Callback {
    pub event: String,
    /// Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_token: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `failed`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_body_has_the_documented_shape() {
        let body = SendMessage::otp("14155550100", "482913", "req-1");
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({
                "receiver": "14155550100",
                "type": "template",
                "template": {"name": "otp", "parameters": {"code": "482913"}},
                "tracking_data": "req-1",
            })
        );
    }

    #[test]
    fn answers_and_callbacks_parse() {
        let ok: SendAnswer =
            serde_json::from_str(r#"{"status":0,"status_message":"ok","message_token":4912661846655238145}"#).unwrap();
        assert_eq!((ok.status, ok.message_token), (0, Some(4912661846655238145)));
        let refused: SendAnswer = serde_json::from_str(r#"{"status":5,"status_message":"notRegistered"}"#).unwrap();
        assert_eq!((refused.status, refused.message_token), (5, None));
        let failed: Callback = serde_json::from_str(
            r#"{"event":"failed","timestamp":1457764197627,"message_token":4912661846655238145,
                "user_id":"01234567890A=","desc":"failure description","chat_hostname":"x"}"#,
        )
        .unwrap();
        assert_eq!(failed.event, "failed");
        assert_eq!(failed.desc.as_deref(), Some("failure description"));
    }

    #[test]
    fn the_signature_matches_an_independent_implementation() {
        // Computed with Python's hmac/hashlib.
        let vector = "6334de2d89835854cb8bf87031018f52283d34996c1c08e48b51af88ec83ced7";
        let body = br#"{"event":"delivered","message_token":1}"#;
        assert_eq!(SIGNATURE.sign("viber-secret", &[body]), vector);
        assert!(SIGNATURE
            .verify("viber-secret", &[body], Some(&vector.to_uppercase()))
            .is_ok());
    }
}
