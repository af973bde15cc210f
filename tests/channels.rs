//! WhatsApp, Telegram, Viber, RCS and voice through the engine, against the platform fakes
//! shipped in their gateway crates (real HTTP both ways: the engine calls the fake, the fake
//! calls the engine's signed webhook endpoint back), and channel fallback from SMS.
mod common;

use common::platforms::{engine, free_port, Fake};
use common::smsc::{eventually, metric, smpp_carrier, Smsc};
use common::Server;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const WA_TOKEN: &str = "wa-access-token";
const WA_SECRET: &str = "wa-app-secret";
const TG_TOKEN: &str = "tg-gateway-token";

fn whatsapp_carrier(base_url: &str) -> String {
    format!(
        "[[carriers]]\nname = \"wa\"\nprotocol = \"whatsapp\"\nbase_url = \"{base_url}\"\nphone_number_id = \"1234\"\n\
         access_token = \"{WA_TOKEN}\"\napp_secret = \"{WA_SECRET}\"\ntemplate = \"otp_code\"\nlanguage = \"en_US\"\n\
         verify_token = \"meta-verify\"\n"
    )
}

fn whatsapp_fake(port: u16, rules: &str, dir: &Path) -> Fake {
    let webhook = format!("http://127.0.0.1:{port}/v3/channels/wa/webhook/");
    let rules_path = dir.join("wa-rules.toml");
    std::fs::write(&rules_path, rules).unwrap();
    Fake::start(
        "otpgate-fake-whatsapp",
        &[
            "--token",
            WA_TOKEN,
            "--secret",
            WA_SECRET,
            "--callback-url",
            &webhook,
            "--rules",
            rules_path.to_str().unwrap(),
        ],
    )
}

fn delivered(server: &Server, carrier: &str) -> f64 {
    metric(
        &server.metrics(),
        "otpgate_messages_delivered_total",
        &[("carrier", carrier)],
    )
}

#[test]
fn brazil_goes_whatsapp_first_and_the_signed_status_webhook_marks_it_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let fake = whatsapp_fake(
        port,
        "[[rules]]\nprefix = \"55\"\naction = \"deliver\"\nevents = [\"read\", \"delivered\"]\n",
        dir.path(),
    );
    let server = engine(dir.path(), port, &whatsapp_carrier(&fake.url));

    let sent = server.send("+5511987654321");
    assert_eq!(
        (sent["status"].as_str(), sent["channel"].as_str()),
        (Some("Success"), Some("whatsapp")),
        "{sent}"
    );
    let messages = fake.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let code = messages[0]["body_code"].as_str().unwrap().to_owned();
    assert_eq!(
        messages[0]["button_code"],
        code.as_str(),
        "the URL button carries the code too"
    );

    assert!(
        eventually(Duration::from_secs(5), || delivered(&server, "wa") == 1.0),
        "webhook not applied once"
    );
    let checked = server.check("+5511987654321", &code);
    assert_eq!(checked["status"], "Approved", "{checked}");
    assert_eq!(checked["phone"]["verification_method"], "whatsapp");
}

#[test]
fn a_forged_webhook_is_refused_with_401_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // `fail` would send a failed status: it must not arrive through a forged request.
    let fake = whatsapp_fake(port, "", dir.path());
    let server = engine(dir.path(), port, &whatsapp_carrier(&fake.url));
    let before = delivered(&server, "wa");
    let body = json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"statuses": [
        {"id": "wamid.forged", "status": "delivered", "recipient_id": "5511987654321"}]}}]}]})
    .to_string();
    for signature in [None, Some("sha256=00"), Some("sha256=deadbeef")] {
        let mut req = ureq::post(&format!("{}/v3/channels/wa/webhook/", server.base));
        if let Some(s) = signature {
            req = req.set("x-hub-signature-256", s);
        }
        match req.send_string(&body) {
            Err(ureq::Error::Status(401, r)) => {
                let err: Value = r.into_json().unwrap();
                assert_eq!(err["code"], "invalid_signature", "{err}");
            }
            other => panic!("forged webhook not refused: {other:?}"),
        }
    }
    let metrics = server.metrics();
    assert_eq!(
        metric(&metrics, "otpgate_webhooks_rejected_total", &[("carrier", "wa")]),
        3.0
    );
    assert_eq!(delivered(&server, "wa"), before);
    let (status, _) = server.request("POST", "/v3/channels/nope/webhook/", None, Some("{}"));
    assert_eq!(status, 404);

    // Meta's registration check: the challenge comes back only with the right verify token.
    let path = "/v3/channels/wa/webhook/?hub.mode=subscribe&hub.challenge=1158201444";
    let (status, body) = server.request("GET", &format!("{path}&hub.verify_token=meta-verify"), None, None);
    assert_eq!((status, body), (200, Value::from(1158201444)));
    let (status, body) = server.request("GET", &format!("{path}&hub.verify_token=guess"), None, None);
    assert_eq!((status, body["code"].as_str()), (403, Some("invalid_verify_token")));
}

