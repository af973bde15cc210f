//! The `otpgate-fake-whatsapp` binary: flags, the TOML rules file, the ready line, and signed
//! webhooks that the gateway accepts.
mod common;

use common::{config, message, WebhookReceiver, APP_SECRET, TOKEN};
use otpgate_gateway::{report_channel, Delivery, ErrorKind, Gateway};
use otpgate_whatsapp::WhatsAppGateway;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Kills the fake when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_serves_toml_rules_and_signs_its_webhooks() {
    let receiver = WebhookReceiver::start().await;
    let rules = std::env::temp_dir().join(format!("fake-whatsapp-rules-{}.toml", std::process::id()));
    std::fs::write(
        &rules,
        "[[rules]]\nprefix = \"52\"\naction = \"refuse\"\ncode = 131026\n\n\
         [[rules]]\nprefix = \"55\"\naction = \"accept\"\nstatuses = [\"delivered\", \"read\"]\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_otpgate-fake-whatsapp"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--access-token",
            TOKEN,
            "--app-secret",
            APP_SECRET,
        ])
        .args(["--webhook-url", &receiver.url, "--rules"])
        .arg(&rules)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let mut ready = String::new();
    BufReader::new(stdout).read_line(&mut ready).unwrap();
    let _ = std::fs::remove_file(&rules);
    let url = ready
        .trim()
        .strip_prefix("fake-whatsapp http=")
        .unwrap_or_else(|| panic!("unexpected ready line {ready:?}"))
        .to_owned();

    let (tx, mut rx) = report_channel();
    let gateway = WhatsAppGateway::new(config(&url), tx);
    let refused = gateway.send(&message("+5215550000001", "123456")).await.unwrap_err();
    assert_eq!(
        (refused.kind(), refused.reason()),
        (ErrorKind::Permanent, "not_whatsapp_user")
    );

    gateway.send(&message("+5511999990007", "654321")).await.unwrap();
    let applied: usize = receiver
        .wait_for(2)
        .await
        .iter()
        .map(|w| gateway.handle_webhook(w.signature.as_deref(), &w.body).unwrap())
        .sum();
    assert_eq!(applied, 1);
    assert_eq!(rx.try_recv().unwrap().delivery, Delivery::Delivered);
    assert!(rx.try_recv().is_err());
}
