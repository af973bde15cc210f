//! What channel tests need around a gateway and its fake: outbound messages, a receiver that
//! keeps the callbacks a fake posts, a fake binary run as a process, and polling instead of
//! sleeps.
use super::fake::on_own_thread;
use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use otpgate_gateway::{Channel, OutboundMessage};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The code every test message carries.
pub const CODE: &str = "482913";

/// A message for `to` on `channel`, request id `req-{to}`.
pub fn message(channel: Channel, to: &str) -> OutboundMessage {
    OutboundMessage {
        request_id: format!("req-{to}"),
        application: "app".into(),
        to: to.into(),
        channel,
        code: CODE.into(),
        text: format!("Your code is {CODE}"),
        locale: "en".into(),
    }
}

/// Polls `condition` every 10 ms for up to 5 s; panics naming `what` if it never holds.
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One callback request as it arrived.
#[derive(Debug, Clone)]
pub struct Arrived {
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Arrived {
    /// The header reader a gateway's `handle_callback` takes.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(&name.to_ascii_lowercase()).cloned()
    }
}

/// An HTTP endpoint on a thread of its own that answers 200 to every request and keeps it.
pub struct CallbackReceiver {
    /// Where to post: `http://127.0.0.1:PORT/callbacks`.
    pub url: String,
    arrived: Arc<Mutex<Vec<Arrived>>>,
    handle: ServerHandle,
}

impl CallbackReceiver {
    pub fn start() -> CallbackReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!("http://{}/callbacks", listener.local_addr().expect("bound"));
        let arrived = Arc::new(Mutex::new(Vec::new()));
        let sink = arrived.clone();
        let handle = on_own_thread(move || {
            let server = HttpServer::new(move || {
                let sink = sink.clone();
                App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                    let headers = request
                        .headers()
                        .iter()
                        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                        .collect();
                    sink.lock().push(Arrived {
                        headers,
                        body: body.to_vec(),
                    });
                    async { HttpResponse::Ok().finish() }
                }))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)?
            .run();
            Ok(server)
        })
        .expect("the receiver starts");
        CallbackReceiver { url, arrived, handle }
    }

    /// Everything received so far, in arrival order.
    pub fn arrived(&self) -> Vec<Arrived> {
        self.arrived.lock().clone()
    }

    /// Waits until `n` requests have arrived, then returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Arrived> {
        eventually(&format!("{n} callbacks"), || self.arrived.lock().len() >= n).await;
        self.arrived()
    }

    /// Waits for at least one more request than `seen`, then until none came for 200 ms;
    /// returns the ones after `seen`.
    pub async fn wait_after(&self, seen: usize) -> Vec<Arrived> {
        self.wait_for(seen + 1).await;
        let mut count = 0;
        while count != self.arrived.lock().len() {
            count = self.arrived.lock().len();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.arrived()[seen..].to_vec()
    }
}

impl Drop for CallbackReceiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// A fake-platform binary run as a process; killed when dropped.
pub struct RunningFake {
    /// From the ready line: the fake's base URL.
    pub url: String,
    child: Child,
}

impl RunningFake {
    /// Runs `binary --listen 127.0.0.1:0 ARGS` and reads its ready line, `NAME http=URL`.
    pub fn spawn(binary: &str, args: &[&str]) -> RunningFake {
        let mut child = Command::new(binary)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout).read_line(&mut line).expect("a ready line");
        let url = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http="))
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .to_owned();
        RunningFake { url, child }
    }

    /// `PUT /_control/rules` with a JSON `{"rules": [...]}` body.
    pub async fn put_rules(&self, rules: serde_json::Value) {
        let answer = reqwest::Client::new()
            .put(format!("{}/_control/rules", self.url))
            .json(&rules)
            .send()
            .await
            .expect("the control route answers");
        assert!(answer.status().is_success(), "{}", answer.status());
    }

    /// `GET /_control/messages`.
    pub async fn received(&self) -> Vec<serde_json::Value> {
        reqwest::get(format!("{}/_control/messages", self.url))
            .await
            .expect("the control route answers")
            .json()
            .await
            .expect("a JSON list")
    }
}

impl Drop for RunningFake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