#[test]
fn sms_refused_falls_back_to_whatsapp_and_the_report_says_whatsapp() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smsc = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"1415\"\naction = \"refuse\"\nstatus = 11\n",
        &[],
    );
    let fake = whatsapp_fake(port, "", dir.path());
    let carriers = format!("{}{}", whatsapp_carrier(&fake.url), smpp_carrier(&smsc.smpp, ""));
    let server = engine(dir.path(), port, &carriers);
    // US: SMS first by default; the SMSC refuses the destination.
    let sent = server.send("+14155552671");
    assert_eq!(sent["channel"], "whatsapp", "{sent}");
    assert_eq!(smsc.messages_to("14155552671").len(), 1, "SMS was tried first");
    let code = fake.messages()[0]["body_code"].as_str().unwrap().to_owned();
    assert!(eventually(Duration::from_secs(5), || delivered(&server, "wa") == 1.0));
    let checked = server.check("+14155552671", &code);
    assert_eq!(checked["phone"]["verification_method"], "whatsapp", "{checked}");
    let metrics = server.metrics();
    assert_eq!(
        metric(
            &metrics,
            "otpgate_fallbacks_total",
            &[("from", "sms"), ("to", "whatsapp")]
        ),
        1.0
    );
}

/// The lifecycle entries of `kind` in a report.
fn entries<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

#[test]
fn sms_refused_then_whatsapp_accepted_without_any_status_reports_whatsapp() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smsc = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"1415\"\naction = \"refuse\"\nstatus = 11\n",
        &[],
    );
    // The platform accepts and never calls back: no receipt confirms the channel.
    let fake = whatsapp_fake(
        port,
        "[[rules]]\nprefix = \"1\"\naction = \"deliver\"\nevents = []\n",
        dir.path(),
    );
    let carriers = format!("{}{}", whatsapp_carrier(&fake.url), smpp_carrier(&smsc.smpp, ""));
    let server = engine(dir.path(), port, &carriers);
    let sent = server.send("+14155552671");
    assert_eq!(sent["channel"], "whatsapp", "{sent}");
    let code = fake.messages()[0]["body_code"].as_str().unwrap().to_owned();
    let checked = server.check("+14155552671", &code);
    assert_eq!(checked["status"], "Approved", "{checked}");
    let report = &checked["phone"];
    assert_eq!(report["verification_method"], "whatsapp", "{checked}");
    assert!(
        entries(report, "PHONE_DELIVERY_DELIVERED").is_empty(),
        "no receipt came: {report}"
    );
    assert_eq!(delivered(&server, "wa"), 0.0);
}

#[test]
fn an_sms_accepted_without_a_receipt_yet_reports_sms() {
    let dir = tempfile::tempdir().unwrap();
    // `accept`: ESME_ROK and never a receipt; SMS is the only channel.
    let smsc = Smsc::with_rules(dir.path(), "[[rules]]\npattern = \"34\"\naction = \"accept\"\n", &[]);
    let server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, ""));
    let sent = server.send("+34600002002");
    assert_eq!(
        (&sent["status"], &sent["channel"]),
        (&json!("Success"), &json!("sms")),
        "{sent}"
    );
    let text = smsc.messages_to("34600002002")[0]["text"].as_str().unwrap().to_owned();
    let checked = server.check("+34600002002", text.rsplit(' ').next().unwrap());
    assert_eq!(checked["status"], "Approved", "{checked}");
    let report = &checked["phone"];
    assert_eq!(report["verification_method"], "sms", "{checked}");
    assert!(
        entries(report, "PHONE_DELIVERY_DELIVERED").is_empty(),
        "no receipt came: {report}"
    );
    assert_eq!(entries(report, "PHONE_VERIFICATION_MESSAGE_SENT").len(), 1, "{report}");
}

