//! What reached the carrier: the SMSC simulator's `submit_sm` counter
//! (`GET {control}/stats`), read at the start of the run, at the end of the
//! warmup, at the last answer, and then until it stops rising.
//!
//! A gateway that answers before it submits (Kannel answers 202 once the
//! message is queued) looks fast in HTTP terms; this counter is the honest
//! throughput, and the time it keeps rising after the last answer is how long
//! the gateway's queue took to drain.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Polling period while waiting for the queue to drain.
const DRAIN_POLL: Duration = Duration::from_millis(20);

pub struct SmscCounter {
    client: awc::Client,
    stats_url: String,
}

#[derive(Deserialize)]
struct SimStats {
    submit_sm: u64,
}

/// One reading and when it was taken.
#[derive(Clone, Copy)]
pub struct Reading {
    pub at: Instant,
    pub submit_sm: u64,
}

/// How long to wait after the last answer.
pub struct DrainLimits {
    /// Stop when the counter has not moved for this long.
    pub idle: Duration,
    /// Stop after this long regardless.
    pub timeout: Duration,
}

#[derive(Serialize)]
pub struct SmscReport {
    pub control: String,
    /// submit_sm counted from the end of the warmup to the last answer.
    pub submit_sm_measured: u64,
    pub measured_seconds: f64,
    pub submit_sm_per_s: f64,
    /// Units answered with success over the whole run, warmup included.
    pub accepted_total: u64,
    /// submit_sm counted from the start of the run to the last answer.
    pub submit_sm_by_last_answer: u64,
    /// submit_sm counted from the start of the run to the end of the drain wait.
    pub submit_sm_total: u64,
    /// From the last answer to the counter's last rise (0 when nothing came later).
    pub drain_seconds: f64,
    /// `submit_sm_total` reached `accepted_total` before the wait ended.
    pub drained: bool,
}

impl SmscCounter {
    pub fn new(control: &str, timeout: Duration) -> Result<Self, String> {
        let base = control.trim_end_matches('/');
        if !base.starts_with("http://") {
            return Err(format!("--smsc-control must be a plain http:// URL, got {control:?}"));
        }
        let client = awc::ClientBuilder::new()
            .timeout(timeout)
            .no_default_headers()
            .disable_redirects()
            .finish();
        Ok(SmscCounter {
            client,
            stats_url: format!("{base}/stats"),
        })
    }

    pub fn control(&self) -> &str {
        self.stats_url.trim_end_matches("/stats")
    }

    pub async fn read(&self) -> Result<Reading, String> {
        let at = Instant::now();
        let mut resp = self
            .client
            .get(self.stats_url.as_str())
            .send()
            .await
            .map_err(|e| format!("GET {}: {e}", self.stats_url))?;
        if !resp.status().is_success() {
            return Err(format!("GET {}: HTTP {}", self.stats_url, resp.status().as_u16()));
        }
        let body = resp.body().await.map_err(|e| format!("GET {}: {e}", self.stats_url))?;
        let stats: SimStats =
            serde_json::from_slice(&body).map_err(|e| format!("GET {}: no submit_sm counter: {e}", self.stats_url))?;
        Ok(Reading {
            at,
            submit_sm: stats.submit_sm,
        })
    }

    /// Polls from the last answer until `accepted` messages arrived in total since `start`, or
    /// the counter stood still for `limits.idle`, or `limits.timeout` passed.
    pub async fn wait_drained(
        &self,
        start: Reading,
        last_answer: Reading,
        accepted: u64,
        limits: &DrainLimits,
    ) -> Result<(Reading, Reading), String> {
        let mut last_rise = last_answer;
        let mut now = last_answer;
        loop {
            if now.submit_sm.saturating_sub(start.submit_sm) >= accepted
                || now.at.duration_since(last_rise.at) >= limits.idle
                || now.at.duration_since(last_answer.at) >= limits.timeout
            {
                return Ok((last_rise, now));
            }
            actix_rt::time::sleep(DRAIN_POLL).await;
            now = self.read().await?;
            if now.submit_sm != last_rise.submit_sm {
                last_rise = now;
            }
        }
    }

    /// The report from the four points of the run.
    pub fn report(
        &self,
        start: Reading,
        warmup_end: Reading,
        last_answer: Reading,
        drain: (Reading, Reading),
        accepted: u64,
    ) -> SmscReport {
        let (last_rise, drain_end) = drain;
        let window = last_answer.at.duration_since(warmup_end.at).as_secs_f64();
        let measured = last_answer.submit_sm.saturating_sub(warmup_end.submit_sm);
        let total = drain_end.submit_sm.saturating_sub(start.submit_sm);
        SmscReport {
            control: self.control().to_string(),
            submit_sm_measured: measured,
            measured_seconds: window,
            submit_sm_per_s: if window > 0.0 { measured as f64 / window } else { 0.0 },
            accepted_total: accepted,
            submit_sm_by_last_answer: last_answer.submit_sm.saturating_sub(start.submit_sm),
            submit_sm_total: total,
            drain_seconds: last_rise.at.duration_since(last_answer.at).as_secs_f64(),
            drained: total >= accepted,
        }
    }
}
