//! The RBM API's JSON shapes (<https://developers.google.com/business-communications/rcs-business-messaging/reference/rest>),
//! the webhook signature, shared by the gateway and the fake platform. No I/O here.
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use otpgate_http_kit::{Encoding, Hash, HmacScheme, KeyFrom};
use serde::{Deserialize, Serialize};

/// Webhook requests carry their signature in this header.
pub const SIGNATURE_HEADER: &str = "X-Goog-Signature";
/// Base64 HMAC-SHA512 keyed with the agent's client token, over the base64-decoded bytes of
/// the body's `message.data` (not the raw body: the Pub/Sub envelope around it is not covered).
pub const SIGNATURE: HmacScheme = HmacScheme::new(Hash::Sha512, Encoding::Base64, KeyFrom::Secret, "");

/// The body of `phones.agentMessages.create`: `{"contentMessage": {"text": ...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentMessage {
    pub content_message: ContentMessage,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContentMessage {
    pub text: String,
}

impl AgentMessage {
    pub fn text(text: &str) -> Self {
        Self {
            content_message: ContentMessage { text: text.to_owned() },
        }
    }
}

/// The digits of an E.164 number (`+` optional), or `None` when it is anything else.
pub fn e164_digits(phone: &str) -> Option<&str> {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    let valid = (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then_some(digits)
}

/// `/v1/phones/+{digits}/agentMessages`, under the API root; `messageId` and `agentId` go in
/// the query.
pub fn agent_messages_path(digits: &str) -> String {
    format!("/v1/phones/+{digits}/agentMessages")
}

/// Google's error body: `{"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    pub error: GoogleError,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GoogleError {
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub message: String,
    /// The canonical code: `NOT_FOUND`, `RESOURCE_EXHAUSTED`, `PERMISSION_DENIED`, ...
    #[serde(default)]
    pub status: String,
}

impl ErrorBody {
    pub fn new(code: u16, status: &str, message: &str) -> Self {
        Self {
            error: GoogleError {
                code,
                message: message.to_owned(),
                status: status.to_owned(),
            },
        }
    }
}

/// The `status` of a Google error body, when the body is one.
pub fn error_status(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| b.error.status)
        .filter(|s| !s.is_empty())
}

/// A webhook request, Pub/Sub push style: the event is base64 JSON in `message.data`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PushEnvelope {
    pub message: PushMessage,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PushMessage {
    /// Standard base64 of the [`AgentEvent`] JSON; the signature covers its decoded bytes.
    pub data: String,
    #[serde(default)]
    pub message_id: String,
    #[serde(default)]
    pub publish_time: String,
}

impl PushEnvelope {
    pub fn wrap(event_json: &[u8], push_id: &str, publish_time: &str) -> Self {
        Self {
            message: PushMessage {
                data: STANDARD.encode(event_json),
                message_id: push_id.to_owned(),
                publish_time: publish_time.to_owned(),
            },
        }
    }

    /// The bytes `message.data` carries (and the signature covers).
    pub fn data(&self) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(self.message.data.trim())
    }
}

/// One event about an agent message. User messages (`text`, no `eventType`) parse too, with
/// `event_type: None`, and are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentEvent {
    #[serde(default)]
    pub sender_phone_number: String,
    /// `DELIVERED`, `READ`, `IS_TYPING`; our fake also sends `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default)]
    pub event_id: String,
    /// The `messageId` we chose when sending.
    #[serde(default)]
    pub message_id: String,
    #[serde(default)]
    pub send_time: String,
    #[serde(default)]
    pub agent_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_body_and_url() {
        assert_eq!(
            serde_json::to_string(&AgentMessage::text("Your code is 1234")).unwrap(),
            r#"{"contentMessage":{"text":"Your code is 1234"}}"#
        );
        assert_eq!(
            agent_messages_path("14155550100"),
            "/v1/phones/+14155550100/agentMessages"
        );
        assert_eq!(e164_digits("+14155550100"), Some("14155550100"));
        assert_eq!(e164_digits("+1 415"), None);
        assert_eq!(e164_digits("+"), None);
    }

    #[test]
    fn a_documented_event_parses_through_its_envelope() {
        let body = r#"{"message":{"data":"eyJzZW5kZXJQaG9uZU51bWJlciI6IisxNDE1NTU1MDEwMCIsImV2ZW50VHlwZSI6IkRFTElWRVJFRCIsImV2ZW50SWQiOiJlMSIsIm1lc3NhZ2VJZCI6Im0xIiwic2VuZFRpbWUiOiIyMDI0LTAxLTAxVDAwOjAwOjAwWiIsImFnZW50SWQiOiJhZ2VudCJ9","messageId":"p1","publishTime":"2024-01-01T00:00:00Z"},"subscription":"projects/p/subscriptions/s"}"#;
        let envelope: PushEnvelope = serde_json::from_str(body).unwrap();
        let event: AgentEvent = serde_json::from_slice(&envelope.data().unwrap()).unwrap();
        assert_eq!(event.event_type.as_deref(), Some("DELIVERED"));
        assert_eq!(event.message_id, "m1");
        assert_eq!(event.sender_phone_number, "+14155550100");
    }

    #[test]
    fn google_error_bodies() {
        let body = br#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#;
        assert_eq!(error_status(body).as_deref(), Some("NOT_FOUND"));
        assert_eq!(error_status(b"<html>"), None);
    }

    #[test]
    fn the_signature_matches_an_independent_implementation() {
        // Computed with Python's hmac/hashlib/base64.
        let vector = "jbGPc/hMMtmdKA45/2L/It284pk9PGTE14ddfIpLXetYNWoY2IjPpVNxq4g+BWctHG1Zug67ltkW3l4GIpicEw==";
        let data: &[u8] = br#"{"eventType":"DELIVERED"}"#;
        assert_eq!(SIGNATURE.sign("client-token", &[data]), vector);
        assert!(SIGNATURE.verify("client-token", &[data], Some(vector)).is_ok());
        assert!(SIGNATURE.verify("client-token", &[data], Some(&vector[..44])).is_err());
    }
}
