//! The fake-platform server every channel's fake runs on: token check, rules, the sends it took,
//! control routes (`PUT /_control/rules` with a [`Rules`] body, `GET /_control/messages` listing
//! what each send taken recorded) and signed callbacks posted after a send. A platform adds its
//! API routes and says how it refuses, throttles and signs.
use super::rules::{Action, Rule, Rules};
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One platform's side of its fake.
pub trait FakePlatform: Send + Sync + 'static {
    /// The name in the ready line (`fake-viber http=...`).
    const NAME: &'static str;
    /// Whether callbacks are signed with the token the send presented, as the platform does
    /// (Telegram, Viber), whatever `--secret` says.
    const SIGNS_WITH_TOKEN: bool = false;

    /// Adds the platform's API routes; their handlers take `web::Data<Fake<Self>>`.
    fn routes(config: &mut web::ServiceConfig);
    /// The answer of a `refuse` rule.
    fn refuse(rule: &Rule) -> HttpResponse;
    /// The answer of a `throttle` rule (a `Retry-After` header is added when the rule has one).
    fn throttle(rule: &Rule) -> HttpResponse;
    /// The answer to a request body that is not the platform's JSON.
    fn unreadable(why: String) -> HttpResponse;
}

/// How a fake is set up.
#[derive(Debug, Clone, Default)]
pub struct FakeSettings {
    /// When set, requests must present exactly this token; otherwise any non-empty one is taken.
    pub token: Option<String>,
    /// Where callbacks go, for platforms that call back one account-wide URL; without one (and
    /// without a per-request URL) none are sent.
    pub callback_url: Option<String>,
    /// The secret callbacks are signed with; without one, the token the send presented.
    pub secret: Option<String>,
    pub rules: Rules,
}

