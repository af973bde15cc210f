//! The rules of one number: limits, expiry, resends, attempts and single use.
//!
//! [`NumberState`] is owned by exactly one [`crate::actors::NumberActor`], so every rule here runs
//! without locks and in the order requests arrived. It is plain data and functions so the rules
//! are unit-tested without actors, sockets or a store. Every method returns the verification
//! records it changed; the actor persists them before answering.
use crate::billing::{self, Charge};
use crate::blocklist;
use crate::code::{self, CodeSecret};
use crate::config::VerificationPolicy;
use crate::number::{NumberInfo, SandboxNumber};
use crate::verification::{LogType, Match, Risk, State, Verification};
use otpgate_gateway::{Channel, Delivery, DeliveryReport};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;

pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A send as the API validated it.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub application: String,
    pub number: NumberInfo,
    /// `channel`: only this channel, no fallback to others.
    pub channel: Option<Channel>,
    /// `options.preferred_channel`: this channel first, then the country's order.
    pub preferred: Option<Channel>,
    /// The application's blocklist entry that matches the number, looked up by the caller.
    pub blocklisted: Option<blocklist::Entry>,
    /// Why the caller judged the number high risk (a configured prefix, pumping): the
    /// HIGH_RISK_PHONE_NUMBER warning's `additional_data`.
    pub high_risk: Option<Value>,
    pub vendor_data: Option<String>,
    pub metadata: Option<Value>,
    pub code_length: u32,
    pub locale: String,
}

/// Why a send was refused (the API's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    RepeatedAttempts,
    Suspicious,
    Spam,
    InBlockList,
}

/// Charges `v` for the message just logged as sent, unless it was charged before (a resend or
/// a fallback of an already charged verification) or the step is not billed; the lifecycle
/// entry shows the amount.
fn charge_once(v: &mut Verification, channel: Channel, carrier: &str, fee_micros: Option<u64>, now_ms: i64) {
    let Some(carrier_fee_micros) = fee_micros.filter(|_| v.charge.is_none()) else {
        return;
    };
    let charge = Charge {
        at_ms: now_ms,
        channel,
        carrier: carrier.to_owned(),
        country: v.number.country_code.clone().unwrap_or_else(|| "unknown".into()),
        carrier_fee_micros,
    };
    if let Some(entry) = v.lifecycle.last_mut() {
        entry.fee = Some(billing::usd(charge.amount_micros()));
    }
    v.charge = Some(charge);
}

impl BlockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockReason::RepeatedAttempts => "repeated_attempts",
            BlockReason::Suspicious => "suspicious",
            BlockReason::Spam => "spam",
            BlockReason::InBlockList => "in_block_list",
        }
    }
}

/// What to do after [`NumberState::begin_send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendStart {
    /// Deliver `code` for `request_id`; `resend` when the verification was already pending.
    Deliver {
        request_id: String,
        code: String,
        resend: bool,
    },
    Blocked {
        request_id: String,
        reason: BlockReason,
    },
}

/// How the delivery attempt ended, as far as the number's rules care.
#[derive(Debug, Clone)]
pub enum SendResult {
    Accepted {
        channel: Channel,
        carrier: String,
        delivered: bool,
        fallbacks: Vec<(Channel, Channel)>,
        /// The carrier's fee for this country; `None` when the step is not billed (sandbox).
        fee_micros: Option<u64>,
        /// The carrier's id for the message (`Accepted::carrier_message_id`), as received.
        message_id: String,
    },
    Undeliverable {
        failures: Vec<(Channel, String, &'static str)>,
    },
}

/// What a configurable risk (CONTRACT §4) does to a verification whose code was right: a
/// workflow's `Decline | Review | Approve`; path B's `DECLINE` and `NO_ACTION`. The strongest
/// action among the risks found wins (`Decline` over `Review` over `Approve`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub enum RiskAction {
    #[default]
    Approve,
    Review,
    Decline,
}

impl RiskAction {
    /// The warning's `log_type`: Decline → error, Review → warning, Approve → information.
    pub fn log_type(self) -> LogType {
        match self {
            RiskAction::Approve => LogType::Information,
            RiskAction::Review => LogType::Warning,
            RiskAction::Decline => LogType::Error,
        }
    }
}

/// The action for each configurable risk: path B's `*_action` fields, or a workflow's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RiskActions {
    pub duplicated: RiskAction,
    pub disposable: RiskAction,
    pub voip: RiskAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckResult {
    Approved,
    /// Wrong code; attempts remain.
    Failed {
        attempts_left: u32,
    },
    Declined,
    /// Right code, but a risk's action is Review: a person decides ([`NumberState::resolve_review`]).
    InReview,
    NotFound,
}

