//! The number actor's part in fallback: what a send leaves in the store (its message, the rest of
//! its plan and when that is due), leasing a plan early on a negative receipt, and running a
//! leased step ([`RunFallback`], from [`crate::scheduler`]), also after a restart.
use super::*;

/// A message a carrier accepted but has not confirmed: if a negative receipt arrives, or no
/// positive one within `fallback_after_seconds`, the same code goes out on the next step.
pub(super) struct Fallback {
    pub(super) request_id: String,
    pub(super) carrier: String,
    pub(super) remaining: Vec<Step>,
    pub(super) message: OutboundMessage,
}

/// What a send needs beyond its steps to write its message again after a restart.
#[derive(Clone)]
pub(super) struct Resume {
    pub(super) country: String,
    pub(super) webotp_host: Option<String>,
    pub(super) code_length: u32,
}

/// The stored message's change a receipt makes: its final state.
fn outcome_of(report: &DeliveryReport) -> DeliveryChange {
    DeliveryChange::Outcome {
        carrier: report.carrier.clone(),
        carrier_message_id: report.carrier_message_id.clone(),
        state: match report.delivery {
            Delivery::Delivered => MessageState::Delivered,
            Delivery::Failed => MessageState::Failed,
        },
    }
}

/// The id a message is stored under: the spelling the gateway matches receipts by.
fn stored_id(channel: Channel, carrier_message_id: &str) -> String {
    match channel {
        Channel::Sms => otpgate_smpp::receipt::canonical(carrier_message_id),
        _ => carrier_message_id.to_owned(),
    }
}

impl NumberActor {
    /// What a walk of the plan that ended with `result` leaves in the store: the message a
    /// carrier accepted, and the rest of the plan due when its receipt is overdue (a negative
    /// receipt that overtook the answer runs it at once), or no plan when it was delivered or
    /// nothing is left. A newer send for the number replaces an older plan. Nothing for a walk
    /// that put nothing out (an older plan, if any, still stands). `folded`: receipts of the
    /// verification that overtook this answer ([`super::receipts::Receipts::fold`]); their
    /// messages' outcomes are written with it. `first_send`: the walk of a verification's first
    /// send, which can have no plan stored yet.
    pub(super) fn follow_up(
        &mut self,
        ctx: &mut Context<Self>,
        request_id: &str,
        result: &SendResult,
        (remaining, message, resume): (Vec<Step>, OutboundMessage, Resume),
        folded: &[DeliveryReport],
        first_send: bool,
    ) -> Vec<DeliveryChange> {
        let SendResult::Accepted {
            channel,
            carrier,
            delivered,
            message_id,
            ..
        } = result
        else {
            return folded.iter().map(outcome_of).collect();
        };
        let now = now_ms();
        let sent_id = stored_id(*channel, message_id);
        // A folded receipt of another message (an earlier send's) settles that message's row.
        let mut changes: Vec<DeliveryChange> = folded
            .iter()
            .filter(|r| r.carrier != *carrier || stored_id(r.channel, &r.carrier_message_id) != sent_id)
            .map(outcome_of)
            .collect();
        let early = folded
            .iter()
            .find(|r| r.carrier == *carrier)
            .map(|r| r.delivery)
            .or_else(|| self.receipts.take_early(request_id, carrier));
        let state = match (delivered, early) {
            (true, _) | (_, Some(Delivery::Delivered)) => MessageState::Delivered,
            (_, Some(Delivery::Failed)) => MessageState::Failed,
            _ => MessageState::Accepted,
        };
        changes.push(DeliveryChange::Sent(StoredMessage {
            carrier: carrier.clone(),
            carrier_message_id: sent_id,
            request_id: request_id.to_owned(),
            application: self.key.0.clone(),
            phone: self.key.1.clone(),
            channel: *channel,
            state,
            sent_at_ms: now,
        }));
        if self.fallback.as_ref().is_some_and(|f| f.request_id != request_id) || state == MessageState::Delivered {
            self.fallback = None;
        }
        if remaining.is_empty() || state == MessageState::Delivered {
            // A verification's first send has no plan stored to remove (plans are stored by
            // request id, and this one is new): one statement less per message.
            if !first_send {
                changes.push(DeliveryChange::Disarm {
                    request_id: request_id.to_owned(),
                });
            }
            return changes;
        }
        // A call reports only after its prompt played: never fall back while it is still speaking.
        let outcome_within = self
            .parts
            .router
            .carriers()
            .find(|gateway| gateway.name() == carrier)
            .and_then(|gateway| gateway.outcome_within(&message));
        let wait =
            Duration::from_secs(self.parts.policy.fallback_after_seconds).max(outcome_within.unwrap_or_default());
        changes.push(DeliveryChange::Arm(PendingFallback {
            request_id: request_id.to_owned(),
            application: self.key.0.clone(),
            phone: self.key.1.clone(),
            due_at_ms: now + wait.as_millis() as i64,
            from_channel: *channel,
            from_carrier: carrier.clone(),
            country: resume.country,
            locale: message.locale.clone(),
            webotp_host: resume.webotp_host,
            code_length: resume.code_length,
            steps: remaining
                .iter()
                .map(|step| PlannedStep {
                    channel: step.channel,
                    carrier: step.gateway.name().to_owned(),
                })
                .collect(),
        }));
        self.fallback = Some(Fallback {
            request_id: request_id.to_owned(),
            carrier: carrier.clone(),
            remaining,
            message,
        });
        if state == MessageState::Failed {
            // Claimed after the plan is stored: the writer applies both in call order.
            self.claim_now(ctx, request_id, carrier, "negative_receipt");
        }
        changes
    }

