//! The `otpgate-fake-viber` binary: ready line, token check, TOML rules, signed callbacks to
//! `--callback-url`, control routes.
use otpgate_gateway::{report_channel, Channel, Coverage, ErrorKind, Gateway, OutboundMessage};
use otpgate_viber::fake::Received;
use otpgate_viber::{signature, ViberConfig, ViberGateway, SIGNATURE_HEADER};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
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
        channel: Channel::Viber,
        code: "1234".into(),
        text: "Your code is 1234".into(),
        locale: "en".into(),
    }
}

/// One callback as it arrived: the signature header (if any) and the raw body.
type Arrived = (Option<String>, Vec<u8>);

/// A bare HTTP/1.1 listener that sends each request's signature header and body down a channel.
fn callback_receiver() -> (String, mpsc::Receiver<Arrived>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/callbacks/viber", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut signature, mut length) = (None, 0);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case(SIGNATURE_HEADER) {
                        signature = Some(value.trim().to_owned());
                    } else if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if tx.send((signature, body)).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

#[tokio::test]
async fn the_binary_serves_the_api_and_its_control_routes() {
    let dir = std::env::temp_dir().join(format!("fake-viber-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, "[[rules]]\nprefix = \"44\"\naction = \"refuse\"\nstatus = 5\n").unwrap();
    let (callback_url, callbacks) = callback_receiver();
    let mut child = Command::new(env!("CARGO_BIN_EXE_otpgate-fake-viber"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--token",
            "T",
            "--callback-url",
            &callback_url,
        ])
        .arg("--rules")
        .arg(&rules)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _fake = Fake(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base_url = line.trim().strip_prefix("fake-viber http=").unwrap().to_owned();

    let (tx, mut reports) = report_channel();
    let gateway = ViberGateway::new(
        ViberConfig {
            name: "vb".into(),
            base_url: base_url.clone(),
            token: "T".into(),
            coverage: Coverage::default(),
            timeout: Duration::from_secs(2),
        },
        tx,
    );
    let accepted = gateway.send(&message("+14155550100")).await.unwrap();
    let refused = gateway.send(&message("+447700900123")).await.unwrap_err();
    assert_eq!(
        (refused.kind(), refused.reason()),
        (ErrorKind::Permanent, "not_viber_user")
    );

    // `delivered` then `seen`, signed with the token; applied, they make one report.
    let mut applied = 0;
    for expected in ["delivered", "seen"] {
        let (sig, body) = callbacks.recv_timeout(Duration::from_secs(5)).unwrap();
        let sig = sig.expect("callbacks are signed");
        assert!(signature::verify("T", &body, &sig));
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(event["event"], expected);
        assert_eq!(event["message_token"].to_string(), accepted.carrier_message_id);
        applied += gateway.handle_callback(Some(&sig), &body).unwrap();
    }
    assert_eq!(applied, 1);
    assert_eq!(
        reports.try_recv().unwrap().carrier_message_id,
        accepted.carrier_message_id
    );
    assert!(reports.try_recv().is_err());

    // Rules replaced over HTTP.
    let http = reqwest::Client::new();
    let put = http
        .put(format!("{base_url}/_control/rules"))
        .json(&serde_json::json!({"rules": [{"prefix": "", "action": "throttle"}]}))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let throttled = gateway.send(&message("+447700900123")).await.unwrap_err();
    assert_eq!(throttled.kind(), ErrorKind::Throttled);

    let received: Vec<Received> = http
        .get(format!("{base_url}/_control/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(
        (
            received[0].receiver.as_str(),
            received[0].code.as_str(),
            received[0].tracking_data.as_str()
        ),
        ("14155550100", "1234", "req-1")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
