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

/// The callee's BYE inside the dialog (RFC 3261 §15.1.1): From and To are the INVITE's To (with our
/// tag) and From, the Call-ID is the dialog's, and the CSeq is in the callee's own, so far unused,
/// sequence space.
fn bye_request(sent_by: (&str, SocketAddr), call: &Call, call_id: &str, branch: &str, target: rsip::Uri) -> Request {
    let (via_name, local) = sent_by;
    let from = if call.to.contains(";tag=") {
        call.to.clone()
    } else {
        format!("{};tag={}", call.to, call.to_tag)
    };
    let mut headers = rsip::Headers::default();
    headers.push(rsip::headers::Via::new(format!("SIP/2.0/{via_name} {local};branch={branch};rport")).into());
    headers.push(rsip::headers::MaxForwards::new("70").into());
    headers.push(rsip::headers::From::new(from).into());
    headers.push(rsip::headers::To::new(call.from.clone()).into());
    headers.push(rsip::headers::CallId::new(call_id).into());
    headers.push(rsip::headers::CSeq::new("1 BYE").into());
    headers.push(rsip::headers::UserAgent::new("otpgate-sip-callee").into());
    headers.push(rsip::headers::ContentLength::new("0").into());
    Request {
        method: Method::Bye,
        uri: target,
        version: rsip::Version::V2,
        headers,
        body: vec![],
    }
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

    async fn on_invite(&mut self, request: Request, call_id: String, peer: Peer) -> Result<(), rsip::Error> {
        let branch = branch_of(&request);
        if let Some(previous) = self.invite_responses.get(&branch) {
            let _ = peer.send(previous).await;
            return Ok(());
        }
        if self.calls.contains_key(&call_id) {
            // Re-INVITEs inside a dialog (hold, session refresh) are out of scope for the simulator.
            let response = self.response(&request, 501, None, vec![], vec![]);
            return self.reply_invite(&branch, response, &peer).await;
        }
        let from = request.from_header()?.value().to_string();
        let to = request.to_header()?.value().to_string();
        let user = request.uri.auth.as_ref().map(|a| a.user.as_str());
        let mode = self.config.rules.mode_for(user);
        let to_tag = random_hex(6);
        let outcome = |outcome: &'static str, status: u16| Outcome {
            call_id: call_id.clone(),
            from: from.clone(),
            to: to.clone(),
            outcome,
            status,
            report: None,
        };
        match mode {
            Mode::Answer => {
                self.answer(request, call_id.clone(), from.clone(), to.clone(), to_tag, peer, None)
                    .await
            }
            Mode::HangupAfter(after) => {
                self.answer(
                    request,
                    call_id.clone(),
                    from.clone(),
                    to.clone(),
                    to_tag,
                    peer,
                    Some(after),
                )
                .await
            }
            Mode::Busy | Mode::Reject(_) => {
                let code = if let Mode::Reject(code) = mode { code } else { 486 };
                let response = self.response(&request, code, Some(&to_tag), vec![], vec![]);
                self.reply_invite(&branch, response, &peer).await?;
                self.log(outcome("rejected", code));
                Ok(())
            }
            Mode::RingForever => {
                self.send(&self.response(&request, 100, None, vec![], vec![]), &peer)
                    .await?;
                let ringing = self.response(&request, 180, Some(&to_tag), vec![], vec![]);
                self.reply_invite(&branch, ringing, &peer).await?;
                let state = CallState::Ringing {
                    invite: Box::new(request),
                    branch,
                };
                self.calls.insert(
                    call_id,
                    Call {
                        from,
                        to,
                        to_tag,
                        state,
                    },
                );
                Ok(())
            }
            Mode::Challenge => {
                let authorization = header_value(&request, |h| match h {
                    Header::Authorization(a) => Some(a.value().to_string()),
                    _ => None,
                });
                if authorization.is_empty() {
                    let nonce = random_hex(16);
                    let challenge = digest::challenge(self.config.digest_algorithm, &nonce);
                    self.nonces.insert(nonce);
                    let extra = vec![rsip::headers::WwwAuthenticate::new(challenge).into()];
                    let response = self.response(&request, 401, Some(&to_tag), extra, vec![]);
                    return self.reply_invite(&branch, response, &peer).await;
                }
                let config = &self.config;
                let accepted = digest::verify(
                    &authorization,
                    config.digest_algorithm,
                    "INVITE",
                    &config.user,
                    &config.password,
                    |nonce| self.nonces.contains(nonce),
                );
                if accepted {
                    self.answer(request, call_id.clone(), from.clone(), to.clone(), to_tag, peer, None)
                        .await
                } else {
                    let response = self.response(&request, 403, Some(&to_tag), vec![], vec![]);
                    self.reply_invite(&branch, response, &peer).await?;
                    self.log(outcome("auth_failed", 403));
                    Ok(())
                }
            }
        }
    }

    /// Answers in the configured shape and starts recording; `hangup_after` is the
    /// `hangup-after` delay.
    #[allow(
        clippy::too_many_arguments,
        reason = "the INVITE's parts already extracted by on_invite; a struct would only repackage them"
    )]
    async fn answer(
        &mut self,
        request: Request,
        call_id: String,
        from: String,
        to: String,
        to_tag: String,
        peer: Peer,
        hangup_after: Option<Duration>,
    ) -> Result<(), rsip::Error> {
        let branch = branch_of(&request);
        let offer = String::from_utf8_lossy(&request.body).into_owned();
        let shape = self.config.answer_shape;
        let refusal = match sdp::choose_codec(&offer) {
            None => Some((488, "unsupported_media", vec![])),
            // RFC 3262 §3: a UAS that requires 100rel from a UAC that does not support it says 420.
            Some(_) if shape == AnswerShape::ReliableEarly && !supports_100rel(&request) => Some((
                420,
                "bad_extension",
                vec![Header::Other("Unsupported".into(), "100rel".into())],
            )),
            Some(_) => None,
        };
        let Some(chosen) = refusal.is_none().then(|| sdp::choose_codec(&offer)).flatten() else {
            let (code, outcome, extra) = refusal.expect("refused above");
            let response = self.response(&request, code, Some(&to_tag), extra, vec![]);
            self.reply_invite(&branch, response, &peer).await?;
            self.log(Outcome {
                call_id,
                from,
                to,
                outcome,
                status: code,
                report: None,
            });
            return Ok(());
        };
        let codec = sdp::codec_for(shape, chosen);
        let unexpected = |e: std::io::Error| rsip::Error::Unexpected(e.to_string());
        let rtp = UdpSocket::bind((self.local.ip(), 0)).await.map_err(unexpected)?;
        let rtp_port = rtp.local_addr().map_err(unexpected)?.port();
        let source = match (self.config.nat_media, sdp::offer_media(&offer)) {
            (true, Some(destination)) => Some(MediaSource {
                socket: UdpSocket::bind((self.local.ip(), 0)).await.map_err(unexpected)?,
                destination,
            }),
            _ => None,
        };
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(receive_media(rtp, source, codec, stopped));
        let invite = InviteSeen {
            via: header_value(&request, |h| match h {
                Header::Via(via) => Some(via.value().to_string()),
                _ => None,
            }),
            contact: header_value(&request, |h| match h {
                Header::Contact(contact) => Some(contact.value().to_string()),
                _ => None,
            }),
            route: header_value(&request, |h| match h {
                Header::Route(route) => Some(route.value().to_string()),
                _ => None,
            }),
            offer_connection: sdp::offer_connection(&offer),
        };

        self.send(&self.response(&request, 100, None, vec![], vec![]), &peer)
            .await?;
        let body = sdp::answer(shape, self.local.ip(), rtp_port, codec, rand::random::<u32>().into()).into_bytes();
        let content_type = || Header::from(rsip::headers::ContentType::new("application/sdp"));
        if shape.early() {
            let mut extra = vec![content_type()];
            if shape == AnswerShape::ReliableEarly {
                extra.push(rsip::headers::Require::new("100rel").into());
                extra.push(Header::Other("RSeq".into(), "1".into()));
            }
            let progress = self.response(&request, 183, Some(&to_tag), extra, body.clone());
            self.send(&progress, &peer).await?;
        } else {
            self.send(&self.response(&request, 180, Some(&to_tag), vec![], vec![]), &peer)
                .await?;
        }
        let ok = if shape.sdp_in_200() {
            self.response(&request, 200, Some(&to_tag), vec![content_type()], body)
        } else {
            self.response(&request, 200, Some(&to_tag), vec![], vec![])
        };
        let hangup = hangup_after.map(|after| {
            Box::new(Hangup {
                after,
                target: remote_target(&request, &peer),
                peer: peer.clone(),
            })
        });
        let established = CallState::Established {
            media: Media {
                stop,
                task,
                codec,
                invite,
            },
            hangup,
        };
        let state = if shape == AnswerShape::ReliableEarly {
            CallState::AwaitingPrack {
                branch,
                ok: Box::new(ok),
                answered: Box::new(established),
            }
        } else {
            self.reply_invite(&branch, ok, &peer).await?;
            established
        };
        self.calls.insert(
            call_id,
            Call {
                from,
                to,
                to_tag,
                state,
            },
        );
        Ok(())
    }

    /// The PRACK of our reliable 183 (RFC 3262 §3): 200 to it, then the INVITE's 200.
    async fn on_prack(&mut self, request: Request, call_id: String, peer: Peer) -> Result<(), rsip::Error> {
        let rack = header_value(&request, |h| match h {
            Header::Other(name, value) if name.eq_ignore_ascii_case("RAck") => Some(value.clone()),
            _ => None,
        });
        let awaiting = self.calls.get_mut(&call_id).filter(|call| {
            matches!(call.state, CallState::AwaitingPrack { .. }) && rack.split_whitespace().next() == Some("1")
        });
        let Some(call) = awaiting else {
            return self
                .send(&self.response(&request, 481, None, vec![], vec![]), &peer)
                .await;
        };
        let to_tag = call.to_tag.clone();
        let CallState::AwaitingPrack { branch, ok, answered } = std::mem::replace(&mut call.state, CallState::Ended)
        else {
            unreachable!("matched above")
        };
        call.state = *answered;
        self.send(&self.response(&request, 200, Some(&to_tag), vec![], vec![]), &peer)
            .await?;
        self.reply_invite(&branch, *ok, &peer).await
    }

    async fn on_bye(&mut self, request: Request, call_id: String, peer: Peer) -> Result<(), rsip::Error> {
        let Some(to_tag) = self.calls.get(&call_id).map(|call| call.to_tag.clone()) else {
            return self
                .send(&self.response(&request, 481, None, vec![], vec![]), &peer)
                .await;
        };
        let ok = self.response(&request, 200, Some(&to_tag), vec![], vec![]);
        let Some(call) = self.calls.get_mut(&call_id) else {
            return Ok(());
        };
        let CallState::Established { .. } = call.state else {
            // A retransmitted BYE, a BYE crossing our own (the call is already finalised, once), or
            // the BYE of an unanswered call is simply acknowledged.
            return self.send(&ok, &peer).await;
        };
        let CallState::Established { media, .. } = std::mem::replace(&mut call.state, CallState::Ended) else {
            unreachable!("checked above")
        };
        let (from, to) = (call.from.clone(), call.to.clone());
        let config = self.config.clone();
        // Finalise off the loop, and only then say 200 OK, so the files exist when the caller sees it.
        tokio::spawn(async move {
            finish_call(&config, call_id, from, to, media, false).await;
            let _ = peer.send(ok.to_string().as_bytes()).await;
        });
        Ok(())
    }

    /// The ACK of our 2xx confirms the dialog (the ACK of a failure just ends the transaction). In
    /// hangup-after mode it arms the timer: RFC 3261 §15 lets the callee send BYE only after it.
    fn on_ack(&mut self, call_id: &str) {
        let Some(Call {
            state: CallState::Established { hangup, .. },
            ..
        }) = self.calls.get_mut(call_id)
        else {
            return;
        };
        let Some(hangup) = hangup.take() else {
            return;
        };
        let (due, call_id) = (self.hangups.clone(), call_id.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(hangup.after).await;
            let _ = due.send((call_id, hangup));
        });
    }

    /// The hangup-after timer is due: stop recording, write the files, then send our BYE.
    fn hang_up(&mut self, call_id: String, hangup: Box<Hangup>) {
        let hangup = *hangup;
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        // The caller's BYE came first: that call is already finalised.
        let CallState::Established { .. } = call.state else {
            return;
        };
        let branch = format!("z9hG4bK{}", random_hex(8));
        let bye = bye_request((self.via_name, self.local), call, &call_id, &branch, hangup.target);
        let (answered, answer) = oneshot::channel();
        let hanging_up = CallState::HangingUp { branch, answered };
        let CallState::Established { media, .. } = std::mem::replace(&mut call.state, hanging_up) else {
            unreachable!("checked above")
        };
        let (from, to) = (call.from.clone(), call.to.clone());
        let config = self.config.clone();
        // As for the caller's BYE, the files are written before the caller sees our BYE.
        tokio::spawn(async move {
            finish_call(&config, call_id.clone(), from, to, media, true).await;
            send_bye(&bye, &hangup.peer, answer, &call_id).await;
        });
    }

    /// A response on the SIP socket: a final one to our BYE ends its retransmissions.
    fn on_response(&mut self, response: &Response) {
        let (Ok(call_id), Ok(cseq)) = (response.call_id_header(), response.cseq_header()) else {
            return;
        };
        // 1xx to a non-INVITE only says the caller is working on it; keep retransmitting (capped).
        if cseq.method().ok() != Some(Method::Bye) || response.status_code.code() < 200 {
            return;
        }
        let call_id = call_id.value().to_string();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let ours = top_branch(response);
        if !matches!(&call.state, CallState::HangingUp { branch, .. } if Some(branch) == ours.as_ref()) {
            return;
        }
        let CallState::HangingUp { answered, .. } = std::mem::replace(&mut call.state, CallState::Ended) else {
            unreachable!("matched above")
        };
        let code = response.status_code.code();
        if code >= 300 {
            // 481 and the like: the caller had already forgotten the dialog. Worth a note, not a retry.
            eprintln!("sip-callee: BYE of {call_id} answered {code}");
        }
        let _ = answered.send(());
    }

    async fn on_cancel(&mut self, request: Request, call_id: String, peer: Peer) -> Result<(), rsip::Error> {
        let branch = branch_of(&request);
        let ringing = match self.calls.get_mut(&call_id) {
            Some(call) if matches!(&call.state, CallState::Ringing { branch: b, .. } if *b == branch) => call,
            _ => {
                return self
                    .send(&self.response(&request, 481, None, vec![], vec![]), &peer)
                    .await
            }
        };
        let CallState::Ringing { invite, .. } = std::mem::replace(&mut ringing.state, CallState::Ended) else {
            unreachable!("matched above")
        };
        let (from, to, to_tag) = (ringing.from.clone(), ringing.to.clone(), ringing.to_tag.clone());
        self.send(&self.response(&request, 200, Some(&to_tag), vec![], vec![]), &peer)
            .await?;
        let terminated = self.response(&invite, 487, Some(&to_tag), vec![], vec![]);
        self.reply_invite(&branch, terminated, &peer).await?;
        self.log(Outcome {
            call_id,
            from,
            to,
            outcome: "cancelled",
            status: 487,
            report: None,
        });
        Ok(())
    }
}

