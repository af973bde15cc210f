//! Path A through the real binary: workflows, sessions completed on the hosted page over HTTP,
//! and webhooks checked by an independent receiver (Node, tests/peers/webhooks/receiver.js).
mod common;

use common::hosted::{decision, destination, session, verify_on_page, workflow, Receiver, Visitor};
use common::Server;
use serde_json::{json, Value};
use std::time::Duration;

fn statuses(deliveries: &[Value], session_id: &str) -> Vec<String> {
    deliveries
        .iter()
        .filter(|d| d["body"]["session_id"] == session_id)
        .map(|d| d["body"]["status"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn workflows_are_created_listed_updated_and_deleted_with_strict_features() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    let config = json!({
        "preferred_channel": "WHATSAPP",
        "code_validity_seconds": 600,
        "max_code_attempts": 3,
        "risk_actions": { "VOIP_NUMBER_DETECTED": "Review", "DISPOSABLE_NUMBER_DETECTED": "Decline" },
    });
    let id = workflow(&server, config);
    let (status, got) = server.request("GET", &format!("/v3/workflows/{id}/"), Some(&server.key), None);
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["features"][0]["feature"], "PHONE");
    let config = &got["features"][0]["config"];
    assert_eq!(config["preferred_channel"], "WHATSAPP");
    assert_eq!(
        (
            config["code_validity_seconds"].as_u64(),
            config["max_code_attempts"].as_u64()
        ),
        (Some(600), Some(3))
    );
    assert_eq!(config["max_resend_requests_per_24h"], 2, "the engine's default");
    assert_eq!(config["risk_actions"]["VOIP_NUMBER_DETECTED"], "Review");
    assert_eq!(config["risk_actions"]["DUPLICATED_PHONE_NUMBER"], "Approve");

    let (status, patched) = server.request(
        "PATCH",
        &format!("/v3/workflows/{id}/"),
        Some(&server.key),
        Some(r#"{"workflow_label": "renamed"}"#),
    );
    assert_eq!((status, patched["workflow_label"].as_str()), (200, Some("renamed")));
    assert_eq!(
        patched["features"][0]["config"]["max_code_attempts"], 3,
        "a label change keeps the features"
    );
    let (_, list) = server.request("GET", "/v3/workflows/", Some(&server.key), None);
    assert_eq!(list.as_array().unwrap().len(), 1);

    for (body, field, needle) in [
        (
            json!({ "features": [{ "feature": "phone" }] }),
            "features[0].feature",
            "UPPERCASE",
        ),
        (
            json!({ "features": [{ "feature": "OCR" }] }),
            "features[0].feature",
            "phone numbers only",
        ),
        (json!({}), "features", "required"),
        (
            json!({ "features": [{ "feature": "PHONE", "config": { "risk_actions": { "VOIP_NUMBER_DETECTED": "review" } } }] }),
            "features[0].config.risk_actions.VOIP_NUMBER_DETECTED",
            "Decline, Review or Approve",
        ),
        (
            json!({ "features": [{ "feature": "PHONE", "config": { "risk_actions": { "HIGH_RISK_PHONE_NUMBER": "Approve" } } }] }),
            "features[0].config.risk_actions.HIGH_RISK_PHONE_NUMBER",
            "always decline",
        ),
        (
            json!({ "features": [{ "feature": "PHONE", "config": { "max_code_attempts": 0 } }] }),
            "features[0].config.max_code_attempts",
            "between 1 and 10",
        ),
        (
            json!({ "features": [{ "feature": "PHONE", "config": { "preferred_channel": "sms" } }] }),
            "features[0].config.preferred_channel",
            "SMS, WHATSAPP",
        ),
        (
            json!({ "features": [{ "feature": "PHONE", "config": { "colour": 1 } }] }),
            "features[0].config.colour",
            "not a known field",
        ),
    ] {
        let (status, error) = server.post("/v3/workflows/", &body);
        assert_eq!(status, 400, "{body} → {error}");
        assert_eq!(error["field"], field, "{error}");
        assert!(error["detail"].as_str().unwrap().contains(needle), "{error}");
    }
    let (status, _) = server.request("DELETE", &format!("/v3/workflows/{id}/"), Some(&server.key), None);
    assert_eq!(status, 204);
    let (status, _) = server.request("GET", &format!("/v3/workflows/{id}/"), Some(&server.key), None);
    assert_eq!(status, 404);
}

/// Done means 2: every delivery verifies with the receiver's own implementation of the seed's
/// algorithm, including non-ASCII vendor_data and floats in metadata; the decision says Approved.
#[test]
fn a_session_completed_on_the_page_is_reported_by_signed_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    let receiver = Receiver::start(dir.path(), 0, 200);
    destination(&server, &receiver);
    let workflow_id = workflow(&server, json!({}));
    let metadata = json!({ "score": 0.75, "plan": 2.0, "tiers": [1.5, 3.0], "nested": { "b": 1, "a": "ü" } });
    let (session_id, url) = session(
        &server,
        json!({ "workflow_id": workflow_id, "vendor_data": "José Müller", "metadata": metadata, "callback": "https://app.example/done" }),
    );
    assert!(url.starts_with(&server.base) && url.contains("/session/"), "{url}");
    assert_eq!(decision(&server, &session_id)["status"], "Not Started");

    let mut visitor = verify_on_page(&server, &url, "US", "202 555 0123", "+12025550123");
    let result = visitor.get("");
    assert!(result.html.contains("Your phone number is verified"), "{}", result.html);
    assert!(
        result.html.contains(&format!(
            "https://app.example/done?verificationSessionId={session_id}&amp;status=Approved"
        )),
        "{}",
        result.html
    );

    let decided = decision(&server, &session_id);
    assert_eq!(decided["status"], "Approved");
    assert_eq!(decided["vendor_data"], "José Müller");
    let report = &decided["phone_verifications"][0];
    assert_eq!(
        (report["status"].as_str(), report["full_number"].as_str()),
        (Some("Approved"), Some("+12025550123"))
    );
    assert_eq!(report["verification_method"], "sms");

    let deliveries = receiver.wait_for(2, Duration::from_secs(15));
    assert_eq!(
        statuses(&deliveries, &session_id),
        ["In Progress", "Approved"],
        "{deliveries:#?}"
    );
    for d in &deliveries {
        assert_eq!(d["verified"], true, "{d}");
        assert_eq!(d["body"]["webhook_type"], "status.updated");
        assert_eq!(d["body"]["vendor_data"], "José Müller");
        assert_eq!(d["body"]["metadata"]["score"], 0.75);
        assert_eq!(d["body"]["workflow_id"], workflow_id.as_str());
        assert!(d["body"]["timestamp"].as_i64().unwrap() >= d["body"]["created_at"].as_i64().unwrap());
    }
    assert!(
        deliveries[0]["body"].get("decision").is_none(),
        "In Progress carries no decision"
    );
    assert_eq!(
        deliveries[1]["body"]["decision"]["phone_verifications"][0]["status"],
        "Approved"
    );

    // The worker counts a delivery once it has read the receiver's answer, which may be just
    // after the receiver recorded the request: wait for the counts (5 s at most).
    let lines = [
        "otpgate_sessions_total{status=\"not_started\"} 1",
        "otpgate_sessions_total{status=\"in_progress\"} 1",
        "otpgate_sessions_total{status=\"approved\"} 1",
        "otpgate_webhook_deliveries_total{outcome=\"delivered\"} 2",
        "otpgate_webhook_delivery_seconds_count 2",
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut metrics = server.metrics();
    while !lines.iter().all(|l| metrics.contains(l)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        metrics = server.metrics();
    }
    for line in lines {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
}

/// Done means 4: VOIP_NUMBER_DETECTED: Review puts a VoIP number's session In Review; approving
/// it with update-status is recorded (who, when, why) and reported by a webhook.
#[test]
fn a_review_action_holds_the_session_until_update_status_approves_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    let receiver = Receiver::start(dir.path(), 0, 200);
    destination(&server, &receiver);
    let workflow_id = workflow(&server, json!({ "risk_actions": { "VOIP_NUMBER_DETECTED": "Review" } }));
    let (session_id, url) = session(&server, json!({ "workflow_id": workflow_id, "vendor_data": "user-7" }));
    let mut visitor = verify_on_page(&server, &url, "US", "2025550198", "+12025550198");
    assert!(visitor.get("").html.contains("we are checking your verification"));

    let decided = decision(&server, &session_id);
    assert_eq!(decided["status"], "In Review");
    let report = &decided["phone_verifications"][0];
    assert_eq!(report["status"], "In Review");
    assert_eq!(report["is_virtual"], true);
    assert_eq!(report["warnings"][0]["risk"], "VOIP_NUMBER_DETECTED");
    assert_eq!(report["warnings"][0]["log_type"], "warning");

    let path = format!("/v3/session/{session_id}/update-status/");
    let (status, error) = server.request("PATCH", &path, Some(&server.key), Some(r#"{"new_status": "Maybe"}"#));
    assert_eq!((status, error["field"].as_str()), (400, Some("new_status")));
    let (status, approved) = server.request(
        "PATCH",
        &path,
        Some(&server.key),
        Some(r#"{"new_status": "Approved", "comment": "VoIP line of a known customer"}"#),
    );
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "Approved");
    assert_eq!(approved["phone_verifications"][0]["status"], "Approved");
    assert!(approved["phone_verifications"][0]["verified_at"].is_string());
    let review = &approved["reviews"][0];
    assert_eq!(
        (review["previous_status"].as_str(), review["new_status"].as_str()),
        (Some("In Review"), Some("Approved"))
    );
    assert_eq!(review["comment"], "VoIP line of a known customer");
    assert_eq!(review["user"], "default");
    assert!(review["created_at"].is_string());
    let (status, conflict) = server.request("PATCH", &path, Some(&server.key), Some(r#"{"new_status": "Declined"}"#));
    assert_eq!(status, 409, "only a session In Review: {conflict}");

    let deliveries = receiver.wait_for(3, Duration::from_secs(15));
    assert_eq!(
        statuses(&deliveries, &session_id),
        ["In Progress", "In Review", "Approved"]
    );
    assert!(deliveries.iter().all(|d| d["verified"] == true), "{deliveries:#?}");
    let last = &deliveries[2]["body"]["decision"];
    assert_eq!(last["reviews"][0]["new_status"], "Approved");
    assert_eq!(
        deliveries[1]["body"]["decision"]["phone_verifications"][0]["warnings"][0]["log_type"],
        "warning"
    );
}

/// Done means 5: a form without the CSRF token, with a wrong one, with another session's, or
/// without the cookie; a code entered again after approval: each gets a clear message and
/// changes nothing.
#[test]
fn wrong_or_replayed_input_on_the_page_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    let receiver = Receiver::start(dir.path(), 0, 200);
    destination(&server, &receiver);
    let workflow_id = workflow(&server, json!({}));
    let (a_id, a_url) = session(&server, json!({ "workflow_id": workflow_id }));
    let (_, b_url) = session(&server, json!({ "workflow_id": workflow_id }));

    let mut a = Visitor::new(&a_url);
    let page = a.get("");
    for header in ["content-security-policy", "x-frame-options", "referrer-policy"] {
        assert!(page.header(header).is_some(), "{header} missing");
    }
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let mut b = Visitor::new(&b_url);
    let b_token = b.get("").csrf();
    let number = [("country", "US"), ("national", "2025550124")];
    let refused = |page: &common::hosted::Page, status: u16, text: &str| {
        assert_eq!(page.status, status, "{}", page.html);
        assert!(page.html.contains(text), "{text} not in {}", page.html);
    };
    refused(
        &a.post("send", &number),
        403,
        "This form has expired or was sent from another page",
    );
    refused(
        &a.post("send", &[("csrf", &"0".repeat(64)), number[0], number[1]]),
        403,
        "This form has expired",
    );
    refused(
        &a.post("send", &[("csrf", &b_token), number[0], number[1]]),
        403,
        "This form has expired",
    );
    let mut cookieless = Visitor::new(&a_url);
    refused(
        &cookieless.post("send", &[("csrf", &page.csrf()), number[0], number[1]]),
        403,
        "security cookie",
    );
    refused(
        &Visitor::new(&format!("{}/session/{}/", server.base, "ab".repeat(24))).get(""),
        404,
        "This link does not work",
    );
    assert!(server.inbox("+12025550124").is_empty(), "nothing was sent");
    assert_eq!(decision(&server, &a_id)["status"], "In Progress");

    // Approved once; the same code again, and another send, change nothing.
    let sent = a.post("send", &[("csrf", &page.csrf()), number[0], number[1]]);
    assert_eq!(sent.status, 303, "{}", sent.html);
    let code = server.latest_code("+12025550124");
    let csrf = a.get("").csrf();
    assert_eq!(a.post("check", &[("csrf", &csrf), ("code", &code)]).status, 303);
    let before = decision(&server, &a_id);
    assert_eq!(before["status"], "Approved");
    refused(
        &a.post("check", &[("csrf", &csrf), ("code", &code)]),
        409,
        "already finished. Nothing was changed",
    );
    refused(
        &a.post("send", &[("csrf", &csrf), number[0], number[1]]),
        409,
        "already finished",
    );
    assert_eq!(decision(&server, &a_id), before);
    assert_eq!(server.inbox("+12025550124").len(), 1);

    // a: In Progress and Approved; b (opened): In Progress.
    let deliveries = receiver.wait_for(3, Duration::from_secs(10));
    assert_eq!(
        statuses(&deliveries, &a_id),
        ["In Progress", "Approved"],
        "no event for refused input"
    );
    assert!(deliveries.iter().all(|d| d["verified"] == true));
}

/// Done means 5, continued: a link never opened expires; a form of a page left open until the
/// session was abandoned is refused with a clear message.
#[test]
fn expired_and_abandoned_sessions_refuse_the_page_and_report_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(
        dir.path(),
        "[sessions]\nexpire_after_seconds = 1\nabandon_after_seconds = 1\n",
    );
    let receiver = Receiver::start(dir.path(), 0, 200);
    destination(&server, &receiver);
    let workflow_id = workflow(&server, json!({}));
    let (expired_id, expired_url) = session(&server, json!({ "workflow_id": workflow_id }));
    let (left_id, left_url) = session(&server, json!({ "workflow_id": workflow_id }));
    let mut left = Visitor::new(&left_url);
    let csrf = left.get("").csrf();
    std::thread::sleep(Duration::from_millis(1_500));
    let page = Visitor::new(&expired_url).get("");
    assert!(page.html.contains("This link has expired"), "{}", page.html);
    let refused = left.post(
        "send",
        &[("csrf", &csrf), ("country", "US"), ("national", "2025550126")],
    );
    assert_eq!(refused.status, 410, "{}", refused.html);
    assert!(
        refused.html.contains("This verification was not finished in time"),
        "{}",
        refused.html
    );
    assert!(server.inbox("+12025550126").is_empty());
    assert_eq!(decision(&server, &expired_id)["status"], "Expired");
    assert_eq!(decision(&server, &left_id)["status"], "Abandoned");
    let deliveries = receiver.wait_for(3, Duration::from_secs(10));
    assert_eq!(statuses(&deliveries, &expired_id), ["Expired"]);
    assert_eq!(statuses(&deliveries, &left_id), ["In Progress", "Abandoned"]);
    assert!(deliveries.iter().all(|d| d["verified"] == true));
}

#[test]
fn an_opened_session_left_unfinished_is_abandoned_and_a_deleted_one_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "[sessions]\nabandon_after_seconds = 1\n");
    let receiver = Receiver::start(dir.path(), 0, 200);
    destination(&server, &receiver);
    let workflow_id = workflow(&server, json!({}));
    let (id, url) = session(
        &server,
        json!({ "workflow_id": workflow_id, "contact_details": { "phone": "+12025550125" } }),
    );
    let page = Visitor::new(&url).get("");
    assert!(
        page.html.contains("readonly"),
        "a given number is locked: {}",
        page.html
    );
    let deliveries = receiver.wait_for(2, Duration::from_secs(10));
    assert_eq!(statuses(&deliveries, &id), ["In Progress", "Abandoned"]);
    assert_eq!(deliveries[1]["body"]["decision"]["status"], "Abandoned");
    assert_eq!(decision(&server, &id)["contact_details"]["phone"], "+12025550125");

    let (gone, _) = session(&server, json!({ "workflow_id": workflow_id }));
    let (status, _) = server.request("DELETE", &format!("/v3/session/{gone}/"), Some(&server.key), None);
    assert_eq!(status, 204);
    let (status, _) = server.request("GET", &format!("/v3/session/{gone}/decision/"), Some(&server.key), None);
    assert_eq!(status, 404);
    let (status, _) = server.request("DELETE", &format!("/v3/session/{gone}/"), Some(&server.key), None);
    assert_eq!(status, 404);
    let (status, error) = server.post("/v3/session/", &json!({ "workflow_id": "nope" }));
    assert_eq!((status, error["field"].as_str()), (400, Some("workflow_id")));
    let (status, error) = server.post(
        "/v3/session/",
        &json!({ "workflow_id": workflow_id, "contact_details": { "phone": "612345678" } }),
    );
    assert_eq!((status, error["field"].as_str()), (400, Some("contact_details.phone")));
}
