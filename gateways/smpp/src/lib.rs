//! otpgate's SMPP 3.4 gateway: SMS over direct carrier binds.
//!
//! # Layout
//! - [`codec`]: framing by command_length over rusmpp's codec; a body it cannot read costs one
//!   PDU, not the connection.
//! - [`pdu`]: what an inbound PDU asks of the session (responses read from the header, with or
//!   without a body), and every PDU the session writes, field by field.
//! - [`encoding`]: text → `submit_sm` PDUs (GSM 03.38 or UCS2 with surrogate pairs,
//!   concatenation UDH, TON/NPI, esm_class).
//! - [`receipt`]: delivery receipts out of `deliver_sm` or `data_sm` (TLVs first, then the
//!   receipt text in short_message or message_payload).
//! - [`status`]: the one table that classifies an SMSC's refusals.
//! - [`window`]: in-flight requests by sequence number, with response timeouts.
//! - `tracker`: matches receipts to messages across a carrier's binds, reports outcomes once.
//! - `connect`: TCP / TLS and the bind handshake.
//! - `bind`: one supervised actix actor per bind (the session state machine).
//! - [`SmppGateway`]: the [`Gateway`] the engine calls: a token bucket per carrier, a window
//!   of slots per bind, retries of transient failures, one answer per message.
//!
//! The codec and PDU types are rusmpp's. Its own client has no window cap, reconnect or
//! receipt parser; those are what this crate adds.
#![forbid(unsafe_code)]

mod bind;
pub mod codec;
mod connect;
pub mod encoding;
pub mod pdu;
pub mod receipt;
pub mod status;
mod tracker;
pub use tracker::same_handset;
pub mod window;

pub use connect::Tls;
pub use encoding::Source;

use actix::{Addr, Arbiter, Supervisor};
use async_trait::async_trait;
use bind::{Bind, BindState, Slot, Submit, Unbind, Waiter};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use otpgate_gateway::{Accepted, Channel, Coverage, Gateway, GatewayError, OutboundMessage, ReportSender};
use rusmpp::types::COctetString;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Semaphore};
use tracker::{Tracked, Tracker};

/// Metric names (CONTRACT §7 plus the SMPP-specific ones).
pub use otpgate_gateway::CARRIER_UP;
pub const WINDOW_IN_USE: &str = "otpgate_smpp_window_in_use";
pub const SUBMIT_DURATION: &str = "otpgate_smpp_submit_duration_seconds";
pub const RECONNECTS: &str = "otpgate_smpp_reconnects_total";
pub const RETRIES: &str = "otpgate_smpp_retries_total";
pub const BINDS_BOUND: &str = "otpgate_smpp_binds_bound";

/// How long a message waits for its receipt before it is forgotten.
const RECEIPT_WAIT: Duration = Duration::from_secs(3600);
/// Transient failures (lost connection, unanswered submit) retried per part.
const TRANSIENT_RETRIES: u32 = 2;
/// How long a part may keep being retried (throttling, waiting for a bind) before the send
/// gives up and routing moves on.
const SEND_DEADLINE: Duration = Duration::from_secs(30);
/// How long a send waits for some bind to come up when none is.
const WAIT_FOR_BIND: Duration = Duration::from_secs(2);

/// One SMPP carrier, validated (the engine maps its `[[carriers]]` entry to this).
#[derive(Clone)]
pub struct SmppConfig {
    pub name: String,
    pub address: String,
    pub system_id: COctetString<1, 16>,
    pub password: COctetString<1, 9>,
    pub system_type: COctetString<1, 13>,
    pub source: Source,
    pub binds: u32,
    pub window: u32,
    pub max_tps: u32,
    /// How many engine nodes share `max_tps` (clones share it): the engine's heartbeat sets it.
    pub tps_share: TpsShare,
    pub tls: Option<Tls>,
    pub enquire_link: Duration,
    pub response_timeout: Duration,
    pub coverage: Coverage,
}

