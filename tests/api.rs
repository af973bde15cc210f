//! The standalone API (send / check) driven over HTTP against the real binary.
mod common;

use common::{wrong, Server};
use serde_json::{json, Value};

fn server() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    (dir, server)
}

#[test]
fn wrong_codes_fail_then_decline_and_the_right_code_no_longer_approves() {
    let (_dir, s) = server();
    let phone = "+13105550111";
    assert_eq!(s.send(phone)["status"], "Success");
    let code = s.latest_code(phone);

    let first = s.check(phone, &wrong(&code));
    assert_eq!(first["status"], "Failed");
    assert_eq!(first["phone"], Value::Null);

    let second = s.check(phone, &wrong(&code));
    assert_eq!(second["status"], "Declined");
    let warnings = second["phone"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{second}");
    assert_eq!(warnings[0]["risk"], "VERIFICATION_CODE_ATTEMPTS_EXCEEDED");
    assert_eq!(warnings[0]["log_type"], "error");
    assert_eq!(warnings[0]["feature"], "PHONE");
    assert_eq!(second["phone"]["status"], "Declined");
    assert_eq!(second["phone"]["verification_attempts"], 2);

    let late = s.check(phone, &code);
    assert_eq!(late["status"], "Declined", "{late}");
    assert_eq!(late["phone"]["verified_at"], Value::Null);
}

#[test]
fn fourth_send_in_24h_is_blocked_and_nothing_is_sent() {
    let (_dir, s) = server();
    let phone = "+13105550112";
    let first = s.send(phone);
    assert_eq!(first["status"], "Success");
    for _ in 0..2 {
        let resend = s.send(phone);
        assert_eq!(resend["status"], "Retry");
        assert_eq!(
            resend["request_id"], first["request_id"],
            "a resend keeps the request_id"
        );
    }
    let codes: Vec<_> = s.inbox(phone).iter().map(|m| m["code"].clone()).collect();
    assert_eq!(codes.len(), 3);
    assert!(
        codes.iter().all(|c| *c == codes[0]),
        "a resend repeats the same code: {codes:?}"
    );

    let blocked = s.send(phone);
    assert_eq!(blocked["status"], "Blocked");
    assert_eq!(blocked["reason"], "repeated_attempts");
    assert_eq!(blocked["channel"], Value::Null);
    assert_eq!(s.inbox(phone).len(), 3, "nothing sent for the blocked request");

    // The verification is declined: even the right code no longer approves.
    let check = s.check(phone, codes[0].as_str().unwrap());
    assert_eq!(check["status"], "Declined");
    assert_eq!(
        check["phone"]["warnings"][0]["risk"],
        "VERIFICATION_CODE_ATTEMPTS_EXCEEDED"
    );
}

#[test]
fn bad_input_gets_a_4xx_json_error_naming_the_field_and_stores_nothing() {
    let (_dir, s) = server();
    let key = s.key.clone();
    let send = "/v3/phone/send/";
    let check = "/v3/phone/check/";
    let huge = format!(
        "{{\"phone_number\":\"+12025550150\",\"vendor_data\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    // (path, x-api-key, body, expected status, field the error must name)
    type Case<'a> = (&'a str, Option<&'a str>, String, u16, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            send,
            Some(&key),
            r#"{"phone_number":"12025550150"}"#.into(),
            400,
            Some("phone_number"),
        ),
        (
            send,
            Some(&key),
            r#"{"phone_number":"+1202555015a"}"#.into(),
            400,
            Some("phone_number"),
        ),
        (
            send,
            Some(&key),
            r#"{"phone_number":"+1234567890123456789012345"}"#.into(),
            400,
            Some("phone_number"),
        ),
        (
            send,
            Some(&key),
            r#"{"phone_number":"+99912345678"}"#.into(),
            400,
            Some("phone_number"),
        ),
        (send, Some(&key), "".into(), 400, None),
        (send, Some(&key), "phone_number=+12025550150".into(), 400, None),
        (send, Some(&key), "[1,2]".into(), 400, None),
        (send, Some(&key), "{}".into(), 400, Some("phone_number")),
        (
            send,
            Some(&key),
            r#"{"phone_number":"+12025550150","channel":"PIGEON"}"#.into(),
            400,
            Some("channel"),
        ),
        (
            send,
            Some(&key),
            r#"{"phone_number":"+12025550150","channel":"sms"}"#.into(),
            400,
            Some("channel"),
        ),
        (
            send,
            Some(&key),
            r#"{"phone_number":12025550150}"#.into(),
            400,
            Some("phone_number"),
        ),
        (
            send,
            Some(&key),
            r#"{"phone_number":"+12025550150","options":{"code_size":"6"}}"#.into(),
            400,
            Some("options.code_size"),
        ),
        (
            send,
            Some(&key),
            r#"{"phone_number":"+12025550150","options":{"code_size":11}}"#.into(),
            400,
            Some("options.code_size"),
        ),
        (
            send,
            Some(&key),
            r#"{"phone_number":"+12025550150","options":{"preferred_channel":"FAX"}}"#.into(),
            400,
            Some("options.preferred_channel"),
        ),
        (
            send,
            Some(&key),
            r#"{"phone_number":"+12025550150","options":[]}"#.into(),
            400,
            Some("options"),
        ),
        (
            send,
            Some(&key),
            r#"{"phone_number":"+12025550150","metadata":"x"}"#.into(),
            400,
            Some("metadata"),
        ),
        (
            send,
            Some(&key),
            r#"{"phone_number":"+12025550150","vendor_data":5}"#.into(),
            400,
            Some("vendor_data"),
        ),
        (send, Some(&key), huge, 413, None),
        (send, None, r#"{"phone_number":"+12025550150"}"#.into(), 401, None),
        (
            send,
            Some("otpg_wrong"),
            r#"{"phone_number":"+12025550150"}"#.into(),
            401,
            None,
        ),
        (
            check,
            Some(&key),
            r#"{"phone_number":"+12025550150"}"#.into(),
            400,
            Some("code"),
        ),
        (
            check,
            Some(&key),
            r#"{"phone_number":"+12025550150","code":"12ab56"}"#.into(),
            400,
            Some("code"),
        ),
        (
            check,
            Some(&key),
            r#"{"phone_number":"+12025550150","code":123456}"#.into(),
            400,
            Some("code"),
        ),
        (
            check,
            Some(&key),
            r#"{"phone_number":"+12025550150","code":"123456","voip_number_action":"BAN"}"#.into(),
            400,
            Some("voip_number_action"),
        ),
        (
            check,
            None,
            r#"{"phone_number":"+12025550150","code":"123456"}"#.into(),
            401,
            None,
        ),
    ];
    for (path, key, body, expected_status, field) in &cases {
        let (status, error) = s.request("POST", path, *key, Some(body));
        let shown = &body[..body.len().min(80)];
        assert_eq!(status, *expected_status, "{path} {shown}: {error}");
        assert!(
            error["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{shown}: {error}"
        );
        assert!(error["code"].is_string(), "{shown}: {error}");
        if let Some(field) = field {
            assert_eq!(error["field"], *field, "{shown}: {error}");
            assert!(error["detail"].as_str().unwrap().contains(field), "{shown}: {error}");
        }
    }
    assert_eq!(s.stored_verifications(), 0, "a refused request stored something");
    assert!(s.inbox("+12025550150").is_empty());
    // The server is still healthy and the number still works normally.
    assert_eq!(s.send("+12025550150")["status"], "Success");
    assert_eq!(s.stored_verifications(), 1);
}

#[test]
fn unknown_routes_and_methods_answer_json() {
    let (_dir, s) = server();
    let (status, body) = s.request("GET", "/v3/phone/send/", Some(&s.key), None);
    assert_eq!(status, 405);
    assert_eq!(body["code"], "method_not_allowed");
    let (status, body) = s.request("GET", "/v3/nothing/", Some(&s.key), None);
    assert_eq!(status, 404);
    assert!(body["detail"].as_str().unwrap().contains("/v3/nothing/"));
}

#[test]
fn concurrent_wrong_checks_count_exactly_the_allowed_attempts() {
    let (_dir, s) = server();
    let phone = "+13105550113";
    s.send(phone);
    let code = s.latest_code(phone);
    let statuses: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|_| scope.spawn(|| s.check(phone, &wrong(&code))["status"].as_str().unwrap().to_owned()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let count = |status: &str| statuses.iter().filter(|s| *s == status).count();
    assert_eq!(count("Failed"), 1, "{statuses:?}");
    // The second wrong code declines; later checks see the declined verification.
    assert_eq!(count("Declined"), 49, "{statuses:?}");
    let after = s.check(phone, &code);
    assert_eq!(after["status"], "Declined");
    assert_eq!(
        after["phone"]["verification_attempts"], 2,
        "exactly 2 attempts counted: {after}"
    );
}

#[test]
fn concurrent_right_checks_approve_exactly_once() {
    let (_dir, s) = server();
    let phone = "+13105550114";
    s.send(phone);
    let code = s.latest_code(phone);
    let statuses: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|_| scope.spawn(|| s.check(phone, &code)["status"].as_str().unwrap().to_owned()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| *s == "Approved").count(), 1, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| *s == "Expired or Not Found").count(),
        49,
        "{statuses:?}"
    );
}

#[test]
fn high_risk_sandbox_number_is_blocked_and_declined() {
    let (_dir, s) = server();
    let phone = "+12025550199";
    let sent = s.send(phone);
    assert_eq!(sent["status"], "Blocked");
    assert_eq!(sent["reason"], "suspicious");
    assert!(s.inbox(phone).is_empty(), "a blocked number gets no message");
    let check = s.check(phone, "123456");
    assert_eq!(check["status"], "Declined");
    let warning = &check["phone"]["warnings"][0];
    assert_eq!(warning["risk"], "HIGH_RISK_PHONE_NUMBER");
    assert_eq!(warning["log_type"], "error");
    assert!(warning["short_description"].is_string() && warning["long_description"].is_string());
}

#[test]
fn voip_and_disposable_sandbox_numbers_follow_the_requested_action() {
    let (_dir, s) = server();
    for (phone, field, risk) in [
        ("+12025550198", "voip_number_action", "VOIP_NUMBER_DETECTED"),
        ("+12025550197", "disposable_number_action", "DISPOSABLE_NUMBER_DETECTED"),
    ] {
        // NO_ACTION approves with an information warning.
        s.send(phone);
        let code = s.latest_code(phone);
        let approved = s
            .post(
                "/v3/phone/check/",
                &json!({ "phone_number": phone, "code": code, field: "NO_ACTION" }),
            )
            .1;
        assert_eq!(approved["status"], "Approved", "{approved}");
        assert_eq!(approved["phone"]["warnings"][0]["risk"], risk);
        assert_eq!(approved["phone"]["warnings"][0]["log_type"], "information");
        // DECLINE declines a later verification of the same number, with an error warning.
        s.send(phone);
        let code = s.latest_code(phone);
        let declined = s
            .post(
                "/v3/phone/check/",
                &json!({ "phone_number": phone, "code": code, field: "DECLINE" }),
            )
            .1;
        assert_eq!(declined["status"], "Declined", "{declined}");
        assert_eq!(declined["phone"]["warnings"][0]["log_type"], "error");
    }
    let voip = s.check("+12025550198", "000000");
    assert_eq!(voip["status"], "Declined");
    assert_eq!(voip["phone"]["is_virtual"], true);
    assert_eq!(voip["phone"]["carrier"]["type"], "voip");
}

#[test]
fn pinned_channel_and_options_are_honoured() {
    let (_dir, s) = server();
    let phone = "+13105550115";
    let body = json!({
        "phone_number": phone,
        "options": { "code_size": 8, "locale": "es", "preferred_channel": "WHATSAPP" },
        "vendor_data": "user-42",
        "metadata": { "plan": "pro" },
    });
    let (status, sent) = s.post("/v3/phone/send/", &body);
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["channel"], "whatsapp");
    assert_eq!(sent["vendor_data"], "user-42");
    assert_eq!(sent["metadata"]["plan"], "pro");
    let message = &s.inbox(phone)[0];
    assert_eq!(message["channel"], "whatsapp");
    let code = message["code"].as_str().unwrap();
    assert_eq!(code.len(), 8);
    assert!(message["text"].as_str().unwrap().starts_with("Tu código"), "{message}");
    let checked = s.check(phone, code);
    assert_eq!(checked["status"], "Approved");
    assert_eq!(checked["phone"]["verification_method"], "whatsapp");
    assert_eq!(checked["vendor_data"], "user-42");
    // The top-level channel wins over options.preferred_channel.
    let (_, pinned) = s.post(
        "/v3/phone/send/",
        &json!({ "phone_number": "+13105550116", "channel": "CALL", "options": { "preferred_channel": "SMS" } }),
    );
    assert_eq!(pinned["channel"], "call");
}

