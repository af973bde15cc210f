//! The SIP user agent server over UDP: one loop reads datagrams, answers INVITE / ACK / BYE /
//! CANCEL / OPTIONS per the configured behaviour, and hands answered calls to an RTP recorder task.
//!
//! Only what a callee under test needs: INVITE retransmissions (same Via branch) get the stored
//! response again; the 200 OK is not retransmitted until ACK (loopback does not lose datagrams).

use crate::behaviour::{Mode, Rules};
use crate::digest::{self, Algorithm};
use crate::report::{self, CallReport, Outcome};
use crate::rtp::Recorder;
use crate::sdp::{self, Codec};
use rsip::prelude::*;
use rsip::{Header, Method, Request, Response, SipMessage};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
        }
    }
}

struct Media {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Recorder>,
    codec: Codec,
}

enum CallState {
    /// ring-forever: waiting for a CANCEL of this INVITE.
    Ringing {
        invite: Box<Request>,
        branch: String,
    },
    Established {
        media: Media,
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
    socket: Arc<UdpSocket>,
    config: Arc<Config>,
    local: SocketAddr,
    /// INVITE transaction (Call-ID + branch) → the last response sent, resent verbatim on retransmission.
    invite_responses: HashMap<String, Vec<u8>>,
    calls: HashMap<String, Call>,
    nonces: HashSet<String>,
}

/// Serves SIP on `socket` until `shutdown` resolves.
pub async fn run(socket: UdpSocket, config: Config, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let local = socket.local_addr()?;
    let mut server = Server {
        socket: Arc::new(socket),
        config: Arc::new(config),
        local,
        invite_responses: HashMap::new(),
        calls: HashMap::new(),
        nonces: HashSet::new(),
    };
    let mut buf = vec![0u8; 65_535];
    tokio::pin!(shutdown);
    loop {
        let (len, peer) = tokio::select! {
            received = server.socket.recv_from(&mut buf) => received?,
            () = &mut shutdown => return Ok(()),
        };
        // Keep-alive CRLFs and garbage are dropped; a simulator should not die on them.
        let Ok(SipMessage::Request(request)) = SipMessage::try_from(&buf[..len]) else {
            continue;
        };
        if let Err(error) = server.handle(request, peer).await {
            eprintln!("sip-callee: {error}");
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
    let via = request.via_header().map(|v| v.value().to_string()).unwrap_or_default();
    via.split(';')
        .find_map(|p| p.trim().strip_prefix("branch="))
        .map(|b| format!("{call_id} {}", b.split(',').next().unwrap_or(b).trim()))
        .unwrap_or(call_id)
}

fn header_value(request: &Request, pick: impl Fn(&Header) -> Option<String>) -> String {
    request.headers.iter().find_map(pick).unwrap_or_default()
}

impl Server {
    async fn handle(&mut self, request: Request, peer: SocketAddr) -> Result<(), rsip::Error> {
        let call_id = request.call_id_header()?.value().to_string();
        match request.method {
            Method::Invite => self.on_invite(request, call_id, peer).await,
            Method::Ack => {
                // The ACK of a 2xx confirms the dialog; the ACK of a failure just ends the transaction.
                Ok(())
            }
            Method::Bye => self.on_bye(request, call_id, peer).await,
            Method::Cancel => self.on_cancel(request, call_id, peer).await,
            Method::Options => {
                self.send(&self.response(&request, 200, None, vec![], vec![]), peer)
                    .await
            }
            _ => {
                self.send(&self.response(&request, 501, None, vec![], vec![]), peer)
                    .await
            }
        }
    }

    async fn send(&self, response: &Response, peer: SocketAddr) -> Result<(), rsip::Error> {
        self.socket
            .send_to(response.to_string().as_bytes(), peer)
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
            headers.push(rsip::headers::Contact::new(format!("<sip:callee@{}>", self.local)).into());
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
    async fn reply_invite(&mut self, branch: &str, response: Response, peer: SocketAddr) -> Result<(), rsip::Error> {
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

    async fn on_invite(&mut self, request: Request, call_id: String, peer: SocketAddr) -> Result<(), rsip::Error> {
        let branch = branch_of(&request);
        if let Some(previous) = self.invite_responses.get(&branch) {
            let _ = self.socket.send_to(previous, peer).await;
            return Ok(());
        }
        if self.calls.contains_key(&call_id) {
            // Re-INVITEs inside a dialog (hold, session refresh) are out of scope for the simulator.
            let response = self.response(&request, 501, None, vec![], vec![]);
            return self.reply_invite(&branch, response, peer).await;
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
                self.answer(request, call_id.clone(), from.clone(), to.clone(), to_tag, peer)
                    .await
            }
            Mode::Busy | Mode::Reject(_) => {
                let code = if let Mode::Reject(code) = mode { code } else { 486 };
                let response = self.response(&request, code, Some(&to_tag), vec![], vec![]);
                self.reply_invite(&branch, response, peer).await?;
                self.log(outcome("rejected", code));
                Ok(())
            }
            Mode::RingForever => {
                self.send(&self.response(&request, 100, None, vec![], vec![]), peer)
                    .await?;
                let ringing = self.response(&request, 180, Some(&to_tag), vec![], vec![]);
                self.reply_invite(&branch, ringing, peer).await?;
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
                    return self.reply_invite(&branch, response, peer).await;
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
                    self.answer(request, call_id.clone(), from.clone(), to.clone(), to_tag, peer)
                        .await
                } else {
                    let response = self.response(&request, 403, Some(&to_tag), vec![], vec![]);
                    self.reply_invite(&branch, response, peer).await?;
                    self.log(outcome("auth_failed", 403));
                    Ok(())
                }
            }
        }
    }

    async fn answer(
        &mut self,
        request: Request,
        call_id: String,
        from: String,
        to: String,
        to_tag: String,
        peer: SocketAddr,
    ) -> Result<(), rsip::Error> {
        let branch = branch_of(&request);
        let offer = String::from_utf8_lossy(&request.body).into_owned();
        let Some(codec) = sdp::choose_codec(&offer) else {
            let response = self.response(&request, 488, Some(&to_tag), vec![], vec![]);
            self.reply_invite(&branch, response, peer).await?;
            self.log(Outcome {
                call_id,
                from,
                to,
                outcome: "unsupported_media",
                status: 488,
                report: None,
            });
            return Ok(());
        };
        let rtp = UdpSocket::bind((self.local.ip(), 0))
            .await
            .map_err(|e| rsip::Error::Unexpected(e.to_string()))?;
        let rtp_port = rtp
            .local_addr()
            .map_err(|e| rsip::Error::Unexpected(e.to_string()))?
            .port();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(receive_media(rtp, codec, stopped));

        self.send(&self.response(&request, 100, None, vec![], vec![]), peer)
            .await?;
        self.send(&self.response(&request, 180, Some(&to_tag), vec![], vec![]), peer)
            .await?;
        let body = sdp::answer(self.local.ip(), rtp_port, codec, rand::random::<u32>().into()).into_bytes();
        let content_type = rsip::headers::ContentType::new("application/sdp").into();
        let ok = self.response(&request, 200, Some(&to_tag), vec![content_type], body);
        self.reply_invite(&branch, ok, peer).await?;
        let state = CallState::Established {
            media: Media { stop, task, codec },
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

    async fn on_bye(&mut self, request: Request, call_id: String, peer: SocketAddr) -> Result<(), rsip::Error> {
        let Some(to_tag) = self.calls.get(&call_id).map(|call| call.to_tag.clone()) else {
            return self
                .send(&self.response(&request, 481, None, vec![], vec![]), peer)
                .await;
        };
        let ok = self.response(&request, 200, Some(&to_tag), vec![], vec![]);
        let Some(call) = self.calls.get_mut(&call_id) else {
            return Ok(());
        };
        let CallState::Established { .. } = call.state else {
            // A retransmitted BYE (or BYE of an unanswered call) is simply acknowledged.
            return self.send(&ok, peer).await;
        };
        let CallState::Established { media } = std::mem::replace(&mut call.state, CallState::Ended) else {
            unreachable!("checked above")
        };
        let (from, to) = (call.from.clone(), call.to.clone());
        let (socket, config) = (self.socket.clone(), self.config.clone());
        // Finalise off the loop, and only then say 200 OK, so the files exist when the caller sees it.
        tokio::spawn(async move {
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
                bye_received: true,
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
                    outcome: "answered",
                    status: 200,
                    report: Some(report),
                };
                if let Err(error) = report::append_line(path, &line) {
                    eprintln!("sip-callee: cannot write {}: {error}", path.display());
                }
            }
            let _ = socket.send_to(ok.to_string().as_bytes(), peer).await;
        });
        Ok(())
    }

    async fn on_cancel(&mut self, request: Request, call_id: String, peer: SocketAddr) -> Result<(), rsip::Error> {
        let branch = branch_of(&request);
        let ringing = match self.calls.get_mut(&call_id) {
            Some(call) if matches!(&call.state, CallState::Ringing { branch: b, .. } if *b == branch) => call,
            _ => {
                return self
                    .send(&self.response(&request, 481, None, vec![], vec![]), peer)
                    .await
            }
        };
        let CallState::Ringing { invite, .. } = std::mem::replace(&mut ringing.state, CallState::Ended) else {
            unreachable!("matched above")
        };
        let (from, to, to_tag) = (ringing.from.clone(), ringing.to.clone(), ringing.to_tag.clone());
        self.send(&self.response(&request, 200, Some(&to_tag), vec![], vec![]), peer)
            .await?;
        let terminated = self.response(&invite, 487, Some(&to_tag), vec![], vec![]);
        self.reply_invite(&branch, terminated, peer).await?;
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

fn write_recording(dir: &std::path::Path, report: &CallReport, samples: &[i16]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let stem = report::file_stem(&report.call_id);
    crate::wav::write_file(&dir.join(format!("{stem}.wav")), samples, 8000)?;
    std::fs::write(dir.join(format!("{stem}.json")), serde_json::to_vec_pretty(report)?)
}

async fn receive_media(socket: UdpSocket, codec: Codec, mut stop: oneshot::Receiver<()>) -> Recorder {
    let mut recorder = Recorder::default();
    let mut buf = [0u8; 2048];
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                if let Ok((len, _)) = received {
                    recorder.record(&buf[..len], codec);
                }
            }
            _ = &mut stop => break,
        }
    }
    // Whatever arrived before the BYE is already queued on the socket: take it too.
    while let Ok((len, _)) = socket.try_recv_from(&mut buf) {
        recorder.record(&buf[..len], codec);
    }
    recorder
}
