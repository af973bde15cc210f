//! The SQLite store's delivery tables (issue 14): `messages`, every message a carrier accepted,
//! found by carrier and carrier message id when a receipt reaches a node that does not remember
//! it; and `fallbacks`, the rest of each verification's plan, found by due time.
//!
//! Writes are part of the writer thread's transactions ([`apply`] runs inside a verification
//! save or a session update), so a send's records, its message and its plan commit together.
//! A claim is a conditional `UPDATE ... RETURNING` in the writer's `BEGIN IMMEDIATE`
//! transaction, so one claimant gets a due step, also across processes on one file. A leased
//! row's `due_at_ms` is moved to the end of its lease: one index on the due time finds both the
//! steps that fell due and the leases that ran out, and no scan grows with the stored volume.
use super::{rows, unavailable, Job, SqliteStore};
use crate::store::delivery::{corrupt, pending_fallback, DeliveryChange, MessageState, PendingFallback, StoredMessage};
pub(super) use crate::store::delivery::{prepare, Write};
use crate::store::StoreError;
use crate::store::{Applied, Head};
use crate::verification::Verification;
use rusqlite::{params, OptionalExtension, Transaction};
use tokio::sync::oneshot;

/// The delivery tables (migration 5).
pub(super) const MIGRATION: &str = "
    CREATE TABLE messages (
        carrier            TEXT NOT NULL,
        carrier_message_id TEXT NOT NULL,
        request_id         TEXT NOT NULL,
        application        TEXT NOT NULL,
        phone              TEXT NOT NULL,
        channel            TEXT NOT NULL,
        state              TEXT NOT NULL,
        sent_at_ms         INTEGER NOT NULL,
        PRIMARY KEY (carrier, carrier_message_id)
    ) WITHOUT ROWID;
    CREATE TABLE fallbacks (
        request_id  TEXT PRIMARY KEY NOT NULL,
        application TEXT NOT NULL,
        phone       TEXT NOT NULL,
        due_at_ms   INTEGER NOT NULL,
        claimed_by  TEXT,
        from_carrier TEXT NOT NULL,
        plan        TEXT NOT NULL
    );
    CREATE INDEX fallbacks_by_due ON fallbacks (due_at_ms);
";

/// Stores a message a carrier accepted (a carrier that reuses an id replaces the old row).
pub const INSERT_MESSAGE: &str = "INSERT INTO messages
       (carrier, carrier_message_id, request_id, application, phone, channel, state, sent_at_ms)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
     ON CONFLICT (carrier, carrier_message_id) DO UPDATE SET request_id = excluded.request_id,
       application = excluded.application, phone = excluded.phone, channel = excluded.channel,
       state = excluded.state, sent_at_ms = excluded.sent_at_ms";

/// A final receipt: the message's state, set once.
pub const MESSAGE_OUTCOME: &str =
    "UPDATE messages SET state = ?3 WHERE carrier = ?1 AND carrier_message_id = ?2 AND state = 'accepted'";

/// One message by carrier and id.
pub const FIND_MESSAGE: &str = "SELECT request_id, application, phone, channel, state, sent_at_ms
     FROM messages WHERE carrier = ?1 AND carrier_message_id = ?2";

/// Stores a verification's remaining plan, unleased, replacing the one before.
pub const ARM_FALLBACK: &str =
    "INSERT INTO fallbacks (request_id, application, phone, due_at_ms, claimed_by, from_carrier, plan)
     VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6)
     ON CONFLICT (request_id) DO UPDATE SET application = excluded.application, phone = excluded.phone,
       due_at_ms = excluded.due_at_ms, claimed_by = NULL, from_carrier = excluded.from_carrier,
       plan = excluded.plan";

pub const DISARM_FALLBACK: &str = "DELETE FROM fallbacks WHERE request_id = ?1";

/// Whether anything is due at `?1`: the scheduler's read, so an idle scan costs no write.
pub const ANY_FALLBACK_DUE: &str = "SELECT 1 FROM fallbacks WHERE due_at_ms <= ?1 LIMIT 1";

