//! Refusals before sending: high-risk prefixes, SMS-pumping protection (a burst of uncompleted
//! sends blocks its prefix for a while), and rate limits per application and per end-user IP
//! (429 with Retry-After). Nothing is sent, stored as sent, or charged when refused.
mod common;

use common::smsc::metric;
use common::Server;
use serde_json::{json, Value};
use std::time::Duration;

/// Sends through ureq directly: the Retry-After header matters here.
fn send(server: &Server, body: Value) -> (u16, Option<String>, Value) {
    let response = ureq::post(&format!("{}/v3/phone/send/", server.base))
        .set("x-api-key", &server.key)
        .send_json(body);
    let response = match response {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let retry_after = response.header("retry-after").map(str::to_owned);
    (response.status(), retry_after, response.into_json().unwrap())
}

fn high_risk_warning(server: &Server, phone: &str) -> Value {
    let checked = server.check(phone, "000000");
    assert_eq!(checked["status"], "Declined", "{checked}");
    let warning = checked["phone"]["warnings"][0].clone();
    assert_eq!(warning["risk"], "HIGH_RISK_PHONE_NUMBER", "{checked}");
    assert_eq!(warning["log_type"], "error");
    warning
}

#[test]
fn a_configured_high_risk_prefix_is_blocked_as_suspicious() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "[risk]\nhigh_risk_prefixes = [\"1202555\"]\n");
    let sent = server.send("+12025550123");
    assert_eq!(
        (&sent["status"], &sent["reason"]),
        (&json!("Blocked"), &json!("suspicious")),
        "{sent}"
    );
    assert!(server.inbox("+12025550123").is_empty());
    let warning = high_risk_warning(&server, "+12025550123");
    assert_eq!(warning["additional_data"]["prefix"], "+1202555");
    assert_eq!(warning["additional_data"]["reason"], "high-risk prefix");
    assert_eq!(server.send("+13125550123")["status"], "Success");
    assert_eq!(
        metric(
            &server.metrics(),
            "otpgate_sends_blocked_total",
            &[("reason", "suspicious")]
        ),
        1.0
    );
    let metrics = server.metrics();
    assert!(
        metrics
            .lines()
            .any(|l| l == "otpgate_sends_refused_total{cause=\"high_risk\"} 1"),
        "{metrics}"
    );
}

#[test]
fn a_burst_of_uncompleted_sends_blocks_its_prefix_until_the_block_expires() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(
        dir.path(),
        // No grace: judge each send at once (the default waits 60 s for users to answer).
        "[risk.pumping]\nprefix_digits = 7\nmin_sends = 5\nmin_completion = 0.5\nblock_seconds = 2\ngrace_seconds = 0\n",
    );
    // One completed verification under another prefix keeps that prefix healthy.
    let healthy = |i: u32| format!("+131255501{i:02}");
    let pumped = |i: u32| format!("+120255501{i:02}");
    for i in 0..5 {
        assert_eq!(server.send(&pumped(i))["status"], "Success", "send {i}");
        assert_eq!(server.send(&healthy(i))["status"], "Success");
        let code = server.latest_code(&healthy(i));
        assert_eq!(server.check(&healthy(i), &code)["status"], "Approved");
    }
    // The 5th uncompleted send tripped the block: the next number under +1202555 is refused.
    let sent = server.send(&pumped(10));
    assert_eq!(
        (&sent["status"], &sent["reason"]),
        (&json!("Blocked"), &json!("suspicious")),
        "{sent}"
    );
    assert!(server.inbox(&pumped(10)).is_empty());
    let warning = high_risk_warning(&server, &pumped(10));
    assert_eq!(warning["additional_data"]["prefix"], "+1202555");
    assert!(warning["additional_data"]["reason"]
        .as_str()
        .unwrap()
        .contains("pumping"));
    assert_eq!(
        server.send(&healthy(10))["status"],
        "Success",
        "other prefixes still work"
    );
    let metrics = server.metrics();
    assert_eq!(metric(&metrics, "otpgate_prefixes_blocked_total", &[]), 1.0);
    assert!(
        metrics
            .lines()
            .any(|l| l == "otpgate_sends_refused_total{cause=\"pumping\"} 1"),
        "{metrics}"
    );

    std::thread::sleep(Duration::from_millis(2_100));
    assert_eq!(server.send(&pumped(11))["status"], "Success", "the block expired");
}

#[test]
fn rate_limits_answer_429_with_retry_after_and_send_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(
        dir.path(),
        "[risk]\nsends_per_minute_per_ip = 2\nsends_per_minute_per_application = 5\n",
    );
    let with_ip = |phone: &str, ip: &str| json!({ "phone_number": phone, "signals": { "ip": ip } });
    for i in 0..2 {
        let (status, _, body) = send(&server, with_ip(&format!("+120255501{i:02}"), "203.0.113.7"));
        assert_eq!((status, &body["status"]), (200, &json!("Success")), "{body}");
    }
    let (status, retry_after, body) = send(&server, with_ip("+12025550110", "203.0.113.7"));
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "rate_limited");
    assert!(body["detail"].as_str().unwrap().contains("ip"), "{body}");
    let seconds: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&seconds), "{seconds}");
    assert!(server.inbox("+12025550110").is_empty());

    // Another IP, and the application's own limit of 5 a minute.
    let (status, _, _) = send(&server, with_ip("+12025550111", "2001:db8::1"));
    assert_eq!(status, 200);
    for i in 12..14 {
        let (status, _, _) = send(&server, json!({ "phone_number": format!("+120255501{i}") }));
        assert_eq!(status, 200);
    }
    let (status, retry_after, body) = send(&server, json!({ "phone_number": "+12025550120" }));
    assert_eq!(
        (status, body["detail"].as_str().unwrap().contains("application")),
        (429, true),
        "{body}"
    );
    assert!(retry_after.is_some());
    let metrics = server.metrics();
    assert_eq!(
        metric(&metrics, "otpgate_sends_rate_limited_total", &[("scope", "ip")]),
        1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "otpgate_sends_rate_limited_total",
            &[("scope", "application")]
        ),
        1.0
    );
    // Both 429s in the SRE kit's one count of refusals (README "Operations").
    assert!(
        metrics
            .lines()
            .any(|l| l == "otpgate_sends_refused_total{cause=\"rate_limit\"} 2"),
        "{metrics}"
    );

    let (status, _, body) = send(&server, with_ip("+12025550121", "not-an-ip"));
    assert_eq!((status, &body["field"]), (400, &json!("signals.ip")), "{body}");
}