// The password stays out of every `{:?}`.
impl std::fmt::Debug for SmppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmppConfig")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("system_id", &self.system_id.as_str())
            .field("password", &"<redacted>")
            .field("binds", &self.binds)
            .field("window", &self.window)
            .field("max_tps", &self.max_tps)
            .field("tps_share", &self.tps_share.nodes())
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// The number of engine nodes that share one carrier's `max_tps` (issue 14): each node's
/// bucket then runs at `max_tps / nodes` per second, its burst the same, so the carrier sees
/// at most `max_tps` in total. 1 (the whole rate) until someone says otherwise. Clones share
/// the count: the engine keeps one and updates it from its heartbeat.
#[derive(Clone)]
pub struct TpsShare(Arc<AtomicU32>);

impl Default for TpsShare {
    fn default() -> Self {
        Self(Arc::new(AtomicU32::new(1)))
    }
}

impl TpsShare {
    /// Nodes sharing the rate (at least 1).
    pub fn nodes(&self) -> u32 {
        self.0.load(Ordering::Relaxed).max(1)
    }

    /// Sets the number of nodes sharing the rate; 0 counts as 1.
    pub fn set_nodes(&self, nodes: u32) {
        self.0.store(nodes.max(1), Ordering::Relaxed);
    }
}

impl std::fmt::Debug for TpsShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TpsShare({})", self.nodes())
    }
}

/// One node's token bucket for `max_tps` shared by `nodes`: `max_tps / nodes` per second, the
/// burst the same (at least 1); `None` when `max_tps` is 0 (no limit).
fn share_limiter(max_tps: u32, nodes: u32) -> Option<Arc<DefaultDirectRateLimiter>> {
    if max_tps == 0 {
        return None;
    }
    let nodes = nodes.max(1);
    let period = Duration::from_nanos(1_000_000_000 * nodes as u64 / max_tps as u64).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new((max_tps / nodes).max(1)).expect("at least 1");
    let quota = Quota::with_period(period)?.allow_burst(burst);
    Some(Arc::new(RateLimiter::direct(quota)))
}

/// What every bind of one carrier shares.
pub(crate) struct Shared {
    tracker: Tracker,
    binds_up: AtomicUsize,
    carrier_up: metrics::Gauge,
    binds_bound: metrics::Gauge,
    reconnects: metrics::Counter,
}

impl Shared {
    fn bind_changed(&self, up: bool) {
        let now_up = if up {
            self.binds_up.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            self.binds_up.fetch_sub(1, Ordering::AcqRel) - 1
        };
        self.carrier_up.set(if now_up > 0 { 1.0 } else { 0.0 });
        self.binds_bound.set(now_up as f64);
    }
}

struct BindHandle {
    addr: Addr<Bind>,
    state: Arc<BindState>,
    _arbiter: Arbiter,
}

pub struct SmppGateway {
    config: Arc<SmppConfig>,
    shared: Arc<Shared>,
    binds: Vec<BindHandle>,
    next_bind: AtomicUsize,
    next_reference: AtomicU8,
    /// The bucket for this node's share of `max_tps`, and the node count it was made for.
    limiter: Mutex<(u32, Option<Arc<DefaultDirectRateLimiter>>)>,
    window_in_use: metrics::Gauge,
    retries: metrics::Counter,
}

