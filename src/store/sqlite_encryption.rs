//! The SQLite store's numbers at rest (issue 18): its key file, the migrations that add the
//! indexes and columns retention and delete-on-demand need, and the upgrade pass that seals in place every
//! row written in clear (before encryption existed) or under an older key (after a rotation).
//!
//! The pass runs at open, before the writer thread or any reader starts, in one `IMMEDIATE`
//! transaction: a second process opening the same file waits for it and then finds nothing
//! left to do. It is skipped once the setting `store.encryption.key_id` names the current key,
//! so a normal start costs one settings read.
use super::unavailable;
use crate::store::crypto::{self, Keyring};
use crate::store::rows::{open_session, record, seal_session, session_phone};
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

/// Migration 7: what sealing sessions, outbox payloads and blocklist numbers needs in SQL.
/// `sessions.phone` holds the blind index of the session's number (delete-on-demand finds its
/// sessions by it) and `sessions.created_at_ms` its creation (retention's range), since neither
/// can be read from a sealed body; `blocklist.sealed` the sealed copy of a blocked number whose
/// `value` became its blind index. [`reseal`] fills them for rows written before.
pub const MIGRATION_SEALED_ROWS: &str = "
    ALTER TABLE sessions ADD COLUMN phone TEXT;
    ALTER TABLE sessions ADD COLUMN created_at_ms INTEGER;
    CREATE INDEX sessions_by_phone ON sessions (application, phone);
    CREATE INDEX sessions_by_age ON sessions (application, created_at_ms);
    ALTER TABLE blocklist ADD COLUMN sealed TEXT;
";

/// Settings key naming the key every row is sealed under once [`reseal`] has run.
pub const SEALED_UNDER: &str = "store.encryption.key_id";

/// Settings key naming which tables [`reseal`] covers ([`SEALED_FORMAT`]): a store sealed by a
/// build that left sessions, outbox and blocklist in clear has the key id but not this, so the
/// pass runs once more after the upgrade.
pub const SEALED_FORMAT_KEY: &str = "store.encryption.format";

/// `2`: verifications, messages, fallbacks, sessions, outbox payloads and blocklist numbers.
pub const SEALED_FORMAT: &str = "2";

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
/// column recomputed as the blind index), the `phone` of messages and fallbacks, session bodies
/// (with their `phone` and `created_at_ms` columns), outbox payloads and blocked numbers (see
/// [`MIGRATION_SEALED_ROWS`]). Values sealed under an older key are opened with it (it must
/// still be in the ring).
pub fn reseal(conn: &mut Connection, keys: &Keyring) -> Result<(), StoreError> {
    let setting = |key: &str| -> Result<Option<String>, StoreError> {
        conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(unavailable)
    };
    if setting(SEALED_UNDER)?.as_deref() == Some(keys.key_id())
        && setting(SEALED_FORMAT_KEY)?.as_deref() == Some(SEALED_FORMAT)
    {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let mut rewritten = 0usize;
    {
        let stale = stale_bodies(&tx, "SELECT request_id, body FROM verifications", keys)?;
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
            ("outbox", "seq", "payload"),
        ] {
            rewritten += reseal_column(&tx, keys, table, keys_sql, column)?;
        }
        rewritten += reseal_sessions(&tx, keys)?;
        rewritten += reseal_blocklist(&tx, keys)?;
    }
    for (key, value) in [(SEALED_UNDER, keys.key_id()), (SEALED_FORMAT_KEY, SEALED_FORMAT)] {
        tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )
        .map_err(unavailable)?;
    }
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

/// The (key, body) rows `select` returns whose body is not sealed under the current key.
fn stale_bodies(
    tx: &rusqlite::Transaction<'_>,
    select: &str,
    keys: &Keyring,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = tx.prepare(select).map_err(unavailable)?;
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
    Ok(stale)
}

/// Seals session bodies not sealed under the current key, setting the columns that stand in for
/// what the SQL can no longer read in them: the number's blind index and the creation time.
fn reseal_sessions(tx: &rusqlite::Transaction<'_>, keys: &Keyring) -> Result<usize, StoreError> {
    let stale = stale_bodies(tx, "SELECT id, body FROM sessions", keys)?;
    let mut update = tx
        .prepare("UPDATE sessions SET phone = ?2, created_at_ms = ?3, body = ?4 WHERE id = ?1")
        .map_err(unavailable)?;
    for (id, body) in &stale {
        let session = open_session(keys, body)?;
        update
            .execute(params![
                id,
                session_phone(keys, &session),
                session.created_at_ms,
                seal_session(keys, &session)?
            ])
            .map_err(unavailable)?;
    }
    Ok(stale.len())
}

/// Stores each blocked number as its blind index under the current key with a sealed copy
/// (`value` held it in clear before sealing; after a rotation the copy opens with the old key).
fn reseal_blocklist(tx: &rusqlite::Transaction<'_>, keys: &Keyring) -> Result<usize, StoreError> {
    let stale: Vec<(i64, String, Option<String>)> = {
        let mut stmt = tx
            .prepare("SELECT rowid, value, sealed FROM blocklist WHERE kind = 'phone_number'")
            .map_err(unavailable)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(unavailable)?;
        let mut stale = Vec::new();
        for row in rows {
            let (rowid, value, sealed): (i64, String, Option<String>) = row.map_err(unavailable)?;
            if !sealed.as_deref().is_some_and(|s| keys.is_current(s)) {
                stale.push((rowid, value, sealed));
            }
        }
        stale
    };
    let mut update = tx
        .prepare("UPDATE blocklist SET value = ?2, sealed = ?3 WHERE rowid = ?1")
        .map_err(unavailable)?;
    for (rowid, value, sealed) in &stale {
        let number = match sealed {
            Some(sealed) => keys.open(sealed)?,
            None => value.clone(),
        };
        update
            .execute(params![rowid, keys.index(&number), keys.seal(&number)])
            .map_err(unavailable)?;
    }
    Ok(stale.len())
}
