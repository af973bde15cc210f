//! Billing through the whole engine: one charge per verification when a carrier first accepts
//! its message ($0.03 plus the carrier's fee), the first 500 of a month free, nothing for
//! Blocked, Undeliverable or sandbox sends, and `GET /v3/billing/usage/` adding it up.
mod common;

use common::smsc::{carriers_up, smpp_carrier, Smsc};
use common::Server;
use serde_json::{json, Value};

/// An SMS carrier whose fee to Spain is $0.0079 (numbers under +3461299 are refused by the
/// SMSC), and the sandbox for sandbox numbers.
fn engine(dir: &std::path::Path) -> (Server, Smsc) {
    let smsc = Smsc::with_rules(dir, "[[rules]]\npattern = \"3461299\"\naction = \"refuse\"\n", &[]);
    let carrier = smpp_carrier(&smsc.smpp, "fee_usd = { default = 0.0, ES = 0.0079 }\nwindow = 64");
    // 500 sends to one prefix that nobody completes would trip the pumping protection.
    let server = Server::with_config(
        dir,
        &format!(
            "[sandbox]\nenabled = true\n[risk]\nhigh_risk_prefixes = [\"+3461277\"]\n\
             [risk.pumping]\nmin_sends = 0\n{carrier}"
        ),
    );
    carriers_up(&server, &["smsc-a"]);
    (server, smsc)
}

fn usage(server: &Server, month: &str) -> Value {
    let (status, body) = server.request(
        "GET",
        &format!("/v3/billing/usage/?month={month}"),
        Some(&server.key),
        None,
    );
    assert_eq!(status, 200, "{body}");
    body
}

fn this_month() -> String {
    chrono::Utc::now().format("%Y-%m").to_string()
}

fn spanish(i: usize) -> String {
    format!("+346123{i:05}")
}

#[test]
fn the_500th_verification_of_the_month_is_free_and_the_501st_costs_price_plus_fee() {
    let dir = tempfile::tempdir().unwrap();
    let (server, smsc) = engine(dir.path());
    let month = this_month();
    let empty = usage(&server, &month);
    assert_eq!(
        (empty["verifications"].as_u64(), empty["amount_usd"].as_str()),
        (Some(0), Some("0.00"))
    );

    // 500 verifications from 8 concurrent clients.
    std::thread::scope(|s| {
        for t in 0..8 {
            let server = &server;
            s.spawn(move || {
                for i in (t..500).step_by(8) {
                    let sent = server.send(&spanish(i));
                    assert_eq!(sent["status"], "Success", "{sent}");
                }
            });
        }
    });
    let at_500 = usage(&server, &month);
    assert_eq!(at_500["verifications"], 500, "{at_500}");
    assert_eq!(
        (at_500["free"].as_u64(), at_500["billable"].as_u64()),
        (Some(500), Some(0))
    );
    assert_eq!(at_500["amount_usd"], "0.00");

    let number = spanish(500);
    assert_eq!(server.send(&number)["status"], "Success");
    // A resend of the same verification is not charged again.
    assert_eq!(server.send(&number)["status"], "Retry");
    let at_501 = usage(&server, &month);
    assert_eq!(at_501["month"], month);
    assert_eq!(at_501["verifications"], 501, "{at_501}");
    assert_eq!(
        (at_501["free"].as_u64(), at_501["billable"].as_u64()),
        (Some(500), Some(1))
    );
    assert_eq!(at_501["amount_usd"], "0.0379", "$0.03 + the carrier's $0.0079");
    assert_eq!(
        at_501["by_channel"],
        json!([{ "channel": "sms", "verifications": 501, "free": 500, "billable": 1, "amount_usd": "0.0379" }])
    );
    assert_eq!(at_501["by_country"][0]["country"], "ES");

    // The charge shows on the lifecycle entry of the message that caused it.
    let text = smsc.messages_to(&number[1..])[0]["text"].as_str().unwrap().to_owned();
    let code: String = text.chars().filter(char::is_ascii_digit).collect();
    let checked = server.check(&number, &code);
    assert_eq!(checked["status"], "Approved", "{checked}");
    let sent: Vec<&Value> = checked["phone"]["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "PHONE_VERIFICATION_MESSAGE_SENT")
        .collect();
    assert_eq!(sent.len(), 2, "the send and its resend");
    assert_eq!(sent[0]["fee"], "0.0379");
    assert_eq!(sent[1]["fee"], Value::Null, "the resend is not charged");
}

#[test]
fn nothing_is_charged_for_blocked_undeliverable_or_sandbox_sends() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _smsc) = engine(dir.path());
    let (status, _) = server.post("/v3/blocklist/phone/", &json!({ "phone_number": spanish(1) }));
    assert_eq!(status, 201);
    assert_eq!(server.send(&spanish(1))["status"], "Blocked");
    assert_eq!(
        server.send("+34612990001")["status"],
        "Undeliverable",
        "the SMSC refuses it"
    );
    let high_risk = server.send("+34612770001");
    assert_eq!(
        (&high_risk["status"], &high_risk["reason"]),
        (&json!("Blocked"), &json!("suspicious"))
    );
    assert_eq!(server.send("+12025550123")["status"], "Success", "a sandbox number");
    let month = usage(&server, &this_month());
    assert_eq!(month["verifications"], 0, "{month}");
    assert_eq!(month["by_channel"], json!([]));
    // A send that went out is charged.
    assert_eq!(server.send(&spanish(2))["status"], "Success");
    assert_eq!(usage(&server, &this_month())["verifications"], 1);
}

#[test]
fn concurrent_sends_to_one_number_charge_one_verification() {
    let dir = tempfile::tempdir().unwrap();
    let (server, smsc) = engine(dir.path());
    let number = spanish(7);
    let statuses: Vec<String> = std::thread::scope(|s| {
        let sends: Vec<_> = (0..8)
            .map(|_| s.spawn(|| server.send(&number)["status"].as_str().unwrap().to_owned()))
            .collect();
        sends.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // One new verification, its resends up to the limit, the rest refused.
    assert_eq!(statuses.iter().filter(|s| *s == "Success").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "Retry").count(), 2, "{statuses:?}");
    assert_eq!(smsc.messages_to(&number[1..]).len(), 3);
    let month = usage(&server, &this_month());
    assert_eq!(month["verifications"], 1, "{month}");
}

#[test]
fn usage_needs_a_well_formed_month_and_defaults_to_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    for bad in ["2026-13", "26-01", "january", "2026-1"] {
        let (status, error) = server.request(
            "GET",
            &format!("/v3/billing/usage/?month={bad}"),
            Some(&server.key),
            None,
        );
        assert_eq!(status, 400, "{bad}: {error}");
        assert_eq!(
            (error["field"].as_str(), error["code"].as_str()),
            (Some("month"), Some("invalid_format"))
        );
    }
    let (status, current) = server.request("GET", "/v3/billing/usage/", Some(&server.key), None);
    assert_eq!(status, 200);
    assert_eq!(current["month"], this_month());
    assert_eq!(current["free_allowance"], 500);
    assert_eq!(current["price_usd"], "0.03");
    let (status, _) = server.request("GET", "/v3/billing/usage/", None, None);
    assert_eq!(status, 401);
}