/// A platform's callback events: those of a delivered message, and of a failed one, in order.
pub type Events<'a> = (&'a [&'a str], &'a [&'a str]);

/// A callback request to post: its headers and body.
#[derive(Debug, Clone)]
pub struct Signed {
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// A fake platform's state; cloning shares it.
pub struct Fake<P: FakePlatform> {
    inner: Arc<Inner<P>>,
}

impl<P: FakePlatform> Clone for Fake<P> {
    fn clone(&self) -> Self {
        Fake {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<P: FakePlatform> {
    settings: FakeSettings,
    rules: Mutex<Rules>,
    received: Mutex<Vec<Value>>,
    platform: std::marker::PhantomData<P>,
    next_id: AtomicU64,
    callbacks: reqwest::Client,
}

impl<P: FakePlatform> Fake<P> {
    pub fn new(mut settings: FakeSettings) -> Self {
        let rules = std::mem::take(&mut settings.rules);
        Fake {
            inner: Arc::new(Inner {
                settings,
                rules: Mutex::new(rules),
                received: Mutex::new(Vec::new()),
                platform: std::marker::PhantomData,
                next_id: AtomicU64::new(1),
                callbacks: reqwest::Client::new(),
            }),
        }
    }

    pub fn settings(&self) -> &FakeSettings {
        &self.inner.settings
    }

    pub fn set_rules(&self, rules: Rules) {
        *self.inner.rules.lock() = rules;
    }

    /// What every send taken recorded, in order (as `GET /_control/messages` lists it).
    pub fn received(&self) -> Vec<Value> {
        self.inner.received.lock().clone()
    }

    /// Keeps what a send taken should be listed as; returns how many there are now.
    pub fn record(&self, received: &impl Serialize) -> usize {
        let received = serde_json::to_value(received).expect("a record serializes");
        let mut all = self.inner.received.lock();
        all.push(received);
        all.len()
    }

    /// 1, 2, 3, ...: for the platform's message ids.
    pub fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The token `request` presents in its `header`, if the fake takes it.
    pub fn authorize(&self, request: &HttpRequest, header: &str) -> Option<String> {
        let presented = request.headers().get(header)?.to_str().ok()?;
        self.takes(presented)
    }

    /// The token `request` presents as `Authorization: Bearer`, if the fake takes it.
    pub fn authorize_bearer(&self, request: &HttpRequest) -> Option<String> {
        let presented = request.headers().get("authorization")?.to_str().ok()?;
        self.takes(presented.strip_prefix("Bearer ")?)
    }

    fn takes(&self, presented: &str) -> Option<String> {
        match &self.inner.settings.token {
            _ if presented.is_empty() => None,
            Some(expected) if expected != presented => None,
            _ => Some(presented.to_owned()),
        }
    }

    /// The secret to sign callbacks with for a send that presented `token`.
    pub fn secret(&self, token: &str) -> String {
        match &self.inner.settings.secret {
            Some(secret) if !P::SIGNS_WITH_TOKEN => secret.clone(),
            _ => token.to_owned(),
        }
    }

    /// The rule for a send to `destination`; it counts as one of the rule's uses.
    pub fn rule_for(&self, destination: &str) -> Rule {
        self.inner.rules.lock().take(destination)
    }

    /// Waits the rule's `delay_ms`, then gives the answer of a rule that does not accept
    /// (`None` for `deliver` and `fail`, which accept).
    pub async fn refusal(&self, rule: &Rule) -> Option<HttpResponse> {
        if rule.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(rule.delay_ms)).await;
        }
        match rule.action {
            Action::Deliver | Action::Fail => None,
            Action::Refuse => Some(P::refuse(rule)),
            Action::Throttle => {
                let mut answer = P::throttle(rule);
                if let Some(seconds) = rule.retry_after {
                    answer.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
                }
                Some(answer)
            }
            Action::ServerError => Some(HttpResponse::InternalServerError().finish()),
            // actix cannot close a socket from a handler; a body that fails at once makes it
            // abort the connection before any usable answer reaches the client.
            Action::Drop => Some(HttpResponse::Ok().streaming(futures_util::stream::once(async {
                Err::<web::Bytes, _>(actix_web::error::ErrorInternalServerError("dropped by rule"))
            }))),
        }
    }

    /// Posts one callback per event of the send to `url`, in order, the rule's `report_after_ms`
    /// after now, in the background: the rule's `events`, or the platform's `delivered` events,
    /// or its `failed` events for a `fail` rule, each made by `sign`.
    pub fn call_back(&self, rule: &Rule, url: String, (delivered, failed): Events, sign: impl FnMut(String) -> Signed) {
        let events = match (rule.action, &rule.events) {
            (Action::Fail, _) => failed.iter().map(|e| e.to_string()).collect(),
            (_, Some(events)) => events.clone(),
            (_, None) => delivered.iter().map(|e| e.to_string()).collect(),
        };
        let callbacks: Vec<Signed> = events.into_iter().map(sign).collect();
        let client = self.inner.callbacks.clone();
        let delay = Duration::from_millis(rule.report_after_ms);
        actix_web::rt::spawn(async move {
            tokio::time::sleep(delay).await;
            for callback in callbacks {
                let mut request = client.post(&url).header("content-type", "application/json");
                for (name, value) in callback.headers {
                    request = request.header(name, value);
                }
                if let Err(e) = request.body(callback.body).send().await {
                    tracing::warn!(fake = P::NAME, error = %e, "callback failed");
                }
            }
        });
    }

    /// Serves on `listener` until the returned server is stopped; run it on an actix system.
    pub fn serve(&self, listener: TcpListener) -> std::io::Result<Server> {
        let fake = self.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(fake.clone()))
                .app_data(web::PayloadConfig::new(1 << 20))
                .app_data(web::JsonConfig::default().error_handler(|e, _| {
                    let answer = P::unreadable(e.to_string());
                    actix_web::error::InternalError::from_response(e, answer).into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    let answer = P::unreadable(e.to_string());
                    actix_web::error::InternalError::from_response(e, answer).into()
                }))
                .route("/_control/rules", web::put().to(put_rules::<P>))
                .route("/_control/messages", web::get().to(get_messages::<P>))
                .configure(P::routes)
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(server)
    }

    /// Binds `127.0.0.1:0` and serves on a thread of its own until the handle is dropped.
    pub fn start(&self) -> std::io::Result<FakeServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let fake = self.clone();
        let handle = on_own_thread(move || fake.serve(listener))?;
        Ok(FakeServer { url, handle })
    }
}

/// Runs the server `serve` makes on a new thread with its own actix system.
pub(crate) fn on_own_thread(
    serve: impl FnOnce() -> std::io::Result<Server> + Send + 'static,
) -> std::io::Result<ServerHandle> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            match serve() {
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
    rx.recv().map_err(std::io::Error::other)?
}

/// A fake serving on its own thread; stopped when dropped.
pub struct FakeServer {
    /// `http://127.0.0.1:PORT`, the gateway's `base_url`.
    pub url: String,
    handle: ServerHandle,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; the returned future only waits.
        drop(self.handle.stop(false));
    }
}

async fn put_rules<P: FakePlatform>(fake: web::Data<Fake<P>>, rules: web::Json<Rules>) -> HttpResponse {
    fake.set_rules(rules.into_inner());
    HttpResponse::NoContent().finish()
}

async fn get_messages<P: FakePlatform>(fake: web::Data<Fake<P>>) -> HttpResponse {
    HttpResponse::Ok().json(fake.received())
}
