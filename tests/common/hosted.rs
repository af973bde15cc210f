//! Path A test helpers: the independent webhook receiver (tests/peers/webhooks/receiver.js), a
//! browser-less visitor of the hosted page (keeps its cookie, posts its forms), and API calls.
use super::Server;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Node receiver, killed on drop. Its log survives restarts on the same path.
pub struct Receiver {
    child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
    pub secret_file: PathBuf,
}

/// A port free right now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Receiver {
    /// Starts the receiver on `port` (0: any), answering `answer` to verified deliveries.
    pub fn start(dir: &Path, port: u16, answer: u16) -> Receiver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/webhooks/receiver.js");
        let (log, secret_file) = (dir.join("webhooks.jsonl"), dir.join("webhook-secret.txt"));
        let mut child = Command::new("node")
            .arg(&script)
            .args(["--port", &port.to_string(), "--answer", &answer.to_string()])
            .arg("--log")
            .arg(&log)
            .arg("--secret-file")
            .arg(&secret_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node tests/peers/webhooks/receiver.js");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("receiver: {line}"));
        Receiver {
            child: Some(child),
            port: ready["port"].as_u64().unwrap() as u16,
            log,
            secret_file,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/webhooks/otpgate", self.port)
    }

    pub fn set_secret(&self, secret: &str) {
        std::fs::write(&self.secret_file, secret).unwrap();
    }

    /// Every delivery received so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits until `n` deliveries arrived; returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let until = Instant::now() + timeout;
        loop {
            let got = self.deliveries();
            if got.len() >= n || Instant::now() > until {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A visitor of the hosted page without a browser: keeps the CSRF cookie, reads the form token.
pub struct Visitor {
    agent: ureq::Agent,
    pub url: String,
    pub cookie: Option<String>,
}

pub struct Page {
    pub status: u16,
    pub html: String,
    pub location: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Page {
    /// The form token in the page.
    pub fn csrf(&self) -> String {
        let start = self.html.find(r#"name="csrf" value=""#).expect("no csrf field") + 19;
        self.html[start..start + 64].to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Visitor {
    pub fn new(url: &str) -> Visitor {
        Visitor {
            agent: ureq::AgentBuilder::new()
                .redirects(0)
                .timeout(Duration::from_secs(30))
                .build(),
            url: url.to_owned(),
            cookie: None,
        }
    }

    fn read(&mut self, result: Result<ureq::Response, ureq::Error>) -> Page {
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("hosted page: {e}"),
        };
        if let Some(set) = response.header("set-cookie") {
            self.cookie = Some(set.split(';').next().unwrap().to_owned());
        }
        let headers = response
            .headers_names()
            .into_iter()
            .map(|n| (n.clone(), response.header(&n).unwrap_or("").to_owned()))
            .collect();
        Page {
            status: response.status(),
            location: response.header("location").map(str::to_owned),
            headers,
            html: response.into_string().unwrap(),
        }
    }

    pub fn get(&mut self, path: &str) -> Page {
        let mut req = self
            .agent
            .get(&format!("{}{path}", self.url))
            .set("accept-language", "en");
        if let Some(cookie) = &self.cookie {
            req = req.set("cookie", cookie);
        }
        let result = req.call();
        self.read(result)
    }

    pub fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut req = self
            .agent
            .post(&format!("{}{path}", self.url))
            .set("accept-language", "en");
        if let Some(cookie) = &self.cookie {
            req = req.set("cookie", cookie);
        }
        let result = req.send_form(fields);
        self.read(result)
    }
}

/// Creates a workflow with the PHONE `config`; returns its id.
pub fn workflow(server: &Server, config: Value) -> String {
    let (status, body) = server.post(
        "/v3/workflows/",
        &json!({ "workflow_label": "phone", "features": [{ "feature": "PHONE", "config": config }] }),
    );
    assert_eq!(status, 201, "{body}");
    body["workflow_id"].as_str().unwrap().to_owned()
}

/// Creates a session; returns (session_id, its page on this server). `session_url` is built on
/// `server.public_url` (the default, port 8080); tests listen on a free port, so the page is
/// reached at the same path on the server's own address.
pub fn session(server: &Server, body: Value) -> (String, String) {
    let (status, answer) = server.post("/v3/session/", &body);
    assert_eq!(status, 201, "{answer}");
    let url = answer["session_url"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:8080/session/"), "{url}");
    let path = &url[url.find("/session/").unwrap()..];
    (
        answer["session_id"].as_str().unwrap().to_owned(),
        format!("{}{path}", server.base),
    )
}

/// Registers the receiver as a destination and gives it the secret.
pub fn destination(server: &Server, receiver: &Receiver) -> String {
    let (status, body) = server.post("/v3/webhook/destinations/", &json!({ "url": receiver.url() }));
    assert_eq!(status, 201, "{body}");
    let secret = body["secret_shared_key"].as_str().unwrap().to_owned();
    receiver.set_secret(&secret);
    secret
}

pub fn decision(server: &Server, session_id: &str) -> Value {
    let (status, body) = server.request(
        "GET",
        &format!("/v3/session/{session_id}/decision/"),
        Some(&server.key),
        None,
    );
    assert_eq!(status, 200, "{body}");
    body
}

/// Opens the page, sends a code to `phone` (national digits of `country`), reads it from the
/// sandbox inbox and enters it; returns the visitor.
pub fn verify_on_page(server: &Server, url: &str, country: &str, national: &str, e164: &str) -> Visitor {
    let mut visitor = Visitor::new(url);
    let page = visitor.get("");
    assert_eq!(page.status, 200, "{}", page.html);
    let sent = visitor.post(
        "send",
        &[("csrf", &page.csrf()), ("country", country), ("national", national)],
    );
    assert_eq!(sent.status, 303, "{}", sent.html);
    let page = visitor.get("");
    let code = server.latest_code(e164);
    let checked = visitor.post("check", &[("csrf", &page.csrf()), ("code", &code)]);
    assert_eq!(checked.status, 303, "{}", checked.html);
    visitor
}
