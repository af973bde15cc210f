//! A load of sends for the store-outage tests (`tests/store_faults*.rs`): a few clients send to
//! fresh sandbox numbers one after another and record every answer (status, body,
//! `Retry-After`, time taken), so a test can inject a fault mid-load and judge every answer.
#![allow(dead_code)] // not every test binary that includes this module uses all of it
use crate::common::smsc::eventually;
use crate::common::Server;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Area codes in service, so every `+1 NXX 555 01XX` number built on them is valid (and, as
/// a fictional NANP number, goes to the sandbox inbox).
const AREAS: &[u16] = &[
    201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225, 228, 229, 231, 234,
    239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276, 281, 301, 302, 303, 304, 305, 307, 308, 309,
    310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 323, 330, 334, 336, 337, 339, 347, 351, 352, 360, 361, 386,
    401, 402, 404, 405, 406, 407, 408, 409, 410, 412, 413, 414, 415, 417, 419, 423, 425,
];

/// One answer to one send.
#[derive(Debug, Clone)]
pub struct Answer {
    pub phone: String,
    /// HTTP status; 0 when the request got no answer at all (connection failed or timed out).
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
    pub took: Duration,
}

/// Sends in flight from `clients` threads until [`Load::stop`].
pub struct Load {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    threads: Vec<JoinHandle<()>>,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The sandbox's canonical high-risk number (always Blocked): not one the load sends to.
const HIGH_RISK: &str = "+12025550199";

/// A sandbox number no other send of this test process used.
pub fn fresh_number() -> String {
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let number = format!("+1{}55501{:02}", AREAS[(n / 100) % AREAS.len()], n % 100);
        if number != HIGH_RISK {
            return number;
        }
    }
}

/// One send of `phone`, timed; a client timeout of 10 s (the bound under test is far below).
pub fn send(base: &str, key: &str, phone: &str) -> Answer {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
    let started = Instant::now();
    let result = agent
        .post(&format!("{base}/v3/phone/send/"))
        .set("x-api-key", key)
        .set("content-type", "application/json")
        .send_string(&json!({ "phone_number": phone }).to_string());
    let response = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => Some(r),
        Err(_) => None,
    };
    let took = started.elapsed();
    let (status, retry_after, body) = match response {
        Some(r) => (
            r.status(),
            r.header("retry-after").map(str::to_owned),
            r.into_string().ok().and_then(|t| serde_json::from_str(&t).ok()),
        ),
        None => (0, None, None),
    };
    Answer {
        phone: phone.to_owned(),
        status,
        body: body.unwrap_or(Value::Null),
        retry_after,
        took,
    }
}

impl Load {
    /// Starts `clients` threads, each sending to fresh numbers with `pause` between sends.
    pub fn start(base: &str, key: &str, clients: usize, pause: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..clients)
            .map(|_| {
                let (stop, answers) = (stop.clone(), answers.clone());
                let (base, key) = (base.to_owned(), key.to_owned());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let answer = send(&base, &key, &fresh_number());
                        answers.lock().unwrap().push(answer);
                        std::thread::sleep(pause);
                    }
                })
            })
            .collect();
        Load { stop, answers, threads }
    }

    /// Answers so far with this status.
    pub fn count(&self, status: u16) -> usize {
        self.count_where(|a| a.status == status)
    }

    /// Answers so far that `matches`.
    pub fn count_where(&self, matches: impl Fn(&Answer) -> bool) -> usize {
        self.answers.lock().unwrap().iter().filter(|a| matches(a)).count()
    }

    /// Stops the clients (each finishes its send in flight) and returns every answer.
    pub fn stop(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        Arc::try_unwrap(self.answers).unwrap().into_inner().unwrap()
    }
}

/// Every answer is a 2xx `Success` or a fast 503 in the API's error shape with `Retry-After`
/// and one of `codes`; returns the numbers acknowledged (2xx) and the number of 503s.
pub fn judge(answers: &[Answer], codes: &[&str], bound: Duration) -> (Vec<String>, usize) {
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for a in answers {
        match a.status {
            200 => {
                assert_eq!(a.body["status"], "Success", "{}: {}", a.phone, a.body);
                acknowledged.push(a.phone.clone());
            }
            503 => {
                refused += 1;
                let code = a.body["code"].as_str().unwrap_or_default();
                assert!(
                    codes.contains(&code),
                    "503 with code {code:?}, not one of {codes:?}: {}",
                    a.body
                );
                assert!(a.body["detail"].is_string(), "503 without a detail: {}", a.body);
                assert_eq!(a.retry_after.as_deref(), Some("2"), "503 without Retry-After: {a:?}");
                assert!(a.took < bound, "a 503 took {:?} (bound {bound:?}): {a:?}", a.took);
            }
            _ => panic!("neither 200 nor 503: {a:?}"),
        }
    }
    (acknowledged, refused)
}

/// `/readyz`'s status.
pub fn readyz(base: &str) -> u16 {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
    match agent.get(&format!("{base}/readyz")).call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r.status(),
        Err(e) => panic!("/readyz: {e}"),
    }
}

/// How often `needle` appears in `text`.
pub fn occurrences(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// After the fault: `/readyz` says ready again, then sends succeed again (one after another,
/// each answered 200), and the load keeps being acknowledged.
pub fn recovers(server: &Server, load: &Load) {
    assert!(
        eventually(Duration::from_secs(10), || readyz(&server.base) == 200),
        "/readyz did not recover: {}",
        server.stderr()
    );
    for _ in 0..20 {
        let answer = send(&server.base, &server.key, &fresh_number());
        assert_eq!(answer.status, 200, "a send after recovery: {answer:?}");
    }
    let acknowledged = load.count(200);
    assert!(
        eventually(Duration::from_secs(10), || load.count(200) >= acknowledged + 30),
        "the load is not acknowledged again"
    );
}

/// The outage was logged once per direction that failed (reads, writes) when it began and once
/// when it ended, not once per request, and nothing else was logged as an error. The end is
/// declared on a success a while after the last failure (`store::health::QUIET`): `/readyz`
/// (a read, and a write while writes fail) brings it. Returns how many directions failed.
pub fn outage_logged(server: &Server) -> usize {
    let failing = |log: &str| occurrences(log, "store failing");
    let ended = eventually(Duration::from_secs(10), || {
        readyz(&server.base);
        let log = server.stderr();
        occurrences(&log, "store recovered") >= failing(&log)
    });
    let log = server.stderr();
    assert!(ended, "the end of the outage was not logged:\n{log}");
    for op in ["read", "write"] {
        let lines = |what: &str| {
            log.lines()
                .filter(|l| l.contains(what) && l.contains(&format!("op=\"{op}\"")))
                .count()
        };
        assert!(lines("store failing") <= 1, "{op}s: one outage, one log line:\n{log}");
        assert_eq!(lines("store failing"), lines("store recovered"), "{op}s:\n{log}");
    }
    let errors = log.lines().filter(|l| l.contains(" ERROR ")).count();
    assert!(failing(&log) >= 1, "the outage was not logged:\n{log}");
    assert_eq!(errors, failing(&log), "errors logged beside the outage's lines:\n{log}");
    failing(&log)
}
