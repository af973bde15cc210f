//! otpgate's voice channel: a phone call over a SIP trunk that plays the code.
//!
//! SIP over UDP, TCP or TLS (rustls) with messages built and parsed by `rsip` 0.4 (a
//! parser/generator only: the client transactions — retransmission, PRACK, CANCEL, ACK, BYE —
//! are ours, in [`call`]). Media is G.711 (PCMU preferred, PCMA accepted) over RTP, 20 ms
//! frames paced at 50 packets/s.
//!
//! # Layout
//! - [`prompt`]: what the call says (espeak-ng recordings per language) and G.711 transcoding.
//! - [`rtp`]: RTP packets and the paced sender.
//! - [`sdp`]: our offer and the answer's media address, codec and direction.
//! - [`digest`]: digest authentication (MD5, SHA-256, `qop=auth`).
//! - [`status`]: the one table that classifies SIP failures into [`GatewayError`]s.
//! - [`framing`]: where a SIP message ends on a TCP / TLS stream.
//! - [`transport`]: UDP, TCP and TLS sockets of a call, next hops, rustls settings.
//! - [`dialog`]: route sets (Record-Route / Route, loose and strict routing) and next hops.
//! - [`response`]: reading a response's status, CSeq, Contact, To tag and RSeq; answering a BYE.
//! - [`call`]: one call from INVITE to BYE.
//! - [`SipGateway`]: the [`Gateway`] the engine calls.
#![forbid(unsafe_code)]

pub mod call;
pub mod dialog;
pub mod digest;
pub mod framing;
pub mod prompt;
pub mod response;
pub mod rtp;
pub mod sdp;
pub mod status;
pub mod transport;

use async_trait::async_trait;
use otpgate_gateway::{
    Accepted, Channel, Coverage, Delivery, DeliveryReport, Gateway, GatewayError, OutboundMessage, ReportSender,
};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use transport::Hop;

/// Metric names, each labelled by `carrier`: calls placed, answered (200 OK), completed (the
/// whole prompt played), failed by `reason` (`busy`, `unavailable`, `declined`, `no_answer`,
/// `auth_failed`, `call_failed_4xx|5xx|6xx`, `unsupported_media`, `media_inactive`, `timeout`,
/// `dns`, `connect`, `tls`, `hung_up`, ...) and `status_class` of the
/// SIP response that ended it (`4xx`, `5xx`, `6xx`, or `none` when no response did), and the
/// duration of answered calls from INVITE to the end of the call.
pub const CALLS_PLACED: &str = "otpgate_calls_placed_total";
pub const CALLS_ANSWERED: &str = "otpgate_calls_answered_total";
pub const CALLS_COMPLETED: &str = "otpgate_calls_completed_total";
pub const CALLS_FAILED: &str = "otpgate_calls_failed_total";
pub const CALL_DURATION: &str = "otpgate_call_duration_seconds";

/// One SIP trunk (the engine maps a `protocol = "sip"` carrier to this).
#[derive(Clone)]
pub struct SipConfig {
    pub name: String,
    /// `host:port` of the trunk.
    pub address: String,
    /// UDP, TCP or TLS (`transport = "udp" | "tcp" | "tls"`).
    pub transport: transport::Transport,
    /// rustls settings; required with [`transport::Transport::Tls`].
    pub tls: Option<transport::TlsClient>,
    /// `host:port` of a proxy every request goes through first (a preloaded `Route`).
    pub outbound_proxy: Option<String>,
    /// Behind a NAT: the address put in Via, Contact and SDP instead of the local one.
    pub public_address: Option<IpAddr>,
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
            .field("transport", &self.transport)
            .field("outbound_proxy", &self.outbound_proxy)
            .field("public_address", &self.public_address)
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
    reports: ReportSender,
    /// Calls still playing their prompt; `shutdown` hangs them up.
    calls: Arc<ActiveCalls>,
}

/// The calls being played, and the signal that ends them on shutdown.
#[derive(Default)]
struct ActiveCalls {
    count: std::sync::atomic::AtomicUsize,
    stopping: tokio::sync::Notify,
    done: tokio::sync::Notify,
}

fn count_failure(carrier: &str, reason: &str, status_class: &'static str) {
    metrics::counter!(
        CALLS_FAILED,
        "carrier" => carrier.to_owned(),
        "reason" => reason.to_owned(),
        "status_class" => status_class
    )
    .increment(1);
}

/// What a call may take after it was answered beyond its prompt: the BYE transaction.
const HANGUP_MARGIN: Duration = Duration::from_secs(5);

impl SipGateway {
    pub fn new(config: SipConfig, reports: ReportSender) -> Arc<Self> {
        Arc::new(Self {
            config,
            reports,
            calls: Arc::default(),
        })
    }

    /// How this carrier's calls reach the trunk; configuration errors are permanent.
    fn network(&self) -> Result<call::Network, GatewayError> {
        let hop = |address: &str| Hop::parse(address).map_err(|e| GatewayError::permanent("invalid_config", e));
        Ok(call::Network {
            trunk: hop(&self.config.address)?,
            transport: self.config.transport,
            tls: self.config.tls.clone(),
            outbound_proxy: self.config.outbound_proxy.as_deref().map(hop).transpose()?,
            public_address: self.config.public_address,
        })
    }