impl SmppGateway {
    /// Starts `binds` supervised bind actors, each on its own arbiter thread; they connect in
    /// the background. Receipts go to `reports`. Needs a running actix system.
    pub fn start(config: SmppConfig, reports: ReportSender) -> Arc<Self> {
        let config = Arc::new(config);
        let carrier = config.name.clone();
        let shared = Arc::new(Shared {
            tracker: Tracker::new(carrier.clone(), reports),
            binds_up: AtomicUsize::new(0),
            carrier_up: metrics::gauge!(CARRIER_UP, "carrier" => carrier.clone()),
            binds_bound: metrics::gauge!(BINDS_BOUND, "carrier" => carrier.clone()),
            reconnects: metrics::counter!(RECONNECTS, "carrier" => carrier.clone()),
        });
        shared.carrier_up.set(0.0);
        shared.binds_bound.set(0.0);
        let window_in_use = metrics::gauge!(WINDOW_IN_USE, "carrier" => carrier.clone());
        window_in_use.set(0.0);
        let binds = (0..config.binds.max(1) as usize)
            .map(|index| {
                let state = Arc::new(BindState {
                    up: Default::default(),
                    window: Arc::new(Semaphore::new(config.window.max(1) as usize)),
                });
                let arbiter = Arbiter::new();
                let (c, s, st) = (config.clone(), shared.clone(), state.clone());
                let addr = Supervisor::start_in_arbiter(&arbiter.handle(), move |_| Bind::new(index, c, s, st));
                BindHandle {
                    addr,
                    state,
                    _arbiter: arbiter,
                }
            })
            .collect();
        let nodes = config.tps_share.nodes();
        let limiter = Mutex::new((nodes, share_limiter(config.max_tps, nodes)));
        Arc::new(Self {
            retries: metrics::counter!(RETRIES, "carrier" => carrier),
            config,
            shared,
            binds,
            next_bind: AtomicUsize::new(0),
            next_reference: AtomicU8::new(rand::random()),
            limiter,
            window_in_use,
        })
    }

    /// This node's bucket, made again when the number of nodes sharing `max_tps` changed (a
    /// new bucket starts empty, so a change never adds a burst).
    fn limiter(&self) -> Option<Arc<DefaultDirectRateLimiter>> {
        let nodes = self.config.tps_share.nodes();
        let mut held = self.limiter.lock().unwrap_or_else(|e| e.into_inner());
        if held.0 != nodes {
            let fresh = share_limiter(self.config.max_tps, nodes);
            if let Some(bucket) = &fresh {
                let burst = NonZeroU32::new((self.config.max_tps / nodes).max(1)).expect("at least 1");
                let _ = bucket.check_n(burst);
            }
            *held = (nodes, fresh);
        }
        held.1.clone()
    }

    /// Binds currently bound.
    pub fn binds_up(&self) -> usize {
        self.shared.binds_up.load(Ordering::Acquire)
    }

    /// Messages accepted by the SMSC that still wait for their final receipt.
    pub fn awaiting_receipts(&self) -> usize {
        self.shared.tracker.tracked()
    }

