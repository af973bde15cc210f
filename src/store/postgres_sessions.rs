//! The PostgreSQL store's path A writes: workflows, sessions, webhook destinations and the outbox.
//!
//! Each is a job of the node's one writer task ([`SessionJob`]), so it shares its group commit
//! and its order with verification saves: a session change, the verifications it came with and
//! its outbox rows land in one transaction. Across nodes, a session change applies only over the
//! version it was computed from, and a claim locks its events (`FOR UPDATE SKIP LOCKED`).
//!
//! Session bodies and outbox payloads are sealed before they are queued and opened when read, as
//! in SQLite (`sqlite_sessions.rs` says which columns stay clear and why).
use super::schema::*;
use super::{stopped, Job, PostgresStore, Reply, Write};
use crate::outbox::{ClaimedEvent, Destination, Settlement};
use crate::sessions::Session;
use crate::store::crypto::Keyring;
use crate::store::rows::{rows, seal_session, session_phone, Row};
use crate::store::{DeliveryChange, Head, SavedWithSession, SessionSaved, SessionUpdate, StoreError};
use crate::workflows::Workflow;
use deadpool_postgres::Transaction;
use std::sync::Arc;

/// A session change as the writer applies it.
pub(super) struct UpdateRows {
    pub rows: Vec<Row>,
    pub session: Session,
    /// The session sealed ([`crate::store::rows::seal_session`]).
    pub body: String,
    /// The blind index of the session's number, if it names one.
    pub phone: Option<String>,
    pub expected_version: i64,
    /// The event's status, its bit, its payload sealed and its time.
    pub event: Option<(String, i64, String, i64)>,
}

pub(super) enum SessionJob {
    PutWorkflow(Box<Workflow>, String, Reply<()>),
    DeleteWorkflow(String, String, Reply<bool>),
    /// A new session, sealed with the keys once the writer gave it its number.
    CreateSession(Box<Session>, Arc<Keyring>, Reply<Session>),
    UpdateSession(Box<UpdateRows>, Reply<bool>),
    /// [`crate::store::Store::save_session_if_versions`]: the rows are one version up, saved by
    /// `write_batch` only over the versions read (and `head`); the session change and the
    /// delivery writes are applied only if they were.
    SaveWithSession(Box<UpdateRows>, Option<Head>, Vec<Write>, Reply<SessionSaved>),
    DeleteSession(String, String, Reply<bool>),
    AddDestination(Destination, Reply<()>),
    RemoveDestination(String, String, Reply<bool>),
    Claim {
        claimant: String,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
        reply: Reply<Vec<ClaimedEvent>>,
    },
    Settle(i64, String, Settlement, Reply<bool>),
}

/// What a job produced, held until its transaction commits.
pub(super) enum SessionOutput {
    Done,
    Flag(bool),
    Session(Box<Session>),
    Claimed(Vec<ClaimedEvent>),
    Saved(SessionSaved),
}

/// A [`SessionUpdate`] made into rows and JSON before it is queued.
pub(super) fn prepare_update(keys: &Keyring, update: SessionUpdate) -> Result<UpdateRows, StoreError> {
    let SessionUpdate {
        mut session,
        expected_version,
        records,
        event,
    } = update;
    session.version = expected_version + 1;
    Ok(UpdateRows {
        rows: rows(keys, records)?,
        body: seal_session(keys, &session)?,
        phone: session_phone(keys, &session),
        expected_version,
        event: event.map(|e| {
            (
                e.status.as_str().to_owned(),
                i64::from(e.status.bit()),
                keys.seal(&e.payload),
                e.created_at_ms,
            )
        }),
        session,
    })
}

async fn execute(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let stmt = tx.prepare_cached(sql).await?;
    tx.execute(&stmt, params).await
}

