//! Prometheus metrics. Names are part of the public contract (§7); labels stay low-cardinality
//! (never a number, code or id). Each name is defined once — here, or in the gateway crate
//! that records it — and every one is described here, where the recorder is installed.
//!
//! The metrics the SRE kit (docker/: dashboard and alert rules) reads that need more than one
//! `counter!` line are recorded through the functions at the end of this file, so each emission
//! site stays one call: [`fallback`], [`send_refused`], [`receipt`], [`completed`],
//! [`channel_send`], [`store_queue`] / [`store_dequeued`] and [`build_info`].
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use otpgate_gateway::{Channel, DeliveryReport};
use std::time::Duration;

pub use otpgate_gateway::CARRIER_UP;
pub const MESSAGES_SENT: &str = "otpgate_messages_sent_total";
pub const MESSAGES_DELIVERED: &str = "otpgate_messages_delivered_total";
pub const MESSAGES_FAILED: &str = "otpgate_messages_failed_total";
pub const VERIFICATIONS: &str = "otpgate_verifications_total";
pub const FALLBACKS: &str = "otpgate_fallbacks_total";
pub const FALLBACK_REASONS: &str = "otpgate_fallback_reasons_total";
pub const SEND_DURATION: &str = "otpgate_send_duration_seconds";
pub const CARRIER_DELIVERABILITY: &str = "otpgate_carrier_deliverability";
pub const NUMBER_ACTORS: &str = "otpgate_number_actors";
pub const STORE_COMMIT_DURATION: &str = "otpgate_store_commit_duration_seconds";
pub const STORE_BATCH_SIZE: &str = "otpgate_store_batch_size";
pub const WEBHOOKS_REJECTED: &str = "otpgate_webhooks_rejected_total";
pub const SENDS_BLOCKED: &str = "otpgate_sends_blocked_total";
pub const SENDS_RATE_LIMITED: &str = "otpgate_sends_rate_limited_total";
pub const HTTP_RATE_LIMITED: &str = "otpgate_http_requests_rate_limited_total";
pub const INTEL_RELOADS: &str = "otpgate_intel_reloads_total";
pub const INTEL_LOOKUPS: &str = "otpgate_intel_lookups_total";
pub const PREFIXES_BLOCKED: &str = "otpgate_prefixes_blocked_total";
pub const SESSIONS: &str = "otpgate_sessions_total";
pub const WEBHOOK_DELIVERIES: &str = "otpgate_webhook_deliveries_total";
pub const WEBHOOK_DELIVERY_DURATION: &str = "otpgate_webhook_delivery_seconds";
pub const WEBHOOK_OUTBOX_DEPTH: &str = "otpgate_webhook_outbox_depth";
pub const RECEIPT_DURATION: &str = "otpgate_receipt_duration_seconds";
pub const VERIFICATIONS_COMPLETED: &str = "otpgate_verifications_completed_total";
pub const SENDS_REFUSED: &str = "otpgate_sends_refused_total";
pub const CHANNEL_SEND_DURATION: &str = "otpgate_channel_send_duration_seconds";
pub const STORE_QUEUE_DEPTH: &str = "otpgate_store_queue_depth";
pub const STORE_ERRORS: &str = "otpgate_store_errors_total";
/// Conditional writes of a number actor that found the number changed by another writer (another
/// node on the same store), by what the actor did: `retried` (reloaded and decided again) or
/// `gave_up` (the request was answered 503 after the actor's last try).
pub const STORE_WRITE_CONFLICTS: &str = "otpgate_store_write_conflicts_total";
pub const BUILD_INFO: &str = "otpgate_build_info";
pub use otpgate_smpp::BINDS_BOUND as SMPP_BINDS_BOUND;

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// A webhook's wait spans milliseconds (receiver up) to days (receiver down, retried).
const WEBHOOK_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0,
];
/// A receipt takes seconds to minutes (an operator's store-and-forward retries).
const RECEIPT_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2048.0];

