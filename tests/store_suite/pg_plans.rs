//! Issue 11's query-plan check on the PostgreSQL store: `EXPLAIN` of every statement of
//! [`postgres::HOT_PATH_STATEMENTS`] (send, check, receipt and callback paths, sessions and webhook
//! deliveries), as the generic plan a long-lived prepared statement settles on, over tables
//! holding 20,000 rows each with fresh statistics (`ANALYZE`). Fails on a sequential scan of any
//! of those tables (they all grow with use) or on an aggregate. Skipped, saying so, when
//! `TEST_DATABASE_URL` is unset.
use crate::pg::Schema;
use otpgate::store::postgres::{self, PostgresStore};

/// What stop 9 inserted each charge with (here in PostgreSQL's spelling): it counted the month's
/// ledger on every send.
const COUNTING_CHARGE: &str = "INSERT INTO charges
       (request_id, application, month, charged_at_ms, channel, country, amount_micros, free)
     VALUES ($1, $2, $3, $4, $5, $6, $7,
       (SELECT COUNT(*) < $8 FROM charges WHERE application = $2 AND month = $3))
     ON CONFLICT (request_id) DO NOTHING";

/// A read of every approved verification: a scan of the whole table.
const SCANNING_READ: &str = "SELECT body FROM verifications WHERE state = 'approved'";

/// 2026-11-30T12:00:00Z and its month.
const NOW_MS: i64 = 1_796_040_000_000;
const MONTH: &str = "2026-11";
const ROWS: i64 = 20_000;

/// A migrated schema whose tables hold [`ROWS`] rows each, analysed; `None` when skipped.
async fn filled() -> Option<(Schema, tokio_postgres::Client)> {
    let schema = Schema::create().await?;
    drop(PostgresStore::connect(&schema.url()).await.unwrap());
    let client = schema.client().await;
    // One application's month of verifications, charges, sessions, waiting webhook events and
    // workflows, accepted messages and fallback plans; and as many other applications, each with its month's totals, its session
    // counter and a webhook destination.
    client
        .batch_execute(&format!(
            "INSERT INTO verifications SELECT 'fill-' || i, 'a', '+3460' || lpad(i::text, 7, '0'),
               {NOW_MS} - 1000 - i, 'approved', '{{}}' FROM generate_series(1, {ROWS}) i;
             INSERT INTO charges SELECT 'fill-' || i, 'a', '{MONTH}', {NOW_MS} - 1000 - i, 'sms', 'ES', 30000, i <= 500
               FROM generate_series(1, {ROWS}) i;
             INSERT INTO charge_months SELECT 'app-' || i, '{MONTH}', 1 FROM generate_series(1, {ROWS}) i;
             INSERT INTO usage_months SELECT 'app-' || i, '{MONTH}', 'sms', 'ES', 1, 1, 0 FROM generate_series(1, {ROWS}) i;
             INSERT INTO sessions SELECT 'fill-' || i, 'a', i + 1, decode(md5(i::text) || md5((-i)::text), 'hex'),
               'In Progress', 1, {NOW_MS} + 3600000 + i, '{{}}' FROM generate_series(1, {ROWS}) i;
             INSERT INTO session_numbers SELECT 'app-' || i, 1 FROM generate_series(1, {ROWS}) i;
             INSERT INTO webhook_destinations SELECT 'd-' || i, 'app-' || i, 'http://127.0.0.1:9/', '[]', 127, 'k', i
               FROM generate_series(1, {ROWS}) i;
             INSERT INTO outbox (session_id, destination_id, status, payload, created_at_ms, due_at_ms)
               SELECT 'fill-' || i, 'd-1', 'In Progress', '{{}}', {NOW_MS}, {NOW_MS} + 3600000 + i
               FROM generate_series(1, {ROWS}) i;
             INSERT INTO workflows SELECT 'a', 'wf-fill-' || i, i, '{{}}' FROM generate_series(1, {ROWS}) i;
             INSERT INTO messages SELECT 'smsc-a', to_hex(4096 + i), 'fill-' || i, 'a', '+3460' || lpad(i::text, 7, '0'),
               'sms', 'accepted', {NOW_MS} - 1000 - i FROM generate_series(1, {ROWS}) i;
             INSERT INTO fallbacks SELECT 'fill-' || i, 'a', '+3460' || lpad(i::text, 7, '0'), {NOW_MS} + 3600000 + i,
               NULL, 'smsc-a', '{{}}' FROM generate_series(1, {ROWS}) i;
             ANALYZE;
             SET plan_cache_mode = force_generic_plan;"
        ))
        .await
        .unwrap();
    Some((schema, client))
}

/// The generic plan of `sql`, one line per row of `EXPLAIN`'s text.
async fn plan(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    let parameters = (1..=32).rev().find(|n| sql.contains(&format!("${n}"))).unwrap_or(0);
    let arguments = vec!["NULL"; parameters].join(", ");
    client
        .batch_execute(&format!("DEALLOCATE ALL; PREPARE hot AS {sql}"))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    let explain = if parameters == 0 {
        "EXPLAIN EXECUTE hot".to_owned()
    } else {
        format!("EXPLAIN EXECUTE hot({arguments})")
    };
    client
        .query(explain.as_str(), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

/// Why `sql` can cost more as the store fills.
async fn plan_faults(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    let plan = plan(client, sql).await;
    let mut faults = Vec::new();
    for line in &plan {
        let node = line.trim_start().trim_start_matches("->").trim();
        if node.starts_with("Seq Scan on ") || node.starts_with("Parallel Seq Scan on ") {
            faults.push(format!("sequential scan: {node}"));
        }
        if node.starts_with("Aggregate") || node.starts_with("HashAggregate") || node.starts_with("GroupAggregate") {
            faults.push(format!("aggregate over every matching row: {node}"));
        }
    }
    if !faults.is_empty() {
        faults.push(format!("plan:\n{}", plan.join("\n")));
    }
    faults
}

#[tokio::test]
async fn every_hot_statement_has_a_plan_that_does_not_grow_with_the_store() {
    let Some((_schema, client)) = filled().await else {
        return;
    };
    let mut faults = Vec::new();
    for (name, sql) in postgres::HOT_PATH_STATEMENTS {
        for fault in plan_faults(&client, sql).await {
            faults.push(format!("{name}: {fault}"));
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

/// The check above catches the fault of issue 11 (stop 9's charge insert) and a scan.
#[tokio::test]
async fn the_check_catches_a_charge_that_counts_the_month_and_a_scan() {
    let Some((_schema, client)) = filled().await else {
        return;
    };
    let faults = plan_faults(&client, COUNTING_CHARGE).await;
    assert!(faults.iter().any(|f| f.starts_with("aggregate")), "{faults:?}");
    let faults = plan_faults(&client, SCANNING_READ).await;
    assert!(
        faults
            .iter()
            .any(|f| f.starts_with("sequential scan: Seq Scan on verifications")),
        "{faults:?}"
    );
}