#[test]
fn telegram_pinned_by_the_request_delivers_through_a_signed_report() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let fake = Fake::start("otpgate-fake-telegram", &["--token", TG_TOKEN]);
    let carrier = format!(
        "[[carriers]]\nname = \"tg\"\nprotocol = \"telegram\"\nbase_url = \"{}\"\ntoken = \"{TG_TOKEN}\"\n",
        fake.url
    );
    let server = engine(dir.path(), port, &carrier);
    let (status, sent) = server.post(
        "/v3/phone/send/",
        &json!({ "phone_number": "+447911123456", "channel": "TELEGRAM" }),
    );
    assert_eq!((status, sent["channel"].as_str()), (200, Some("telegram")), "{sent}");
    let messages = fake.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let code = messages[0]["code"].as_str().unwrap().to_owned();
    assert!(
        eventually(Duration::from_secs(5), || delivered(&server, "tg") == 1.0),
        "report not applied"
    );
    let checked = server.check("+447911123456", &code);
    assert_eq!(checked["phone"]["verification_method"], "telegram", "{checked}");
    // A report signed with the wrong key is refused.
    let (status, body) = server.request("POST", "/v3/channels/tg/webhook/", None, Some("{}"));
    assert_eq!(status, 401, "{body}");
}

#[test]
fn when_every_channel_refuses_the_send_is_undeliverable_and_nothing_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smsc = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"1415\"\naction = \"refuse\"\nstatus = 11\n",
        &[],
    );
    let fake = whatsapp_fake(
        port,
        "[[rules]]\nprefix = \"1415\"\naction = \"refuse\"\nerror = 131026\n",
        dir.path(),
    );
    let carriers = format!("{}{}", whatsapp_carrier(&fake.url), smpp_carrier(&smsc.smpp, ""));
    let server = engine(dir.path(), port, &carriers);
    let sent = server.send("+14155552671");
    assert_eq!(
        (sent["status"].as_str(), &sent["channel"]),
        (Some("Undeliverable"), &Value::Null),
        "{sent}"
    );
    assert_eq!(smsc.messages_to("14155552671").len(), 1);
    let metrics = server.metrics();
    assert_eq!(
        metric(&metrics, "otpgate_messages_sent_total", &[]),
        0.0,
        "nothing was sent"
    );
    assert_eq!(
        metric(&metrics, "otpgate_verifications_total", &[("status", "undeliverable")]),
        1.0
    );
    // Nothing is pending: any code is "Expired or Not Found".
    let checked = server.check("+14155552671", "123456");
    assert_eq!(checked["status"], "Expired or Not Found", "{checked}");
}

#[test]
fn viber_pinned_by_the_request_delivers_through_a_signed_callback() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/v3/channels/vb/webhook/");
    let fake = Fake::start(
        "otpgate-fake-viber",
        &["--token", "vb-token", "--callback-url", &callback],
    );
    let carrier = format!(
        "[[carriers]]\nname = \"vb\"\nprotocol = \"viber\"\nbase_url = \"{}\"\ntoken = \"vb-token\"\n",
        fake.url
    );
    let server = engine(dir.path(), port, &carrier);
    let (status, sent) = server.post(
        "/v3/phone/send/",
        &json!({ "phone_number": "+447911123456", "options": { "preferred_channel": "VIBER" } }),
    );
    assert_eq!((status, sent["channel"].as_str()), (200, Some("viber")), "{sent}");
    let code = fake.messages()[0]["template"]["parameters"]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        eventually(Duration::from_secs(5), || delivered(&server, "vb") == 1.0),
        "callback not applied"
    );
    let checked = server.check("+447911123456", &code);
    assert_eq!(checked["phone"]["verification_method"], "viber", "{checked}");
    let (status, body) = server.request("POST", "/v3/channels/vb/webhook/", None, Some("{}"));
    assert_eq!(status, 401, "{body}");
}

