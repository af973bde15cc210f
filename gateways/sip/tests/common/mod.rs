//! Shared by the gateway's tests: the real `otpgate-sip-callee` binary (built next to the test
//! binary: `cargo build -p otpgate-sip-callee`), and a gateway pointed at it.
#![allow(dead_code, reason = "each test file uses its own part")]

use otpgate_gateway::{
    report_channel, Channel, Coverage, DeliveryReport, ErrorKind, Gateway, GatewayError, OutboundMessage,
    ReportReceiver,
};
use otpgate_sip::prompt::{self, Language};
use otpgate_sip::{SipConfig, SipGateway};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Callee {
    pub child: Child,
    pub address: String,
    pub dir: tempfile::TempDir,
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
    pub fn start(args: &[&str]) -> Callee {
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

    pub fn report(&self, call_id: &str) -> serde_json::Value {
        let path = self.dir.path().join(format!("{call_id}.json"));
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
    }

    /// The received audio, decoded to 16-bit PCM by the callee.
    pub fn samples(&self, call_id: &str) -> Vec<i16> {
        let path = self.dir.path().join(format!("{call_id}.wav"));
        let wav = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(&wav[..4], b"RIFF");
        wav[44..].chunks(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
    }

    pub fn outcomes(&self) -> Vec<serde_json::Value> {
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

/// A gateway calling `callee`, and the receiving end of its outcome reports.
pub struct Trunk {
    pub gateway: std::sync::Arc<SipGateway>,
    pub reports: ReportReceiver,
}

impl Trunk {
    pub async fn send(&self, message: &OutboundMessage) -> Result<otpgate_gateway::Accepted, GatewayError> {
        self.gateway.send(message).await
    }

    /// The outcome report of the call that was just accepted: the prompt takes ~10-20 s.
    pub async fn outcome(&mut self) -> DeliveryReport {
        tokio::time::timeout(Duration::from_secs(40), self.reports.recv())
            .await
            .expect("a report within 40 s")
            .expect("the gateway keeps the sender")
    }
}

/// A UDP trunk at `address`, no credentials, ring time [`RING`].
pub fn config(address: &str) -> SipConfig {
    SipConfig {
        name: "sim".into(),
        address: address.to_owned(),
        transport: Default::default(),
        tls: None,
        outbound_proxy: None,
        public_address: None,
        from: "sip:otp@otpgate.invalid".into(),
        username: None,
        password: None,
        ring_timeout: RING,
        coverage: Coverage::new(vec!["US".into()], 0, Default::default()),
    }
}

pub fn trunk(config: SipConfig) -> Trunk {
    let (tx, reports) = report_channel();
    Trunk {
        gateway: SipGateway::new(config, tx),
        reports,
    }
}

pub fn gateway(callee: &Callee, credentials: Option<(&str, &str)>, ring_timeout: Duration) -> Trunk {
    trunk(SipConfig {
        username: credentials.map(|c| c.0.to_string()),
        password: credentials.map(|c| c.1.to_string()),
        ring_timeout,
        ..config(&callee.address)
    })
}

pub fn message(code: &str) -> OutboundMessage {
    message_in(code, "en")
}

pub fn message_in(code: &str, locale: &str) -> OutboundMessage {
    OutboundMessage {
        request_id: "req-1".into(),
        application: "app".into(),
        to: "+15550100".into(),
        channel: Channel::Call,
        code: code.into(),
        text: format!("Your code is {code}"),
        locale: locale.into(),
    }
}

pub const RING: Duration = Duration::from_secs(5);

pub fn assert_permanent(result: Result<otpgate_gateway::Accepted, GatewayError>, reason: &str) {
    let error = result.expect_err("the call should fail");
    assert_eq!(error.reason(), reason, "{error}");
    assert_eq!(error.kind(), ErrorKind::Permanent, "{error}");
}

/// What the callee heard equals the prompt we mean to play, sample for sample.
pub fn assert_heard_prompt(callee: &Callee, call_id: &str, code: &str, language: Language) {
    let expected: Vec<i16> = prompt::frames(code, language)
        .concat()
        .into_iter()
        .map(prompt::ulaw_to_linear)
        .collect();
    let heard = callee.samples(call_id);
    assert_eq!(heard.len(), expected.len(), "{} samples", language.code());
    assert!(heard == expected, "the {} prompt arrived altered", language.code());
}