/// Leases up to `?4` due fallbacks to `?3` until `?2`.
pub const CLAIM_FALLBACKS: &str = "UPDATE fallbacks SET due_at_ms = ?2, claimed_by = ?3
     WHERE request_id IN (SELECT request_id FROM fallbacks WHERE due_at_ms <= ?1 ORDER BY due_at_ms LIMIT ?4)
     RETURNING request_id, application, phone, due_at_ms, plan";

/// Leases one fallback to `?2` until `?3` before it is due, if it waits for a message of carrier
/// `?5`, unless another lease runs at `?4`.
pub const CLAIM_FALLBACK: &str = "UPDATE fallbacks SET due_at_ms = ?3, claimed_by = ?2
     WHERE request_id = ?1 AND from_carrier = ?5 AND (claimed_by IS NULL OR due_at_ms <= ?4)
     RETURNING request_id, application, phone, due_at_ms, plan";

/// Applies delivery writes inside the writer's transaction, in order.
pub(super) fn apply(tx: &Transaction<'_>, writes: &[Write]) -> Result<(), StoreError> {
    for write in writes {
        let stmt = |sql: &str| tx.prepare_cached(sql).map_err(unavailable);
        match write {
            Write::Sent(m) => stmt(INSERT_MESSAGE)?
                .execute(params![
                    m.carrier,
                    m.carrier_message_id,
                    m.request_id,
                    m.application,
                    m.phone,
                    m.channel.as_str(),
                    m.state.as_str(),
                    m.sent_at_ms
                ])
                .map_err(unavailable)?,
            Write::Outcome(carrier, id, state) => stmt(MESSAGE_OUTCOME)?
                .execute(params![carrier, id, state.as_str()])
                .map_err(unavailable)?,
            Write::Arm {
                request_id,
                application,
                phone,
                due_at_ms,
                from_carrier,
                plan,
            } => stmt(ARM_FALLBACK)?
                .execute(params![request_id, application, phone, due_at_ms, from_carrier, plan])
                .map_err(unavailable)?,
            Write::Disarm(request_id) => stmt(DISARM_FALLBACK)?
                .execute(params![request_id])
                .map_err(unavailable)?,
        };
    }
    Ok(())
}

/// A claim as the writer runs it.
pub(super) enum Claim {
    Due {
        claimant: String,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    },
    One {
        request_id: String,
        from_carrier: String,
        claimant: String,
        now_ms: i64,
        lease_ms: i64,
    },
}

pub(super) type ClaimReply = oneshot::Sender<Result<Vec<PendingFallback>, StoreError>>;

/// Runs a claim inside the writer's transaction.
pub(super) fn claim(tx: &Transaction<'_>, claim: &Claim) -> Result<Vec<PendingFallback>, StoreError> {
    let mut claimed = match claim {
        Claim::Due {
            claimant,
            now_ms,
            lease_ms,
            limit,
        } => {
            let mut stmt = tx.prepare_cached(CLAIM_FALLBACKS).map_err(unavailable)?;
            let rows = stmt
                .query_map(
                    params![now_ms, now_ms + lease_ms, claimant, *limit as i64],
                    fallback_row,
                )
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable)?).collect::<Result<Vec<_>, _>>()?
        }
        Claim::One {
            request_id,
            from_carrier,
            claimant,
            now_ms,
            lease_ms,
        } => {
            let mut stmt = tx.prepare_cached(CLAIM_FALLBACK).map_err(unavailable)?;
            let lease_end = now_ms + lease_ms;
            stmt.query_row(
                params![request_id, claimant, lease_end, now_ms, from_carrier],
                fallback_row,
            )
            .optional()
            .map_err(unavailable)?
            .transpose()?
            .into_iter()
            .collect()
        }
    };
    claimed.sort_by(|a, b| a.request_id.cmp(&b.request_id));
    Ok(claimed)
}

