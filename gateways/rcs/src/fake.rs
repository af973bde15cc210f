//! A fake RBM platform for tests, benchmarks and local runs.
//!
//! It answers `POST /v1/phones/+{digits}/agentMessages?messageId=..&agentId=..`, checks the
//! Bearer token, and applies the [`Rule`] whose digit `prefix` is the longest match for the
//! destination. Accepted messages get signed events POSTed to the configured callback URL in
//! RBM's Pub/Sub push shape: `DELIVERED` then `READ`, or `FAILED` (not an RBM event type; our
//! gateway accepts it for failures). Control routes: `PUT /_control/rules` (a [`Rules`] JSON
//! body) and `GET /_control/messages` (every accepted send as a [`Received`]).
use crate::api::{AgentEvent, AgentMessage, ErrorBody, PushEnvelope};
use crate::signature::{self, SIGNATURE_HEADER};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the fake does for destinations matching `prefix` (digits, no `+`; empty matches all).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub action: Action,
    /// `refuse`: the HTTP status to answer (default 400).
    #[serde(default)]
    pub status: Option<u16>,
    /// `throttle`: a `Retry-After` header, in seconds.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Wait this long before answering (any action).
    #[serde(default)]
    pub delay_ms: u64,
    /// `deliver` / `fail`: wait this long before POSTing the events.
    #[serde(default)]
    pub report_after_ms: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Accept, then send `DELIVERED` and `READ` events.
    #[default]
    Deliver,
    /// Accept, then send a `FAILED` event.
    Fail,
    /// HTTP 404 `NOT_FOUND`: the number has no RCS-capable device.
    NotCapable,
    /// A Google error with the rule's `status` (default 400).
    Refuse,
    /// HTTP 429 `RESOURCE_EXHAUSTED`, with `Retry-After` if the rule sets one.
    Throttle,
    /// Close the connection without a complete answer.
    Drop,
}

/// The rule set, as in `--rules FILE` (TOML `[[rules]]`) and `PUT /_control/rules` (JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl Rules {
    fn for_phone(&self, phone: &str) -> Rule {
        let digits = phone.trim_start_matches('+');
        self.rules
            .iter()
            .filter(|r| digits.starts_with(&r.prefix))
            .max_by_key(|r| r.prefix.len())
            .cloned()
            .unwrap_or_default()
    }
}

/// One accepted send.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Received {
    /// As in the URL: E.164 with the `+`.
    pub phone: String,
    pub message_id: String,
    pub agent_id: String,
    pub text: String,
}

/// How the fake is set up; `FakeRcsConfig::default()` accepts any token and sends no events.
#[derive(Debug, Clone, Default)]
pub struct FakeRcsConfig {
    /// When set, sends must carry exactly this Bearer token; otherwise any token is taken.
    pub token: Option<String>,
    /// The client token events are signed with; without one, the Bearer token of the send.
    pub webhook_token: Option<String>,
    /// Where events are POSTed; without one, none are sent.
    pub callback_url: Option<String>,
    pub rules: Rules,
}

/// The fake's shared state; cloning shares it.
#[derive(Clone)]
pub struct FakeRcs {
    inner: Arc<Inner>,
}

struct Inner {
    token: Option<String>,
    webhook_token: Option<String>,
    callback_url: Option<String>,
    rules: Mutex<Rules>,
    messages: Mutex<Vec<Received>>,
    next_id: AtomicU64,
    callbacks: reqwest::Client,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendQuery {
    message_id: Option<String>,
    agent_id: Option<String>,
}

impl FakeRcs {
    pub fn new(config: FakeRcsConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                token: config.token,
                webhook_token: config.webhook_token,
                callback_url: config.callback_url,
                rules: Mutex::new(config.rules),
                messages: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(1),
                callbacks: reqwest::Client::new(),
            }),
        }
    }

    pub fn set_rules(&self, rules: Rules) {
        *self.inner.rules.lock() = rules;
    }

    pub fn messages(&self) -> Vec<Received> {
        self.inner.messages.lock().clone()
    }

    /// Serves on `listener` until the returned server is stopped or dropped with its runtime.
    pub fn serve(&self, listener: std::net::TcpListener) -> std::io::Result<actix_web::dev::Server> {
        let state = self.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .app_data(web::JsonConfig::default().error_handler(|e, _| {
                    let body = google_error(400, "INVALID_ARGUMENT", &e.to_string());
                    actix_web::error::InternalError::from_response(e, body).into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    let body = google_error(400, "INVALID_ARGUMENT", &e.to_string());
                    actix_web::error::InternalError::from_response(e, body).into()
                }))
                .route("/v1/phones/{phone}/agentMessages", web::post().to(create_agent_message))
                .route("/_control/rules", web::put().to(put_rules))
                .route("/_control/messages", web::get().to(get_messages))
        })
        .workers(1)
        .listen(listener)?
        .run();
        Ok(server)
    }

    /// The token the request presented, if it is acceptable.
    fn authorize(&self, request: &HttpRequest) -> Option<String> {
        let presented = request
            .headers()
            .get("authorization")?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?
            .to_owned();
        match &self.inner.token {
            Some(expected) if *expected != presented => None,
            _ if presented.is_empty() => None,
            _ => Some(presented),
        }
    }
}

