//! One outgoing call: the INVITE client transaction (RFC 3261 §17.1.1 over UDP), digest
//! authentication, CANCEL on ring timeout, ACK, playback over RTP and the BYE transaction.
//!
//! The SIP messages are built and parsed with `rsip`; this module owns the timers and the order
//! of things, and branches on status codes only through [`crate::status`].

use crate::digest;
use crate::prompt::{self, Frame};
use crate::rtp;
use crate::sdp;
use crate::status::{self, CallError};
use otpgate_gateway::GatewayError;
use rsip::prelude::*;
use rsip::{Header, Method, Request, Response, SipMessage};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// RFC 3261 T1: the first retransmission interval, doubled each time.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2: the cap on non-INVITE retransmission intervals.
pub const T2: Duration = Duration::from_secs(4);
/// How long we wait for the INVITE's 487 (or a racing 200) after sending CANCEL.
const CANCEL_WAIT: Duration = Duration::from_secs(4);

/// What to call and how.
pub struct CallPlan {
    pub trunk: SocketAddr,
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

struct Call {
    plan: CallPlan,
    socket: UdpSocket,
    local: SocketAddr,
    call_id: String,
    from_tag: String,
    cseq: u32,
    invite_branch: String,
    authorization: Option<Header>,
    offer: String,
}

fn random_hex(bytes: usize) -> String {
    hex::encode((0..bytes).map(|_| rand::random::<u8>()).collect::<Vec<u8>>())
}

fn new_branch() -> String {
    format!("z9hG4bK{}", random_hex(8))
}

/// Places the call: INVITE until answered (with one digest answer), then ACK. Returns the
/// answered call, ready to [`Answered::play`]; any failure before that (busy, no answer, ...) is
/// the error.
pub async fn place(plan: CallPlan) -> Result<Answered, CallError> {
    let bind_ip: SocketAddr = if plan.trunk.is_ipv6() {
        "[::]:0".parse().expect("literal")
    } else {
        "0.0.0.0:0".parse().expect("literal")
    };
    let socket = UdpSocket::bind(bind_ip).await.map_err(status::io)?;
    socket.connect(plan.trunk).await.map_err(status::io)?;
    let local = socket.local_addr().map_err(status::io)?;
    let rtp_socket = UdpSocket::bind((local.ip(), 0)).await.map_err(status::io)?;
    let rtp_port = rtp_socket.local_addr().map_err(status::io)?.port();
    let offer = sdp::offer(local.ip(), rtp_port, rand::random::<u32>().into());
    let mut call = Call {
        plan,
        socket,
        local,
        call_id: random_hex(12),
        from_tag: random_hex(6),
        cseq: 1,
        invite_branch: new_branch(),
        authorization: None,
        offer,
    };
    let ok = call.invite_until_answered().await?;
    let to = ok.to_header().map(|t| t.value().to_string()).unwrap_or_default();
    let target = contact_uri(&ok).unwrap_or_else(|| call.plan.request_uri.clone());
    call.ack_answer(&target, &to).await;
    let body = String::from_utf8_lossy(&ok.body).into_owned();
    let Some(media) = sdp::parse_answer(&body) else {
        call.bye(&target, &to).await;
        return Err(GatewayError::permanent("unsupported_media", "no PCMU/PCMA stream in the SDP answer").into());
    };
    Ok(Answered {
        call,
        rtp_socket,
        media,
        target,
        to,
    })
}

/// A call the callee picked up (200 OK, ACKed): the prompt is still to be played.
pub struct Answered {
    call: Call,
    rtp_socket: UdpSocket,
    media: sdp::MediaAnswer,
    /// The callee's Contact: where in-dialog requests (BYE) go.
    target: String,
    /// The To header with the callee's tag.
    to: String,
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
    /// The codec the callee chose: 0 PCMU, 8 PCMA.
    pub payload_type: u8,
}

impl Answered {
    pub fn call_id(&self) -> &str {
        &self.call.call_id
    }

