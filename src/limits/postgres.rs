//! The shared limits' statements on PostgreSQL (tables of the store's last migration,
//! [`MIGRATION`]), on a small pool of their own so that a slow limit never waits behind the
//! store's writer.
//!
//! Every window and every liveness check is taken on the database clock
//! (`clock_timestamp()`), so nodes with skewed clocks still agree on windows and on who is live.
use super::window::{Grant, Reserve};
use crate::store::StoreError;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::NoTls;

/// The store migration that adds the shared limits' tables.
pub const MIGRATION: &str = "
    -- Fixed-window counters of the shared request and send limits (src/limits/window.rs):
    -- `granted` is what the last reservation got, returned by the same statement.
    CREATE TABLE limit_windows (
        scope         TEXT NOT NULL,
        key           TEXT NOT NULL,
        window_end_ms BIGINT NOT NULL,
        taken         BIGINT NOT NULL,
        granted       BIGINT NOT NULL,
        PRIMARY KEY (scope, key, window_end_ms)
    );
    CREATE INDEX limit_windows_by_end ON limit_windows (window_end_ms);
    -- SMS-pumping windows: sends and completions per (application, prefix) per time bucket.
    CREATE TABLE pumping_buckets (
        application TEXT NOT NULL,
        prefix      TEXT NOT NULL,
        bucket_ms   BIGINT NOT NULL,
        sends       BIGINT NOT NULL,
        completions BIGINT NOT NULL,
        PRIMARY KEY (application, prefix, bucket_ms)
    );
    CREATE INDEX pumping_buckets_by_bucket ON pumping_buckets (bucket_ms);
    CREATE TABLE pumping_blocks (
        application      TEXT NOT NULL,
        prefix           TEXT NOT NULL,
        blocked_until_ms BIGINT NOT NULL,
        PRIMARY KEY (application, prefix)
    );
    -- Live engine nodes (heartbeat), by which carriers' max_tps is split.
    CREATE TABLE nodes (
        node_id      TEXT PRIMARY KEY,
        last_seen_ms BIGINT NOT NULL
    );
";

/// Takes up to $4 of the $5 a window of $3 ms allows under ($1, $2), in one statement: the
/// row of the current window is inserted or, when another reservation made it first, updated
/// under its row lock, so concurrent reservations on every node take turns on it.
const RESERVE: &str = "
    WITH clock AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms)
    INSERT INTO limit_windows AS w (scope, key, window_end_ms, taken, granted)
    SELECT $1::text, $2::text, (now_ms / $3::bigint + 1) * $3::bigint,
           LEAST($4::bigint, $5::bigint), LEAST($4::bigint, $5::bigint)
    FROM clock
    ON CONFLICT (scope, key, window_end_ms) DO UPDATE
        SET granted = LEAST($4::bigint, GREATEST(0, $5::bigint - w.taken)),
            taken = w.taken + LEAST($4::bigint, GREATEST(0, $5::bigint - w.taken))
    RETURNING w.granted, w.window_end_ms - (SELECT now_ms FROM clock)";

/// A prefix's block, and its due sends and completions counted since the window's start (or
/// since its last block ended, when that is later: a block's end starts the judging afresh).
const PUMPING_WINDOW: &str = "
    WITH block AS (
        SELECT blocked_until_ms FROM pumping_blocks WHERE application = $1 AND prefix = $2
    )
    SELECT (SELECT blocked_until_ms FROM block),
           COALESCE(SUM(sends) FILTER (WHERE bucket_ms <= $4::bigint), 0)::bigint,
           COALESCE(SUM(completions), 0)::bigint
    FROM pumping_buckets
    WHERE application = $1 AND prefix = $2
      AND bucket_ms >= GREATEST($3::bigint, COALESCE((SELECT blocked_until_ms FROM block), 0))";

const BLOCK: &str = "
    INSERT INTO pumping_blocks (application, prefix, blocked_until_ms) VALUES ($1, $2, $3)
    ON CONFLICT (application, prefix) DO UPDATE
        SET blocked_until_ms = GREATEST(pumping_blocks.blocked_until_ms, EXCLUDED.blocked_until_ms)";

const RECORD: &str = "
    INSERT INTO pumping_buckets (application, prefix, bucket_ms, sends, completions)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (application, prefix, bucket_ms) DO UPDATE
        SET sends = pumping_buckets.sends + EXCLUDED.sends,
            completions = pumping_buckets.completions + EXCLUDED.completions";

/// Marks node $1 live and counts the other nodes seen within the last $2 ms.
const HEARTBEAT: &str = "
    WITH clock AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms),
    beat AS (
        INSERT INTO nodes (node_id, last_seen_ms) SELECT $1::text, now_ms FROM clock
        ON CONFLICT (node_id) DO UPDATE SET last_seen_ms = EXCLUDED.last_seen_ms
    )
    SELECT count(*) FROM nodes, clock WHERE node_id <> $1::text AND last_seen_ms > now_ms - $2::bigint";

/// The limits' connections: a few, apart from the store's.
const POOL_SIZE: usize = 4;

/// The shared limits' view of the database.
pub struct PgLimits {
    pool: Pool,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// One database error as a loggable message: severity, code and message, never its `DETAIL`
/// (which may quote a key such as an address).
fn pg(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Unavailable(format!("{} {}: {}", db.severity(), db.code().code(), db.message())),
        None => unavailable(e),
    }
}