/// A `RETURNING request_id, application, phone, due_at_ms, plan` row.
fn fallback_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<PendingFallback, StoreError>> {
    Ok(pending_fallback(
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get::<_, String>(4)?.as_str(),
    ))
}

impl SqliteStore {
    pub(super) async fn find_messages_impl(
        &self,
        carrier: &str,
        ids: &[String],
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let (carrier, ids, keys) = (carrier.to_owned(), ids.to_vec(), self.keys.clone());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(FIND_MESSAGE).map_err(unavailable)?;
            let mut found = Vec::new();
            for id in ids {
                let row = stmt
                    .query_row(params![carrier, id], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, i64>(5)?,
                        ))
                    })
                    .optional()
                    .map_err(unavailable)?;
                if let Some((request_id, application, phone, channel, state, sent_at_ms)) = row {
                    found.push(StoredMessage {
                        carrier: carrier.clone(),
                        carrier_message_id: id,
                        request_id,
                        application,
                        phone: keys.open(&phone)?,
                        channel: channel.parse().map_err(corrupt)?,
                        state: MessageState::parse(&state)
                            .ok_or_else(|| corrupt(format!("message state {state:?}")))?,
                        sent_at_ms,
                    });
                }
            }
            Ok(found)
        })
        .await
    }

    /// Whether any fallback is due: read on a reader, so the scheduler's idle scans write nothing.
    pub(super) async fn any_fallback_due(&self, now_ms: i64) -> Result<bool, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(ANY_FALLBACK_DUE)
                .map_err(unavailable)?
                .exists(params![now_ms])
                .map_err(unavailable)
        })
        .await
    }

    pub(super) fn save_if_versions_impl(
        &self,
        records: Vec<Verification>,
        head: Option<Head>,
        changes: Vec<DeliveryChange>,
    ) -> Applied {
        // Written one version up; applied only over the versions they were computed from.
        let next = records.into_iter().map(|v| Verification {
            version: v.version + 1,
            ..v
        });
        let prepared = rows(&self.keys, next.collect()).and_then(|rows| Ok((rows, prepare(&self.keys, changes)?)));
        let (reply, done) = oneshot::channel();
        // The head names its number as the verifications table does: by its blind index.
        let head = head.map(|h| Head {
            phone: self.keys.index(&h.phone),
            ..h
        });
        let queued = prepared.and_then(|(rows, writes)| self.enqueue(Job::SaveIfVersions(rows, head, writes, reply)));
        Box::pin(async move {
            queued?;
            done.await
                .map_err(|_| StoreError::Unavailable("store writer has stopped".into()))?
        })
    }

    pub(super) async fn claim_fallbacks_impl(
        &self,
        claimant: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<PendingFallback>, StoreError> {
        if !self.any_fallback_due(now_ms).await? {
            return Ok(Vec::new());
        }
        let claim = Claim::Due {
            claimant: claimant.to_owned(),
            now_ms,
            lease_ms,
            limit,
        };
        self.claim_job(claim).await
    }

    pub(super) async fn claim_fallback_impl(
        &self,
        request_id: &str,
        from_carrier: &str,
        claimant: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<PendingFallback>, StoreError> {
        let claim = Claim::One {
            request_id: request_id.to_owned(),
            from_carrier: from_carrier.to_owned(),
            claimant: claimant.to_owned(),
            now_ms,
            lease_ms,
        };
        Ok(self.claim_job(claim).await?.pop())
    }

    async fn claim_job(&self, claim: Claim) -> Result<Vec<PendingFallback>, StoreError> {
        let (reply, done) = oneshot::channel();
        self.enqueue(Job::ClaimFallbacks(claim, reply))?;
        let claimed = done
            .await
            .map_err(|_| StoreError::Unavailable("store writer has stopped".into()))??;
        // The writer returns the sealed `phone` column; opened here, off the writer thread.
        claimed
            .into_iter()
            .map(|f| {
                Ok(PendingFallback {
                    phone: self.keys.open(&f.phone)?,
                    ..f
                })
            })
            .collect()
    }
}
