//! After the answer: ACK, BYE in both directions (the callee's own BYE is a UDP client
//! transaction, RFC 3261 §17.1.2), CANCEL, and writing what the recorder got.

use super::*;

impl Server {
    pub(super) async fn on_bye(&mut self, request: Request, call_id: String, peer: Peer) -> Result<(), rsip::Error> {
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
    pub(super) fn on_ack(&mut self, call_id: &str) {
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
    pub(super) fn hang_up(&mut self, call_id: String, hangup: Box<Hangup>) {
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
    pub(super) fn on_response(&mut self, response: &Response) {
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

    pub(super) async fn on_cancel(&mut self, request: Request, call_id: String, peer: Peer) -> Result<(), rsip::Error> {
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
