//! One outgoing call: the INVITE client transaction (RFC 3261 §17.1.1), digest authentication,
//! the early dialog (SDP in 18x, reliable provisionals and PRACK, RFC 3262), CANCEL on ring
//! timeout, ACK, playback over RTP with latching, and the BYE transaction.
//!
//! The SIP messages are built and parsed with `rsip`; this module owns the timers and the order
//! of things, [`crate::dialog`] says where each request goes, [`crate::transport`] carries it,
//! and status codes are classified only in [`crate::status`].

use crate::dialog::{self, Target};
use crate::digest;
use crate::prompt::{self, Frame};
use crate::response::{code_of, contact_uri, cseq_of, ok_to, rseq_of, to_tag_of};
use crate::rtp;
use crate::sdp;
use crate::status::{self, CallError};
use crate::transport::{Hop, SipSocket, TlsClient, Transport};
use otpgate_gateway::GatewayError;
use rsip::prelude::*;
use rsip::{Header, Method, Request, Response, SipMessage, Uri, UriWithParams};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// RFC 3261 T1: the first retransmission interval, doubled each time.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2: the cap on non-INVITE retransmission intervals.
pub const T2: Duration = Duration::from_secs(4);
/// How long we wait for the INVITE's 487 (or a racing 200) after sending CANCEL.
const CANCEL_WAIT: Duration = Duration::from_secs(4);

/// How a carrier's calls reach its trunk.
#[derive(Debug, Clone)]
pub struct Network {
    /// The trunk: where the INVITE goes when there is no outbound proxy.
    pub trunk: Hop,
    pub transport: Transport,
    /// Required for [`Transport::Tls`].
    pub tls: Option<TlsClient>,
    /// Every request goes through this proxy first, as a preloaded loose route (RFC 3261
    /// §8.1.2); in-dialog requests too, unless the callee's 2xx brought a route set.
    pub outbound_proxy: Option<Hop>,
    /// Behind a NAT: the address the trunk reaches us at, put in Via sent-by, Contact and the
    /// SDP `c=`/`o=` lines instead of the local interface's (the ports stay ours).
    pub public_address: Option<IpAddr>,
}

impl Network {
    /// Plain UDP to `trunk`, no proxy, no NAT.
    pub fn udp(trunk: Hop) -> Network {
        Network {
            trunk,
            transport: Transport::Udp,
            tls: None,
            outbound_proxy: None,
            public_address: None,
        }
    }
}

/// What to call and how.
pub struct CallPlan {
    pub network: Network,
    /// `sip:<digits>@<trunk host>`.
    pub request_uri: String,
    /// Our address of record, e.g. `sip:otp@otpgate.invalid`.
    pub from_uri: String,
    /// Digest username and password.
    pub credentials: Option<(String, String)>,
    pub ring_timeout: Duration,
    pub frames: Vec<Frame>,
}

/// How the INVITE transaction ended.
enum InviteOutcome {
    Final(Response),
    /// Ringing, but nobody answered within the ring time.
    NoAnswer,
}

/// Where the requests inside the dialog go, and the To header (with the callee's tag) they carry.
struct Dialog {
    target: Target,
    to: String,
}

/// A request that is retransmitted on UDP until its final response (Timer E, capped at T2).
struct Pending {
    cseq: u32,
    hop: Hop,
    bytes: Vec<u8>,
    interval: Duration,
    next: Instant,
    give_up: Instant,
}

impl Pending {
    fn new(cseq: u32, hop: Hop, request: &Request, reliable: bool) -> Pending {
        let now = Instant::now();
        Pending {
            cseq,
            hop,
            bytes: request.to_string().into_bytes(),
            interval: T1,
            // Reliable transports do not retransmit; Timer F still bounds the wait.
            next: if reliable { now + 64 * T1 } else { now + T1 },
            give_up: now + 64 * T1,
        }
    }
}