    /// Waits until every bind is bound, or `timeout` passes. For start-up and tests.
    pub async fn wait_bound(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while self.binds_up() < self.binds.len() {
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// A free window slot on a bound bind, round-robin; waits when every window is full.
    async fn slot(&self, deadline: Instant) -> Result<(&BindHandle, Slot), GatewayError> {
        let n = self.binds.len();
        let wait_for_bind_until = Instant::now() + WAIT_FOR_BIND;
        loop {
            let start = self.next_bind.fetch_add(1, Ordering::Relaxed);
            let mut bound = None;
            for i in 0..n {
                let bind = &self.binds[(start + i) % n];
                if !bind.state.up.load(Ordering::Acquire) {
                    continue;
                }
                if let Ok(permit) = bind.state.window.clone().try_acquire_owned() {
                    return Ok((bind, permit));
                }
                bound.get_or_insert(bind);
            }
            let now = Instant::now();
            match bound {
                // Every bound window is full: wait for a slot on one of them.
                Some(bind) => {
                    let acquire = bind.state.window.clone().acquire_owned();
                    match tokio::time::timeout(deadline.saturating_duration_since(now), acquire).await {
                        Ok(Ok(permit)) if bind.state.up.load(Ordering::Acquire) => return Ok((bind, permit)),
                        Ok(_) => continue,
                        Err(_) => return Err(GatewayError::transient("window_full", "no window slot freed in time")),
                    }
                }
                None if now >= wait_for_bind_until.min(deadline) => {
                    return Err(GatewayError::transient("carrier_down", "no SMPP bind is bound"))
                }
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Submits one part until the SMSC answers it: throttling backs off and retries here,
    /// transient failures are retried a bounded number of times, permanent refusals return.
    async fn submit(&self, sm: rusmpp::pdus::SubmitSm, tracked: &Arc<Tracked>) -> Result<String, GatewayError> {
        let deadline = Instant::now() + SEND_DEADLINE;
        let mut transient_left = TRANSIENT_RETRIES;
        loop {
            if let Some(limiter) = self.limiter() {
                limiter.until_ready().await;
            }
            let (bind, slot) = self.slot(deadline).await?;
            let (reply, answer) = oneshot::channel();
            bind.addr.do_send(Submit {
                sm: sm.clone(),
                waiter: Waiter {
                    reply,
                    tracked: tracked.clone(),
                    _slot: slot,
                },
            });
            let error = match answer.await {
                Ok(Ok(message_id)) => return Ok(message_id),
                Ok(Err(e)) => e,
                Err(_) => GatewayError::transient("connection_lost", "the bind stopped before answering"),
            };
            let retry_after = error.retry_after().unwrap_or(Duration::ZERO);
            let retry = match error.kind() {
                otpgate_gateway::ErrorKind::Throttled => Instant::now() + retry_after < deadline,
                otpgate_gateway::ErrorKind::Transient if transient_left > 0 => {
                    transient_left -= 1;
                    true
                }
                _ => false,
            };
            if !retry {
                return Err(error);
            }
            self.retries.increment(1);
            tracing::debug!(carrier = %self.config.name, error = %error, "retrying submit_sm");
            tokio::time::sleep(retry_after).await;
        }
    }
}

#[async_trait]
impl Gateway for SmppGateway {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn channels(&self) -> &[Channel] {
        &[Channel::Sms]
    }

    fn serves_country(&self, country: &str) -> bool {
        self.config.coverage.serves(country)
    }

    fn fee_micros(&self, country: &str) -> u64 {
        self.config.coverage.fee_micros(country)
    }

    fn is_up(&self) -> bool {
        self.binds_up() > 0
    }

    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, GatewayError> {
        let reference = self.next_reference.fetch_add(1, Ordering::Relaxed);
        let encoded = encoding::encode(&message.text, &self.config.source, &message.to, reference)?;
        let parts = encoded.parts.len() as u32;
        let tracked = Tracked::new(message, parts);
        let mut first_id = None;
        for sm in encoded.parts {
            let id = self.submit(sm, &tracked).await?;
            first_id.get_or_insert(id);
        }
        Ok(Accepted {
            carrier_message_id: first_id.unwrap_or_default(),
            parts,
            delivery: None,
        })
    }

    fn refresh_metrics(&self) {
        let window = self.config.window.max(1) as usize;
        let in_use: usize = self
            .binds
            .iter()
            .map(|b| window.saturating_sub(b.state.window.available_permits()))
            .sum();
        self.window_in_use.set(in_use as f64);
    }

    async fn shutdown(&self) {
        let mut done = Vec::new();
        for bind in &self.binds {
            let (tx, rx) = oneshot::channel();
            let bound = bind.state.up.load(Ordering::Acquire);
            bind.addr.do_send(Unbind(tx));
            // A bind that is not bound has nothing to unbind; it may be sleeping through a
            // reconnect back-off and would read its mailbox only afterwards.
            if bound {
                done.push(rx);
            }
        }
        let patience = self.config.response_timeout + Duration::from_secs(1);
        for rx in done {
            if tokio::time::timeout(patience, rx).await.is_err() {
                tracing::warn!(carrier = %self.config.name, "a bind did not unbind in time");
            }
        }
    }
}
