//! No secret and no phone number in the logs (issue 18): a full run at `RUST_LOG=trace` — SMS
//! over SMPP with its delivery receipts, WhatsApp with its signed status callback, a hosted
//! session with its signed `status.updated` webhook, wrong and right codes — then every line
//! the engine wrote is searched for the numbers, the codes, the API key, the webhook secret and
//! the carriers' credentials. Codes are 10 digits here so that no id or timestamp matches one
//! by chance.
mod common;

use common::hosted::{destination, session, verify_on_page, workflow, Receiver};
use common::platforms::{free_port, Fake};
use common::smsc::{code_in, eventually, metric, smpp_carrier, Smsc};
use common::{wrong, Server};
use serde_json::json;
use std::time::Duration;

const API_KEY: &str = "otpg_logscan5e6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b";
const WA_TOKEN: &str = "wa-token-logscan-7f3e9a";
const WA_SECRET: &str = "wa-secret-logscan-2c8d4b";
// SMPP passwords are at most 8 characters.
const SMPP_PASSWORD: &str = "Zq7xW3kp";
const SMS_NUMBER: &str = "+14155552671";
const WA_NUMBER: &str = "+5511987654321";
const PAGE_NUMBER: &str = "+12025550123";

#[test]
fn a_full_run_at_trace_level_logs_no_number_code_key_or_secret() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smsc = Smsc::start(dir.path(), &["--password", SMPP_PASSWORD]);
    let rules = dir.path().join("wa-rules.toml");
    std::fs::write(
        &rules,
        "[[rules]]\nprefix = \"55\"\naction = \"deliver\"\nevents = [\"delivered\", \"read\"]\n",
    )
    .unwrap();
    let callback = format!("http://127.0.0.1:{port}/v3/channels/wa/webhook/");
    let fake = Fake::start(
        "otpgate-fake-whatsapp",
        &[
            "--token",
            WA_TOKEN,
            "--secret",
            WA_SECRET,
            "--callback-url",
            &callback,
            "--rules",
            rules.to_str().unwrap(),
        ],
    );
    let receiver = Receiver::start(dir.path(), 0, 200);
    let config = dir.path().join("otpgate.toml");
    let smpp =
        smpp_carrier(&smsc.smpp, "").replace("password = \"secret\"", &format!("password = \"{SMPP_PASSWORD}\""));
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\nurl = \"sqlite://{}/data/otpgate.db\"\n\
             [[applications]]\nname = \"acme\"\napi_key = \"{API_KEY}\"\n\
             [verification]\ncode_length = 10\n[sandbox]\nenabled = true\n\
             [webhooks]\nretry_initial_ms = 50\n\
             {smpp}\
             [[carriers]]\nname = \"wa\"\nprotocol = \"whatsapp\"\nbase_url = \"{}\"\nphone_number_id = \"1234\"\n\
             access_token = \"{WA_TOKEN}\"\napp_secret = \"{WA_SECRET}\"\ntemplate = \"otp_code\"\nlanguage = \"en_US\"\n\
             countries = [\"BR\"]\n",
            dir.path().display(),
            fake.url,
        ),
    )
    .unwrap();
    let server = Server::start_logging(
        dir.path(),
        &["serve", "--config", config.to_str().unwrap()],
        Some(API_KEY),
        "trace",
    );
    let mut codes = Vec::new();

    // SMS over SMPP: a wrong code, then the right one; the receipt comes back.
    assert_eq!(server.send(SMS_NUMBER)["channel"], "sms");
    let sms = smsc.messages_to(&SMS_NUMBER[1..]);
    let code = code_in(sms[0]["text"].as_str().unwrap());
    assert_eq!(code.len(), 10, "{sms:?}");
    assert_eq!(server.check(SMS_NUMBER, &wrong(&code))["status"], "Failed");
    assert_eq!(server.check(SMS_NUMBER, &code)["status"], "Approved");
    codes.push(code);

    // WhatsApp with its signed status callbacks.
    assert_eq!(server.send(WA_NUMBER)["channel"], "whatsapp");
    let code = fake.messages()[0]["body_code"].as_str().unwrap().to_owned();
    assert!(
        eventually(Duration::from_secs(5), || metric(
            &server.metrics(),
            "otpgate_messages_delivered_total",
            &[("carrier", "wa")]
        ) >= 1.0),
        "the WhatsApp callback was not applied"
    );
    assert_eq!(server.check(WA_NUMBER, &code)["status"], "Approved");
    codes.push(code);

    // A hosted session on a sandbox number, with its signed webhooks.
    let secret = destination(&server, &receiver);
    let workflow_id = workflow(&server, json!({}));
    let (session_id, url) = session(&server, json!({ "workflow_id": workflow_id, "vendor_data": "user-1" }));
    verify_on_page(&server, &url, "US", "2025550123", PAGE_NUMBER);
    // The token in session_url is the page's only credential.
    let token = url.rsplit("/session/").next().unwrap().trim_end_matches('/').to_owned();
    assert!(token.len() >= 32, "{url}");
    codes.push(server.latest_code(PAGE_NUMBER));
    let deliveries = receiver.wait_for(2, Duration::from_secs(10));
    assert!(deliveries.len() >= 2, "{deliveries:?}");
    // Let the receipts and the last deliveries be logged.
    std::thread::sleep(Duration::from_millis(500));

    let logs = server.stderr();
    let lines = logs.lines().count();
    assert!(
        logs.contains("TRACE") && lines > 200,
        "the run must really log at trace level ({lines} lines)"
    );
    // Control: the scan reads the stream the engine logs its events to (session ids are logged).
    assert!(
        logs.lines().any(|line| line.contains(&session_id)),
        "the session's id should be in the logs; is this the engine's log?"
    );
    let mut secrets: Vec<(&str, String)> = vec![
        ("API key", API_KEY.to_owned()),
        ("webhook secret", secret),
        ("session token", token),
        ("WhatsApp access token", WA_TOKEN.to_owned()),
        ("WhatsApp app secret", WA_SECRET.to_owned()),
        ("SMPP password", SMPP_PASSWORD.to_owned()),
    ];
    for number in [SMS_NUMBER, WA_NUMBER, PAGE_NUMBER] {
        // E.164 with or without +, and the subscriber part alone.
        secrets.push(("phone number", number[1..].to_owned()));
    }
    secrets.push(("subscriber number", "4155552671".into()));
    secrets.push(("subscriber number", "11987654321".into()));
    secrets.push(("subscriber number", "2025550123".into()));
    for code in codes {
        secrets.push(("code", code));
    }
    let found: Vec<String> = secrets
        .iter()
        .flat_map(|(what, secret)| {
            logs.lines()
                .filter(move |line| line.contains(secret.as_str()))
                .map(move |line| format!("{what} {secret:?} in: {}", line.chars().take(300).collect::<String>()))
        })
        .collect();
    assert!(
        found.is_empty(),
        "{} log lines leak a secret or a number:\n{}",
        found.len(),
        found.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}
