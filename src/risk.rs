//! Refusals decided before a send reaches the number's actor: send rate limits per application
//! and per end-user IP (`signals.ip`), configured high-risk prefixes (international revenue-share
//! fraud ranges), and SMS-pumping protection — a prefix that takes a burst of sends nobody
//! completes is blocked for a while.
//!
//! Pumping, concretely: per application and per number prefix (the first `prefix_digits` digits
//! of the E.164 number), the sends of the last `window_seconds` and how many of them were
//! completed (a correct code). Once a prefix has `min_sends` sends in the window and fewer than
//! `min_completion` of them completed, further sends to it are refused for `block_seconds`; the
//! window then starts afresh. The threshold is configured, not a learned per-prefix baseline.
//!
//! On a PostgreSQL store several nodes share one database, and with it these rules
//! ([`crate::limits`]): [`Risk::admit_across_nodes`] takes the send rate limits from shared
//! counters and judges pumping on every node's sends and completions, so a prefix blocked on
//! one node is refused on all. This node's own buckets and windows stay up to date beside them
//! and decide whenever the database does not answer (see [`crate::limits`], "When PostgreSQL
//! does not answer"). On SQLite only those decide, as before.
use crate::config::RiskPolicy;
use crate::limits::window::Take;
use crate::limits::Shared;
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// The send rate limits' window.
const MINUTE: Duration = Duration::from_secs(60);
/// How long judging pumping on the shared windows may take before this node judges alone.
const SHARED_TIMEOUT: Duration = Duration::from_millis(250);

/// Why a send was refused here.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Too many sends; retry after the given time (HTTP 429 + Retry-After).
    RateLimited { scope: &'static str, retry_after: Duration },
    /// A configured high-risk prefix, or a prefix blocked for pumping: Blocked `suspicious`,
    /// HIGH_RISK_PHONE_NUMBER with `details` as its `additional_data`.
    HighRisk { details: Value },
}

#[derive(Default)]
struct PrefixWindow {
    /// Send times (ms) in the window, oldest first.
    sends: VecDeque<i64>,
    /// Completion times (ms) in the window.
    completions: VecDeque<i64>,
    blocked_until_ms: Option<i64>,
}

impl PrefixWindow {
    fn trim(&mut self, since_ms: i64) {
        while self.sends.front().is_some_and(|&t| t < since_ms) {
            self.sends.pop_front();
        }
        while self.completions.front().is_some_and(|&t| t < since_ms) {
            self.completions.pop_front();
        }
    }
}

pub struct Risk {
    policy: RiskPolicy,
    per_application: Option<DefaultKeyedRateLimiter<String>>,
    per_ip: Option<DefaultKeyedRateLimiter<String>>,
    windows: DashMap<(String, String), PrefixWindow>,
    /// The limits shared with the other nodes (PostgreSQL store only).
    shared: Option<Arc<Shared>>,
}

