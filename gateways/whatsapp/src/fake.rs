//! A fake WhatsApp Cloud API for tests and local runs: it checks the Bearer token and the
//! authentication-template body as the platform does, answers each destination by the first
//! matching digit-prefix [`Rule`] (longest prefix wins), and sends signed status webhooks.
//!
//! Control endpoints: `GET /_control/messages` lists the sends it took ([`Recorded`]);
//! `PUT /_control/rules` replaces the rules with `{"rules": [Rule, ...]}`.
use crate::webhook::signature;
use crate::wire::{self, Status, StatusError};
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Duration;

/// What the fake does with a send to a matching destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// 200 with a wamid, then one webhook per entry of `statuses`, in that order.
    Accept,
    /// 200 with a wamid, then a `sent` and a `failed` webhook carrying `code` (default 131026).
    Fail,
    /// `http_status` (default 400) with a Graph error body carrying `code`.
    Refuse,
    /// 429 with `Retry-After: retry_after_seconds` when set.
    Throttle,
    /// Waits `delay_ms`, then behaves as `accept`.
    Delay,
    /// Closes the connection without a usable answer.
    Drop,
}

/// A digit-prefix rule, from `--rules FILE` (`[[rules]]` tables) or `PUT /_control/rules`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Rule {
    /// Digits the destination (without `+`) starts with; `""` matches everyone.
    #[serde(default)]
    pub prefix: String,
    pub action: Action,
    /// Webhook statuses for `accept` and `delay`; default `sent, delivered, read`.
    #[serde(default)]
    pub statuses: Option<Vec<String>>,
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub http_status: Option<u16>,
    #[serde(default)]
    pub retry_after_seconds: Option<u64>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Rules {
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One send the fake took (after the token check).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Recorded {
    pub to: String,
    pub template: String,
    pub language: String,
    /// The body parameter and the URL-button parameter, as sent.
    pub body_code: Option<String>,
    pub button_code: Option<String>,
    pub wamid: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub access_token: String,
    pub app_secret: String,
    pub webhook_url: Option<String>,
    pub rules: Vec<Rule>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            access_token: "fake-token".into(),
            app_secret: "fake-app-secret".into(),
            webhook_url: None,
            rules: Vec::new(),
        }
    }
}

struct State {
    config: FakeConfig,
    rules: Mutex<Vec<Rule>>,
    messages: Mutex<Vec<Recorded>>,
    client: reqwest::Client,
}

impl State {
    fn rule_for(&self, to: &str) -> Rule {
        let rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        rules
            .iter()
            .filter(|r| to.starts_with(&r.prefix))
            .max_by_key(|r| r.prefix.len())
            .cloned()
            .unwrap_or(Rule {
                prefix: String::new(),
                action: Action::Accept,
                statuses: None,
                code: None,
                http_status: None,
                retry_after_seconds: None,
                delay_ms: None,
            })
    }

    fn record(&self, message: Recorded) -> usize {
        let mut messages = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        messages.push(message);
        messages.len()
    }
}

/// The HTTP server on `listener`; run it on an actix system (see [`FakeServer::start`]).
pub fn server(listener: TcpListener, config: FakeConfig) -> std::io::Result<Server> {
    let state = web::Data::new(State {
        rules: Mutex::new(config.rules.clone()),
        config,
        messages: Mutex::new(Vec::new()),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(std::io::Error::other)?,
    });
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(1 << 20))
            .route("/_control/messages", web::get().to(list_messages))
            .route("/_control/rules", web::put().to(put_rules))
            .route("/{phone_number_id}/messages", web::post().to(send))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

/// A fake running on its own thread and actix system; stopped when dropped.
pub struct FakeServer {
    /// `http://127.0.0.1:PORT`, to use as the gateway's `base_url`.
    pub url: String,
    handle: ServerHandle,
}

impl FakeServer {
    /// Binds `127.0.0.1:0` and serves until dropped.
    pub fn start(config: FakeConfig) -> std::io::Result<FakeServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match server(listener, config) {
                    Ok(server) => {
                        let _ = tx.send(Ok(server.handle()));
                        let _ = server.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
        });
        let handle = rx.recv().map_err(std::io::Error::other)??;
        Ok(FakeServer { url, handle })
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; the returned future only waits.
        drop(self.handle.stop(false));
    }
}

async fn list_messages(state: web::Data<State>) -> HttpResponse {
    let messages = state.messages.lock().unwrap_or_else(|p| p.into_inner()).clone();
    HttpResponse::Ok().json(messages)
}

async fn put_rules(state: web::Data<State>, body: web::Json<Rules>) -> HttpResponse {
    *state.rules.lock().unwrap_or_else(|p| p.into_inner()) = body.into_inner().rules;
    HttpResponse::NoContent().finish()
}

fn graph_refusal(status: u16, code: i64, message: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(wire::graph_error_body(code, message))
}

