//! The per-application blocklist: numbers and prefixes are refused before anything is sent,
//! Declined with PHONE_NUMBER_IN_BLOCKLIST, not billed, and the list survives a restart.
mod common;

use common::smsc::metric;
use common::{write_config, Server};
use serde_json::{json, Value};

const BLOCKED: &str = "+12025550123";
const NEIGHBOUR: &str = "+12025550124";

fn block(server: &Server, body: Value) -> (u16, Value) {
    server.post("/v3/blocklist/phone/", &body)
}

fn list(server: &Server) -> Vec<Value> {
    let (status, body) = server.request("GET", "/v3/blocklist/phone/", Some(&server.key), None);
    assert_eq!(status, 200, "{body}");
    body["results"].as_array().unwrap().clone()
}

fn assert_blocked(server: &Server, phone: &str, entry: (&str, &str)) {
    let sent = server.send(phone);
    assert_eq!(sent["status"], "Blocked", "{sent}");
    assert_eq!(sent["reason"], "in_block_list", "{sent}");
    assert_eq!(sent["channel"], Value::Null, "{sent}");
    assert!(server.inbox(phone).is_empty(), "a blocked number got a message");
    let checked = server.check(phone, "000000");
    assert_eq!(checked["status"], "Declined", "{checked}");
    let warnings = checked["phone"]["warnings"].as_array().unwrap();
    let warning = warnings
        .iter()
        .find(|w| w["risk"] == "PHONE_NUMBER_IN_BLOCKLIST")
        .unwrap_or_else(|| panic!("no blocklist warning: {checked}"));
    assert_eq!(warning["feature"], "PHONE");
    assert_eq!(warning["log_type"], "error");
    assert_eq!(warning["additional_data"][entry.0], entry.1, "{warning}");
    assert!(warning["short_description"].as_str().unwrap().contains("blocklist"));
}

#[test]
fn a_blocked_number_is_refused_without_sending_and_unblocked_it_sends_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    let (status, entry) = block(&server, json!({ "phone_number": BLOCKED }));
    assert_eq!(status, 201, "{entry}");
    assert_eq!(entry["type"], "phone_number");
    assert_eq!(entry["phone_number"], BLOCKED);
    assert!(entry["created_at"].as_str().unwrap().ends_with('Z'));
    // Adding it again changes nothing.
    let (status, again) = block(&server, json!({ "phone_number": BLOCKED }));
    assert_eq!((status, &again["created_at"]), (200, &entry["created_at"]));

    assert_blocked(&server, BLOCKED, ("phone_number", BLOCKED));
    assert_eq!(
        server.send(NEIGHBOUR)["status"],
        "Success",
        "only that number is blocked"
    );
    let metrics = server.metrics();
    assert_eq!(
        metric(&metrics, "otpgate_sends_blocked_total", &[("reason", "in_block_list")]),
        1.0
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "otpgate_sends_refused_total{cause=\"blocklist\"} 1"),
        "{metrics}"
    );

    let (status, body) = server.request("DELETE", "/v3/blocklist/phone/%2B12025550123/", Some(&server.key), None);
    assert_eq!(status, 204, "{body}");
    assert!(list(&server).is_empty());
    let sent = server.send(BLOCKED);
    assert_eq!(sent["status"], "Success", "{sent}");
    let code = server.latest_code(BLOCKED);
    assert_eq!(server.check(BLOCKED, &code)["status"], "Approved");

    let (status, body) = server.request("DELETE", "/v3/blocklist/phone/+12025550123/", Some(&server.key), None);
    assert_eq!(status, 404, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("not in the blocklist"),
        "{body}"
    );
}

#[test]
fn a_prefix_blocks_every_number_under_it_and_the_list_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    assert_eq!(
        block(&server, json!({ "prefix": "1202555" })).0,
        201,
        "normalised to +1202555"
    );
    assert_eq!(block(&server, json!({ "phone_number": "+13125550150" })).0, 201);
    let entries = list(&server);
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["prefix"], "+1202555");
    assert_eq!(entries[1]["phone_number"], "+13125550150");

    let server = server.restart_after_kill();
    assert_eq!(list(&server).len(), 2, "the blocklist is durable");
    assert_blocked(&server, BLOCKED, ("prefix", "+1202555"));
    assert_blocked(&server, NEIGHBOUR, ("prefix", "+1202555"));
    assert_blocked(&server, "+13125550150", ("phone_number", "+13125550150"));
    assert_eq!(server.send("+13125550151")["status"], "Success");
}

