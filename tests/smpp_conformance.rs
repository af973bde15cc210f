//! What real SMSCs send, through the real binary over TCP (issue 12, items 1–4): refusals as a
//! bare 16-octet header, receipts as deliver_sm or data_sm with their data in the TLVs, in
//! short_message or in message_payload and the handset spelled any way, and our esm_class
//! (text outside the Basic Multilingual Plane is in `text_outside_bmp.rs`). The npm `smpp`
//! package plays the third-party SMSC; the workspace's simulator plays the forms npm `smpp`
//! cannot send.
mod common;

use common::smsc::{code_in, eventually, metric, smpp_carrier, smpp_carrier_named, NpmSmsc, Smsc};
use common::Server;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn carrier_up(server: &Server, carriers: &[&str]) -> bool {
    let text = server.metrics();
    carriers
        .iter()
        .all(|c| metric(&text, "otpgate_carrier_up", &[("carrier", c)]) == 1.0)
}

fn counter(server: &Server, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric(&server.metrics(), name, labels)
}

/// A simulator in a directory of its own under `dir` (each writes its own log file).
fn simulator(dir: &Path, name: &str, rules: &str, args: &[&str]) -> Smsc {
    let own = dir.join(name);
    std::fs::create_dir_all(&own).unwrap();
    Smsc::with_rules(&own, rules, args)
}

/// Item 1: npm `smpp` refuses `+34600000000` with `00000010 80000004 0000000b <seq>`. One
/// submit_sm, classified at once as permanent, and the next carrier takes the message: the
/// fallback's submit_sm reaches the second SMSC well inside a second of the refusal, where it
/// took 32 s and three submits when the header-only answer went unmatched.
#[test]
fn npm_smpp_refusal_without_a_body_falls_back_at_once_after_one_submit() {
    let dir = tempfile::tempdir().unwrap();
    let mut peer = NpmSmsc::start(&["--refuse", "34600000000:0x0B"]);
    let backup = simulator(dir.path(), "b", "", &[]);
    let carriers = format!(
        "{}{}",
        smpp_carrier_named(
            "smsc-a",
            &format!("127.0.0.1:{}", peer.port),
            "fee_usd = { default = 0.001 }"
        ),
        smpp_carrier_named("smsc-b", &backup.smpp, "fee_usd = { default = 0.002 }"),
    );
    let server = Server::with_config(dir.path(), &carriers);
    assert!(eventually(Duration::from_secs(10), || carrier_up(
        &server,
        &["smsc-a", "smsc-b"]
    )));
    // A first send loads the numbering metadata (about a second in a debug build), which is not
    // what this test measures.
    assert_eq!(server.send("+34600000099")["status"], "Success");

    let started = Instant::now();
    let sent = server.send("+34600000000");
    let took = started.elapsed();
    assert_eq!(
        (sent["status"].as_str(), sent["channel"].as_str()),
        (Some("Success"), Some("sms")),
        "{sent}"
    );
    let submits: Vec<Value> = peer
        .all("submit_sm", Duration::from_millis(300))
        .into_iter()
        .filter(|s| s["destination_addr"] == "34600000000")
        .collect();
    let fallback = backup.messages_to("34600000000");
    assert_eq!(fallback.len(), 1, "{fallback:?}");
    let refused_at = submits[0]["at_ms"].as_u64().unwrap();
    let fallback_at = fallback[0]["received_at_ms"].as_u64().unwrap();
    let gap = Duration::from_millis(fallback_at.saturating_sub(refused_at));
    assert!(
        gap < Duration::from_secs(1),
        "the fallback started {gap:?} after the refusal"
    );
    assert!(
        took < Duration::from_secs(1),
        "refusal → fallback → acceptance took {took:?}"
    );
    assert_eq!(submits.len(), 1, "refused once, never retried: {submits:?}");
    assert_eq!(submits[0]["command_status"], 0x0B);
    assert_eq!(submits[0]["esm_class"], 0, "{}", submits[0]);
    assert_eq!(
        counter(
            &server,
            "otpgate_messages_failed_total",
            &[("carrier", "smsc-a"), ("reason", "invalid_destination")]
        ),
        1.0
    );
    assert_eq!(
        counter(&server, "otpgate_smpp_retries_total", &[("carrier", "smsc-a")]),
        0.0
    );
    let checked = server.check("+34600000000", &code_in(fallback[0]["text"].as_str().unwrap()));
    assert_eq!(checked["status"], "Approved", "{checked}");
}

