//! Issue 18: delete on demand (`DELETE /v3/phone/{phone_number}/`) and retention
//! (`applications[].retention_days`), through the real engine on SQLite (and the delete on
//! PostgreSQL too).
mod common;
#[path = "store_suite/pg.rs"]
mod pg;

use common::smsc::{eventually, metric};
use common::{write_config, Server};
use std::time::Duration;

const GONE: &str = "+12025550142";
const KEPT: &str = "+12025550143";
const KEY_A: &str = "otpg_test_key_application_a_0001";
const KEY_B: &str = "otpg_test_key_application_b_0002";

fn apps(extra_a: &str) -> String {
    format!(
        "[[applications]]\nname = \"a\"\napi_key = \"{KEY_A}\"\n{extra_a}\n\
         [[applications]]\nname = \"b\"\napi_key = \"{KEY_B}\"\n"
    )
}

fn delete(s: &Server, path_number: &str, key: Option<&str>) -> (u16, serde_json::Value) {
    s.request("DELETE", &format!("/v3/phone/{path_number}/"), key, None)
}

/// The shared part of the SQLite and PostgreSQL runs: two numbers verified, one deleted (the
/// callers then count what is left: the other number's verification stays).
fn deletes_one_number_and_only_it(s: &Server) {
    for number in [GONE, KEPT] {
        assert_eq!(s.send(number)["status"], "Success");
    }
    let gone_code = s.latest_code(GONE);
    assert_eq!(s.check(KEPT, &s.latest_code(KEPT))["status"], "Approved");

    // Input and authentication as everywhere else in the API.
    assert_eq!(delete(s, GONE, None).0, 401);
    let (status, body) = delete(s, "12025550142", Some(KEY_A));
    assert_eq!((status, body["field"].as_str()), (400, Some("phone_number")), "{body}");
    // Another application has nothing stored for the number.
    assert_eq!(delete(s, GONE, Some(KEY_B)).0, 404);

    let (status, body) = delete(s, "%2B12025550142", Some(KEY_A));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phone_number"], GONE);
    assert_eq!(body["deleted"]["verifications"], 1, "{body}");
    // The pending code is gone with its verification; the other number still checks as before.
    assert_eq!(s.check(GONE, &gone_code)["status"], "Expired or Not Found");
    assert_eq!(
        delete(s, GONE, Some(KEY_A)).0,
        404,
        "nothing left (the check wrote nothing back)"
    );
    // The number can verify again afterwards, on a fresh actor.
    assert_eq!(s.send(GONE)["status"], "Success");
    assert_eq!(s.check(GONE, &s.latest_code(GONE))["status"], "Approved");
}

#[test]
fn delete_on_demand_removes_one_numbers_verifications_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &apps(""));
    let s = Server::start(
        dir.path(),
        &["serve", "--config", config.to_str().unwrap()],
        Some(KEY_A),
    );
    deletes_one_number_and_only_it(&s);
    // KEPT's verification and GONE's new one.
    assert_eq!(s.stored_verifications(), 2);
}

#[test]
fn delete_on_demand_removes_one_numbers_verifications_on_postgresql() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(schema) = runtime.block_on(pg::Schema::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = Server::on_store(dir.path(), &schema.url(), &apps(""), Some(KEY_A));
    deletes_one_number_and_only_it(&s);
    let stored: i64 = runtime.block_on(async {
        let client = schema.client().await;
        client
            .query_one("SELECT count(*) FROM verifications", &[])
            .await
            .unwrap()
            .get(0)
    });
    assert_eq!(stored, 2);
    drop(s);
}

#[test]
fn retention_deletes_what_is_older_than_the_applications_retention_days() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &apps("retention_days = 30"));
    let s = Server::start(
        dir.path(),
        &["serve", "--config", config.to_str().unwrap()],
        Some(KEY_A),
    );
    let old = s.send(GONE)["request_id"].as_str().unwrap().to_owned();
    s.send(KEPT);
    // Application b keeps everything: its row ages too, and stays.
    let (status, _) = s.request(
        "POST",
        "/v3/phone/send/",
        Some(KEY_B),
        Some(&serde_json::json!({ "phone_number": GONE }).to_string()),
    );
    assert_eq!(status, 200);
    let mut s = s;
    s.child.kill().unwrap();
    s.child.wait().unwrap();

    // 31 days older: past a's retention. Only the indexed column moves; that is what the job reads.
    let db = rusqlite::Connection::open(dir.path().join("data/otpgate.db")).unwrap();
    let aged = db
        .execute(
            "UPDATE verifications SET created_at_ms = created_at_ms - 31 * 86400000
             WHERE request_id = ?1 OR application = 'b'",
            [&old],
        )
        .unwrap();
    assert_eq!(aged, 2);
    drop(db);

    // The job runs at start.
    let s = Server::start(
        dir.path(),
        &["serve", "--config", config.to_str().unwrap()],
        Some(KEY_A),
    );
    assert!(
        eventually(Duration::from_secs(10), || s.stored_verifications() == 2),
        "the aged verification of a is deleted, the rest kept: {}",
        s.stored_verifications()
    );
    // The job counts its deletions after their commit: wait for the count, not read it once.
    let deleted = || {
        metric(
            &s.metrics(),
            "otpgate_retention_deleted_total",
            &[("table", "verifications")],
        )
    };
    assert!(
        eventually(Duration::from_secs(5), || deleted() == 1.0),
        "otpgate_retention_deleted_total{{table=\"verifications\"}} = {}, want 1",
        deleted()
    );
    let db = rusqlite::Connection::open_with_flags(
        dir.path().join("data/otpgate.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let left: i64 = db
        .query_row(
            "SELECT count(*) FROM verifications WHERE request_id = ?1",
            [&old],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
}

#[test]
fn retention_outside_30_days_to_10_years_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &apps("retention_days = 7"));
    let out = std::process::Command::new(common::BIN)
        .args(["check-config", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("applications[0].retention_days"), "{text}");
}
