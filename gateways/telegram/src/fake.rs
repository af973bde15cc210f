//! A fake Telegram Gateway API platform for tests, benchmarks and local runs.
//!
//! It answers `sendVerificationMessage` and `checkSendAbility` with the documented shapes,
//! checks the Bearer token, and applies the [`Rule`] whose digit `prefix` is the longest match
//! for the destination. Accepted messages get signed delivery reports POSTed to their
//! `callback_url`. Control routes: `PUT /_control/rules` (a [`Rules`] JSON body) and
//! `GET /_control/messages` (every [`Received`] request).
use crate::api::{CheckSendAbility, DeliveryStatus, Envelope, RequestStatus, SendVerificationMessage};
use crate::signature;
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
    /// `refuse`: the error string (default `PHONE_NUMBER_INVALID`).
    #[serde(default)]
    pub error: Option<String>,
    /// `throttle`: answer `FLOOD_WAIT_<n>` instead of a bare HTTP 429.
    #[serde(default)]
    pub flood_wait: Option<u32>,
    /// Wait this long before answering (any action).
    #[serde(default)]
    pub delay_ms: u64,
    /// `deliver` / `expire`: wait this long before POSTing the report.
    #[serde(default)]
    pub report_after_ms: u64,
    /// `deliver`: also POST a `read` report after the `delivered` one.
    #[serde(default)]
    pub read: bool,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Accept, then report `delivered` (and `read` if asked).
    #[default]
    Deliver,
    /// Accept, then report `expired`.
    Expire,
    /// `{ok: false, error}` with HTTP 400.
    Refuse,
    /// HTTP 429, or `FLOOD_WAIT_<n>`.
    Throttle,
    /// HTTP 500.
    Fail,
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

/// One `sendVerificationMessage` the fake received.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Received {
    pub request_id: String,
    pub phone_number: String,
    pub code: String,
    pub ttl: Option<u32>,
    pub callback_url: Option<String>,
    pub payload: Option<String>,
}

/// The fake's shared state; cloning shares it.
#[derive(Clone)]
pub struct FakeTelegram {
    inner: Arc<Inner>,
}

struct Inner {
    /// When set, requests must carry exactly this Bearer token; otherwise any token is taken.
    token: Option<String>,
    rules: Mutex<Rules>,
    messages: Mutex<Vec<Received>>,
    next_id: AtomicU64,
    callbacks: reqwest::Client,
}

impl FakeTelegram {
    pub fn new(token: Option<String>, rules: Rules) -> Self {
        Self {
            inner: Arc::new(Inner {
                token,
                rules: Mutex::new(rules),
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
                    let body = refusal(&format!("BAD_REQUEST: {e}"));
                    actix_web::error::InternalError::from_response(e, HttpResponse::BadRequest().json(body)).into()
                }))
                .route("/sendVerificationMessage", web::post().to(send_verification_message))
                .route("/checkSendAbility", web::post().to(check_send_ability))
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

    fn status(&self, phone: &str, payload: Option<String>) -> RequestStatus {
        RequestStatus {
            request_id: format!("fake-{}", self.inner.next_id.fetch_add(1, Ordering::Relaxed)),
            phone_number: phone.to_owned(),
            request_cost: 0.01,
            payload,
            delivery_status: None,
        }
    }
}

fn refusal(error: &str) -> Envelope<RequestStatus> {
    Envelope {
        ok: false,
        result: None,
        error: Some(error.to_owned()),
    }
}

/// The answer a rule gives before (or instead of) acceptance; `None` means accept.
async fn answer_for(rule: &Rule) -> Option<HttpResponse> {
    if rule.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(rule.delay_ms)).await;
    }
    match rule.action {
        Action::Deliver | Action::Expire => None,
        Action::Refuse => {
            let error = rule.error.as_deref().unwrap_or("PHONE_NUMBER_INVALID");
            Some(HttpResponse::BadRequest().json(refusal(error)))
        }
        Action::Throttle => Some(match rule.flood_wait {
            Some(n) => HttpResponse::BadRequest().json(refusal(&format!("FLOOD_WAIT_{n}"))),
            None => HttpResponse::TooManyRequests().json(refusal("TOO_MANY_REQUESTS")),
        }),
        Action::Fail => Some(HttpResponse::InternalServerError().json(refusal("INTERNAL_SERVER_ERROR"))),
        // Headers, then a body that fails: actix closes the connection mid-answer.
        Action::Drop => Some(HttpResponse::Ok().streaming(futures_util::stream::once(async {
            Err::<web::Bytes, _>(actix_web::error::ErrorInternalServerError("dropped"))
        }))),
    }
}

