//! The engine process on the PostgreSQL store (`store.url = "postgres://…"`), as an operator runs
//! it: send and check, then `kill -9` and a restart on the same database. Needs
//! `TEST_DATABASE_URL` (a fresh schema per test, dropped after); skipped, saying so, without it.
mod common;
#[path = "store_suite/pg.rs"]
mod pg;

use common::Server;
use pg::Schema;

fn schema() -> Option<Schema> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(Schema::create())
}

fn start(dir: &std::path::Path, schema: &Schema, key: Option<&str>) -> Server {
    let config = dir.join("otpgate.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{}\"\n",
            schema.url()
        ),
    )
    .unwrap();
    Server::start(dir, &["serve", "--config", config.to_str().unwrap()], key)
}

#[test]
fn the_engine_on_postgresql_approves_and_keeps_its_state_across_kill_9() {
    let Some(schema) = schema() else { return };
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), &schema, None);
    let (pending, used) = ("+13105550131", "+13105550132");
    s.send(pending);
    s.send(used);
    let pending_code = s.latest_code(pending);
    let used_code = s.latest_code(used);
    assert_eq!(s.check(used, &used_code)["status"], "Approved");
    s.send(pending); // a resend right before the crash counts against the limit after it

    let mut s = s;
    s.child.kill().unwrap(); // SIGKILL: no drain, no flush
    s.child.wait().unwrap();
    // The generated key was stored (hashed) in PostgreSQL: the restart prints none.
    let s = start(dir.path(), &schema, Some(&s.key));
    assert_eq!(
        s.check(used, &used_code)["status"],
        "Expired or Not Found",
        "a used code stays used"
    );
    let approved = s.check(pending, &pending_code);
    assert_eq!(approved["status"], "Approved", "{approved}");
    assert_eq!(s.send(pending)["status"], "Success");
    assert_eq!(s.send(pending)["status"], "Blocked");
}