struct Call {
    plan: CallPlan,
    socket: SipSocket,
    /// Our sent-by for Via and host:port for Contact: the public address when configured.
    advertised: SocketAddr,
    call_id: String,
    from_tag: String,
    invite_cseq: u32,
    /// The CSeq of our next request in the dialog (PRACK, BYE): after the INVITE's.
    next_cseq: u32,
    invite_branch: String,
    authorization: Option<Header>,
    offer: String,
    /// The outbound proxy's route, or nothing.
    preloaded: Vec<UriWithParams>,
    /// SDP received in provisional responses, per To tag (early dialog): the answer when the
    /// 2xx of that dialog carries none (RFC 3261 §13.2.1, RFC 6337 §3.1).
    early_answers: Vec<(String, Vec<u8>)>,
    /// The RSeq of the last reliable provisional we PRACKed (RFC 3262 §4).
    last_rseq: Option<u32>,
}

fn random_hex(bytes: usize) -> String {
    hex::encode((0..bytes).map(|_| rand::random::<u8>()).collect::<Vec<u8>>())
}

fn new_branch() -> String {
    format!("z9hG4bK{}", random_hex(8))
}

/// Places the call: INVITE until answered (with one digest answer, PRACKs for reliable
/// provisionals), then ACK. Returns the answered call, ready to [`Answered::play`]; any failure
/// before that (busy, no answer, an SDP answer we cannot play to, ...) is the error.
pub async fn place(plan: CallPlan) -> Result<Answered, CallError> {
    let first_hop = plan
        .network
        .outbound_proxy
        .clone()
        .unwrap_or_else(|| plan.network.trunk.clone());
    let socket = SipSocket::open(plan.network.transport, plan.network.tls.clone(), &first_hop).await?;
    let local = socket.local();
    let advertised_ip = plan.network.public_address.unwrap_or(local.ip());
    let rtp_socket = UdpSocket::bind((local.ip(), 0)).await.map_err(status::io)?;
    let rtp_port = rtp_socket.local_addr().map_err(status::io)?.port();
    let offer = sdp::offer(advertised_ip, rtp_port, rand::random::<u32>().into());
    let preloaded = plan
        .network
        .outbound_proxy
        .iter()
        .map(|proxy| dialog::preloaded_route(proxy, plan.network.transport))
        .collect();
    let mut call = Call {
        plan,
        socket,
        advertised: SocketAddr::new(advertised_ip, local.port()),
        call_id: random_hex(12),
        from_tag: random_hex(6),
        invite_cseq: 1,
        next_cseq: 2,
        invite_branch: new_branch(),
        authorization: None,
        offer,
        preloaded,
        early_answers: Vec::new(),
        last_rseq: None,
    };
    let ok = call.invite_until_answered().await?;
    let dialog = call.dialog_of(&ok);
    call.ack_answer(&dialog).await;
    let to_tag = to_tag_of(&ok);
    let answer = if ok.body.is_empty() {
        call.early_answers
            .iter()
            .rev()
            .find(|(tag, _)| *tag == to_tag)
            .map(|(_, body)| body.clone())
    } else {
        Some(ok.body.clone())
    };
    let media = match answer.map(|body| sdp::parse_answer(&String::from_utf8_lossy(&body))) {
        Some(Ok(media)) => media,
        problem => {
            call.bye(&dialog).await;
            let error = match problem {
                Some(Err(not_playable)) => GatewayError::permanent(not_playable.reason(), not_playable.to_string()),
                _ => GatewayError::permanent("unsupported_media", "no SDP answer in the 2xx or the early dialog"),
            };
            return Err(error.into());
        }
    };
    Ok(Answered {
        call,
        rtp_socket,
        media,
        dialog,
    })
}

/// A call the callee picked up (200 OK, ACKed): the prompt is still to be played.
pub struct Answered {
    call: Call,
    rtp_socket: UdpSocket,
    media: sdp::MediaAnswer,
    dialog: Dialog,
}

/// How the playback of an answered call ended.
#[derive(Debug)]
pub enum PlayOutcome {
    /// Every frame was sent, then our BYE.
    Completed,
    /// The callee sent BYE before the prompt ended (answered 200; nothing more is sent).
    HungUp,
    /// We were told to stop (shutdown); BYE sent.
    Stopped,
    /// Our RTP socket failed; BYE sent.
    Failed(GatewayError),
}

