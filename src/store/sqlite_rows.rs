//! The SQLite store's verification rows ([`Row`], shared with PostgreSQL): their upsert
//! (conditional over the record's version when asked) and its charge with the month's running
//! totals, and a record read back.
use super::{unavailable, ADD_USAGE, COUNT_CHARGE, INSERT_CHARGE, SAVE_VERIFICATION, SAVE_VERIFICATION_IF_VERSION};
use crate::billing;
use crate::store::rows::Row;
use crate::store::{Head, StoreError};
use rusqlite::{params, OptionalExtension, Transaction};

/// Writes verification rows: each upserted, and its charge added once (with the month's totals).
pub(super) fn save_rows(tx: &Transaction<'_>, rows: &[Row]) -> Result<(), StoreError> {
    for r in rows {
        save_row(tx, r, None)?;
    }
    Ok(())
}

/// Whether a conditional save of `rows` ([`crate::store::Store::save_if_versions`]) applies:
/// each row is stored at the version it was read at (`version - 1`, or not stored at all), and
/// no verification of `head`'s number but the known one was created since the writer looked.
/// Run in the writer's transaction, so nothing changes between this and the writes.
pub(super) fn still_current(tx: &Transaction<'_>, rows: &[Row], head: Option<&Head>) -> Result<bool, StoreError> {
    if let Some(head) = head {
        let other = tx
            .prepare_cached(
                "SELECT 1 FROM verifications WHERE application = ?1 AND phone = ?2 AND created_at_ms >= ?3
                 AND request_id <> ?4 LIMIT 1",
            )
            .map_err(unavailable)?
            .exists(params![
                head.application,
                head.phone,
                head.since_ms,
                head.known.as_deref().unwrap_or("")
            ])
            .map_err(unavailable)?;
        if other {
            return Ok(false);
        }
    }
    let mut stored = tx
        .prepare_cached("SELECT COALESCE(json_extract(body, '$.version'), 0) FROM verifications WHERE request_id = ?1")
        .map_err(unavailable)?;
    for r in rows {
        let version: Option<i64> = stored
            .query_row(params![r.request_id], |row| row.get(0))
            .optional()
            .map_err(unavailable)?;
        if version.is_some_and(|v| v != r.version - 1) {
            return Ok(false);
        }
    }
    Ok(true)
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
