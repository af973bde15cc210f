//! Interoperability: the simulator against an SMPP client we did not write, the npm `smpp`
//! package (tests/peers/smpp/client.js). Each test starts its own simulator on loopback port 0,
//! runs client.js once (bind_transceiver, submit_sm with registered_delivery 1, wait for the
//! receipt, unbind) and checks what both sides saw, including the simulator's `GET /messages`.
//!
//! Needs node and tests/peers/smpp/node_modules: `bash tests/run.sh` installs them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const SYSTEM_ID: &str = "otpgate";
const PASSWORD: &str = "secret";
const DESTINATION: &str = "15551234567";

fn peer_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/peers/smpp")).to_path_buf()
}

fn client_js() -> PathBuf {
    let client = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/peers/smpp/client.js"));
    assert!(client.is_file(), "{} is missing", client.display());
    let smpp = peer_dir().join("node_modules/smpp/package.json");
    assert!(
        smpp.is_file(),
        "the npm smpp package is not installed ({} is missing): run `bash tests/run.sh` from the \
         workspace root, which installs it (npm ci --prefix tests/peers/smpp)",
        smpp.display()
    );
    client
}

/// A running simulator; killed on drop. Its stderr (logs) is kept and printed when a test fails.
struct Sim {
    child: Child,
    smpp: SocketAddr,
    control: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Sim {
    fn start() -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_otpgate-smsc-sim"))
            .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
            .args(["--system-id", SYSTEM_ID, "--password", PASSWORD])
            .args(["--receipt-delay-ms", "50"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn otpgate-smsc-sim");
        let stdout = child.stdout.take().expect("simulator stdout");
        let stderr = Arc::new(Mutex::new(String::new()));
        let err_pipe = child.stderr.take().expect("simulator stderr");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines() {
                let Ok(line) = line else { break };
                let mut sink = sink.lock().unwrap();
                sink.push_str(&line);
                sink.push('\n');
            }
        });
        let (tx, rx) = mpsc::channel();
        // Reads every stdout line, so the simulator never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // After the ready line nobody listens: keep draining anyway.
                let _ = tx.send(line);
            }
        });
        let mut sim = Sim {
            child,
            smpp: "0.0.0.0:0".parse().unwrap(),
            control: "0.0.0.0:0".parse().unwrap(),
            stderr,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("no ready line from otpgate-smsc-sim within 30 s: {e}"));
        let (smpp, control) = parse_ready_line(&line);
        sim.smpp = smpp;
        sim.control = control;
        sim
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("otpgate-smsc-sim stderr:\n{}", self.stderr.lock().unwrap());
        }
    }
}

/// `smsc-sim smpp=127.0.0.1:PORT control=http://127.0.0.1:PORT`
fn parse_ready_line(line: &str) -> (SocketAddr, SocketAddr) {
    let mut smpp = None;
    let mut control = None;
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("smsc-sim"), "ready line: {line:?}");
    for word in words {
        if let Some(addr) = word.strip_prefix("smpp=") {
            smpp = addr.parse().ok();
        } else if let Some(url) = word.strip_prefix("control=") {
            control = url.strip_prefix("http://").and_then(|a| a.parse().ok());
        }
    }
    match (smpp, control) {
        (Some(s), Some(c)) => (s, c),
        _ => panic!("unexpected ready line from otpgate-smsc-sim: {line:?}"),
    }
}

/// What client.js printed and how it ended.
struct ClientRun {
    ok: bool,
    events: Vec<Value>,
    stdout: String,
    stderr: String,
}

impl ClientRun {
    fn event(&self, name: &str) -> &Value {
        self.events
            .iter()
            .find(|e| e["event"] == name)
            .unwrap_or_else(|| panic!("client.js printed no {name} event; {}", self.transcript()))
    }

