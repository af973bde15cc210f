//! Issue 17: a number's actor is a cache of the store. It stops after an idle period even with a
//! code pending, and the next message for the number (a check, a carrier's receipt, a due
//! fallback) starts a fresh one that reloads the number's state. These tests shorten the idle
//! period to half a second (`OTPGATE_ACTOR_IDLE_MS`), watch the actor go
//! (`otpgate_number_actors`), and check that nothing the evicted actor knew was lost.
mod common;

use common::smsc::{carriers_up, code_in, eventually, metric, smpp_carrier_named, Smsc};
use common::{wrong, Server};
use serde_json::Value;
use std::time::Duration;

const PHONE: &str = "+14155552671";
const DIGITS: &str = "14155552671";

/// Starts the engine with actors evicted after 500 ms without a message.
fn server(dir: &std::path::Path, extra: &str) -> Server {
    // Inherited by the engine process; every test here sets the same value.
    std::env::set_var("OTPGATE_ACTOR_IDLE_MS", "500");
    Server::with_config(dir, extra)
}

fn actors(server: &Server) -> f64 {
    metric(&server.metrics(), "otpgate_number_actors", &[])
}

/// Waits until no number actor is alive.
fn evicted(server: &Server) {
    assert!(
        eventually(Duration::from_secs(10), || actors(server) == 0.0),
        "the idle actor was not evicted: otpgate_number_actors = {}",
        actors(server)
    );
}

fn lifecycle(checked: &Value) -> Vec<String> {
    checked["phone"]["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_pending_code_and_its_counted_attempt_survive_eviction_between_send_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path(), "[verification]\nmax_code_attempts = 3\n");
    let sent = s.send(PHONE);
    assert_eq!(sent["status"], "Success", "{sent}");
    let code = s.latest_code(PHONE);
    evicted(&s);

    // A wrong attempt on a reloaded actor counts, and is still counted after the next eviction.
    let failed = s.check(PHONE, &wrong(&code));
    assert_eq!(failed["status"], "Failed", "{failed}");
    evicted(&s);
    let checked = s.check(PHONE, &code);
    assert_eq!(checked["status"], "Approved", "{checked}");
    assert_eq!(checked["request_id"], sent["request_id"]);
    assert_eq!(checked["phone"]["verification_attempts"], 2, "{checked}");

    // Single use holds across eviction: the approved code does not approve again.
    evicted(&s);
    let again = s.check(PHONE, &code);
    assert_ne!(again["status"], "Approved", "{again}");
}

#[test]
fn a_resend_after_eviction_is_a_retry_of_the_same_verification() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path(), "");
    let sent = s.send(PHONE);
    evicted(&s);
    let resent = s.send(PHONE);
    assert_eq!(resent["status"], "Retry", "{resent}");
    assert_eq!(resent["request_id"], sent["request_id"]);
    let checked = s.check(PHONE, &s.latest_code(PHONE));
    assert_eq!(checked["status"], "Approved", "{checked}");
}

#[test]
fn a_receipt_for_an_evicted_actor_is_recorded_and_the_code_still_works() {
    let dir = tempfile::tempdir().unwrap();
    // The DELIVRD receipt comes 3 s after the submit_sm: well after the actor went idle.
    let rules = "[[rules]]\npattern = \"1415555\"\naction = \"deliver\"\ndelay_ms = 3000\n";
    let smsc = Smsc::with_rules(dir.path(), rules, &[]);
    let s = server(dir.path(), &smpp_carrier_named("smsc-a", &smsc.smpp, ""));
    carriers_up(&s, &["smsc-a"]);
    let sent = s.send(PHONE);
    assert_eq!(sent["status"], "Success", "{sent}");
    evicted(&s);
    assert_eq!(
        metric(&s.metrics(), "otpgate_messages_delivered_total", &[]),
        0.0,
        "the receipt came before the actor was evicted: the test proves nothing"
    );
    assert!(
        eventually(Duration::from_secs(10), || metric(
            &s.metrics(),
            "otpgate_messages_delivered_total",
            &[("carrier", "smsc-a")]
        ) == 1.0),
        "the receipt for the evicted actor's message was not recorded"
    );
    evicted(&s);
    let text = smsc.messages_to(DIGITS)[0]["text"].as_str().unwrap().to_owned();
    let checked = s.check(PHONE, &code_in(&text));
    assert_eq!(checked["status"], "Approved", "{checked}");
    assert_eq!(checked["phone"]["verification_method"], "sms", "{checked}");
    let kinds = lifecycle(&checked);
    assert_eq!(
        kinds.iter().filter(|k| *k == "PHONE_DELIVERY_DELIVERED").count(),
        1,
        "{kinds:?}"
    );
}

#[test]
fn a_fallback_due_while_idle_carries_the_same_code_once_and_the_actor_goes_after() {
    let dir = tempfile::tempdir().unwrap();
    // smsc-a takes the message and never sends a receipt; smsc-b is the next step.
    let a = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"1415555\"\naction = \"accept\"\n",
        &[],
    );
    let b_dir = dir.path().join("b");
    std::fs::create_dir(&b_dir).unwrap();
    let b = Smsc::start(&b_dir, &[]);
    let config = format!(
        "[verification]\nfallback_after_seconds = 2\n{}{}",
        smpp_carrier_named("smsc-a", &a.smpp, "fee_usd = { default = 0.001 }"),
        smpp_carrier_named("smsc-b", &b.smpp, "fee_usd = { default = 0.002 }"),
    );
    let s = server(dir.path(), &config);
    let up = |c: &str| metric(&s.metrics(), "otpgate_carrier_up", &[("carrier", c)]) == 1.0;
    assert!(
        eventually(Duration::from_secs(10), || up("smsc-a") && up("smsc-b")),
        "carriers did not both bind"
    );
    let sent = s.send(PHONE);
    assert_eq!(sent["status"], "Success", "{sent}");
    assert!(
        eventually(Duration::from_secs(10), || b.messages_to(DIGITS).len() == 1),
        "the fallback did not run"
    );
    evicted(&s);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!((a.messages_to(DIGITS).len(), b.messages_to(DIGITS).len()), (1, 1));
    // The fallback repeated the code of the first message (the actor held it until then).
    let first = code_in(a.messages_to(DIGITS)[0]["text"].as_str().unwrap());
    let second = code_in(b.messages_to(DIGITS)[0]["text"].as_str().unwrap());
    assert_eq!(first, second);
    let checked = s.check(PHONE, &first);
    assert_eq!(checked["status"], "Approved", "{checked}");
}