/// Applies one job inside the writer's transaction; `records_applied`: whether the conditional
/// rows of a [`SessionJob::SaveWithSession`] were saved (`write_batch` checks and saves them).
pub(super) async fn apply(
    tx: &Transaction<'_>,
    job: &SessionJob,
    records_applied: bool,
) -> Result<SessionOutput, tokio_postgres::Error> {
    Ok(match job {
        SessionJob::PutWorkflow(w, body, _) => {
            execute(
                tx,
                "INSERT INTO workflows (application, id, created_at_ms, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (application, id) DO UPDATE SET body = excluded.body",
                &[&w.application, &w.id, &w.created_at_ms, body],
            )
            .await?;
            SessionOutput::Done
        }
        SessionJob::DeleteWorkflow(application, id, _) => SessionOutput::Flag(
            execute(
                tx,
                "DELETE FROM workflows WHERE application = $1 AND id = $2",
                &[application, id],
            )
            .await?
                == 1,
        ),
        SessionJob::CreateSession(session, keys, _) => {
            let mut session = session.clone();
            let next = tx.prepare_cached(NEXT_SESSION_NUMBER).await?;
            session.number = tx.query_one(&next, &[&session.application]).await?.get(0);
            // Sealed after the number is known: the body is what reads return.
            let body = seal_session(keys, &session).expect("a session serialises");
            execute(
                tx,
                INSERT_SESSION,
                &[
                    &session.id,
                    &session.application,
                    &session.number,
                    &&session.token_digest[..],
                    &session.status.as_str(),
                    &session.version,
                    &session.deadline_ms,
                    &body,
                    &session_phone(keys, &session),
                    &session.created_at_ms,
                ],
            )
            .await?;
            SessionOutput::Session(session)
        }
        SessionJob::UpdateSession(update, _) => {
            // Its records were saved with the batch's (`write_batch`), in call order.
            SessionOutput::Flag(replace_session(tx, update).await?)
        }
        SessionJob::SaveWithSession(update, _, writes, _) => {
            if !records_applied {
                return Ok(SessionOutput::Saved(SessionSaved::default()));
            }
            let session = replace_session(tx, update).await?;
            super::delivery::apply(tx, writes).await?;
            SessionOutput::Saved(SessionSaved { records: true, session })
        }
        SessionJob::DeleteSession(application, id, _) => {
            let deleted = execute(
                tx,
                "DELETE FROM sessions WHERE id = $1 AND application = $2",
                &[id, application],
            )
            .await?
                == 1;
            if deleted {
                execute(tx, "DELETE FROM outbox WHERE session_id = $1", &[id]).await?;
            }
            SessionOutput::Flag(deleted)
        }
        SessionJob::AddDestination(d, _) => {
            let events = serde_json::to_string(&d.subscribed_events).expect("strings serialise");
            execute(
                tx,
                "INSERT INTO webhook_destinations (id, application, url, events, statuses, secret, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &d.id,
                    &d.application,
                    &d.url,
                    &events,
                    &i64::from(d.statuses),
                    &d.secret,
                    &d.created_at_ms,
                ],
            )
            .await?;
            SessionOutput::Done
        }
        SessionJob::RemoveDestination(application, id, _) => {
            let deleted = execute(
                tx,
                "DELETE FROM webhook_destinations WHERE id = $1 AND application = $2",
                &[id, application],
            )
            .await?
                == 1;
            if deleted {
                execute(tx, "DELETE FROM outbox WHERE destination_id = $1", &[id]).await?;
            }
            SessionOutput::Flag(deleted)
        }
        SessionJob::Claim {
            claimant,
            now_ms,
            lease_ms,
            limit,
            ..
        } => {
            let candidates = tx.prepare_cached(CLAIM_CANDIDATES).await?;
            let claimed: Vec<ClaimedEvent> = tx
                .query(&candidates, &[now_ms, &(*limit as i64)])
                .await?
                .iter()
                .map(|r| ClaimedEvent {
                    id: r.get(0),
                    session_id: r.get(1),
                    status: r.get(2),
                    payload: r.get(3),
                    created_at_ms: r.get(4),
                    attempts: u32::try_from(r.get::<_, i64>(5)).unwrap_or(u32::MAX),
                    destination_id: r.get(6),
                    url: r.get(7),
                    secret: r.get(8),
                })
                .collect();
            if !claimed.is_empty() {
                let ids: Vec<i64> = claimed.iter().map(|e| e.id).collect();
                execute(tx, CLAIM_EVENT, &[&ids, claimant, &(now_ms + lease_ms)]).await?;
            }
            SessionOutput::Claimed(claimed)
        }
        SessionJob::Settle(id, claimant, settlement, _) => SessionOutput::Flag(
            match settlement {
                Settlement::Delivered | Settlement::GiveUp => execute(tx, SETTLE_REMOVE, &[id, claimant]).await?,
                Settlement::Retry { due_at_ms } => execute(tx, SETTLE_RETRY, &[id, claimant, due_at_ms]).await?,
            } == 1,
        ),
    })
}