/// Item 1, more of the kind: a throttle (transient) and ESME_RSUBMITFAIL (permanent), each as
/// a bare header, from the simulator.
#[test]
fn header_only_throttling_backs_off_and_a_header_only_submit_failure_is_final() {
    let dir = tempfile::tempdir().unwrap();
    let smsc = simulator(
        dir.path(),
        "a",
        "[[rules]]\npattern = \"34600000001\"\naction = \"throttle\"\nheader_only = true\ntimes = 1\n\
         [[rules]]\npattern = \"34600000002\"\naction = \"refuse\"\nstatus = 0x45\nheader_only = true\n",
        &[],
    );
    let server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, ""));

    let started = Instant::now();
    let sent = server.send("+34600000001");
    assert_eq!(sent["status"], "Success", "{sent}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "ESME_RTHROTTLED waits ≥ 1 s"
    );
    let actions: Vec<Value> = smsc
        .messages_to("34600000001")
        .iter()
        .map(|m| m["action"].clone())
        .collect();
    assert_eq!(actions, ["throttle", "deliver"]);

    let started = Instant::now();
    let sent = server.send("+34600000002");
    assert_eq!(sent["status"], "Undeliverable", "{sent}");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(smsc.messages_to("34600000002").len(), 1);
    assert_eq!(
        counter(
            &server,
            "otpgate_messages_failed_total",
            &[("carrier", "smsc-a"), ("reason", "submit_failed")]
        ),
        1.0
    );
}

/// Item 1 for bind_transceiver_resp: npm `smpp` refuses a wrong password with a bare header
/// and closes. The refusal is read (ESME_RINVPASWD, permanent), so the bind waits out the
/// long back-off instead of reconnecting at once as after a dropped connection.
#[test]
fn a_bind_refused_with_a_bare_header_is_read_as_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let mut peer = NpmSmsc::start(&[]);
    let config = smpp_carrier(&format!("127.0.0.1:{}", peer.port), "").replace("\"secret\"", "\"wrong\"");
    let server = Server::with_config(dir.path(), &config);
    let bind = peer.wait_for("bind", Duration::from_secs(5));
    assert_eq!(bind["ok"], false, "{bind}");
    assert!(
        eventually(Duration::from_secs(5), || server
            .stderr()
            .contains("refused the bind with command_status 0x0000000E")),
        "{}",
        server.stderr()
    );
    let attempts = peer.all("bind", Duration::from_secs(3)).len();
    assert_eq!(attempts, 0, "no second bind attempt within 3 s of a refusal");
    assert!(!server.stderr().contains("wrong"), "password in the logs");
}

