//! The SIP user agent server over UDP, TCP or TLS ([`crate::transport`]): one loop reads messages,
//! answers INVITE / PRACK / ACK / BYE / CANCEL / OPTIONS per the configured behaviour and answer
//! shape, and hands answered calls to an RTP recorder task.
//!
//! Only what a callee under test needs: INVITE retransmissions (same Via branch) get the stored
//! response again; the 200 OK and a reliable 183 are not retransmitted (loopback does not lose
//! datagrams).
//!
//! The one request the callee sends itself is the BYE of `hangup-after` mode. Its client
//! transaction is the RFC 3261 §17.1.2 one for UDP (retransmit from T1 doubling up to T2, give up
//! after 64·T1), and responses arriving on the SIP socket are matched to it by Call-ID, CSeq method
//! and Via branch; any other response is stray and dropped.

mod dialog;
mod invite;

use crate::behaviour::{AnswerShape, Mode, Rules};
use crate::digest::{self, Algorithm};
use crate::report::{self, CallReport, Outcome};
use crate::rtp::{receive_media, MediaSource, Recorder};
use crate::sdp::{self, Codec};
use crate::transport::{Listener, Peer};
use rsip::prelude::*;
use rsip::{Header, Method, Request, Response, SipMessage};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// RFC 3261 timers for the BYE client transaction: first retransmission interval, its cap, and
/// Timer F (64·T1), after which the callee stops waiting for a final response.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TIMER_F: Duration = Duration::from_secs(32);

/// Everything the callee needs besides its socket.
#[derive(Debug, Clone)]
pub struct Config {
    pub rules: Rules,
    /// Where `<call-id>.wav` and `<call-id>.json` go; nothing is recorded without it.
    pub record_dir: Option<PathBuf>,
    /// JSON lines, one per call outcome.
    pub report_file: Option<PathBuf>,
    pub user: String,
    pub password: String,
    pub digest_algorithm: Algorithm,
    /// How answered calls carry the SDP answer.
    pub answer_shape: AnswerShape,
    /// A callee behind a NAT: its own RTP leaves from another port than its SDP names, and only
    /// that port is what the caller should latch onto (symmetric RTP).
    pub nat_media: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rules: Rules::single(Mode::Answer),
            record_dir: None,
            report_file: None,
            user: "otpgate".into(),
            password: "secret".into(),
            digest_algorithm: Algorithm::Md5,
            answer_shape: AnswerShape::In200,
            nat_media: false,
        }
    }
}

struct Media {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Recorder>,
    codec: Codec,
    invite: InviteSeen,
}

/// What the caller's INVITE said about where it is and how it came: for NAT tests (public
/// address in Via, Contact and the SDP connection line) and outbound-proxy tests (Route).
struct InviteSeen {
    via: String,
    contact: String,
    route: String,
    offer_connection: String,
}

/// The INVITE supports or requires reliable provisional responses (RFC 3262).
fn supports_100rel(request: &Request) -> bool {
    request.headers.iter().any(|h| match h {
        Header::Supported(v) => v.value().split(',').any(|t| t.trim().eq_ignore_ascii_case("100rel")),
        Header::Require(v) => v.value().split(',').any(|t| t.trim().eq_ignore_ascii_case("100rel")),
        _ => false,
    })
}

/// hangup-after: when and where the callee's own BYE goes once the timer is armed.
struct Hangup {
    after: Duration,
    /// The BYE's Request-URI: the caller's Contact, else the INVITE's source address.
    target: rsip::Uri,
    /// Where the INVITE came from, and so where the BYE is sent.
    peer: Peer,
}

enum CallState {
    /// ring-forever: waiting for a CANCEL of this INVITE.
    Ringing {
        invite: Box<Request>,
        branch: String,
    },
    /// reliable-early: the 183 is out; the 200 (`ok`) follows the PRACK (RFC 3262), and the
    /// call is then `answered`.
    AwaitingPrack {
        branch: String,
        ok: Box<Response>,
        answered: Box<CallState>,
    },
    Established {
        media: Media,
        /// Taken by the first ACK, which arms the timer, so a repeated ACK cannot arm a second one.
        hangup: Option<Box<Hangup>>,
    },
    /// Our BYE is out (recording already finalised): waiting for its final response, which stops
    /// the retransmissions. A BYE from the caller crossing ours is just answered 200.
    HangingUp {
        branch: String,
        answered: oneshot::Sender<()>,
    },
    Ended,
}

struct Call {
    from: String,
    to: String,
    to_tag: String,
    state: CallState,
}

struct Server {
    config: Arc<Config>,
    local: SocketAddr,
    /// `UDP`, `TCP` or `TLS`: the Via protocol of our BYE, and our Contact's transport.
    via_name: &'static str,
    /// INVITE transaction (Call-ID + branch) → the last response sent, resent verbatim on retransmission.
    invite_responses: HashMap<String, Vec<u8>>,
    calls: HashMap<String, Call>,
    nonces: HashSet<String>,
    /// Hang-up timers report here when due, so the state change happens on the loop, in order
    /// with the caller's own BYE.
    hangups: mpsc::UnboundedSender<(String, Box<Hangup>)>,
}

