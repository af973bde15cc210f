//! Receipt-driven fallback: a message a carrier accepted but did not deliver goes out again,
//! with the same code, on the next step of the plan. Two SMSC simulators play two SMS carriers.
mod common;

use common::smsc::{both_up, eventually, metric, two_carriers, Smsc};
use common::Server;
use serde_json::Value;
use std::time::Duration;

fn texts(smsc: &Smsc, to: &str) -> Vec<String> {
    smsc.messages_to(to)
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

fn code_in(text: &str) -> String {
    text.rsplit(' ').next().unwrap().to_owned()
}

fn lifecycle(report: &Value) -> Vec<Value> {
    report["phone"]["lifecycle"].as_array().unwrap().clone()
}

#[test]
fn an_undeliv_receipt_sends_the_same_code_through_the_next_carrier() {
    let dir = tempfile::tempdir().unwrap();
    let a = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"1415555\"\naction = \"undeliver\"\n",
        &[],
    );
    let b_dir = dir.path().join("b");
    std::fs::create_dir(&b_dir).unwrap();
    let b = Smsc::start(&b_dir, &[]);
    let server = Server::with_config(dir.path(), &two_carriers(&a, &b, ""));
    both_up(&server);

    let sent = server.send("+14155552671");
    assert_eq!(sent["status"], "Success", "{sent}");
    assert!(
        eventually(Duration::from_secs(5), || !b.messages_to("14155552671").is_empty()),
        "the second carrier never got the message"
    );
    let (first, second) = (texts(&a, "14155552671"), texts(&b, "14155552671"));
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_eq!(first[0], second[0], "the fallback carries the same code");

    assert!(eventually(Duration::from_secs(5), || {
        metric(
            &server.metrics(),
            "otpgate_messages_delivered_total",
            &[("carrier", "smsc-b")],
        ) >= 1.0
    }));
    let checked = server.check("+14155552671", &code_in(&first[0]));
    assert_eq!(checked["status"], "Approved", "{checked}");
    assert_eq!(checked["phone"]["verification_method"], "sms");
    let entries = lifecycle(&checked);
    let fallback = entries
        .iter()
        .find(|e| e["type"] == "PHONE_CHANNEL_FALLBACK")
        .unwrap_or_else(|| panic!("no fallback entry: {entries:?}"));
    assert_eq!(fallback["details"]["from_carrier"], "smsc-a");
    assert_eq!(fallback["details"]["to_carrier"], "smsc-b");
    assert_eq!(fallback["details"]["reason"], "negative_receipt");
    // Two channels carried it, one charge: at the first acceptance, $0.03 + smsc-a's $0.001.
    let fees: Vec<&Value> = entries
        .iter()
        .filter(|e| e["type"] == "PHONE_VERIFICATION_MESSAGE_SENT")
        .map(|e| &e["fee"])
        .collect();
    assert_eq!(fees, [&Value::from("0.031"), &Value::Null], "{entries:?}");
    let (_, usage) = server.request("GET", "/v3/billing/usage/", Some(&server.key), None);
    assert_eq!(usage["verifications"], 1, "{usage}");
    assert_eq!(usage["free"], 1, "{usage}");
    let metrics = server.metrics();
    assert_eq!(
        metric(&metrics, "otpgate_fallbacks_total", &[("from", "sms"), ("to", "sms")]),
        1.0
    );
}

#[test]
fn no_receipt_within_fallback_after_seconds_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    // `accept`: the SMSC takes the message and never sends a receipt.
    let a = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"1415555\"\naction = \"accept\"\n",
        &[],
    );
    let b_dir = dir.path().join("b");
    std::fs::create_dir(&b_dir).unwrap();
    let b = Smsc::start(&b_dir, &[]);
    let server = Server::with_config(
        dir.path(),
        &two_carriers(&a, &b, "[verification]\nfallback_after_seconds = 1"),
    );
    both_up(&server);
    server.send("+14155552671");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        b.messages_to("14155552671").is_empty(),
        "fell back before fallback_after_seconds"
    );
    assert!(
        eventually(Duration::from_secs(5), || b.messages_to("14155552671").len() == 1),
        "no fallback after the wait"
    );
    let text = &texts(&b, "14155552671")[0];
    let checked = server.check("+14155552671", &code_in(text));
    let reasons: Vec<_> = lifecycle(&checked)
        .iter()
        .filter(|e| e["type"] == "PHONE_CHANNEL_FALLBACK")
        .map(|e| e["details"]["reason"].clone())
        .collect();
    assert_eq!(reasons, ["no_receipt"]);
}

#[test]
fn when_every_carrier_fails_the_fallback_stops_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let rules = "[[rules]]\npattern = \"1415555\"\naction = \"undeliver\"\n";
    let a = Smsc::with_rules(dir.path(), rules, &[]);
    let b_dir = dir.path().join("b");
    std::fs::create_dir(&b_dir).unwrap();
    let b = Smsc::with_rules(&b_dir, rules, &[]);
    let server = Server::with_config(dir.path(), &two_carriers(&a, &b, ""));
    both_up(&server);
    server.send("+14155552671");
    assert!(eventually(Duration::from_secs(5), || {
        metric(
            &server.metrics(),
            "otpgate_messages_failed_total",
            &[("reason", "undeliv")],
        ) >= 2.0
    }));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        (a.messages_to("14155552671").len(), b.messages_to("14155552671").len()),
        (1, 1)
    );
    let code = code_in(&texts(&a, "14155552671")[0]);
    let checked = server.check("+14155552671", &code);
    let types: Vec<_> = lifecycle(&checked)
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types.iter().filter(|t| *t == "PHONE_DELIVERY_FAILED").count(),
        2,
        "{types:?}"
    );
    // Both receipts said UNDELIV, yet the right code came back: the report names the channel
    // of the last accepted message (an Approved report always names one).
    assert_eq!(checked["status"], "Approved", "{checked}");
    assert_eq!(checked["phone"]["verification_method"], "sms");
}
