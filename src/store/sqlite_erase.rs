//! The SQLite store's deletes of issue 18: one number's data on demand, and retention's batches
//! of an application's oldest verifications. Both run in the writer thread, so they apply after
//! every write queued before them and never beside one.
use super::{unavailable, Job, SqliteStore};
use crate::store::{Erased, StoreError};
use rusqlite::{params, Transaction};
use tokio::sync::oneshot;

/// A delete as the writer runs it.
pub(super) enum Erase {
    /// Every verification of one number, by its blind index.
    Number { application: String, index: String },
    /// The `limit` oldest verifications created before `before_ms`.
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

/// Runs a delete inside the writer's transaction: messages and plans first, then the
/// verifications their subquery found (the same set each time, within the transaction).
pub(super) fn apply(tx: &Transaction<'_>, erase: &Erase) -> Result<Erased, StoreError> {
    let run = |ids: &str, params: &[&dyn rusqlite::ToSql]| -> Result<Erased, StoreError> {
        let delete = |table: &str| -> Result<u64, StoreError> {
            let sql = format!("DELETE FROM {table} WHERE request_id IN ({ids})");
            Ok(tx
                .prepare_cached(&sql)
                .map_err(unavailable)?
                .execute(params)
                .map_err(unavailable)? as u64)
        };
        Ok(Erased {
            messages: delete("messages")?,
            fallbacks: delete("fallbacks")?,
            verifications: delete("verifications")?,
        })
    };
    match erase {
        Erase::Number { application, index } => run(NUMBER_IDS, params![application, index]),
        Erase::Older {
            application,
            before_ms,
            limit,
        } => run(OLDER_IDS, params![application, before_ms, limit]),
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
