//! INVITE handling: the call table entry, digest challenges, answer shapes (183 with or without
//! 100rel, 180 then 200) and PRACK (RFC 3262).

use super::*;

impl Server {
    pub(super) async fn on_invite(&mut self, request: Request, call_id: String, peer: Peer) -> Result<(), rsip::Error> {
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
    pub(super) async fn on_prack(&mut self, request: Request, call_id: String, peer: Peer) -> Result<(), rsip::Error> {
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
}
