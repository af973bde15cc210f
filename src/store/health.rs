//! What the engine last saw of its store, for `/readyz`, the store-error metric and the logs.
//!
//! Each backend reports the outcome of every write batch and every read here
//! ([`observe`]). Reads and writes are tracked apart: on a file system remounted read-only, or a
//! full disk, reads keep working while every write fails, and one direction's success must not
//! hide the other's outage (nor make the log flap once per request). A log line is written on
//! each transition only (working → failing, failing → working); each failure counts in
//! `otpgate_store_errors_total{backend,kind}` (kinds: [`super::StoreError::kind`]).
//!
//! An outage ends at the first success [`QUIET`] or more after its last failure: on a full disk
//! some commits still fit (SQLite reuses WAL space it already holds) between ones that do not,
//! and a success in between is not a recovery.
use super::StoreError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long after its last failure a success ends an outage.
pub const QUIET: Duration = Duration::from_secs(2);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A read (a query on a pooled connection) or a write (one writer batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
        }
    }

    fn failing(self) -> &'static AtomicBool {
        static READS: AtomicBool = AtomicBool::new(false);
        static WRITES: AtomicBool = AtomicBool::new(false);
        match self {
            Op::Read => &READS,
            Op::Write => &WRITES,
        }
    }

    /// When (ms since the epoch) the last failure was seen.
    fn last_failure_ms(self) -> &'static AtomicU64 {
        static READS: AtomicU64 = AtomicU64::new(0);
        static WRITES: AtomicU64 = AtomicU64::new(0);
        match self {
            Op::Read => &READS,
            Op::Write => &WRITES,
        }
    }
}

/// Records the outcome of one `op` on `backend` ("sqlite", "postgres"): counts a failure in
/// `otpgate_store_errors_total`, and logs when reads or writes start or stop failing. A
/// [`StoreError::Corrupt`] record is counted but is not an outage (the store answered).
pub fn observe<T>(backend: &'static str, op: Op, result: &Result<T, StoreError>) {
    match result {
        Ok(_) => {
            let quiet =
                now_ms().saturating_sub(op.last_failure_ms().load(Ordering::Relaxed)) >= QUIET.as_millis() as u64;
            if quiet && op.failing().swap(false, Ordering::Relaxed) {
                tracing::warn!(
                    backend,
                    op = op.as_str(),
                    "store recovered: its {}s succeed again",
                    op.as_str()
                );
            }
        }
        Err(e) => {
            op.last_failure_ms().store(now_ms(), Ordering::Relaxed);
            metrics::counter!(crate::metrics::STORE_ERRORS, "backend" => backend, "kind" => e.kind()).increment(1);
            if !matches!(e, StoreError::Corrupt(_)) && !op.failing().swap(true, Ordering::Relaxed) {
                tracing::error!(
                    backend,
                    op = op.as_str(),
                    kind = e.kind(),
                    error = %e,
                    "store failing: requests that need it answer 503 until it recovers"
                );
            }
        }
    }
}

/// Whether writes are failing: the last write batch failed, or one did less than [`QUIET`]
/// ago (then `/readyz` probes with a write of its own).
pub fn writes_failing() -> bool {
    Op::Write.failing().load(Ordering::Relaxed)
}

/// Logs a background task's failed store call (`what` says what it could not do): at debug
/// level for an outage, which [`observe`] already logged once, instead of once per poll; a
/// corrupt record at warn.
pub fn background_failure(what: &'static str, e: &StoreError) {
    match e {
        StoreError::Corrupt(_) => tracing::warn!(error = %e, "{what}"),
        StoreError::Unavailable(_) | StoreError::Full(_) => tracing::debug!(error = %e, "{what}"),
    }
}
