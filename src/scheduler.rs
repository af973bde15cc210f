//! The fallback scheduler: runs every stored fallback step whose time has come, on whichever node
//! leases it first (issue 14).
//!
//! The store holds each verification's remaining plan and when its next step is due
//! ([`crate::store::PendingFallback`]). Every [`SCAN_EVERY`], and at once on start (so a restart
//! resumes what fell due while the engine was down), [`run`] leases the due plans
//! ([`crate::store::Store::claim_fallbacks`]: a conditional update, one claimant per plan on every
//! node) and hands each to its number's actor, which runs the step and ends the lease by storing
//! the next plan or none. A plan whose lease runs out (its node died mid-step) is due again and
//! taken over. An idle scan is one indexed read and writes nothing.
use crate::actors::RunFallback;
use crate::engine::{now_ms, Engine};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How often the store is scanned for due steps: how late past its due time a step can start.
pub const SCAN_EVERY: Duration = Duration::from_millis(200);
/// How long a leased plan stays with its claimant before another may take it over. Longer than a
/// step can take (a send waits at most `fallback_after_seconds` for a throttled carrier).
pub const LEASE_MS: i64 = 120_000;
/// Plans leased per scan at most.
const BATCH: usize = 256;

/// This process's name as a claimant: unique per start, so a restarted node never mistakes the
/// leases of the process before it for its own.
pub fn claimant() -> &'static str {
    static CLAIMANT: OnceLock<String> = OnceLock::new();
    CLAIMANT.get_or_init(|| format!("node-{}", uuid::Uuid::now_v7()))
}

/// Runs forever: scans, leases and hands out due fallback steps.
pub async fn run(engine: Arc<Engine>) {
    loop {
        match engine
            .store
            .claim_fallbacks(claimant(), now_ms(), LEASE_MS, BATCH)
            .await
        {
            Ok(due) => {
                for plan in due {
                    let engine = engine.clone();
                    actix::spawn(async move {
                        let key = (plan.application.clone(), plan.phone.clone());
                        let request_id = plan.request_id.clone();
                        if let Err(e) = engine.registry.ask(&engine.actor_parts, &key, RunFallback(plan)).await {
                            tracing::error!(%request_id, error = %e, "could not hand a due fallback to its number");
                        }
                    });
                }
            }
            Err(e) => crate::store::health::background_failure("could not scan for due fallbacks", &e),
        }
        tokio::time::sleep(SCAN_EVERY).await;
    }
}