    fn transcript(&self) -> String {
        format!("client.js stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

fn run_client(sim: &Sim, password: &str, text: &str, ucs2: bool) -> ClientRun {
    let client = client_js();
    let mut cmd = Command::new("node");
    cmd.arg(&client)
        .args(["--host", "127.0.0.1", "--port", &sim.smpp.port().to_string()])
        .args(["--system-id", SYSTEM_ID, "--password", password])
        .args(["--to", DESTINATION, "--text", text]);
    if ucs2 {
        cmd.arg("--ucs2");
    }
    // client.js gives up by itself after 10 s.
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): install Node.js and run `bash tests/run.sh`"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let events = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("client.js printed a line that is not JSON ({e}): {l}"))
        })
        .collect();
    ClientRun {
        ok: out.status.success(),
        events,
        stdout,
        stderr,
    }
}

/// `GET path` on the control endpoint over a plain TcpStream (HTTP/1.0: the server closes).
fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read control response");
    let raw = String::from_utf8(raw).expect("control response is UTF-8");
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("malformed HTTP response: {raw:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("malformed status line: {head:?}"));
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body) } else { body.to_string() };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16)
            .unwrap_or_else(|e| panic!("bad chunk size {size:?}: {e}"));
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// The simulator's record of `message_id`, polled for up to 3 s.
fn sim_record(sim: &Sim, message_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (status, body) = http_get(sim.control, "/messages");
        assert_eq!(status, 200, "GET /messages: {body}");
        let all: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET /messages is not JSON ({e}): {body}"));
        let list = all
            .as_array()
            .unwrap_or_else(|| panic!("GET /messages is not a JSON array: {body}"));
        if let Some(found) = list.iter().find(|m| id_str(&m["message_id"]) == message_id) {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "GET /messages has no record with message_id {message_id}: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn id_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// One submit through the npm client: submit_sm_resp, receipt and the simulator's record agree.
fn round_trip(text: &str, ucs2: bool, want_data_coding: u64) {
    client_js(); // fails first, with how to install, when node_modules is missing
    let sim = Sim::start();
    let run = run_client(&sim, PASSWORD, text, ucs2);
    assert!(run.ok, "client.js failed; {}", run.transcript());

    let sent = run.event("submit_sm");
    assert_eq!(sent["data_coding"], want_data_coding, "{}", run.transcript());

    let resp = run.event("submit_sm_resp");
    assert_eq!(resp["command_status"], 0, "{}", run.transcript());
    let message_id = resp["message_id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| panic!("submit_sm_resp without message_id; {}", run.transcript()))
        .to_string();

    let receipt = run.event("receipt");
    assert_eq!(
        receipt["receipted_message_id"],
        message_id.as_str(),
        "receipted_message_id TLV differs from submit_sm_resp's message_id; {}",
        run.transcript()
    );
    assert_eq!(receipt["message_state"], 2, "{}", run.transcript());
    let receipt_text = receipt["short_message"].as_str().unwrap_or_default();
    assert!(
        receipt_text.starts_with(&format!("id:{message_id} ")) && receipt_text.contains(" stat:DELIVRD "),
        "receipt text {receipt_text:?}; {}",
        run.transcript()
    );
    run.event("unbind_resp");

    let record = sim_record(&sim, &message_id);
    assert_eq!(record["destination_addr"], DESTINATION, "record: {record}");
    assert_eq!(record["data_coding"], want_data_coding, "record: {record}");
    assert_eq!(
        record["esm_class"].as_u64().map(|e| e & 0x40),
        Some(0),
        "record: {record}"
    );
    assert!(record["udh"].is_null(), "record: {record}");
    assert_eq!(record["text"], text, "record: {record}");
}

#[test]
fn npm_client_gsm_text() {
    // npm smpp picks the encoding itself: GSM 03.38, sent with data_coding 1. The text keeps to
    // characters on which GSM 03.38 and ASCII agree.
    round_trip("Your otpgate code: 482913. Valid 5 min", false, 1);
}

#[test]
fn npm_client_ucs2_text() {
    round_trip("رمز التحقق الخاص بك: 482913", true, 8);
}

#[test]
fn npm_client_wrong_password_is_refused() {
    client_js();
    let sim = Sim::start();
    let run = run_client(&sim, "not-the-password", "x", false);
    assert!(!run.ok, "client.js bound with a wrong password; {}", run.transcript());
    let status = run.event("bind_resp")["command_status"].as_u64();
    assert!(
        matches!(status, Some(s) if s != 0),
        "bind_resp should carry an error status; {}",
        run.transcript()
    );
}