/// Installs the process-wide recorder and returns the handle `/metrics` renders.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(STORE_BATCH_SIZE.into()), BATCH_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(WEBHOOK_DELIVERY_DURATION.into()), WEBHOOK_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(RECEIPT_DURATION.into()), RECEIPT_BUCKETS)?
        .install_recorder()?;
    describe();
    build_info();
    Ok(handle)
}

/// The `# HELP` of every metric the engine and its gateways record.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    use otpgate_sip as sip;
    use otpgate_smpp as smpp;
    describe_counter!(
        MESSAGES_SENT,
        "Messages accepted by a carrier, by channel, carrier and country."
    );
    describe_counter!(MESSAGES_DELIVERED, "Messages with a positive delivery outcome.");
    describe_counter!(
        MESSAGES_FAILED,
        "Messages a carrier refused (each try, throttling included) or failed to deliver, by reason."
    );
    describe_counter!(VERIFICATIONS, "Verification outcomes by status.");
    describe_counter!(
        INTEL_LOOKUPS,
        "Number lookups by result (found, not_found, cached, error, timeout)."
    );
    describe_counter!(
        INTEL_RELOADS,
        "Loads of the carrier-name and disposable-number files, by file and result (ok, error)."
    );
    describe_counter!(
        SENDS_RATE_LIMITED,
        "Sends refused with 429 by a rate limit, by scope (application, ip)."
    );
    describe_counter!(
        HTTP_RATE_LIMITED,
        "Requests refused with 429 by a request limit ([limits]), by route template and scope (ip, key, failed_auth)."
    );
    describe_counter!(
        PREFIXES_BLOCKED,
        "Number prefixes blocked for a while after a burst of uncompleted sends (SMS pumping)."
    );
    describe_counter!(
        SENDS_BLOCKED,
        "Sends refused before anything was sent, by reason (in_block_list, suspicious, repeated_attempts, spam)."
    );
    describe_counter!(
        FALLBACKS,
        "Moves from one step of the plan to the next, by channel from and to."
    );
    describe_counter!(
        FALLBACK_REASONS,
        "Moves from one step of the plan to the next, by reason (refused, negative_receipt, no_receipt)."
    );
    describe_counter!(
        SENDS_REFUSED,
        "Sends refused before anything was sent, rate limits included, by cause (rate_limit, pumping, blocklist, high_risk, attempts, spam)."
    );
    describe_histogram!(
        RECEIPT_DURATION,
        Unit::Seconds,
        "From a carrier accepting a message to its delivery receipt (positive or negative), by channel and carrier."
    );
    describe_counter!(
        VERIFICATIONS_COMPLETED,
        "Verifications approved, by the channel that delivered the code and whether a fallback happened (fallback = true, false)."
    );
    describe_histogram!(
        CHANNEL_SEND_DURATION,
        Unit::Seconds,
        "One carrier's answer to one send (SMPP submit, platform API call, SIP call set-up), by channel, carrier and result (accepted, refused)."
    );
    describe_gauge!(
        STORE_QUEUE_DEPTH,
        "Writes queued for the store's writer, not yet committed."
    );
    describe_counter!(
        STORE_WRITE_CONFLICTS,
        "Conditional writes that lost to another writer of the same number, by outcome (retried, gave_up)."
    );
    describe_counter!(
        STORE_ERRORS,
        "Failed store reads and write batches, by backend (sqlite, postgres) and kind (unavailable, full, corrupt)."
    );
    describe_counter!(
        crate::limits::RESERVATIONS,
        "Round trips to the limits shared across nodes (PostgreSQL), by scope (ip, key, failed_auth, send_ip, send_application)."
    );
    describe_counter!(
        crate::limits::UNAVAILABLE,
        "Times the shared limits did not answer and this node decided with its own, by scope."
    );
    describe_gauge!(
        crate::limits::LIVE_NODES,
        "Engine nodes live on this store, as this node last counted them (each throttles a carrier at max_tps / live nodes)."
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the labels name the running build (version, commit)."
    );
    describe_gauge!(SMPP_BINDS_BOUND, "SMPP binds currently bound, per carrier.");
    describe_counter!(
        WEBHOOKS_REJECTED,
        "Platform callbacks refused (bad or missing signature, stale, malformed), by carrier."
    );
    describe_histogram!(SEND_DURATION, Unit::Seconds, "From send request to carrier acceptance.");
    describe_gauge!(
        CARRIER_UP,
        "1 when the carrier can take messages; 0 while it is unbound or unreachable, or marked down after its platform refused our account."
    );
    describe_gauge!(
        CARRIER_DELIVERABILITY,
        "Measured deliverability by carrier and country: the decayed share of accepted messages delivered (about the last 20)."
    );
    describe_gauge!(NUMBER_ACTORS, "Per-number actors alive.");
    describe_histogram!(STORE_COMMIT_DURATION, Unit::Seconds, "One group commit of the store.");
    describe_histogram!(STORE_BATCH_SIZE, "Writes per group commit.");
    describe_gauge!(smpp::WINDOW_IN_USE, "Unacknowledged submit_sm per SMPP carrier.");
    describe_histogram!(
        smpp::SUBMIT_DURATION,
        Unit::Seconds,
        "From submit_sm written to its submit_sm_resp, per SMPP carrier."
    );
    describe_counter!(smpp::RECONNECTS, "SMPP binds re-established after a loss, per carrier.");
    describe_counter!(
        smpp::RETRIES,
        "submit_sm sent again after a throttled or transient answer, per carrier."
    );
    describe_counter!(sip::CALLS_PLACED, "Calls placed (INVITE sent), per SIP carrier.");
    describe_counter!(sip::CALLS_ANSWERED, "Calls answered (200 OK), per SIP carrier.");
    describe_counter!(
        sip::CALLS_COMPLETED,
        "Calls whose whole prompt played, per SIP carrier."
    );
    describe_counter!(
        sip::CALLS_FAILED,
        "Calls that failed, by carrier, reason and the status class of the SIP response that ended them."
    );
    describe_histogram!(
        sip::CALL_DURATION,
        Unit::Seconds,
        "From INVITE to the end of an answered call, per SIP carrier."
    );
    describe_counter!(
        SESSIONS,
        "Hosted sessions entering a status, by status (not_started, in_progress, in_review, approved, declined, abandoned, expired)."
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook delivery attempts by outcome (delivered, retried, given_up, refused)."
    );
    describe_histogram!(
        WEBHOOK_DELIVERY_DURATION,
        Unit::Seconds,
        "From a session's status change to its webhook's 2xx, retries included."
    );
    describe_gauge!(
        WEBHOOK_OUTBOX_DEPTH,
        "Webhook events waiting to be delivered, in every application (refreshed every 5 s)."
    );
}

