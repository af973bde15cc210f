//! The PostgreSQL store's delivery tables (issue 14), the twin of `sqlite_delivery.rs`:
//! `messages`, every message a carrier accepted, found by carrier and carrier message id when a
//! receipt reaches a node that does not remember it; and `fallbacks`, the rest of each
//! verification's plan, found by due time.
//!
//! Writes run in the writer task's transaction with the verification records they come with
//! ([`apply`]), so a send's records, its message and its plan commit together. Claims run on a
//! pooled connection, each one statement: [`CLAIM_FALLBACKS`] locks due rows with
//! `FOR UPDATE SKIP LOCKED` (a row another node is claiming right now is skipped, and a row
//! leased meanwhile fails the re-checked due time), [`CLAIM_FALLBACK`] is a conditional
//! `UPDATE … RETURNING`; so a due step is leased to one claimant across every node. A leased row's
//! `due_at_ms` is moved to the end of its lease: one index on the due time finds both the steps
//! that fell due and the leases that ran out.
use super::PostgresStore;
use crate::store::delivery::{corrupt, pending_fallback, MessageState, PendingFallback, StoredMessage, Write};
use crate::store::StoreError;
use deadpool_postgres::Transaction;

/// The delivery tables (migration 3), as SQLite's migration 5.
pub(super) const MIGRATION: &str = "
    CREATE TABLE messages (
        carrier            TEXT NOT NULL,
        carrier_message_id TEXT NOT NULL,
        request_id         TEXT NOT NULL,
        application        TEXT NOT NULL,
        phone              TEXT NOT NULL,
        channel            TEXT NOT NULL,
        state              TEXT NOT NULL,
        sent_at_ms         BIGINT NOT NULL,
        PRIMARY KEY (carrier, carrier_message_id)
    );
    CREATE TABLE fallbacks (
        request_id   TEXT PRIMARY KEY,
        application  TEXT NOT NULL,
        phone        TEXT NOT NULL,
        due_at_ms    BIGINT NOT NULL,
        claimed_by   TEXT,
        from_carrier TEXT NOT NULL,
        plan         TEXT NOT NULL
    );
    CREATE INDEX fallbacks_by_due ON fallbacks (due_at_ms);
";

