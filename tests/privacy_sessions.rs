//! Issue 18 for path A: hosted sessions, the webhook outbox and the blocklist hold numbers too.
//! After a session verified on the hosted page, its webhooks waiting in the outbox and a number
//! added to the blocklist, neither the SQLite file (and WAL) nor any PostgreSQL table holds the
//! numbers in clear; a store from before this change is sealed at start and still answers; a key
//! rotation reseals these tables too; delete-on-demand and retention remove sessions and their
//! outbox rows.
mod common;
#[path = "store_suite/pg.rs"]
mod pg;

use common::hosted::{decision, destination, free_port, session, verify_on_page, workflow, Receiver};
use common::smsc::{eventually, metric};
use common::{write_config, Server};
use otpgate::store::crypto::{decode_key, Keyring};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// The number verified on the hosted page (given as the session's `contact_details.phone`).
const NUMBER: &str = "+12025550142";
/// The number added to the blocklist.
const BLOCKED: &str = "+12025550177";
/// Fast webhook retries: events wait in the outbox while the receiver is down.
const RETRY_FAST: &str = "[webhooks]\ntimeout_seconds = 1\nretry_initial_ms = 100\nretry_max_ms = 400\n";

/// Every spelling of a US number a leak could take: E.164, bare digits, national forms, the
/// subscriber part.
fn spellings(e164: &str) -> Vec<String> {
    let n = &e164[2..];
    vec![
        e164.to_owned(),
        e164[1..].to_owned(),
        n.to_owned(),
        format!("{} {} {}", &n[..3], &n[3..6], &n[6..]),
        format!("({}) {}-{}", &n[..3], &n[3..6], &n[6..]),
        format!("{}-{}-{}", &n[..3], &n[3..6], &n[6..]),
        n[3..].to_owned(),
    ]
}

/// Panics naming the spelling and where it was found.
fn assert_absent(haystack: &[u8], what: &str) {
    for number in [NUMBER, BLOCKED] {
        for spelling in spellings(number) {
            let found = haystack.windows(spelling.len()).any(|w| w == spelling.as_bytes());
            assert!(!found, "{spelling:?} found in clear in {what}");
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The database file and its WAL and shared-memory files, whichever exist.
fn assert_absent_from_files(data: &Path) {
    let mut scanned = 0;
    for name in ["otpgate.db", "otpgate.db-wal", "otpgate.db-shm"] {
        if let Ok(bytes) = std::fs::read(data.join(name)) {
            assert_absent(&bytes, name);
            scanned += bytes.len();
        }
    }
    assert!(scanned > 0, "no database file under {}", data.display());
}

/// Every live row of every SQLite table, as text: what the store holds, free pages aside.
fn sqlite_dump(db: &rusqlite::Connection) -> String {
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut dump = String::new();
    for table in tables {
        let mut stmt = db.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let value: rusqlite::types::Value = row.get(i).unwrap();
                dump.push_str(&format!("{value:?}\t"));
            }
            dump.push('\n');
        }
    }
    dump
}

fn open_db(data: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(data.join("otpgate.db")).unwrap()
}

fn count(db: &rusqlite::Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn local_keys(data: &Path) -> Keyring {
    let text = std::fs::read_to_string(data.join("store.key")).unwrap();
    let (id, key) = text.trim().split_once(':').unwrap();
    Keyring::new((id, &decode_key(key).unwrap()), &[])
}

fn blocklist_add(s: &Server, number: &str) {
    let (status, body) = s.post("/v3/blocklist/phone/", &json!({ "phone_number": number }));
    assert_eq!(status, 201, "{body}");
}

/// The numbers the blocklist API lists.
fn blocklisted(s: &Server) -> Vec<Value> {
    let (status, body) = s.request("GET", "/v3/blocklist/phone/", Some(&s.key), None);
    assert_eq!(status, 200, "{body}");
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["phone_number"].clone())
        .collect()
}

/// A session for `number` verified on the hosted page, while the webhook receiver is down (its
/// events stay in the outbox); returns the session id.
fn verified_session(s: &Server, workflow_id: &str, number: &str) -> String {
    let (id, url) = session(
        s,
        json!({ "workflow_id": workflow_id, "contact_details": { "phone": number } }),
    );
    verify_on_page(s, &url, "US", &number[2..], number);
    id
}

/// Path A's personal data through the engine: a destination whose receiver is down, a session
/// verified on the page (two events waiting), the blocked number. Returns the session id.
fn hosted_run(s: &Server, receiver_port: u16, dir: &Path) -> String {
    let mut receiver = Receiver::start(dir, receiver_port, 200);
    destination(s, &receiver);
    receiver.kill();
    let workflow_id = workflow(s, json!({}));
    let id = verified_session(s, &workflow_id, NUMBER);
    blocklist_add(s, BLOCKED);
    assert_eq!(blocklisted(s), [json!(BLOCKED)]);
    id
}

#[test]
fn sessions_outbox_and_blocklist_hold_no_number_in_the_sqlite_file_and_webhooks_still_carry_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let s = Server::with_config(dir.path(), RETRY_FAST);
    let id = hosted_run(&s, port, dir.path());
    let data = dir.path().join("data");
    {
        let db = open_db(&data);
        assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 2, "both events wait");
        assert_eq!(count(&db, "SELECT count(*) FROM sessions"), 1);
        assert_eq!(count(&db, "SELECT count(*) FROM blocklist"), 1);
    }
    assert_absent_from_files(&data);

    // After kill -9 and a restart: read back from the sealed rows.
    let s = s.restart_after_kill();
    assert_absent_from_files(&data);
    assert_eq!(decision(&s, &id)["contact_details"]["phone"], NUMBER);
    assert_eq!(blocklisted(&s), [json!(BLOCKED)], "listed from its sealed copy");
    // Still blocking (the send is refused), and removable by the number.
    assert_eq!(s.send(BLOCKED)["status"], "Blocked");
    let (status, body) = s.request("DELETE", "/v3/blocklist/phone/%2B12025550177/", Some(&s.key), None);
    assert_eq!(status, 204, "{body}");
    assert!(blocklisted(&s).is_empty());
    assert_eq!(count(&open_db(&data), "SELECT count(*) FROM blocklist"), 0);

    // The receiver gets the events as they were written: the number in clear, signed.
    let receiver = Receiver::start(dir.path(), port, 200);
    let deliveries = receiver.wait_for(2, Duration::from_secs(30));
    assert_eq!(deliveries.len(), 2, "{deliveries:#?}");
    for d in &deliveries {
        assert_eq!(d["verified"], true, "{d}");
    }
    let approved = deliveries
        .iter()
        .find(|d| d["body"]["status"] == "Approved")
        .expect("the Approved event");
    assert_eq!(approved["body"]["decision"]["contact_details"]["phone"], NUMBER);
    drop(s);
}

