//! PostgreSQL unreachable under a load of sends, against the real binary: a TCP proxy between
//! the engine and the database is cut (every connection closed, new ones refused) or stalled
//! (nothing moves, new connections unanswered) for a few seconds, then restored. Sends must fail fast with a clear 503 (`Retry-After`), `/readyz`
//! must say not ready, `otpgate_store_errors_total` count the errors and the outage be logged
//! once; then the same process (its group-commit writer included) must take sends again, and
//! every send acknowledged before, during or after is checkable and stored. The shared
//! PostgreSQL is never stopped. Needs `TEST_DATABASE_URL`; skipped, saying so, without it.
mod common;
#[path = "store_faults/load.rs"]
mod load;
#[path = "store_suite/pg.rs"]
mod pg;

use common::proxy::Proxy;
use common::smsc::{eventually, metric};
use common::Server;
use load::{judge, outage_logged, readyz, recovers, Load};
use std::time::{Duration, Instant};

/// `url` with its `host:port` replaced by `addr`; and the `host:port` it had.
fn redirect(url: &str, addr: &str) -> (String, String) {
    let start = url.find("://").unwrap() + 3;
    let end = url[start..].find(['/', '?']).map_or(url.len(), |i| start + i);
    let host_at = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    let target = url[host_at..end].to_owned();
    let target = if target.contains(':') {
        target
    } else {
        format!("{target}:5432")
    };
    (format!("{}{addr}{}", &url[..host_at], &url[end..]), target)
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// How the database goes away.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Every connection closed, new ones refused: answers come at once.
    Cut,
    /// No byte moves, new connections unanswered: the engine's timeouts must answer.
    Stalled,
}

#[test]
fn postgresql_cut_off_under_load_answers_503_fast_and_recovers_without_a_restart() {
    outage(Fault::Cut, Duration::from_secs(2));
}

/// The bound: a write queued behind a batch that hangs waits for it, then for its own: twice
/// the store's 1.5 s bound on one batch, and some slack for this shared machine.
#[test]
fn postgresql_gone_silent_under_load_answers_503_within_the_timeouts_and_recovers() {
    outage(Fault::Stalled, Duration::from_secs(4));
}

/// Breaks the database's connection under load for 3 s as `fault` says; every 503 must come
/// within `bound`.
fn outage(fault: Fault, bound: Duration) {
    let Some(schema) = block_on(pg::Schema::create()) else {
        return;
    };
    let (_, target) = redirect(&schema.url(), "");
    let proxy = Proxy::start(&target);
    let (url, _) = redirect(&schema.url(), &proxy.addr.to_string());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("otpgate.toml");
    std::fs::write(
        &config,
        format!("[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{url}\"\n[risk.pumping]\nmin_sends = 0\n"),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["serve", "--config", config.to_str().unwrap()], None);
    let load = Load::start(&server.base, &server.key, 4, Duration::from_millis(5));
    assert!(
        eventually(Duration::from_secs(30), || load.count(200) >= 30),
        "no load acknowledged"
    );

    let cut_at = Instant::now();
    match fault {
        Fault::Cut => proxy.cut(),
        Fault::Stalled => proxy.stall(),
    }
    let refused = eventually(Duration::from_secs(10), || load.count(503) >= 20);
    let ready_during = readyz(&server.base);
    std::thread::sleep(Duration::from_secs(3).saturating_sub(cut_at.elapsed()));
    proxy.restore();
    let outage = cut_at.elapsed();
    assert!(refused, "no 503s while PostgreSQL was {fault:?}: {}", server.stderr());
    assert_eq!(ready_during, 503, "/readyz said ready while PostgreSQL was {fault:?}");

    recovers(&server, &load);
    let answers = load.stop();
    let (acknowledged, refused) = judge(&answers, &["store_unavailable"], bound);
    let errors = metric(
        &server.metrics(),
        "otpgate_store_errors_total",
        &[("backend", "postgres"), ("kind", "unavailable")],
    );
    assert!(errors >= 1.0, "otpgate_store_errors_total: {errors}");
    outage_logged(&server);

    // Every acknowledged send: checkable with the code the sandbox received, and stored once.
    for phone in &acknowledged {
        let checked = server.check(phone, &server.latest_code(phone));
        assert_eq!(checked["status"], "Approved", "{phone}: {checked}");
    }
    let stored: Vec<String> = block_on(async {
        let client = schema.client().await;
        let rows = client.query("SELECT request_id FROM verifications", &[]).await.unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    });
    for a in answers.iter().filter(|a| a.status == 200) {
        let request_id = a.body["request_id"].as_str().unwrap();
        assert_eq!(
            stored.iter().filter(|id| *id == request_id).count(),
            1,
            "{}: acknowledged, not stored once",
            a.phone
        );
    }
    eprintln!(
        "postgresql {fault:?} for {outage:?}: {} sends acknowledged, {refused} answered 503 (max {:?}), \
         {} connections refused by the proxy, {errors} store errors counted",
        acknowledged.len(),
        answers
            .iter()
            .filter(|a| a.status == 503)
            .map(|a| a.took)
            .max()
            .unwrap_or_default(),
        proxy.refused.load(std::sync::atomic::Ordering::Relaxed)
    );
}