#[test]
fn a_number_without_rcs_falls_back_to_sms_and_an_rcs_capable_one_gets_rcs() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/v3/channels/rbm/webhook/");
    let rules = dir.path().join("rcs-rules.toml");
    std::fs::write(
        &rules,
        "[[rules]]\nprefix = \"4479111\"\naction = \"refuse\"\nstatus = 404\n",
    )
    .unwrap();
    let fake = Fake::start(
        "otpgate-fake-rcs",
        &[
            "--token",
            "rbm-token",
            "--secret",
            "rbm-client-token",
            "--callback-url",
            &callback,
            "--rules",
            rules.to_str().unwrap(),
        ],
    );
    let smsc = Smsc::start(dir.path(), &[]);
    let carriers = format!(
        "[routing]\n\"*\" = [\"rcs\", \"sms\"]\n\
         [[carriers]]\nname = \"rbm\"\nprotocol = \"rcs\"\nbase_url = \"{}\"\nagent_id = \"otp-agent\"\n\
         token = \"rbm-token\"\nwebhook_token = \"rbm-client-token\"\n{}",
        fake.url,
        smpp_carrier(&smsc.smpp, "")
    );
    let server = engine(dir.path(), port, &carriers);

    let sent = server.send("+447911123456");
    assert_eq!(sent["channel"], "sms", "404 from RBM means not RCS-capable: {sent}");
    assert_eq!(smsc.messages_to("447911123456").len(), 1);

    let sent = server.send("+447922123456");
    assert_eq!(sent["channel"], "rcs", "{sent}");
    let text = fake.messages()[0]["text"].as_str().unwrap().to_owned();
    assert!(
        eventually(Duration::from_secs(5), || delivered(&server, "rbm") == 1.0),
        "RBM event not applied"
    );
    let checked = server.check("+447922123456", text.rsplit(' ').next().unwrap());
    assert_eq!(checked["phone"]["verification_method"], "rcs", "{checked}");
    let (status, body) = server.request("POST", "/v3/channels/rbm/webhook/", None, Some("{}"));
    assert_eq!(status, 401, "an unsigned RBM event must be refused: {body}");
}

#[test]
fn an_sms_undeliv_receipt_moves_the_same_code_to_whatsapp() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smsc = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"1415\"\naction = \"undeliver\"\n",
        &[],
    );
    let fake = whatsapp_fake(port, "", dir.path());
    let carriers = format!("{}{}", whatsapp_carrier(&fake.url), smpp_carrier(&smsc.smpp, ""));
    let server = engine(dir.path(), port, &carriers);
    let sent = server.send("+14155552671");
    assert_eq!(sent["channel"], "sms", "SMS first in the US: {sent}");
    assert!(
        eventually(Duration::from_secs(5), || fake.messages().len() == 1),
        "no WhatsApp message after UNDELIV"
    );
    let sms_text = smsc.messages_to("14155552671")[0]["text"].as_str().unwrap().to_owned();
    let code = fake.messages()[0]["body_code"].as_str().unwrap().to_owned();
    assert!(
        sms_text.ends_with(&code),
        "the fallback reuses the code: {sms_text} vs {code}"
    );
    assert!(eventually(Duration::from_secs(5), || delivered(&server, "wa") == 1.0));
    let checked = server.check("+14155552671", &code);
    assert_eq!(checked["phone"]["verification_method"], "whatsapp", "{checked}");
    // SMS then WhatsApp carried it: one verification charged, at the SMS acceptance.
    let (_, usage) = server.request("GET", "/v3/billing/usage/", Some(&server.key), None);
    assert_eq!(usage["verifications"], 1, "{usage}");
    assert_eq!(usage["by_channel"][0]["channel"], "sms", "{usage}");
    let charged: Vec<&Value> = checked["phone"]["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["fee"].is_null())
        .collect();
    assert_eq!(charged.len(), 1, "{checked}");
    let metrics = server.metrics();
    assert_eq!(
        metric(
            &metrics,
            "otpgate_fallbacks_total",
            &[("from", "sms"), ("to", "whatsapp")]
        ),
        1.0
    );
}

/// The audio of the one call the callee recorded in `dir`, once the call has ended.
fn recorded_call(dir: &Path) -> Option<(Value, Vec<i16>)> {
    let json = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))?;
    let report: Value = serde_json::from_slice(&std::fs::read(&json).ok()?).ok()?;
    let wav = std::fs::read(json.with_extension("wav")).ok()?;
    let samples = wav[44..].chunks(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    Some((report, samples))
}

