//! Errors steer routing, through the real engine and the platform fakes over real HTTP: a
//! throttled carrier is waited for and asked again, a number-at-fault refusal skips the channel
//! for the number, a carrier-at-fault refusal marks the carrier down; and what routing learns of
//! deliverability is scraped as a gauge and survives a restart.
mod common;

use common::platforms::{engine, free_port, Fake};
use common::smsc::{eventually, metric, smpp_carrier, Smsc};
use common::Server;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const TOKEN: &str = "platform-token";
const SECRET: &str = "platform-signing-secret";

/// A fake of `protocol` at `name`, with `rules` (TOML), calling the engine on `port` back.
fn fake(dir: &Path, port: u16, protocol: &str, name: &str, rules: &str) -> Fake {
    let path = dir.join(format!("{name}-rules.toml"));
    std::fs::write(&path, rules).unwrap();
    let callback = format!("http://127.0.0.1:{port}/v3/channels/{name}/webhook/");
    let mut args = vec![
        "--token",
        TOKEN,
        "--callback-url",
        &callback,
        "--rules",
        path.to_str().unwrap(),
    ];
    // Telegram and Viber sign with the API token itself.
    if !matches!(protocol, "telegram" | "viber") {
        args.extend(["--secret", SECRET]);
    }
    Fake::start(&format!("otpgate-fake-{protocol}"), &args)
}

/// The `[[carriers]]` entry of `protocol` at `name`, for a fake at `base_url`.
fn carrier(protocol: &str, name: &str, base_url: &str, extra: &str) -> String {
    let keys = match protocol {
        "whatsapp" => format!("phone_number_id = \"1\"\naccess_token = \"{TOKEN}\"\napp_secret = \"{SECRET}\""),
        "rcs" => format!("agent_id = \"agent\"\ntoken = \"{TOKEN}\"\nwebhook_token = \"{SECRET}\""),
        _ => format!("token = \"{TOKEN}\""),
    };
    format!("[[carriers]]\nname = \"{name}\"\nprotocol = \"{protocol}\"\nbase_url = \"{base_url}\"\n{keys}\n{extra}\n")
}

/// Waits up to `seconds` for the metric with `labels` to read `value`.
fn metric_reaches(server: &Server, seconds: u64, name: &str, labels: &[(&str, &str)], value: f64) -> bool {
    eventually(Duration::from_secs(seconds), || {
        metric(&server.metrics(), name, labels) == value
    })
}

fn send_preferring(server: &Server, phone: &str, channel: &str) -> Value {
    let body = json!({ "phone_number": phone, "options": { "preferred_channel": channel } });
    let (status, sent) = server.post("/v3/phone/send/", &body);
    assert_eq!(status, 200, "{sent}");
    sent
}

/// The platform answers the first send "too many requests, retry in 1 s", then takes it. The
/// engine waits and asks the same carrier again: one message, on the channel asked for, and
/// no fallback to the SMS carrier that was there to take it.
fn throttled_once_then_delivered(protocol: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let rules = "[[rules]]\nprefix = \"44\"\naction = \"throttle\"\nretry_after = 1\ntimes = 1\n";
    let platform = fake(dir.path(), port, protocol, "platform", rules);
    let smsc = Smsc::start(dir.path(), &[]);
    let carriers = format!(
        "{}{}",
        carrier(protocol, "platform", &platform.url, ""),
        smpp_carrier(&smsc.smpp, "")
    );
    let server = engine(dir.path(), port, &carriers);

    let asked = Instant::now();
    let sent = send_preferring(&server, "+447911123456", &protocol.to_ascii_uppercase());
    assert_eq!(
        (sent["status"].as_str(), sent["channel"].as_str()),
        (Some("Success"), Some(protocol)),
        "{sent}"
    );
    assert!(
        asked.elapsed() >= Duration::from_secs(1),
        "Retry-After was not waited for"
    );
    assert_eq!(platform.messages().len(), 1, "the user gets one message");
    assert!(smsc.messages_to("447911123456").is_empty(), "no fallback to SMS");
    let metrics = server.metrics();
    let failed = [("carrier", "platform"), ("reason", "throttled")];
    assert_eq!(metric(&metrics, "otpgate_messages_failed_total", &failed), 1.0);
    assert_eq!(metric(&metrics, "otpgate_fallbacks_total", &[]), 0.0);
    let delivered = metric_reaches(
        &server,
        5,
        "otpgate_messages_delivered_total",
        &[("carrier", "platform")],
        1.0,
    );
    assert!(delivered, "the signed callback was not applied");
}

#[test]
fn a_throttled_whatsapp_send_is_retried_after_retry_after() {
    throttled_once_then_delivered("whatsapp");
}

#[test]
fn a_throttled_telegram_send_is_retried_after_flood_wait() {
    throttled_once_then_delivered("telegram");
}

#[test]
fn a_throttled_viber_send_is_retried_after_retry_after() {
    throttled_once_then_delivered("viber");
}

#[test]
fn a_throttled_rcs_send_is_retried_after_retry_after() {
    throttled_once_then_delivered("rcs");
}