/// Everything the engine holds about one (application, number).
#[derive(Debug, Default)]
pub struct NumberState {
    current: Option<Verification>,
    /// Accepted or in-flight sends to this number in the last 24 h, across verifications.
    sends_ms: Vec<i64>,
    /// The pending code in clear, memory only, so a resend repeats the same code. Lost on
    /// restart by design (the store has only its MAC); a resend then issues a fresh code.
    code: Option<String>,
    /// Every approved verification of this number in this application, for duplicate checks.
    approved: Vec<Match>,
    /// Sends handed to carriers and not yet answered, per request id.
    inflight: HashMap<String, u32>,
    /// Verifications replaced as current while their sends were in flight (a refused send made
    /// a newer one current): their send results still land on them, so a message that went out
    /// is logged and charged.
    detached: Vec<Verification>,
}

impl NumberState {
    /// Rebuilds the state from stored verifications of this number, oldest first, and the
    /// number's approvals of all time.
    pub fn from_history(history: Vec<Verification>, approved: Vec<Match>, now_ms: i64) -> Self {
        let sends_ms = history
            .iter()
            .flat_map(|v| v.sends_ms.iter().copied())
            .filter(|t| *t > now_ms - DAY_MS)
            .collect();
        Self {
            current: history.into_iter().max_by_key(|v| v.created_at_ms),
            sends_ms,
            code: None,
            approved,
            inflight: HashMap::new(),
            detached: Vec::new(),
        }
    }

    pub fn current(&self) -> Option<&Verification> {
        self.current.as_ref()
    }

    /// True while a verification could still change state (so the owner must stay alive to hold
    /// the clear code for resends).
    pub fn has_pending(&self, now_ms: i64) -> bool {
        self.current.as_ref().is_some_and(|v| v.is_pending_at(now_ms))
    }

    /// When the pending verification expires (ms since the epoch), if one is pending at `now_ms`.
    pub fn pending_until(&self, now_ms: i64) -> Option<i64> {
        self.current
            .as_ref()
            .filter(|v| v.is_pending_at(now_ms))
            .map(|v| v.expires_at_ms)
    }

    fn expire_if_due(&mut self, now_ms: i64, changed: &mut Vec<Verification>) {
        if let Some(v) = self.current.as_mut() {
            if v.state == State::Pending && now_ms >= v.expires_at_ms {
                v.state = State::Expired;
                v.log("PHONE_VERIFICATION_EXPIRED", v.expires_at_ms, None);
                self.code = None;
                changed.push(v.clone());
            }
        }
    }

    /// Applies the send limits and decides what to deliver. The send is counted at once so
    /// concurrent requests cannot both slip under the limit; [`Self::finish_send`] uncounts it
    /// if nothing was delivered.
    pub fn begin_send(
        &mut self,
        request: &SendRequest,
        policy: &VerificationPolicy,
        secret: &CodeSecret,
        now_ms: i64,
    ) -> (SendStart, Vec<Verification>) {
        let mut changed = Vec::new();
        self.expire_if_due(now_ms, &mut changed);
        self.sends_ms.retain(|t| *t > now_ms - DAY_MS);

        if let Some(entry) = &request.blocklisted {
            let v = self.new_verification(request, policy, secret, now_ms, false).0;
            let data = json!({ entry.kind.as_str(): entry.value });
            let start = self.block(
                v,
                Risk::PhoneNumberInBlocklist,
                data,
                BlockReason::InBlockList,
                now_ms,
                &mut changed,
            );
            return (start, changed);
        }

        let high_risk = match (request.number.sandbox, request.number.is_premium) {
            (Some(SandboxNumber::HighRisk), _) => Some(json!({ "reason": "sandbox high-risk number" })),
            (_, true) => Some(json!({ "reason": "premium-rate or shared-cost number" })),
            _ => request.high_risk.clone(),
        };
        if let Some(data) = high_risk {
            let v = self.new_verification(request, policy, secret, now_ms, false).0;
            let start = self.block(
                v,
                Risk::HighRiskPhoneNumber,
                data,
                BlockReason::Suspicious,
                now_ms,
                &mut changed,
            );
            return (start, changed);
        }

        let max_sends = 1 + policy.max_resend_requests_per_24h as usize;
        if self.sends_ms.len() >= max_sends {
            let pending = self.current.as_ref().is_some_and(|v| v.state == State::Pending);
            let v = match self.current.take() {
                Some(v) if pending => v,
                previous => {
                    self.current = previous;
                    self.new_verification(request, policy, secret, now_ms, false).0
                }
            };
            let data = json!({ "sends_in_24h": self.sends_ms.len(), "max_sends_in_24h": max_sends });
            let risk = Risk::VerificationCodeAttemptsExceeded;
            let start = self.block(v, risk, data, BlockReason::RepeatedAttempts, now_ms, &mut changed);
            return (start, changed);
        }

        self.sends_ms.push(now_ms);
        if let Some(v) = self.current.as_mut().filter(|v| v.state == State::Pending) {
            *self.inflight.entry(v.request_id.clone()).or_default() += 1;
            // After a restart only the MAC survives: issue a fresh code under the same
            // request_id; validity is not extended and attempts are not reset.
            let code = match &self.code {
                Some(code) => code.clone(),
                None => {
                    let code = code::generate(request.code_length);
                    v.code_mac = secret.mac(&v.request_id, &code);
                    self.code = Some(code.clone());
                    code
                }
            };
            return (
                SendStart::Deliver {
                    request_id: v.request_id.clone(),
                    code,
                    resend: true,
                },
                changed,
            );
        }
        let (v, code) = self.new_verification(request, policy, secret, now_ms, true);
        let start = SendStart::Deliver {
            request_id: v.request_id.clone(),
            code: code.clone(),
            resend: false,
        };
        self.inflight.insert(v.request_id.clone(), 1);
        self.replace_current(v);
        self.code = Some(code);
        (start, changed)
    }