fn limiter(per_minute: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

/// Takes a token of `key` from this node's `limiter` (if that limit is on).
fn check(limiter: Option<&DefaultKeyedRateLimiter<String>>, key: &String, scope: &'static str) -> Result<(), Refusal> {
    let Some(limiter) = limiter else { return Ok(()) };
    limiter.check_key(key).map_err(|not_until| Refusal::RateLimited {
        scope,
        retry_after: not_until.wait_time_from(DefaultClock::default().now()),
    })
}

/// How a pumping block's `reason` detail begins ([`crate::metrics::block_cause`] reads it).
pub const PUMPING: &str = "sms pumping";

impl Risk {
    /// The rules of one node alone (the SQLite store).
    pub fn new(policy: RiskPolicy) -> Self {
        Self::with_shared(policy, None)
    }

    /// The rules shared through `shared` with every node on the same PostgreSQL store.
    pub fn with_shared(policy: RiskPolicy, shared: Option<Arc<Shared>>) -> Self {
        Self {
            per_application: limiter(policy.sends_per_minute_per_application),
            per_ip: limiter(policy.sends_per_minute_per_ip),
            windows: DashMap::new(),
            policy,
            shared,
        }
    }

    /// The limits shared with the other nodes, when the store is PostgreSQL.
    pub fn shared(&self) -> Option<&Arc<Shared>> {
        self.shared.as_ref()
    }

    fn high_risk(&self, full_number: &str) -> Result<(), Refusal> {
        match self
            .policy
            .high_risk_prefixes
            .iter()
            .filter(|p| full_number.starts_with(p.as_str()))
            .max_by_key(|p| p.len())
        {
            Some(prefix) => Err(Refusal::HighRisk {
                details: json!({ "reason": "high-risk prefix", "prefix": prefix }),
            }),
            None => Ok(()),
        }
    }

    fn pumping_refusal(&self, full_number: &str, until: i64) -> Refusal {
        Refusal::HighRisk {
            details: json!({
                "reason": format!("{PUMPING}: a burst of sends to this prefix that are not completed"),
                "prefix": self.prefix(full_number),
                "blocked_until": crate::verification::iso8601(until),
            }),
        }
    }

    /// [`Risk::admit`] on the limits every node shares, when the store is PostgreSQL: the
    /// send rate limits from the shared counters, pumping judged on every node's windows (one
    /// read). Whatever the database does not answer in time, this node decides alone.
    pub async fn admit_across_nodes(
        &self,
        application: &str,
        ip: Option<&str>,
        full_number: &str,
        now_ms: i64,
    ) -> Result<(), Refusal> {
        let Some(shared) = &self.shared else {
            return self.admit(application, ip, full_number, now_ms);
        };
        self.high_risk(full_number)?;
        let prefix = self.prefix(full_number);
        let until = if shared.reservations.degraded() {
            // The database failed lately: judge here without waiting for it again.
            self.blocked_until(application, full_number, now_ms)
        } else {
            let judged = crate::limits::pumping::judge(&shared.pg, &self.policy, application, &prefix, now_ms);
            match tokio::time::timeout(SHARED_TIMEOUT, judged).await {
                Ok(Ok(until)) => until,
                failed => {
                    shared.reservations.degrade();
                    metrics::counter!(crate::limits::UNAVAILABLE, "scope" => "pumping").increment(1);
                    let error = failed.map_or_else(
                        |_| "timed out".to_owned(),
                        |r| r.err().map(|e| e.to_string()).unwrap_or_default(),
                    );
                    tracing::warn!(%error, "shared pumping windows unavailable; judging with this node's for 5 s");
                    self.blocked_until(application, full_number, now_ms)
                }
            }
        };
        if let Some(until) = until {
            return Err(self.pumping_refusal(full_number, until));
        }
        // The narrower limit first, as in `admit`.
        if let (Some(n), Some(ip)) = (NonZeroU32::new(self.policy.sends_per_minute_per_ip), ip) {
            let key = format!("{application}\u{0}{ip}");
            match shared.reservations.take("send_ip", &key, n, MINUTE).await {
                Take::Admitted => {}
                Take::Refused(retry_after) => {
                    return Err(Refusal::RateLimited {
                        scope: "ip",
                        retry_after,
                    })
                }
                Take::Unavailable => check(self.per_ip.as_ref(), &key, "ip")?,
            }
        }
        if let Some(n) = NonZeroU32::new(self.policy.sends_per_minute_per_application) {
            match shared
                .reservations
                .take("send_application", application, n, MINUTE)
                .await
            {
                Take::Admitted => {}
                Take::Refused(retry_after) => {
                    return Err(Refusal::RateLimited {
                        scope: "application",
                        retry_after,
                    })
                }
                Take::Unavailable => check(self.per_application.as_ref(), &application.to_owned(), "application")?,
            }
        }
        Ok(())
    }

    fn prefix(&self, full_number: &str) -> String {
        full_number.chars().take(1 + self.policy.prefix_digits).collect()
    }

    /// Decides whether a send from `application` (for end-user `ip`, if given) to `full_number`
    /// may go ahead. Counts against the rate limits only when it is not refused for risk.
    pub fn admit(&self, application: &str, ip: Option<&str>, full_number: &str, now_ms: i64) -> Result<(), Refusal> {
        self.high_risk(full_number)?;
        if let Some(until) = self.blocked_until(application, full_number, now_ms) {
            return Err(self.pumping_refusal(full_number, until));
        }
        // The narrower limit first, so a send refused for its IP does not use up the
        // application's allowance (a limiter cannot be asked without taking a token).
        if let Some(ip) = ip {
            check(self.per_ip.as_ref(), &format!("{application}\u{0}{ip}"), "ip")?;
        }
        check(self.per_application.as_ref(), &application.to_owned(), "application")
    }

    /// The end of the prefix's block: an existing one, or one this look decides. A prefix is
    /// judged on its *due* sends — those older than `grace`, whose users had time to enter the
    /// code — so a legitimate burst is not blocked before its completions can arrive.
    fn blocked_until(&self, application: &str, full_number: &str, now_ms: i64) -> Option<i64> {
        let policy = &self.policy;
        let key = (application.to_owned(), self.prefix(full_number));
        let mut window = self.windows.get_mut(&key)?;
        match window.blocked_until_ms {
            Some(until) if until > now_ms => return Some(until),
            // The block expired: judge the prefix afresh.
            Some(_) => *window = PrefixWindow::default(),
            None => {}
        }
        if policy.pumping_min_sends == 0 {
            return None;
        }
        window.trim(now_ms - policy.pumping_window_ms);
        let due = window.sends.partition_point(|&t| t <= now_ms - policy.pumping_grace_ms);
        let completed = window.completions.len() as f64 / due.max(1) as f64;
        if due < policy.pumping_min_sends as usize || completed >= policy.pumping_min_completion {
            return None;
        }
        let until = now_ms + policy.pumping_block_ms;
        window.blocked_until_ms = Some(until);
        window.sends.clear();
        window.completions.clear();
        metrics::counter!(crate::metrics::PREFIXES_BLOCKED).increment(1);
        tracing::warn!(%application, prefix = %key.1, due, "number prefix blocked for SMS pumping");
        Some(until)
    }

    /// Records a send that went out.
    pub fn record_send(&self, application: &str, full_number: &str, now_ms: i64) {
        if self.policy.pumping_min_sends == 0 {
            return;
        }
        let key = (application.to_owned(), self.prefix(full_number));
        if let Some(shared) = &self.shared {
            shared.pumping.record(application, key.1.clone(), now_ms, false);
        }
        let mut window = self.windows.entry(key).or_default();
        window.trim(now_ms - self.policy.pumping_window_ms);
        window.sends.push_back(now_ms);
    }

    /// Forgets limiter keys whose allowance is full again and prefix windows with nothing in
    /// them, so many distinct IPs or prefixes do not grow memory forever; on PostgreSQL, also
    /// prunes the shared windows (in the background). Run every minute.
    pub fn housekeeping(&self, now_ms: i64) {
        if let Some(shared) = self.shared.clone() {
            let window_ms = self.policy.pumping_window_ms;
            tokio::spawn(async move { shared.housekeeping(now_ms, window_ms).await });
        }
        for limiter in [&self.per_application, &self.per_ip].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let since = now_ms - self.policy.pumping_window_ms;
        self.windows.retain(|_, window| {
            window.trim(since);
            !window.sends.is_empty() || window.blocked_until_ms.is_some_and(|until| until > now_ms)
        });
    }

    /// How many prefix windows are kept (for tests and metrics).
    pub fn tracked_prefixes(&self) -> usize {
        self.windows.len()
    }

    /// Records a correct code for a number under the prefix.
    pub fn record_completion(&self, application: &str, full_number: &str, now_ms: i64) {
        if self.policy.pumping_min_sends == 0 {
            return;
        }
        let key = (application.to_owned(), self.prefix(full_number));
        if let Some(shared) = &self.shared {
            shared.pumping.record(application, key.1.clone(), now_ms, true);
        }
        if let Some(mut window) = self.windows.get_mut(&key) {
            window.trim(now_ms - self.policy.pumping_window_ms);
            window.completions.push_back(now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RiskPolicy {
        RiskPolicy {
            sends_per_minute_per_application: 0,
            sends_per_minute_per_ip: 2,
            high_risk_prefixes: vec!["+88213".into(), "+882".into()],
            prefix_digits: 6,
            pumping_window_ms: 60_000,
            pumping_min_sends: 5,
            pumping_min_completion: 0.2,
            pumping_block_ms: 10_000,
            pumping_grace_ms: 0,
        }
    }

    #[test]
    fn high_risk_prefixes_are_refused_with_the_longest_match() {
        let risk = Risk::new(policy());
        let Err(Refusal::HighRisk { details }) = risk.admit("a", None, "+882130001234", 0) else {
            panic!("not refused")
        };
        assert_eq!(details["prefix"], "+88213");
        assert!(risk.admit("a", None, "+14155552671", 0).is_ok());
    }

    #[test]
    fn the_ip_limit_counts_per_application_and_ip() {
        let risk = Risk::new(policy());
        for _ in 0..2 {
            assert!(risk.admit("a", Some("203.0.113.7"), "+14155552671", 0).is_ok());
        }
        let Err(Refusal::RateLimited { scope, retry_after }) = risk.admit("a", Some("203.0.113.7"), "+14155552671", 0)
        else {
            panic!("not limited")
        };
        assert_eq!(scope, "ip");
        assert!(
            retry_after > Duration::ZERO && retry_after <= Duration::from_secs(30),
            "{retry_after:?}"
        );
        assert!(risk.admit("a", Some("203.0.113.8"), "+14155552671", 0).is_ok());
        assert!(risk.admit("b", Some("203.0.113.7"), "+14155552671", 0).is_ok());
        assert!(risk.admit("a", None, "+14155552671", 0).is_ok(), "no ip, no ip limit");
    }

    #[test]
    fn an_uncompleted_burst_blocks_its_prefix_until_the_block_expires() {
        let risk = Risk::new(policy());
        let number = |i: u32| format!("+3461234{i:04}");
        for i in 0..5 {
            assert!(risk.admit("a", None, &number(i), 1_000 + i as i64).is_ok(), "send {i}");
            risk.record_send("a", &number(i), 1_000 + i as i64);
        }
        assert!(matches!(
            risk.admit("a", None, &number(9), 2_000),
            Err(Refusal::HighRisk { .. })
        ));
        assert!(matches!(
            risk.admit("a", None, &number(8), 2_001),
            Err(Refusal::HighRisk { .. })
        ));
        assert!(risk.admit("a", None, "+3461244444", 2_000).is_ok(), "another prefix");
        assert!(risk.admit("b", None, &number(9), 2_000).is_ok(), "another application");
        assert!(
            risk.admit("a", None, &number(9), 12_001).is_ok(),
            "expired, judged afresh"
        );
    }

    #[test]
    fn sends_within_the_grace_period_are_not_judged_yet() {
        let risk = Risk::new(RiskPolicy {
            pumping_grace_ms: 30_000,
            ..policy()
        });
        let number = |i: u32| format!("+3461234{i:04}");
        // A burst of 20 whose users have not answered yet: not pumping (yet).
        for i in 0..20 {
            assert!(risk.admit("a", None, &number(i), 1_000).is_ok());
            risk.record_send("a", &number(i), 1_000);
        }
        // Half of them completed by the time they are due: healthy.
        for i in 0..10 {
            risk.record_completion("a", &number(i), 20_000);
        }
        assert!(risk.admit("a", None, &number(30), 31_001).is_ok());
        // Nobody answered a second burst: once it is due, the prefix is blocked.
        let other = |i: u32| format!("+3462235{i:04}");
        for i in 0..20 {
            risk.record_send("a", &other(i), 40_000);
        }
        assert!(risk.admit("a", None, &other(30), 60_000).is_ok(), "not due yet");
        assert!(matches!(
            risk.admit("a", None, &other(31), 70_001),
            Err(Refusal::HighRisk { .. })
        ));
    }

    #[test]
    fn housekeeping_forgets_quiet_prefixes_but_keeps_blocks() {
        let risk = Risk::new(RiskPolicy {
            pumping_block_ms: 120_000,
            ..policy()
        });
        for i in 0..5 {
            risk.record_send("a", &format!("+3461234{i:04}"), i);
        }
        assert!(risk.admit("a", None, "+3461234999", 5).is_err(), "blocked");
        risk.record_send("a", "+3461250000", 0);
        assert_eq!(risk.tracked_prefixes(), 2);
        risk.housekeeping(61_000);
        assert_eq!(
            risk.tracked_prefixes(),
            1,
            "the blocked prefix stays until its block ends"
        );
        risk.housekeeping(120_005);
        assert_eq!(risk.tracked_prefixes(), 0);
    }

    #[test]
    fn completed_sends_do_not_block() {
        let risk = Risk::new(policy());
        for i in 0..20 {
            let number = format!("+3461234{i:04}");
            assert!(risk.admit("a", None, &number, i).is_ok(), "send {i}");
            risk.record_send("a", &number, i);
            risk.record_completion("a", &number, i);
        }
    }
}