fn google_error(code: u16, status: &str, message: &str) -> HttpResponse {
    let http_status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    HttpResponse::build(http_status).json(ErrorBody::new(code, status, message))
}

/// The answer a rule gives before (or instead of) acceptance; `None` means accept.
async fn answer_for(rule: &Rule) -> Option<HttpResponse> {
    if rule.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(rule.delay_ms)).await;
    }
    match rule.action {
        Action::Deliver | Action::Fail => None,
        Action::NotCapable => Some(google_error(404, "NOT_FOUND", "Requested entity was not found.")),
        Action::Refuse => Some(google_error(
            rule.status.unwrap_or(400),
            "FAILED_PRECONDITION",
            "refused by rule",
        )),
        Action::Throttle => {
            let mut answer = google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.");
            if let Some(seconds) = rule.retry_after {
                answer.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from(seconds),
                );
            }
            Some(answer)
        }
        // Headers, then a body that fails: actix closes the connection mid-answer.
        Action::Drop => Some(HttpResponse::Ok().streaming(futures_util::stream::once(async {
            Err::<web::Bytes, _>(actix_web::error::ErrorInternalServerError("dropped"))
        }))),
    }
}

async fn create_agent_message(
    fake: web::Data<FakeRcs>,
    request: HttpRequest,
    phone: web::Path<String>,
    query: web::Query<SendQuery>,
    body: web::Json<AgentMessage>,
) -> HttpResponse {
    let Some(token) = fake.authorize(&request) else {
        return google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    };
    let phone = phone.into_inner();
    let (Some(message_id), Some(agent_id)) = (query.message_id.clone(), query.agent_id.clone()) else {
        return google_error(400, "INVALID_ARGUMENT", "messageId and agentId are required");
    };
    if crate::api::e164_digits(&phone).is_none() || !phone.starts_with('+') {
        return google_error(400, "INVALID_ARGUMENT", "phone is not +E.164");
    }
    let rule = fake.inner.rules.lock().for_phone(&phone);
    if let Some(answer) = answer_for(&rule).await {
        return answer;
    }
    let text = body.into_inner().content_message.text;
    fake.inner.messages.lock().push(Received {
        phone: phone.clone(),
        message_id: message_id.clone(),
        agent_id: agent_id.clone(),
        text: text.clone(),
    });
    if let Some(url) = fake.inner.callback_url.clone() {
        let events: &'static [&'static str] = match rule.action {
            Action::Fail => &["FAILED"],
            _ => &["DELIVERED", "READ"],
        };
        let key = fake.inner.webhook_token.clone().unwrap_or(token);
        let fake = fake.clone();
        let event = AgentEvent {
            sender_phone_number: phone.clone(),
            event_type: None,
            event_id: String::new(),
            message_id: message_id.clone(),
            send_time: String::new(),
            agent_id: agent_id.clone(),
        };
        let delay = Duration::from_millis(rule.report_after_ms);
        actix_web::rt::spawn(async move {
            tokio::time::sleep(delay).await;
            for event_type in events {
                fake.post_event(&url, &key, &event, event_type).await;
            }
        });
    }
    HttpResponse::Ok().json(serde_json::json!({
        "name": format!("phones/{phone}/agentMessages/{message_id}"),
        "sendTime": rfc3339_now(),
        "contentMessage": {"text": text},
    }))
}

impl FakeRcs {
    async fn post_event(&self, url: &str, key: &str, event: &AgentEvent, event_type: &str) {
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut event = event.clone();
        event.event_type = Some(event_type.to_owned());
        event.event_id = format!("fake-event-{n}");
        event.send_time = rfc3339_now();
        let data = serde_json::to_vec(&event).expect("AgentEvent serializes");
        let envelope = PushEnvelope::wrap(&data, &format!("fake-push-{n}"), &event.send_time);
        let sent = self
            .inner
            .callbacks
            .post(url)
            .header(SIGNATURE_HEADER, signature::sign(key, &data))
            .json(&envelope)
            .send()
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "fake-rcs: event callback failed");
        }
    }
}

async fn put_rules(fake: web::Data<FakeRcs>, rules: web::Json<Rules>) -> HttpResponse {
    fake.set_rules(rules.into_inner());
    HttpResponse::NoContent().finish()
}

async fn get_messages(fake: web::Data<FakeRcs>) -> HttpResponse {
    HttpResponse::Ok().json(fake.messages())
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`, the shape of RBM's timestamps.
fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    rfc3339(secs)
}

fn rfc3339(unix_seconds: u64) -> String {
    let (days, rest) = ((unix_seconds / 86_400) as i64, unix_seconds % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_wins_and_toml_rules_parse() {
        let rules: Rules = toml::from_str(
            r#"
            [[rules]]
            prefix = "44"
            action = "not_capable"

            [[rules]]
            prefix = "447"
            action = "refuse"
            status = 403
            "#,
        )
        .unwrap();
        assert_eq!(rules.for_phone("+447700900123").action, Action::Refuse);
        assert_eq!(rules.for_phone("+447700900123").status, Some(403));
        assert_eq!(rules.for_phone("+441234").action, Action::NotCapable);
        assert_eq!(rules.for_phone("+14155550100").action, Action::Deliver);
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
