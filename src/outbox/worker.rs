//! The delivery worker: claims due outbox events, posts them signed, settles each.
//!
//! One worker runs in every engine process, started by `serve`. It holds at most [`IN_FLIGHT`]
//! deliveries at once and claims more as they finish, when woken by a local status change, or
//! every [`POLL`] (for events committed by other nodes and for retries coming due). A claim is a
//! lease of `timeout + LEASE_MARGIN`: a node that dies mid-delivery leaves its events to be
//! claimed again once the lease runs out.
use super::{signature, ClaimedEvent, Settlement};
use crate::config::WebhooksConfig;
use crate::engine::now_ms;
use crate::metrics as m;
use crate::sessions::events::STATUS_UPDATED;
use crate::store::Store;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Deliveries in flight per process.
pub const IN_FLIGHT: usize = 32;
/// How often the worker looks for due events when nothing wakes it.
pub const POLL: Duration = Duration::from_millis(500);
/// Lease beyond the HTTP timeout, so a slow but live attempt settles before anyone re-claims.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// How often the outbox depth gauge is refreshed.
const DEPTH_EVERY: Duration = Duration::from_secs(5);

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx.
    Delivered,
    /// Worth retrying: a network error or timeout, 404, 408, 429 or 5xx (`reason` for logs).
    Transient(&'static str),
    /// Refused for good: any other status.
    Refused(u16),
}

/// Classifies a receiver's answer (CONTRACT §3: retried on network errors, 404 and 5xx; 408 and
/// 429 also ask to be retried later).
pub fn classify(status: u16) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered,
        404 => Attempt::Transient("http_404"),
        408 | 429 => Attempt::Transient("http_busy"),
        500..=599 => Attempt::Transient("http_5xx"),
        other => Attempt::Refused(other),
    }
}

/// The delay before retry number `attempts + 1`: `initial · 2^attempts`, capped at `max`, then
/// drawn uniformly from its upper half (jitter, so receivers coming back are not stampeded).
pub fn backoff(config: &WebhooksConfig, attempts: u32) -> Duration {
    let exp = config
        .retry_initial
        .saturating_mul(2u32.saturating_pow(attempts.min(30)))
        .min(config.retry_max);
    let ms = exp.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(ms / 2..=ms.max(1)))
}

/// What to do with an event after an attempt, given its age.
pub fn settlement(config: &WebhooksConfig, event: &ClaimedEvent, attempt: Attempt, now_ms: i64) -> Settlement {
    match attempt {
        Attempt::Delivered => Settlement::Delivered,
        Attempt::Refused(_) => Settlement::GiveUp,
        Attempt::Transient(_) => {
            let due_at_ms = now_ms + backoff(config, event.attempts).as_millis() as i64;
            if due_at_ms - event.created_at_ms > config.give_up_after.as_millis() as i64 {
                Settlement::GiveUp
            } else {
                Settlement::Retry { due_at_ms }
            }
        }
    }
}

pub struct Worker {
    store: Arc<dyn Store>,
    config: WebhooksConfig,
    client: reqwest::Client,
    /// This process's name on its leases.
    claimant: String,
    wake: Arc<Notify>,
}

