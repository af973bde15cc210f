//! The `otpgate-fake-rcs` binary: ready line, token check, TOML rules, signed events, control
//! routes.
use otpgate_gateway::{report_channel, Channel, Coverage, ErrorKind, Gateway, OutboundMessage};
use otpgate_rcs::fake::Received;
use otpgate_rcs::{RcsConfig, RcsGateway, SIGNATURE_HEADER};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Fake(Child);

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn message(to: &str) -> OutboundMessage {
    OutboundMessage {
        request_id: "req-1".into(),
        application: "app".into(),
        to: to.into(),
        channel: Channel::Rcs,
        code: "1234".into(),
        text: "Your code is 1234".into(),
        locale: "en".into(),
    }
}

/// Reads one HTTP request (headers and a `Content-Length` body) from a blocking listener and
/// answers 200; returns the signature header and the body.
fn accept_one(listener: &TcpListener) -> (Option<String>, Vec<u8>) {
    let (stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(stream);
    let (mut signature, mut length) = (None, 0);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case(SIGNATURE_HEADER) {
                signature = Some(value.trim().to_owned());
            } else if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let mut stream = reader.into_inner();
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .unwrap();
    (signature, body)
}

#[tokio::test]
async fn the_binary_serves_the_api_signed_events_and_its_control_routes() {
    let dir = std::env::temp_dir().join(format!("fake-rcs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rules]]\nprefix = \"44\"\naction = \"not_capable\"\n\n[[rules]]\nprefix = \"33\"\naction = \"fail\"\n",
    )
    .unwrap();
    let webhook = TcpListener::bind("127.0.0.1:0").unwrap();
    let callback_url = format!("http://{}/callbacks/rcs", webhook.local_addr().unwrap());
    let mut child = Command::new(env!("CARGO_BIN_EXE_otpgate-fake-rcs"))
        .args(["--listen", "127.0.0.1:0", "--token", "T", "--webhook-token", "W"])
        .args(["--callback-url", &callback_url])
        .arg("--rules")
        .arg(&rules)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _fake = Fake(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base_url = line.trim().strip_prefix("fake-rcs http=").unwrap().to_owned();

    let (tx, mut reports) = report_channel();
    let gateway = RcsGateway::new(
        RcsConfig {
            name: "rbm".into(),
            base_url: base_url.clone(),
            agent_id: "agent-1".into(),
            token: "T".into(),
            webhook_token: "W".into(),
            coverage: Coverage::default(),
            timeout: Duration::from_secs(2),
        },
        tx,
    );
    let refused = gateway.send(&message("+447700900123")).await.unwrap_err();
    assert_eq!(
        (refused.kind(), refused.reason()),
        (ErrorKind::Permanent, "not_rcs_capable")
    );

    // A `fail` rule: one signed FAILED event, which the gateway accepts.
    let accepted = gateway.send(&message("+33612345678")).await.unwrap();
    let (signature, body) = tokio::task::spawn_blocking(move || accept_one(&webhook)).await.unwrap();
    assert_eq!(gateway.handle_callback(signature.as_deref(), &body), Ok(1));
    let report = reports.try_recv().unwrap();
    assert_eq!(report.carrier_message_id, accepted.carrier_message_id);
    assert_eq!(report.status, "FAILED");

    // Rules replaced over HTTP.
    let http = reqwest::Client::new();
    let put = http
        .put(format!("{base_url}/_control/rules"))
        .json(&serde_json::json!({"rules": [{"prefix": "", "action": "throttle", "retry_after": 2}]}))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let throttled = gateway.send(&message("+14155550100")).await.unwrap_err();
    assert_eq!(throttled.retry_after(), Some(Duration::from_secs(2)));

    let received: Vec<Received> = http
        .get(format!("{base_url}/_control/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        received,
        vec![Received {
            phone: "+33612345678".into(),
            message_id: accepted.carrier_message_id,
            agent_id: "agent-1".into(),
            text: "Your code is 1234".into(),
        }]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