    fn new_verification(
        &self,
        request: &SendRequest,
        policy: &VerificationPolicy,
        secret: &CodeSecret,
        now_ms: i64,
        will_send: bool,
    ) -> (Verification, String) {
        let request_id = uuid::Uuid::now_v7().to_string();
        // A verification refused before any send still gets an unguessable MAC, never a blank.
        let code = code::generate(if will_send { request.code_length } else { 10 });
        let v = Verification {
            code_mac: secret.mac(&request_id, &code),
            request_id,
            application: request.application.clone(),
            number: request.number.clone(),
            created_at_ms: now_ms,
            expires_at_ms: now_ms + policy.code_validity_ms,
            state: State::Pending,
            attempts: 0,
            max_attempts: policy.max_code_attempts,
            sends_ms: Vec::new(),
            channel: None,
            verification_method: None,
            vendor_data: request.vendor_data.clone(),
            metadata: request.metadata.clone(),
            verified_at_ms: None,
            warnings: Vec::new(),
            lifecycle: Vec::new(),
            charge: None,
            matches: Vec::new(),
            version: 0,
        };
        (v, code)
    }

    /// Declines `v` with `risk` as a refused send: it becomes the current verification, the
    /// clear code is dropped, and the caller is told why.
    fn block(
        &mut self,
        mut v: Verification,
        risk: Risk,
        data: Value,
        reason: BlockReason,
        now_ms: i64,
        changed: &mut Vec<Verification>,
    ) -> SendStart {
        v.state = State::Declined;
        v.warn(risk, LogType::Error, Some(data));
        v.log("PHONE_VERIFICATION_BLOCKED", now_ms, Some(json!({ "reason": reason })));
        let request_id = v.request_id.clone();
        changed.push(v.clone());
        self.replace_current(v);
        self.code = None;
        SendStart::Blocked { request_id, reason }
    }

    /// Declines the pending verification for `risk` found after its code went out (e.g. the
    /// number was blocklisted meanwhile). Returns the changed record, if one was pending.
    pub fn decline_pending(&mut self, risk: Risk, data: Value, now_ms: i64) -> Option<Verification> {
        let v = self.current.as_mut().filter(|v| v.is_pending_at(now_ms))?;
        v.state = State::Declined;
        v.warn(risk, LogType::Error, Some(data));
        v.log("PHONE_VERIFICATION_DECLINED", now_ms, Some(json!({ "risk": risk })));
        self.code = None;
        Some(v.clone())
    }

    /// Makes `v` current; the one it replaces is kept aside while sends of it are in flight.
    fn replace_current(&mut self, v: Verification) {
        if let Some(old) = self.current.take() {
            if old.request_id != v.request_id && self.inflight.contains_key(&old.request_id) {
                self.detached.push(old);
            }
        }
        self.current = Some(v);
    }

    /// The verification `request_id`: the current one, or one replaced while its sends were in
    /// flight.
    fn record_mut(&mut self, request_id: &str) -> Option<&mut Verification> {
        if self.current.as_ref().is_some_and(|v| v.request_id == request_id) {
            return self.current.as_mut();
        }
        self.detached.iter_mut().find(|v| v.request_id == request_id)
    }

    /// One send of `request_id` was answered: forget it, and its detached record with its last.
    fn send_answered(&mut self, request_id: &str) {
        let Some(left) = self.inflight.get_mut(request_id) else {
            return;
        };
        *left -= 1;
        if *left == 0 {
            self.inflight.remove(request_id);
            self.detached.retain(|v| v.request_id != request_id);
        }
    }