fn unauthorized() -> HttpResponse {
    HttpResponse::build(StatusCode::UNAUTHORIZED).json(refusal("ACCESS_TOKEN_INVALID"))
}

async fn send_verification_message(
    fake: web::Data<FakeTelegram>,
    request: HttpRequest,
    body: web::Json<SendVerificationMessage>,
) -> HttpResponse {
    let Some(token) = fake.authorize(&request) else {
        return unauthorized();
    };
    let body = body.into_inner();
    let rule = fake.inner.rules.lock().for_phone(&body.phone_number);
    if let Some(answer) = answer_for(&rule).await {
        return answer;
    }
    let status = fake.status(&body.phone_number, body.payload.clone());
    fake.inner.messages.lock().push(Received {
        request_id: status.request_id.clone(),
        phone_number: body.phone_number.clone(),
        code: body.code,
        ttl: body.ttl,
        callback_url: body.callback_url.clone(),
        payload: body.payload,
    });
    if let Some(url) = body.callback_url {
        let reports: &[&str] = match (rule.action, rule.read) {
            (Action::Expire, _) => &["expired"],
            (_, true) => &["delivered", "read"],
            _ => &["delivered"],
        };
        let client = fake.inner.callbacks.clone();
        let report = status.clone();
        let delay = Duration::from_millis(rule.report_after_ms);
        actix_web::rt::spawn(async move {
            tokio::time::sleep(delay).await;
            for state in reports {
                post_report(&client, &url, &token, &report, state).await;
            }
        });
    }
    let mut result = status;
    result.delivery_status = Some(DeliveryStatus {
        status: "sent".into(),
        updated_at: unix_now() as i64,
    });
    HttpResponse::Ok().json(Envelope {
        ok: true,
        result: Some(result),
        error: None,
    })
}

async fn post_report(client: &reqwest::Client, url: &str, token: &str, status: &RequestStatus, state: &str) {
    let mut status = status.clone();
    status.delivery_status = Some(DeliveryStatus {
        status: state.to_owned(),
        updated_at: unix_now() as i64,
    });
    let body = serde_json::to_vec(&status).expect("RequestStatus serializes");
    let timestamp = unix_now().to_string();
    let signature = signature::sign(token, &timestamp, &body);
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header(signature::TIMESTAMP_HEADER, &timestamp)
        .header(signature::SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, "fake-telegram: report callback failed");
    }
}

async fn check_send_ability(
    fake: web::Data<FakeTelegram>,
    request: HttpRequest,
    body: web::Json<CheckSendAbility>,
) -> HttpResponse {
    if fake.authorize(&request).is_none() {
        return unauthorized();
    }
    let rule = fake.inner.rules.lock().for_phone(&body.phone_number);
    if let Some(answer) = answer_for(&rule).await {
        return answer;
    }
    HttpResponse::Ok().json(Envelope {
        ok: true,
        result: Some(fake.status(&body.phone_number, None)),
        error: None,
    })
}

async fn put_rules(fake: web::Data<FakeTelegram>, rules: web::Json<Rules>) -> HttpResponse {
    fake.set_rules(rules.into_inner());
    HttpResponse::NoContent().finish()
}

async fn get_messages(fake: web::Data<FakeTelegram>) -> HttpResponse {
    HttpResponse::Ok().json(fake.messages())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
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
            action = "refuse"
            error = "PHONE_NUMBER_NOT_FOUND"

            [[rules]]
            prefix = "447"
            action = "expire"
            report_after_ms = 10
            "#,
        )
        .unwrap();
        assert_eq!(rules.for_phone("+447700900123").action, Action::Expire);
        assert_eq!(rules.for_phone("+441234").action, Action::Refuse);
        assert_eq!(rules.for_phone("+14155550100").action, Action::Deliver);
    }
}
