//! A fake RBM platform for tests, benchmarks and local runs, on the kit's fake server (rules,
//! control routes, signed callbacks; see `otpgate_http_kit::testing`).
//!
//! It answers `POST /v1/phones/+{digits}/agentMessages?messageId=..&agentId=..` after checking
//! the Bearer token, and posts signed events in RBM's Pub/Sub push shape to the callback URL:
//! `DELIVERED` then `READ`, or `FAILED` (not an RBM event type; our gateway accepts it for
//! failures). A `refuse` rule answers 404 `NOT_FOUND` (no RCS-capable device) unless it names
//! another `status` (and Google `error` code).
use crate::status;
use crate::wire::{AgentEvent, AgentMessage, ErrorBody, PushEnvelope, SIGNATURE, SIGNATURE_HEADER};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use otpgate_http_kit::testing::{Fake, FakePlatform, Rule, Signed};
use serde::{Deserialize, Serialize};

pub struct FakeRcs;

/// One accepted send.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Received {
    /// As in the URL: E.164 with the `+`.
    pub phone: String,
    pub message_id: String,
    pub agent_id: String,
    pub text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendQuery {
    message_id: Option<String>,
    agent_id: Option<String>,
}

fn google_error(code: u16, status: &str, message: &str) -> HttpResponse {
    let http_status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    HttpResponse::build(http_status).json(ErrorBody::new(code, status, message))
}

impl FakePlatform for FakeRcs {
    const NAME: &'static str = "fake-rcs";

    fn routes(config: &mut web::ServiceConfig) {
        config.route("/v1/phones/{phone}/agentMessages", web::post().to(create_agent_message));
    }

    fn refuse(rule: &Rule) -> HttpResponse {
        let code = rule.status.unwrap_or(404);
        let status = rule.error.as_deref().unwrap_or(status::canonical(code));
        google_error(code, status, "refused by rule")
    }

    fn throttle(_rule: &Rule) -> HttpResponse {
        google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.")
    }

    fn unreadable(why: String) -> HttpResponse {
        google_error(400, "INVALID_ARGUMENT", &why)
    }
}

async fn create_agent_message(
    fake: web::Data<Fake<FakeRcs>>,
    request: HttpRequest,
    phone: web::Path<String>,
    query: web::Query<SendQuery>,
    body: web::Json<AgentMessage>,
) -> HttpResponse {
    let Some(token) = fake.authorize_bearer(&request) else {
        return google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    };
    let phone = phone.into_inner();
    let query = query.into_inner();
    let (Some(message_id), Some(agent_id)) = (query.message_id, query.agent_id) else {
        return google_error(400, "INVALID_ARGUMENT", "messageId and agentId are required");
    };
    if crate::wire::e164_digits(&phone).is_none() || !phone.starts_with('+') {
        return google_error(400, "INVALID_ARGUMENT", "phone is not +E.164");
    }
    let rule = fake.rule_for(&phone);
    if let Some(refusal) = fake.refusal(&rule).await {
        return refusal;
    }
    let text = body.into_inner().content_message.text;
    fake.record(&Received {
        phone: phone.clone(),
        message_id: message_id.clone(),
        agent_id: agent_id.clone(),
        text: text.clone(),
    });
    if let Some(url) = fake.settings().callback_url.clone() {
        let secret = fake.secret(&token);
        let signed = |event_type: String| {
            let n = fake.next_id();
            let event = AgentEvent {
                sender_phone_number: phone.clone(),
                event_type: Some(event_type),
                event_id: format!("fake-event-{n}"),
                message_id: message_id.clone(),
                send_time: rfc3339_now(),
                agent_id: agent_id.clone(),
            };
            let data = serde_json::to_vec(&event).expect("an event serializes");
            let envelope = PushEnvelope::wrap(&data, &format!("fake-push-{n}"), &event.send_time);
            Signed {
                headers: vec![(SIGNATURE_HEADER, SIGNATURE.sign(&secret, &[&data]))],
                body: serde_json::to_vec(&envelope).expect("an envelope serializes"),
            }
        };
        fake.call_back(&rule, url, (&["DELIVERED", "READ"], &["FAILED"]), signed);
    }
    HttpResponse::Ok().json(serde_json::json!({
        "name": format!("phones/{phone}/agentMessages/{message_id}"),
        "sendTime": rfc3339_now(),
        "contentMessage": {"text": text},
    }))
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`, the shape of RBM's timestamps (RFC 3339).
fn rfc3339_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