/// Serves SIP on `listener` until `shutdown` resolves.
pub async fn run(listener: Listener, config: Config, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let via_name = listener.via_name();
    let mut incoming = listener.start();
    let (hangups, mut due) = mpsc::unbounded_channel();
    let mut server = Server {
        config: Arc::new(config),
        local,
        via_name,
        invite_responses: HashMap::new(),
        calls: HashMap::new(),
        nonces: HashSet::new(),
        hangups,
    };
    tokio::pin!(shutdown);
    loop {
        let (message, peer) = tokio::select! {
            Some(received) = incoming.recv() => received,
            // The server holds a sender, so the channel never closes.
            Some((call_id, hangup)) = due.recv() => {
                server.hang_up(call_id, hangup);
                continue;
            }
            () = &mut shutdown => return Ok(()),
        };
        match SipMessage::try_from(message) {
            Ok(SipMessage::Request(request)) => {
                if let Err(error) = server.handle(request, peer).await {
                    eprintln!("sip-callee: {error}");
                }
            }
            // The callee's only requests are its BYEs: a response is for one of them or stray.
            Ok(SipMessage::Response(response)) => server.on_response(&response),
            // Keep-alive CRLFs and garbage are dropped; a simulator should not die on them.
            Err(_) => {}
        }
    }
}

fn random_hex(bytes: usize) -> String {
    hex::encode((0..bytes).map(|_| rand::random::<u8>()).collect::<Vec<u8>>())
}

/// The server transaction key: the top Via branch, scoped by Call-ID so that a UAC reusing branch
/// values across calls (pre-RFC 3261 style) still gets distinct transactions.
fn branch_of(request: &Request) -> String {
    let call_id = request
        .call_id_header()
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    match top_branch(request) {
        Some(branch) => format!("{call_id} {branch}"),
        None => call_id,
    }
}

/// The branch parameter of the top Via, of a request or of a response.
fn top_branch(message: &impl HeadersExt) -> Option<String> {
    let via = message.via_header().ok()?.value();
    via.split(';')
        .find_map(|p| p.trim().strip_prefix("branch="))
        .map(|b| b.split(',').next().unwrap_or(b).trim().to_string())
}

/// Where an in-dialog request to the caller goes (RFC 3261 §12.1.1): its Contact URI; without a
/// usable one, the address the INVITE came from.
fn remote_target(invite: &Request, peer: &Peer) -> rsip::Uri {
    invite
        .contact_header()
        .and_then(|contact| contact.uri())
        .unwrap_or_else(|_| rsip::Uri {
            scheme: Some(rsip::Scheme::Sip),
            ..peer.addr().into()
        })
}

fn header_value(request: &Request, pick: impl Fn(&Header) -> Option<String>) -> String {
    request.headers.iter().find_map(pick).unwrap_or_default()
}

impl Server {
    async fn handle(&mut self, request: Request, peer: Peer) -> Result<(), rsip::Error> {
        let call_id = request.call_id_header()?.value().to_string();
        match request.method {
            Method::Invite => self.on_invite(request, call_id, peer).await,
            Method::Ack => {
                self.on_ack(&call_id);
                Ok(())
            }
            Method::Bye => self.on_bye(request, call_id, peer).await,
            Method::Cancel => self.on_cancel(request, call_id, peer).await,
            Method::PRack => self.on_prack(request, call_id, peer).await,
            Method::Options => {
                self.send(&self.response(&request, 200, None, vec![], vec![]), &peer)
                    .await
            }
            _ => {
                self.send(&self.response(&request, 501, None, vec![], vec![]), &peer)
                    .await
            }
        }
    }

    async fn send(&self, response: &Response, peer: &Peer) -> Result<(), rsip::Error> {
        peer.send(response.to_string().as_bytes())
            .await
            .map_err(|e| rsip::Error::Unexpected(e.to_string()))?;
        Ok(())
    }

    /// A response to `request` copying Via/From/Call-ID/CSeq and adding our tag to To.
    fn response(
        &self,
        request: &Request,
        code: u16,
        to_tag: Option<&str>,
        extra: Vec<Header>,
        body: Vec<u8>,
    ) -> Response {
        let mut headers = rsip::Headers::default();
        for header in request.headers.iter() {
            match header {
                Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => headers.push(header.clone()),
                Header::To(to) => {
                    let value = to.value();
                    let tagged = match to_tag {
                        Some(tag) if !value.contains(";tag=") => format!("{value};tag={tag}"),
                        _ => value.to_string(),
                    };
                    headers.push(rsip::headers::To::new(tagged).into());
                }
                _ => {}
            }
        }
        if (101..300).contains(&code) {
            let transport = match self.via_name {
                "UDP" => "",
                "TCP" => ";transport=tcp",
                _ => ";transport=tls",
            };
            headers.push(rsip::headers::Contact::new(format!("<sip:callee@{}{transport}>", self.local)).into());
        }
        headers.push(rsip::headers::Server::new("otpgate-sip-callee").into());
        headers.extend(extra);
        headers.push(rsip::headers::ContentLength::new(body.len().to_string()).into());
        Response {
            status_code: code.into(),
            version: rsip::Version::V2,
            headers,
            body,
        }
    }

    /// Sends a final (or the latest) response to an INVITE and keeps it for retransmissions.
    async fn reply_invite(&mut self, branch: &str, response: Response, peer: &Peer) -> Result<(), rsip::Error> {
        self.send(&response, peer).await?;
        self.invite_responses
            .insert(branch.to_string(), response.to_string().into_bytes());
        Ok(())
    }

    fn log(&self, outcome: Outcome) {
        if let Some(path) = &self.config.report_file {
            if let Err(error) = report::append_line(path, &outcome) {
                eprintln!("sip-callee: cannot write {}: {error}", path.display());
            }
        }
    }
}
