//! The rules of one number: limits, expiry, resends, attempts and single use.
//!
//! [`NumberState`] is owned by exactly one [`crate::actors::NumberActor`], so every rule here runs
//! without locks and in the order requests arrived. It is plain data and functions so the rules
//! are unit-tested without actors, sockets or a store. Every method returns the verification
//! records it changed; the actor persists them before answering.
//!
//! One file per concern: [`admission`] (send limits, blocking, new verifications), [`delivery`]
//! (what carriers, receipts and fallbacks did to a verification), [`checking`] (codes and
//! reviews); this file holds the types and the state they share.
use crate::billing::{self, Charge};
use crate::blocklist;
use crate::code::{self, CodeSecret};
use crate::config::VerificationPolicy;
use crate::number::{NumberInfo, SandboxNumber};
use crate::verification::{LifecycleKind, LogType, Match, Risk, State, Verification};
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

mod admission;
mod checking;
mod delivery;
#[cfg(test)]
mod tests;

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

    /// Takes the number's records as the store holds them now, after a conditional write lost to
    /// another node's ([`crate::store::Store::save_if_versions`]): the newest becomes current, the
    /// 24 h sends and the approvals are the stored ones. Keeps what only this process knows: the
    /// sends in flight (their records, as stored, stay at hand for their results), and the clear
    /// code while the stored MAC is still the one of that code.
    pub fn refresh(&mut self, history: Vec<Verification>, approved: Vec<Match>, secret: &CodeSecret, now_ms: i64) {
        let mut detached: Vec<Verification> = history
            .iter()
            .filter(|v| self.inflight.contains_key(&v.request_id))
            .cloned()
            .collect();
        let fresh = Self::from_history(history, approved, now_ms);
        detached.retain(|v| fresh.current.as_ref().is_none_or(|c| c.request_id != v.request_id));
        let code = self.code.take().filter(|code| {
            fresh
                .current
                .as_ref()
                .is_some_and(|v| v.state == State::Pending && secret.verify(&v.request_id, code, &v.code_mac))
        });
        *self = Self {
            code,
            inflight: std::mem::take(&mut self.inflight),
            detached,
            ..fresh
        };
    }

    /// The records named by `written` (request id, version it was decided on) were just written
    /// one version up by a conditional save: this state's copies of them follow.
    pub fn stored_up<'a>(&mut self, written: impl IntoIterator<Item = (&'a str, i64)>) {
        for (request_id, version) in written {
            if let Some(v) = self.record_mut(request_id) {
                v.version = version + 1;
            }
        }
    }

    /// Forgets one send of `request_id` decided by [`Self::begin_send`] whose write lost: the
    /// send is decided again from the stored state.
    pub fn forget_send(&mut self, request_id: &str) {
        self.send_answered(request_id);
    }

    pub fn current(&self) -> Option<&Verification> {
        self.current.as_ref()
    }

    fn expire_if_due(&mut self, now_ms: i64, changed: &mut Vec<Verification>) {
        if let Some(v) = self.current.as_mut() {
            if v.state == State::Pending && now_ms >= v.expires_at_ms {
                v.state = State::Expired;
                v.log(LifecycleKind::PhoneVerificationExpired, v.expires_at_ms, None);
                self.code = None;
                changed.push(v.clone());
            }
        }
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
}