/// What [`Answered::play`] did.
#[derive(Debug)]
pub struct Played {
    pub outcome: PlayOutcome,
    /// RTP packets sent, of the prompt's frame count.
    pub packets_sent: usize,
    /// RTP packets that arrived on our media port (a callee that echoes, or talks back).
    pub packets_received: usize,
    /// The payload type the callee chose: 0 PCMU, 8 PCMA, or a dynamic one mapped to either.
    pub payload_type: u8,
    /// Where our RTP went last: the SDP answer's address, or the source of the callee's own RTP
    /// once it arrived from elsewhere (latching).
    pub media_destination: SocketAddr,
    /// The destination moved to where the callee's RTP comes from (symmetric RTP, RFC 4961).
    pub latched: bool,
}

impl Answered {
    pub fn call_id(&self) -> &str {
        &self.call.call_id
    }

    /// Plays the prompt, paced at 50 packets/s, while answering the callee's BYE (it hung up)
    /// and re-ACKing a retransmitted 200 OK (our ACK was lost); then sends BYE unless the callee
    /// already hung up. `stop` resolving ends the call early.
    ///
    /// Latching: a callee behind a NAT announces an address in its SDP that we may not reach;
    /// its own RTP arrives from the address its NAT maps, which does reach it. The first RTP
    /// packet (version 2, the payload type we send) from another address than the SDP's moves
    /// our stream there, once: later sources do not move it again, so a stray sender cannot
    /// take over the call.
    pub async fn play(mut self, stop: impl std::future::Future<Output = ()>) -> Played {
        let payload_type = self.media.payload_type;
        let mut stream = rtp::RtpStream::new(payload_type);
        let mut interval = tokio::time::interval(rtp::PACKET_INTERVAL);
        let mut rtp_buf = vec![0u8; 2048];
        let mut packets_received = 0;
        let mut destination = self.media.destination;
        let mut latched = false;
        let mut sip_open = true;
        let frames = std::mem::take(&mut self.call.plan.frames);
        let mut next = 0;
        tokio::pin!(stop);
        let outcome = loop {
            tokio::select! {
                _ = interval.tick() => {
                    let Some(frame) = frames.get(next) else { break PlayOutcome::Completed };
                    let packet = stream.packet(&prompt::encode(frame, self.media.alaw));
                    if let Err(error) = self.rtp_socket.send_to(&packet, destination).await {
                        break PlayOutcome::Failed(status::io(error));
                    }
                    next += 1;
                }
                received = self.call.socket.recv(), if sip_open => {
                    let Some((message, source)) = received else {
                        // Every SIP connection closed: the media goes on; our BYE will tell.
                        sip_open = false;
                        continue;
                    };
                    if self.on_sip_during_playback(&message, source).await {
                        break PlayOutcome::HungUp;
                    }
                }
                received = self.rtp_socket.recv_from(&mut rtp_buf) => {
                    let Ok((len, source)) = received else { continue };
                    packets_received += 1;
                    let packet = &rtp_buf[..len];
                    let is_rtp = len >= 12 && packet[0] >> 6 == 2 && packet[1] & 0x7F == payload_type;
                    if !latched && is_rtp && source != destination {
                        tracing::debug!(call_id = %self.call.call_id, from = %destination, to = %source, "RTP latched");
                        destination = source;
                        latched = true;
                    }
                }
                () = &mut stop => break PlayOutcome::Stopped,
            }
        };
        if !matches!(outcome, PlayOutcome::HungUp) {
            self.call.bye(&self.dialog).await;
        }
        Played {
            outcome,
            packets_sent: next,
            packets_received,
            payload_type,
            media_destination: destination,
            latched,
        }
    }

