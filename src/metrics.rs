//! Prometheus metrics. Names are part of the public contract (§7); labels stay low-cardinality
//! (never a number, code or id). Each name is defined once — here, or in the gateway crate
//! that records it — and every one is described here, where the recorder is installed.
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use otpgate_gateway::CARRIER_UP;
pub const MESSAGES_SENT: &str = "otpgate_messages_sent_total";
pub const MESSAGES_DELIVERED: &str = "otpgate_messages_delivered_total";
pub const MESSAGES_FAILED: &str = "otpgate_messages_failed_total";
pub const VERIFICATIONS: &str = "otpgate_verifications_total";
pub const FALLBACKS: &str = "otpgate_fallbacks_total";
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

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// A webhook's wait spans milliseconds (receiver up) to days (receiver down, retried).
const WEBHOOK_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2048.0];

/// Installs the process-wide recorder and returns the handle `/metrics` renders.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(STORE_BATCH_SIZE.into()), BATCH_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(WEBHOOK_DELIVERY_DURATION.into()), WEBHOOK_BUCKETS)?
        .install_recorder()?;
    describe();
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
    describe_counter!(FALLBACKS, "Moves from one channel to the next.");
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
