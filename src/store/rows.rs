//! Verification records as every backend stores them: indexed columns, the record as JSON, and
//! its charge's ledger columns. The number is never stored in clear ([`super::crypto`]): the
//! `phone` column holds its blind index, the body is a sealed envelope.
use super::crypto::Keyring;
use super::StoreError;
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