/// The pumping numbers of one (application, prefix), as [`PgLimits::pumping_window`] reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PumpingCounts {
    /// The prefix's latest block (possibly over), in engine ms.
    pub blocked_until_ms: Option<i64>,
    pub due_sends: i64,
    pub completions: i64,
}

impl PgLimits {
    /// A pool on the store's database (`store.url`). Connects lazily: a database that is down
    /// at start-up makes the limits decide locally, it does not stop the node. The tables come
    /// from the store's migrations, applied when the store connected.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(unavailable)?;
        // Counters need no durability: a crash loses at most the last milliseconds of counts.
        // Not waiting for the WAL flush takes a reservation from ~4.8 ms to ~0.2 ms here
        // (README, "Limits across nodes"). Added to the URL's own options (e.g. search_path).
        let options = match config.get_options() {
            Some(theirs) => format!("{theirs} -c synchronous_commit=off"),
            None => "-c synchronous_commit=off".to_owned(),
        };
        config.options(&options);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(Duration::from_millis(500)))
            .create_timeout(Some(Duration::from_secs(2)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(unavailable)?;
        Ok(Self { pool })
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let client = self.pool.get().await.map_err(unavailable)?;
        let statement = client.prepare_cached(sql).await.map_err(pg)?;
        client.query(&statement, params).await.map_err(pg)
    }

    /// See [`PUMPING_WINDOW`]: sends at or before `due_before_ms` are due; buckets from
    /// `since_ms` on count.
    pub async fn pumping_window(
        &self,
        application: &str,
        prefix: &str,
        since_ms: i64,
        due_before_ms: i64,
    ) -> Result<PumpingCounts, StoreError> {
        let rows = self
            .query(PUMPING_WINDOW, &[&application, &prefix, &since_ms, &due_before_ms])
            .await?;
        let row = rows.first().ok_or_else(|| unavailable("pumping window: no row"))?;
        Ok(PumpingCounts {
            blocked_until_ms: row.get(0),
            due_sends: row.get(1),
            completions: row.get(2),
        })
    }

    /// Blocks a prefix until `until_ms` (or keeps a later block another node set).
    pub async fn block(&self, application: &str, prefix: &str, until_ms: i64) -> Result<(), StoreError> {
        self.query(BLOCK, &[&application, &prefix, &until_ms]).await.map(drop)
    }

    /// Adds sends and completions to a prefix's bucket.
    pub async fn record(
        &self,
        application: &str,
        prefix: &str,
        bucket_ms: i64,
        sends: i64,
        completions: i64,
    ) -> Result<(), StoreError> {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&application, &prefix, &bucket_ms, &sends, &completions];
        self.query(RECORD, &params).await.map(drop)
    }

    /// Marks `node` live; answers how many nodes are live, itself included.
    pub async fn heartbeat(&self, node: &str, live_within: Duration) -> Result<u32, StoreError> {
        let within = live_within.as_millis() as i64;
        let rows = self.query(HEARTBEAT, &[&node, &within]).await?;
        let others: i64 = rows.first().map(|r| r.get(0)).unwrap_or(0);
        Ok(others as u32 + 1)
    }

    /// Removes `node` from the live nodes (on shutdown), so the others take up its share now.
    pub async fn leave(&self, node: &str) -> Result<(), StoreError> {
        self.query("DELETE FROM nodes WHERE node_id = $1", &[&node])
            .await
            .map(drop)
    }

    /// Deletes windows that ended more than a minute ago, pumping buckets and blocks older than
    /// `pumping_before_ms`, and nodes unseen for an hour. Each is one indexed range.
    pub async fn prune(&self, pumping_before_ms: i64) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(unavailable)?;
        client
            .execute(
                "DELETE FROM limit_windows
                 WHERE window_end_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - 60000",
                &[],
            )
            .await
            .map_err(pg)?;
        client
            .execute(
                "DELETE FROM pumping_buckets WHERE bucket_ms < $1",
                &[&pumping_before_ms],
            )
            .await
            .map_err(pg)?;
        client
            .execute(
                "DELETE FROM pumping_blocks WHERE blocked_until_ms < $1",
                &[&pumping_before_ms],
            )
            .await
            .map_err(pg)?;
        client
            .execute(
                "DELETE FROM nodes
                 WHERE last_seen_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - 3600000",
                &[],
            )
            .await
            .map_err(pg)
            .map(drop)
    }
}

#[async_trait]
impl Reserve for PgLimits {
    async fn reserve(
        &self,
        scope: &str,
        key: &str,
        period_ms: i64,
        want: u32,
        limit: u32,
    ) -> Result<Grant, StoreError> {
        let (want, limit) = (want as i64, limit as i64);
        let rows = self
            .query(RESERVE, &[&scope, &key, &period_ms.max(1), &want, &limit])
            .await?;
        let row = rows.first().ok_or_else(|| unavailable("reserve: no row"))?;
        let granted: i64 = row.get(0);
        let left: i64 = row.get(1);
        Ok(Grant {
            granted: granted.max(0) as u32,
            window_left: Duration::from_millis(left.clamp(1, period_ms.max(1)) as u64),
        })
    }
}
