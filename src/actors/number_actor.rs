//! The actor that owns one number: every send and check for (application, number) passes
//! through it in arrival order, so limits and single use hold without locks.
//!
//! State changes happen synchronously in the handler (so the next message already sees them);
//! the reply waits until the changed records are durable. Carrier calls run as futures beside
//! the mailbox, so a slow carrier never stalls checks for the same number.
#[path = "number_actor_fallback.rs"]
mod fallback;

use super::NumberKey;
use crate::config::VerificationPolicy;
use crate::engine::{now_ms, Engine, EngineError};
use crate::metrics as m;
use crate::number_state::{
    BlockReason, CheckResult, NumberState, RiskActions, SendRequest, SendResult, SendStart, DAY_MS,
};
use crate::routing::{self, Delivered, Plan, Step};
use crate::scheduler::{self, LEASE_MS};
use crate::store::{
    DeliveryChange, MessageState, PendingFallback, PlannedStep, SessionUpdate, StoreError, StoredMessage,
};
use crate::templates;
use crate::verification::Verification;
use actix::prelude::*;
use fallback::{Fallback, Resume};
use otpgate_gateway::{Channel, Delivery, DeliveryReport, OutboundMessage};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An actor stops after this long without messages, even with a code pending: actors are a
/// cache of the store (issue 17: 1M pending verifications must not mean 1M live actors). The
/// next message for the number starts a fresh actor, which reloads the history.
const IDLE_AFTER: Duration = Duration::from_secs(30);
/// Overrides [`IDLE_AFTER`] (milliseconds) for tests and benchmarks that watch eviction happen.
pub const IDLE_AFTER_ENV: &str = "OTPGATE_ACTOR_IDLE_MS";
/// The soonest an actor that could not stop looks again.
const IDLE_RECHECK_MIN: Duration = Duration::from_secs(1);
/// How long a due fallback whose carriers are all down waits before it is tried again.
const CARRIERS_DOWN_RETRY_MS: i64 = 1_000;
/// The longest a code can stay valid: a workflow may set `code_validity_seconds` up to a day, so
/// an actor loads that much more history than the last 24 h of sends.
const LONGEST_VALIDITY_MS: i64 = DAY_MS;

/// Path A: turns a verification as it stands after a send, check or review into its session's
/// change. The actor commits that change with the verification records it changed, in one
/// transaction ([`crate::store::Store::update_session`]). `None`: the session does not change.
pub type SessionHook = Arc<dyn Fn(Option<&Verification>, i64) -> Option<SessionUpdate> + Send + Sync>;

/// What a send from a hosted session adds to a path B send.
#[derive(Clone)]
pub struct HostedSend {
    /// The engine's policy with the workflow's limits.
    pub policy: VerificationPolicy,
    /// The page's host (`host[:port]`), for the WebOTP line `@host #code` that lets the browser
    /// offer the code from the SMS (WICG WebOTP, "origin-bound one-time codes").
    pub webotp_host: String,
    pub session: SessionHook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    Success,
    Retry,
    Blocked,
    Undeliverable,
}

#[derive(Debug, Clone)]
pub struct SendOutcome {
    pub request_id: String,
    pub status: SendStatus,
    pub reason: Option<BlockReason>,
    pub channel: Option<Channel>,
}

#[derive(Message, Clone)]
#[rtype(result = "Result<SendOutcome, EngineError>")]
pub struct SendCode {
    pub request: SendRequest,
    pub received: Instant,
    /// Set when the send comes from a hosted session.
    pub hosted: Option<HostedSend>,
}

/// A code check. Deliberately not `Debug`: it carries the candidate code.
#[derive(Message, Clone)]
#[rtype(result = "Result<CheckOutcome, EngineError>")]
pub struct CheckCode {
    pub code: String,
    pub actions: RiskActions,
    /// The application's blocklist entry matching the number, if it was listed after the send.
    pub blocklisted: Option<crate::blocklist::Entry>,
    /// Set when the check comes from a hosted session.
    pub session: Option<SessionHook>,
}

/// A person settled a verification In Review (`PATCH /v3/session/{id}/update-status/`).
/// Answers whether the session changed (false: not In Review, or changed meanwhile).
#[derive(Message, Clone)]
#[rtype(result = "Result<bool, EngineError>")]
pub struct ResolveReview {
    /// The verification as stored; the actor's own copy wins when it still holds it.
    pub verification: Verification,
    pub approve: bool,
    /// Who decided and why, for the lifecycle entry.
    pub details: serde_json::Value,
    pub session: SessionHook,
}

