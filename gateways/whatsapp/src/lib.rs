//! otpgate's WhatsApp Cloud API gateway: one-time codes sent as authentication templates, their
//! outcome learnt from signed status webhooks.
//!
//! # Layout
//! - [`wire`]: the Cloud API's JSON shapes (template body, send answer, Graph error, status
//!   webhook), pure and shared with the fake server.
//! - [`classify`]: the one table from HTTP status and Graph `error.code` to a classified
//!   [`GatewayError`].
//! - [`webhook`]: `X-Hub-Signature-256` verification and the tracker that reports each message's
//!   outcome once.
//! - [`fake`]: a fake Cloud API server (also the `otpgate-fake-whatsapp` binary) for tests.
//! - This file: [`WhatsAppConfig`] and [`WhatsAppGateway`], the [`Gateway`] implementation.
//!
//! The engine owns configuration parsing and the HTTP route for webhooks: it builds a
//! [`WhatsAppGateway`] from a [`WhatsAppConfig`], and hands every webhook request's
//! `X-Hub-Signature-256` header and raw body to [`WhatsAppGateway::handle_webhook`].
#![forbid(unsafe_code)]

pub mod classify;
pub mod fake;
pub mod webhook;
pub mod wire;

pub use webhook::WebhookError;

use async_trait::async_trait;
use otpgate_gateway::{Accepted, Channel, Coverage, Gateway, GatewayError, OutboundMessage, ReportSender};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use webhook::Tracker;

/// Consecutive transport failures (no HTTP answer at all) after which the gateway reports
/// itself down. Any HTTP answer, even a refusal, proves the platform reachable and resets it.
pub const DOWN_AFTER_FAILURES: u32 = 3;
/// While down, the gateway reports itself up again this long after its last failure, so that
/// the next message routed to it serves as the probe: success brings it back, another transport
/// failure keeps it down for another period.
pub const PROBE_AFTER: Duration = Duration::from_secs(30);

/// One `protocol = "whatsapp"` carrier, as the engine parsed it from config.
#[derive(Clone)]
pub struct WhatsAppConfig {
    pub name: String,
    /// The Graph API base, e.g. `https://graph.facebook.com/v21.0`; no trailing slash needed.
    pub base_url: String,
    pub phone_number_id: String,
    pub access_token: String,
    /// The approved authentication template's name and language code.
    pub template: String,
    pub language: String,
    /// The Meta app secret that signs status webhooks (`X-Hub-Signature-256`). An extension
    /// key, not in the contract's carrier table.
    pub app_secret: String,
    /// The token Meta echoes when the webhook is registered (`hub.verify_token`); the engine
    /// answers that check. An extension key.
    pub verify_token: Option<String>,
    pub coverage: Coverage,
    /// Whole-request timeout for one send.
    pub timeout: Duration,
}

impl std::fmt::Debug for WhatsAppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("phone_number_id", &self.phone_number_id)
            .field("access_token", &"<redacted>")
            .field("template", &self.template)
            .field("language", &self.language)
            .field("app_secret", &"<redacted>")
            .field("verify_token", &self.verify_token.as_ref().map(|_| "<redacted>"))
            .field("coverage", &self.coverage)
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub struct WhatsAppGateway {
    config: WhatsAppConfig,
    messages_url: String,
    client: reqwest::Client,
    tracker: Tracker,
    consecutive_failures: AtomicU32,
    /// Milliseconds since `started` of the last transport failure.
    last_failure_ms: AtomicU64,
    started: Instant,
}

