//! Extension sections for path A (CONTRACT §2 is silent on them): `[sessions]` (how long hosted
//! sessions wait) and `[webhooks]` (how outbound webhooks are delivered and when they are given
//! up).
use crate::sessions::SessionTimes;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSessions {
    /// Not Started this long after creation: Expired (Didit: 7 days).
    pub expire_after_seconds: u64,
    /// In Progress this long after the page was opened: Abandoned.
    pub abandon_after_seconds: u64,
    /// The least time between two sends from the hosted page (its resend countdown).
    pub resend_cooldown_seconds: u64,
}

impl Default for RawSessions {
    fn default() -> Self {
        let times = SessionTimes::default();
        Self {
            expire_after_seconds: (times.expire_after_ms / 1000) as u64,
            abandon_after_seconds: (times.abandon_after_ms / 1000) as u64,
            resend_cooldown_seconds: (times.resend_cooldown_ms / 1000) as u64,
        }
    }
}

impl RawSessions {
    pub(super) fn validate(&self, problems: &mut Vec<String>) -> SessionTimes {
        let mut within = |key: &str, value: u64, range: std::ops::RangeInclusive<u64>| {
            if !range.contains(&value) {
                problems.push(format!(
                    "sessions.{key}: {value} is outside {}..{}",
                    range.start(),
                    range.end()
                ));
            }
            value as i64 * 1000
        };
        SessionTimes {
            expire_after_ms: within("expire_after_seconds", self.expire_after_seconds, 1..=90 * 86_400),
            abandon_after_ms: within("abandon_after_seconds", self.abandon_after_seconds, 1..=30 * 86_400),
            resend_cooldown_ms: within("resend_cooldown_seconds", self.resend_cooldown_seconds, 0..=600),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWebhooks {
    /// An event not delivered this long after its status change is given up (counted, logged).
    pub give_up_after_seconds: u64,
    /// One delivery attempt's HTTP timeout.
    pub timeout_seconds: u64,
    /// The first retry's delay; each next one doubles, up to `retry_max_ms`, with jitter.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
}

impl Default for RawWebhooks {
    fn default() -> Self {
        Self {
            give_up_after_seconds: 3 * 86_400,
            timeout_seconds: 10,
            retry_initial_ms: 1_000,
            retry_max_ms: 600_000,
        }
    }
}

/// The validated `[webhooks]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhooksConfig {
    pub give_up_after: Duration,
    pub timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        RawWebhooks::default().validate(&mut Vec::new())
    }
}

impl RawWebhooks {
    pub(super) fn validate(&self, problems: &mut Vec<String>) -> WebhooksConfig {
        if !(60..=30 * 86_400).contains(&self.give_up_after_seconds) {
            problems.push(format!(
                "webhooks.give_up_after_seconds: {} is outside 60..2592000",
                self.give_up_after_seconds
            ));
        }
        if !(1..=60).contains(&self.timeout_seconds) {
            problems.push(format!(
                "webhooks.timeout_seconds: {} is outside 1..60",
                self.timeout_seconds
            ));
        }
        if !(10..=3_600_000).contains(&self.retry_initial_ms) {
            problems.push(format!(
                "webhooks.retry_initial_ms: {} is outside 10..3600000",
                self.retry_initial_ms
            ));
        }
        if self.retry_max_ms < self.retry_initial_ms || self.retry_max_ms > 86_400_000 {
            problems.push(format!(
                "webhooks.retry_max_ms: {} must be at least retry_initial_ms ({}) and at most 86400000",
                self.retry_max_ms, self.retry_initial_ms
            ));
        }
        WebhooksConfig {
            give_up_after: Duration::from_secs(self.give_up_after_seconds),
            timeout: Duration::from_secs(self.timeout_seconds),
            retry_initial: Duration::from_millis(self.retry_initial_ms),
            retry_max: Duration::from_millis(self.retry_max_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::RawConfig;

    #[test]
    fn defaults_and_every_problem_named() {
        let config = RawConfig::parse("").unwrap().build_and_validate().unwrap();
        assert_eq!(config.sessions.abandon_after_ms, 3_600_000);
        assert_eq!(config.sessions.expire_after_ms, 7 * 86_400_000);
        assert_eq!(config.webhooks.timeout.as_secs(), 10);
        let text = "[sessions]\nabandon_after_seconds = 0\n[webhooks]\ngive_up_after_seconds = 0\nretry_initial_ms = 5000\nretry_max_ms = 10\n";
        let err = RawConfig::parse(text)
            .unwrap()
            .build_and_validate()
            .unwrap_err()
            .to_string();
        for key in [
            "sessions.abandon_after_seconds",
            "webhooks.give_up_after_seconds",
            "webhooks.retry_max_ms",
        ] {
            assert!(err.contains(key), "{key} not in {err}");
        }
        let unknown = RawConfig::parse("[webhooks]\nretries = 3\n").unwrap_err().to_string();
        assert!(unknown.contains("unknown field `retries`"), "{unknown}");
    }
}