#[test]
fn metrics_count_what_happened() {
    let (_dir, s) = server();
    let phone = "+13105550117";
    s.send(phone);
    let code = s.latest_code(phone);
    assert_eq!(s.check(phone, &code)["status"], "Approved");
    s.send("+12025550199");
    let text = s.metrics();
    for line in [
        "otpgate_messages_sent_total{channel=\"sms\",carrier=\"sandbox\",country=\"US\"} 1",
        "otpgate_messages_delivered_total{channel=\"sms\",carrier=\"sandbox\",country=\"US\"} 1",
        "otpgate_verifications_total{status=\"started\"} 1",
        "otpgate_verifications_total{status=\"approved\"} 1",
        "otpgate_verifications_total{status=\"blocked\"} 1",
        "otpgate_carrier_up{carrier=\"sandbox\"} 1",
        "otpgate_send_duration_seconds_count 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    assert!(
        !text.contains(phone) && !text.contains(&code),
        "metrics must not carry numbers or codes"
    );
    let (status, health) = s.request("GET", "/healthz", None, None);
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let (status, ready) = s.request("GET", "/readyz", None, None);
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")));
}

#[test]
fn codes_and_keys_never_reach_the_logs() {
    let (_dir, s) = server();
    let phone = "+13105550118";
    s.send(phone);
    let code = s.latest_code(phone);
    s.check(phone, &wrong(&code));
    s.check(phone, &code);
    let logs = s.stderr();
    assert!(!logs.contains(&code), "code in logs:\n{logs}");
    assert!(!logs.contains(&s.key), "API key in logs:\n{logs}");
}