/// A call pinned by the request to a voice carrier at the SIP callee simulator (run with
/// `callee_args`; `carrier_keys` are added to its `[[carriers]]` entry), in Spanish. Returns the
/// engine, the callee's call report and the code read back from what the callee heard.
fn spoken_call(dir: &Path, callee_args: &[&str], carrier_keys: &str) -> (Server, Value, String) {
    let port = free_port();
    let record = dir.join("calls");
    std::fs::create_dir(&record).unwrap();
    let args = [&["--record-dir", record.to_str().unwrap()], callee_args].concat();
    let callee = Fake::start_ready("otpgate-sip-callee", &args, "sip=");
    let carrier = format!(
        "[[carriers]]\nname = \"voice\"\nprotocol = \"sip\"\naddress = \"{}\"\nfrom = \"sip:otp@otpgate.invalid\"\n{carrier_keys}\n",
        callee.url
    );
    let server = engine(dir, port, &carrier);
    let (status, sent) = server.post(
        "/v3/phone/send/",
        &json!({ "phone_number": "+447911123456", "channel": "CALL", "options": { "locale": "es-ES" } }),
    );
    // The send answers once the callee picked up; the prompt plays on.
    assert_eq!((status, sent["channel"].as_str()), (200, Some("call")), "{sent}");
    assert_eq!(sent["status"], "Success", "{sent}");
    assert!(
        eventually(Duration::from_secs(40), || delivered(&server, "voice") == 1.0),
        "the played prompt was never reported delivered"
    );
    let (report, samples) = recorded_call(&record).expect("the callee recorded the call");
    assert_eq!(report["sequence_gaps"], 0, "{report}");
    assert_eq!(report["bye_received"], true, "{report}");
    // What the phone heard, read back word by word, is a code the engine accepts.
    let code = otpgate_sip::prompt::read_back(&samples, otpgate_sip::prompt::Language::Spanish)
        .expect("the recording is the Spanish prompt of a code, said twice");
    (server, report, code)
}

#[test]
fn a_call_pinned_by_the_request_speaks_the_code_that_then_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, code) = spoken_call(dir.path(), &["--mode", "answer"], "");
    let checked = server.check("+447911123456", &code);
    assert_eq!(checked["status"], "Approved", "{checked}");
    assert_eq!(checked["phone"]["verification_method"], "call", "{checked}");

    let metrics = server.metrics();
    for name in [
        "otpgate_calls_placed_total",
        "otpgate_calls_answered_total",
        "otpgate_calls_completed_total",
        "otpgate_call_duration_seconds_count",
    ] {
        assert_eq!(metric(&metrics, name, &[("carrier", "voice")]), 1.0, "{name}");
    }
}

/// The carrier keys of a trunk run over TCP from behind a NAT reach the call: the callee
/// listens on TCP only, answers early (SDP in 183, 200 without a body), and sees our public
/// address (a documentation address, RFC 5737, that nothing is sent to) in Via, Contact and SDP.
#[test]
fn a_tcp_trunk_behind_a_nat_answering_in_183_gets_the_code_spoken() {
    let dir = tempfile::tempdir().unwrap();
    let (server, report, code) = spoken_call(
        dir.path(),
        &["--mode", "answer", "--transport", "tcp", "--answer-shape", "early-only"],
        "transport = \"tcp\"\npublic_address = \"203.0.113.7\"",
    );
    assert!(
        report["invite_via"]
            .as_str()
            .unwrap()
            .starts_with("SIP/2.0/TCP 203.0.113.7:"),
        "{report}"
    );
    assert!(
        report["invite_contact"].as_str().unwrap().ends_with(";transport=tcp>"),
        "{report}"
    );
    assert_eq!(report["offer_connection"], "IN IP4 203.0.113.7", "{report}");
    assert_eq!(server.check("+447911123456", &code)["status"], "Approved");
}

/// A voice carrier (the SIP callee simulator run with `callee_args`) and an SMS carrier, and a
/// send to +447911123456 that prefers CALL. Returns what must stay alive and the send's answer.
fn call_preferred_over_sms(dir: &Path, callee_args: &[&str]) -> (Server, Smsc, Fake, (u16, Value)) {
    let smsc_dir = dir.join("smsc");
    std::fs::create_dir(&smsc_dir).unwrap();
    let smsc = Smsc::start(&smsc_dir, &[]);
    let callee = Fake::start_ready("otpgate-sip-callee", callee_args, "sip=");
    let carriers = format!(
        "[[carriers]]\nname = \"voice\"\nprotocol = \"sip\"\naddress = \"{}\"\n\n{}",
        callee.url,
        smpp_carrier(&smsc.smpp, "")
    );
    let server = engine(dir, free_port(), &carriers);
    let sent = server.post(
        "/v3/phone/send/",
        &json!({ "phone_number": "+447911123456", "options": { "preferred_channel": "CALL" } }),
    );
    (server, smsc, callee, sent)
}