#[test]
fn sessions_outbox_and_blocklist_hold_no_number_in_the_postgresql_tables() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(schema) = runtime.block_on(pg::Schema::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = Server::on_store(dir.path(), &schema.url(), RETRY_FAST, None);
    let id = hosted_run(&s, free_port(), dir.path());
    let (dump, outbox, sessions) = runtime.block_on(async {
        let client = schema.client().await;
        let tables: Vec<String> = client
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut dump = String::new();
        for table in tables {
            for row in client
                .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
                .await
                .unwrap()
            {
                dump.push_str(row.get::<_, &str>(0));
                dump.push('\n');
            }
        }
        let count = |sql: &'static str| {
            let client = &client;
            async move { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
        };
        (
            dump,
            count("SELECT count(*) FROM outbox").await,
            count("SELECT count(*) FROM sessions WHERE phone LIKE 'bi1:%'").await,
        )
    });
    assert_eq!((outbox, sessions), (2, 1), "the events wait; the session is indexed");
    assert!(dump.contains("enc1:"), "sealed rows are there");
    assert_absent(dump.as_bytes(), "the PostgreSQL tables");
    // Read back through the store.
    assert_eq!(decision(&s, &id)["contact_details"]["phone"], NUMBER);
    assert_eq!(blocklisted(&s), [json!(BLOCKED)]);
    drop(s);
}

