//! What the store keeps about delivery (issue 14): every outbound message a carrier accepted,
//! and the rest of a verification's fallback plan with the time its next step is due.
//!
//! The store, not a process's memory, is the truth for both. A receipt or platform callback that
//! reaches a node which does not remember the message (it restarted, or another node sent it) is
//! matched through [`StoredMessage`]s by carrier and carrier message id
//! ([`super::Store::find_messages`]); a fallback step whose time has come is leased by one
//! claimant ([`super::Store::claim_fallbacks`], [`super::Store::claim_fallback`]) and run once.
use super::crypto::Keyring;
use super::StoreError;
use otpgate_gateway::Channel;
use serde::{Deserialize, Serialize};

/// Where a message a carrier accepted stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Accepted, no final receipt yet.
    Accepted,
    Delivered,
    Failed,
}

impl MessageState {
    /// The spelling stored in the `messages.state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Accepted => "accepted",
            MessageState::Delivered => "delivered",
            MessageState::Failed => "failed",
        }
    }

    /// The inverse of [`Self::as_str`]; `None` for a spelling this build does not know.
    pub fn parse(s: &str) -> Option<Self> {
        [MessageState::Accepted, MessageState::Delivered, MessageState::Failed]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// One message a carrier accepted for a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The carrier's configured name (`[[carriers]] name`).
    pub carrier: String,
    /// The carrier's id for the message, as the gateway matches it: for SMPP the canonical
    /// spelling (`otpgate_smpp::receipt::canonical`: lowercase, no leading zeros), else verbatim.
    pub carrier_message_id: String,
    pub request_id: String,
    pub application: String,
    /// E.164 with the leading `+`.
    pub phone: String,
    pub channel: Channel,
    pub state: MessageState,
    /// When the carrier accepted it, ms since the Unix epoch.
    pub sent_at_ms: i64,
}

/// One step of a stored fallback plan: a channel on a carrier, by the carrier's name (the
/// carrier's connection is looked up again when the step runs, on whichever node runs it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedStep {
    pub channel: Channel,
    pub carrier: String,
}

/// The rest of a verification's fallback plan: tried, from the first step on, if the message on
/// `from_carrier` is not delivered by `due_at_ms` (or a negative receipt comes first). At most
/// one per verification: a newer arm replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingFallback {
    pub request_id: String,
    pub application: String,
    /// E.164 with the leading `+`: with `application`, the number's actor.
    pub phone: String,
    /// When the next step is due, ms since the Unix epoch. While a claimant holds the lease this
    /// is when the lease runs out (another claimant may take it over then).
    pub due_at_ms: i64,
    /// The channel and carrier of the message waiting for its receipt.
    pub from_channel: Channel,
    pub from_carrier: String,
    /// ISO 3166-1 alpha-2 of the number, or `unknown`, for routing outcomes and fees.
    pub country: String,
    /// The message's locale and, for a hosted session, the page's host for the WebOTP line:
    /// enough to write the message again after a restart (the code itself is never stored).
    pub locale: String,
    pub webotp_host: Option<String>,
    /// Digits of a fresh code, when the clear code was lost with the process that sent it.
    pub code_length: u32,
    pub steps: Vec<PlannedStep>,
}

/// A change to the delivery tables, written in the same transaction as the verification records
/// it comes with ([`super::Store::save_with_delivery`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryChange {
    /// A carrier accepted a message: insert it (or replace the row with the same carrier and id).
    Sent(StoredMessage),
    /// A final receipt for a message: sets its state unless it already has a final one.
    Outcome {
        carrier: String,
        carrier_message_id: String,
        state: MessageState,
    },
    /// Stores a verification's remaining plan, replacing any earlier one and any lease on it.
    Arm(PendingFallback),
    /// The verification needs no more fallback (delivered, settled, plan exhausted).
    Disarm { request_id: String },
}

/// The `plan` column: what a [`PendingFallback`] holds beyond its indexed columns.
#[derive(Serialize, Deserialize)]
struct PlanBody {
    from_channel: Channel,
    from_carrier: String,
    country: String,
    locale: String,
    webotp_host: Option<String>,
    code_length: u32,
    steps: Vec<PlannedStep>,
}

pub(crate) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A delivery change ready for a backend's writer (its plan already serialised as the `plan`
/// column's JSON, the same in every backend).
pub(crate) enum Write {
    Sent(StoredMessage),
    Outcome(String, String, MessageState),
    Arm {
        request_id: String,
        application: String,
        phone: String,
        due_at_ms: i64,
        from_carrier: String,
        plan: String,
    },
    Disarm(String),
}

/// Serialises `changes` off the writer thread, each number sealed under `keys` (the `phone`
/// columns of `messages` and `fallbacks` are read back, never searched: sealed, not indexed).
pub(crate) fn prepare(keys: &Keyring, changes: Vec<DeliveryChange>) -> Result<Vec<Write>, StoreError> {
    changes
        .into_iter()
        .map(|change| {
            Ok(match change {
                DeliveryChange::Sent(m) => Write::Sent(StoredMessage {
                    phone: keys.seal(&m.phone),
                    ..m
                }),
                DeliveryChange::Outcome {
                    carrier,
                    carrier_message_id,
                    state,
                } => Write::Outcome(carrier, carrier_message_id, state),
                DeliveryChange::Disarm { request_id } => Write::Disarm(request_id),
                DeliveryChange::Arm(f) => Write::Arm {
                    from_carrier: f.from_carrier.clone(),
                    plan: serde_json::to_string(&PlanBody {
                        from_channel: f.from_channel,
                        from_carrier: f.from_carrier,
                        country: f.country,
                        locale: f.locale,
                        webotp_host: f.webotp_host,
                        code_length: f.code_length,
                        steps: f.steps,
                    })
                    .map_err(corrupt)?,
                    request_id: f.request_id,
                    application: f.application,
                    phone: keys.seal(&f.phone),
                    due_at_ms: f.due_at_ms,
                },
            })
        })
        .collect()
}

/// A stored plan back from its columns: [`StoreError::Corrupt`] if `plan` is not a plan.
pub(crate) fn pending_fallback(
    request_id: String,
    application: String,
    phone: String,
    due_at_ms: i64,
    plan: &str,
) -> Result<PendingFallback, StoreError> {
    let p: PlanBody = serde_json::from_str(plan).map_err(corrupt)?;
    Ok(PendingFallback {
        request_id,
        application,
        phone,
        due_at_ms,
        from_channel: p.from_channel,
        from_carrier: p.from_carrier,
        country: p.country,
        locale: p.locale,
        webotp_host: p.webotp_host,
        code_length: p.code_length,
        steps: p.steps,
    })
}