/// Stops the call's recorder and writes what it got: `<call-id>.wav` and `.json` in the record
/// directory, and the outcome line (`answered`, or `hung_up` when the callee sent the BYE).
async fn finish_call(
    config: &Config,
    call_id: String,
    from: String,
    to: String,
    media: Media,
    hung_up_by_callee: bool,
) {
    let _ = media.stop.send(());
    let recorder = media.task.await.unwrap_or_default();
    let report = CallReport {
        call_id: call_id.clone(),
        from: from.clone(),
        to: to.clone(),
        codec: media.codec,
        packets: recorder.packets,
        duration_ms: recorder.duration_ms(),
        first_marker_bit: recorder.first_marker_bit,
        sequence_gaps: recorder.sequence_gaps,
        ssrc_changes: recorder.ssrc_changes,
        bye_received: !hung_up_by_callee,
        hung_up_by_callee,
        packets_at_media_source: recorder.packets_at_media_source,
        invite_via: media.invite.via,
        invite_contact: media.invite.contact,
        invite_route: media.invite.route,
        offer_connection: media.invite.offer_connection,
    };
    if let Some(dir) = &config.record_dir {
        if let Err(error) = write_recording(dir, &report, &recorder.samples) {
            eprintln!("sip-callee: cannot write recording in {}: {error}", dir.display());
        }
    }
    if let Some(path) = &config.report_file {
        let line = Outcome {
            call_id,
            from,
            to,
            outcome: if hung_up_by_callee { "hung_up" } else { "answered" },
            status: 200,
            report: Some(report),
        };
        if let Err(error) = report::append_line(path, &line) {
            eprintln!("sip-callee: cannot write {}: {error}", path.display());
        }
    }
}

