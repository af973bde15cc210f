//! Retention (issue 18): each application with `retention_days` set has its verifications older
//! than that deleted, with their messages and fallback plans, and its hosted sessions older than
//! that, with their undelivered webhook events, by a background job.
//!
//! The job runs at start and then every [`EVERY`]; it deletes in batches of [`BATCH`]
//! verifications (and as many sessions), one short transaction each
//! ([`Store::delete_older_than`], indexed ranges on `(application, created_at_ms)`), yielding
//! between batches, so it never holds the store's
//! write lock for long. Rows that old (30 days at least) are past any number actor's memory
//! (a day of history), so no actor writes them back. Counted in
//! `otpgate_retention_deleted_total{table}` (`verifications | messages | fallbacks | sessions |
//! outbox`).
use crate::engine::now_ms;
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// The counter of rows the job deleted, labelled by table.
pub const RETENTION_DELETED: &str = "otpgate_retention_deleted_total";
/// How often the job runs.
pub const EVERY: Duration = Duration::from_secs(300);
/// Verifications (and sessions) deleted per transaction at most.
pub const BATCH: usize = 500;
const DAY_MS: i64 = 86_400_000;

/// One application's retention: its name and days kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub application: String,
    pub days: u32,
}

/// Deletes, for each application, what is older than its retention at `now_ms`; returns the
/// verifications and sessions deleted. Stops at the first store error (the next run starts over).
pub async fn sweep(store: &dyn Store, retentions: &[Retention], now_ms: i64) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for r in retentions {
        let before_ms = now_ms - i64::from(r.days) * DAY_MS;
        loop {
            let erased = store.delete_older_than(&r.application, before_ms, BATCH).await?;
            for (table, rows) in [
                ("verifications", erased.verifications),
                ("messages", erased.messages),
                ("fallbacks", erased.fallbacks),
                ("sessions", erased.sessions),
                ("outbox", erased.outbox),
            ] {
                if rows > 0 {
                    metrics::counter!(RETENTION_DELETED, "table" => table).increment(rows);
                }
            }
            deleted += erased.verifications + erased.sessions;
            if erased.verifications < BATCH as u64 && erased.sessions < BATCH as u64 {
                break;
            }
            // Let sends and checks in between batches.
            tokio::task::yield_now().await;
        }
    }
    Ok(deleted)
}

/// Runs [`sweep`] now and every [`EVERY`], forever; nothing to do without any retention set.
pub async fn run(store: Arc<dyn Store>, retentions: Vec<Retention>) {
    if retentions.is_empty() {
        return;
    }
    // Registered at zero, so the series exists before the first delete.
    metrics::counter!(RETENTION_DELETED, "table" => "verifications").increment(0);
    let mut interval = tokio::time::interval(EVERY);
    loop {
        interval.tick().await;
        match sweep(store.as_ref(), &retentions, now_ms()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "retention deleted old verifications and sessions"),
            Err(e) => tracing::warn!(error = %e, "retention sweep failed; retrying at the next run"),
        }
    }
}