    /// A negative receipt came for the message of `carrier` the plan of `request_id` waits for:
    /// lease the plan now instead of at its due time, and run it if no one else holds it.
    pub(super) fn claim_now(&mut self, ctx: &mut Context<Self>, request_id: &str, carrier: &str, reason: &'static str) {
        let store = self.parts.store.clone();
        let (request_id, carrier) = (request_id.to_owned(), carrier.to_owned());
        self.in_flight += 1;
        ctx.spawn(
            async move {
                store
                    .claim_fallback(&request_id, &carrier, scheduler::claimant(), now_ms(), LEASE_MS)
                    .await
            }
            .into_actor(self)
            .map(move |claimed, act, ctx| {
                act.in_flight -= 1;
                match claimed {
                    Ok(Some(plan)) => act.fall_back(ctx, plan, reason),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "could not lease a fallback"),
                }
            }),
        );
    }

    /// Runs the next step of a leased plan: the same code on the next step, if the verification
    /// is still pending and no message of it arrived. After a restart (the clear code went with
    /// the old process) the steps are found again by carrier name and a fresh code goes out.
    /// The lease ends with the commit of the step's outcome (the next plan, or none).
    pub(super) fn fall_back(&mut self, ctx: &mut Context<Self>, plan: PendingFallback, reason: &'static str) {
        let now = now_ms();
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let request_id = plan.request_id.clone();
        let held = self
            .fallback
            .take()
            .filter(|f| f.request_id == request_id && f.carrier == plan.from_carrier);
        let disarm = vec![DeliveryChange::Disarm {
            request_id: request_id.clone(),
        }];
        if !state.wants_fallback(&request_id, now) {
            let commit = self.persist(Vec::new(), disarm);
            ctx.spawn(Self::logged(commit, "could not store a finished fallback").into_actor(self));
            return;
        }
        let mut records = Vec::new();
        let (remaining, message) = match held {
            Some(held) => (held.remaining, held.message),
            None => {
                let Some((code, changed)) = state.code_for_fallback(&request_id, plan.code_length, &self.parts.secret)
                else {
                    return;
                };
                records.extend(changed);
                let carriers: Vec<_> = self.parts.router.carriers().cloned().collect();
                let steps: Vec<Step> = plan
                    .steps
                    .iter()
                    .filter_map(|s| {
                        let gateway = carriers.iter().find(|g| g.name() == s.carrier)?;
                        Some(Step {
                            channel: s.channel,
                            gateway: gateway.clone(),
                        })
                    })
                    .collect();
                let mut text = templates::render(&plan.locale, &plan.application, &code);
                if let Some(host) = &plan.webotp_host {
                    text = format!("{text}\n\n@{host} #{code}");
                }
                let message = OutboundMessage {
                    request_id: request_id.clone(),
                    application: plan.application.clone(),
                    to: plan.phone.clone(),
                    channel: steps.first().map_or(Channel::Sms, |s| s.channel),
                    text,
                    code,
                    locale: plan.locale.clone(),
                };
                (steps, message)
            }
        };
        // The code the step sends, when it replaced the stored MAC (the clear code was lost).
        let new_code = (!records.is_empty()).then(|| message.code.clone());
        if !remaining.iter().any(|step| self.parts.router.is_up(&*step.gateway)) {
            // Every carrier left is down (or not bound yet after a restart): spending the plan
            // now would lose it, so it waits a little, while the verification is pending.
            let again = PendingFallback {
                due_at_ms: now + CARRIERS_DOWN_RETRY_MS,
                ..plan
            };
            if !records.is_empty() || self.fallback.is_none() {
                self.fallback = Some(Fallback {
                    request_id: request_id.clone(),
                    carrier: again.from_carrier.clone(),
                    remaining,
                    message,
                });
            }
            let decide = self.fallback_write(request_id, new_code, records, vec![DeliveryChange::Arm(again)], None);
            let commit = self.contested(ctx, decide);
            ctx.spawn(Self::logged(commit, "could not store a postponed fallback").into_actor(self));
            return;
        }
        let (from, from_carrier, country) = (plan.from_channel, plan.from_carrier.clone(), plan.country.clone());
        let resume = Resume {
            country: country.clone(),
            webotp_host: plan.webotp_host.clone(),
            code_length: plan.code_length,
        };
        tracing::info!(%request_id, carrier = %from_carrier, reason, "falling back to the next step");
        if reason == "no_receipt" {
            // A negative receipt was already counted when it arrived; silence counts here.
            self.parts.router.record(&from_carrier, &country, false);
        }
        self.in_flight += 1;
        let started = Instant::now();
        let router = self.parts.router.clone();
        let deadline = started + self.budget();
        ctx.spawn(
            routing::deliver(router, remaining, message.clone(), country, started, deadline)
                .into_actor(self)
                .then(
                    move |Delivered {
                              result,
                              remaining,
                              skipped,
                          },
                          act,
                          ctx| {
                        act.skipped.extend(skipped);
                        if let SendResult::Accepted { channel, .. } = &result {
                            m::fallback(from, *channel, reason);
                        }
                        let mut delivery =
                            act.follow_up(ctx, &request_id, &result, (remaining, message, resume), &[], false);
                        if delivery.is_empty() {
                            // Nothing took it: the plan is spent.
                            delivery = disarm;
                        }
                        let outcome = (from, from_carrier, reason, result);
                        let decide = act.fallback_write(request_id, new_code, records, delivery, Some(outcome));
                        let commit = act.contested(ctx, decide);
                        Self::logged(commit, "could not store a fallback")
                            .into_actor(act)
                            .map(|_, act, _| act.in_flight -= 1)
                    },
                ),
        );
    }

    /// A fallback's write, made again on fresh data when another node's write came first: the
    /// code it sent (when it replaced the MAC) and what the step did are applied to the stored
    /// record again.
    fn fallback_write(
        &self,
        request_id: String,
        new_code: Option<String>,
        records: Vec<Verification>,
        delivery: Vec<DeliveryChange>,
        outcome: Option<(Channel, String, &'static str, SendResult)>,
    ) -> Decide<()> {
        let secret = self.parts.secret.clone();
        let mut first = Some(records);
        Box::new(move |state, _| {
            let mut records = first.take().unwrap_or_else(|| {
                let code = new_code.as_deref();
                code.and_then(|code| state.adopt_code(&request_id, code, &secret))
                    .into_iter()
                    .collect()
            });
            if let Some((from, from_carrier, reason, result)) = &outcome {
                records.retain(|v| v.request_id != request_id);
                let changed = state.on_fallback(&request_id, (*from, from_carrier, reason), result, now_ms());
                records.extend(changed);
            }
            Decision {
                value: (),
                records,
                delivery: delivery.clone(),
                head: None,
                session: None,
            }
        })
    }

    /// Awaits a commit nobody waits for, logging a failure.
    pub(super) async fn logged<E: std::fmt::Display>(
        commit: impl std::future::Future<Output = Result<(), E>>,
        what: &'static str,
    ) {
        if let Err(e) = commit.await {
            tracing::error!(error = %e, "{what}");
        }
    }
}

impl Handler<RunFallback> for NumberActor {
    type Result = ();

    fn handle(&mut self, msg: RunFallback, ctx: &mut Context<Self>) {
        self.last_active = Instant::now();
        if self.state.is_none() {
            // The lease runs out and the scheduler hands the plan out again.
            self.not_loaded(ctx);
            return;
        }
        self.fall_back(ctx, msg.0, "no_receipt");
    }
}