#[test]
fn a_number_listed_after_its_code_went_out_is_declined_at_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    assert_eq!(server.send(BLOCKED)["status"], "Success");
    let code = server.latest_code(BLOCKED);
    assert_eq!(block(&server, json!({ "prefix": "+1202555" })).0, 201);
    let checked = server.check(BLOCKED, &code);
    assert_eq!(
        checked["status"], "Declined",
        "the right code no longer approves: {checked}"
    );
    let warning = &checked["phone"]["warnings"][0];
    assert_eq!(warning["risk"], "PHONE_NUMBER_IN_BLOCKLIST");
    assert_eq!(warning["additional_data"]["prefix"], "+1202555");
    let entries = checked["phone"]["lifecycle"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["type"] == "PHONE_VERIFICATION_DECLINED"),
        "{checked}"
    );
}

#[test]
fn bad_blocklist_input_gets_a_clear_400_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    for (body, field, code) in [
        (json!({}), Some("phone_number"), "required"),
        (
            json!({ "phone_number": "2025550123" }),
            Some("phone_number"),
            "invalid_format",
        ),
        (
            json!({ "phone_number": 12025550123u64 }),
            Some("phone_number"),
            "invalid_type",
        ),
        (json!({ "prefix": "+44abc" }), Some("prefix"), "invalid_format"),
        (json!({ "prefix": "+" }), Some("prefix"), "invalid_format"),
        (json!({ "prefix": "+0044" }), Some("prefix"), "invalid_format"),
        (json!({ "prefix": "+44", "phone_number": BLOCKED }), None, "ambiguous"),
    ] {
        let (status, error) = block(&server, body.clone());
        assert_eq!(status, 400, "{body} → {error}");
        assert_eq!(error["code"], code, "{body} → {error}");
        if let Some(field) = field {
            assert_eq!(error["field"], field, "{body} → {error}");
        }
        assert!(!error["detail"].as_str().unwrap().is_empty());
    }
    let (status, _) = server.request("POST", "/v3/blocklist/phone/", None, Some("{\"prefix\":\"+44\"}"));
    assert_eq!(status, 401);
    let (status, error) = server.request("DELETE", "/v3/blocklist/phone/abc/", Some(&server.key), None);
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("invalid_format")),
        "{error}"
    );
    assert!(list(&server).is_empty());
}

#[test]
fn each_application_has_its_own_blocklist() {
    let dir = tempfile::tempdir().unwrap();
    let (key_a, key_b) = ("otpg_test_key_application_a_0001", "otpg_test_key_application_b_0002");
    let config = write_config(
        dir.path(),
        &format!(
            "[[applications]]\nname = \"a\"\napi_key = \"{key_a}\"\n[[applications]]\nname = \"b\"\napi_key = \"{key_b}\"\n"
        ),
    );
    let server = Server::start(
        dir.path(),
        &["serve", "--config", config.to_str().unwrap()],
        Some(key_a),
    );
    assert_eq!(block(&server, json!({ "phone_number": BLOCKED })).0, 201);
    let send_as_b = server.request(
        "POST",
        "/v3/phone/send/",
        Some(key_b),
        Some(&json!({ "phone_number": BLOCKED }).to_string()),
    );
    assert_eq!(send_as_b.1["status"], "Success", "{:?}", send_as_b);
    let (_, listed_by_b) = server.request("GET", "/v3/blocklist/phone/", Some(key_b), None);
    assert_eq!(listed_by_b["count"], 0);
    assert_eq!(server.send(BLOCKED)["status"], "Blocked");
}

#[test]
fn a_line_written_two_ways_is_listed_once_and_blocked_under_either_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    // Listed as given without the Argentine mobile 9: kept in the canonical spelling.
    let (status, entry) = block(&server, json!({ "phone_number": "+541112345678" }));
    assert_eq!(
        (status, &entry["phone_number"]),
        (201, &json!("+5491112345678")),
        "{entry}"
    );
    let (status, _) = block(&server, json!({ "phone_number": "+54111512345678" }));
    assert_eq!(status, 200, "the same line, already listed");
    for spelling in ["+5491112345678", "+541112345678", "+54111512345678"] {
        assert_blocked(&server, spelling, ("phone_number", "+5491112345678"));
    }
    // Deleted under the spelling it was given in.
    let (status, body) = server.request(
        "DELETE",
        "/v3/blocklist/phone/%2B541112345678/",
        Some(&server.key),
        None,
    );
    assert_eq!(status, 204, "{body}");
    assert!(list(&server).is_empty());
    assert_eq!(server.send("+5491112345678")["status"], "Success");

    // A prefix written without the 9 covers the mobile spelling too (Buenos Aires, 11).
    assert_eq!(block(&server, json!({ "prefix": "+5411" })).0, 201);
    assert_blocked(&server, "+5491187654321", ("prefix", "+5411"));
    // Mexico's abolished 1: listed and matched without it.
    let (status, entry) = block(&server, json!({ "phone_number": "+5215512345678" }));
    assert_eq!(
        (status, &entry["phone_number"]),
        (201, &json!("+525512345678")),
        "{entry}"
    );
    assert_blocked(&server, "+525512345678", ("phone_number", "+525512345678"));
}