/// Counts one move from channel `from` to channel `to` in `otpgate_fallbacks_total{from,to}`
/// (the labels CONTRACT §7 fixes) and its `reason` in `otpgate_fallback_reasons_total{reason}`:
/// `refused` (the carrier refused the message), `negative_receipt` or `no_receipt` (none within
/// `fallback_after_seconds`). Two counters, not a third label, so dashboards and recording rules
/// written against the contract's label set keep matching.
pub fn fallback(from: Channel, to: Channel, reason: &'static str) {
    metrics::counter!(FALLBACKS, "from" => from.as_str(), "to" => to.as_str()).increment(1);
    metrics::counter!(FALLBACK_REASONS, "reason" => reason).increment(1);
}

/// Counts a send refused before anything was sent in `otpgate_sends_refused_total{cause}`.
/// `cause` is one of `rate_limit`, `pumping`, `blocklist`, `high_risk`, `attempts`, `spam`
/// (see [`block_cause`] for the blocks a number's actor decides).
pub fn send_refused(cause: &'static str) {
    metrics::counter!(SENDS_REFUSED, "cause" => cause).increment(1);
}

/// The `cause` of a block decided on a send: the API's `reason`, with `suspicious` split into
/// `pumping` (the prefix is blocked for SMS pumping, [`crate::risk::PUMPING`]) and `high_risk`.
/// `high_risk` is the risk check's detail, when one flagged the send.
pub fn block_cause(reason: &str, high_risk: Option<&serde_json::Value>) -> &'static str {
    match reason {
        "in_block_list" => "blocklist",
        "repeated_attempts" => "attempts",
        "spam" => "spam",
        _ if high_risk
            .and_then(|d| d["reason"].as_str())
            .is_some_and(|r| r.starts_with(crate::risk::PUMPING)) =>
        {
            "pumping"
        }
        _ => "high_risk",
    }
}

