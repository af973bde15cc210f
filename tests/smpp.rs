//! SMS over SMPP, end to end: the real otpgate binary bound to a real SMSC over TCP — the
//! workspace's simulator (scripted per destination), and the npm `smpp` package as a
//! third-party SMSC.
mod common;

use common::smsc::{code_in, eventually, metric, smpp_carrier, NpmSmsc, Smsc};
use common::Server;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn lifecycle_types(report: &Value) -> Vec<String> {
    report["phone"]["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

fn delivered(server: &Server) -> f64 {
    metric(
        &server.metrics(),
        "otpgate_messages_delivered_total",
        &[("carrier", "smsc-a")],
    )
}

#[test]
fn an_otp_goes_out_in_gsm_and_its_receipt_marks_it_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let smsc = Smsc::start(dir.path(), &[]);
    let server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, ""));

    let sent = server.send("+14155552671");
    assert_eq!(
        (sent["status"].as_str(), sent["channel"].as_str()),
        (Some("Success"), Some("sms")),
        "{sent}"
    );

    let messages = smsc.messages_to("14155552671");
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m["data_coding"], 0, "GSM 03.38 default alphabet");
    assert_eq!(m["esm_class"], 0, "default mode and type, no UDH");
    assert_eq!(
        (m["source_addr"].as_str(), m["source_addr_ton"].as_u64()),
        (Some("OTPGATE"), Some(5))
    );
    assert_eq!(
        (m["dest_addr_ton"].as_u64(), m["dest_addr_npi"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(m["registered_delivery"].as_u64().unwrap() & 3, 1, "receipt requested");
    let text = m["text"].as_str().unwrap();
    assert!(text.starts_with("Your default verification code is "), "{text}");

    assert!(
        eventually(Duration::from_secs(5), || delivered(&server) >= 1.0),
        "receipt never counted"
    );
    let checked = server.check("+14155552671", &code_in(text));
    assert_eq!(checked["status"], "Approved", "{checked}");
    assert_eq!(checked["phone"]["verification_method"], "sms");
    let types = lifecycle_types(&checked);
    assert!(
        types.contains(&"PHONE_VERIFICATION_MESSAGE_SENT".to_owned()),
        "{types:?}"
    );
    let receipt = checked["phone"]["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "PHONE_DELIVERY_DELIVERED")
        .unwrap_or_else(|| panic!("no delivery entry: {types:?}"));
    assert_eq!(
        (
            receipt["details"]["carrier"].as_str(),
            receipt["details"]["status"].as_str()
        ),
        (Some("smsc-a"), Some("DELIVRD"))
    );
}

#[test]
fn arabic_goes_out_as_ucs2_and_a_hex_receipt_id_still_matches() {
    let dir = tempfile::tempdir().unwrap();
    // Decimal ids in submit_sm_resp, hex ids in the receipt text, no TLVs: the engine has to
    // match across the two spellings.
    let smsc = Smsc::start(dir.path(), &["--receipt-text-id", "hex", "--no-receipt-tlvs"]);
    let server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, ""));
    // Move the id counter past 9 so hex and decimal spellings differ.
    for n in 0..11 {
        server.send(&format!("+1415555{:04}", 2700 + n));
    }
    let (status, sent) = server.post(
        "/v3/phone/send/",
        &json!({ "phone_number": "+971501234567", "options": { "locale": "ar" } }),
    );
    assert_eq!((status, sent["status"].as_str()), (200, Some("Success")), "{sent}");
    let m = &smsc.messages_to("971501234567")[0];
    assert_eq!(m["data_coding"], 8, "UCS2");
    let text = m["text"].as_str().unwrap();
    assert!(text.starts_with("رمز التحقق"), "{text}");
    assert!(
        eventually(Duration::from_secs(5), || delivered(&server) >= 12.0),
        "receipts not all matched"
    );
    let checked = server.check("+971501234567", &code_in(text));
    assert_eq!(checked["phone"]["verification_method"], "sms", "{checked}");
}

#[test]
fn an_undeliv_receipt_is_recorded_as_a_failed_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let smsc = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"1415555\"\naction = \"undeliver\"\n",
        &[],
    );
    let server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, ""));
    server.send("+14155552671");
    let failed = || {
        metric(
            &server.metrics(),
            "otpgate_messages_failed_total",
            &[("carrier", "smsc-a"), ("reason", "undeliv")],
        )
    };
    assert!(
        eventually(Duration::from_secs(5), || failed() >= 1.0),
        "UNDELIV not counted"
    );
    let text = smsc.messages_to("14155552671")[0]["text"].as_str().unwrap().to_owned();
    let checked = server.check("+14155552671", &code_in(&text));
    assert!(
        lifecycle_types(&checked).contains(&"PHONE_DELIVERY_FAILED".to_owned()),
        "{checked}"
    );
    // The right code came back all the same: an Approved report names the channel that carried it.
    assert_eq!(checked["phone"]["verification_method"], "sms");
}