/// Replaces the stored session with `update`'s if it is still at the expected version, and then
/// adds its event's outbox rows; whether it was replaced.
async fn replace_session(tx: &Transaction<'_>, update: &UpdateRows) -> Result<bool, tokio_postgres::Error> {
    let s = &update.session;
    let replaced = execute(
        tx,
        UPDATE_SESSION,
        &[
            &s.id,
            &update.expected_version,
            &s.status.as_str(),
            &s.version,
            &s.deadline_ms,
            &update.body,
            &update.phone,
        ],
    )
    .await?
        == 1;
    if let (true, Some((status, bit, payload, at_ms))) = (replaced, &update.event) {
        execute(tx, FAN_OUT_EVENT, &[&s.id, status, payload, at_ms, &s.application, bit]).await?;
    }
    Ok(replaced)
}

impl Job {
    /// The rows a job saves only over the versions they were read at, and its head: `write_batch`
    /// checks and saves them in the job's place among the batch's plain saves.
    pub(super) fn conditional(&self) -> Option<(&[Row], Option<&Head>)> {
        match self {
            Job::SaveIfVersions(rows, head, ..) => Some((rows.as_slice(), head.as_ref())),
            Job::Sessions(SessionJob::SaveWithSession(update, head, ..), _) => {
                Some((update.rows.as_slice(), head.as_ref()))
            }
            _ => None,
        }
    }
}

impl PostgresStore {
    /// [`crate::store::Store::claim_events`]: the payloads, stored sealed, opened into the
    /// canonical JSON they were written from (what is sent and signed).
    pub(super) async fn claim_events_impl(
        &self,
        claimant: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        let claimant = claimant.to_owned();
        let claimed = self
            .ask(|reply| {
                let claim = SessionJob::Claim {
                    claimant,
                    now_ms,
                    lease_ms,
                    limit,
                    reply,
                };
                Job::Sessions(claim, Vec::new())
            })
            .await?;
        crate::store::rows::open_events(&self.keys, claimed)
    }

    pub(super) fn save_session_if_versions_impl(
        &self,
        mut update: SessionUpdate,
        head: Option<Head>,
        delivery: Vec<DeliveryChange>,
    ) -> SavedWithSession {
        // Written one version up; applied only over the versions they were computed from.
        for v in &mut update.records {
            v.version += 1;
        }
        // The head names its number as the verifications table does: by its blind index.
        let head = head.map(|h| Head {
            phone: self.keys.index(&h.phone),
            ..h
        });
        let (reply, done) = tokio::sync::oneshot::channel();
        let queued = prepare_update(&self.keys, update)
            .and_then(|u| Ok((u, super::prepare(&self.keys, delivery)?)))
            .and_then(|(u, writes)| {
                let job = SessionJob::SaveWithSession(Box::new(u), head, writes, reply);
                self.enqueue(Job::Sessions(job, Vec::new()))
            });
        Box::pin(async move {
            queued?;
            done.await.map_err(|_| stopped())?
        })
    }
}

impl SessionJob {
    /// Answers the job's waiter once its transaction committed (or failed).
    pub(super) fn answer(self, output: Result<&SessionOutput, StoreError>) {
        fn send<T>(reply: Reply<T>, value: Result<T, StoreError>) {
            let _ = reply.send(value);
        }
        let flag = |o: Result<&SessionOutput, StoreError>| o.map(|o| matches!(o, SessionOutput::Flag(true)));
        match self {
            SessionJob::PutWorkflow(_, _, reply) | SessionJob::AddDestination(_, reply) => {
                send(reply, output.map(|_| ()))
            }
            SessionJob::DeleteWorkflow(_, _, reply)
            | SessionJob::UpdateSession(_, reply)
            | SessionJob::DeleteSession(_, _, reply)
            | SessionJob::RemoveDestination(_, _, reply)
            | SessionJob::Settle(_, _, _, reply) => send(reply, flag(output)),
            SessionJob::CreateSession(_, _, reply) => send(
                reply,
                output.and_then(|o| match o {
                    SessionOutput::Session(s) => Ok((**s).clone()),
                    _ => Err(StoreError::Unavailable("writer answered the wrong job".into())),
                }),
            ),
            SessionJob::Claim { reply, .. } => send(
                reply,
                output.map(|o| match o {
                    SessionOutput::Claimed(events) => events.clone(),
                    _ => Vec::new(),
                }),
            ),
            SessionJob::SaveWithSession(.., reply) => send(
                reply,
                output.and_then(|o| match o {
                    SessionOutput::Saved(saved) => Ok(*saved),
                    _ => Err(StoreError::Unavailable("writer answered the wrong job".into())),
                }),
            ),
        }
    }
}