    /// Plays the prompt, paced at 50 packets/s, while answering the callee's BYE (it hung up)
    /// and re-ACKing a retransmitted 200 OK (our ACK was lost); then sends BYE unless the callee
    /// already hung up. `stop` resolving ends the call early.
    pub async fn play(mut self, stop: impl std::future::Future<Output = ()>) -> Played {
        let payload_type = self.media.payload_type;
        let mut stream = rtp::RtpStream::new(payload_type);
        let mut interval = tokio::time::interval(rtp::PACKET_INTERVAL);
        let mut sip_buf = vec![0u8; 65_535];
        let mut rtp_buf = vec![0u8; 2048];
        let mut packets_received = 0;
        let frames = std::mem::take(&mut self.call.plan.frames);
        let mut next = 0;
        tokio::pin!(stop);
        let outcome = loop {
            tokio::select! {
                _ = interval.tick() => {
                    let Some(frame) = frames.get(next) else { break PlayOutcome::Completed };
                    let packet = stream.packet(&prompt::encode(frame, payload_type));
                    if let Err(error) = self.rtp_socket.send_to(&packet, self.media.destination).await {
                        break PlayOutcome::Failed(status::io(error));
                    }
                    next += 1;
                }
                received = self.call.socket.recv(&mut sip_buf) => {
                    let Ok(len) = received else { continue };
                    if self.on_sip_during_playback(&sip_buf[..len]).await {
                        break PlayOutcome::HungUp;
                    }
                }
                received = self.rtp_socket.recv_from(&mut rtp_buf) => {
                    if received.is_ok() {
                        packets_received += 1;
                    }
                }
                () = &mut stop => break PlayOutcome::Stopped,
            }
        };
        if !matches!(outcome, PlayOutcome::HungUp) {
            self.call.bye(&self.target, &self.to).await;
        }
        Played {
            outcome,
            packets_sent: next,
            packets_received,
            payload_type,
        }
    }

