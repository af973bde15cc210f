//! The process as an operator sees it: first start on embedded defaults, crash recovery,
//! graceful drain, and the config checker.
mod common;

use common::{write_config, Server, BIN};
use std::process::Command;

/// The README's serve command in an empty directory: no config, port 8080, data under ./data.
#[test]
fn fresh_start_on_embedded_defaults_sends_and_approves() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["serve"], None);
    assert_eq!(s.base, "http://127.0.0.1:8080");
    assert!(s.key.starts_with("otpg_"));
    assert!(dir.path().join("data/otpgate.db").exists(), "store under ./data");

    let phone = "+12025550123";
    let sent = s.send(phone);
    assert_eq!(sent["status"], "Success");
    assert_eq!(sent["channel"], "sms");
    let code = s.latest_code(phone);
    assert_eq!(code.len(), 6);

    let checked = s.check(phone, &code);
    assert_eq!(checked["status"], "Approved");
    assert_eq!(checked["request_id"], sent["request_id"]);
    let phone_report = &checked["phone"];
    assert_eq!(phone_report["status"], "Approved");
    assert_eq!(phone_report["phone_number_prefix"], "+1");
    assert_eq!(phone_report["phone_number"], "2025550123");
    assert_eq!(phone_report["full_number"], phone);
    assert_eq!(phone_report["country_code"], "US");
    assert_eq!(phone_report["verification_method"], "sms");
    assert_eq!(phone_report["verification_attempts"], 1);
    let verified_at = phone_report["verified_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(verified_at).is_ok(),
        "{verified_at}"
    );
    let kinds: Vec<_> = phone_report["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "PHONE_VERIFICATION_MESSAGE_SENT",
            "PHONE_DELIVERY_DELIVERED",
            "VALID_CODE_ENTERED",
            "PHONE_VERIFICATION_APPROVED"
        ]
    );
    // The key is printed once: a second start on the same data prints none.
    drop(s);
    let again = Server::start(dir.path(), &["serve"], Some("known"));
    assert_eq!(again.key, "known");
}

#[test]
fn a_pending_code_survives_kill_9_and_a_used_code_stays_used() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::with_config(dir.path(), "");
    let (pending, used) = ("+13105550121", "+13105550122");
    s.send(pending);
    s.send(used);
    let pending_code = s.latest_code(pending);
    let used_code = s.latest_code(used);
    assert_eq!(s.check(used, &used_code)["status"], "Approved");
    s.send(pending); // a resend right before the crash counts against the limit after it

    let s = s.restart_after_kill();
    assert_eq!(
        s.check(used, &used_code)["status"],
        "Expired or Not Found",
        "a used code stays used"
    );
    let approved = s.check(pending, &pending_code);
    assert_eq!(approved["status"], "Approved", "{approved}");
    // Two sends of three were used before the crash: one more is allowed, then Blocked.
    assert_eq!(s.send(pending)["status"], "Success");
    assert_eq!(s.send(pending)["status"], "Blocked");
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::with_config(dir.path(), "");
    s.send("+13105550123");
    let pid = s.child.id() as i32;
    // kill(2) on the pid of a child we own; std has no portable SIGTERM. (src/ forbids unsafe.)
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = s.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}\n{}", s.stderr());
    assert!(s.stderr().contains("store flushed"), "{}", s.stderr());
}

#[test]
fn check_config_names_the_bad_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(dir.path(), "[verification]\ncode_length = 8\n");
    let out = Command::new(BIN)
        .args(["check-config", "--config", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[verification]\ncode_lenght = 6\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("code_lenght") && stderr.contains("line 5"), "{stderr}");

    // OTPGATE_CONFIG is read when --config is absent; invalid values are listed together.
    std::fs::write(&bad, "[verification]\ncode_length = 12\nmax_code_attempts = 0\n").unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .env("OTPGATE_CONFIG", &bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("verification.code_length") && stderr.contains("verification.max_code_attempts"),
        "{stderr}"
    );

    // serve refuses a bad config the same way, before binding anything.
    let out = Command::new(BIN)
        .args(["serve", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
