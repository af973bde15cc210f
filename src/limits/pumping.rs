//! SMS-pumping windows shared by every node (the rule is [`crate::risk`]'s): sends and
//! completions are counted per (application, prefix) in time buckets in PostgreSQL, and a
//! prefix's block is a row there, so a block decided on node A refuses on node B, and a burst
//! split across nodes is judged as one.
//!
//! Recording is off the request path: [`Recorder`] queues each send and completion and one
//! task per node adds them up and writes them (one upsert per bucket touched), usually within
//! a millisecond. Judging is one read per send ([`judge`]), plus one write when it blocks.
use super::postgres::PgLimits;
use crate::config::RiskPolicy;
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Bucket width: a sixtieth of the window, at least a second, so judging a prefix reads at
/// most ~61 rows whatever the window. A send counts as due up to one bucket early.
pub fn bucket_ms(policy: &RiskPolicy) -> i64 {
    (policy.pumping_window_ms / 60).max(1_000)
}

/// The end of `prefix`'s block: one another node (or this one) set, or one this look decides
/// under `policy`. The rule is [`crate::risk`]'s, on the counts of every node.
pub async fn judge(
    pg: &PgLimits,
    policy: &RiskPolicy,
    application: &str,
    prefix: &str,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    if policy.pumping_min_sends == 0 {
        return Ok(None);
    }
    let counts = pg
        .pumping_window(
            application,
            prefix,
            now_ms - policy.pumping_window_ms,
            now_ms - policy.pumping_grace_ms,
        )
        .await?;
    if let Some(until) = counts.blocked_until_ms.filter(|until| *until > now_ms) {
        return Ok(Some(until));
    }
    let due = counts.due_sends;
    let completed = counts.completions as f64 / due.max(1) as f64;
    if due < policy.pumping_min_sends as i64 || completed >= policy.pumping_min_completion {
        return Ok(None);
    }
    let until = now_ms + policy.pumping_block_ms;
    pg.block(application, prefix, until).await?;
    metrics::counter!(crate::metrics::PREFIXES_BLOCKED).increment(1);
    tracing::warn!(%application, %prefix, due, "number prefix blocked for SMS pumping (shared across nodes)");
    Ok(Some(until))
}

/// One send or completion to add to a prefix's bucket.
struct Event {
    application: String,
    prefix: String,
    bucket_ms: i64,
    completion: bool,
}

/// Queues sends and completions for the shared buckets (never blocks the caller).
pub struct Recorder {
    queue: mpsc::UnboundedSender<Event>,
    bucket_ms: i64,
}

impl Recorder {
    /// Starts the task that writes what is queued. Needs a tokio runtime.
    pub fn start(pg: Arc<PgLimits>, policy: &RiskPolicy) -> Self {
        let (queue, events) = mpsc::unbounded_channel();
        tokio::spawn(write(pg, events));
        Self {
            queue,
            bucket_ms: bucket_ms(policy),
        }
    }

    pub fn record(&self, application: &str, prefix: String, now_ms: i64, completion: bool) {
        let _ = self.queue.send(Event {
            application: application.to_owned(),
            prefix,
            bucket_ms: now_ms - now_ms.rem_euclid(self.bucket_ms),
            completion,
        });
    }
}

async fn write(pg: Arc<PgLimits>, mut events: mpsc::UnboundedReceiver<Event>) {
    while let Some(first) = events.recv().await {
        let mut sums: HashMap<(String, String, i64), (i64, i64)> = HashMap::new();
        let mut next = Some(first);
        while let Some(e) = next {
            let sum = sums.entry((e.application, e.prefix, e.bucket_ms)).or_default();
            if e.completion {
                sum.1 += 1;
            } else {
                sum.0 += 1;
            }
            next = events.try_recv().ok();
        }
        for ((application, prefix, bucket), (sends, completions)) in sums {
            if let Err(e) = pg.record(&application, &prefix, bucket, sends, completions).await {
                // This node's own windows still have them: it falls back on those.
                metrics::counter!(super::UNAVAILABLE, "scope" => "pumping").increment(1);
                tracing::warn!(error = %e, "could not share pumping counts; this node keeps its own");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_a_sixtieth_of_the_window_and_at_least_a_second() {
        let policy = |window_ms| RiskPolicy {
            pumping_window_ms: window_ms,
            ..RiskPolicy::default()
        };
        assert_eq!(bucket_ms(&policy(60_000)), 1_000);
        assert_eq!(bucket_ms(&policy(3_600_000)), 60_000);
    }
}
