//! Store outages on the embedded store (SQLite), injected under a load of sends against the real
//! binary: the database files made unwritable, then the disk full. In each case sends must fail
//! fast with a clear 503 (`Retry-After`, the API's error shape), `/readyz` must say not ready,
//! `otpgate_store_errors_total` must count the errors and the outage be logged once (not per
//! request); once the fault clears the same process must take sends again, and afterwards every
//! acknowledged send is checkable and stored, and `PRAGMA integrity_check` says `ok`.
//!
//! Both tests need root, to mount a file system of their own under the data directory; they
//! are skipped, saying why, when that fails. Read-only: `mount -o remount,ro` is refused (EBUSY)
//! while SQLite holds its files open for writing, and root ignores file modes, so the test marks
//! the database and its WAL immutable (`chattr +i`) on a loop-mounted ext4, which refuses
//! writes even through descriptors opened before, even to root (tmpfs does not enforce that).
mod common;
#[path = "store_faults/load.rs"]
mod load;

use common::smsc::{eventually, metric};
use common::Server;
use load::{judge, outage_logged, readyz, recovers, Answer, Load};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A send-only load: with nobody completing, the pumping protection would block the prefixes.
const CONFIG: &str = "[risk.pumping]\nmin_sends = 0\n";
/// Every 503 must come sooner than this.
const FAST: Duration = Duration::from_secs(2);

/// A file system mounted at a path for the test; unmounted when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Runs a command; `Err` with its output when it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// Mounts a file system at `data` with `mount_args` (the source and options), or says on
/// stderr why the test is skipped.
fn mount(data: &Path, mount_args: &[&str]) -> Option<Mount> {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("store_faults: not root (mounting a test file system needs it): SKIPPING");
        return None;
    }
    std::fs::create_dir_all(data).unwrap();
    let mut args = mount_args.to_vec();
    args.push(data.to_str().unwrap());
    match run("mount", &args) {
        Ok(()) => Some(Mount(data.to_owned())),
        Err(e) => {
            eprintln!("store_faults: cannot mount a test file system ({e}): SKIPPING");
            None
        }
    }
}

fn chattr(flag: &str, files: &[PathBuf]) {
    for file in files {
        run("chattr", &[flag, file.to_str().unwrap()]).unwrap();
    }
}

/// Stops the engine as an operator does (SIGTERM: drain, flush the store) and waits for it.
fn stop(mut server: Server) -> PathBuf {
    assert_eq!(unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) }, 0);
    let status = server.child.wait().unwrap();
    assert!(status.success(), "otpgate exited with {status}: {}", server.stderr());
    server.dir.join("data/otpgate.db")
}

/// Every acknowledged send can be checked with the code the sandbox received, and is in the
/// store once the engine stopped; the database passes `PRAGMA integrity_check`.
fn nothing_lost(server: Server, answers: &[Answer], acknowledged: &[String]) {
    for phone in acknowledged {
        let checked = server.check(phone, &server.latest_code(phone));
        assert_eq!(checked["status"], "Approved", "{phone}: {checked}");
    }
    let db = rusqlite::Connection::open(stop(server)).unwrap();
    let integrity: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    let mut stored = db
        .prepare("SELECT count(*) FROM verifications WHERE request_id = ?1")
        .unwrap();
    for a in answers.iter().filter(|a| a.status == 200) {
        let request_id = a.body["request_id"].as_str().unwrap();
        let n: i64 = stored.query_row([request_id], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "{}: acknowledged, not stored", a.phone);
    }
}

#[test]
fn unwritable_database_files_answer_503_fast_and_recover_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("ext4.img");
    let created = std::fs::File::create(&image).and_then(|f| f.set_len(64 << 20));
    if let Err(e) = created
        .map_err(|e| e.to_string())
        .and_then(|_| run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]))
    {
        eprintln!("store_faults: cannot make an ext4 image ({e}): SKIPPING");
        return;
    }
    let data = dir.path().join("data");
    let Some(_mount) = mount(&data, &["-o", "loop", image.to_str().unwrap()]) else {
        return;
    };
    let server = Server::with_config(dir.path(), CONFIG);
    let load = Load::start(&server.base, &server.key, 4, Duration::from_millis(5));
    assert!(
        eventually(Duration::from_secs(30), || load.count(200) >= 30),
        "no load acknowledged"
    );

    let files = [data.join("otpgate.db"), data.join("otpgate.db-wal")];
    chattr("+i", &files);
    let refused = eventually(Duration::from_secs(10), || load.count(503) >= 20);
    let ready_during = readyz(&server.base);
    chattr("-i", &files);
    assert!(
        refused,
        "no 503s while the database was unwritable: {}",
        server.stderr()
    );
    assert_eq!(ready_during, 503, "/readyz said ready while writes failed");

    recovers(&server, &load);
    let answers = load.stop();
    let (acknowledged, refused) = judge(&answers, &["store_unavailable"], FAST);
    let metrics = server.metrics();
    let errors = metric(
        &metrics,
        "otpgate_store_errors_total",
        &[("backend", "sqlite"), ("kind", "unavailable")],
    );
    assert!(errors >= 1.0, "otpgate_store_errors_total: {errors}");
    outage_logged(&server);
    eprintln!(
        "sqlite unwritable: {} sends acknowledged, {refused} answered 503 (max {:?}), {errors} store errors counted",
        acknowledged.len(),
        answers
            .iter()
            .filter(|a| a.status == 503)
            .map(|a| a.took)
            .max()
            .unwrap_or_default()
    );
    nothing_lost(server, &answers, &acknowledged);
}

#[test]
fn a_full_disk_answers_503_storage_full_and_recovers_once_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(_mount) = mount(&data, &["-t", "tmpfs", "-o", "size=16m", "tmpfs"]) else {
        return;
    };
    let server = Server::with_config(dir.path(), CONFIG);
    let load = Load::start(&server.base, &server.key, 4, Duration::from_millis(5));
    assert!(
        eventually(Duration::from_secs(30), || load.count(200) >= 20),
        "no load acknowledged"
    );

    // Fill every block left: the WAL must grow for new commits, and cannot.
    let filler = data.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
    }
    let full = |a: &Answer| a.status == 503 && a.body["code"] == "store_full";
    let refused = eventually(Duration::from_secs(60), || load.count_where(full) >= 10);
    let ready_during = readyz(&server.base);
    std::fs::remove_file(&filler).unwrap();
    assert!(
        refused,
        "no 503 store_full while the disk was full: {}",
        server.stderr()
    );
    assert_eq!(ready_during, 503, "/readyz said ready while the disk was full");

    recovers(&server, &load);
    let answers = load.stop();
    let full_answers = answers.iter().filter(|a| full(a)).count();
    let (acknowledged, refused) = judge(&answers, &["store_full", "store_unavailable"], FAST);
    let example = answers.iter().find(|a| full(a)).unwrap();
    assert!(
        example.body["detail"].as_str().unwrap().contains("storage is full"),
        "{}",
        example.body
    );
    let metrics = server.metrics();
    let errors = metric(
        &metrics,
        "otpgate_store_errors_total",
        &[("backend", "sqlite"), ("kind", "full")],
    );
    assert!(errors >= 1.0, "otpgate_store_errors_total: {errors}");
    outage_logged(&server);
    eprintln!(
        "sqlite disk full: {} sends acknowledged, {refused} answered 503 ({full_answers} store_full), {errors} store errors counted",
        acknowledged.len()
    );
    nothing_lost(server, &answers, &acknowledged);
}