/// Undoes the sealing of sessions, outbox payloads and the blocklist, as the previous release
/// left them (its verifications sealed, the setting naming the key, no format setting).
fn unseal_path_a(data: &Path, keys: &Keyring) {
    let db = open_db(data);
    let sessions: Vec<(String, String)> = db
        .prepare("SELECT id, body FROM sessions")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, body) in sessions {
        db.execute(
            "UPDATE sessions SET body = ?2, phone = NULL, created_at_ms = NULL WHERE id = ?1",
            rusqlite::params![id, keys.open_body(&body).unwrap()],
        )
        .unwrap();
    }
    let payloads: Vec<(i64, String)> = db
        .prepare("SELECT seq, payload FROM outbox")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (seq, payload) in payloads {
        db.execute(
            "UPDATE outbox SET payload = ?2 WHERE seq = ?1",
            rusqlite::params![seq, keys.open(&payload).unwrap()],
        )
        .unwrap();
    }
    db.execute(
        "UPDATE blocklist SET value = ?1, sealed = NULL WHERE kind = 'phone_number'",
        [BLOCKED],
    )
    .unwrap();
    db.execute("DELETE FROM settings WHERE key = 'store.encryption.format'", [])
        .unwrap();
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    let dump = sqlite_dump(&db);
    assert!(
        contains(dump.as_bytes(), NUMBER) && contains(dump.as_bytes(), BLOCKED),
        "the clear-text store to upgrade"
    );
}

/// Every session, outbox payload and blocked number is sealed (or indexed) under `keys`.
fn assert_sealed_under(data: &Path, keys: &Keyring) {
    let db = open_db(data);
    let (phone, created, body): (Option<String>, Option<i64>, String) = db
        .query_row("SELECT phone, created_at_ms, body FROM sessions", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(phone.as_deref(), Some(keys.index(NUMBER).as_str()));
    assert!(created.is_some_and(|ms| ms > 1_700_000_000_000), "{created:?}");
    assert!(keys.is_current_body(&body), "{body}");
    let payloads: Vec<String> = db
        .prepare("SELECT payload FROM outbox")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        payloads.len() == 2 && payloads.iter().all(|p| keys.is_current(p)),
        "{payloads:?}"
    );
    let (value, sealed): (String, String) = db
        .query_row("SELECT value, sealed FROM blocklist", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(value, keys.index(BLOCKED));
    assert!(keys.is_current(&sealed));
    assert_absent(sqlite_dump(&db).as_bytes(), "the live rows");
}

#[test]
fn a_store_with_path_a_in_clear_is_sealed_at_start_and_a_rotation_reseals_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let s = Server::with_config(dir.path(), RETRY_FAST);
    let id = hosted_run(&s, port, dir.path());
    let key = s.key.clone();
    drop(s); // SIGKILL
    let data = dir.path().join("data");
    let keys = local_keys(&data);
    unseal_path_a(&data, &keys);

    let config = dir.path().join("otpgate.toml");
    let args = ["serve", "--config", config.to_str().unwrap()];
    let s = Server::start(dir.path(), &args, Some(&key));
    assert_sealed_under(&data, &keys);
    // Answers from the upgraded rows: the session, the listed and blocking number.
    assert_eq!(decision(&s, &id)["contact_details"]["phone"], NUMBER);
    assert_eq!(blocklisted(&s), [json!(BLOCKED)]);
    assert_eq!(s.send(BLOCKED)["status"], "Blocked");
    drop(s);

    // Rotation to a configured key, the generated one kept as previous: all resealed under k2.
    let local = std::fs::read_to_string(data.join("store.key")).unwrap();
    let (local_id, local_key) = local.trim().split_once(':').unwrap();
    let new_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let base = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "{base}\n[store.encryption]\nkey_id = \"k2\"\nkey = \"{new_key}\"\n\
             [[store.encryption.previous]]\nkey_id = \"{local_id}\"\nkey = \"{local_key}\"\n"
        ),
    )
    .unwrap();
    let s = Server::start(dir.path(), &args, Some(&key));
    let k2 = Keyring::new(("k2", &decode_key(new_key).unwrap()), &[]);
    assert_sealed_under(&data, &k2);
    assert_eq!(decision(&s, &id)["contact_details"]["phone"], NUMBER);
    assert_eq!(blocklisted(&s), [json!(BLOCKED)]);
    assert_eq!(s.send(BLOCKED)["status"], "Blocked");

    // The events still reach the receiver, opened with the new key.
    let receiver = Receiver::start(dir.path(), port, 200);
    let deliveries = receiver.wait_for(2, Duration::from_secs(30));
    assert_eq!(deliveries.len(), 2, "{deliveries:#?}");
    assert!(deliveries.iter().all(|d| d["verified"] == true), "{deliveries:#?}");
}

const KEY_A: &str = "otpg_test_key_application_a_0001";
const KEY_B: &str = "otpg_test_key_application_b_0002";
const KEPT: &str = "+12025550143";

fn apps(extra_a: &str) -> String {
    format!(
        "[[applications]]\nname = \"a\"\napi_key = \"{KEY_A}\"\n{extra_a}\n\
         [[applications]]\nname = \"b\"\napi_key = \"{KEY_B}\"\n{RETRY_FAST}"
    )
}