    /// Handles one SIP datagram received while playing; true when it was the callee's BYE.
    async fn on_sip_during_playback(&self, datagram: &[u8]) -> bool {
        match SipMessage::try_from(datagram) {
            Ok(SipMessage::Request(request))
                if request.method == Method::Bye
                    && request.call_id_header().is_ok_and(|c| c.value() == self.call.call_id) =>
            {
                self.call.send(&ok_to(&request)).await;
                true
            }
            Ok(SipMessage::Response(response))
                if response.call_id_header().is_ok_and(|c| c.value() == self.call.call_id)
                    && cseq_of(&response) == Some((self.call.cseq, "INVITE".into()))
                    && (200..300).contains(&code_of(&response)) =>
            {
                self.call.ack_answer(&self.target, &self.to).await;
                false
            }
            _ => false,
        }
    }
}

/// A 200 OK to an in-dialog request (the callee's BYE): its Via, From, To, Call-ID and CSeq.
fn ok_to(request: &Request) -> Response {
    let mut headers = rsip::Headers::default();
    for header in request.headers.iter() {
        if matches!(
            header,
            Header::Via(_) | Header::From(_) | Header::To(_) | Header::CallId(_) | Header::CSeq(_)
        ) {
            headers.push(header.clone());
        }
    }
    headers.push(rsip::headers::ContentLength::new("0").into());
    Response {
        status_code: rsip::StatusCode::OK,
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

fn code_of(response: &Response) -> u16 {
    response.status_code.code()
}

/// The CSeq number and method of a response.
fn cseq_of(response: &Response) -> Option<(u32, String)> {
    let value = response.cseq_header().ok()?.value().to_string();
    let (number, method) = value.trim().split_once(char::is_whitespace)?;
    Some((number.parse().ok()?, method.trim().to_ascii_uppercase()))
}

/// The URI inside a Contact value (`<sip:x@h>;params` or `sip:x@h`).
fn contact_uri(response: &Response) -> Option<String> {
    response.headers.iter().find_map(|h| match h {
        Header::Contact(contact) => {
            let value = contact.value();
            let uri = match (value.find('<'), value.find('>')) {
                (Some(start), Some(end)) if start < end => &value[start + 1..end],
                _ => value.split(';').next().unwrap_or(value),
            };
            Some(uri.trim().to_string())
        }
        _ => None,
    })
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
                    self.cseq += 1;
                    self.invite_branch = new_branch();
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

    fn request(&self, method: Method, uri: &str, branch: &str, cseq: u32, to: &str, body: &str) -> Request {
        let local = self.local;
        let mut headers = rsip::Headers::default();
        headers.push(rsip::headers::Via::new(format!("SIP/2.0/UDP {local};branch={branch};rport")).into());
        headers.push(rsip::headers::MaxForwards::new("70").into());
        headers.push(rsip::headers::From::new(format!("<{}>;tag={}", self.plan.from_uri, self.from_tag)).into());
        headers.push(rsip::headers::To::new(to.to_string()).into());
        headers.push(rsip::headers::CallId::new(self.call_id.clone()).into());
        headers.push(rsip::headers::CSeq::new(format!("{cseq} {method}")).into());
        if method == Method::Invite {
            headers.push(rsip::headers::Contact::new(format!("<sip:otpgate@{local}>")).into());
            if let Some(authorization) = &self.authorization {
                headers.push(authorization.clone());
            }
        }
        headers.push(rsip::headers::UserAgent::new("otpgate").into());
        if !body.is_empty() {
            headers.push(rsip::headers::ContentType::new("application/sdp").into());
        }
        headers.push(rsip::headers::ContentLength::new(body.len().to_string()).into());
        Request {
            method,
            uri: rsip::Uri::try_from(uri.to_string()).unwrap_or_else(|_| {
                rsip::Uri::try_from(self.plan.request_uri.clone()).expect("request URI validated in send")
            }),
            version: rsip::Version::V2,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn invite_request(&self) -> Request {
        let to = format!("<{}>", self.plan.request_uri);
        let uri = self.plan.request_uri.clone();
        self.request(Method::Invite, &uri, &self.invite_branch, self.cseq, &to, &self.offer)
    }

    /// Sends a request or response of this call.
    async fn send(&self, message: &impl std::fmt::Display) {
        // A lost datagram is what the retransmission timers are for.
        if let Err(error) = self.socket.send(message.to_string().as_bytes()).await {
            tracing::debug!(%error, "SIP send failed");
        }
    }

    /// The next response of this call received before `deadline`; requests and strays are dropped.
    async fn recv(&self, deadline: Instant) -> Option<Response> {
        let mut buf = vec![0u8; 65_535];
        loop {
            let len = match tokio::time::timeout_at(deadline, self.socket.recv(&mut buf)).await {
                Err(_) => return None,
                Ok(Err(error)) => {
                    // ICMP port unreachable surfaces here on a connected socket: keep waiting for
                    // the timers rather than failing on the first one.
                    tracing::debug!(%error, "SIP receive failed");
                    tokio::time::sleep_until(deadline.min(Instant::now() + Duration::from_millis(50))).await;
                    continue;
                }
                Ok(Ok(len)) => len,
            };
            let Ok(SipMessage::Response(response)) = SipMessage::try_from(&buf[..len]) else {
                continue;
            };
            if response.call_id_header().is_ok_and(|c| c.value() == self.call_id) {
                return Some(response);
            }
        }
    }

    /// Sends the INVITE and retransmits it (Timer A) until a response; gives up at Timer B.
    async fn invite(&mut self) -> Result<InviteOutcome, GatewayError> {
        let request = self.invite_request();
        self.send(&request).await;
        let start = Instant::now();
        let ring_deadline = start + self.plan.ring_timeout;
        // Timer B is 64·T1 = 32 s; we stop earlier when the ring time is short, since no
        // provisional response by then means the call cannot ring in time anyway.
        let timer_b = start + (64 * T1).min(self.plan.ring_timeout + Duration::from_secs(2));
        let mut interval = T1;
        let mut retransmit_at = start + interval;
        let mut ringing = false;
        loop {
            let wake = if ringing {
                ring_deadline
            } else {
                retransmit_at.min(timer_b)
            };
            match self.recv(wake).await {
                Some(response) => {
                    if cseq_of(&response) != Some((self.cseq, "INVITE".into())) {
                        continue;
                    }
                    if code_of(&response) >= 200 {
                        return Ok(InviteOutcome::Final(response));
                    }
                    ringing = true;
                }
                None if ringing => return Ok(InviteOutcome::NoAnswer),
                None if Instant::now() >= timer_b => {
                    return Err(status::timeout(format!(
                        "no response to INVITE from {}",
                        self.plan.trunk
                    )))
                }
                None => {
                    self.send(&request).await;
                    interval *= 2;
                    retransmit_at = Instant::now() + interval;
                }
            }
        }
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

    /// ACK of a non-2xx final response: part of the INVITE transaction (same branch).
    async fn ack_failure(&self, response: &Response) {
        let to = response.to_header().map(|t| t.value().to_string()).unwrap_or_default();
        let uri = self.plan.request_uri.clone();
        let ack = self.request(Method::Ack, &uri, &self.invite_branch, self.cseq, &to, "");
        self.send(&ack).await;
    }

    /// ACK of the 2xx: a new transaction inside the dialog, sent to the callee's Contact.
    async fn ack_answer(&self, target: &str, to: &str) {
        let ack = self.request(Method::Ack, target, &new_branch(), self.cseq, to, "");
        self.send(&ack).await;
    }

    /// CANCEL of the ringing INVITE, then the ACK of its 487 (or ACK + BYE if a 200 raced it).
    async fn cancel(&mut self) {
        let to = format!("<{}>", self.plan.request_uri);
        let uri = self.plan.request_uri.clone();
        let cancel = self.request(Method::Cancel, &uri, &self.invite_branch, self.cseq, &to, "");
        self.send(&cancel).await;
        let deadline = Instant::now() + CANCEL_WAIT;
        let mut interval = T1;
        let mut retransmit_at = Instant::now() + interval;
        let mut cancel_answered = false;
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
                self.send(&cancel).await;
                interval = (interval * 2).min(T2);
                retransmit_at = Instant::now() + interval;
                continue;
            };
            match cseq_of(&response) {
                Some((n, method)) if n == self.cseq && method == "CANCEL" => cancel_answered = true,
                Some((n, method)) if n == self.cseq && method == "INVITE" && code_of(&response) >= 200 => {
                    if (200..300).contains(&code_of(&response)) {
                        let to = response.to_header().map(|t| t.value().to_string()).unwrap_or_default();
                        let target = contact_uri(&response).unwrap_or_else(|| self.plan.request_uri.clone());
                        self.ack_answer(&target, &to).await;
                        self.bye(&target, &to).await;
                    } else {
                        self.ack_failure(&response).await;
                    }
                    return;
                }
                _ => {}
            }
        }
    }

    /// BYE, retransmitted (Timer E, capped at T2) until its final response or Timer F.
    async fn bye(&mut self, target: &str, to: &str) {
        self.cseq += 1;
        let bye = self.request(Method::Bye, target, &new_branch(), self.cseq, to, "");
        self.send(&bye).await;
        let timer_f = Instant::now() + 64 * T1;
        let mut interval = T1;
        let mut retransmit_at = Instant::now() + interval;
        loop {
            let Some(response) = self.recv(retransmit_at.min(timer_f)).await else {
                if Instant::now() >= timer_f {
                    tracing::warn!(call_id = %self.call_id, "BYE not answered");
                    return;
                }
                self.send(&bye).await;
                interval = (interval * 2).min(T2);
                retransmit_at = Instant::now() + interval;
                continue;
            };
            match cseq_of(&response) {
                Some((n, method)) if n == self.cseq && method == "BYE" && code_of(&response) >= 200 => return,
                // A retransmitted 200 to the INVITE: our ACK was lost, send it again.
                Some((n, method)) if n == self.cseq - 1 && method == "INVITE" && code_of(&response) < 300 => {
                    self.ack_answer(target, to).await;
                }
                _ => {}
            }
        }
    }
}