/// The BYE's client transaction (RFC 3261 §17.1.2.2): over UDP send, resend after T1, 2·T1, … capped
/// at T2, until `answered` (a final response) or Timer F.
async fn send_bye(bye: &Request, peer: &Peer, mut answered: oneshot::Receiver<()>, call_id: &str) {
    let bytes = bye.to_string().into_bytes();
    let give_up = Instant::now() + TIMER_F;
    // Over TCP/TLS the transport is reliable: one send, then only Timer F (§17.1.2.2).
    let reliable = matches!(peer, Peer::Stream { .. });
    let mut wait = if reliable { TIMER_F } else { T1 };
    loop {
        if let Err(error) = peer.send(&bytes).await {
            eprintln!("sip-callee: cannot send BYE of {call_id} to {}: {error}", peer.addr());
        }
        let next = (Instant::now() + wait).min(give_up);
        tokio::select! {
            // A dropped sender (the server is gone) ends the transaction too.
            _ = &mut answered => return,
            () = tokio::time::sleep_until(next) => {}
        }
        if next >= give_up {
            eprintln!("sip-callee: no final response to the BYE of {call_id} after {TIMER_F:?}");
            return;
        }
        wait = (wait * 2).min(T2);
    }
}

fn write_recording(dir: &std::path::Path, report: &CallReport, samples: &[i16]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let stem = report::file_stem(&report.call_id);
    crate::wav::write_file(&dir.join(format!("{stem}.wav")), samples, 8000)?;
    std::fs::write(dir.join(format!("{stem}.json")), serde_json::to_vec_pretty(report)?)
}