/// Records the time from a carrier accepting the message to its receipt `report`, read from
/// `v`'s lifecycle: the last `PHONE_VERIFICATION_MESSAGE_SENT` entry of the report's carrier.
/// Without one the receipt beat the acceptance to the number's actor (the SMSC sent the
/// deliver_sm before our submit_sm_resp was handled): 0 s.
pub fn receipt(v: &crate::verification::Verification, report: &DeliveryReport, now_ms: i64) {
    let sent = v.lifecycle.iter().rev().find(|e| {
        e.kind == crate::verification::LifecycleKind::PhoneVerificationMessageSent
            && e.details.as_ref().and_then(|d| d["carrier"].as_str()) == Some(report.carrier.as_str())
    });
    let seconds = sent.map_or(0.0, |sent| (now_ms - sent.timestamp_ms).max(0) as f64 / 1000.0);
    metrics::histogram!(RECEIPT_DURATION, "channel" => report.channel.as_str(), "carrier" => report.carrier.clone())
        .record(seconds);
}

/// Counts an approved verification `v` in `otpgate_verifications_completed_total{channel,
/// fallback}`: the channel that delivered the code (the last one it went out on when no receipt
/// said), and whether any fallback happened on the way.
pub fn completed(v: &crate::verification::Verification) {
    let channel = v.verification_method.or(v.channel).map_or("unknown", Channel::as_str);
    let fallback = v
        .lifecycle
        .iter()
        .any(|e| e.kind == crate::verification::LifecycleKind::PhoneChannelFallback);
    metrics::counter!(VERIFICATIONS_COMPLETED, "channel" => channel, "fallback" => if fallback { "true" } else { "false" })
        .increment(1);
}

/// Records one carrier's answer to one send: `took` from the gateway call to its answer.
pub fn channel_send(channel: Channel, carrier: &str, accepted: bool, took: Duration) {
    let result = if accepted { "accepted" } else { "refused" };
    metrics::histogram!(CHANNEL_SEND_DURATION, "channel" => channel.as_str(), "carrier" => carrier.to_owned(), "result" => result)
        .record(took.as_secs_f64());
}

/// A write was queued for the store's writer (`otpgate_store_queue_depth` + 1).
pub fn store_queue() {
    metrics::gauge!(STORE_QUEUE_DEPTH).increment(1.0);
}

/// The writer took `n` queued writes into a commit.
pub fn store_dequeued(n: usize) {
    metrics::gauge!(STORE_QUEUE_DEPTH).decrement(n as f64);
}

/// The version of this build (Cargo.toml) and its git commit (build.rs: `OTPGATE_COMMIT`, else
/// `git rev-parse --short HEAD`, else `unknown`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("OTPGATE_COMMIT");

/// Sets `otpgate_build_info{version,commit}` to 1.
fn build_info() {
    metrics::gauge!(BUILD_INFO, "version" => VERSION, "commit" => COMMIT).set(1.0);
}

#[cfg(test)]
mod tests {
    use super::block_cause;
    use serde_json::json;

    #[test]
    fn a_suspicious_block_is_told_apart_as_pumping_or_high_risk() {
        let pumping = json!({ "reason": format!("{}: a burst", crate::risk::PUMPING) });
        assert_eq!(block_cause("suspicious", Some(&pumping)), "pumping");
        assert_eq!(
            block_cause("suspicious", Some(&json!({ "reason": "high-risk prefix" }))),
            "high_risk"
        );
        assert_eq!(block_cause("suspicious", None), "high_risk");
        assert_eq!(block_cause("in_block_list", Some(&pumping)), "blocklist");
        assert_eq!(block_cause("repeated_attempts", None), "attempts");
        assert_eq!(block_cause("spam", None), "spam");
    }
}