/// The scheduler leased this number's fallback ([`crate::store::Store::claim_fallbacks`]): run
/// its next step, unless the verification no longer needs it.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct RunFallback(pub PendingFallback);

/// A carrier's receipt for one of this number's messages.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), EngineError>")]
pub struct DeliveryReceipt(pub DeliveryReport);

#[derive(Debug, Clone)]
pub struct CheckOutcome {
    pub result: CheckResult,
    /// The verification as it stands after the check (none when nothing was ever sent).
    pub verification: Option<Verification>,
}

pub struct NumberActor {
    key: NumberKey,
    engine: Arc<Engine>,
    /// `None` until the history is loaded, or if loading failed.
    state: Option<NumberState>,
    in_flight: usize,
    last_active: Instant,
    /// The rest of the current verification's plan with its message (and clear code), while this
    /// actor holds them; the store holds the plan too, and the scheduler says when it is due.
    fallback: Option<Fallback>,
    /// Early outcomes and settled messages ([`super::receipts::Receipts`]).
    receipts: super::receipts::Receipts,
    /// Channels a carrier said this number cannot get messages on (not on WhatsApp, not
    /// RCS-capable): later sends skip them while the actor lives.
    skipped: Vec<Channel>,
}

impl NumberActor {
    pub fn new(key: NumberKey, engine: Arc<Engine>) -> Self {
        Self {
            key,
            engine,
            state: None,
            in_flight: 0,
            last_active: Instant::now(),
            fallback: None,
            receipts: Default::default(),
            skipped: Vec::new(),
        }
    }

    /// How long a send may wait for a throttled carrier before it moves on: the time it would
    /// wait for a receipt, and never past the code's validity.
    fn budget(&self) -> Duration {
        let policy = &self.engine.policy;
        Duration::from_secs(policy.fallback_after_seconds)
            .min(Duration::from_millis(policy.code_validity_ms.max(0) as u64))
    }

    /// Stops the actor when nothing is in flight, no fallback plan is held in memory and no
    /// message came for [`idle_after`]; a pending code does not keep it (the store has the
    /// verification, its messages and its plan; the scheduler leases due plans and a receipt
    /// finds its message in the store). A held plan keeps the actor until its receipt or its due
    /// time (at most `fallback_after_seconds`), so the fallback carries the code already sent
    /// rather than a fresh one. Otherwise looks again at the first moment it could stop. One
    /// timer per actor that fires about once per life, not a periodic check: with 100,000s of
    /// pending verifications a periodic one made every send pay for the others' wake-ups (issue
    /// 11: the send rate fell as pending verifications piled up).
    fn stop_if_idle(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let idle_at = self.last_active + idle_after();
        if self.in_flight == 0 && self.fallback.is_none() && now >= idle_at {
            self.engine.registry.remove(&self.key, &ctx.address());
            ctx.stop();
            return;
        }
        let next = idle_at.saturating_duration_since(now).max(IDLE_RECHECK_MIN);
        ctx.run_later(next, Self::stop_if_idle);
    }

    /// Persists `changed` and `delivery` in one commit (enqueued now, in order) and returns a
    /// future that resolves once durable.
    fn persist(
        &self,
        changed: Vec<Verification>,
        delivery: Vec<DeliveryChange>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> {
        let commit = (!changed.is_empty() || !delivery.is_empty())
            .then(|| self.engine.store.save_with_delivery(changed, delivery));
        async move {
            match commit {
                Some(commit) => commit.await,
                None => Ok(()),
            }
        }
    }

    /// Like [`Self::persist`], and when `hook` turns `verification` into a session change, commits
    /// that change with the records in the same transaction. Resolves to whether a session
    /// change was written.
    fn persist_with_session(
        &self,
        changed: Vec<Verification>,
        delivery: Vec<DeliveryChange>,
        hook: Option<&SessionHook>,
        verification: Option<&Verification>,
    ) -> impl std::future::Future<Output = Result<bool, StoreError>> {
        let update = hook.and_then(|hook| hook(verification, now_ms()));
        let (plain, applied) = match update {
            None => (Some(self.persist(changed, delivery)), None),
            Some(update) => {
                let update = SessionUpdate {
                    records: changed,
                    ..update
                };
                (
                    None,
                    Some(self.engine.store.update_session_with_delivery(update, delivery)),
                )
            }
        };
        async move {
            match (plain, applied) {
                (_, Some(applied)) => applied.await,
                (Some(plain), None) => plain.await.map(|_| false),
                (None, None) => Ok(false),
            }
        }
    }

    fn not_loaded(&mut self, ctx: &mut Context<Self>) -> EngineError {
        // Loading failed: stop, so the next request starts a fresh actor that retries the load.
        self.engine.registry.remove(&self.key, &ctx.address());
        ctx.stop();
        EngineError::Store(StoreError::Unavailable("could not load this number's history".into()))
    }
}

impl Actor for NumberActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let store = self.engine.store.clone();
        let (application, phone) = self.key.clone();
        let since = now_ms() - DAY_MS - self.engine.policy.code_validity_ms.max(LONGEST_VALIDITY_MS);
        // `wait` holds the mailbox until the history is loaded: no message sees a blank state.
        ctx.wait(
            async move { store.load_for_actor(&application, &phone, since).await }
                .into_actor(self)
                .map(|loaded, act, _| match loaded {
                    Ok((history, approvals)) => {
                        act.state = Some(NumberState::from_history(history, approvals, now_ms()))
                    }
                    Err(e) => tracing::error!(error = %e, "cannot load number history"),
                }),
        );
        ctx.run_later(idle_after(), Self::stop_if_idle);
    }
}

