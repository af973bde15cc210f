//! A fake Viber Business Messages platform for tests, benchmarks and local runs.
//!
//! It answers `POST /send_message` with the shapes in [`crate::api`], checks the
//! `X-Viber-Auth-Token` header, and applies the [`Rule`] whose digit `prefix` is the longest
//! match for the receiver. Accepted messages get signed callbacks POSTed to the account's
//! callback URL, when one is set. Control routes: `PUT /_control/rules` (a [`Rules`] JSON body)
//! and `GET /_control/messages` (every accepted [`Received`] send).
use crate::api::{Callback, SendAnswer, SendMessage};
use crate::signature;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The first `message_token` the fake hands out (the one in Viber's own examples).
const FIRST_TOKEN: u64 = 4_912_661_846_655_238_145;

/// What the fake does for receivers matching `prefix` (digits; empty matches all).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub action: Action,
    /// `refuse`: the Viber status (default 5, not a Viber user).
    #[serde(default)]
    pub status: Option<i64>,
    /// Wait this long before answering (any action).
    #[serde(default)]
    pub delay_ms: u64,
    /// `deliver` / `fail`: wait this long before POSTing the callbacks.
    #[serde(default)]
    pub report_after_ms: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Accept, then call back `delivered` and `seen`.
    #[default]
    Deliver,
    /// Accept, then call back `failed`.
    Fail,
    /// HTTP 200 with a non-zero `status`.
    Refuse,
    /// HTTP 429.
    Throttle,
    /// HTTP 500.
    ServerError,
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
    fn for_receiver(&self, receiver: &str) -> Rule {
        let digits = receiver.trim_start_matches('+');
        self.rules
            .iter()
            .filter(|r| digits.starts_with(&r.prefix))
            .max_by_key(|r| r.prefix.len())
            .cloned()
            .unwrap_or_default()
    }
}

/// One `send_message` the fake accepted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Received {
    pub message_token: u64,
    pub receiver: String,
    pub code: String,
    pub tracking_data: String,
}

/// The fake's shared state; cloning shares it.
#[derive(Clone)]
pub struct FakeViber {
    inner: Arc<Inner>,
}

struct Inner {
    /// When set, requests must carry exactly this token; otherwise any non-empty token is taken.
    token: Option<String>,
    /// The account's webhook: where callbacks go. None, no callbacks.
    callback_url: Option<String>,
    rules: Mutex<Rules>,
    messages: Mutex<Vec<Received>>,
    next_token: AtomicU64,
    callbacks: reqwest::Client,
}

impl FakeViber {
    pub fn new(token: Option<String>, callback_url: Option<String>, rules: Rules) -> Self {
        Self {
            inner: Arc::new(Inner {
                token,
                callback_url,
                rules: Mutex::new(rules),
                messages: Mutex::new(Vec::new()),
                next_token: AtomicU64::new(FIRST_TOKEN),
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
                    // Viber answers unreadable requests with HTTP 200 and status 3.
                    let body = refusal(3, &format!("badData: {e}"));
                    actix_web::error::InternalError::from_response(e, HttpResponse::Ok().json(body)).into()
                }))
                .route("/send_message", web::post().to(send_message))
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
        let presented = request.headers().get(signature::AUTH_HEADER)?.to_str().ok()?.to_owned();
        match &self.inner.token {
            Some(expected) if *expected != presented => None,
            _ if presented.is_empty() => None,
            _ => Some(presented),
        }
    }
}

fn refusal(status: i64, status_message: &str) -> SendAnswer {
    SendAnswer {
        status,
        status_message: status_message.to_owned(),
        message_token: None,
    }
}

