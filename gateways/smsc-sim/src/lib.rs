//! An SMSC simulator: a real SMPP 3.4 server whose answers are scripted per destination, for
//! otpgate's integration tests and throughput benchmarks.
//!
//! Run it as the `otpgate-smsc-sim` binary, or in-process:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use otpgate_smsc_sim::{start, Action, RuleSpec, SimConfig};
//!
//! let sim = start(SimConfig {
//!     rules: vec![RuleSpec::new("1555", Action::Throttle).times(2)],
//!     ..SimConfig::ephemeral()
//! })
//! .await?;
//! println!("bind to {}", sim.smpp_addr());
//! // ... drive an ESME against it, then:
//! assert_eq!(sim.stats().submit_sm_resp_error, 2);
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`rules`]: rule specs, validation into a [`RuleSet`], matching with `times` counters.
//! - `session`: one task per connection: framing, bind, submit handling, batched writes.
//! - `wire`: rusmpp's codec behind a framer that survives malformed PDUs.
//! - [`receipt`]: delivery receipt text, TLVs and dates.
//! - `dispatch`: routing receipts to a live bind, and the delay queue for late receipts.
//! - [`text`]: UDH parsing and GSM 03.38 / UCS-2 / Latin-1 decoding.
//! - [`records`] and [`stats`]: what arrived, and the counters.
//! - `control`: the HTTP control endpoint.
//! - `server`: shared state and the accept loop.
//! - `tls`: rustls settings from PEM files and the handshake in front of a session.

#![forbid(unsafe_code)]

mod control;
mod dispatch;
pub mod receipt;
pub mod records;
pub mod rules;
mod server;
mod session;
pub mod stats;
pub mod text;
mod tls;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use receipt::{AddrPrefix, AddressSpelling, IdFormat, ReceiptPdu, ReceiptText};
pub use records::{MessageRecord, UdhRecord};
pub use rules::{parse_rules_toml, Action, RuleError, RuleSet, RuleSpec, StatusValue};
pub use stats::StatsSnapshot;

use control::ControlServer;
use server::{Settings, Shared};

/// Default cap on stored records.
pub const DEFAULT_MAX_RECORDS: usize = 1_000_000;

/// How to run the simulator. `Default` listens on 127.0.0.1:2775 and a free control port.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub smpp_listen: SocketAddr,
    pub control_listen: SocketAddr,
    pub system_id: String,
    pub password: String,
    pub rules: Vec<RuleSpec>,
    /// When receipts are sent if the rule names no delay; zero writes them right behind the
    /// submit_sm_resp.
    pub receipt_delay: Duration,
    /// Keep a record per submit_sm; off, only counters are kept.
    pub record: bool,
    pub max_records: usize,
    pub message_id_format: IdFormat,
    /// The id's format inside the receipt text; `None` = same as `message_id_format`.
    pub receipt_text_id_format: Option<IdFormat>,
    /// Add `receipted_message_id` and `message_state` TLVs to receipts (a rule may say
    /// otherwise).
    pub receipt_tlvs: bool,
    /// Send every error response (refused binds, refused or throttled submits) as the bare
    /// 16-octet header, as npm `smpp` does; a rule's `header_only` does it per destination.
    pub header_only_errors: bool,
    /// Send each receipt on another receiving bind of the same system_id than the one that
    /// submitted the message, when one is live (as an SMSC does when it picks any bind of the
    /// account): tests that a receipt reaching another node still lands (issue 14).
    pub receipts_on_other_bind: bool,
    /// PEM certificate chain (leaf first) for SMPP over TLS; needs `tls_key` too. With both,
    /// every SMPP connection must start with a TLS handshake.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            smpp_listen: SocketAddr::from(([127, 0, 0, 1], 2775)),
            control_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            system_id: "otpgate".into(),
            password: "secret".into(),
            rules: Vec::new(),
            receipt_delay: Duration::ZERO,
            record: true,
            max_records: DEFAULT_MAX_RECORDS,
            message_id_format: IdFormat::Decimal,
            receipt_text_id_format: None,
            receipt_tlvs: true,
            header_only_errors: false,
            receipts_on_other_bind: false,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl SimConfig {
    /// Both listeners on free loopback ports: what tests want.
    pub fn ephemeral() -> Self {
        SimConfig {
            smpp_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..SimConfig::default()
        }
    }
}

/// Binds both listeners and starts serving on the current tokio runtime. Fails on unreadable
/// TLS files, or on only one of `tls_cert` and `tls_key`.
pub async fn start(config: SimConfig) -> anyhow::Result<SimHandle> {
    let tls = tls::acceptor(config.tls_cert.as_deref(), config.tls_key.as_deref())?;
    let settings = Settings {
        system_id: config.system_id,
        password: config.password,
        receipt_delay: config.receipt_delay,
        record: config.record,
        message_id_format: config.message_id_format,
        receipt_text_id_format: config.receipt_text_id_format.unwrap_or(config.message_id_format),
        receipt_tlvs: config.receipt_tlvs,
        header_only_errors: config.header_only_errors,
        receipts_on_other_bind: config.receipts_on_other_bind,
    };
    let listener = TcpListener::bind(config.smpp_listen)
        .await
        .with_context(|| format!("SMPP listener on {}", config.smpp_listen))?;
    let smpp_addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let shared = Shared::new(settings, config.rules, config.max_records, shutdown.clone())?;
    let control = ControlServer::start(config.control_listen, shared.clone())?;
    if tls.is_some() {
        tracing::info!(%smpp_addr, "SMPP over TLS");
    }
    tokio::spawn(server::accept_loop(listener, tls, shared.clone()));
    Ok(SimHandle {
        smpp_addr,
        shared,
        control,
        shutdown,
    })
}

/// A running simulator. Dropping it stops the listeners and closes every connection.
pub struct SimHandle {
    smpp_addr: SocketAddr,
    shared: Arc<Shared>,
    control: ControlServer,
    shutdown: CancellationToken,
}

impl SimHandle {
    pub fn smpp_addr(&self) -> SocketAddr {
        self.smpp_addr
    }

    pub fn control_addr(&self) -> SocketAddr {
        self.control.addr()
    }

    /// `http://IP:PORT` of the control endpoint.
    pub fn control_url(&self) -> String {
        format!("http://{}", self.control_addr())
    }

    /// The line the binary prints when ready.
    pub fn ready_line(&self) -> String {
        format!("smsc-sim smpp={} control={}", self.smpp_addr, self.control_url())
    }

    /// Every record, in arrival order.
    pub fn records(&self) -> Vec<MessageRecord> {
        self.shared.records.list(None)
    }

    /// Records whose destination is `destination` (a leading '+' ignored).
    pub fn records_to(&self, destination: &str) -> Vec<MessageRecord> {
        self.shared.records.list(Some(destination))
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Replaces the rules (their `times` counters start afresh); refused rules change nothing.
    pub fn set_rules(&self, rules: Vec<RuleSpec>) -> Result<(), RuleError> {
        self.shared.set_rules(rules)
    }

    /// The current rules, `times` showing what is left.
    pub fn rules(&self) -> Vec<RuleSpec> {
        self.shared.rules().1.describe()
    }

    /// Clears records and counters and rewinds the rules' `times`.
    pub fn reset(&self) {
        self.shared.reset()
    }

    /// Stops accepting and closes every connection; buffered responses are still written.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("smpp_addr", &self.smpp_addr)
            .field("control_addr", &self.control_addr())
            .finish_non_exhaustive()
    }
}
