//! Fault injection through the real binary: `kill -9` in the middle of a load of sends.
//!
//! The SMSC stalling with a full window and then resetting the connection is
//! `tests/smpp.rs::a_dropped_connection_with_a_full_window_loses_nothing_and_sends_nothing_twice`.
mod common;

use common::smsc::{carriers_up, code_in, eventually, smpp_carrier, Smsc};
use common::Server;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// A send that may meet a dead server: the status and body, or `None` when the connection
/// failed (the answer is unknown to the client).
fn try_send(server: &Server, phone: &str) -> Option<(u16, Value)> {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
    let body = json!({ "phone_number": phone }).to_string();
    let result = agent
        .post(&format!("{}/v3/phone/send/", server.base))
        .set("x-api-key", &server.key)
        .set("content-type", "application/json")
        .send_string(&body);
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(_) => return None,
    };
    let status = response.status();
    let body = response.into_string().ok()?;
    Some((status, serde_json::from_str(&body).ok()?))
}

/// Acknowledged sends before the kill; eight more clients keep sending meanwhile.
const KILL_AFTER: usize = 40;

#[test]
fn kill_9_under_load_keeps_every_acknowledged_send_checkable_and_every_bill_once() {
    let dir = tempfile::tempdir().unwrap();
    let smsc = Smsc::start(dir.path(), &[]);
    // Sends to one prefix that nobody completes would trip the pumping protection.
    let config = format!(
        "[risk.pumping]\nmin_sends = 0\n{}",
        smpp_carrier(&smsc.smpp, "window = 64")
    );
    let server = Server::with_config(dir.path(), &config);
    carriers_up(&server, &["smsc-a"]);
    let next = AtomicUsize::new(0);
    let acknowledged = Mutex::new(Vec::new());
    let attempted = Mutex::new(BTreeSet::new());
    let pid = server.child.id() as i32;
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let phone = format!("+346123{:05}", next.fetch_add(1, Ordering::Relaxed));
                attempted.lock().unwrap().insert(phone.clone());
                match try_send(&server, &phone) {
                    Some((200, body)) if body["status"] == "Success" => acknowledged.lock().unwrap().push(phone),
                    Some((status, body)) => panic!("{phone}: {status} {body}"),
                    None => return, // the server is gone
                }
            });
        }
        // Let the load run, then SIGKILL the engine with sends in flight (no drain, no flush).
        let loaded = eventually(Duration::from_secs(60), || {
            acknowledged.lock().unwrap().len() >= KILL_AFTER
        });
        // kill(2) on the pid of a child we own; std's Child::kill needs the Server we share.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        assert!(loaded, "fewer than {KILL_AFTER} sends acknowledged in a minute");
    });
    let acknowledged = acknowledged.into_inner().unwrap();
    let attempted = attempted.into_inner().unwrap();
    let server = server.restart_after_kill();

    // Every 2xx send can be checked after the restart, with the code the SMSC received.
    for phone in &acknowledged {
        let sent = smsc.messages_to(&phone[1..]);
        assert_eq!(sent.len(), 1, "{phone} reached the SMSC {} times: {sent:?}", sent.len());
        let code = code_in(sent[0]["text"].as_str().unwrap());
        let checked = server.check(phone, &code);
        assert_eq!(checked["status"], "Approved", "{phone}: {checked}");
    }
    // Every acknowledged send is billed, and nothing more than what the SMSC accepted, once each.
    let accepted: usize = attempted
        .iter()
        .filter(|phone| !smsc.messages_to(&phone[1..]).is_empty())
        .count();
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let (status, usage) = server.request(
        "GET",
        &format!("/v3/billing/usage/?month={month}"),
        Some(&server.key),
        None,
    );
    assert_eq!(status, 200, "{usage}");
    let billed = usage["verifications"].as_u64().unwrap() as usize;
    assert!(
        billed >= acknowledged.len() && billed <= accepted,
        "billed {billed}, acknowledged {}, accepted by the SMSC {accepted}",
        acknowledged.len()
    );
    eprintln!(
        "kill -9 under load: {} acknowledged, {accepted} reached the SMSC, {billed} billed, {} attempted",
        acknowledged.len(),
        attempted.len()
    );
}
