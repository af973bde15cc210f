//! The actor that owns one number: every send and check for (application, number) passes
//! through it in arrival order, so limits and single use hold without locks.
//!
//! State changes happen synchronously in the handler (so the next message already sees them);
//! the reply waits until the changed records are durable. Carrier calls run as futures beside
//! the mailbox, so a slow carrier never stalls checks for the same number.
#[path = "number_actor_contested.rs"]
mod contested;
#[path = "number_actor_fallback.rs"]
mod fallback;
#[path = "number_actor_forget.rs"]
mod forget;

use super::NumberKey;
use super::{now_ms, EngineError};
use crate::config::VerificationPolicy;
use crate::metrics as m;
use crate::number_state::{
    BlockReason, CheckResult, NumberState, RiskActions, SendRequest, SendResult, SendStart, DAY_MS,
};
use crate::routing::{self, Delivered, Plan, Step};
use crate::scheduler::{self, LEASE_MS};
use crate::store::{
    DeliveryChange, Head, MessageState, PendingFallback, PlannedStep, SessionUpdate, StoreError, StoredMessage,
};
use crate::templates;
use crate::verification::Verification;
use actix::prelude::*;
use contested::{Decide, Decision};
use fallback::{Fallback, Resume};
pub use forget::Forget;
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

/// What a number's actor uses of the engine: wired once at start-up ([`crate::engine::Engine`]
/// holds it) and shared by every actor, so an actor depends on these parts, not on the engine.
pub struct ActorParts {
    pub policy: VerificationPolicy,
    pub store: Arc<dyn crate::store::Store>,
    pub secret: crate::code::CodeSecret,
    pub router: crate::routing::Router,
    /// Where the actor removes itself when it stops.
    pub registry: super::Registry,
}

pub struct NumberActor {
    key: NumberKey,
    /// What the actor uses of the engine, given through [`NumberActor::new`].
    parts: Arc<ActorParts>,
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
    pub fn new(key: NumberKey, parts: Arc<ActorParts>) -> Self {
        Self {
            key,
            parts,
            state: None,
            in_flight: 0,
            last_active: Instant::now(),
            fallback: None,
            receipts: Default::default(),
            skipped: Vec::new(),
        }
    }

    /// How far back the actor loads the number's history: the last 24 h of sends, and every code
    /// that could still be valid.
    fn history_since(&self) -> i64 {
        now_ms() - DAY_MS - self.parts.policy.code_validity_ms.max(LONGEST_VALIDITY_MS)
    }

    /// How long a send may wait for a throttled carrier before it moves on: the time it would
    /// wait for a receipt, and never past the code's validity.
    fn budget(&self) -> Duration {
        let policy = &self.parts.policy;
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
            self.parts.registry.remove(&self.key, &ctx.address());
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
            .then(|| self.parts.store.save_with_delivery(changed, delivery));
        async move {
            match commit {
                Some(commit) => commit.await,
                None => Ok(()),
            }
        }
    }

    fn not_loaded(&mut self, ctx: &mut Context<Self>) -> EngineError {
        // Loading failed: stop, so the next request starts a fresh actor that retries the load.
        self.parts.registry.remove(&self.key, &ctx.address());
        ctx.stop();
        EngineError::Store(StoreError::Unavailable("could not load this number's history".into()))
    }

    /// [`Self::not_loaded`] as a handler's answer, with the stop deferred until the answer is
    /// sent: actix drops a stopping actor's pending futures, this reply among them, and the
    /// caller would see "actor gone" (503 `busy`) instead of the store's 503.
    fn refuse_not_loaded<T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Result<T, EngineError>> {
        self.parts.registry.remove(&self.key, &ctx.address());
        Box::pin(fut::ready(()).map(|_, act: &mut Self, ctx: &mut Context<Self>| Err(act.not_loaded(ctx))))
    }
}

