//! The SQLite store's verification rows ([`Row`], shared with PostgreSQL): their upsert
//! (conditional over the record's version when asked) and its charge with the month's running
//! totals, and a record read back.
use super::{
    unavailable, ADD_USAGE, COUNT_CHARGE, INSERT_CHARGE, SAVE_VERIFICATION, SAVE_VERIFICATION_IF_VERSION,
    STORED_VERSION,
};
use crate::billing;
use crate::store::rows::Row;
use crate::store::{Head, StoreError};
use rusqlite::{params, OptionalExtension, Transaction};

/// Writes verification rows: each upserted, and its charge added once (with the month's totals).
pub(super) fn save_rows(tx: &Transaction<'_>, rows: &[Row]) -> Result<(), StoreError> {
    for r in rows {
        save_row(tx, r, false)?;
    }
    Ok(())
}

/// A conditional save of `rows` ([`crate::store::Store::save_if_versions`]): written if
/// [`still_current`], else nothing. Returns whether they were. One record without a head, the
/// common case, is checked and written by one statement ([`SAVE_VERIFICATION_IF_VERSION`]).
pub(super) fn save_if_current(tx: &Transaction<'_>, rows: &[Row], head: Option<&Head>) -> Result<bool, StoreError> {
    match (rows, head) {
        ([row], None) => save_row(tx, row, true),
        _ => {
            let current = still_current(tx, rows, head)?;
            if current {
                save_rows(tx, rows)?;
            }
            Ok(current)
        }
    }
}

/// Whether a conditional save of `rows` ([`crate::store::Store::save_if_versions`]) applies:
/// each row is stored at the version it was read at (`version - 1`, or not stored at all), and
/// no verification of `head`'s number but the known one was created since the writer looked.
/// Run in the writer's transaction, so nothing changes between this and the writes.
fn still_current(tx: &Transaction<'_>, rows: &[Row], head: Option<&Head>) -> Result<bool, StoreError> {
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
    let mut stored = tx.prepare_cached(STORED_VERSION).map_err(unavailable)?;
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

/// Writes one verification row, only over the version it was read at (`version - 1`, or not
/// stored at all) when `conditional`; its charge (once) only if the row was written. Returns
/// whether it was.
fn save_row(tx: &Transaction<'_>, r: &Row, conditional: bool) -> Result<bool, StoreError> {
    let sql = if conditional {
        SAVE_VERIFICATION_IF_VERSION
    } else {
        SAVE_VERIFICATION
    };
    let written = tx
        .prepare_cached(sql)
        .map_err(unavailable)?
        .execute(params![
            r.request_id,
            r.application,
            r.phone,
            r.created_at_ms,
            r.state,
            r.body,
            r.version
        ])
        .map_err(unavailable)?;
    if written == 0 {
        return Ok(false);
    }
    let Some(c) = &r.charge else {
        return Ok(true);
    };
    // No row back: this verification was charged before (resend, fallback).
    let free: Option<bool> = tx
        .prepare_cached(INSERT_CHARGE)
        .map_err(unavailable)?
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
        tx.prepare_cached(COUNT_CHARGE)
            .map_err(unavailable)?
            .execute(params![r.application, c.month])
            .map_err(unavailable)?;
        let billed = if free { 0 } else { c.amount_micros };
        tx.prepare_cached(ADD_USAGE)
            .map_err(unavailable)?
            .execute(params![r.application, c.month, c.channel, c.country, free, billed])
            .map_err(unavailable)?;
    }
    Ok(true)
}
