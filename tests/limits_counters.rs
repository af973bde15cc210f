//! The shared limits' counters on PostgreSQL (`src/limits`), as two nodes use them: two pools on
//! one fresh schema (the store's migrations make the tables). The same counter logic on the
//! in-process side is unit-tested in `src/limits/window.rs` (a fake counter) and `src/risk.rs`,
//! `src/api/limits.rs` (governor buckets). Needs `TEST_DATABASE_URL`; skipped, saying so, without.
#[path = "store_suite/pg.rs"]
mod pg;

use otpgate::config::RiskPolicy;
use otpgate::limits::postgres::PgLimits;
use otpgate::limits::pumping;
use otpgate::limits::window::{Reservations, Reserve, Take};
use otpgate::store::postgres::PostgresStore;
use pg::Schema;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MINUTE: Duration = Duration::from_secs(60);

/// A fresh schema, migrated, and two nodes' views of it.
async fn two_nodes() -> Option<(Schema, Arc<PgLimits>, Arc<PgLimits>)> {
    let schema = Schema::create().await?;
    PostgresStore::connect(&schema.url()).await.expect("migrate");
    let a = Arc::new(PgLimits::new(&schema.url()).unwrap());
    let b = Arc::new(PgLimits::new(&schema.url()).unwrap());
    Some((schema, a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reservations_on_two_nodes_never_grant_more_than_the_limit() {
    let Some((_schema, a, b)) = two_nodes().await else {
        return;
    };
    let mut tasks = Vec::new();
    for i in 0..40 {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            node.reserve("key", "acme", 60_000, 3, 50).await.unwrap()
        }));
    }
    let mut granted = 0;
    for t in tasks {
        let grant = t.await.unwrap();
        assert!(grant.granted <= 3);
        assert!(
            grant.window_left > Duration::ZERO && grant.window_left <= MINUTE,
            "{grant:?}"
        );
        granted += grant.granted;
    }
    assert_eq!(granted, 50, "40 reservations of 3 against a limit of 50");
    // Another key, another period: counters of their own.
    assert_eq!(a.reserve("key", "other", 60_000, 3, 50).await.unwrap().granted, 3);
    assert_eq!(a.reserve("key", "acme", 1_000, 3, 50).await.unwrap().granted, 3);
}

#[tokio::test]
async fn two_nodes_admit_a_small_limit_exactly_and_refuse_with_the_windows_end() {
    let Some((_schema, a, b)) = two_nodes().await else {
        return;
    };
    let (a, b) = (Reservations::new(a), Reservations::new(b));
    let limit = NonZeroU32::new(7).unwrap();
    let mut admitted = 0;
    for i in 0..30 {
        let node = if i % 2 == 0 { &a } else { &b };
        match node.take("key", "acme", limit, MINUTE).await {
            Take::Admitted => admitted += 1,
            Take::Refused(wait) => assert!(wait > Duration::ZERO && wait <= MINUTE, "{wait:?}"),
            Take::Unavailable => panic!("the database is up"),
        }
    }
    // A window may end during the loop (fixed windows): then more are admitted, never fewer.
    assert!((7..=14).contains(&admitted), "{admitted}");
}

