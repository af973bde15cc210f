//! The RBM API's JSON shapes (<https://developers.google.com/business-communications/rcs-business-messaging/reference/rest>),
//! shared by the gateway and the fake platform. Pure serde and string building: no I/O here.
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

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

/// `{base_url}/v1/phones/+{digits}/agentMessages`; `messageId` and `agentId` go in the query.
pub fn agent_messages_url(base_url: &str, digits: &str) -> String {
    format!("{}/v1/phones/+{digits}/agentMessages", base_url.trim_end_matches('/'))
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
            agent_messages_url("https://rcsbusinessmessaging.googleapis.com/", "14155550100"),
            "https://rcsbusinessmessaging.googleapis.com/v1/phones/+14155550100/agentMessages"
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
}