impl Worker {
    pub fn new(store: Arc<dyn Store>, config: WebhooksConfig, wake: Arc<Notify>) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("otpgate-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            config,
            client,
            claimant: uuid::Uuid::now_v7().to_string(),
            wake,
        })
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let this = Arc::new(self);
        let lease_ms = (this.config.timeout + LEASE_MARGIN).as_millis() as i64;
        let mut in_flight = JoinSet::new();
        let mut depth_at = std::time::Instant::now()
            .checked_sub(DEPTH_EVERY)
            .unwrap_or_else(std::time::Instant::now);
        loop {
            let room = IN_FLIGHT - in_flight.len();
            if room > 0 {
                match this.store.claim_events(&this.claimant, now_ms(), lease_ms, room).await {
                    Ok(events) => {
                        for event in events {
                            let worker = this.clone();
                            in_flight.spawn(async move { worker.deliver(event).await });
                        }
                    }
                    Err(e) => crate::store::health::background_failure("could not claim webhook events", &e),
                }
            }
            if depth_at.elapsed() >= DEPTH_EVERY {
                depth_at = std::time::Instant::now();
                if let Ok(depth) = this.store.outbox_depth().await {
                    metrics::gauge!(m::WEBHOOK_OUTBOX_DEPTH).set(depth as f64);
                }
            }
            tokio::select! {
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = this.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// One attempt at `event`, settled.
    async fn deliver(&self, event: ClaimedEvent) {
        let attempt = self.attempt(&event).await;
        let now = now_ms();
        let settlement = settlement(&self.config, &event, attempt, now);
        let age_seconds = (now - event.created_at_ms) as f64 / 1000.0;
        let outcome = match (attempt, settlement) {
            (Attempt::Delivered, _) => {
                metrics::histogram!(m::WEBHOOK_DELIVERY_DURATION).record(age_seconds);
                "delivered"
            }
            (Attempt::Refused(status), _) => {
                tracing::warn!(session_id = %event.session_id, destination_id = %event.destination_id,
                    status, attempts = event.attempts + 1, "webhook refused by its receiver; not retried");
                "refused"
            }
            (Attempt::Transient(reason), Settlement::GiveUp) => {
                tracing::warn!(session_id = %event.session_id, destination_id = %event.destination_id,
                    reason, attempts = event.attempts + 1, age_seconds, "webhook given up: undelivered past webhooks.give_up_after_seconds");
                "given_up"
            }
            (Attempt::Transient(reason), _) => {
                tracing::debug!(session_id = %event.session_id, destination_id = %event.destination_id,
                    reason, attempts = event.attempts + 1, "webhook delivery failed; retrying later");
                "retried"
            }
        };
        metrics::counter!(m::WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
        match self.store.settle_event(event.id, &self.claimant, settlement).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(session_id = %event.session_id, destination_id = %event.destination_id,
                "webhook lease ran out before the attempt was settled; another claim may send it again"),
            Err(e) => tracing::warn!(error = %e, "could not settle a webhook event; its lease will expire"),
        }
    }

    async fn attempt(&self, event: &ClaimedEvent) -> Attempt {
        let timestamp = now_ms() / 1000;
        let mut request = self
            .client
            .post(&event.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in signature::headers(
            &event.secret,
            &event.payload,
            timestamp,
            &event.session_id,
            &event.status,
            STATUS_UPDATED,
        ) {
            request = request.header(name, value);
        }
        match request.body(event.payload.clone()).send().await {
            Ok(response) => classify(response.status().as_u16()),
            Err(e) if e.is_timeout() => Attempt::Transient("timeout"),
            Err(_) => Attempt::Transient("network"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(attempts: u32, created_at_ms: i64) -> ClaimedEvent {
        ClaimedEvent {
            id: 1,
            session_id: "s".into(),
            status: "Approved".into(),
            payload: "{}".into(),
            created_at_ms,
            attempts,
            destination_id: "d".into(),
            url: "http://127.0.0.1:9/".into(),
            secret: "k".into(),
        }
    }

    #[test]
    fn network_errors_404_and_5xx_are_retried_and_other_answers_are_not() {
        assert_eq!(classify(200), Attempt::Delivered);
        assert_eq!(classify(204), Attempt::Delivered);
        for status in [404, 408, 429, 500, 502, 503] {
            assert!(matches!(classify(status), Attempt::Transient(_)), "{status}");
        }
        for status in [301, 400, 401, 403, 410, 422] {
            assert_eq!(classify(status), Attempt::Refused(status));
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let config = WebhooksConfig {
            retry_initial: Duration::from_millis(1_000),
            retry_max: Duration::from_millis(60_000),
            ..WebhooksConfig::default()
        };
        for (attempts, full) in [(0, 1_000), (1, 2_000), (3, 8_000), (6, 60_000), (40, 60_000)] {
            for _ in 0..50 {
                let ms = backoff(&config, attempts).as_millis() as u64;
                assert!((full / 2..=full).contains(&ms), "attempt {attempts}: {ms} ms");
            }
        }
    }

    #[test]
    fn a_transient_failure_past_the_give_up_age_is_given_up() {
        let config = WebhooksConfig {
            give_up_after: Duration::from_secs(60),
            retry_initial: Duration::from_millis(1_000),
            retry_max: Duration::from_millis(1_000),
            ..WebhooksConfig::default()
        };
        let young = settlement(&config, &event(2, 0), Attempt::Transient("network"), 10_000);
        assert!(matches!(young, Settlement::Retry { due_at_ms } if (10_500..=11_000).contains(&due_at_ms)));
        assert_eq!(
            settlement(&config, &event(9, 0), Attempt::Transient("http_5xx"), 60_000),
            Settlement::GiveUp
        );
        assert_eq!(
            settlement(&config, &event(0, 0), Attempt::Refused(400), 1),
            Settlement::GiveUp
        );
        assert_eq!(
            settlement(&config, &event(0, 0), Attempt::Delivered, 1),
            Settlement::Delivered
        );
    }
}