    /// Records how delivery went. Returns the changed record: the current verification, or one
    /// replaced while this send was in flight (a message that went out is logged and charged
    /// on the verification it belongs to).
    pub fn finish_send(
        &mut self,
        request_id: &str,
        started_ms: i64,
        result: &SendResult,
        now_ms: i64,
    ) -> Option<Verification> {
        let is_current = self.current.as_ref().is_some_and(|v| v.request_id == request_id);
        if matches!(result, SendResult::Undeliverable { .. }) {
            if let Some(i) = self.sends_ms.iter().position(|t| *t == started_ms) {
                self.sends_ms.remove(i);
            }
        }
        let mut clear_code = false;
        let Some(v) = self.record_mut(request_id) else {
            self.send_answered(request_id);
            return None;
        };
        match result {
            SendResult::Accepted {
                channel,
                carrier,
                delivered,
                fallbacks,
                fee_micros,
                ..
            } => {
                for (from, to) in fallbacks {
                    v.log(
                        "PHONE_CHANNEL_FALLBACK",
                        now_ms,
                        Some(json!({ "from": from, "to": to })),
                    );
                }
                v.sends_ms.push(started_ms);
                v.channel = Some(*channel);
                let details = json!({ "channel": channel, "carrier": carrier, "resend": v.sends_ms.len() > 1 });
                v.log("PHONE_VERIFICATION_MESSAGE_SENT", now_ms, Some(details));
                charge_once(v, *channel, carrier, *fee_micros, now_ms);
                if *delivered {
                    v.verification_method = Some(*channel);
                    v.log(
                        "PHONE_DELIVERY_DELIVERED",
                        now_ms,
                        Some(json!({ "channel": channel, "carrier": carrier })),
                    );
                }
            }
            SendResult::Undeliverable { failures } => {
                let failures: Vec<_> = failures
                    .iter()
                    .map(|(channel, carrier, reason)| json!({ "channel": channel, "carrier": carrier, "reason": reason }))
                    .collect();
                v.log("PHONE_DELIVERY_FAILED", now_ms, Some(json!({ "failures": failures })));
                // A resend that failed leaves the earlier message and its code valid.
                if v.sends_ms.is_empty() && v.state == State::Pending {
                    v.state = State::Undeliverable;
                    clear_code = true;
                }
            }
        }
        let changed = v.clone();
        self.send_answered(request_id);
        if clear_code && is_current {
            self.code = None;
        }
        Some(changed)
    }

    /// Records a delivery receipt for `request_id`. Returns the changed record, if that
    /// verification is still the current one (a receipt for an older one changes nothing).
    pub fn on_delivery(&mut self, request_id: &str, report: &DeliveryReport, now_ms: i64) -> Option<Verification> {
        let v = self.current.as_mut().filter(|v| v.request_id == request_id)?;
        let details = json!({
            "channel": report.channel,
            "carrier": report.carrier,
            "status": report.status,
            "error": report.error,
        });
        match report.delivery {
            Delivery::Delivered => {
                v.verification_method.get_or_insert(report.channel);
                v.log("PHONE_DELIVERY_DELIVERED", now_ms, Some(details));
            }
            Delivery::Failed => v.log("PHONE_DELIVERY_FAILED", now_ms, Some(details)),
        }
        Some(v.clone())
    }

    /// Records a fallback: the message on `from` (channel, carrier) was not delivered
    /// (`reason`), and the same code went out on the next step, or nothing could take it.
    /// A fallback is not a resend: it does not count against the resend limit.
    pub fn on_fallback(
        &mut self,
        request_id: &str,
        from: (Channel, &str, &str),
        result: &SendResult,
        now_ms: i64,
    ) -> Option<Verification> {
        let v = self.current.as_mut().filter(|v| v.request_id == request_id)?;
        let (from_channel, from_carrier, reason) = from;
        match result {
            SendResult::Accepted {
                channel,
                carrier,
                delivered,
                fee_micros,
                ..
            } => {
                v.log(
                    "PHONE_CHANNEL_FALLBACK",
                    now_ms,
                    Some(json!({
                        "from": from_channel, "from_carrier": from_carrier,
                        "to": channel, "to_carrier": carrier, "reason": reason,
                    })),
                );
                v.channel = Some(*channel);
                let details = json!({ "channel": channel, "carrier": carrier, "resend": false, "fallback": true });
                v.log("PHONE_VERIFICATION_MESSAGE_SENT", now_ms, Some(details));
                charge_once(v, *channel, carrier, *fee_micros, now_ms);
                if *delivered {
                    v.verification_method.get_or_insert(*channel);
                    v.log(
                        "PHONE_DELIVERY_DELIVERED",
                        now_ms,
                        Some(json!({ "channel": channel, "carrier": carrier })),
                    );
                }
            }
            SendResult::Undeliverable { failures } => {
                let failures: Vec<_> = failures
                    .iter()
                    .map(|(channel, carrier, reason)| json!({ "channel": channel, "carrier": carrier, "reason": reason }))
                    .collect();
                let details = json!({ "from": from_channel, "from_carrier": from_carrier, "reason": reason, "failures": failures });
                v.log("PHONE_FALLBACK_EXHAUSTED", now_ms, Some(details));
            }
        }
        Some(v.clone())
    }

    /// The current verification `request_id` was just written one version up by a conditional
    /// save ([`crate::store::Store::save_if_version`]): this copy follows.
    pub fn stored_one_up(&mut self, request_id: &str) {
        if let Some(v) = self.current.as_mut().filter(|v| v.request_id == request_id) {
            v.version += 1;
        }
    }

