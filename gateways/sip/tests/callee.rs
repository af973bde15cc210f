//! Calls the real `otpgate-sip-callee` simulator over UDP. Build it first:
//! `cargo build -p otpgate-sip-callee` (same target dir as these tests).

use otpgate_gateway::{Channel, Coverage, Delivery, ErrorKind, Gateway, GatewayError, OutboundMessage};
use otpgate_sip::{prompt, SipConfig, SipGateway};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Callee {
    child: Child,
    address: String,
    dir: tempfile::TempDir,
}

fn callee_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/callee-xxxx -> target/debug/otpgate-sip-callee
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(format!("otpgate-sip-callee{}", std::env::consts::EXE_SUFFIX)))
        .expect("target dir");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p otpgate-sip-callee` with the same CARGO_TARGET_DIR first",
        binary.display()
    );
    binary
}

impl Callee {
    fn start(args: &[&str]) -> Callee {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(callee_binary())
            .args(["--listen", "127.0.0.1:0", "--record-dir"])
            .arg(dir.path())
            .arg("--report-file")
            .arg(dir.path().join("calls.jsonl"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn otpgate-sip-callee");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("sip-callee sip=")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .to_string();
        Callee { child, address, dir }
    }

    fn report(&self, call_id: &str) -> serde_json::Value {
        let path = self.dir.path().join(format!("{call_id}.json"));
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
    }

    fn outcomes(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Callee {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gateway(callee: &Callee, credentials: Option<(&str, &str)>, ring_timeout: Duration) -> std::sync::Arc<SipGateway> {
    SipGateway::new(SipConfig {
        name: "sim".into(),
        address: callee.address.clone(),
        from: "sip:otp@otpgate.invalid".into(),
        username: credentials.map(|c| c.0.to_string()),
        password: credentials.map(|c| c.1.to_string()),
        ring_timeout,
        coverage: Coverage::new(vec!["US".into()], 0, Default::default()),
    })
}

fn message(code: &str) -> OutboundMessage {
    OutboundMessage {
        request_id: "req-1".into(),
        application: "app".into(),
        to: "+15550100".into(),
        channel: Channel::Call,
        code: code.into(),
        text: format!("Your code is {code}"),
        locale: "en".into(),
    }
}

const RING: Duration = Duration::from_secs(5);

fn assert_permanent(result: Result<otpgate_gateway::Accepted, GatewayError>, reason: &str) {
    let error = result.expect_err("the call should fail");
    assert_eq!(error.reason(), reason, "{error}");
    assert_eq!(error.kind(), ErrorKind::Permanent, "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn answered_call_plays_the_whole_prompt_and_is_delivered() {
    let callee = Callee::start(&["--mode", "answer"]);
    let accepted = gateway(&callee, None, RING).send(&message("123456")).await.unwrap();
    assert_eq!(accepted.parts, 1);
    assert_eq!(accepted.delivery, Some(Delivery::Delivered));

    let report = callee.report(&accepted.carrier_message_id);
    let expected = prompt::frame_count(6);
    assert_eq!(report["codec"], "PCMU");
    assert_eq!(report["packets"], expected as u64, "{report}");
    assert_eq!(report["duration_ms"], (expected * 20) as u64, "{report}");
    assert_eq!(report["first_marker_bit"], true);
    assert_eq!(report["sequence_gaps"], 0);
    assert_eq!(report["ssrc_changes"], 0);
    assert_eq!(report["bye_received"], true);
    assert!(report["to"].as_str().unwrap().contains("sip:15550100@"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_is_a_permanent_failure() {
    let callee = Callee::start(&["--mode", "busy"]);
    assert_permanent(gateway(&callee, None, RING).send(&message("123456")).await, "busy");
}

#[tokio::test(flavor = "multi_thread")]
async fn service_unavailable_is_call_failed_5xx() {
    let callee = Callee::start(&["--mode", "reject:503"]);
    assert_permanent(
        gateway(&callee, None, RING).send(&message("123456")).await,
        "call_failed_5xx",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unanswered_call_is_cancelled_after_the_ring_time() {
    let callee = Callee::start(&["--mode", "ring-forever"]);
    let started = std::time::Instant::now();
    assert_permanent(
        gateway(&callee, None, Duration::from_secs(1))
            .send(&message("123456"))
            .await,
        "no_answer",
    );
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    let outcomes = callee.outcomes();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0]["outcome"], "cancelled");
    assert_eq!(outcomes[0]["status"], 487);
}

async fn challenged_call(algorithm: &str, password: &str) -> Result<(Callee, String), GatewayError> {
    let callee = Callee::start(&[
        "--mode",
        "challenge",
        "--user",
        "otp",
        "--password",
        "s3cret",
        "--digest-algorithm",
        algorithm,
    ]);
    let result = gateway(&callee, Some(("otp", password)), RING)
        .send(&message("4711"))
        .await;
    result.map(|accepted| (callee, accepted.carrier_message_id))
}

#[tokio::test(flavor = "multi_thread")]
async fn md5_challenge_is_answered() {
    let (callee, call_id) = challenged_call("MD5", "s3cret").await.unwrap();
    assert_eq!(callee.report(&call_id)["packets"], prompt::frame_count(4) as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn sha_256_challenge_is_answered() {
    let (callee, call_id) = challenged_call("SHA-256", "s3cret").await.unwrap();
    assert_eq!(callee.report(&call_id)["packets"], prompt::frame_count(4) as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_is_auth_failed() {
    for algorithm in ["MD5", "SHA-256"] {
        assert_permanent(
            challenged_call(algorithm, "wrong")
                .await
                .map(|_| unreachable_accepted()),
            "auth_failed",
        );
    }
}

fn unreachable_accepted() -> otpgate_gateway::Accepted {
    unreachable!("a wrong password must not be accepted")
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_trunk_is_a_transient_timeout() {
    // A bound socket that never answers: INVITE retransmissions go unanswered until Timer B.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let gateway = SipGateway::new(SipConfig {
        name: "silent".into(),
        address: silent.local_addr().unwrap().to_string(),
        from: "sip:otp@otpgate.invalid".into(),
        username: None,
        password: None,
        ring_timeout: Duration::from_secs(1),
        coverage: Coverage::new(vec![], 0, Default::default()),
    });
    let error = gateway.send(&message("1")).await.expect_err("no response");
    assert_eq!(error.reason(), "timeout");
    assert!(error.is_transient());
    // T1 doubling: INVITE at 0, 0.5, 1.5 s within the 3 s Timer B.
    let mut buf = [0u8; 4096];
    silent.set_nonblocking(true).unwrap();
    let mut invites = 0;
    while let Ok(len) = silent.recv(&mut buf) {
        assert!(buf[..len].starts_with(b"INVITE "));
        invites += 1;
    }
    assert_eq!(invites, 3);
}
