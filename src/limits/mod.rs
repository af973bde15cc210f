//! Limits shared by every engine node on one PostgreSQL store (issue 14): the request limits
//! per address, per key and on failed authentication ([`crate::api::limits`]), the send rate
//! limits and SMS-pumping windows ([`crate::risk`]), and each SMPP carrier's `max_tps`.
//! On the embedded SQLite store the engine is one node and none of this runs: the in-process
//! buckets decide, as before, at no extra cost.
//!
//! # Where the shared counters live, and why there
//! In PostgreSQL, not Redis. Several nodes already need PostgreSQL (it is their store), so the
//! limits add tables ([`postgres::MIGRATION`]), not a second service to run, secure, monitor and
//! fail over, nor a `limits.redis_url` key. Redis answers one `INCR` faster than PostgreSQL
//! answers one upsert (on this 2-core machine, loopback: see README "Limits across nodes" for the
//! measured figures), but neither is paid per request: [`window::Reservations`] takes tokens in
//! batches (one round trip per `limit / 64` requests, at most 100), refuses a spent window
//! locally until it ends, and sends judge pumping with one read. What is left costs far less
//! than the store writes a send makes anyway.
//!
//! # How exact
//! Request and send limits are fixed windows (per minute) on the database clock. The shared
//! counter never grants more than the limit per window, so N nodes never admit more than one
//! node does; a client may be refused up to `(N - 1) × (batch - 1)` requests early (batch 1,
//! exact, up to 127 per minute). As with any fixed window, a client can spend one window's
//! allowance at its end and the next at its start. The pumping rule reads every node's sends
//! and completions (a send counts as due up to one bucket — a sixtieth of the window — early).
//!
//! # When PostgreSQL does not answer
//! Fail over to the node's own limits, neither open nor closed: a reservation that fails or
//! takes over 250 ms makes the node decide with its in-process buckets (each node then allows
//! the full limit: N nodes allow N times it) and not ask again for 5 s. Counted in
//! `otpgate_shared_limit_unavailable_total{scope}` and logged. A database outage thus never
//! takes the API down through its limits (sends fail on the store anyway), and floods stay
//! bounded per node.
//!
//! # Carrier max_tps
//! Each node beats in the `nodes` table every second ([`Shared::beat`]) and throttles every SMPP
//! carrier at `max_tps / live nodes` (burst the same), so the carrier sees at most `max_tps` in
//! total from as many binds as the nodes have in all (`binds` per node). A node that stops beating
//! counts for 3 s more (its share is unused meanwhile); one that joins is counted by the others
//! within a second — the only moment the total can exceed `max_tps`, by at most one node's share
//! for at most one second. If the database is unreachable each node keeps the count it last saw.
pub mod postgres;
pub mod pumping;
pub mod window;

use otpgate_smpp::TpsShare;
use postgres::PgLimits;
use std::sync::Arc;
use std::time::Duration;
use window::Reservations;

/// Round trips to the shared counter, by limit (`ip`, `key`, `failed_auth`, `send_ip`,
/// `send_application`): with the requests a limit saw, shows what batching saves.
pub const RESERVATIONS: &str = "otpgate_shared_limit_reservations_total";
/// Times the shared limits did not answer and the node decided with its own, by limit
/// (`pumping` too).
pub const UNAVAILABLE: &str = "otpgate_shared_limit_unavailable_total";
/// Engine nodes live on this store, as this node last counted them (splits `max_tps`).
pub const LIVE_NODES: &str = "otpgate_live_nodes";

/// How often a node beats, and how long a silent node still counts as live.
const BEAT_EVERY: Duration = Duration::from_secs(1);
const LIVE_WITHIN: Duration = Duration::from_secs(3);

/// What a node shares with the others: its reservations of the shared counters, its pumping
/// recorder, and its heartbeat.
pub struct Shared {
    pub pg: Arc<PgLimits>,
    pub reservations: Reservations,
    pub pumping: pumping::Recorder,
    /// This node's id in the `nodes` table (a UUID v7, new on each start).
    pub node: String,
}

impl Shared {
    /// The shared limits on the store's database (`store.url`), whose migrations made their
    /// tables. Needs a tokio runtime (starts the pumping recorder's task).
    pub fn start(url: &str, risk: &crate::config::RiskPolicy) -> Result<Arc<Self>, crate::store::StoreError> {
        let pg = Arc::new(PgLimits::new(url)?);
        Ok(Arc::new(Self {
            reservations: Reservations::new(pg.clone()),
            pumping: pumping::Recorder::start(pg.clone(), risk),
            pg,
            node: uuid::Uuid::now_v7().to_string(),
        }))
    }

    /// One heartbeat: marks this node live and gives every carrier's share the live count.
    /// On a database error the shares keep the count they had.
    pub async fn beat(&self, shares: &[TpsShare]) {
        match self.pg.heartbeat(&self.node, LIVE_WITHIN).await {
            Ok(nodes) => {
                metrics::gauge!(LIVE_NODES).set(nodes as f64);
                for share in shares {
                    if share.nodes() != nodes {
                        tracing::info!(nodes, "live nodes changed: each throttles carriers at max_tps / nodes");
                    }
                    share.set_nodes(nodes);
                }
            }
            Err(e) => {
                metrics::counter!(UNAVAILABLE, "scope" => "heartbeat").increment(1);
                tracing::warn!(error = %e, "heartbeat failed; carriers keep their last share of max_tps");
            }
        }
    }

    /// Beats every second, forever (spawned once at start, after a first [`Shared::beat`]).
    pub async fn keep_beating(self: Arc<Self>, shares: Vec<TpsShare>) {
        let mut every = tokio::time::interval(BEAT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.beat(&shares).await;
        }
    }

    /// Every minute: forgets ended batches, prunes ended windows, old pumping buckets (older
    /// than `pumping_window_ms`) and long-gone nodes.
    pub async fn housekeeping(&self, now_ms: i64, pumping_window_ms: i64) {
        self.reservations.housekeeping();
        if let Err(e) = self.pg.prune(now_ms - pumping_window_ms).await {
            tracing::warn!(error = %e, "pruning the shared limits failed; retried in a minute");
        }
    }

    /// Leaves the live nodes (on drain), so the others take up this node's share at once.
    pub async fn leave(&self) {
        if let Err(e) = self.pg.leave(&self.node).await {
            tracing::warn!(error = %e, "could not leave the live nodes; the others notice in 3 s");
        }
    }
}