/// [`IDLE_AFTER`], or the milliseconds in [`IDLE_AFTER_ENV`] when set (read once).
fn idle_after() -> Duration {
    static IDLE: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *IDLE.get_or_init(|| {
        std::env::var(IDLE_AFTER_ENV)
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(IDLE_AFTER, Duration::from_millis)
    })
}

impl Handler<SendCode> for NumberActor {
    type Result = ResponseActFuture<Self, Result<SendOutcome, EngineError>>;

    fn handle(&mut self, msg: SendCode, ctx: &mut Context<Self>) -> Self::Result {
        self.last_active = Instant::now();
        let Some(state) = self.state.as_mut() else {
            let error = self.not_loaded(ctx);
            return Box::pin(fut::ready(Err(error)));
        };
        let engine = self.engine.clone();
        let started_ms = now_ms();
        let policy = msg.hosted.as_ref().map_or(&engine.policy, |h| &h.policy);
        let (start, changed) = state.begin_send(&msg.request, policy, &engine.secret, started_ms);
        let hook = msg.hosted.as_ref().map(|h| h.session.clone());
        let (request_id, code, resend) = match start {
            SendStart::Blocked { request_id, reason } => {
                metrics::counter!(m::VERIFICATIONS, "status" => "blocked").increment(1);
                metrics::counter!(m::SENDS_BLOCKED, "reason" => reason.as_str()).increment(1);
                m::send_refused(m::block_cause(reason.as_str(), msg.request.high_risk.as_ref()));
                self.in_flight += 1;
                let declined = state.current().filter(|v| v.request_id == request_id).cloned();
                let earlier = self.persist_with_session(changed, Vec::new(), hook.as_ref(), declined.as_ref());
                let outcome = SendOutcome {
                    request_id,
                    status: SendStatus::Blocked,
                    reason: Some(reason),
                    channel: None,
                };
                return Box::pin(
                    async move { earlier.await.map(|_| outcome).map_err(EngineError::from) }
                        .into_actor(self)
                        .map(|result, act, _| {
                            act.in_flight -= 1;
                            result
                        }),
                );
            }
            SendStart::Deliver {
                request_id,
                code,
                resend,
            } => (request_id, code, resend),
        };
        let earlier = self.persist(changed, Vec::new());

        let request = &msg.request;
        let plan = engine.router.plan(&request.number, request.channel, request.preferred);
        let all_down = matches!(plan, Plan::AllDown);
        let mut steps = match plan {
            Plan::Route(steps) => steps,
            Plan::AllDown | Plan::NoRoute => Vec::new(),
        };
        steps.retain(|step| !self.skipped.contains(&step.channel));
        let message = OutboundMessage {
            request_id: request_id.clone(),
            application: request.application.clone(),
            to: request.number.full_number.clone(),
            channel: steps.first().map_or(Channel::Sms, |s| s.channel),
            text: match &msg.hosted {
                Some(hosted) => format!(
                    "{}\n\n@{} #{code}",
                    templates::render(&request.locale, &request.application, &code),
                    hosted.webotp_host
                ),
                None => templates::render(&request.locale, &request.application, &code),
            },
            code,
            locale: request.locale.clone(),
        };
        let country = request.number.country_code.clone().unwrap_or_else(|| "unknown".into());
        let resume = Resume {
            country: country.clone(),
            webotp_host: msg.hosted.as_ref().map(|h| h.webotp_host.clone()),
            code_length: request.code_length,
        };
        self.in_flight += 1;
        let deadline = msg.received + self.budget();
        let delivery = routing::deliver(
            engine.router.clone(),
            steps,
            message.clone(),
            country.clone(),
            msg.received,
            deadline,
        );
        Box::pin(
            async move {
                earlier.await?;
                Ok::<_, EngineError>(delivery.await)
            }
            .into_actor(self)
            .then(move |delivered, act, ctx| {
                let finished = delivered.map(
                    |Delivered {
                         result,
                         remaining,
                         skipped,
                     }| {
                        act.skipped.extend(skipped);
                        let state = act.state.as_mut().expect("loaded before any send");
                        let changed = state.finish_send(&request_id, started_ms, &result, now_ms());
                        let delivery = act.follow_up(ctx, &request_id, &result, (remaining, message, resume));
                        let commit = act.persist_with_session(
                            changed.iter().cloned().collect(),
                            delivery,
                            hook.as_ref(),
                            changed.as_ref(),
                        );
                        (result, commit)
                    },
                );
                async move {
                    let (result, commit) = finished?;
                    commit.await?;
                    let (status, channel) = match result {
                        SendResult::Accepted { channel, .. } => {
                            if !resend {
                                metrics::counter!(m::VERIFICATIONS, "status" => "started").increment(1);
                            }
                            (
                                if resend { SendStatus::Retry } else { SendStatus::Success },
                                Some(channel),
                            )
                        }
                        SendResult::Undeliverable { .. } if all_down => return Err(EngineError::ProvidersUnavailable),
                        SendResult::Undeliverable { .. } => {
                            metrics::counter!(m::VERIFICATIONS, "status" => "undeliverable").increment(1);
                            (SendStatus::Undeliverable, None)
                        }
                    };
                    Ok(SendOutcome {
                        request_id,
                        status,
                        reason: None,
                        channel,
                    })
                }
                .into_actor(act)
            })
            .map(|result, act, _| {
                act.in_flight -= 1;
                result
            }),
        )
    }
}