    /// Whether `request_id`'s stored fallback should still run: it is the current verification,
    /// pending, and no message of it is known to have arrived.
    pub fn wants_fallback(&self, request_id: &str, now_ms: i64) -> bool {
        self.current
            .as_ref()
            .is_some_and(|v| v.request_id == request_id && v.is_pending_at(now_ms) && v.verification_method.is_none())
    }

    /// The code a fallback of the current verification `request_id` sends: the clear code when
    /// this state still holds it, else (the process that sent the first message is gone) a fresh
    /// one of `length` digits whose MAC replaces the stored one, as a resend after a restart does.
    /// Returns the code and the record to persist when the MAC changed; `None` when `request_id`
    /// is not the current verification.
    pub fn code_for_fallback(
        &mut self,
        request_id: &str,
        length: u32,
        secret: &CodeSecret,
    ) -> Option<(String, Option<Verification>)> {
        let v = self.current.as_mut().filter(|v| v.request_id == request_id)?;
        if let Some(code) = &self.code {
            return Some((code.clone(), None));
        }
        let code = code::generate(length);
        v.code_mac = secret.mac(&v.request_id, &code);
        self.code = Some(code.clone());
        Some((code, Some(v.clone())))
    }

    /// Checks a code. Each check of a pending verification uses one attempt; the right code is
    /// accepted once.
    pub fn check(
        &mut self,
        candidate: &str,
        actions: RiskActions,
        secret: &CodeSecret,
        now_ms: i64,
    ) -> (CheckResult, Vec<Verification>) {
        let mut changed = Vec::new();
        self.expire_if_due(now_ms, &mut changed);
        let Some(v) = self.current.as_mut() else {
            return (CheckResult::NotFound, changed);
        };
        match v.state {
            State::Pending => {}
            // A declined verification keeps answering Declined until it would have expired, so
            // a late right code cannot turn it around.
            State::Declined if now_ms < v.expires_at_ms => return (CheckResult::Declined, changed),
            _ => return (CheckResult::NotFound, changed),
        }
        v.attempts += 1;
        if !secret.verify(&v.request_id, candidate, &v.code_mac) {
            v.log("INVALID_CODE_ENTERED", now_ms, Some(json!({ "attempt": v.attempts })));
            let result = if v.attempts >= v.max_attempts {
                v.state = State::Declined;
                let data = json!({ "attempts": v.attempts, "max_attempts": v.max_attempts });
                v.warn(Risk::VerificationCodeAttemptsExceeded, LogType::Error, Some(data));
                v.log("PHONE_VERIFICATION_DECLINED", now_ms, None);
                self.code = None;
                CheckResult::Declined
            } else {
                CheckResult::Failed {
                    attempts_left: v.max_attempts - v.attempts,
                }
            };
            changed.push(v.clone());
            return (result, changed);
        }
        v.log("VALID_CODE_ENTERED", now_ms, None);
        // The right code proves a message arrived. Without a receipt naming the channel, the
        // report names the channel of the last message a carrier accepted.
        if v.verification_method.is_none() {
            v.verification_method = v.channel;
        }
        self.code = None;
        // The same number already verified for another user. Without vendor_data on both sides
        // there is no telling users apart, so no match.
        v.matches = match &v.vendor_data {
            Some(user) => self
                .approved
                .iter()
                .filter(|m| m.request_id != v.request_id && m.vendor_data.as_ref().is_some_and(|other| other != user))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let mut action = RiskAction::Approve;
        if !v.matches.is_empty() {
            let data = json!({ "matches": v.matches.len() });
            v.warn(Risk::DuplicatedPhoneNumber, actions.duplicated.log_type(), Some(data));
            action = actions.duplicated;
        }
        for (present, risk, risk_action) in [
            (
                v.number.is_disposable,
                Risk::DisposableNumberDetected,
                actions.disposable,
            ),
            (v.number.is_virtual, Risk::VoipNumberDetected, actions.voip),
        ] {
            if present {
                v.warn(risk, risk_action.log_type(), None);
                action = action.max(risk_action);
            }
        }
        let result = if action == RiskAction::Decline {
            v.state = State::Declined;
            v.log("PHONE_VERIFICATION_DECLINED", now_ms, None);
            CheckResult::Declined
        } else if action == RiskAction::Review {
            v.state = State::InReview;
            v.log("PHONE_VERIFICATION_IN_REVIEW", now_ms, None);
            CheckResult::InReview
        } else {
            v.state = State::Approved;
            v.verified_at_ms = Some(now_ms);
            v.log("PHONE_VERIFICATION_APPROVED", now_ms, None);
            self.approved.push(Match {
                request_id: v.request_id.clone(),
                vendor_data: v.vendor_data.clone(),
                verified_at_ms: v.verified_at_ms,
            });
            CheckResult::Approved
        };
        changed.push(v.clone());
        (result, changed)
    }

    /// A person approved or declined a verification In Review (`details`: who, why; logged).
    /// The number's current record is used when it is that verification, else `stored` (as the
    /// store holds it). Returns the changed record; `None` when it is not In Review.
    pub fn resolve_review(
        &mut self,
        stored: Verification,
        approve: bool,
        details: Value,
        now_ms: i64,
    ) -> Option<Verification> {
        let mut stored = stored;
        let v = match self.current.as_mut() {
            Some(current) if current.request_id == stored.request_id => current,
            _ => &mut stored,
        };
        if v.state != State::InReview {
            return None;
        }
        if approve {
            v.state = State::Approved;
            v.verified_at_ms = Some(now_ms);
            v.log("PHONE_VERIFICATION_APPROVED", now_ms, Some(details));
            self.approved.push(Match {
                request_id: v.request_id.clone(),
                vendor_data: v.vendor_data.clone(),
                verified_at_ms: v.verified_at_ms,
            });
        } else {
            v.state = State::Declined;
            v.log("PHONE_VERIFICATION_DECLINED", now_ms, Some(details));
        }
        Some(v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number;

    const T0: i64 = 1_800_000_000_000;

    fn request(phone: &str) -> SendRequest {
        SendRequest {
            application: "default".into(),
            number: number::parse(phone).unwrap(),
            channel: None,
            preferred: None,
            blocklisted: None,
            high_risk: None,
            vendor_data: None,
            metadata: None,
            code_length: 6,
            locale: "en".into(),
        }
    }

    fn delivered() -> SendResult {
        SendResult::Accepted {
            channel: Channel::Sms,
            carrier: "sandbox".into(),
            delivered: true,
            fallbacks: vec![],
            fee_micros: None,
            message_id: "1".into(),
        }
    }

    /// Starts a send to the default sandbox number under the default policy.
    fn begin(state: &mut NumberState, secret: &CodeSecret, at: i64) -> SendStart {
        state
            .begin_send(&request("+12025550123"), &VerificationPolicy::default(), secret, at)
            .0
    }

    fn sent(state: &mut NumberState, secret: &CodeSecret, phone: &str, at: i64) -> SendStart {
        let (start, _) = state.begin_send(&request(phone), &VerificationPolicy::default(), secret, at);
        if let SendStart::Deliver { request_id, .. } = &start {
            state.finish_send(request_id, at, &delivered(), at).unwrap();
        }
        start
    }

    #[test]
    fn sends_in_flight_land_on_their_verification_after_refused_sends_replaced_it() {
        let secret = CodeSecret::from_bytes(b"s");
        let mut state = NumberState::default();
        // Three sends start before any is answered; the 4th and 5th are refused meanwhile.
        let starts: Vec<SendStart> = (0..5).map(|i| begin(&mut state, &secret, T0 + i)).collect();
        let SendStart::Deliver { request_id, .. } = &starts[0] else {
            panic!("{:?}", starts[0])
        };
        assert!(matches!(starts[3], SendStart::Blocked { .. }));
        assert!(matches!(starts[4], SendStart::Blocked { .. }));
        assert_ne!(
            state.current().unwrap().request_id,
            *request_id,
            "a newer one is current"
        );
        let charged = SendResult::Accepted {
            channel: Channel::Sms,
            carrier: "smsc".into(),
            delivered: false,
            fallbacks: vec![],
            fee_micros: Some(7_900),
            message_id: "1".into(),
        };
        for i in 0..3 {
            let v = state
                .finish_send(request_id, T0 + i, &charged, T0 + 10)
                .expect("the send's own verification, though no longer current");
            assert_eq!(v.request_id, *request_id);
            assert_eq!(v.sends_ms.len(), i as usize + 1);
            assert_eq!(v.charge.as_ref().map(|c| c.carrier_fee_micros), Some(7_900));
        }
        assert!(
            state.detached.is_empty() && state.inflight.is_empty(),
            "forgotten once answered"
        );
    }

    fn code_of(start: &SendStart) -> String {
        match start {
            SendStart::Deliver { code, .. } => code.clone(),
            other => panic!("not delivered: {other:?}"),
        }
    }

    #[test]
    fn right_code_approves_once() {
        let secret = CodeSecret::from_bytes(b"s");
        let mut state = NumberState::default();
        let code = code_of(&sent(&mut state, &secret, "+12025550123", T0));
        let (result, changed) = state.check(&code, RiskActions::default(), &secret, T0 + 1);
        assert_eq!(result, CheckResult::Approved);
        assert_eq!(changed[0].attempts, 1);
        assert_eq!(changed[0].verified_at_ms, Some(T0 + 1));
        assert_eq!(
            state.check(&code, RiskActions::default(), &secret, T0 + 2).0,
            CheckResult::NotFound
        );
    }

    fn accepted(channel: Channel) -> SendResult {
        SendResult::Accepted {
            channel,
            carrier: "carrier".into(),
            delivered: false,
            fallbacks: vec![],
            fee_micros: None,
            message_id: "1".into(),
        }
    }

    #[test]
    fn an_approval_without_a_receipt_names_the_channel_of_the_last_accepted_message() {
        let secret = CodeSecret::from_bytes(b"s");
        // One message, accepted, no receipt yet.
        let mut state = NumberState::default();
        let start = begin(&mut state, &secret, T0);
        let SendStart::Deliver { request_id, code, .. } = &start else {
            panic!("{start:?}")
        };
        state.finish_send(request_id, T0, &accepted(Channel::Sms), T0);
        let (result, changed) = state.check(code, RiskActions::default(), &secret, T0 + 1);
        assert_eq!(result, CheckResult::Approved);
        assert_eq!(changed[0].verification_method, Some(Channel::Sms));

        // Accepted on SMS, then the same code on WhatsApp after the fallback: WhatsApp is last.
        let mut state = NumberState::default();
        let start = begin(&mut state, &secret, T0);
        let SendStart::Deliver { request_id, code, .. } = &start else {
            panic!("{start:?}")
        };
        state.finish_send(request_id, T0, &accepted(Channel::Sms), T0);
        let from = (Channel::Sms, "smsc", "no_receipt");
        state.on_fallback(request_id, from, &accepted(Channel::Whatsapp), T0 + 20_000);
        let (_, changed) = state.check(code, RiskActions::default(), &secret, T0 + 20_001);
        assert_eq!(changed[0].verification_method, Some(Channel::Whatsapp));

        // A receipt names the channel that delivered; a resend accepted later does not undo it.
        let mut state = NumberState::default();
        let start = begin(&mut state, &secret, T0);
        let SendStart::Deliver { request_id, code, .. } = &start else {
            panic!("{start:?}")
        };
        state.finish_send(request_id, T0, &delivered(), T0);
        assert!(matches!(
            begin(&mut state, &secret, T0 + 1),
            SendStart::Deliver { resend: true, .. }
        ));
        state.finish_send(request_id, T0 + 1, &accepted(Channel::Whatsapp), T0 + 1);
        let (_, changed) = state.check(code, RiskActions::default(), &secret, T0 + 2);
        assert_eq!(changed[0].verification_method, Some(Channel::Sms));
    }

    #[test]
    fn two_wrong_codes_decline_and_the_right_one_no_longer_works() {
        let secret = CodeSecret::from_bytes(b"s");
        let mut state = NumberState::default();
        let code = code_of(&sent(&mut state, &secret, "+12025550123", T0));
        let wrong = if code == "000000" { "111111" } else { "000000" };
        assert_eq!(
            state.check(wrong, RiskActions::default(), &secret, T0).0,
            CheckResult::Failed { attempts_left: 1 }
        );
        let (result, changed) = state.check(wrong, RiskActions::default(), &secret, T0);
        assert_eq!(result, CheckResult::Declined);
        assert_eq!(changed[0].warnings[0].risk, Risk::VerificationCodeAttemptsExceeded);
        assert_eq!(
            state.check(&code, RiskActions::default(), &secret, T0).0,
            CheckResult::Declined
        );
    }

    #[test]
    fn resend_repeats_the_code_and_keeps_attempts_and_expiry() {
        let secret = CodeSecret::from_bytes(b"s");
        let mut state = NumberState::default();
        let first = sent(&mut state, &secret, "+12025550123", T0);
        state.check("000001", RiskActions::default(), &secret, T0 + 5);
        let second = sent(&mut state, &secret, "+12025550123", T0 + 10);
        match (&first, &second) {
            (
                SendStart::Deliver {
                    request_id: a,
                    code: ca,
                    ..
                },
                SendStart::Deliver {
                    request_id: b,
                    code: cb,
                    resend,
                    ..
                },
            ) => {
                assert_eq!((a, ca), (b, cb));
                assert!(resend);
            }
            other => panic!("{other:?}"),
        }
        let v = state.current().unwrap();
        assert_eq!(v.attempts, 1);
        assert_eq!(v.expires_at_ms, T0 + 300_000);
    }

    #[test]
    fn fourth_send_in_24h_is_blocked_and_declines() {
        let secret = CodeSecret::from_bytes(b"s");
        let mut state = NumberState::default();
        for i in 0..3 {
            assert!(matches!(
                sent(&mut state, &secret, "+12025550123", T0 + i),
                SendStart::Deliver { .. }
            ));
        }
        let blocked = sent(&mut state, &secret, "+12025550123", T0 + 3);
        assert!(matches!(
            blocked,
            SendStart::Blocked {
                reason: BlockReason::RepeatedAttempts,
                ..
            }
        ));
        assert_eq!(state.current().unwrap().state, State::Declined);
        // A day after the first send the window has room again.
        assert!(matches!(
            sent(&mut state, &secret, "+12025550123", T0 + DAY_MS + 1),
            SendStart::Deliver { .. }
        ));
    }

    #[test]
    fn expiry_is_reported_as_not_found() {
        let secret = CodeSecret::from_bytes(b"s");
        let mut state = NumberState::default();
        let code = code_of(&sent(&mut state, &secret, "+12025550123", T0));
        let (result, changed) = state.check(&code, RiskActions::default(), &secret, T0 + 300_000);
        assert_eq!(result, CheckResult::NotFound);
        assert_eq!(changed[0].state, State::Expired);
    }

    #[test]
    fn high_risk_number_is_blocked_before_sending() {
        let secret = CodeSecret::from_bytes(b"s");
        let mut state = NumberState::default();
        let start = sent(&mut state, &secret, number::SANDBOX_HIGH_RISK, T0);
        assert!(matches!(
            start,
            SendStart::Blocked {
                reason: BlockReason::Suspicious,
                ..
            }
        ));
        let v = state.current().unwrap();
        assert_eq!(v.warnings[0].risk, Risk::HighRiskPhoneNumber);
        assert!(v.sends_ms.is_empty());
    }

    #[test]
    fn voip_number_declines_only_when_asked() {
        let secret = CodeSecret::from_bytes(b"s");
        for (decline, expected, log_type) in [
            (false, CheckResult::Approved, LogType::Information),
            (true, CheckResult::Declined, LogType::Error),
        ] {
            let mut state = NumberState::default();
            let code = code_of(&sent(&mut state, &secret, number::SANDBOX_VOIP, T0));
            let actions = RiskActions {
                voip: if decline {
                    RiskAction::Decline
                } else {
                    RiskAction::Approve
                },
                ..Default::default()
            };
            let (result, changed) = state.check(&code, actions, &secret, T0 + 1);
            assert_eq!(result, expected);
            assert_eq!(changed[0].warnings[0].risk, Risk::VoipNumberDetected);
            assert_eq!(changed[0].warnings[0].log_type, log_type);
        }
    }

    #[test]
    fn review_holds_a_right_code_until_a_person_decides() {
        let secret = CodeSecret::from_bytes(b"s");
        let mut state = NumberState::default();
        let code = code_of(&sent(&mut state, &secret, number::SANDBOX_VOIP, T0));
        let actions = RiskActions {
            voip: RiskAction::Review,
            disposable: RiskAction::Decline,
            ..Default::default()
        };
        let (result, changed) = state.check(&code, actions, &secret, T0 + 1);
        assert_eq!(result, CheckResult::InReview);
        let v = changed[0].clone();
        assert_eq!((v.state, v.report().status), (State::InReview, "In Review"));
        assert_eq!(v.warnings[0].log_type, LogType::Warning);
        // The code was used: checking again finds nothing pending.
        assert_eq!(state.check(&code, actions, &secret, T0 + 2).0, CheckResult::NotFound);
        let approved = state
            .resolve_review(v.clone(), true, json!({ "by": "ops" }), T0 + 3)
            .unwrap();
        assert_eq!(
            (approved.state, approved.verified_at_ms),
            (State::Approved, Some(T0 + 3))
        );
        assert!(
            state.resolve_review(approved, false, json!({}), T0 + 4).is_none(),
            "settled once"
        );
        // A record that is no longer current is settled from the stored copy.
        assert_eq!(
            NumberState::default()
                .resolve_review(v, false, json!({}), T0 + 5)
                .map(|v| v.state),
            Some(State::Declined)
        );
    }

    #[test]
    fn undeliverable_first_send_is_not_counted() {
        let secret = CodeSecret::from_bytes(b"s");
        let mut state = NumberState::default();
        for i in 0..5 {
            let start = begin(&mut state, &secret, T0 + i);
            let SendStart::Deliver { request_id, .. } = start else {
                panic!("blocked after {i} failed sends")
            };
            let failed = SendResult::Undeliverable {
                failures: vec![(Channel::Sms, "x".into(), "refused")],
            };
            assert_eq!(
                state.finish_send(&request_id, T0 + i, &failed, T0 + i).unwrap().state,
                State::Undeliverable
            );
        }
    }

    #[test]
    fn history_restores_limits_after_restart() {
        let secret = CodeSecret::from_bytes(b"s");
        let mut state = NumberState::default();
        let mut saved = None;
        for i in 0..3 {
            let start = begin(&mut state, &secret, T0 + i);
            let SendStart::Deliver { request_id, .. } = start else {
                panic!()
            };
            // The store keeps one row per request_id: the latest write wins.
            saved = state.finish_send(&request_id, T0 + i, &delivered(), T0 + i);
        }
        let mut restored = NumberState::from_history(saved.into_iter().collect(), Vec::new(), T0 + 10);
        let start = begin(&mut restored, &secret, T0 + 10);
        assert!(matches!(
            start,
            SendStart::Blocked {
                reason: BlockReason::RepeatedAttempts,
                ..
            }
        ));
    }
}