/// Two WhatsApp carriers, the cheaper first, and SMS. "Not a WhatsApp user" from the first is
/// about the number: the second WhatsApp carrier is not asked, SMS takes it, and a resend skips
/// WhatsApp at once. A 500 from the first is transient: the second WhatsApp carrier takes it.
#[test]
fn a_number_at_fault_skips_the_channel_and_a_transient_error_the_carrier() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let rules = "[[rules]]\nprefix = \"447911\"\naction = \"refuse\"\nerror = 131026\n\n\
                 [[rules]]\nprefix = \"447922\"\naction = \"server_error\"\n";
    let first = fake(dir.path(), port, "whatsapp", "wa-a", rules);
    let second = fake(dir.path(), port, "whatsapp", "wa-b", "");
    let smsc = Smsc::start(dir.path(), &[]);
    let carriers = format!(
        "{}{}{}",
        carrier("whatsapp", "wa-a", &first.url, "fee_usd = { default = 0.001 }"),
        carrier("whatsapp", "wa-b", &second.url, "fee_usd = { default = 0.002 }"),
        smpp_carrier(&smsc.smpp, "")
    );
    let server = engine(dir.path(), port, &carriers);

    let sent = send_preferring(&server, "+447911123456", "WHATSAPP");
    assert_eq!(sent["channel"], "sms", "{sent}");
    assert!(second.messages().is_empty(), "the other WhatsApp carrier was asked");
    let resent = send_preferring(&server, "+447911123456", "WHATSAPP");
    assert_eq!(
        (resent["status"].as_str(), resent["channel"].as_str()),
        (Some("Retry"), Some("sms"))
    );
    assert_eq!(smsc.messages_to("447911123456").len(), 2);
    let metrics = server.metrics();
    let refused = [("carrier", "wa-a"), ("reason", "not_whatsapp_user")];
    assert_eq!(
        metric(&metrics, "otpgate_messages_failed_total", &refused),
        1.0,
        "asked again"
    );
    assert_eq!(metric(&metrics, "otpgate_carrier_up", &[("carrier", "wa-a")]), 1.0);

    let sent = send_preferring(&server, "+447922123456", "WHATSAPP");
    assert_eq!(sent["channel"], "whatsapp", "{sent}");
    assert_eq!(second.messages().len(), 1, "the next WhatsApp carrier took it");
    assert!(first.messages().is_empty(), "only accepted sends are listed");
    assert!(smsc.messages_to("447922123456").is_empty());
}

/// The platform refuses our credentials: the carrier is marked down (`otpgate_carrier_up` 0),
/// the send goes on to SMS, and later sends are not offered to it.
#[test]
fn a_carrier_at_fault_is_marked_down() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let platform = fake(dir.path(), port, "viber", "vb", "");
    let smsc = Smsc::start(dir.path(), &[]);
    let wrong_token = carrier("viber", "vb", &platform.url, "").replace(TOKEN, "revoked-token");
    let server = engine(
        dir.path(),
        port,
        &format!("{wrong_token}{}", smpp_carrier(&smsc.smpp, "")),
    );

    let sent = send_preferring(&server, "+447911123456", "VIBER");
    assert_eq!(sent["channel"], "sms", "{sent}");
    let refused = [("carrier", "vb"), ("reason", "auth_failed")];
    let down = metric_reaches(&server, 2, "otpgate_carrier_up", &[("carrier", "vb")], 0.0);
    assert!(down, "not marked down");
    let sent = send_preferring(&server, "+447922123456", "VIBER");
    assert_eq!(sent["channel"], "sms", "{sent}");
    let metrics = server.metrics();
    assert_eq!(
        metric(&metrics, "otpgate_messages_failed_total", &refused),
        1.0,
        "asked again"
    );
    assert_eq!(metric(&metrics, "otpgate_carrier_up", &[("carrier", "smsc-a")]), 1.0);
    assert!(server.stderr().contains("refused our account"), "no alert in the log");
}

/// The Prometheus line of the deliverability gauge of smsc-a in the US, if scraped.
fn deliverability_line(server: &Server) -> Option<String> {
    server
        .metrics()
        .lines()
        .find(|l| l.starts_with("otpgate_carrier_deliverability{"))
        .map(str::to_owned)
}

#[test]
fn learned_deliverability_is_a_gauge_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let smsc = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"1415555\"\naction = \"undeliver\"\n",
        &[],
    );
    let server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, ""));
    assert_eq!(deliverability_line(&server), None, "nothing learned yet");
    let up = metric_reaches(&server, 10, "otpgate_carrier_up", &[("carrier", "smsc-a")], 1.0);
    assert!(up, "the carrier did not bind");
    server.send("+14155552671");
    // One UNDELIV receipt from the prior 0.9: 0.9 + 0.05 × (0 − 0.9).
    let expected = "otpgate_carrier_deliverability{carrier=\"smsc-a\",country=\"US\"} 0.855";
    assert!(
        eventually(Duration::from_secs(5), || deliverability_line(&server).as_deref()
            == Some(expected)),
        "{:?}",
        deliverability_line(&server)
    );

    // What was learned reaches the store within about a second; from then on even a kill
    // (no drain) keeps it.
    let saved = || {
        let db = rusqlite::Connection::open_with_flags(
            dir.path().join("data/otpgate.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let query = "SELECT value FROM settings WHERE key = 'routing.deliverability'";
        db.query_row(query, [], |r| r.get::<_, String>(0)).ok()
    };
    assert!(eventually(Duration::from_secs(5), || saved().is_some()), "never saved");
    assert!(saved().unwrap().contains("\"US\""), "{:?}", saved());
    let server = server.restart_after_kill();
    assert_eq!(deliverability_line(&server).as_deref(), Some(expected));
}
