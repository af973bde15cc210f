//! Records as every backend stores them. Verifications: indexed columns, the record as JSON, and
//! its charge's ledger columns; sessions: their sealed body and the blind index of their number;
//! blocklist entries. The number is never stored in clear ([`super::crypto`]): a `phone` column
//! holds its blind index, a body is a sealed envelope.
use super::crypto::Keyring;
use super::StoreError;
use crate::blocklist::{Entry, EntryKind};
use crate::sessions::Session;
use crate::verification::{Match, State, Verification};

/// One `verifications` row, and the ledger row its charge adds (once per request id).
pub(crate) struct Row {
    pub request_id: String,
    /// The record's `version` (0 before it was first stored): what a conditional save expects.
    pub version: i64,
    pub application: String,
    /// The number's blind index ([`Keyring::index`]).
    pub phone: String,
    pub created_at_ms: i64,
    pub state: &'static str,
    /// The whole record as JSON sealed in an envelope ([`Keyring::seal_body`]): what loads read
    /// back through [`record`].
    pub body: String,
    pub charge: Option<ChargeRow>,
}

/// A charge's ledger columns.
pub(crate) struct ChargeRow {
    /// UTC month, `YYYY-MM`.
    pub month: String,
    pub at_ms: i64,
    pub channel: &'static str,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// The carrier fee plus ours, in millionths of a US dollar.
    pub amount_micros: i64,
}

/// The `state` column's spelling of a verification state.
pub(crate) fn state_name(state: State) -> &'static str {
    match state {
        State::Pending => "pending",
        State::Approved => "approved",
        State::Declined => "declined",
        State::Expired => "expired",
        State::Undeliverable => "undeliverable",
        State::InReview => "in_review",
    }
}

/// Store rows of verification records, sealed under `keys`; [`StoreError::Corrupt`] if one does
/// not serialise.
pub(crate) fn rows(keys: &Keyring, records: Vec<Verification>) -> Result<Vec<Row>, StoreError> {
    records
        .into_iter()
        .map(|v| {
            let json = serde_json::to_string(&v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(Row {
                body: keys.seal_body(v.version, &json),
                charge: v.charge.as_ref().map(|c| ChargeRow {
                    month: c.month(),
                    at_ms: c.at_ms,
                    channel: c.channel.as_str(),
                    country: c.country.clone(),
                    amount_micros: c.amount_micros() as i64,
                }),
                state: state_name(v.state),
                version: v.version,
                request_id: v.request_id,
                application: v.application,
                phone: keys.index(&v.number.full_number),
                created_at_ms: v.created_at_ms,
            })
        })
        .collect()
}

/// A stored `body` back to its record (sealed or, written before encryption, clear).
pub(crate) fn record(keys: &Keyring, body: &str) -> Result<Verification, StoreError> {
    serde_json::from_str(&keys.open_body(body)?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// An approved record as a match of its number (moved from postgres.rs to keep it under 800 lines).
pub(crate) fn to_match(v: Verification) -> Match {
    Match {
        request_id: v.request_id,
        vendor_data: v.vendor_data,
        verified_at_ms: v.verified_at_ms,
    }
}

/// A session's body as stored: its JSON sealed in an envelope ([`Keyring::seal_body`]); the
/// columns the SQL needs (status, version, deadline) stay beside it in clear.
pub(crate) fn seal_session(keys: &Keyring, session: &Session) -> Result<String, StoreError> {
    let json = serde_json::to_string(session).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(keys.seal_body(session.version, &json))
}

/// A stored session `body` back to its session (sealed or, written before sealing, clear).
pub(crate) fn open_session(keys: &Keyring, body: &str) -> Result<Session, StoreError> {
    serde_json::from_str(&keys.open_body(body)?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The `phone` column of a session: the blind index of the number it verifies (or, before the
/// page sent a code, the number it was created for), so delete-on-demand finds it; `None` while
/// it names no number.
pub(crate) fn session_phone(keys: &Keyring, session: &Session) -> Option<String> {
    session
        .verification
        .as_ref()
        .map(|v| v.phone.as_str())
        .or(session.contact_phone.as_deref())
        .map(|number| keys.index(number))
}

/// One `blocklist` row. A number is stored as its blind index (lookups and deletes are by
/// equality), with a sealed copy beside it so the list can be shown; a prefix, which is not
/// personal data and is matched by its digits, stays as it is.
pub(crate) struct BlockRow {
    pub application: String,
    /// The blind index of a number, or a prefix.
    pub value: String,
    pub kind: EntryKind,
    /// The number sealed ([`Keyring::seal`]); `None` for a prefix.
    pub sealed: Option<String>,
    pub created_at_ms: i64,
}

/// A blocklist entry as stored under `keys`.
pub(crate) fn block_row(keys: &Keyring, entry: Entry) -> BlockRow {
    let (value, sealed) = match entry.kind {
        EntryKind::PhoneNumber => (keys.index(&entry.value), Some(keys.seal(&entry.value))),
        EntryKind::Prefix => (entry.value, None),
    };
    BlockRow {
        application: entry.application,
        value,
        kind: entry.kind,
        sealed,
        created_at_ms: entry.created_at_ms,
    }
}

/// A stored blocklist row back to its entry: the number opened from its sealed copy (a row
/// written before sealing holds it in `value`).
pub(crate) fn block_entry(
    keys: &Keyring,
    application: String,
    value: String,
    kind: &str,
    sealed: Option<&str>,
    created_at_ms: i64,
) -> Result<Entry, StoreError> {
    let kind = EntryKind::parse(kind).ok_or_else(|| StoreError::Corrupt(format!("blocklist kind {kind:?}")))?;
    Ok(Entry {
        application,
        value: match sealed {
            Some(sealed) => keys.open(sealed)?,
            None => value,
        },
        kind,
        created_at_ms,
    })
}

/// The values a blocklist delete of `value` (a number or a prefix, as the API names it) matches:
/// the value itself (a prefix, or a number stored before sealing) and its blind index.
pub(crate) fn block_keys(keys: &Keyring, value: &str) -> [String; 2] {
    [value.to_owned(), keys.index(value)]
}

/// Claimed outbox events as the worker needs them: each payload, stored sealed, opened into the
/// canonical JSON it was written from (what is sent and signed). Both stores' `claim_events`.
pub fn open_events(
    keys: &Keyring,
    events: Vec<crate::outbox::ClaimedEvent>,
) -> Result<Vec<crate::outbox::ClaimedEvent>, StoreError> {
    events
        .into_iter()
        .map(|event| {
            Ok(crate::outbox::ClaimedEvent {
                payload: keys.open(&event.payload)?,
                ..event
            })
        })
        .collect()
}