/// Stores a message a carrier accepted (a carrier that reuses an id replaces the old row).
pub const INSERT_MESSAGE: &str = "INSERT INTO messages
       (carrier, carrier_message_id, request_id, application, phone, channel, state, sent_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (carrier, carrier_message_id) DO UPDATE SET request_id = excluded.request_id,
       application = excluded.application, phone = excluded.phone, channel = excluded.channel,
       state = excluded.state, sent_at_ms = excluded.sent_at_ms";

/// A final receipt: the message's state, set once.
pub const MESSAGE_OUTCOME: &str =
    "UPDATE messages SET state = $3 WHERE carrier = $1 AND carrier_message_id = $2 AND state = 'accepted'";

/// The messages of carrier `$1` with any of the ids `$2` (one receipt's spellings of its id).
pub const FIND_MESSAGES: &str = "SELECT carrier_message_id, request_id, application, phone, channel, state, sent_at_ms
     FROM messages WHERE carrier = $1 AND carrier_message_id = ANY($2)";

/// Stores a verification's remaining plan, unleased, replacing the one before.
pub const ARM_FALLBACK: &str =
    "INSERT INTO fallbacks (request_id, application, phone, due_at_ms, claimed_by, from_carrier, plan)
     VALUES ($1, $2, $3, $4, NULL, $5, $6)
     ON CONFLICT (request_id) DO UPDATE SET application = excluded.application, phone = excluded.phone,
       due_at_ms = excluded.due_at_ms, claimed_by = NULL, from_carrier = excluded.from_carrier,
       plan = excluded.plan";

pub const DISARM_FALLBACK: &str = "DELETE FROM fallbacks WHERE request_id = $1";

/// Leases up to `$4` fallbacks due at `$1` to `$3` until `$2`, earliest due first; rows another
/// transaction has locked are skipped, not waited for.
/// (The due rows are picked into an array first, so the update finds each by primary key: a join
/// with the subquery would be planned as a scan of the whole table.)
pub const CLAIM_FALLBACKS: &str = "UPDATE fallbacks SET due_at_ms = $2, claimed_by = $3
     WHERE request_id = ANY(ARRAY(
       SELECT request_id FROM fallbacks WHERE due_at_ms <= $1 ORDER BY due_at_ms LIMIT $4
       FOR UPDATE SKIP LOCKED))
     RETURNING request_id, application, phone, due_at_ms, plan";

/// Leases the fallback of `$1` to `$2` until `$3` before it is due, if it waits for a message of
/// carrier `$5`, unless another lease runs at `$4`.
pub const CLAIM_FALLBACK: &str = "UPDATE fallbacks SET due_at_ms = $3, claimed_by = $2
     WHERE request_id = $1 AND from_carrier = $5 AND (claimed_by IS NULL OR due_at_ms <= $4)
     RETURNING request_id, application, phone, due_at_ms, plan";

/// Applies delivery writes inside the writer's transaction, in order.
pub(super) async fn apply(tx: &Transaction<'_>, writes: &[Write]) -> Result<(), tokio_postgres::Error> {
    for write in writes {
        match write {
            Write::Sent(m) => {
                let stmt = tx.prepare_cached(INSERT_MESSAGE).await?;
                tx.execute(
                    &stmt,
                    &[
                        &m.carrier,
                        &m.carrier_message_id,
                        &m.request_id,
                        &m.application,
                        &m.phone,
                        &m.channel.as_str(),
                        &m.state.as_str(),
                        &m.sent_at_ms,
                    ],
                )
                .await?
            }
            Write::Outcome(carrier, id, state) => {
                let stmt = tx.prepare_cached(MESSAGE_OUTCOME).await?;
                tx.execute(&stmt, &[carrier, id, &state.as_str()]).await?
            }
            Write::Arm {
                request_id,
                application,
                phone,
                due_at_ms,
                from_carrier,
                plan,
            } => {
                let stmt = tx.prepare_cached(ARM_FALLBACK).await?;
                tx.execute(&stmt, &[request_id, application, phone, due_at_ms, from_carrier, plan])
                    .await?
            }
            Write::Disarm(request_id) => {
                let stmt = tx.prepare_cached(DISARM_FALLBACK).await?;
                tx.execute(&stmt, &[request_id]).await?
            }
        };
    }
    Ok(())
}

impl PostgresStore {
    /// A `RETURNING request_id, application, phone, due_at_ms, plan` row, its number opened.
    fn fallback_row(&self, row: &tokio_postgres::Row) -> Result<PendingFallback, StoreError> {
        let phone = self.keys.open(row.get(2))?;
        pending_fallback(row.get(0), row.get(1), phone, row.get(3), row.get::<_, &str>(4))
    }

    pub(super) async fn find_messages_impl(
        &self,
        carrier: &str,
        ids: &[String],
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = self.query(FIND_MESSAGES, &[&carrier, &ids]).await?;
        let mut found = Vec::with_capacity(rows.len());
        // In the order of `ids`: the exact spelling first.
        for id in ids {
            let Some(r) = rows.iter().find(|r| r.get::<_, &str>(0) == id.as_str()) else {
                continue;
            };
            let state: &str = r.get(5);
            found.push(StoredMessage {
                carrier: carrier.to_owned(),
                carrier_message_id: id.clone(),
                request_id: r.get(1),
                application: r.get(2),
                phone: self.keys.open(r.get(3))?,
                channel: r.get::<_, &str>(4).parse().map_err(corrupt)?,
                state: MessageState::parse(state).ok_or_else(|| corrupt(format!("message state {state:?}")))?,
                sent_at_ms: r.get(6),
            });
        }
        Ok(found)
    }

    pub(super) async fn claim_fallbacks_impl(
        &self,
        claimant: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<PendingFallback>, StoreError> {
        let rows = self
            .query(
                CLAIM_FALLBACKS,
                &[&now_ms, &(now_ms + lease_ms), &claimant, &(limit as i64)],
            )
            .await?;
        let mut claimed = rows
            .iter()
            .map(|r| self.fallback_row(r))
            .collect::<Result<Vec<_>, _>>()?;
        // All end their lease at the same time: a stable order, as the SQLite store returns.
        claimed.sort_by(|a, b| a.request_id.cmp(&b.request_id));
        Ok(claimed)
    }

    pub(super) async fn claim_fallback_impl(
        &self,
        request_id: &str,
        from_carrier: &str,
        claimant: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<PendingFallback>, StoreError> {
        let rows = self
            .query(
                CLAIM_FALLBACK,
                &[&request_id, &claimant, &(now_ms + lease_ms), &now_ms, &from_carrier],
            )
            .await?;
        rows.first().map(|r| self.fallback_row(r)).transpose()
    }
}
