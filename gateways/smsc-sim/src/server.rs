//! State shared by every connection, and the accept loop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::dispatch::Router;
use crate::receipt::{IdFormat, Receipt};
use crate::records::RecordStore;
use crate::rules::{RuleError, RuleSet, RuleSpec};
use crate::stats::Stats;

/// The per-run constants a connection needs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub system_id: String,
    pub password: String,
    pub receipt_delay: Duration,
    pub record: bool,
    pub message_id_format: IdFormat,
    pub receipt_text_id_format: IdFormat,
    pub receipt_tlvs: bool,
    pub header_only_errors: bool,
    pub receipts_on_other_bind: bool,
}

#[derive(Debug)]
struct Rules {
    specs: Vec<RuleSpec>,
    set: Arc<RuleSet>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub settings: Settings,
    pub stats: Arc<Stats>,
    pub records: RecordStore,
    pub router: Arc<Router>,
    /// Receipts with a delay go to the scheduler task.
    pub scheduler: mpsc::UnboundedSender<(Receipt, Duration)>,
    pub shutdown: CancellationToken,
    rules: RwLock<Rules>,
    /// Bumped on every rules change, so connections re-read the rules only when they changed.
    rules_generation: AtomicU64,
    next_message_id: AtomicU64,
    next_connection_id: AtomicU64,
}

impl Shared {
    pub fn new(
        settings: Settings,
        rules: Vec<RuleSpec>,
        max_records: usize,
        shutdown: CancellationToken,
    ) -> Result<Arc<Shared>, RuleError> {
        let set = Arc::new(RuleSet::build(&rules)?);
        let stats = Arc::new(Stats::default());
        let router = Arc::new(Router::new(settings.receipts_on_other_bind));
        let scheduler = crate::dispatch::spawn_scheduler(router.clone(), stats.clone(), shutdown.clone());
        Ok(Arc::new(Shared {
            settings,
            stats,
            records: RecordStore::new(max_records),
            router,
            scheduler,
            shutdown,
            rules: RwLock::new(Rules { specs: rules, set }),
            rules_generation: AtomicU64::new(0),
            next_message_id: AtomicU64::new(1),
            next_connection_id: AtomicU64::new(1),
        }))
    }

    pub fn rules_generation(&self) -> u64 {
        self.rules_generation.load(Ordering::Acquire)
    }

    /// The current rules and the generation they belong to.
    pub fn rules(&self) -> (u64, Arc<RuleSet>) {
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        (self.rules_generation(), rules.set.clone())
    }

    /// Replaces the rules; their `times` counters start afresh.
    pub fn set_rules(&self, specs: Vec<RuleSpec>) -> Result<(), RuleError> {
        let set = Arc::new(RuleSet::build(&specs)?);
        let mut rules = self.rules.write().unwrap_or_else(|e| e.into_inner());
        *rules = Rules { specs, set };
        self.rules_generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Clears records and counters and rewinds the rules' `times`. Message ids keep counting,
    /// so an id is never handed out twice in one run.
    pub fn reset(&self) {
        self.records.clear();
        self.stats.reset();
        let specs = self.rules.read().unwrap_or_else(|e| e.into_inner()).specs.clone();
        // The specs were valid when stored, so rebuilding cannot fail.
        let _ = self.set_rules(specs);
    }

    pub fn next_message_id(&self) -> u64 {
        self.next_message_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// Accepts connections until shutdown, one task each; with `tls`, each does its handshake first.
pub(crate) async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                tracing::debug!(%peer, "connection accepted");
                // Small PDUs must not wait for a delayed ACK; set before any TLS record goes out.
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::warn!(%peer, %error, "TCP_NODELAY not set");
                }
                match &tls {
                    None => tokio::spawn(crate::session::serve(stream, shared.clone())),
                    Some(acceptor) => tokio::spawn(crate::tls::serve(acceptor.clone(), stream, shared.clone())),
                };
            }
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
