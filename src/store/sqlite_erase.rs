//! The SQLite store's deletes of issue 18: one number's data on demand, and retention's batches
//! of an application's oldest verifications and sessions. Both run in the writer thread, so they
//! apply after every write queued before them and never beside one.
use super::{unavailable, Job, SqliteStore};
use crate::store::{Erased, StoreError};
use rusqlite::{params, Transaction};
use tokio::sync::oneshot;

/// A delete as the writer runs it.
pub(super) enum Erase {
    /// Every verification and session of one number, by its blind index.
    Number { application: String, index: String },
    /// The `limit` oldest verifications, and the `limit` oldest sessions, created before `before_ms`.
    Older {
        application: String,
        before_ms: i64,
        limit: i64,
    },
}

pub(super) type EraseReply = oneshot::Sender<Result<Erased, StoreError>>;

/// The request ids a delete covers: `?1` application, `?2` blind index (number) or cut-off, `?3` limit.
const NUMBER_IDS: &str = "SELECT request_id FROM verifications WHERE application = ?1 AND phone = ?2";
const OLDER_IDS: &str = "SELECT request_id FROM verifications WHERE application = ?1 AND created_at_ms < ?2
     ORDER BY created_at_ms LIMIT ?3";
/// The session ids a delete covers, with the same parameters (`sessions_by_phone`, `sessions_by_age`).
const NUMBER_SESSIONS: &str = "SELECT id FROM sessions WHERE application = ?1 AND phone = ?2";
const OLDER_SESSIONS: &str = "SELECT id FROM sessions WHERE application = ?1 AND created_at_ms < ?2
     ORDER BY created_at_ms, id LIMIT ?3";

/// Runs a delete inside the writer's transaction: messages and plans first, then the
/// verifications their subquery found (the same set each time, within the transaction); then
/// the sessions' outbox rows, then the sessions.
pub(super) fn apply(tx: &Transaction<'_>, erase: &Erase) -> Result<Erased, StoreError> {
    let run = |ids: &str, sessions: &str, params: &[&dyn rusqlite::ToSql]| -> Result<Erased, StoreError> {
        let delete = |table: &str, column: &str, ids: &str| -> Result<u64, StoreError> {
            let sql = format!("DELETE FROM {table} WHERE {column} IN ({ids})");
            Ok(tx
                .prepare_cached(&sql)
                .map_err(unavailable)?
                .execute(params)
                .map_err(unavailable)? as u64)
        };
        Ok(Erased {
            messages: delete("messages", "request_id", ids)?,
            fallbacks: delete("fallbacks", "request_id", ids)?,
            verifications: delete("verifications", "request_id", ids)?,
            outbox: delete("outbox", "session_id", sessions)?,
            sessions: delete("sessions", "id", sessions)?,
        })
    };
    match erase {
        Erase::Number { application, index } => run(NUMBER_IDS, NUMBER_SESSIONS, params![application, index]),
        Erase::Older {
            application,
            before_ms,
            limit,
        } => run(OLDER_IDS, OLDER_SESSIONS, params![application, before_ms, limit]),
    }
}

impl SqliteStore {
    pub(super) async fn erase(&self, erase: Erase) -> Result<Erased, StoreError> {
        let (reply, done) = oneshot::channel();
        self.enqueue(Job::Erase(erase, reply))?;
        done.await
            .map_err(|_| StoreError::Unavailable("store writer has stopped".into()))?
    }
}