/// Two sessions verified (GONE's and KEPT's), their events waiting; then GONE deleted on demand.
/// Returns the answer's `deleted`.
fn delete_one_numbers_sessions(s: &Server, dir: &Path) -> Value {
    let mut receiver = Receiver::start(dir, free_port(), 200);
    destination(s, &receiver);
    receiver.kill();
    let workflow_id = workflow(s, json!({}));
    verified_session(s, &workflow_id, NUMBER);
    verified_session(s, &workflow_id, KEPT);
    let (status, body) = s.request("DELETE", "/v3/phone/%2B12025550142/", Some(KEY_A), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"]["verifications"], 1, "{body}");
    assert_eq!(body["deleted"]["sessions"], 1, "{body}");
    assert_eq!(body["deleted"]["outbox"], 2, "{body}");
    body["deleted"].clone()
}

#[test]
fn delete_on_demand_removes_the_numbers_sessions_and_their_outbox_rows_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &apps(""));
    let s = Server::start(
        dir.path(),
        &["serve", "--config", config.to_str().unwrap()],
        Some(KEY_A),
    );
    delete_one_numbers_sessions(&s, dir.path());
    let db = open_db(&dir.path().join("data"));
    // KEPT's session and its two events stay.
    assert_eq!(count(&db, "SELECT count(*) FROM sessions"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 2);
    let keys = local_keys(&dir.path().join("data"));
    let left: String = db.query_row("SELECT phone FROM sessions", [], |r| r.get(0)).unwrap();
    assert_eq!(left, keys.index(KEPT));
    // Nothing left for the number: a second delete finds nothing.
    let (status, _) = s.request("DELETE", "/v3/phone/%2B12025550142/", Some(KEY_A), None);
    assert_eq!(status, 404);
}

#[test]
fn delete_on_demand_removes_the_numbers_sessions_and_their_outbox_rows_on_postgresql() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(schema) = runtime.block_on(pg::Schema::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = Server::on_store(dir.path(), &schema.url(), &apps(""), Some(KEY_A));
    delete_one_numbers_sessions(&s, dir.path());
    let (sessions, outbox): (i64, i64) = runtime.block_on(async {
        let client = schema.client().await;
        let sessions = client.query_one("SELECT count(*) FROM sessions", &[]).await.unwrap();
        let outbox = client.query_one("SELECT count(*) FROM outbox", &[]).await.unwrap();
        (sessions.get(0), outbox.get(0))
    });
    assert_eq!((sessions, outbox), (1, 2), "KEPT's session and its events stay");
    drop(s);
}

#[test]
fn retention_deletes_sessions_older_than_the_applications_retention_with_their_outbox_rows() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &apps("retention_days = 30"));
    let args = ["serve", "--config", config.to_str().unwrap()];
    let s = Server::start(dir.path(), &args, Some(KEY_A));
    let mut receiver = Receiver::start(dir.path(), free_port(), 200);
    destination(&s, &receiver);
    receiver.kill();
    let workflow_id = workflow(&s, json!({}));
    let old = verified_session(&s, &workflow_id, NUMBER);
    verified_session(&s, &workflow_id, KEPT);
    drop(s);

    // 31 days older: past a's retention. Only the indexed column moves; that is what the job reads.
    let db = open_db(&dir.path().join("data"));
    let aged = db
        .execute(
            "UPDATE sessions SET created_at_ms = created_at_ms - 31 * 86400000 WHERE id = ?1",
            [&old],
        )
        .unwrap();
    assert_eq!(aged, 1);
    assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 4);

    // The job runs at start.
    let s = Server::start(dir.path(), &args, Some(KEY_A));
    assert!(
        eventually(Duration::from_secs(10), || count(&db, "SELECT count(*) FROM sessions")
            == 1),
        "the aged session is deleted, the other kept"
    );
    let left: i64 = db
        .query_row("SELECT count(*) FROM sessions WHERE id = ?1", [&old], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox"),
        2,
        "only the kept session's events"
    );
    // Counted once the delete returned: the rows may be gone a moment before the counter moves.
    let deleted = |table| metric(&s.metrics(), "otpgate_retention_deleted_total", &[("table", table)]);
    assert!(
        eventually(Duration::from_secs(5), || deleted("sessions") == 1.0
            && deleted("outbox") == 2.0),
        "{}",
        s.metrics()
    );
}