#[test]
fn a_refused_destination_is_undeliverable_and_sends_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let smsc = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"1415555\"\naction = \"refuse\"\nstatus = 11\n",
        &[],
    );
    let server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, ""));
    let sent = server.send("+14155552671");
    assert_eq!(sent["status"], "Undeliverable", "{sent}");
    // Permanent: no retry on the same carrier.
    assert_eq!(smsc.messages_to("14155552671").len(), 1);
    let failed = metric(
        &server.metrics(),
        "otpgate_messages_failed_total",
        &[("carrier", "smsc-a"), ("reason", "invalid_destination")],
    );
    assert_eq!(failed, 1.0);
}

#[test]
fn a_throttled_submit_backs_off_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let smsc = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"1415555\"\naction = \"throttle\"\ntimes = 2\n",
        &[],
    );
    let server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, ""));
    let started = Instant::now();
    let sent = server.send("+14155552671");
    assert_eq!(sent["status"], "Success", "{sent}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "two throttles need two ≥1 s back-offs"
    );
    let actions: Vec<_> = smsc
        .messages_to("14155552671")
        .iter()
        .map(|m| m["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["throttle", "throttle", "deliver"]);
}

#[test]
fn a_dropped_connection_with_a_full_window_loses_nothing_and_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    // The first 4 submits are held unanswered; with 4 held the SMSC drops the connection.
    let smsc = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"1415555\"\naction = \"hold_then_drop\"\npending = 4\ntimes = 4\n",
        &[],
    );
    let server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, "window = 4"));
    let phones: Vec<String> = (0..4).map(|n| format!("+1415555{:04}", 2671 + n)).collect();
    let answers: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = phones.iter().map(|p| s.spawn(|| server.send(p))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (phone, answer) in phones.iter().zip(&answers) {
        assert_eq!(answer["status"], "Success", "{phone}: {answer}");
        let records = smsc.messages_to(&phone[1..]);
        let acknowledged = records.iter().filter(|m| m["action"] == "deliver").count();
        assert_eq!(
            acknowledged, 1,
            "{phone} acknowledged {acknowledged} times: {records:?}"
        );
        assert_eq!(records.len(), 2, "held once, retried once: {records:?}");
    }
    let metrics = server.metrics();
    assert!(metric(&metrics, "otpgate_smpp_reconnects_total", &[("carrier", "smsc-a")]) >= 1.0);
    assert_eq!(
        metric(&metrics, "otpgate_messages_sent_total", &[("carrier", "smsc-a")]),
        4.0
    );
    assert_eq!(
        metric(&metrics, "otpgate_smpp_window_in_use", &[("carrier", "smsc-a")]),
        0.0
    );
}

