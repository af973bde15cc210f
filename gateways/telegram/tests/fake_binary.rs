//! The `otpgate-fake-telegram` binary: ready line, token check, TOML rules, control routes.
use otpgate_gateway::{report_channel, Channel, Coverage, ErrorKind, Gateway, OutboundMessage};
use otpgate_telegram::fake::Received;
use otpgate_telegram::{TelegramConfig, TelegramGateway};
use std::io::{BufRead, BufReader};
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
        channel: Channel::Telegram,
        code: "1234".into(),
        text: "Your code is 1234".into(),
        locale: "en".into(),
    }
}

#[tokio::test]
async fn the_binary_serves_the_api_and_its_control_routes() {
    let dir = std::env::temp_dir().join(format!("fake-telegram-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, "[[rules]]\nprefix = \"44\"\naction = \"refuse\"\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_otpgate-fake-telegram"))
        .args(["--listen", "127.0.0.1:0", "--token", "T"])
        .arg("--rules")
        .arg(&rules)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _fake = Fake(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base_url = line.trim().strip_prefix("fake-telegram http=").unwrap().to_owned();

    let (tx, _rx) = report_channel();
    let gateway = TelegramGateway::new(
        TelegramConfig {
            name: "tg".into(),
            base_url: base_url.clone(),
            token: "T".into(),
            callback_url: None,
            ttl_seconds: 60,
            coverage: Coverage::default(),
            timeout: Duration::from_secs(2),
        },
        tx,
    );
    gateway.send(&message("+14155550100")).await.unwrap();
    let refused = gateway.send(&message("+447700900123")).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Permanent);

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
        (received[0].phone_number.as_str(), received[0].code.as_str()),
        ("+14155550100", "1234")
    );
    assert_eq!(received[0].ttl, Some(60));
    let _ = std::fs::remove_dir_all(&dir);
}