#[tokio::test]
async fn a_pumping_block_decided_on_one_node_refuses_on_the_other() {
    let Some((_schema, a, b)) = two_nodes().await else {
        return;
    };
    let policy = RiskPolicy {
        pumping_min_sends: 4,
        pumping_min_completion: 0.5,
        pumping_grace_ms: 0,
        pumping_block_ms: 600_000,
        ..RiskPolicy::default()
    };
    let now = otpgate::engine::now_ms() - 2_000;
    // Node A's sends and node B's: judged together.
    a.record("acme", "+3461234", now, 2, 0).await.unwrap();
    b.record("acme", "+3461234", now, 1, 0).await.unwrap();
    assert_eq!(
        pumping::judge(&a, &policy, "acme", "+3461234", now + 1_000)
            .await
            .unwrap(),
        None,
        "3 < 4"
    );
    b.record("acme", "+3461234", now, 1, 1).await.unwrap();
    let until = pumping::judge(&b, &policy, "acme", "+3461234", now + 1_000)
        .await
        .unwrap()
        .expect("4 sends, 1 completed: blocked");
    assert_eq!(until, now + 1_000 + 600_000);
    // Node A sees B's block; another prefix or application is not blocked.
    assert_eq!(
        pumping::judge(&a, &policy, "acme", "+3461234", now + 1_500)
            .await
            .unwrap(),
        Some(until)
    );
    assert_eq!(
        pumping::judge(&a, &policy, "acme", "+3461299", now + 1_500)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        pumping::judge(&a, &policy, "other", "+3461234", now + 1_500)
            .await
            .unwrap(),
        None
    );
    // Once over, the prefix is judged afresh: the sends before the block no longer count.
    assert_eq!(
        pumping::judge(&a, &policy, "acme", "+3461234", until + 1)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn the_heartbeat_counts_live_nodes_and_a_node_that_leaves_stops_counting() {
    let Some((_schema, a, b)) = two_nodes().await else {
        return;
    };
    let live = Duration::from_secs(3);
    assert_eq!(a.heartbeat("node-a", live).await.unwrap(), 1);
    assert_eq!(b.heartbeat("node-b", live).await.unwrap(), 2);
    assert_eq!(a.heartbeat("node-a", live).await.unwrap(), 2);
    b.leave("node-b").await.unwrap();
    assert_eq!(a.heartbeat("node-a", live).await.unwrap(), 1);
    // Pruning keeps what is live.
    a.prune(otpgate::engine::now_ms() - 60_000).await.unwrap();
    assert_eq!(b.heartbeat("node-b", live).await.unwrap(), 2);
}

#[tokio::test]
async fn an_unreachable_database_makes_the_node_decide_alone_quickly() {
    // A port nobody listens on: the pool fails to connect.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let pg = Arc::new(PgLimits::new(&format!("postgres://postgres@127.0.0.1:{port}/test")).unwrap());
    let node = Reservations::new(pg);
    let started = Instant::now();
    for _ in 0..100 {
        assert_eq!(
            node.take("key", "acme", NonZeroU32::new(5).unwrap(), MINUTE).await,
            Take::Unavailable
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a down database must not slow every request: {:?}",
        started.elapsed()
    );
}

/// A database outage fails over to each node's own limits, neither open nor closed: the request
/// and send limits still refuse past what one node allows, and pumping is judged on this node's
/// windows.
#[tokio::test]
async fn without_the_database_each_node_falls_back_to_its_own_limits() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let policy = RiskPolicy {
        sends_per_minute_per_application: 2,
        ..RiskPolicy::default()
    };
    let shared = otpgate::limits::Shared::start(&url, &policy).unwrap();
    let limits = otpgate::api::limits::Limits::with_shared(
        otpgate::config::RequestLimits {
            per_ip: None,
            per_key: NonZeroU32::new(3),
            failed_auth_per_ip: None,
        },
        Some(shared.clone()),
    );
    for _ in 0..3 {
        assert_eq!(limits.admit_key_across_nodes("acme").await, Ok(()));
    }
    assert!(limits.admit_key_across_nodes("acme").await.is_err(), "fails open");

    let risk = otpgate::risk::Risk::with_shared(policy, Some(shared));
    let now = otpgate::engine::now_ms();
    let started = Instant::now();
    for _ in 0..2 {
        assert_eq!(risk.admit_across_nodes("acme", None, "+14155552671", now).await, Ok(()));
    }
    assert!(matches!(
        risk.admit_across_nodes("acme", None, "+14155552671", now).await,
        Err(otpgate::risk::Refusal::RateLimited {
            scope: "application",
            ..
        })
    ));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "sends wait for a down database: {:?}",
        started.elapsed()
    );
}
