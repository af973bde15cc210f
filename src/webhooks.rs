//! Inbound carrier callbacks (WhatsApp status webhooks, Telegram delivery reports): one
//! handler per carrier that verifies the platform's signature and turns the body into
//! delivery reports. The HTTP side is `api::channels`.
use std::collections::HashMap;
use std::sync::Arc;

/// Why a callback was refused; nothing is changed in any case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("signature missing or wrong")]
    BadSignature,
    #[error("timestamp too old or missing (replay protection)")]
    Stale,
    #[error("body is not a callback of this platform: {0}")]
    Malformed(String),
}

/// Reads a request header by name (case-insensitive), whatever the HTTP library.
pub type Headers<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Verifies one callback and applies it; returns how many statuses it applied.
pub type Handler = Arc<dyn Fn(Headers<'_>, &[u8]) -> Result<usize, Rejection> + Send + Sync>;

/// Answers a platform's subscription check (a GET with query parameters): the body to echo
/// back, or `None` to refuse. WhatsApp's `hub.mode=subscribe&hub.verify_token=..&hub.challenge=..`.
pub type Verifier = Arc<dyn Fn(&HashMap<String, String>) -> Option<String> + Send + Sync>;

/// Carrier name → its callback handler (only carriers whose platform calls back), and the
/// subscription check of platforms that make one.
#[derive(Default, Clone)]
pub struct Webhooks {
    by_carrier: HashMap<String, Handler>,
    verifiers: HashMap<String, Verifier>,
}

impl Webhooks {
    pub fn insert(&mut self, carrier: &str, handler: Handler) {
        self.by_carrier.insert(carrier.to_owned(), handler);
    }

    pub fn get(&self, carrier: &str) -> Option<&Handler> {
        self.by_carrier.get(carrier)
    }

    pub fn insert_verifier(&mut self, carrier: &str, verifier: Verifier) {
        self.verifiers.insert(carrier.to_owned(), verifier);
    }

    pub fn verifier(&self, carrier: &str) -> Option<&Verifier> {
        self.verifiers.get(carrier)
    }
}