impl WhatsAppGateway {
    /// Builds the gateway; receipts go to `reports`.
    ///
    /// # Panics
    /// If the TLS backend cannot initialise (rustls with bundled roots: it does not fail).
    pub fn new(config: WhatsAppConfig, reports: ReportSender) -> Arc<Self> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .expect("rustls client builds");
        let messages_url = format!(
            "{}/{}/messages",
            config.base_url.trim_end_matches('/'),
            config.phone_number_id
        );
        Arc::new(Self {
            tracker: Tracker::new(config.name.clone(), reports),
            config,
            messages_url,
            client,
            consecutive_failures: AtomicU32::new(0),
            last_failure_ms: AtomicU64::new(0),
            started: Instant::now(),
        })
    }

    pub fn config(&self) -> &WhatsAppConfig {
        &self.config
    }

    /// Applies one status webhook: checks `X-Hub-Signature-256` against the raw body, then
    /// reports the final status of every message this gateway sent (at most once each).
    /// Returns how many statuses produced a report. On error nothing was applied.
    pub fn handle_webhook(&self, signature_header: Option<&str>, body: &[u8]) -> Result<usize, WebhookError> {
        webhook::verify_signature(&self.config.app_secret, signature_header, body)?;
        let statuses = webhook::parse(body)?;
        Ok(self.tracker.apply(statuses))
    }

    /// Messages still waiting for their final status.
    pub fn tracked(&self) -> usize {
        self.tracker.tracked()
    }

    fn transport_failed(&self) {
        self.consecutive_failures.fetch_add(1, Ordering::AcqRel);
        self.last_failure_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Release);
    }

    fn reachable(&self) {
        self.consecutive_failures.store(0, Ordering::Release);
    }
}

#[async_trait]
impl Gateway for WhatsAppGateway {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn channels(&self) -> &[Channel] {
        &[Channel::Whatsapp]
    }

    fn serves_country(&self, country: &str) -> bool {
        self.config.coverage.serves(country)
    }

    fn fee_micros(&self, country: &str) -> u64 {
        self.config.coverage.fee_micros(country)
    }

    fn is_up(&self) -> bool {
        if self.consecutive_failures.load(Ordering::Acquire) < DOWN_AFTER_FAILURES {
            return true;
        }
        let since_failure = self
            .started
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last_failure_ms.load(Ordering::Acquire)));
        since_failure >= PROBE_AFTER
    }

    /// One POST, no retries: the engine's routing retries or falls back on the classified error.
    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, GatewayError> {
        let body = wire::template_body(&message.to, &self.config.template, &self.config.language, &message.code);
        let answer = self
            .client
            .post(&self.messages_url)
            .bearer_auth(&self.config.access_token)
            .json(&body)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                self.transport_failed();
                return Err(classify::transport(&e));
            }
        };
        let status = answer.status().as_u16();
        let retry_after = classify::parse_retry_after(
            answer
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        let bytes = match answer.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => {
                self.transport_failed();
                return Err(classify::transport(&e));
            }
        };
        self.reachable();
        if status != 200 {
            let graph = wire::graph_error(&bytes);
            let error = classify::refusal(status, graph.as_ref(), retry_after);
            tracing::debug!(carrier = %self.config.name, %error, "whatsapp send refused");
            return Err(error);
        }
        let Some(wamid) = wire::accepted_id(&bytes) else {
            return Err(GatewayError::transient(
                "bad_response",
                "HTTP 200 without messages[0].id",
            ));
        };
        self.tracker.track(&wamid, message);
        Ok(Accepted {
            carrier_message_id: wamid,
            parts: 1,
            delivery: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otpgate_gateway::report_channel;

    pub(crate) fn config(base_url: &str) -> WhatsAppConfig {
        WhatsAppConfig {
            name: "wa".into(),
            base_url: base_url.into(),
            phone_number_id: "1234".into(),
            access_token: "tok-secret".into(),
            template: "otp_code".into(),
            language: "en_US".into(),
            app_secret: "app-secret".into(),
            verify_token: None,
            coverage: Coverage::default(),
            timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let shown = format!("{:?}", config("http://x"));
        assert!(
            !shown.contains("tok-secret") && !shown.contains("app-secret"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn repeated_transport_failures_take_it_down_until_the_probe_period() {
        let (tx, _rx) = report_channel();
        let gateway = WhatsAppGateway::new(config("http://x/"), tx);
        assert_eq!(gateway.messages_url, "http://x/1234/messages");
        for _ in 0..DOWN_AFTER_FAILURES {
            assert!(gateway.is_up());
            gateway.transport_failed();
        }
        assert!(!gateway.is_up());
        gateway.reachable();
        assert!(gateway.is_up());
    }
}
