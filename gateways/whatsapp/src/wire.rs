//! The Cloud API's JSON shapes, encoded and decoded without any I/O: the authentication-template
//! send body, the send answer, the Graph error body and the status webhook payload, and the
//! webhook signature. Shared by the gateway and the fake server, so both speak exactly the same
//! documented shapes.
use otpgate_http_kit::{Encoding, Hash, HmacScheme, KeyFrom};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Status webhooks carry their signature in this header.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// `sha256=` + hex HMAC-SHA256 over the raw body, keyed with the Meta app secret.
pub const SIGNATURE: HmacScheme = HmacScheme::new(Hash::Sha256, Encoding::Hex, KeyFrom::Secret, "sha256=");

/// The documented body of an authentication-template send: the code goes both into the body
/// parameter and into the copy-code URL button, which Meta refuses (131008) when missing.
pub fn template_body(to_e164: &str, template: &str, language: &str, code: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to_e164.trim_start_matches('+'),
        "type": "template",
        "template": {
            "name": template,
            "language": { "code": language },
            "components": [
                { "type": "body", "parameters": [ { "type": "text", "text": code } ] },
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [ { "type": "text", "text": code } ]
                }
            ]
        }
    })
}

/// `200 {"messaging_product":"whatsapp","contacts":[...],"messages":[{"id":"wamid..."}]}`.
#[derive(Debug, Deserialize)]
pub struct SendAnswer {
    #[serde(default)]
    pub messages: Vec<MessageId>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct MessageId {
    pub id: String,
}

/// The id of the first message of a send answer, if the answer is one.
pub fn accepted_id(body: &[u8]) -> Option<String> {
    let answer: SendAnswer = serde_json::from_slice(body).ok()?;
    answer
        .messages
        .into_iter()
        .next()
        .map(|m| m.id)
        .filter(|id| !id.is_empty())
}

/// `{"error":{"message":..., "type":..., "code":131026, "error_subcode":..., "fbtrace_id":...}}`.
#[derive(Debug, Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GraphError {
    pub code: Option<i64>,
    #[serde(default)]
    pub message: String,
}

/// The Graph error of a refusal, when the body is one.
pub fn graph_error(body: &[u8]) -> Option<GraphError> {
    serde_json::from_slice::<GraphErrorBody>(body).ok().map(|b| b.error)
}

/// A Graph error body, as the platform writes it.
pub fn graph_error_body(code: i64, message: &str) -> Value {
    json!({
        "error": {
            "message": message,
            "type": if code == 190 { "OAuthException" } else { "GraphMethodException" },
            "code": code,
            "fbtrace_id": "AfakeTraceId"
        }
    })
}

/// The part of a `messages` webhook that carries delivery statuses; every other field (contacts,
/// inbound messages, pricing) is ignored.
#[derive(Debug, Default, Deserialize)]
pub struct WebhookPayload {
    #[serde(default)]
    pub entry: Vec<Entry>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Entry {
    #[serde(default)]
    pub changes: Vec<Change>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Change {
    #[serde(default)]
    pub value: ChangeValue,
}

#[derive(Debug, Default, Deserialize)]
pub struct ChangeValue {
    #[serde(default)]
    pub statuses: Vec<Status>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Status {
    pub id: String,
    /// `sent | delivered | read | failed` (and `deleted`, `warning` on some versions).
    pub status: String,
    #[serde(default)]
    pub recipient_id: String,
    #[serde(default)]
    pub errors: Vec<StatusError>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StatusError {
    pub code: i64,
    #[serde(default)]
    pub title: String,
}

impl WebhookPayload {
    pub fn statuses(self) -> impl Iterator<Item = Status> {
        self.entry
            .into_iter()
            .flat_map(|e| e.changes)
            .flat_map(|c| c.value.statuses)
    }
}

/// A `messages` webhook carrying one status, as the platform writes it.
pub fn status_webhook(phone_number_id: &str, status: &Status, timestamp: u64) -> Value {
    let mut status_json = json!({
        "id": status.id,
        "status": status.status,
        "timestamp": timestamp.to_string(),
        "recipient_id": status.recipient_id,
    });
    if !status.errors.is_empty() {
        status_json["errors"] = json!(status
            .errors
            .iter()
            .map(|e| json!({"code": e.code, "title": e.title, "message": e.title}))
            .collect::<Vec<_>>());
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "0",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "15550000000", "phone_number_id": phone_number_id },
                    "statuses": [status_json]
                }
            }]
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_body_carries_the_code_in_the_body_and_the_url_button() {
        let body = template_body("+5511999990000", "otp_code", "pt_BR", "123456");
        assert_eq!(body["to"], "5511999990000");
        let components = &body["template"]["components"];
        assert_eq!(components[0]["parameters"][0]["text"], "123456");
        assert_eq!(components[1]["sub_type"], "url");
        assert_eq!(components[1]["index"], "0");
        assert_eq!(components[1]["parameters"][0]["text"], "123456");
        assert_eq!(body["template"]["language"]["code"], "pt_BR");
    }

    #[test]
    fn answers_and_errors_decode_from_captured_shapes() {
        let ok = br#"{"messaging_product":"whatsapp","contacts":[{"input":"1","wa_id":"1"}],"messages":[{"id":"wamid.HBgM"}]}"#;
        assert_eq!(accepted_id(ok).as_deref(), Some("wamid.HBgM"));
        assert_eq!(accepted_id(br#"{"messages":[]}"#), None);
        let err = br#"{"error":{"message":"(#131026) Message Undeliverable.","type":"OAuthException","code":131026,"fbtrace_id":"x"}}"#;
        assert_eq!(graph_error(err).and_then(|e| e.code), Some(131026));
        assert!(graph_error(b"<html>").is_none());
    }

    #[test]
    fn statuses_are_collected_from_every_entry_and_change() {
        let one = status_webhook(
            "1234",
            &Status {
                id: "wamid.A".into(),
                status: "failed".into(),
                recipient_id: "5511".into(),
                errors: vec![StatusError {
                    code: 131026,
                    title: "Message undeliverable".into(),
                }],
            },
            1,
        );
        let payload: WebhookPayload = serde_json::from_value(one).unwrap();
        let statuses: Vec<_> = payload.statuses().collect();
        assert_eq!(statuses.len(), 1);
        assert_eq!(statuses[0].errors[0].code, 131026);
        let inbound_only: WebhookPayload =
            serde_json::from_str(r#"{"entry":[{"changes":[{"value":{"messages":[{"id":"x"}]}}]}]}"#).unwrap();
        assert_eq!(inbound_only.statuses().count(), 0);
    }
}