#[test]
fn a_callee_hanging_up_mid_prompt_falls_back_to_sms_with_the_same_code() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("calls");
    std::fs::create_dir(&record).unwrap();
    let (server, smsc, _callee, (status, sent)) = call_preferred_over_sms(
        dir.path(),
        &["--mode", "hangup-after:1500", "--record-dir", record.to_str().unwrap()],
    );
    assert_eq!((status, sent["channel"].as_str()), (200, Some("call")), "{sent}");
    assert!(
        eventually(Duration::from_secs(20), || !smsc.messages_to("447911123456").is_empty()),
        "no SMS after the callee hung up"
    );
    let sms = smsc.messages_to("447911123456");
    let text = sms[0]["text"].as_str().unwrap();
    let code: String = text.chars().filter(char::is_ascii_digit).collect();
    let (report, _) = recorded_call(&record).expect("the callee recorded the call");
    assert_eq!(report["hung_up_by_callee"], true, "{report}");
    assert!(
        eventually(Duration::from_secs(10), || delivered(&server, "smsc-a") == 1.0),
        "the SMS was never delivered"
    );
    let checked = server.check("+447911123456", &code);
    assert_eq!(checked["status"], "Approved", "{checked}");
    assert_eq!(checked["phone"]["verification_method"], "sms", "{checked}");
    let entries = checked["phone"]["lifecycle"].as_array().unwrap();
    let fallback = entries
        .iter()
        .find(|e| e["type"] == "PHONE_CHANNEL_FALLBACK")
        .unwrap_or_else(|| panic!("no fallback entry: {entries:?}"));
    assert_eq!(fallback["details"]["reason"], "negative_receipt", "{fallback}");
    assert_eq!(fallback["details"]["from_carrier"], "voice", "{fallback}");
    let metrics = server.metrics();
    assert_eq!(
        metric(
            &metrics,
            "otpgate_calls_failed_total",
            &[("carrier", "voice"), ("reason", "hung_up"), ("status_class", "none")]
        ),
        1.0
    );
    assert_eq!(
        metric(&metrics, "otpgate_fallbacks_total", &[("from", "call"), ("to", "sms")]),
        1.0
    );
}

#[test]
fn a_trunk_answering_503_moves_the_send_to_sms_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (server, smsc, _callee, (status, sent)) = call_preferred_over_sms(dir.path(), &["--mode", "reject:503"]);
    // The call failed before anyone answered: the same send went on to SMS.
    assert_eq!((status, sent["status"].as_str()), (200, Some("Success")), "{sent}");
    assert_eq!(sent["channel"], "sms", "{sent}");
    assert_eq!(smsc.messages_to("447911123456").len(), 1);
    let metrics = server.metrics();
    assert_eq!(
        metric(
            &metrics,
            "otpgate_calls_failed_total",
            &[
                ("carrier", "voice"),
                ("reason", "call_failed_5xx"),
                ("status_class", "5xx")
            ]
        ),
        1.0
    );
    assert_eq!(
        metric(&metrics, "otpgate_fallbacks_total", &[("from", "call"), ("to", "sms")]),
        1.0
    );
}

#[test]
fn a_busy_callee_is_counted_by_reason_and_the_send_is_undeliverable() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let callee = Fake::start_ready("otpgate-sip-callee", &["--mode", "busy"], "sip=");
    let carrier = format!(
        "[[carriers]]\nname = \"voice\"\nprotocol = \"sip\"\naddress = \"{}\"\n",
        callee.url
    );
    let server = engine(dir.path(), port, &carrier);
    let (status, sent) = server.post(
        "/v3/phone/send/",
        &json!({ "phone_number": "+447911123456", "channel": "CALL" }),
    );
    assert_eq!(
        (status, sent["status"].as_str()),
        (200, Some("Undeliverable")),
        "{sent}"
    );
    let metrics = server.metrics();
    assert_eq!(
        metric(
            &metrics,
            "otpgate_calls_failed_total",
            &[("carrier", "voice"), ("reason", "busy"), ("status_class", "4xx")]
        ),
        1.0
    );
    assert_eq!(
        metric(&metrics, "otpgate_calls_answered_total", &[("carrier", "voice")]),
        0.0
    );
}
