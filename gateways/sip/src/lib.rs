//! otpgate's voice channel: a phone call over a SIP trunk that plays the code.
//!
//! SIP over UDP with messages built and parsed by `rsip` 0.4 (a parser/generator only: the
//! client transactions — retransmission, CANCEL, ACK, BYE — are ours, in [`call`]). Media is
//! G.711 (PCMU preferred, PCMA accepted) over RTP, 20 ms frames paced at 50 packets/s.
//!
//! # Layout
//! - [`prompt`]: what the call plays (tone bursts per digit for now) and the G.711 encoders.
//! - [`rtp`]: RTP packets and the paced sender.
//! - [`sdp`]: our offer and the answer's media address and codec.
//! - [`digest`]: digest authentication (MD5, SHA-256, `qop=auth`).
//! - [`status`]: the one table that classifies SIP failures into [`GatewayError`]s.
//! - [`call`]: one call from INVITE to BYE.
//! - [`SipGateway`]: the [`Gateway`] the engine calls.
#![forbid(unsafe_code)]

pub mod call;
pub mod digest;
pub mod prompt;
pub mod rtp;
pub mod sdp;
pub mod status;

use async_trait::async_trait;
use otpgate_gateway::{Accepted, Channel, Coverage, Delivery, Gateway, GatewayError, OutboundMessage};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Metric names: calls placed, answered (the whole prompt played), failed by reason (`busy`,
/// `unavailable`, `declined`, `no_answer`, `auth_failed`, `call_failed_4xx|5xx|6xx`, `timeout`,
/// ...), and the duration of answered calls from INVITE to BYE.
pub const CALLS_PLACED: &str = "otpgate_calls_placed_total";
pub const CALLS_ANSWERED: &str = "otpgate_calls_answered_total";
pub const CALLS_FAILED: &str = "otpgate_calls_failed_total";
pub const CALL_DURATION: &str = "otpgate_call_duration_seconds";

/// One SIP trunk (the engine maps a `protocol = "sip"` carrier to this).
#[derive(Clone)]
pub struct SipConfig {
    pub name: String,
    /// `host:port` of the trunk; SIP over UDP.
    pub address: String,
    /// Our address of record, e.g. `sip:otp@otpgate.invalid`.
    pub from: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// How long the callee may ring before we CANCEL.
    pub ring_timeout: Duration,
    pub coverage: Coverage,
}

// The password stays out of every `{:?}`.
impl std::fmt::Debug for SipConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipConfig")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ring_timeout", &self.ring_timeout)
            .field("coverage", &self.coverage)
            .finish()
    }
}

pub struct SipGateway {
    config: SipConfig,
}

impl SipGateway {
    pub fn new(config: SipConfig) -> Arc<Self> {
        Arc::new(Self { config })
    }

    async fn trunk(&self) -> Result<SocketAddr, GatewayError> {
        tokio::net::lookup_host(&self.config.address)
            .await
            .map_err(|e| GatewayError::transient("dns", format!("{}: {e}", self.config.address)))?
            .next()
            .ok_or_else(|| GatewayError::transient("dns", format!("{}: no address", self.config.address)))
    }

    /// `sip:<digits>@<host>`, with the port when it is not SIP's default.
    fn request_uri(&self, to: &str) -> Result<String, GatewayError> {
        let digits: String = to.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return Err(GatewayError::permanent(
                "invalid_destination",
                "no digits in the number",
            ));
        }
        let host = match self.config.address.rsplit_once(':') {
            Some((host, "5060")) => host,
            _ => self.config.address.as_str(),
        };
        let uri = format!("sip:{digits}@{host}");
        rsip::Uri::try_from(uri.clone())
            .map_err(|e| GatewayError::permanent("invalid_destination", format!("{uri}: {e}")))?;
        Ok(uri)
    }
}

#[async_trait]
impl Gateway for SipGateway {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn channels(&self) -> &[Channel] {
        &[Channel::Call]
    }

    fn serves_country(&self, country: &str) -> bool {
        self.config.coverage.serves(country)
    }

    fn fee_micros(&self, country: &str) -> u64 {
        self.config.coverage.fee_micros(country)
    }

    /// Calls are placed on demand: there is no standing connection to lose.
    fn is_up(&self) -> bool {
        true
    }

    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, GatewayError> {
        let plan = call::CallPlan {
            trunk: self.trunk().await?,
            request_uri: self.request_uri(&message.to)?,
            from_uri: &self.config.from,
            credentials: self.config.username.as_deref().zip(self.config.password.as_deref()),
            ring_timeout: self.config.ring_timeout,
            frames: prompt::frames(&message.code),
        };
        let labels = [("carrier", self.config.name.clone())];
        metrics::counter!(CALLS_PLACED, &labels).increment(1);
        let started = std::time::Instant::now();
        match call::place(plan).await {
            Ok(call_id) => {
                metrics::counter!(CALLS_ANSWERED, &labels).increment(1);
                metrics::histogram!(CALL_DURATION, &labels).record(started.elapsed().as_secs_f64());
                tracing::debug!(carrier = %self.config.name, request_id = %message.request_id, %call_id, "call played");
                Ok(Accepted {
                    carrier_message_id: call_id,
                    parts: 1,
                    delivery: Some(Delivery::Delivered),
                })
            }
            Err(error) => {
                let reason = error.reason();
                metrics::counter!(CALLS_FAILED, "carrier" => self.config.name.clone(), "reason" => reason).increment(1);
                tracing::debug!(carrier = %self.config.name, request_id = %message.request_id, %error, "call failed");
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SipConfig {
        SipConfig {
            name: "trunk".into(),
            address: "sip.example.net:5060".into(),
            from: "sip:otp@otpgate.invalid".into(),
            username: Some("u".into()),
            password: Some("hunter2".into()),
            ring_timeout: Duration::from_secs(30),
            coverage: Coverage::new(vec!["US".into()], 1000, Default::default()),
        }
    }

    #[test]
    fn debug_redacts_the_password() {
        let debug = format!("{:?}", config());
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn request_uri_uses_the_digits_and_the_trunk_host() {
        let gateway = SipGateway::new(config());
        assert_eq!(
            gateway.request_uri("+1 555-0100").unwrap(),
            "sip:15550100@sip.example.net"
        );
        assert_eq!(gateway.channels(), &[Channel::Call]);
        let mut other = config();
        other.address = "127.0.0.1:5080".into();
        assert_eq!(
            SipGateway::new(other).request_uri("+44").unwrap(),
            "sip:44@127.0.0.1:5080"
        );
    }
}