/// The answer a rule gives before (or instead of) acceptance; `None` means accept.
async fn answer_for(rule: &Rule) -> Option<HttpResponse> {
    if rule.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(rule.delay_ms)).await;
    }
    match rule.action {
        Action::Deliver | Action::Fail => None,
        Action::Refuse => {
            let status = rule.status.unwrap_or(5);
            Some(HttpResponse::Ok().json(refusal(status, status_name(status))))
        }
        Action::Throttle => Some(HttpResponse::TooManyRequests().json(refusal(12, "tooManyRequests"))),
        Action::ServerError => Some(HttpResponse::InternalServerError().finish()),
        // Headers, then a body that fails: actix closes the connection mid-answer.
        Action::Drop => Some(HttpResponse::Ok().streaming(futures_util::stream::once(async {
            Err::<web::Bytes, _>(actix_web::error::ErrorInternalServerError("dropped"))
        }))),
    }
}

/// Viber's `status_message` for the statuses the fake is asked to refuse with.
fn status_name(status: i64) -> &'static str {
    match status {
        1 => "invalidUrl",
        2 => "invalidAuthToken",
        3 => "badData",
        4 => "missingData",
        5 => "receiverNotRegistered",
        6 => "receiverNotSubscribed",
        7 => "publicAccountBlocked",
        8 => "publicAccountNotFound",
        9 => "publicAccountSuspended",
        11 => "noSuitableDevice",
        12 => "tooManyRequests",
        _ => "generalError",
    }
}

async fn send_message(fake: web::Data<FakeViber>, request: HttpRequest, body: web::Json<SendMessage>) -> HttpResponse {
    let Some(token) = fake.authorize(&request) else {
        return HttpResponse::Ok().json(refusal(2, status_name(2)));
    };
    let body = body.into_inner();
    let rule = fake.inner.rules.lock().for_receiver(&body.receiver);
    if let Some(answer) = answer_for(&rule).await {
        return answer;
    }
    let message_token = fake.inner.next_token.fetch_add(1, Ordering::Relaxed);
    fake.inner.messages.lock().push(Received {
        message_token,
        receiver: body.receiver.clone(),
        code: body.template.parameters.code,
        tracking_data: body.tracking_data,
    });
    if let Some(url) = fake.inner.callback_url.clone() {
        let events: &[&str] = match rule.action {
            Action::Fail => &["failed"],
            _ => &["delivered", "seen"],
        };
        let client = fake.inner.callbacks.clone();
        let user_id = format!("fake-user-{}", body.receiver);
        let delay = Duration::from_millis(rule.report_after_ms);
        actix_web::rt::spawn(async move {
            tokio::time::sleep(delay).await;
            for event in events {
                let callback = Callback {
                    event: (*event).to_owned(),
                    timestamp: Some(unix_millis()),
                    message_token: Some(message_token),
                    user_id: Some(user_id.clone()),
                    desc: (*event == "failed").then(|| "fake failure".to_owned()),
                };
                post_callback(&client, &url, &token, &callback).await;
            }
        });
    }
    HttpResponse::Ok().json(SendAnswer {
        status: 0,
        status_message: "ok".into(),
        message_token: Some(message_token),
    })
}

async fn post_callback(client: &reqwest::Client, url: &str, token: &str, callback: &Callback) {
    let body = serde_json::to_vec(callback).expect("Callback serializes");
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header(signature::SIGNATURE_HEADER, signature::sign(token, &body))
        .body(body)
        .send()
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, "fake-viber: callback failed");
    }
}

async fn put_rules(fake: web::Data<FakeViber>, rules: web::Json<Rules>) -> HttpResponse {
    fake.set_rules(rules.into_inner());
    HttpResponse::NoContent().finish()
}

async fn get_messages(fake: web::Data<FakeViber>) -> HttpResponse {
    HttpResponse::Ok().json(fake.messages())
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
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
            status = 6

            [[rules]]
            prefix = "447"
            action = "fail"
            report_after_ms = 10
            "#,
        )
        .unwrap();
        assert_eq!(rules.for_receiver("447700900123").action, Action::Fail);
        let refuse = rules.for_receiver("441234");
        assert_eq!((refuse.action, refuse.status), (Action::Refuse, Some(6)));
        assert_eq!(rules.for_receiver("+14155550100").action, Action::Deliver);
    }
}