impl Handler<CheckCode> for NumberActor {
    type Result = ResponseActFuture<Self, Result<CheckOutcome, EngineError>>;

    fn handle(&mut self, msg: CheckCode, ctx: &mut Context<Self>) -> Self::Result {
        self.last_active = Instant::now();
        let Some(state) = self.state.as_mut() else {
            let error = self.not_loaded(ctx);
            return Box::pin(fut::ready(Err(error)));
        };
        let now = now_ms();
        // Listed after the code went out: the pending verification is declined, not approved.
        let mut changed: Vec<_> = msg
            .blocklisted
            .as_ref()
            .and_then(|entry| {
                let data = serde_json::json!({ entry.kind.as_str(): entry.value });
                state.decline_pending(crate::verification::Risk::PhoneNumberInBlocklist, data, now)
            })
            .into_iter()
            .collect();
        let (result, checked) = state.check(&msg.code, msg.actions, &self.engine.secret, now);
        changed.extend(checked);
        let status = match result {
            CheckResult::Approved => Some("approved"),
            CheckResult::InReview => Some("in_review"),
            CheckResult::Declined if changed.iter().any(|v| v.state == crate::verification::State::Declined) => {
                Some("declined")
            }
            _ => None,
        };
        if let Some(status) = status {
            metrics::counter!(m::VERIFICATIONS, "status" => status).increment(1);
        }
        let completed = matches!(result, CheckResult::Approved)
            .then(|| state.current().cloned())
            .flatten();
        // A check of the pending verification is written only over the version this actor read:
        // another node's actor for the same number may have counted an attempt or approved it
        // meanwhile, and then this one must not (it stops, and the retried request reloads).
        let contested = msg.session.is_none()
            && changed.len() == 1
            && state.current().is_some_and(|v| v.request_id == changed[0].request_id);
        if contested {
            let record = changed.pop().expect("one record");
            state.stored_one_up(&record.request_id);
            let outcome = CheckOutcome {
                result,
                verification: state.current().cloned(),
            };
            let applied = self.engine.store.save_if_version(record, Vec::new());
            self.in_flight += 1;
            return Box::pin(applied.into_actor(self).map(move |applied, act, ctx| {
                act.in_flight -= 1;
                match applied {
                    Ok(true) => {
                        if let Some(v) = &completed {
                            m::completed(v);
                        }
                        Ok(outcome)
                    }
                    Ok(false) => {
                        tracing::warn!("a check lost to a newer version of its verification; reloading");
                        act.engine.registry.remove(&act.key, &ctx.address());
                        ctx.stop();
                        Err(EngineError::ActorGone)
                    }
                    Err(e) => Err(e.into()),
                }
            }));
        }
        if let Some(v) = &completed {
            m::completed(v);
        }
        let outcome = CheckOutcome {
            result,
            verification: state.current().cloned(),
        };
        let commit =
            self.persist_with_session(changed, Vec::new(), msg.session.as_ref(), outcome.verification.as_ref());
        self.in_flight += 1;
        Box::pin(
            async move { commit.await.map(|_| outcome).map_err(EngineError::from) }
                .into_actor(self)
                .map(|result, act, _| {
                    act.in_flight -= 1;
                    result
                }),
        )
    }
}

