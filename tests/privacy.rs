//! Issue 18: phone numbers at rest. A send and a check through the real engine, then the raw
//! bytes of the SQLite file and its WAL (and every row of every table on PostgreSQL, as JSON)
//! must not hold the number in any spelling: E.164, national, or its bare digits. A store written
//! in clear (before encryption existed) is sealed in place at the next start and still answers.
mod common;
#[path = "store_suite/pg.rs"]
mod pg;

use common::Server;
use otpgate::store::crypto::{decode_key, Keyring};
use std::path::Path;

const NUMBER: &str = "+12025550142";

/// Every spelling of [`NUMBER`] a leak could take.
const SPELLINGS: &[&str] = &[
    "+12025550142",
    "12025550142",
    "2025550142",
    "202 555 0142",
    "(202) 555-0142",
    "202-555-0142",
    "5550142",
];

/// Panics naming the spelling and where it was found.
fn assert_absent(haystack: &[u8], what: &str) {
    for spelling in SPELLINGS {
        let found = haystack.windows(spelling.len()).any(|w| w == spelling.as_bytes());
        assert!(!found, "{spelling:?} found in clear in {what}");
    }
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

fn verify(s: &Server) {
    assert_eq!(s.send(NUMBER)["status"], "Success");
    let code = s.latest_code(NUMBER);
    assert_eq!(s.check(NUMBER, &code)["status"], "Approved");
}

#[test]
fn the_number_appears_nowhere_in_the_sqlite_file_or_its_wal() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::with_config(dir.path(), "");
    verify(&s);
    // The check that found the verification went through the blind index.
    assert_eq!(s.stored_verifications(), 1);
    let data = dir.path().join("data");
    // While it runs (the writes may still be in the WAL) and after a kill.
    assert_absent_from_files(&data);
    let s = s.restart_after_kill();
    assert_absent_from_files(&data);
    // Sealed rows read back: a second send is a resend of the approved number's history.
    let (status, body) = s.post("/v3/phone/send/", &serde_json::json!({ "phone_number": NUMBER }));
    assert_eq!(status, 200, "{body}");
    assert_absent_from_files(&data);
}

/// The keyring of a store that generated its key (`data/store.key`).
/// The SQLite store in `data` as stored: the verification's `phone` column and body (the store
/// holds one), and the `phone` column of every message.
fn stored_rows(data: &Path) -> (String, String, Vec<String>) {
    let db = rusqlite::Connection::open_with_flags(data.join("otpgate.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let (phone, body): (String, String) = db
        .query_row("SELECT phone, body FROM verifications", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let phones = db
        .prepare("SELECT phone FROM messages")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (phone, body, phones)
}

fn local_keys(data: &Path) -> Keyring {
    let text = std::fs::read_to_string(data.join("store.key")).unwrap();
    let (id, key) = text.trim().split_once(':').unwrap();
    Keyring::new((id, &decode_key(key).unwrap()), &[])
}

#[test]
fn a_store_written_in_clear_is_sealed_in_place_at_start_and_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::with_config(dir.path(), "");
    assert_eq!(s.send(NUMBER)["status"], "Success");
    let code = s.latest_code(NUMBER);
    let mut s = s;
    s.child.kill().unwrap();
    s.child.wait().unwrap();

    // Undo the sealing, as a store from before encryption holds its rows.
    let data = dir.path().join("data");
    let keys = local_keys(&data);
    {
        let db = rusqlite::Connection::open(data.join("otpgate.db")).unwrap();
        let rows: Vec<(String, String)> = db
            .prepare("SELECT request_id, body FROM verifications")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 1);
        for (id, body) in rows {
            let clear = keys.open_body(&body).unwrap();
            db.execute(
                "UPDATE verifications SET phone = ?2, body = ?3 WHERE request_id = ?1",
                rusqlite::params![id, NUMBER, clear],
            )
            .unwrap();
        }
        db.execute("UPDATE messages SET phone = ?1", [NUMBER]).unwrap();
        db.execute("DELETE FROM settings WHERE key = 'store.encryption.key_id'", [])
            .unwrap();
        db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        let bytes = std::fs::read(data.join("otpgate.db")).unwrap();
        assert!(
            bytes.windows(NUMBER.len()).any(|w| w == NUMBER.as_bytes()),
            "the clear-text store to upgrade"
        );
    }

    let config = dir.path().join("otpgate.toml");
    let s = Server::start(
        dir.path(),
        &["serve", "--config", config.to_str().unwrap()],
        Some(&s.key),
    );
    // Found through the index the upgrade wrote, opened from the body it sealed.
    assert_eq!(s.check(NUMBER, &code)["status"], "Approved");
    let (phone, body, phones) = stored_rows(&data);
    assert_eq!(phone, keys.index(NUMBER));
    assert!(keys.is_current_body(&body), "{body}");
    assert!(phones.iter().all(|p| keys.is_current(p)), "{phones:?}");
    // Sealed live rows; the clear values the upgrade overwrote may linger in free pages until
    // SQLite reuses them (SECURITY.md: run VACUUM after upgrading a store written in clear).
}

#[test]
fn the_number_appears_nowhere_in_the_postgresql_tables() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(schema) = runtime.block_on(pg::Schema::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = Server::on_store(dir.path(), &schema.url(), "", None);
    verify(&s);
    let dump = runtime.block_on(async {
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
        assert!(tables.iter().any(|t| t == "verifications"), "{tables:?}");
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
        dump
    });
    assert!(
        dump.contains("enc1:") && dump.contains("bi1:"),
        "the verification is there, sealed"
    );
    assert_absent(dump.as_bytes(), "the PostgreSQL tables");
    drop(s);
}

#[test]
fn rotating_to_a_configured_key_reseals_every_row_and_needs_the_old_key_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::with_config(dir.path(), "");
    assert_eq!(s.send(NUMBER)["status"], "Success");
    let code = s.latest_code(NUMBER);
    let mut s = s;
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    let data = dir.path().join("data");
    let local = std::fs::read_to_string(data.join("store.key")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("store.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the generated key is readable by its owner only");
    }
    let (local_id, local_key) = local.trim().split_once(':').unwrap();
    let new_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let config = dir.path().join("otpgate.toml");
    let base = std::fs::read_to_string(&config).unwrap();

    // Without the old key the store cannot open what it sealed: start-up fails, saying why.
    std::fs::write(
        &config,
        format!("{base}\n[store.encryption]\nkey_id = \"k2\"\nkey = \"{new_key}\"\n"),
    )
    .unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not configured"), "{stderr}");
    assert!(
        !stderr.contains(new_key) && !stderr.contains(local_key),
        "no key in the log"
    );

    // With it as a previous key: every row is resealed under k2, and the code still checks.
    std::fs::write(
        &config,
        format!(
            "{base}\n[store.encryption]\nkey_id = \"k2\"\nkey = \"{new_key}\"\n\
             [[store.encryption.previous]]\nkey_id = \"{local_id}\"\nkey = \"{local_key}\"\n"
        ),
    )
    .unwrap();
    let s = Server::start(
        dir.path(),
        &["serve", "--config", config.to_str().unwrap()],
        Some(&s.key),
    );
    assert_eq!(s.check(NUMBER, &code)["status"], "Approved");
    let k2 = Keyring::new(("k2", &decode_key(new_key).unwrap()), &[]);
    let (phone, body, phones) = stored_rows(&data);
    assert_eq!(phone, k2.index(NUMBER));
    assert!(k2.is_current_body(&body), "{body}");
    assert!(
        !phones.is_empty() && phones.iter().all(|p| k2.is_current(p)),
        "{phones:?}"
    );
}