impl Actor for NumberActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let store = self.parts.store.clone();
        let (application, phone) = self.key.clone();
        let since = self.history_since();
        // `wait` holds the mailbox until the history is loaded: no message sees a blank state.
        ctx.wait(
            async move { store.load_for_actor(&application, &phone, since).await }
                .into_actor(self)
                .map(|loaded, act, _| match loaded {
                    Ok((history, approvals)) => {
                        act.state = Some(NumberState::from_history(history, approvals, now_ms()))
                    }
                    // Debug: the store outage itself is logged once, by `store::health`.
                    Err(e) => tracing::debug!(error = %e, "cannot load number history"),
                }),
        );
        ctx.run_later(idle_after(), Self::stop_if_idle);
    }
}

/// What [`NumberState::begin_send`] decided, as written: the start and when it was decided.
type Begun = (SendStart, i64);

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
        if self.state.is_none() {
            return self.refuse_not_loaded(ctx);
        }
        let decide = self.begin_send(&msg);
        let begun = self.contested(ctx, decide);
        self.in_flight += 1;
        Box::pin(
            begun
                .into_actor(self)
                .then(
                    move |begun, act, _| -> ResponseActFuture<Self, Result<SendOutcome, EngineError>> {
                        match begun {
                            Err(e) => Box::pin(fut::ready(Err(e))),
                            Ok((SendStart::Blocked { request_id, reason }, _)) => act.refused(msg, request_id, reason),
                            Ok((
                                SendStart::Deliver {
                                    request_id,
                                    code,
                                    resend,
                                },
                                started_ms,
                            )) => act.deliver(msg, request_id, code, resend, started_ms),
                        }
                    },
                )
                .map(|result, act, _| {
                    act.in_flight -= 1;
                    result
                }),
        )
    }
}

impl NumberActor {
    /// The send's decision: limits, a new verification or a resend. Made again on fresh data
    /// when another node's write came first (the earlier decision's send is forgotten then).
    fn begin_send(&self, msg: &SendCode) -> Decide<Begun> {
        let parts = self.parts.clone();
        let request = msg.request.clone();
        let policy = msg.hosted.as_ref().map_or(parts.policy, |h| h.policy);
        let (application, phone) = self.key.clone();
        let since = self.history_since();
        let hook = msg.hosted.as_ref().map(|h| h.session.clone());
        let mut decided: Option<String> = None;
        Box::new(move |state, _| {
            if let Some(request_id) = decided.take() {
                state.forget_send(&request_id);
            }
            let started_ms = now_ms();
            let known = state.current().map(|v| (v.request_id.clone(), v.created_at_ms));
            let (start, records) = state.begin_send(&request, &policy, &parts.secret, started_ms);
            // A refusal's new record needs no head: two nodes may both refuse.
            let starts_new = matches!(start, SendStart::Deliver { .. })
                && records
                    .iter()
                    .any(|v| v.version == 0 && known.as_ref().is_none_or(|(id, _)| *id != v.request_id));
            let head = starts_new.then(|| Head {
                application: application.clone(),
                phone: phone.clone(),
                since_ms: known.as_ref().map_or(since, |(_, created)| *created),
                known: known.map(|(id, _)| id),
            });
            let declined = match &start {
                SendStart::Deliver { request_id, .. } => {
                    decided = Some(request_id.clone());
                    None
                }
                SendStart::Blocked { request_id, .. } => {
                    state.current().filter(|v| v.request_id == *request_id).cloned()
                }
            };
            // A refused send's session follows it in the same commit (declined for risk).
            let session = hook
                .as_ref()
                .filter(|_| matches!(start, SendStart::Blocked { .. }))
                .and_then(|hook| hook(declined.as_ref(), now_ms()));
            Decision {
                value: (start, started_ms),
                records,
                delivery: Vec::new(),
                head,
                session,
            }
        })
    }

    /// A refused send, written (with its session's change, [`Self::begin_send`]): counted.
    fn refused(
        &mut self,
        msg: SendCode,
        request_id: String,
        reason: BlockReason,
    ) -> ResponseActFuture<Self, Result<SendOutcome, EngineError>> {
        metrics::counter!(m::VERIFICATIONS, "status" => "blocked").increment(1);
        metrics::counter!(m::SENDS_BLOCKED, "reason" => reason.as_str()).increment(1);
        m::send_refused(m::block_cause(reason.as_str(), msg.request.high_risk.as_ref()));
        let outcome = SendOutcome {
            request_id,
            status: SendStatus::Blocked,
            reason: Some(reason),
            channel: None,
        };
        Box::pin(fut::ready(Ok(outcome)))
    }