    /// `sip:<digits>@<host>`, with the port when it is not the transport's default.
    fn request_uri(&self, to: &str) -> Result<String, GatewayError> {
        let digits: String = to.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return Err(GatewayError::permanent(
                "invalid_destination",
                "no digits in the number",
            ));
        }
        let default_port = self.config.transport.default_port().to_string();
        let host = match self.config.address.rsplit_once(':') {
            Some((host, port)) if port == default_port => host,
            _ => self.config.address.as_str(),
        };
        let uri = format!("sip:{digits}@{host}");
        rsip::Uri::try_from(uri.clone())
            .map_err(|e| GatewayError::permanent("invalid_destination", format!("{uri}: {e}")))?;
        Ok(uri)
    }

    /// Plays the prompt of an answered call and reports the outcome to the engine.
    fn spawn_playback(&self, answered: call::Answered, message: &OutboundMessage, started: std::time::Instant) {
        let calls = self.calls.clone();
        calls.count.fetch_add(1, Ordering::SeqCst);
        let reports = self.reports.clone();
        let carrier = self.config.name.clone();
        let report = DeliveryReport {
            request_id: message.request_id.clone(),
            application: message.application.clone(),
            to: message.to.clone(),
            carrier: carrier.clone(),
            channel: Channel::Call,
            carrier_message_id: answered.call_id().to_owned(),
            delivery: Delivery::Delivered,
            status: "completed".into(),
            error: None,
        };
        tokio::spawn(async move {
            let stopping = calls.stopping.notified();
            let played = answered.play(stopping).await;
            metrics::histogram!(CALL_DURATION, "carrier" => carrier.clone()).record(started.elapsed().as_secs_f64());
            tracing::debug!(
                %carrier,
                request_id = %report.request_id,
                call_id = %report.carrier_message_id,
                sent = played.packets_sent,
                received = played.packets_received,
                outcome = ?played.outcome,
                "call ended"
            );
            let failure = match &played.outcome {
                call::PlayOutcome::Completed => None,
                call::PlayOutcome::HungUp => Some("hung_up"),
                call::PlayOutcome::Stopped => Some("shutdown"),
                call::PlayOutcome::Failed(error) => Some(error.reason()),
            };
            let report = match failure {
                None => {
                    metrics::counter!(CALLS_COMPLETED, "carrier" => carrier).increment(1);
                    report
                }
                Some(reason) => {
                    // Answered calls end without a SIP failure status.
                    count_failure(&carrier, reason, "none");
                    DeliveryReport {
                        delivery: Delivery::Failed,
                        status: reason.to_owned(),
                        ..report
                    }
                }
            };
            // The engine is gone only during shutdown, when nobody waits for the outcome.
            let _ = reports.send(report);
            if calls.count.fetch_sub(1, Ordering::SeqCst) == 1 {
                calls.done.notify_waiters();
            }
        });
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

    /// Rings the number; accepted once the callee answers. The prompt then plays in the
    /// background and its outcome arrives as a [`DeliveryReport`]: `completed` (delivered) once
    /// every frame was sent, or failed `hung_up` if the callee hung up before the end.
    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, GatewayError> {
        let plan = call::CallPlan {
            network: self.network()?,
            request_uri: self.request_uri(&message.to)?,
            from_uri: self.config.from.clone(),
            credentials: self.config.username.clone().zip(self.config.password.clone()),
            ring_timeout: self.config.ring_timeout,
            frames: prompt::frames(&message.code, prompt::Language::from_locale(&message.locale)),
        };
        metrics::counter!(CALLS_PLACED, "carrier" => self.config.name.clone()).increment(1);
        let started = std::time::Instant::now();
        match call::place(plan).await {
            Ok(answered) => {
                metrics::counter!(CALLS_ANSWERED, "carrier" => self.config.name.clone()).increment(1);
                let call_id = answered.call_id().to_owned();
                tracing::debug!(carrier = %self.config.name, request_id = %message.request_id, %call_id, "call answered");
                self.spawn_playback(answered, message, started);
                Ok(Accepted {
                    carrier_message_id: call_id,
                    parts: 1,
                    delivery: None,
                })
            }
            Err(failure) => {
                count_failure(&self.config.name, failure.error.reason(), failure.status_class());
                tracing::debug!(carrier = %self.config.name, request_id = %message.request_id, error = %failure.error, "call failed");
                Err(failure.error)
            }
        }
    }

    fn outcome_within(&self, message: &OutboundMessage) -> Option<Duration> {
        let language = prompt::Language::from_locale(&message.locale);
        let frames = prompt::frame_count(&message.code, language) as u32;
        Some(rtp::PACKET_INTERVAL * frames + HANGUP_MARGIN)
    }

    /// Hangs up the calls still playing (each reports failed `shutdown`), waiting up to 2 s for
    /// their BYEs.
    async fn shutdown(&self) {
        let done = self.calls.done.notified();
        tokio::pin!(done);
        done.as_mut().enable();
        if self.calls.count.load(Ordering::SeqCst) == 0 {
            return;
        }
        self.calls.stopping.notify_waiters();
        let _ = tokio::time::timeout(Duration::from_secs(2), done).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SipConfig {
        SipConfig {
            name: "trunk".into(),
            address: "sip.example.net:5060".into(),
            transport: Default::default(),
            tls: None,
            outbound_proxy: None,
            public_address: None,
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
        let gateway = SipGateway::new(config(), otpgate_gateway::report_channel().0);
        assert_eq!(
            gateway.request_uri("+1 555-0100").unwrap(),
            "sip:15550100@sip.example.net"
        );
        assert_eq!(gateway.channels(), &[Channel::Call]);
        let mut tls = config();
        tls.transport = transport::Transport::Tls;
        tls.address = "sip.example.net:5061".into();
        assert_eq!(
            SipGateway::new(tls, otpgate_gateway::report_channel().0)
                .request_uri("15550100")
                .unwrap(),
            "sip:15550100@sip.example.net"
        );
        let mut other = config();
        other.address = "127.0.0.1:5080".into();
        assert_eq!(
            SipGateway::new(other, otpgate_gateway::report_channel().0)
                .request_uri("+44")
                .unwrap(),
            "sip:44@127.0.0.1:5080"
        );
    }
}
