//! The SQLite store's verification rows: a record as the writer stores it ([`Row`]), its upsert
//! (conditional over the record's version when asked) and its charge with the month's running
//! totals, and a record read back.
use super::{
    state_name, unavailable, ADD_USAGE, COUNT_CHARGE, INSERT_CHARGE, SAVE_VERIFICATION, SAVE_VERIFICATION_IF_VERSION,
};
use crate::billing;
use crate::store::StoreError;
use crate::verification::Verification;
use rusqlite::{params, OptionalExtension, Transaction};

pub(super) struct Row {
    pub(super) request_id: String,
    pub(super) version: i64,
    pub(super) application: String,
    pub(super) phone: String,
    pub(super) created_at_ms: i64,
    pub(super) state: &'static str,
    pub(super) body: String,
    pub(super) charge: Option<ChargeRow>,
}

pub(super) struct ChargeRow {
    pub(super) month: String,
    pub(super) at_ms: i64,
    pub(super) channel: &'static str,
    pub(super) country: String,
    pub(super) amount_micros: i64,
}

/// Writes verification rows: each upserted, and its charge added once (with the month's totals).
pub(super) fn save_rows(tx: &Transaction<'_>, rows: &[Row]) -> Result<(), StoreError> {
    for r in rows {
        save_row(tx, r, None)?;
    }
    Ok(())
}

/// Writes one verification row, only over version `expected` when given; its charge (once) only
/// if the row was written. Returns whether it was.
pub(super) fn save_row(tx: &Transaction<'_>, r: &Row, expected: Option<i64>) -> Result<bool, StoreError> {
    let mut charge = tx.prepare_cached(INSERT_CHARGE).map_err(unavailable)?;
    let mut count_charge = tx.prepare_cached(COUNT_CHARGE).map_err(unavailable)?;
    let mut add_usage = tx.prepare_cached(ADD_USAGE).map_err(unavailable)?;
    {
        let written = match expected {
            None => tx
                .prepare_cached(SAVE_VERIFICATION)
                .map_err(unavailable)?
                .execute(params![
                    r.request_id,
                    r.application,
                    r.phone,
                    r.created_at_ms,
                    r.state,
                    r.body
                ]),
            Some(version) => tx
                .prepare_cached(SAVE_VERIFICATION_IF_VERSION)
                .map_err(unavailable)?
                .execute(params![
                    r.request_id,
                    r.application,
                    r.phone,
                    r.created_at_ms,
                    r.state,
                    r.body,
                    version
                ]),
        }
        .map_err(unavailable)?;
        if written == 0 {
            return Ok(false);
        }
        if let Some(c) = &r.charge {
            // No row back: this verification was charged before (resend, fallback).
            let free: Option<bool> = charge
                .query_row(
                    params![
                        r.request_id,
                        r.application,
                        c.month,
                        c.at_ms,
                        c.channel,
                        c.country,
                        c.amount_micros,
                        billing::FREE_PER_MONTH as i64
                    ],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            if let Some(free) = free {
                count_charge
                    .execute(params![r.application, c.month])
                    .map_err(unavailable)?;
                let billed = if free { 0 } else { c.amount_micros };
                add_usage
                    .execute(params![r.application, c.month, c.channel, c.country, free, billed])
                    .map_err(unavailable)?;
            }
        }
    }
    Ok(true)
}

/// A `SELECT body` row: the record.
pub(super) fn versioned(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Verification, StoreError>> {
    let body: String = row.get(0)?;
    Ok(serde_json::from_str::<Verification>(&body).map_err(|e| StoreError::Corrupt(e.to_string())))
}

/// Store rows of verification records.
pub(super) fn rows(records: Vec<Verification>) -> Result<Vec<Row>, StoreError> {
    records
        .into_iter()
        .map(|v| {
            Ok(Row {
                body: serde_json::to_string(&v).map_err(|e| StoreError::Corrupt(e.to_string()))?,
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
                phone: v.number.full_number,
                created_at_ms: v.created_at_ms,
            })
        })
        .collect()
}