    /// Delivers a decided send, then writes what came of it (conditionally, as the decision).
    fn deliver(
        &mut self,
        msg: SendCode,
        request_id: String,
        code: String,
        resend: bool,
        started_ms: i64,
    ) -> ResponseActFuture<Self, Result<SendOutcome, EngineError>> {
        let parts = self.parts.clone();
        let hook = msg.hosted.as_ref().map(|h| h.session.clone());
        let request = &msg.request;
        let plan = parts.router.plan(&request.number, request.channel, request.preferred);
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
        let deadline = msg.received + self.budget();
        let delivery = routing::deliver(
            parts.router.clone(),
            steps,
            message.clone(),
            country.clone(),
            msg.received,
            deadline,
        );
        self.receipts.awaiting(&request_id);
        Box::pin(delivery.into_actor(self).then(
            move |Delivered {
                      result,
                      remaining,
                      skipped,
                  },
                  act,
                  ctx| {
                act.skipped.extend(skipped);
                // Receipts that overtook this answer are written with it.
                let folded = act.receipts.answered(&request_id);
                let delivery = act.follow_up(
                    ctx,
                    &request_id,
                    &result,
                    (remaining, message, resume),
                    &folded,
                    !resend,
                );
                let (id, sent) = (request_id.clone(), result.clone());
                let decide: Decide<()> = Box::new(move |state, n| {
                    let now = now_ms();
                    let mut changed = match n {
                        0 => state.finish_send(&id, started_ms, &sent, now),
                        _ => state.finish_send_again(&id, started_ms, &sent, now),
                    };
                    for report in &folded {
                        // Only the current verification takes a receipt, and then it is the
                        // record this send changed, now with the receipt's entry too.
                        if let Some(received) = state.on_delivery(&report.request_id, report, now) {
                            changed = Some(received);
                        }
                    }
                    // The session follows the send in the same commit.
                    let session = hook.as_ref().and_then(|hook| hook(changed.as_ref(), now));
                    Decision {
                        value: (),
                        records: changed.into_iter().collect(),
                        delivery: delivery.clone(),
                        head: None,
                        session,
                    }
                });
                let written = act.contested(ctx, decide);
                written.into_actor(act).then(move |written, act, _| {
                    async move {
                        written?;
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
                            SendResult::Undeliverable { .. } if all_down => {
                                return Err(EngineError::ProvidersUnavailable)
                            }
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
            },
        ))
    }
}

impl Handler<CheckCode> for NumberActor {
    type Result = ResponseActFuture<Self, Result<CheckOutcome, EngineError>>;

    fn handle(&mut self, msg: CheckCode, ctx: &mut Context<Self>) -> Self::Result {
        self.last_active = Instant::now();
        if self.state.is_none() {
            return self.refuse_not_loaded(ctx);
        }
        let secret = self.parts.secret.clone();
        let CheckCode {
            code,
            actions,
            blocklisted,
            session,
        } = msg;
        // The check's decision, made again on fresh data when another node's actor counted an
        // attempt or approved meanwhile: only one of them may count the last attempt or approve.
        let decide: Decide<(CheckResult, bool, Option<Verification>)> = Box::new(move |state, _| {
            let now = now_ms();
            // Listed after the code went out: the pending verification is declined, not approved.
            let mut records: Vec<_> = blocklisted
                .as_ref()
                .and_then(|entry| {
                    let data = serde_json::json!({ entry.kind.as_str(): entry.value });
                    state.decline_pending(crate::verification::Risk::PhoneNumberInBlocklist, data, now)
                })
                .into_iter()
                .collect();
            let (result, checked) = state.check(&code, actions, &secret, now);
            records.extend(checked);
            let declined = records.iter().any(|v| v.state == crate::verification::State::Declined);
            let current = state.current().cloned();
            // The session follows its verification's outcome in the same commit.
            let session = session.as_ref().and_then(|hook| hook(current.as_ref(), now));
            Decision {
                value: (result, declined, current),
                records,
                delivery: Vec::new(),
                head: None,
                session,
            }
        });
        let written = self.contested(ctx, decide);
        self.in_flight += 1;
        Box::pin(
            written
                .into_actor(self)
                .map(move |written, _, _| {
                    written.map(|(result, declined, verification)| {
                        let status = match result {
                            CheckResult::Approved => Some("approved"),
                            CheckResult::InReview => Some("in_review"),
                            CheckResult::Declined if declined => Some("declined"),
                            _ => None,
                        };
                        if let Some(status) = status {
                            metrics::counter!(m::VERIFICATIONS, "status" => status).increment(1);
                        }
                        if let (CheckResult::Approved, Some(v)) = (result, &verification) {
                            m::completed(v);
                        }
                        CheckOutcome { result, verification }
                    })
                })
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
        if self.state.is_none() {
            return self.refuse_not_loaded(ctx);
        }
        let ResolveReview {
            verification,
            approve,
            details,
            session,
        } = msg;
        // Written over the version read: another node may have settled it first.
        let decide: Decide<Option<Verification>> = Box::new(move |state, _| {
            let settled = state.resolve_review(verification.clone(), approve, details.clone(), now_ms());
            // The session is reviewed in the same commit.
            let session = settled.as_ref().and_then(|settled| session(Some(settled), now_ms()));
            Decision {
                value: settled.clone(),
                records: settled.into_iter().collect(),
                delivery: Vec::new(),
                head: None,
                session,
            }
        });
        let written = self.contested_with_session(ctx, decide);
        self.in_flight += 1;
        Box::pin(
            written
                .into_actor(self)
                .map(move |written, _, _| {
                    let (settled, session_written) = written?;
                    if let Some(settled) = settled {
                        let status = if approve { "approved" } else { "declined" };
                        metrics::counter!(m::VERIFICATIONS, "status" => status).increment(1);
                        if approve {
                            m::completed(&settled);
                        }
                    }
                    Ok(session_written)
                })
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
        let Some(state) = self.state.as_ref() else {
            let error = self.not_loaded(ctx);
            return Box::pin(async move { Err(error) });
        };
        let report = msg.0;
        if !self.receipts.first_report(&report.carrier, &report.carrier_message_id) {
            return Box::pin(async { Ok(()) });
        }
        let now = now_ms();
        let wanted = state.wants_fallback(&report.request_id, now);
        // The record the receipt changes, as this actor holds it (on_delivery changes only the
        // current verification).
        let changed = state.current().filter(|v| v.request_id == report.request_id);
        let pending = changed.is_some_and(|v| v.is_pending_at(now));
        if let Some(v) = changed {
            let country = v.number.country_code.clone().unwrap_or_else(|| "unknown".into());
            let delivered = report.delivery == Delivery::Delivered;
            self.parts.router.record(&report.carrier, &country, delivered);
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
        let changed = changed.is_some();
        // Its send is still being answered: the answer writes it (and settles the plan).
        let Some(report) = self.receipts.fold(report) else {
            return Box::pin(async { Ok(()) });
        };
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
        let in_flight = self.in_flight > 0 && pending;
        if !waiting && in_flight {
            // A fallback step's send has not been answered yet; follow_up will look here.
            self.receipts
                .hold_early(&report.request_id, &report.carrier, report.delivery);
        }
        match report.delivery {
            // The code arrived: no more fallback for it, here or stored.
            Delivery::Delivered if changed => {
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
        // Written over the version read, so a receipt never undoes another node's newer check.
        let decide: Decide<()> = Box::new(move |state, _| Decision {
            value: (),
            records: state
                .on_delivery(&report.request_id, &report, now)
                .into_iter()
                .collect(),
            delivery: delivery.clone(),
            head: None,
            session: None,
        });
        let written = self.contested(ctx, decide);
        Box::pin(written)
    }
}
