//! The webhook outbox under failure: the receiver down, the engine killed with SIGKILL, several
//! engine processes on one store, a receiver that refuses for a while. Every event arrives, in
//! order per session, none lost, none twice.
mod common;

use common::hosted::{destination, free_port, session, verify_on_page, workflow, Receiver, Visitor};
use common::Server;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Fast retries, a short timeout (so a lease of a killed process ends in 6 s).
const RETRY_FAST: &str = "[webhooks]\ntimeout_seconds = 1\nretry_initial_ms = 100\nretry_max_ms = 400\n";

/// Statuses received per session, in arrival order.
fn by_session(deliveries: &[Value]) -> HashMap<String, Vec<String>> {
    let mut sessions: HashMap<String, Vec<String>> = HashMap::new();
    for d in deliveries {
        assert_eq!(d["verified"], true, "{d}");
        sessions
            .entry(d["body"]["session_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(d["body"]["status"].as_str().unwrap().to_owned());
    }
    sessions
}

fn counter(server: &Server, line_start: &str) -> f64 {
    server
        .metrics()
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// Done means 3: events written while the receiver is down survive `kill -9`; after both come
/// back every event arrives once, in order per session.
#[test]
fn kill_9_while_the_receiver_is_down_loses_nothing_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), RETRY_FAST);
    let port = free_port();
    let mut receiver = Receiver::start(dir.path(), port, 200);
    destination(&server, &receiver);
    receiver.kill();
    let workflow_id = workflow(&server, json!({}));
    let mut expected = HashMap::new();
    for i in 0..4 {
        let (id, url) = session(
            &server,
            json!({ "workflow_id": workflow_id, "vendor_data": format!("user-{i}") }),
        );
        let phone = format!("+1202555013{i}");
        verify_on_page(&server, &url, "US", &phone[2..], &phone);
        expected.insert(id, vec!["In Progress".to_owned(), "Approved".to_owned()]);
    }
    let (opened, url) = session(&server, json!({ "workflow_id": workflow_id }));
    Visitor::new(&url).get("");
    expected.insert(opened, vec!["In Progress".to_owned()]);
    assert!(
        eventually(Duration::from_secs(10), || counter(
            &server,
            "otpgate_webhook_deliveries_total{outcome=\"retried\"}"
        ) >= 9.0),
        "the worker tried while the receiver was down:\n{}",
        server.metrics()
    );
    assert!(
        eventually(Duration::from_secs(12), || counter(
            &server,
            "otpgate_webhook_outbox_depth "
        ) == 9.0),
        "the depth gauge counts the waiting events:\n{}",
        server.metrics()
    );

    let server = server.restart_after_kill();
    let receiver = Receiver::start(dir.path(), port, 200);
    receiver.wait_for(9, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1_500)); // room for a duplicate to show up
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 9, "{deliveries:#?}");
    assert_eq!(by_session(&deliveries), expected);
    assert!(eventually(Duration::from_secs(10), || counter(
        &server,
        "otpgate_webhook_outbox_depth "
    ) == 0.0));
}

/// Two engine processes on one database (two nodes): each event is delivered by one of them.
#[test]
fn two_engines_on_one_store_deliver_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let apps = "[[applications]]\nname = \"acme\"\napi_key = \"acme-key-0123456789\"\n";
    let config = common::write_config(dir.path(), &format!("{apps}{RETRY_FAST}"));
    let args = ["serve", "--config", config.to_str().unwrap()];
    let one = Server::start(dir.path(), &args, Some("acme-key-0123456789"));
    let two = Server::start(dir.path(), &args, Some("acme-key-0123456789"));
    let receiver = Receiver::start(dir.path(), 0, 200);
    destination(&one, &receiver);
    let workflow_id = workflow(&one, json!({}));
    let mut expected = HashMap::new();
    for i in 0..6 {
        let node = if i % 2 == 0 { &one } else { &two };
        let (id, url) = session(node, json!({ "workflow_id": workflow_id }));
        let phone = format!("+1202555014{i}");
        verify_on_page(node, &url, "US", &phone[2..], &phone);
        expected.insert(id, vec!["In Progress".to_owned(), "Approved".to_owned()]);
    }
    receiver.wait_for(12, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(1_500));
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 12, "{deliveries:#?}");
    assert_eq!(by_session(&deliveries), expected);
    let delivered = |s: &Server| counter(s, "otpgate_webhook_deliveries_total{outcome=\"delivered\"}");
    // Counted once the worker has read the answer, which may be just after the receiver saw it.
    let counted = || delivered(&one) + delivered(&two) == 12.0;
    assert!(
        eventually(Duration::from_secs(5), counted),
        "{}",
        delivered(&one) + delivered(&two)
    );
}

/// A receiver answering 503 gets the event again (backoff) until it answers 2xx; one answering
/// 400 is not retried (counted as refused), and the session's next event still goes out.
#[test]
fn transient_refusals_are_retried_and_permanent_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), RETRY_FAST);
    let port = free_port();
    let mut receiver = Receiver::start(dir.path(), port, 503);
    destination(&server, &receiver);
    let workflow_id = workflow(&server, json!({}));
    let (id, url) = session(&server, json!({ "workflow_id": workflow_id }));
    Visitor::new(&url).get("");
    let answered = receiver.wait_for(3, Duration::from_secs(10));
    assert!(answered.len() >= 3, "retried: {answered:#?}");
    assert!(
        answered.iter().all(|d| d["body"]["status"] == "In Progress"),
        "{answered:#?}"
    );
    receiver.kill();
    let _ = std::fs::remove_file(&receiver.log);
    let receiver = Receiver::start(dir.path(), port, 200);
    let delivered = receiver.wait_for(1, Duration::from_secs(10));
    assert_eq!(by_session(&delivered)[&id], ["In Progress"]);

    let mut refusing = receiver;
    refusing.kill();
    let _ = std::fs::remove_file(&refusing.log);
    let refusing = Receiver::start(dir.path(), port, 400);
    let (id, url) = session(&server, json!({ "workflow_id": workflow_id }));
    verify_on_page(&server, &url, "US", "2025550150", "+12025550150");
    let got = refusing.wait_for(2, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        by_session(&refusing.deliveries())[&id],
        ["In Progress", "Approved"],
        "each tried once"
    );
    assert!(
        eventually(Duration::from_secs(5), || counter(
            &server,
            "otpgate_webhook_deliveries_total{outcome=\"refused\"}"
        ) >= 2.0),
        "{got:#?}"
    );
}