    /// Handles one SIP message received while playing; true when it was the callee's BYE.
    async fn on_sip_during_playback(&mut self, message: &[u8], source: SocketAddr) -> bool {
        match SipMessage::try_from(message) {
            Ok(SipMessage::Request(request))
                if request.method == Method::Bye
                    && request.call_id_header().is_ok_and(|c| c.value() == self.call.call_id) =>
            {
                let ok = ok_to(&request).to_string();
                if let Err(error) = self.call.socket.reply(source, ok.as_bytes()).await {
                    tracing::debug!(%error, "200 to the callee's BYE not sent");
                }
                true
            }
            Ok(SipMessage::Response(response))
                if response.call_id_header().is_ok_and(|c| c.value() == self.call.call_id)
                    && cseq_of(&response) == Some((self.call.invite_cseq, "INVITE".into()))
                    && (200..300).contains(&code_of(&response)) =>
            {
                self.call.ack_answer(&self.dialog).await;
                false
            }
            _ => false,
        }
    }
}

impl Call {
    /// The INVITE transaction(s) until a 2xx: one digest answer to a 401/407, CANCEL after the
    /// ring time, every other final response classified.
    async fn invite_until_answered(&mut self) -> Result<Response, CallError> {
        let mut answered_challenge = false;
        loop {
            let response = match self.invite().await? {
                InviteOutcome::NoAnswer => {
                    self.cancel().await;
                    return Err(status::no_answer(self.plan.ring_timeout.as_secs_f64()).into());
                }
                InviteOutcome::Final(response) => response,
            };
            let code = code_of(&response);
            if (200..300).contains(&code) {
                return Ok(response);
            }
            self.ack_failure(&response).await;
            match code {
                401 | 407 if !answered_challenge => {
                    self.authorize(&response).map_err(|error| CallError {
                        error,
                        sip_status: Some(code),
                    })?;
                    answered_challenge = true;
                    // A new INVITE transaction, after any request the first one made.
                    self.invite_cseq = self.next_cseq;
                    self.next_cseq += 1;
                    self.invite_branch = new_branch();
                    self.early_answers.clear();
                    self.last_rseq = None;
                }
                // Our credentials were refused outright.
                403 if answered_challenge => {
                    return Err(CallError {
                        error: GatewayError::permanent("auth_failed", "SIP 403 after digest"),
                        sip_status: Some(403),
                    })
                }
                _ => return Err(status::classify_final(code, &response.status_code.to_string())),
            }
        }
    }

    /// Where requests outside a dialog go (INVITE, CANCEL, ACK of a failure): through the
    /// outbound proxy if there is one, else to the trunk itself.
    fn initial_target(&self) -> Target {
        let uri = Uri::try_from(self.plan.request_uri.as_str()).expect("request URI validated in send");
        let mut target = dialog::target(&uri, &self.preloaded, self.plan.network.transport);
        if self.preloaded.is_empty() {
            target.next_hop = self.plan.network.trunk.clone();
        }
        target
    }

    /// The dialog a response creates (a 2xx, or a reliable 18x for its early dialog): the
    /// callee's Contact as remote target, its Record-Route as route set (else the preloaded
    /// route), and its To with the callee's tag.
    fn dialog_of(&self, response: &Response) -> Dialog {
        let to = response.to_header().map(|t| t.value().to_string()).unwrap_or_default();
        let routes = dialog::route_set(response);
        let routes = if routes.is_empty() { &self.preloaded } else { &routes };
        let target = match contact_uri(response) {
            Some(contact) => dialog::target(&contact, routes, self.plan.network.transport),
            None => self.initial_target(),
        };
        Dialog { target, to }
    }

