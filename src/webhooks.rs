//! Inbound carrier callbacks (WhatsApp status webhooks, Telegram delivery reports, Viber
//! callbacks, RCS events): one handler per carrier that verifies the platform's signature and
//! turns the body into delivery reports, and the subscription check of platforms that make
//! one. The HTTP side is `api::channels`; the handlers are the HTTP channel gateways'
//! `handle_callback` (`otpgate_http_kit::HttpGateway`).
use otpgate_http_kit::{CallbackRejection, Headers};
use std::collections::HashMap;
use std::sync::Arc;

/// Verifies one callback and applies it; returns how many statuses it applied.
pub type Handler = Arc<dyn Fn(Headers<'_>, &[u8]) -> Result<usize, CallbackRejection> + Send + Sync>;

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