#[test]
fn a_silent_smsc_releases_the_window_and_the_carrier_goes_down() {
    let dir = tempfile::tempdir().unwrap();
    let smsc = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"1415555\"\naction = \"silent\"\n",
        &[],
    );
    let server = Server::with_config(
        dir.path(),
        &smpp_carrier(&smsc.smpp, "window = 3\nresponse_timeout_seconds = 1"),
    );
    let up = |s: &Server| metric(&s.metrics(), "otpgate_carrier_up", &[("carrier", "smsc-a")]);
    assert_eq!(up(&server), 1.0);
    let mut saw_down = false;
    let answers: Vec<Value> = std::thread::scope(|s| {
        let sends: Vec<_> = (0..3)
            .map(|n| {
                let server = &server;
                s.spawn(move || {
                    server
                        .post(
                            "/v3/phone/send/",
                            &json!({ "phone_number": format!("+1415555{:04}", 2671 + n) }),
                        )
                        .1
                })
            })
            .collect();
        while !sends.iter().all(|h| h.is_finished()) {
            saw_down |= up(&server) == 0.0;
            std::thread::sleep(Duration::from_millis(20));
        }
        sends.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(saw_down, "carrier never reported down while the SMSC was silent");
    for answer in &answers {
        assert!(
            answer["status"] == "Undeliverable" || answer["code"] == "phone_provider_unavailable",
            "{answer}"
        );
    }
    assert!(server.stderr().contains("SMSC stopped answering"));
    assert_eq!(
        metric(
            &server.metrics(),
            "otpgate_smpp_window_in_use",
            &[("carrier", "smsc-a")]
        ),
        0.0
    );
}

#[test]
fn wrong_credentials_keep_the_carrier_down_without_a_rebind_storm() {
    let dir = tempfile::tempdir().unwrap();
    let smsc = Smsc::start(dir.path(), &["--password", "other"]);
    let server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, ""));
    let (status, body) = server.request("GET", "/readyz", None, None);
    assert_eq!(status, 503, "{body}");
    let (status, body) = server.post("/v3/phone/send/", &json!({ "phone_number": "+14155552671" }));
    assert_eq!(
        (status, body["code"].as_str()),
        (502, Some("phone_provider_unavailable")),
        "{body}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let attempts = smsc.stat("binds_failed");
    assert!(
        (1..=2).contains(&attempts),
        "{attempts} bind attempts in ~5 s: a refused bind must back off"
    );
    assert!(!server.stderr().contains("secret"), "password in the logs");
    // Shutting down does not wait out the reconnect back-off of a bind that never came up.
    let mut server = server;
    sigterm(server.child.id());
    assert!(
        eventually(Duration::from_secs(5), || server.child.try_wait().unwrap().is_some()),
        "SIGTERM took longer than 5 s with the carrier down"
    );
}

#[test]
fn sigterm_unbinds_from_the_smsc() {
    let dir = tempfile::tempdir().unwrap();
    let smsc = Smsc::start(dir.path(), &[]);
    let mut server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, "binds = 2"));
    assert!(eventually(Duration::from_secs(5), || smsc.stat("binds_ok") == 2));
    server.send("+14155552671");
    sigterm(server.child.id());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}: {}", server.stderr());
    assert!(
        eventually(Duration::from_secs(2), || smsc.stat("unbind") == 2),
        "each bind unbinds: {}",
        smsc.stats()
    );
}

fn sigterm(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// Third-party peer: the npm `smpp` package as the SMSC. It records the submit_sm and sends
/// its own receipt, which has to reach the engine.
#[test]
fn the_npm_smpp_smsc_takes_our_submit_and_its_receipt_reaches_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let mut peer = NpmSmsc::start(&["--receipt-delay-ms", "100"]);
    let server = Server::with_config(dir.path(), &smpp_carrier(&format!("127.0.0.1:{}", peer.port), ""));
    let bind = peer.wait_for("bind", Duration::from_secs(5));
    assert_eq!(bind["ok"], true, "{bind}");

    let sent = server.send("+14155552671");
    assert_eq!(sent["status"], "Success", "{sent}");
    let submit = peer.wait_for("submit_sm", Duration::from_secs(5));
    assert_eq!(submit["destination_addr"], "14155552671", "{submit}");
    assert_eq!(
        (submit["dest_addr_ton"].as_u64(), submit["dest_addr_npi"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(submit["data_coding"], 0);
    assert_eq!(
        submit["esm_class"], 0,
        "default mode and type (0x08 would ask for an ESME ack)"
    );
    let text = submit["text"].as_str().unwrap();
    assert!(text.starts_with("Your default verification code is"), "{submit}");

    let ack = peer.wait_for("deliver_sm_resp", Duration::from_secs(5));
    assert_eq!(ack["command_status"], 0, "{ack}");
    assert!(
        eventually(Duration::from_secs(5), || delivered(&server) >= 1.0),
        "peer's receipt not matched"
    );
    let checked = server.check("+14155552671", &code_in(text));
    assert_eq!(
        (
            checked["status"].as_str(),
            checked["phone"]["verification_method"].as_str()
        ),
        (Some("Approved"), Some("sms"))
    );
}