impl Handler<ResolveReview> for NumberActor {
    type Result = ResponseActFuture<Self, Result<bool, EngineError>>;

    fn handle(&mut self, msg: ResolveReview, ctx: &mut Context<Self>) -> Self::Result {
        self.last_active = Instant::now();
        let Some(state) = self.state.as_mut() else {
            let error = self.not_loaded(ctx);
            return Box::pin(fut::ready(Err(error)));
        };
        let Some(settled) = state.resolve_review(msg.verification, msg.approve, msg.details, now_ms()) else {
            return Box::pin(fut::ready(Ok(false)));
        };
        let status = if msg.approve { "approved" } else { "declined" };
        metrics::counter!(m::VERIFICATIONS, "status" => status).increment(1);
        if msg.approve {
            m::completed(&settled);
        }
        let commit = self.persist_with_session(vec![settled.clone()], Vec::new(), Some(&msg.session), Some(&settled));
        self.in_flight += 1;
        Box::pin(
            async move { commit.await.map_err(EngineError::from) }
                .into_actor(self)
                .map(|result, act, _| {
                    act.in_flight -= 1;
                    result
                }),
        )
    }
}

impl Handler<DeliveryReceipt> for NumberActor {
    type Result = ResponseFuture<Result<(), EngineError>>;

    fn handle(&mut self, msg: DeliveryReceipt, ctx: &mut Context<Self>) -> Self::Result {
        self.last_active = Instant::now();
        let Some(state) = self.state.as_mut() else {
            let error = self.not_loaded(ctx);
            return Box::pin(async move { Err(error) });
        };
        let report = msg.0;
        if !self.receipts.first_report(&report.carrier, &report.carrier_message_id) {
            return Box::pin(async { Ok(()) });
        }
        let now = now_ms();
        let wanted = state.wants_fallback(&report.request_id, now);
        let changed = state.on_delivery(&report.request_id, &report, now);
        let mut delivery = vec![DeliveryChange::Outcome {
            carrier: report.carrier.clone(),
            carrier_message_id: report.carrier_message_id.clone(),
            state: match report.delivery {
                Delivery::Delivered => MessageState::Delivered,
                Delivery::Failed => MessageState::Failed,
            },
        }];
        let held = self.fallback.as_ref().filter(|f| f.request_id == report.request_id);
        let waiting = held.is_some_and(|f| f.carrier == report.carrier);
        let in_flight = self.in_flight > 0 && changed.as_ref().is_some_and(|v| v.is_pending_at(now));
        if !waiting && in_flight {
            // Its send has not been answered yet; follow_up will look here.
            self.receipts
                .hold_early(&report.request_id, &report.carrier, report.delivery);
        }
        match report.delivery {
            // The code arrived: no more fallback for it, here or stored.
            Delivery::Delivered if changed.is_some() => {
                if held.is_some() {
                    self.fallback = None;
                }
                delivery.push(DeliveryChange::Disarm {
                    request_id: report.request_id.clone(),
                });
            }
            // The message the plan waits for failed. Without the plan in memory (sent before a
            // restart, or by another node) the stored plan says which message it waits for.
            Delivery::Failed if wanted && (waiting || held.is_none()) => {
                self.claim_now(ctx, &report.request_id, &report.carrier, "negative_receipt")
            }
            _ => {}
        }
        if let Some(v) = &changed {
            let country = v.number.country_code.clone().unwrap_or_else(|| "unknown".into());
            let delivered = report.delivery == Delivery::Delivered;
            self.engine.router.record(&report.carrier, &country, delivered);
            m::receipt(v, &report, now_ms());
            let channel = report.channel.as_str();
            match report.delivery {
                Delivery::Delivered => metrics::counter!(m::MESSAGES_DELIVERED, "channel" => channel,
                    "carrier" => report.carrier.clone(), "country" => country)
                .increment(1),
                Delivery::Failed => metrics::counter!(m::MESSAGES_FAILED, "channel" => channel,
                    "carrier" => report.carrier.clone(), "reason" => report.status.to_ascii_lowercase())
                .increment(1),
            }
        }
        let commit = self.persist(changed.into_iter().collect(), delivery);
        Box::pin(async move { commit.await.map_err(EngineError::from) })
    }
}
