//! Issue 14, step 3: two engine processes on one database, each holding an actor for the same
//! number. A check is written only over the verification's version the actor read, so the node
//! with the stale copy cannot approve over the other's counted attempt, nor approve a second time:
//! its write loses, and the engine reloads the number and decides again on the fresh read
//! before it answers (the client sees no 503).
mod common;

use common::Server;
use serde_json::{json, Value};

const PHONE: &str = "+12025550123";

fn check(node: &Server, code: &str) -> (u16, Value) {
    node.post("/v3/phone/check/", &json!({ "phone_number": PHONE, "code": code }))
}

#[test]
fn the_node_with_the_stale_copy_loses_and_decides_again_after_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let apps = "[[applications]]\nname = \"acme\"\napi_key = \"acme-key-0123456789\"\n";
    let config = common::write_config(dir.path(), apps);
    let args = ["serve", "--config", config.to_str().unwrap()];
    let a = Server::start(dir.path(), &args, Some("acme-key-0123456789"));
    let b = Server::start(dir.path(), &args, Some("acme-key-0123456789"));

    let sent = a.send(PHONE);
    assert_eq!(sent["status"], "Success", "{sent}");
    let code = a.latest_code(PHONE);
    let wrong = common::wrong(&code);

    // Node B counts a wrong attempt: the stored verification moves past what A's actor holds.
    let (status, body) = check(&b, &wrong);
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["status"], "Approved", "{body}");

    // A's copy is stale: its approval (which would forget B's attempt) loses, A reloads and
    // decides again: approved, with B's attempt counted.
    let (status, body) = check(&a, &code);
    assert_eq!((status, &body["status"]), (200, &json!("Approved")), "{body}");
    assert_eq!(body["phone"]["verification_attempts"], 2, "{body}");

    // B's copy is now the stale one: it cannot approve a second time.
    let (status, body) = check(&b, &code);
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["status"], "Approved", "approved twice: {body}");
}

/// One node never loses a conditional write to itself. The SMSC simulator answers each
/// `submit_sm` and sends its DELIVRD receipt right behind it, so the receipt's write and the
/// send's own outcome race inside the number's actor; both must be decided one after the other
/// (the receipt's first, or the outcome's first), never both from the same version, which made
/// one of them lose, reload and decide again (`otpgate_store_write_conflicts_total`).
#[test]
fn one_node_decides_a_receipt_racing_its_send_in_turn_without_losing_a_write() {
    use common::smsc::{carriers_up, eventually, metric, smpp_carrier, Smsc};
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let smsc = Smsc::with_rules(dir.path(), "[[rules]]\npattern = \"*\"\naction = \"deliver\"\n", &[]);
    let server = Server::with_config(
        dir.path(),
        &format!(
            "[risk.pumping]\nmin_sends = 0\n{}",
            smpp_carrier(&smsc.smpp, "window = 32")
        ),
    );
    carriers_up(&server, &["smsc-a"]);
    let phones: Vec<String> = (0..48).map(|i| format!("+1202555{:04}", 1000 + i)).collect();
    std::thread::scope(|s| {
        for chunk in phones.chunks(6) {
            let server = &server;
            s.spawn(move || {
                for phone in chunk {
                    let sent = server.send(phone);
                    assert_eq!(sent["status"], "Success", "{sent}");
                }
            });
        }
    });
    let delivered = || metric(&server.metrics(), "otpgate_messages_delivered_total", &[]);
    assert!(
        eventually(Duration::from_secs(20), || delivered() == phones.len() as f64),
        "{} of {} receipts landed",
        delivered(),
        phones.len()
    );
    // Each receipt is on its verification's report and its message row, whether it was written
    // on its own or folded into the send's outcome (it mostly overtakes the send's answer here).
    for phone in &phones {
        let digits = phone.trim_start_matches('+');
        let text = smsc.messages_to(digits)[0]["text"].as_str().unwrap().to_owned();
        let checked = server.check(phone, &common::smsc::code_in(&text));
        assert_eq!(checked["status"], "Approved", "{checked}");
        assert_eq!(checked["phone"]["verification_method"], "sms", "{checked}");
        assert_eq!(
            common::lifecycle_count(&checked["phone"], "PHONE_DELIVERY_DELIVERED"),
            1,
            "{checked}"
        );
    }
    let db = rusqlite::Connection::open(dir.path().join("data/otpgate.db")).unwrap();
    let settled: i64 = db
        .query_row("SELECT count(*) FROM messages WHERE state = 'delivered'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(settled, phones.len() as i64, "messages stored as delivered");
    let metrics = server.metrics();
    assert_eq!(
        metric(&metrics, "otpgate_store_write_conflicts_total", &[]),
        0.0,
        "the actor lost writes to itself: {}",
        metrics
            .lines()
            .filter(|l| l.starts_with("otpgate_store_write_conflicts_total"))
            .collect::<Vec<_>>()
            .join("; ")
    );
}