    #[allow(clippy::too_many_arguments, reason = "one SIP request's own parts")]
    fn request(
        &self,
        method: Method,
        target: &Target,
        branch: &str,
        cseq: u32,
        to: &str,
        body: &str,
        extra: Vec<Header>,
    ) -> Request {
        let advertised = self.advertised;
        let transport = self.plan.network.transport;
        let mut headers = rsip::Headers::default();
        // rport (RFC 3581): a NAT between us and the trunk sends responses back to the mapped port.
        headers.push(
            rsip::headers::Via::new(format!(
                "SIP/2.0/{} {advertised};branch={branch};rport",
                transport.via_name()
            ))
            .into(),
        );
        headers.push(rsip::headers::MaxForwards::new("70").into());
        for route in &target.routes {
            headers.push(rsip::headers::Route::new(route.clone()).into());
        }
        headers.push(rsip::headers::From::new(format!("<{}>;tag={}", self.plan.from_uri, self.from_tag)).into());
        headers.push(rsip::headers::To::new(to.to_string()).into());
        headers.push(rsip::headers::CallId::new(self.call_id.clone()).into());
        headers.push(rsip::headers::CSeq::new(format!("{cseq} {method}")).into());
        if method == Method::Invite {
            headers.push(
                rsip::headers::Contact::new(format!("<sip:otpgate@{advertised}{}>", transport.uri_param())).into(),
            );
            // We PRACK reliable provisionals (RFC 3262 §4); without this a trunk that needs
            // them must refuse the call with 420.
            headers.push(rsip::headers::Supported::new("100rel").into());
            if let Some(authorization) = &self.authorization {
                headers.push(authorization.clone());
            }
        }
        headers.extend(extra);
        headers.push(rsip::headers::UserAgent::new("otpgate").into());
        if !body.is_empty() {
            headers.push(rsip::headers::ContentType::new("application/sdp").into());
        }
        headers.push(rsip::headers::ContentLength::new(body.len().to_string()).into());
        Request {
            method,
            uri: target.request_uri.clone(),
            version: rsip::Version::V2,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    /// Sends a request to its next hop. Failures are logged: the timers deal with silence.
    async fn send(&mut self, hop: &Hop, request: &Request) {
        if let Err(error) = self.socket.send(hop, request.to_string().as_bytes()).await {
            tracing::debug!(%error, %hop, "SIP send failed");
        }
    }

    /// The next response of this call received before `deadline`; requests and strays are dropped.
    async fn recv(&mut self, deadline: Instant) -> Option<Response> {
        loop {
            let message = match tokio::time::timeout_at(deadline, self.socket.recv()).await {
                Err(_) => return None,
                Ok(Some((message, _))) => message,
                // Every connection closed: nothing more can come; wait out the timer.
                Ok(None) => {
                    tokio::time::sleep_until(deadline).await;
                    return None;
                }
            };
            let Ok(SipMessage::Response(response)) = SipMessage::try_from(message) else {
                continue;
            };
            if response.call_id_header().is_ok_and(|c| c.value() == self.call_id) {
                return Some(response);
            }
        }
    }

    /// Sends the INVITE and retransmits it on UDP (Timer A) until a response; gives up at Timer
    /// B. Provisional responses start the ring time, keep their SDP and get PRACKed when sent
    /// reliably.
    async fn invite(&mut self) -> Result<InviteOutcome, GatewayError> {
        let target = self.initial_target();
        let request = self.request(
            Method::Invite,
            &target,
            &self.invite_branch,
            self.invite_cseq,
            &format!("<{}>", self.plan.request_uri),
            &self.offer,
            vec![],
        );
        self.socket
            .send(&target.next_hop, request.to_string().as_bytes())
            .await?;
        let start = Instant::now();
        let ring_deadline = start + self.plan.ring_timeout;
        // Timer B is 64·T1 = 32 s; we stop earlier when the ring time is short, since no
        // provisional response by then means the call cannot ring in time anyway.
        let timer_b = start + (64 * T1).min(self.plan.ring_timeout + Duration::from_secs(2));
        let mut interval = T1;
        let mut retransmit_at = if self.socket.is_reliable() {
            timer_b
        } else {
            start + interval
        };
        let mut ringing = false;
        let mut prack: Option<Pending> = None;
        loop {
            let mut wake = if ringing {
                ring_deadline
            } else {
                retransmit_at.min(timer_b)
            };
            if let Some(pending) = &prack {
                wake = wake.min(pending.next);
            }
            match self.recv(wake).await {
                Some(response) => match cseq_of(&response) {
                    Some((n, method)) if n == self.invite_cseq && method == "INVITE" => {
                        if code_of(&response) >= 200 {
                            return Ok(InviteOutcome::Final(response));
                        }
                        ringing = true;
                        if let Some(sent) = self.on_provisional(&response).await {
                            prack = Some(sent);
                        }
                    }
                    Some((n, method))
                        if method == "PRACK"
                            && code_of(&response) >= 200
                            && prack.as_ref().is_some_and(|p| p.cseq == n) =>
                    {
                        prack = None;
                    }
                    _ => {}
                },
                None => {
                    let now = Instant::now();
                    if let Some(pending) = prack.as_mut().filter(|p| now >= p.next) {
                        if now >= pending.give_up {
                            prack = None;
                        } else {
                            let (hop, bytes) = (pending.hop.clone(), pending.bytes.clone());
                            pending.interval = (pending.interval * 2).min(T2);
                            pending.next = now + pending.interval;
                            let _ = self.socket.send(&hop, &bytes).await;
                        }
                        continue;
                    }
                    if ringing {
                        if now >= ring_deadline {
                            return Ok(InviteOutcome::NoAnswer);
                        }
                    } else if now >= timer_b {
                        return Err(status::timeout(format!(
                            "no response to INVITE from {}",
                            target.next_hop
                        )));
                    } else if now >= retransmit_at {
                        self.send(&target.next_hop, &request).await;
                        interval *= 2;
                        retransmit_at = now + interval;
                    }
                }
            }
        }
    }

    /// A provisional response to our INVITE: keeps its SDP for its early dialog, and PRACKs it
    /// when it came reliably with the next RSeq (RFC 3262 §4: a repeat or out-of-order one is
    /// neither PRACKed nor used). Returns the PRACK to retransmit.
    async fn on_provisional(&mut self, response: &Response) -> Option<Pending> {
        let rseq = rseq_of(response);
        if let Some(rseq) = rseq {
            if self.last_rseq.is_some_and(|last| rseq != last + 1) {
                return None;
            }
        }
        if !response.body.is_empty() {
            let tag = to_tag_of(response);
            self.early_answers.retain(|(t, _)| *t != tag);
            self.early_answers.push((tag, response.body.clone()));
        }
        let rseq = rseq?;
        self.last_rseq = Some(rseq);
        let early = self.dialog_of(response);
        let cseq = self.next_cseq;
        self.next_cseq += 1;
        let rack = Header::Other("RAck".into(), format!("{rseq} {} INVITE", self.invite_cseq));
        let prack = self.request(
            Method::PRack,
            &early.target,
            &new_branch(),
            cseq,
            &early.to,
            "",
            vec![rack],
        );
        self.send(&early.target.next_hop, &prack).await;
        Some(Pending::new(
            cseq,
            early.target.next_hop,
            &prack,
            self.socket.is_reliable(),
        ))
    }

    /// Prepares the credentials answering a 401/407 for the next INVITE.
    fn authorize(&mut self, response: &Response) -> Result<(), GatewayError> {
        let Some((username, password)) = &self.plan.credentials else {
            return Err(GatewayError::permanent(
                "auth_failed",
                "trunk asks for credentials; none configured",
            ));
        };
        let proxy = code_of(response) == 407;
        let challenge = response
            .headers
            .iter()
            .find_map(|h| match h {
                Header::WwwAuthenticate(c) if !proxy => Some(c.value().to_string()),
                Header::ProxyAuthenticate(c) if proxy => Some(c.value().to_string()),
                _ => None,
            })
            .ok_or_else(|| GatewayError::permanent("auth_failed", "challenge without a digest header"))?;
        let challenge =
            digest::parse_challenge(&challenge).map_err(|e| GatewayError::permanent("auth_failed", e.to_string()))?;
        let value = digest::credentials(
            &challenge,
            username,
            password,
            "INVITE",
            &self.plan.request_uri,
            &random_hex(8),
        );
        self.authorization = Some(if proxy {
            rsip::headers::ProxyAuthorization::new(value).into()
        } else {
            rsip::headers::Authorization::new(value).into()
        });
        Ok(())
    }

    /// Sends a request without a body to `target`'s next hop; returns it for retransmission.
    async fn send_bodiless(&mut self, method: Method, target: &Target, branch: &str, cseq: u32, to: &str) -> Request {
        let request = self.request(method, target, branch, cseq, to, "", vec![]);
        self.send(&target.next_hop, &request).await;
        request
    }

    /// ACK of a non-2xx final response: part of the INVITE transaction (same branch, same
    /// route as the INVITE).
    async fn ack_failure(&mut self, response: &Response) {
        let to = response.to_header().map(|t| t.value().to_string()).unwrap_or_default();
        let (target, branch) = (self.initial_target(), self.invite_branch.clone());
        self.send_bodiless(Method::Ack, &target, &branch, self.invite_cseq, &to)
            .await;
    }

    /// ACK of the 2xx: a new transaction inside the dialog, along its route set.
    async fn ack_answer(&mut self, dialog: &Dialog) {
        self.send_bodiless(Method::Ack, &dialog.target, &new_branch(), self.invite_cseq, &dialog.to)
            .await;
    }

    /// CANCEL of the ringing INVITE, then the ACK of its 487 (or ACK + BYE if a 200 raced it).
    async fn cancel(&mut self) {
        let to = format!("<{}>", self.plan.request_uri);
        let (target, branch) = (self.initial_target(), self.invite_branch.clone());
        let cancel = self
            .send_bodiless(Method::Cancel, &target, &branch, self.invite_cseq, &to)
            .await;
        let deadline = Instant::now() + CANCEL_WAIT;
        let mut interval = T1;
        let mut retransmit_at = Instant::now() + interval;
        let mut cancel_answered = self.socket.is_reliable();
        loop {
            let wake = if cancel_answered {
                deadline
            } else {
                retransmit_at.min(deadline)
            };
            let Some(response) = self.recv(wake).await else {
                if Instant::now() >= deadline {
                    tracing::debug!(call_id = %self.call_id, "no final response after CANCEL");
                    return;
                }
                self.send(&target.next_hop, &cancel).await;
                interval = (interval * 2).min(T2);
                retransmit_at = Instant::now() + interval;
                continue;
            };
            match cseq_of(&response) {
                Some((n, method)) if n == self.invite_cseq && method == "CANCEL" => cancel_answered = true,
                Some((n, method)) if n == self.invite_cseq && method == "INVITE" && code_of(&response) >= 200 => {
                    if (200..300).contains(&code_of(&response)) {
                        let dialog = self.dialog_of(&response);
                        self.ack_answer(&dialog).await;
                        self.bye(&dialog).await;
                    } else {
                        self.ack_failure(&response).await;
                    }
                    return;
                }
                _ => {}
            }
        }
    }

    /// BYE, retransmitted on UDP (Timer E, capped at T2) until its final response or Timer F.
    async fn bye(&mut self, dialog: &Dialog) {
        let cseq = self.next_cseq;
        self.next_cseq += 1;
        let bye = self
            .send_bodiless(Method::Bye, &dialog.target, &new_branch(), cseq, &dialog.to)
            .await;
        let mut pending = Pending::new(cseq, dialog.target.next_hop.clone(), &bye, self.socket.is_reliable());
        loop {
            let Some(response) = self.recv(pending.next.min(pending.give_up)).await else {
                if Instant::now() >= pending.give_up {
                    tracing::warn!(call_id = %self.call_id, "BYE not answered");
                    return;
                }
                self.send(&dialog.target.next_hop, &bye).await;
                pending.interval = (pending.interval * 2).min(T2);
                pending.next = Instant::now() + pending.interval;
                continue;
            };
            match cseq_of(&response) {
                Some((n, method)) if n == cseq && method == "BYE" && code_of(&response) >= 200 => return,
                // A retransmitted 200 to the INVITE: our ACK was lost, send it again.
                Some((n, method)) if n == self.invite_cseq && method == "INVITE" && code_of(&response) < 300 => {
                    self.ack_answer(dialog).await;
                }
                _ => {}
            }
        }
    }
}
