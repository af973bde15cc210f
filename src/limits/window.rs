//! Batched takes from a shared fixed-window counter: the exactness/cost trade of [`super`].
//!
//! A limit is "at most `limit` per window of `period`", windows aligned on the database clock
//! (so every node agrees on where a window starts). A node does not ask the database for every
//! request: it reserves a *batch* of tokens from the shared counter (one round trip) and hands
//! them out locally until the batch or the window ends. The shared counter never grants more
//! than `limit` per window, so N nodes together never admit more than one node would; the price
//! is that tokens a node reserved but did not use are lost to the others, so a client may be
//! refused up to `(nodes - 1) × (batch - 1)` requests early in a window. [`batch_size`] keeps
//! that under 1/64 of the limit per other node, and exact (batch 1) for limits up to 127.
//!
//! Once the shared counter says a window is spent, the node refuses locally until the window
//! ends: a flood costs the database one round trip per node per window, not one per request.
use crate::store::StoreError;
use async_trait::async_trait;
use dashmap::DashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// What a shared counter granted: `granted` tokens (0 to the `want` asked for) of the window
/// that ends `window_left` from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub granted: u32,
    pub window_left: Duration,
}

/// A counter every node shares (PostgreSQL's `limit_windows` table, [`super::postgres`]).
#[async_trait]
pub trait Reserve: Send + Sync + 'static {
    /// Takes up to `want` tokens of the `limit` a window of `period_ms` allows under
    /// (`scope`, `key`), atomically across nodes: never more than `limit` per window in total.
    async fn reserve(&self, scope: &str, key: &str, period_ms: i64, want: u32, limit: u32)
        -> Result<Grant, StoreError>;
}

/// The answer of [`Reservations::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    Admitted,
    /// The window's allowance is spent; it ends after this long (`Retry-After`).
    Refused(Duration),
    /// The shared counter did not answer (in time): the caller decides with its local limits.
    Unavailable,
}

/// Tokens reserved per round trip for a limit of `limit` per window: `limit / 64`, at least
/// 1 and at most 100. 60,000 per minute (the request limits' default) → 100, one round trip
/// per 100 requests; 10 per minute → 1, exact.
pub fn batch_size(limit: u32) -> u32 {
    (limit / 64).clamp(1, 100)
}

/// How long a reservation may take before the node decides locally.
const TIMEOUT: Duration = Duration::from_millis(250);
/// After a failed reservation, how long the node decides locally without asking again, so
/// a database outage does not add [`TIMEOUT`] to every request.
const DEGRADED_FOR_MS: i64 = 5_000;

#[derive(Default)]
struct Batch {
    /// The end of the window the batch belongs to; `None` before the first reservation.
    window_end: Option<Instant>,
    left: u32,
    /// The shared counter gave less than asked: nothing more to get in this window.
    spent: bool,
}

/// A node's batches of every shared limit, and the counter they come from.
pub struct Reservations {
    counter: Arc<dyn Reserve>,
    batches: DashMap<(&'static str, String), Arc<Mutex<Batch>>>,
    /// Until when (engine ms) the counter is not asked, after it failed.
    degraded_until_ms: AtomicI64,
}

impl Reservations {
    pub fn new(counter: Arc<dyn Reserve>) -> Self {
        Self {
            counter,
            batches: DashMap::new(),
            degraded_until_ms: AtomicI64::new(0),
        }
    }