/// Item 2: every receipt form of SMPP 3.4 through the engine, on a carrier whose fallback
/// would fire after 2 s. Each receipt marks its verification delivered, so nothing goes out on
/// the second carrier — a lost receipt used to send the code a second time.
#[test]
fn receipts_in_every_form_count_and_stop_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    // (destination, rule fields): text in short_message with TLVs is the default form.
    let forms = [
        (
            "34600002001",
            "receipt_text = \"message_payload\"\nreceipt_tlvs = false",
        ),
        (
            "34600002002",
            "receipt_tlvs = false\nreceipt_source_addr = { strip = 2, ton = 0, npi = 0 }",
        ),
        (
            "34600002003",
            "receipt_source_addr = { prefix = \"+\", ton = 0, npi = 0 }",
        ),
        (
            "34600002004",
            "receipt_source_addr = { strip = 2, prefix = \"0\", ton = 2, npi = 1 }",
        ),
        ("34600002005", "receipt_pdu = \"data_sm\"\nreceipt_text = \"none\""),
        ("34600002006", "receipt_pdu = \"data_sm\"\nreceipt_tlvs = false"),
        (
            "34600002007",
            "receipt_pdu = \"data_sm\"\nreceipt_source_addr = { strip = 2, ton = 0, npi = 0 }",
        ),
        ("34600002008", "receipt_text = \"none\""),
    ];
    let rules: String = forms
        .iter()
        .map(|(to, fields)| format!("[[rules]]\npattern = \"{to}\"\naction = \"deliver\"\n{fields}\n"))
        .collect();
    let a = simulator(dir.path(), "a", &rules, &[]);
    let b = simulator(dir.path(), "b", "", &[]);
    let carriers = format!(
        "[verification]\nfallback_after_seconds = 2\n{}{}",
        smpp_carrier_named("smsc-a", &a.smpp, "fee_usd = { default = 0.001 }"),
        smpp_carrier_named("smsc-b", &b.smpp, "fee_usd = { default = 0.002 }"),
    );
    let server = Server::with_config(dir.path(), &carriers);
    assert!(eventually(Duration::from_secs(10), || carrier_up(
        &server,
        &["smsc-a", "smsc-b"]
    )));

    for (to, _) in &forms {
        let sent = server.send(&format!("+{to}"));
        assert_eq!(sent["status"], "Success", "{to}: {sent}");
    }
    let delivered = || counter(&server, "otpgate_messages_delivered_total", &[("carrier", "smsc-a")]);
    assert!(
        eventually(Duration::from_secs(5), || delivered() == forms.len() as f64),
        "{} of {} receipts counted",
        delivered(),
        forms.len()
    );
    // Past fallback_after_seconds: a receipt that was not applied would have moved on by now.
    std::thread::sleep(Duration::from_millis(2500));
    for (to, _) in &forms {
        assert_eq!(b.messages_to(to).len(), 0, "{to}: sent again although delivered");
        let text = a.messages_to(to)[0]["text"].as_str().unwrap().to_owned();
        let checked = server.check(&format!("+{to}"), &code_in(&text));
        assert_eq!(checked["phone"]["verification_method"], "sms", "{to}: {checked}");
    }
    let stats = a.stats();
    assert_eq!(
        (stats["data_sm_resp"].as_u64(), stats["deliver_sm_resp"].as_u64()),
        (Some(3), Some(5))
    );
    assert_eq!(stats["receipt_resp_error"], 0, "every receipt answered OK: {stats}");
    assert_eq!(stats["generic_nack"], 0, "{stats}");
}

/// Item 2 against the third-party SMSC: npm `smpp` sends its receipt as a data_sm (text in
/// message_payload, TLVs), then as a deliver_sm with the text in message_payload only.
#[test]
fn npm_smpp_receipts_as_data_sm_and_in_message_payload_are_applied() {
    for (args, answer) in [
        (&["--receipt-pdu", "data_sm"][..], "data_sm_resp"),
        (
            &["--receipt-text", "message_payload", "--no-receipt-tlvs"][..],
            "deliver_sm_resp",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut peer = NpmSmsc::start(args);
        let server = Server::with_config(dir.path(), &smpp_carrier(&format!("127.0.0.1:{}", peer.port), ""));
        assert_eq!(peer.wait_for("bind", Duration::from_secs(5))["ok"], true);
        let sent = server.send("+34600002002");
        assert_eq!(sent["status"], "Success", "{args:?}: {sent}");
        let submit = peer.wait_for("submit_sm", Duration::from_secs(5));
        let ack = peer.wait_for(answer, Duration::from_secs(5));
        assert_eq!(ack["command_status"], 0, "{args:?}: {ack}");
        assert!(
            eventually(Duration::from_secs(5), || counter(
                &server,
                "otpgate_messages_delivered_total",
                &[("carrier", "smsc-a")]
            ) == 1.0),
            "{args:?}: receipt not applied"
        );
        let checked = server.check("+34600002002", &code_in(submit["text"].as_str().unwrap()));
        assert_eq!(checked["phone"]["verification_method"], "sms", "{args:?}: {checked}");
        assert!(peer.all("unsupported", Duration::ZERO).is_empty());
    }
}
