//! Text outside the Basic Multilingual Plane (issue 12, item 4): an application named
//! `Pizza 🍕` (U+1F355) gets its code through on every channel that carries the message text —
//! SMS to the simulator and to npm `smpp`, RCS to the platform fake — and a call, whose prompt
//! speaks only the code, is placed and played for it too.
mod common;

use common::smsc::{code_in, eventually, metric, smpp_carrier, NpmSmsc, Peer, Smsc};
use common::{write_config, Server};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const PIZZA_KEY: &str = "pizza-key-0123456789abcdef";

/// An engine whose one application is called `Pizza 🍕`, with `carriers`.
fn pizza_engine(dir: &Path, carriers: &str) -> Server {
    let config = write_config(
        dir,
        &format!("[[applications]]\nname = \"Pizza 🍕\"\napi_key = \"{PIZZA_KEY}\"\n{carriers}"),
    );
    Server::start(dir, &["serve", "--config", config.to_str().unwrap()], Some(PIZZA_KEY))
}

/// Item 4: the brand's emoji (U+1F355) goes out in UCS2 as the surrogate pair D83C DF55, the
/// simulator and npm `smpp` both decode the text back exactly, and the code checks.
#[test]
fn an_application_named_pizza_emoji_gets_its_sms_through() {
    let dir = tempfile::tempdir().unwrap();
    let smsc = Smsc::start(dir.path(), &[]);
    let server = pizza_engine(dir.path(), &smpp_carrier(&smsc.smpp, ""));
    let sent = server.send("+34600000000");
    assert_eq!(
        (sent["status"].as_str(), sent["channel"].as_str()),
        (Some("Success"), Some("sms")),
        "{sent}"
    );
    let m = &smsc.messages_to("34600000000")[0];
    assert_eq!((m["data_coding"].as_u64(), m["esm_class"].as_u64()), (Some(8), Some(0)));
    let text = m["text"].as_str().unwrap();
    assert!(text.starts_with("Your Pizza 🍕 verification code is "), "{text}");
    assert!(m["short_message_hex"].as_str().unwrap().contains("d83cdf55"), "{m}");
    let checked = server.check("+34600000000", &code_in(text));
    assert_eq!(checked["status"], "Approved", "{checked}");

    // In Spanish and Arabic too, to the third-party SMSC.
    let dir = tempfile::tempdir().unwrap();
    let mut peer = NpmSmsc::start(&[]);
    let server = pizza_engine(dir.path(), &smpp_carrier(&format!("127.0.0.1:{}", peer.port), ""));
    for (phone, locale, start) in [
        ("+34600000001", "es", "Tu código de verificación de Pizza 🍕 es "),
        ("+34600000002", "ar", "رمز التحقق الخاص بك في Pizza 🍕 هو "),
    ] {
        let (status, sent) = server.post(
            "/v3/phone/send/",
            &json!({ "phone_number": phone, "options": { "locale": locale } }),
        );
        assert_eq!((status, sent["status"].as_str()), (200, Some("Success")), "{sent}");
        let submit = peer.wait_for("submit_sm", Duration::from_secs(5));
        assert_eq!(
            (submit["data_coding"].as_u64(), submit["esm_class"].as_u64()),
            (Some(8), Some(0))
        );
        let text = submit["text"].as_str().unwrap();
        assert!(text.starts_with(start), "{locale}: {text}");
        let checked = server.check(phone, &code_in(text));
        assert_eq!(checked["status"], "Approved", "{locale}: {checked}");
    }
}

/// RCS carries the rendered text as JSON; a call speaks the code alone, so the name never
/// reaches the SIP side, and the call is placed and played out for this application as for any.
#[test]
fn rcs_text_and_a_call_for_an_application_named_pizza_emoji() {
    let dir = tempfile::tempdir().unwrap();
    let rcs = Peer::start(
        dir.path(),
        "otpgate-fake-rcs",
        &["--token", "rbm-token", "--secret", "rbm-client-token"],
        "http",
    );
    let callee = Peer::start(dir.path(), "otpgate-sip-callee", &["--mode", "answer"], "sip");
    let carriers = format!(
        "[[carriers]]\nname = \"rbm\"\nprotocol = \"rcs\"\nbase_url = \"{}\"\nagent_id = \"otp-agent\"\n\
         token = \"rbm-token\"\nwebhook_token = \"rbm-client-token\"\n\
         [[carriers]]\nname = \"voice\"\nprotocol = \"sip\"\naddress = \"{}\"\nfrom = \"sip:otp@otpgate.invalid\"\n",
        rcs.address, callee.address
    );
    let server = pizza_engine(dir.path(), &carriers);

    let (status, sent) = server.post(
        "/v3/phone/send/",
        &json!({ "phone_number": "+447922123456", "channel": "RCS" }),
    );
    assert_eq!((status, sent["channel"].as_str()), (200, Some("rcs")), "{sent}");
    let messages: serde_json::Value = ureq::get(&format!("{}/_control/messages", rcs.address))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let messages = messages
        .as_array()
        .cloned()
        .or_else(|| messages["messages"].as_array().cloned())
        .unwrap();
    let text = messages[0]["text"].as_str().unwrap();
    assert!(text.starts_with("Your Pizza 🍕 verification code is "), "{text}");
    let checked = server.check("+447922123456", &code_in(text));
    assert_eq!(checked["status"], "Approved", "{checked}");

    let (status, sent) = server.post(
        "/v3/phone/send/",
        &json!({ "phone_number": "+447911123456", "channel": "CALL" }),
    );
    assert_eq!(
        (status, sent["status"].as_str(), sent["channel"].as_str()),
        (200, Some("Success"), Some("call")),
        "{sent}"
    );
    assert!(
        eventually(Duration::from_secs(40), || metric(
            &server.metrics(),
            "otpgate_messages_delivered_total",
            &[("carrier", "voice")]
        ) == 1.0),
        "the prompt was not played out"
    );
}
