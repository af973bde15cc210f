//! The SQLite store's numbers at rest (issue 18): its key file, the migration that adds the
//! indexes retention and delete-on-demand need, and the upgrade pass that seals in place every
//! row written in clear (before encryption existed) or under an older key (after a rotation).
//!
//! The pass runs at open, before the writer thread or any reader starts, in one `IMMEDIATE`
//! transaction: a second process opening the same file waits for it and then finds nothing
//! left to do. It is skipped once the setting `store.encryption.key_id` names the current key,
//! so a normal start costs one settings read.
use super::unavailable;
use crate::store::crypto::{self, Keyring};
use crate::store::rows::record;
use crate::store::StoreError;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;

/// Migration 6. `verifications_by_age`: retention finds an application's oldest rows by one
/// range. `messages_by_request`: a deleted verification's messages are found by request id.
/// The sealing itself is [`reseal`]: SQL cannot encrypt.
pub const MIGRATION: &str = "
    CREATE INDEX IF NOT EXISTS verifications_by_age ON verifications (application, created_at_ms);
    CREATE INDEX IF NOT EXISTS messages_by_request ON messages (request_id);
";

/// Settings key naming the key every row is sealed under once [`reseal`] has run.
pub const SEALED_UNDER: &str = "store.encryption.key_id";

/// Key id of the key generated beside the database when none is configured.
pub const LOCAL_KEY_ID: &str = "local";

/// The keyring of a store with no configured key: `store.key` beside the database
/// (`local:<base64 of 32 bytes>`), created with mode 0600 on first open.
pub fn local_keyring(db: &Path) -> Result<Keyring, StoreError> {
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join("store.key");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = format!("{LOCAL_KEY_ID}:{}\n", crypto::generate_key());
            write_new(&path, &text)?;
            // Another process may have won the race: read what is there.
            std::fs::read_to_string(&path).map_err(|e| unavailable(format!("{}: {e}", path.display())))?
        }
        Err(e) => return Err(unavailable(format!("{}: {e}", path.display()))),
    };
    let (id, key) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| StoreError::Corrupt(format!("{} is not `key_id:base64`", path.display())))?;
    let key = crypto::decode_key(key).map_err(|e| StoreError::Corrupt(format!("{}: key {e}", path.display())))?;
    Ok(Keyring::new((id, &key), &[]))
}

fn write_new(path: &Path, text: &str) -> Result<(), StoreError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => file
            .write_all(text.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| unavailable(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(unavailable(format!("{}: {e}", path.display()))),
    }
}

/// Seals under the current key every row that is not: verification bodies (and their `phone`
/// column recomputed as the blind index) and the `phone` of messages and fallbacks. Values sealed under an older key are opened with it (it must still be
/// in the ring).
pub fn reseal(conn: &mut Connection, keys: &Keyring) -> Result<(), StoreError> {
    let done: Option<String> = conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [SEALED_UNDER], |r| {
            r.get(0)
        })
        .optional()
        .map_err(unavailable)?;
    if done.as_deref() == Some(keys.key_id()) {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let mut rewritten = 0usize;
    {
        let stale: Vec<(String, String)> = {
            let mut stmt = tx
                .prepare("SELECT request_id, body FROM verifications")
                .map_err(unavailable)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(unavailable)?;
            let mut stale = Vec::new();
            for row in rows {
                let (id, body): (String, String) = row.map_err(unavailable)?;
                if !keys.is_current_body(&body) {
                    stale.push((id, body));
                }
            }
            stale
        };
        let mut update = tx
            .prepare("UPDATE verifications SET phone = ?2, body = ?3 WHERE request_id = ?1")
            .map_err(unavailable)?;
        for (id, body) in stale {
            let v = record(keys, &body)?;
            let json = serde_json::to_string(&v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            update
                .execute(params![
                    id,
                    keys.index(&v.number.full_number),
                    keys.seal_body(v.version, &json)
                ])
                .map_err(unavailable)?;
            rewritten += 1;
        }
        for (table, keys_sql, column) in [
            ("messages", "carrier, carrier_message_id", "phone"),
            ("fallbacks", "request_id", "phone"),
        ] {
            rewritten += reseal_column(&tx, keys, table, keys_sql, column)?;
        }
    }
    tx.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![SEALED_UNDER, keys.key_id()],
    )
    .map_err(unavailable)?;
    tx.commit().map_err(unavailable)?;
    tracing::info!(key_id = keys.key_id(), rewritten, "store sealed under the current key");
    Ok(())
}

/// Seals one text column of `table` (primary key `key_columns`, comma-separated) where it is not
/// sealed under the current key. Returns how many rows it rewrote.
fn reseal_column(
    tx: &rusqlite::Transaction<'_>,
    keys: &Keyring,
    table: &str,
    key_columns: &str,
    column: &str,
) -> Result<usize, StoreError> {
    let key_names: Vec<&str> = key_columns.split(", ").collect();
    let stale: Vec<(Vec<Value>, String)> = {
        let mut stmt = tx
            .prepare(&format!("SELECT {key_columns}, {column} FROM {table}"))
            .map_err(unavailable)?;
        let rows = stmt
            .query_map([], |r| {
                let ids = (0..key_names.len())
                    .map(|i| r.get(i))
                    .collect::<Result<Vec<Value>, _>>()?;
                Ok((ids, r.get::<_, String>(key_names.len())?))
            })
            .map_err(unavailable)?;
        let mut stale = Vec::new();
        for row in rows {
            let (ids, value) = row.map_err(unavailable)?;
            if !keys.is_current(&value) {
                stale.push((ids, value));
            }
        }
        stale
    };
    let condition = key_names
        .iter()
        .enumerate()
        .map(|(i, name)| format!("{name} = ?{}", i + 2))
        .collect::<Vec<_>>()
        .join(" AND ");
    let mut update = tx
        .prepare(&format!("UPDATE {table} SET {column} = ?1 WHERE {condition}"))
        .map_err(unavailable)?;
    let count = stale.len();
    for (ids, value) in stale {
        let sealed = keys.seal(&keys.open(&value)?);
        let mut values = vec![Value::Text(sealed)];
        values.extend(ids);
        update
            .execute(rusqlite::params_from_iter(values))
            .map_err(unavailable)?;
    }
    Ok(count)
}