/// A refusal's Graph code and message.
type Refusal = (i64, &'static str);

const INVALID_PARAMETER: Refusal = (100, "(#100) Invalid parameter");

/// Checks the documented authentication-template shape; `Err` is the platform's refusal.
fn validate(body: &Value) -> Result<Recorded, Refusal> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let to = text(&body["to"]).filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()));
    let (Some(to), Some("whatsapp"), Some("template")) =
        (to, body["messaging_product"].as_str(), body["type"].as_str())
    else {
        return Err(INVALID_PARAMETER);
    };
    let template = &body["template"];
    let (Some(name), Some(language)) = (text(&template["name"]), text(&template["language"]["code"])) else {
        return Err(INVALID_PARAMETER);
    };
    let components = template["components"].as_array().cloned().unwrap_or_default();
    let parameter = |pick: &dyn Fn(&Value) -> bool| {
        components
            .iter()
            .find(|c| pick(c))
            .and_then(|c| text(&c["parameters"][0]["text"]))
    };
    let body_code = parameter(&|c| c["type"] == "body");
    let button_code = parameter(&|c| c["type"] == "button" && c["sub_type"] == "url");
    if body_code.is_none() || button_code.is_none() {
        return Err((131008, "(#131008) Required parameter is missing"));
    }
    Ok(Recorded {
        to,
        template: name,
        language,
        body_code,
        button_code,
        wamid: None,
    })
}

async fn send(state: web::Data<State>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let expected = format!("Bearer {}", state.config.access_token);
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    if !authorized {
        return graph_refusal(401, 190, "Invalid OAuth access token - Cannot parse access token");
    }
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return graph_refusal(400, 100, "(#100) The parameter body is not valid JSON");
    };
    let recorded = match validate(&json) {
        Ok(recorded) => recorded,
        Err((code, text)) => return graph_refusal(400, code, text),
    };
    let rule = state.rule_for(&recorded.to);
    let to = recorded.to.clone();
    match rule.action {
        Action::Refuse => {
            state.record(recorded);
            let code = rule.code.unwrap_or(131026);
            return graph_refusal(
                rule.http_status.unwrap_or(400),
                code,
                &format!("(#{code}) refused by rule"),
            );
        }
        Action::Throttle => {
            state.record(recorded);
            let mut answer = HttpResponse::TooManyRequests();
            if let Some(seconds) = rule.retry_after_seconds {
                answer.insert_header(("retry-after", seconds.to_string()));
            }
            return answer.json(wire::graph_error_body(130429, "(#130429) Rate limit hit"));
        }
        Action::Drop => {
            state.record(recorded);
            // actix cannot close a socket from a handler; a body that fails at once makes it
            // abort the connection before any usable answer reaches the client.
            let failing =
                futures_util::stream::once(async { Err::<web::Bytes, _>(std::io::Error::other("dropped by rule")) });
            return HttpResponse::Ok().streaming(failing);
        }
        Action::Delay => {
            tokio::time::sleep(Duration::from_millis(rule.delay_ms.unwrap_or(0))).await;
        }
        Action::Accept | Action::Fail => {}
    }
    let n = state.record(recorded);
    let wamid = format!("wamid.FAKE{n:08}");
    if let Some(slot) = state.messages.lock().unwrap_or_else(|p| p.into_inner()).get_mut(n - 1) {
        slot.wamid = Some(wamid.clone());
    }
    let statuses: Vec<Status> = match rule.action {
        Action::Fail => vec![
            status(&wamid, &to, "sent", None),
            status(&wamid, &to, "failed", Some(rule.code.unwrap_or(131026))),
        ],
        _ => rule
            .statuses
            .clone()
            .unwrap_or_else(|| vec!["sent".into(), "delivered".into(), "read".into()])
            .iter()
            .map(|s| status(&wamid, &to, s, None))
            .collect(),
    };
    if let Some(url) = state.config.webhook_url.clone() {
        let phone_number_id = request.match_info().get("phone_number_id").unwrap_or("0").to_owned();
        let state = state.clone();
        actix_web::rt::spawn(async move {
            for status in statuses {
                deliver_webhook(&state, &url, &phone_number_id, &status).await;
            }
        });
    }
    HttpResponse::Ok().json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": wamid }]
    }))
}

fn status(wamid: &str, to: &str, status: &str, error: Option<i64>) -> Status {
    Status {
        id: wamid.into(),
        status: status.into(),
        recipient_id: to.into(),
        errors: error
            .map(|code| {
                vec![StatusError {
                    code,
                    title: "Message undeliverable".into(),
                }]
            })
            .unwrap_or_default(),
    }
}

async fn deliver_webhook(state: &State, url: &str, phone_number_id: &str, status: &Status) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let body = wire::status_webhook(phone_number_id, status, now).to_string();
    let answer = state
        .client
        .post(url)
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            signature(&state.config.app_secret, body.as_bytes()),
        )
        .body(body)
        .send()
        .await;
    if let Err(e) = answer {
        tracing::warn!(error = %e, "fake-whatsapp: webhook delivery failed");
    }
}
