//! The HTTP channel gateway: what is the same for every platform (coverage, fees, base URL,
//! health, tracking accepted messages, applying callbacks) around a [`Platform`], which says
//! only what is its own: its config keys, how a send is written and read, and how a callback is
//! verified and read.
use crate::callback::{CallbackRejection, Event, Headers};
use crate::request::PlatformClient;
use crate::tracker::{CallbackTracker, Outcomes};
use async_trait::async_trait;
use otpgate_gateway::config::{CarrierContext, Problems};
use otpgate_gateway::{Accepted, Channel, Coverage, Gateway, GatewayError, OutboundMessage, ReportSender};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// A secret config value (token, app secret): kept out of every `{:?}`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One platform. Its config is its `[[carriers]]` keys: the implementing struct derives
/// `Deserialize` with `deny_unknown_fields` and holds only the platform's own keys (the engine
/// reads `name`, `protocol`, `countries`, `fee_usd` and `base_url`), so adding a key is adding a
/// field, checked in [`Platform::check`].
pub trait Platform: std::fmt::Debug + Clone + DeserializeOwned + Send + Sync + 'static {
    const CHANNEL: Channel;
    /// The API root of the real platform, for a carrier without `base_url`.
    const DEFAULT_BASE_URL: &'static str;
    /// Its final callback events and what each means.
    const OUTCOMES: Outcomes;

    /// Sends one message through `client` and returns the platform's id for it, or the
    /// classified refusal (the platform's status table, then [`crate::request::Refusal::of_status`]).
    fn send(
        &self,
        client: &PlatformClient,
        message: &OutboundMessage,
    ) -> impl std::future::Future<Output = Result<String, GatewayError>> + Send;

    /// Whether the platform calls back about accepted messages (so they are tracked).
    fn calls_back(&self) -> bool {
        true
    }

    /// Verifies one callback request (`headers`, raw `body`) and reads the events it carries.
    fn callback(&self, headers: Headers<'_>, body: &[u8]) -> Result<Vec<Event>, CallbackRejection>;

    /// Checks the keys read for carrier `carrier`, naming each problem by its key, and fills in
    /// what comes from the carrier rather than from keys. Used only when `problems` stays empty.
    fn check(&mut self, carrier: &CarrierContext, problems: &mut Problems);
}

/// The `base_url` key every HTTP carrier has: the platform's API root, `default` when unset;
/// http(s) only, kept without a trailing slash.
pub fn base_url(value: Option<String>, default: &str, problems: &mut Problems) -> String {
    let base_url = value.unwrap_or_else(|| default.into()).trim_end_matches('/').to_owned();
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        problems.push("base_url", format!("{base_url:?} must start with http:// or https://"));
    }
    base_url
}

/// What every HTTP carrier has besides its platform's keys.
#[derive(Debug, Clone)]
pub struct ChannelSettings {
    pub name: String,
    pub coverage: Coverage,
    /// The platform's API root, without a trailing slash.
    pub base_url: String,
    /// Per request, connection included.
    pub timeout: Duration,
}

/// A validated HTTP carrier, ready to start.
#[derive(Debug, Clone)]
pub struct HttpCarrier<P> {
    pub settings: ChannelSettings,
    pub platform: P,
}

pub struct HttpGateway<P> {
    settings: ChannelSettings,
    client: PlatformClient,
    tracker: CallbackTracker,
    platform: P,
}

impl<P: Platform> HttpGateway<P> {
    /// Builds the gateway; receipts go to `reports`.
    pub fn new(carrier: HttpCarrier<P>, reports: ReportSender) -> Arc<Self> {
        let HttpCarrier { settings, platform } = carrier;
        Arc::new(Self {
            client: PlatformClient::new(&settings.base_url, settings.timeout),
            tracker: CallbackTracker::new(settings.name.clone(), P::CHANNEL, reports, P::OUTCOMES),
            settings,
            platform,
        })
    }

    /// Applies one callback request: verifies it, then reports the final outcome of every
    /// message it is about (once per message, whatever the order or repeats). Returns how many
    /// outcomes were reported; on error nothing was applied.
    pub fn handle_callback(&self, headers: Headers<'_>, body: &[u8]) -> Result<usize, CallbackRejection> {
        let events = self.platform.callback(headers, body)?;
        let applied = events
            .iter()
            .filter(|e| self.tracker.apply(&e.carrier_id, &e.event, e.error.as_deref()))
            .count();
        tracing::debug!(carrier = %self.settings.name, events = events.len(), applied, "callback applied");
        Ok(applied)
    }

    /// Messages still waiting for their final outcome.
    pub fn tracked(&self) -> usize {
        self.tracker.tracked()
    }

    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// The carrier's client, for platform calls other than sends (Telegram's `checkSendAbility`).
    pub fn client(&self) -> &PlatformClient {
        &self.client
    }
}

#[async_trait]
impl<P: Platform> Gateway for HttpGateway<P> {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn channels(&self) -> &[Channel] {
        std::slice::from_ref(&P::CHANNEL)
    }

    fn serves_country(&self, country: &str) -> bool {
        self.settings.coverage.serves(country)
    }

    fn fee_micros(&self, country: &str) -> u64 {
        self.settings.coverage.fee_micros(country)
    }

    /// An HTTP platform has no session to lose: it is down only after repeated transport
    /// failures (see [`PlatformClient::is_up`]).
    fn is_up(&self) -> bool {
        self.client.is_up()
    }

    /// One request, no retries: the engine's routing retries or falls back on the classified
    /// error.
    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, GatewayError> {
        let carrier_message_id = self.platform.send(&self.client, message).await.inspect_err(|e| {
            tracing::debug!(carrier = %self.settings.name, request_id = %message.request_id, error = %e, "send refused");
        })?;
        if self.platform.calls_back() {
            self.tracker.track(&carrier_message_id, message);
        }
        Ok(Accepted {
            carrier_message_id,
            parts: 1,
            delivery: None,
        })
    }
}