    /// Takes one token of `limit` per `period` under (`scope`, `key`), from this node's batch
    /// or, when it is used up, from a new one. `scope` is a low-cardinality label (metrics).
    pub async fn take(&self, scope: &'static str, key: &str, limit: NonZeroU32, period: Duration) -> Take {
        let cell = self.batches.entry((scope, key.to_owned())).or_default().value().clone();
        // Concurrent takes of one key wait for one reservation instead of each making theirs.
        let mut batch = cell.lock().await;
        let now = Instant::now();
        if let Some(end) = batch.window_end.filter(|end| *end > now) {
            if batch.left > 0 {
                batch.left -= 1;
                return Take::Admitted;
            }
            if batch.spent {
                return Take::Refused(end - now);
            }
        }
        if self.degraded() {
            return Take::Unavailable;
        }
        let want = batch_size(limit.get());
        metrics::counter!(super::RESERVATIONS, "scope" => scope).increment(1);
        let period_ms = period.as_millis() as i64;
        let asked = self.counter.reserve(scope, key, period_ms, want, limit.get());
        let grant = match tokio::time::timeout(TIMEOUT, asked).await {
            Ok(Ok(grant)) => grant,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {} ms", TIMEOUT.as_millis()),
                };
                self.degrade();
                metrics::counter!(super::UNAVAILABLE, "scope" => scope).increment(1);
                tracing::warn!(scope, error = %why, "shared limit unavailable; deciding with this node's limits for 5 s");
                return Take::Unavailable;
            }
        };
        let end = now + grant.window_left;
        batch.window_end = Some(end);
        batch.spent = grant.granted < want;
        match grant.granted {
            0 => {
                batch.left = 0;
                Take::Refused(grant.window_left)
            }
            n => {
                batch.left = n - 1;
                Take::Admitted
            }
        }
    }

    /// Whether the shared counters failed lately (within 5 s): then callers decide locally
    /// without asking (the pumping windows use this too).
    pub fn degraded(&self) -> bool {
        self.degraded_until_ms.load(Ordering::Relaxed) > crate::engine::now_ms()
    }

    /// Marks the database as failing: for 5 s nothing shared is asked.
    pub fn degrade(&self) {
        self.degraded_until_ms
            .store(crate::engine::now_ms() + DEGRADED_FOR_MS, Ordering::Relaxed);
    }

    /// Forgets batches whose window ended (run every minute), so many distinct keys do not
    /// grow memory forever.
    pub fn housekeeping(&self) {
        let now = Instant::now();
        self.batches.retain(|_, cell| match cell.try_lock() {
            Ok(batch) => batch.window_end.is_some_and(|end| end > now),
            Err(_) => true, // in use right now
        });
    }

    /// Batches kept (for tests).
    pub fn tracked(&self) -> usize {
        self.batches.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::sync::Mutex as StdMutex;

    /// One window per key, shared by every [`Reservations`] built on it: what PostgreSQL does.
    #[derive(Default)]
    struct Counter {
        taken: StdMutex<std::collections::HashMap<String, u32>>,
        round_trips: AtomicU32,
        down: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl Reserve for Counter {
        async fn reserve(&self, scope: &str, key: &str, _: i64, want: u32, limit: u32) -> Result<Grant, StoreError> {
            self.round_trips.fetch_add(1, Ordering::Relaxed);
            if self.down.load(Ordering::Relaxed) {
                return Err(StoreError::Unavailable("down".into()));
            }
            let mut taken = self.taken.lock().unwrap();
            let t = taken.entry(format!("{scope}/{key}")).or_default();
            let granted = want.min(limit.saturating_sub(*t));
            *t += granted;
            Ok(Grant {
                granted,
                window_left: Duration::from_secs(42),
            })
        }
    }

    fn n(v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).unwrap()
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn batches_are_exact_for_small_limits_and_bounded_for_large_ones() {
        assert_eq!(batch_size(1), 1);
        assert_eq!(batch_size(127), 1);
        assert_eq!(batch_size(640), 10);
        assert_eq!(batch_size(60_000), 100);
    }

    #[tokio::test]
    async fn two_nodes_together_admit_the_limit_exactly_when_it_is_small() {
        let counter = Arc::new(Counter::default());
        let a = Reservations::new(counter.clone());
        let b = Reservations::new(counter.clone());
        let mut admitted = 0;
        for i in 0..40 {
            let node = if i % 2 == 0 { &a } else { &b };
            match node.take("key", "acme", n(10), MINUTE).await {
                Take::Admitted => admitted += 1,
                Take::Refused(wait) => assert!(wait > Duration::from_secs(41) && wait <= Duration::from_secs(42)),
                Take::Unavailable => panic!("the counter is up"),
            }
        }
        assert_eq!(admitted, 10);
        // Refusals after the window is spent are decided locally: one round trip per node.
        assert_eq!(counter.round_trips.load(Ordering::Relaxed), 10 + 2);
        assert_eq!(a.take("key", "other", n(10), MINUTE).await, Take::Admitted);
    }

    #[tokio::test]
    async fn large_limits_cost_one_round_trip_per_batch_and_never_overshoot() {
        let counter = Arc::new(Counter::default());
        let nodes: Vec<_> = (0..3).map(|_| Reservations::new(counter.clone())).collect();
        let limit = 6_400; // batch 100
        let mut admitted = 0u32;
        for i in 0..10_000 {
            if nodes[i % 3].take("ip", "203.0.113.1", n(limit), MINUTE).await == Take::Admitted {
                admitted += 1;
            }
        }
        assert!(admitted <= limit, "{admitted}");
        // Stranded at most (batch - 1) per other node.
        assert!(admitted >= limit - 2 * 99, "{admitted}");
        assert!(counter.round_trips.load(Ordering::Relaxed) <= limit / 100 + 3);
    }

    #[tokio::test]
    async fn an_unavailable_counter_is_not_asked_again_for_a_while() {
        let counter = Arc::new(Counter::default());
        counter.down.store(true, Ordering::Relaxed);
        let node = Reservations::new(counter.clone());
        for _ in 0..5 {
            assert_eq!(node.take("key", "acme", n(10), MINUTE).await, Take::Unavailable);
        }
        assert_eq!(counter.round_trips.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn housekeeping_keeps_live_windows() {
        let node = Reservations::new(Arc::new(Counter::default()));
        node.take("key", "acme", n(10), MINUTE).await;
        node.housekeeping();
        assert_eq!(node.tracked(), 1, "its window has 42 s left");
    }
}
