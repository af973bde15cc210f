//! DUPLICATED_PHONE_NUMBER: a number already approved for another user (`vendor_data`) of the
//! application is reported in `matches`, and the check follows `duplicated_phone_number_action`.
mod common;

use common::Server;
use serde_json::{json, Value};

fn send_as(server: &Server, phone: &str, user: &str) -> Value {
    let (status, sent) = server.post(
        "/v3/phone/send/",
        &json!({ "phone_number": phone, "vendor_data": user }),
    );
    assert_eq!((status, &sent["status"]), (200, &json!("Success")), "{sent}");
    sent
}

fn check(server: &Server, phone: &str, action: Option<&str>) -> Value {
    let code = server.latest_code(phone);
    let mut body = json!({ "phone_number": phone, "code": code });
    if let Some(action) = action {
        body["duplicated_phone_number_action"] = json!(action);
    }
    let (status, checked) = server.post("/v3/phone/check/", &body);
    assert_eq!(status, 200, "{checked}");
    checked
}

fn duplicate_warning(checked: &Value) -> Option<&Value> {
    checked["phone"]["warnings"]
        .as_array()?
        .iter()
        .find(|w| w["risk"] == "DUPLICATED_PHONE_NUMBER")
}

#[test]
fn a_number_verified_by_another_user_is_a_duplicate_that_follows_the_action() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    let phone = "+12025550140";

    let first = send_as(&server, phone, "user-1");
    let approved = check(&server, phone, None);
    assert_eq!(approved["status"], "Approved");
    assert!(duplicate_warning(&approved).is_none(), "first approval: {approved}");
    assert_eq!(approved["phone"]["matches"], json!([]));

    // Another user, no action: approved, with an information warning and the match.
    send_as(&server, phone, "user-2");
    let second = check(&server, phone, Some("NO_ACTION"));
    assert_eq!(second["status"], "Approved", "{second}");
    let warning = duplicate_warning(&second).expect("duplicate warning");
    assert_eq!(warning["feature"], "PHONE");
    assert_eq!(warning["log_type"], "information");
    assert_eq!(warning["additional_data"]["matches"], 1);
    assert_eq!(warning["short_description"], "Duplicated phone number");
    let matches = second["phone"]["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 1, "{second}");
    assert_eq!(matches[0]["request_id"], first["request_id"]);
    assert_eq!(matches[0]["vendor_data"], "user-1");
    assert_eq!(matches[0]["verified_at"], approved["phone"]["verified_at"]);

    // After a restart the approvals come back from the store; DECLINE declines.
    let server = server.restart_after_kill();
    send_as(&server, phone, "user-3");
    let third = check(&server, phone, Some("DECLINE"));
    assert_eq!(third["status"], "Declined", "{third}");
    let warning = duplicate_warning(&third).expect("duplicate warning");
    assert_eq!(warning["log_type"], "error");
    let users: Vec<&str> = third["phone"]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["vendor_data"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["user-1", "user-2"]);
}

#[test]
fn the_same_user_verifying_again_is_not_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    let phone = "+12025550141";
    for _ in 0..2 {
        send_as(&server, phone, "user-1");
        let checked = check(&server, phone, Some("DECLINE"));
        assert_eq!(checked["status"], "Approved", "{checked}");
        assert!(duplicate_warning(&checked).is_none(), "{checked}");
    }
    // Without vendor_data users cannot be told apart: no match either.
    let (_, sent) = server.post("/v3/phone/send/", &json!({ "phone_number": phone }));
    assert_eq!(sent["status"], "Success");
    let checked = check(&server, phone, Some("DECLINE"));
    assert_eq!(checked["status"], "Approved", "{checked}");
}

#[test]
fn a_line_verified_under_one_spelling_is_a_duplicate_under_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    // An Argentine mobile, first given without the 9, then with it.
    let first = send_as(&server, "+541112345678", "user-1");
    assert_eq!(check(&server, "+541112345678", None)["status"], "Approved");
    send_as(&server, "+5491112345678", "user-2");
    let second = check(&server, "+5491112345678", Some("DECLINE"));
    assert_eq!(second["status"], "Declined", "{second}");
    assert!(duplicate_warning(&second).is_some(), "{second}");
    let matches = second["phone"]["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 1, "{second}");
    assert_eq!(
        (&matches[0]["request_id"], &matches[0]["vendor_data"]),
        (&first["request_id"], &json!("user-1"))
    );
}
