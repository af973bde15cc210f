//! The SQLite store's path A tables: workflows, sessions, webhook destinations and the outbox.
//!
//! Writes are jobs of the one writer thread ([`SessionJob`]), so they share its group commit and
//! its order with verification saves: a session change, the verifications it came with and its
//! outbox rows land in one transaction. Writer transactions are `BEGIN IMMEDIATE`, so several
//! processes on one database file (several nodes) take turns and a claim is atomic among them.
//!
//! Session bodies and outbox payloads hold numbers (`contact_details.phone`, the report), so both
//! are sealed ([`crate::store::crypto`]) before they are queued and opened when read; the columns
//! the SQL compares (status, version, deadline, due times) stay clear, and `phone` holds the
//! blind index of the session's number for delete-on-demand.
use super::{unavailable, SqliteStore};
use crate::outbox::{ClaimedEvent, Destination, Settlement};
use crate::sessions::Session;
use crate::store::crypto::Keyring;
use crate::store::rows::{open_session, seal_session, session_phone, Row};
use crate::store::{Head, SessionKey, SessionSaved, StoreError};
use crate::workflows::Workflow;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Path A's tables (migration 4).
pub(super) const MIGRATION: &str = "
    CREATE TABLE workflows (
        application   TEXT NOT NULL,
        id            TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        body          TEXT NOT NULL,
        PRIMARY KEY (application, id)
    ) WITHOUT ROWID;
    CREATE TABLE sessions (
        id           TEXT PRIMARY KEY NOT NULL,
        application  TEXT NOT NULL,
        number       INTEGER NOT NULL,
        token_digest BLOB NOT NULL UNIQUE,
        status       TEXT NOT NULL,
        version      INTEGER NOT NULL,
        deadline_ms  INTEGER,
        body         TEXT NOT NULL
    );
    CREATE INDEX sessions_by_deadline ON sessions (deadline_ms);
    CREATE TABLE session_numbers (
        application TEXT PRIMARY KEY NOT NULL,
        last        INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE webhook_destinations (
        id            TEXT PRIMARY KEY NOT NULL,
        application   TEXT NOT NULL,
        url           TEXT NOT NULL,
        events        TEXT NOT NULL,
        statuses      INTEGER NOT NULL,
        secret        TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX webhook_destinations_by_application ON webhook_destinations (application, created_at_ms);
    CREATE TABLE outbox (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id     TEXT NOT NULL,
        destination_id TEXT NOT NULL,
        status         TEXT NOT NULL,
        payload        TEXT NOT NULL,
        created_at_ms  INTEGER NOT NULL,
        due_at_ms      INTEGER NOT NULL,
        attempts       INTEGER NOT NULL DEFAULT 0,
        claimed_by     TEXT
    );
    CREATE INDEX outbox_by_due ON outbox (due_at_ms);
    CREATE INDEX outbox_by_session ON outbox (session_id, destination_id, seq);
";

/// Takes the application's next session number.
pub const NEXT_SESSION_NUMBER: &str = "INSERT INTO session_numbers (application, last) VALUES (?1, 1)
     ON CONFLICT (application) DO UPDATE SET last = last + 1 RETURNING last";

/// A new session: its body sealed, `phone` the blind index of its number (if it names one yet).
pub const INSERT_SESSION: &str =
    "INSERT INTO sessions (id, application, number, token_digest, status, version, deadline_ms, body, phone, created_at_ms)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

pub const SESSION_BY_ID: &str = "SELECT body FROM sessions WHERE id = ?1";

pub const SESSION_BY_TOKEN: &str = "SELECT body FROM sessions WHERE token_digest = ?1";

/// Replaces a session only over the version the change was computed from.
pub const UPDATE_SESSION: &str =
    "UPDATE sessions SET status = ?3, version = ?4, deadline_ms = ?5, body = ?6, phone = ?7
     WHERE id = ?1 AND version = ?2";

/// One outbox row per destination of application `?5` subscribed to status bit `?6`; the payload
/// `?3` comes sealed ([`crate::store::crypto::Keyring::seal`]) and is opened when claimed.
pub const FAN_OUT_EVENT: &str =
    "INSERT INTO outbox (session_id, destination_id, status, payload, created_at_ms, due_at_ms)
     SELECT ?1, id, ?2, ?3, ?4, ?4 FROM webhook_destinations WHERE application = ?5 AND statuses & ?6 != 0";

pub const WORKFLOW: &str = "SELECT body FROM workflows WHERE application = ?1 AND id = ?2";

/// Due events that are the oldest pending one of their (destination, session).
pub const CLAIM_CANDIDATES: &str =
    "SELECT o.seq, o.session_id, o.status, o.payload, o.created_at_ms, o.attempts, d.id, d.url, d.secret
     FROM outbox o JOIN webhook_destinations d ON d.id = o.destination_id
     WHERE o.due_at_ms <= ?1
       AND NOT EXISTS (SELECT 1 FROM outbox p
                       WHERE p.session_id = o.session_id AND p.destination_id = o.destination_id AND p.seq < o.seq)
     ORDER BY o.due_at_ms LIMIT ?2";

/// Leases event `?1` to `?2` until `?3`, if it is still due at `?4`.
pub const CLAIM_EVENT: &str = "UPDATE outbox SET claimed_by = ?2, due_at_ms = ?3 WHERE seq = ?1 AND due_at_ms <= ?4";

pub const SETTLE_REMOVE: &str = "DELETE FROM outbox WHERE seq = ?1 AND claimed_by = ?2";

pub const SETTLE_RETRY: &str =
    "UPDATE outbox SET due_at_ms = ?3, attempts = attempts + 1, claimed_by = NULL WHERE seq = ?1 AND claimed_by = ?2";

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A session change as the writer applies it.
pub(super) struct UpdateRows {
    pub rows: Vec<Row>,
    /// Delivery writes applied with the rows, whether or not the session is replaced.
    pub delivery: Vec<super::delivery::Write>,
    pub session: Session,
    /// The session sealed ([`crate::store::rows::seal_session`]).
    pub body: String,
    /// The blind index of the session's number, if it names one.
    pub phone: Option<String>,
    pub expected_version: i64,
    /// The event's status, its bit, its payload sealed and its time.
    pub event: Option<(String, u32, String, i64)>,
}

pub(super) enum SessionJob {
    PutWorkflow(Box<Workflow>, String, Reply<()>),
    DeleteWorkflow(String, String, Reply<bool>),
    /// A new session, sealed with the keys once the writer gave it its number.
    CreateSession(Box<Session>, Arc<Keyring>, Reply<Session>),
    UpdateSession(Box<UpdateRows>, Reply<bool>),
    /// [`crate::store::Store::save_session_if_versions`]: the rows are one version up, and
    /// written (with the session change and the delivery writes) only over the versions read.
    SaveWithSession(Box<UpdateRows>, Option<Head>, Reply<SessionSaved>),
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

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(corrupt)
}

/// Applies one job inside the writer's transaction.
pub(super) fn apply(tx: &Transaction<'_>, job: &SessionJob) -> Result<SessionOutput, StoreError> {
    let execute = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Result<usize, StoreError> {
        tx.prepare_cached(sql)
            .map_err(unavailable)?
            .execute(params)
            .map_err(unavailable)
    };
    Ok(match job {
        SessionJob::PutWorkflow(w, body, _) => {
            execute(
                "INSERT INTO workflows (application, id, created_at_ms, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (application, id) DO UPDATE SET body = excluded.body",
                params![w.application, w.id, w.created_at_ms, body],
            )?;
            SessionOutput::Done
        }
        SessionJob::DeleteWorkflow(application, id, _) => SessionOutput::Flag(
            execute(
                "DELETE FROM workflows WHERE application = ?1 AND id = ?2",
                params![application, id],
            )? == 1,
        ),
        SessionJob::CreateSession(session, keys, _) => {
            let mut session = session.clone();
            session.number = tx
                .prepare_cached(NEXT_SESSION_NUMBER)
                .map_err(unavailable)?
                .query_row(params![session.application], |r| r.get(0))
                .map_err(unavailable)?;
            execute(
                INSERT_SESSION,
                params![
                    session.id,
                    session.application,
                    session.number,
                    &session.token_digest[..],
                    session.status.as_str(),
                    session.version,
                    session.deadline_ms,
                    seal_session(keys, &session)?,
                    session_phone(keys, &session),
                    session.created_at_ms
                ],
            )?;
            SessionOutput::Session(session)
        }
        SessionJob::UpdateSession(update, _) => {
            super::save_rows(tx, &update.rows)?;
            super::delivery::apply(tx, &update.delivery)?;
            SessionOutput::Flag(replace_session(tx, update)?)
        }
        SessionJob::SaveWithSession(update, head, _) => {
            if !super::save_if_current(tx, &update.rows, head.as_ref())? {
                return Ok(SessionOutput::Saved(SessionSaved::default()));
            }
            let session = replace_session(tx, update)?;
            super::delivery::apply(tx, &update.delivery)?;
            SessionOutput::Saved(SessionSaved { records: true, session })
        }
        SessionJob::DeleteSession(application, id, _) => {
            let deleted = execute(
                "DELETE FROM sessions WHERE id = ?1 AND application = ?2",
                params![id, application],
            )? == 1;
            if deleted {
                execute("DELETE FROM outbox WHERE session_id = ?1", params![id])?;
            }
            SessionOutput::Flag(deleted)
        }
        SessionJob::AddDestination(d, _) => {
            execute(
                "INSERT INTO webhook_destinations (id, application, url, events, statuses, secret, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    d.id,
                    d.application,
                    d.url,
                    to_json(&d.subscribed_events)?,
                    d.statuses,
                    d.secret,
                    d.created_at_ms
                ],
            )?;
            SessionOutput::Done
        }
        SessionJob::RemoveDestination(application, id, _) => {
            let deleted = execute(
                "DELETE FROM webhook_destinations WHERE id = ?1 AND application = ?2",
                params![id, application],
            )? == 1;
            if deleted {
                execute("DELETE FROM outbox WHERE destination_id = ?1", params![id])?;
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
            let mut candidates = tx.prepare_cached(CLAIM_CANDIDATES).map_err(unavailable)?;
            let rows = candidates
                .query_map(params![now_ms, *limit as i64], |r| {
                    Ok(ClaimedEvent {
                        id: r.get(0)?,
                        session_id: r.get(1)?,
                        status: r.get(2)?,
                        payload: r.get(3)?,
                        created_at_ms: r.get(4)?,
                        attempts: r.get(5)?,
                        destination_id: r.get(6)?,
                        url: r.get(7)?,
                        secret: r.get(8)?,
                    })
                })
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            let mut claimed = Vec::with_capacity(rows.len());
            for event in rows {
                if execute(CLAIM_EVENT, params![event.id, claimant, now_ms + lease_ms, now_ms])? == 1 {
                    claimed.push(event);
                }
            }
            SessionOutput::Claimed(claimed)
        }
        SessionJob::Settle(id, claimant, settlement, _) => SessionOutput::Flag(
            match settlement {
                Settlement::Delivered | Settlement::GiveUp => execute(SETTLE_REMOVE, params![id, claimant])?,
                Settlement::Retry { due_at_ms } => execute(SETTLE_RETRY, params![id, claimant, due_at_ms])?,
            } == 1,
        ),
    })
}

/// Replaces the stored session with `update`'s if it is still at the expected version, and then
/// adds its event's outbox rows; whether it was replaced.
fn replace_session(tx: &Transaction<'_>, update: &UpdateRows) -> Result<bool, StoreError> {
    let execute = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Result<usize, StoreError> {
        tx.prepare_cached(sql)
            .map_err(unavailable)?
            .execute(params)
            .map_err(unavailable)
    };
    let s = &update.session;
    let replaced = execute(
        UPDATE_SESSION,
        params![
            s.id,
            update.expected_version,
            s.status.as_str(),
            s.version,
            s.deadline_ms,
            update.body,
            update.phone
        ],
    )? == 1;
    if let (true, Some((status, bit, payload, at_ms))) = (replaced, &update.event) {
        execute(FAN_OUT_EVENT, params![s.id, status, payload, at_ms, s.application, bit])?;
    }
    Ok(replaced)
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
            SessionJob::SaveWithSession(_, _, reply) => send(
                reply,
                output.and_then(|o| match o {
                    SessionOutput::Saved(saved) => Ok(*saved),
                    _ => Err(StoreError::Unavailable("writer answered the wrong job".into())),
                }),
            ),
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: String) -> Result<T, StoreError> {
    serde_json::from_str(&body).map_err(corrupt)
}

/// The sessions a read finds, their bodies in column 0 opened with `keys`.
fn sessions(
    conn: &Connection,
    keys: &Keyring,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Session>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
    let rows = stmt.query_map(params, |r| r.get::<_, String>(0)).map_err(unavailable)?;
    rows.map(|body| open_session(keys, &body.map_err(unavailable)?))
        .collect()
}

fn bodies<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
    let rows = stmt.query_map(params, |r| r.get::<_, String>(0)).map_err(unavailable)?;
    rows.map(|body| parse(body.map_err(unavailable)?)).collect()
}

/// A [`crate::store::SessionUpdate`] and its delivery changes made into rows and JSON before it
/// is queued.
fn prepare_update(
    keys: &Keyring,
    update: crate::store::SessionUpdate,
    delivery: Vec<crate::store::DeliveryChange>,
) -> Result<UpdateRows, StoreError> {
    let crate::store::SessionUpdate {
        mut session,
        expected_version,
        records,
        event,
    } = update;
    session.version = expected_version + 1;
    Ok(UpdateRows {
        rows: crate::store::rows::rows(keys, records)?,
        delivery: super::delivery::prepare(keys, delivery)?,
        body: seal_session(keys, &session)?,
        phone: session_phone(keys, &session),
        expected_version,
        event: event.map(|e| {
            (
                e.status.as_str().to_owned(),
                e.status.bit(),
                keys.seal(&e.payload),
                e.created_at_ms,
            )
        }),
        session,
    })
}

/// The read side, run on the store's reader pool.
impl SqliteStore {
    async fn job<T: Send + 'static>(&self, make: impl FnOnce(Reply<T>) -> SessionJob) -> Result<T, StoreError> {
        let (reply, done) = oneshot::channel();
        self.enqueue(super::Job::Sessions(make(reply)))?;
        done.await
            .map_err(|_| StoreError::Unavailable("store writer has stopped".into()))?
    }

    pub(super) async fn put_workflow_impl(&self, workflow: Workflow) -> Result<(), StoreError> {
        let body = to_json(&workflow)?;
        self.job(|reply| SessionJob::PutWorkflow(Box::new(workflow), body, reply))
            .await
    }

    pub(super) async fn workflow_impl(&self, application: &str, id: &str) -> Result<Option<Workflow>, StoreError> {
        let (application, id) = (application.to_owned(), id.to_owned());
        self.read(move |conn| Ok(bodies(conn, WORKFLOW, params![application, id])?.pop()))
            .await
    }

    pub(super) async fn workflows_impl(&self, application: &str) -> Result<Vec<Workflow>, StoreError> {
        let application = application.to_owned();
        self.read(move |conn| {
            bodies(
                conn,
                "SELECT body FROM workflows WHERE application = ?1 ORDER BY created_at_ms, id",
                params![application],
            )
        })
        .await
    }

    pub(super) async fn delete_workflow_impl(&self, application: &str, id: &str) -> Result<bool, StoreError> {
        let (application, id) = (application.to_owned(), id.to_owned());
        self.job(|reply| SessionJob::DeleteWorkflow(application, id, reply))
            .await
    }

    pub(super) async fn create_session_impl(&self, session: Session) -> Result<Session, StoreError> {
        let keys = self.keys.clone();
        self.job(|reply| SessionJob::CreateSession(Box::new(session), keys, reply))
            .await
    }

    pub(super) async fn session_impl(&self, key: SessionKey<'_>) -> Result<Option<Session>, StoreError> {
        match key {
            SessionKey::Id(id) => {
                let (id, keys) = (id.to_owned(), self.keys.clone());
                self.read(move |conn| Ok(sessions(conn, &keys, SESSION_BY_ID, params![id])?.pop()))
                    .await
            }
            SessionKey::TokenDigest(digest) => {
                let (digest, keys) = (digest.to_vec(), self.keys.clone());
                self.read(move |conn| Ok(sessions(conn, &keys, SESSION_BY_TOKEN, params![digest])?.pop()))
                    .await
            }
        }
    }

    pub(super) fn update_session_impl(
        &self,
        update: crate::store::SessionUpdate,
        delivery: Vec<crate::store::DeliveryChange>,
    ) -> crate::store::Applied {
        let prepared = prepare_update(&self.keys, update, delivery);
        let (reply, done) = oneshot::channel();
        let queued =
            prepared.and_then(|u| self.enqueue(super::Job::Sessions(SessionJob::UpdateSession(Box::new(u), reply))));
        Box::pin(async move {
            queued?;
            done.await
                .map_err(|_| StoreError::Unavailable("store writer has stopped".into()))?
        })
    }

    pub(super) fn save_session_if_versions_impl(
        &self,
        mut update: crate::store::SessionUpdate,
        head: Option<Head>,
        delivery: Vec<crate::store::DeliveryChange>,
    ) -> crate::store::SavedWithSession {
        // Written one version up; applied only over the versions they were computed from.
        for v in &mut update.records {
            v.version += 1;
        }
        let prepared = prepare_update(&self.keys, update, delivery);
        // The head names its number as the verifications table does: by its blind index.
        let head = head.map(|h| Head {
            phone: self.keys.index(&h.phone),
            ..h
        });
        let (reply, done) = oneshot::channel();
        let queued = prepared.and_then(|u| {
            self.enqueue(super::Job::Sessions(SessionJob::SaveWithSession(
                Box::new(u),
                head,
                reply,
            )))
        });
        Box::pin(async move {
            queued?;
            done.await
                .map_err(|_| StoreError::Unavailable("store writer has stopped".into()))?
        })
    }

    pub(super) async fn delete_session_impl(&self, application: &str, id: &str) -> Result<bool, StoreError> {
        let (application, id) = (application.to_owned(), id.to_owned());
        self.job(|reply| SessionJob::DeleteSession(application, id, reply))
            .await
    }

    pub(super) async fn sessions_due_impl(&self, now_ms: i64, limit: usize) -> Result<Vec<Session>, StoreError> {
        let keys = self.keys.clone();
        self.read(move |conn| {
            sessions(
                conn,
                &keys,
                "SELECT body FROM sessions WHERE deadline_ms <= ?1 ORDER BY deadline_ms LIMIT ?2",
                params![now_ms, limit as i64],
            )
        })
        .await
    }

    pub(super) async fn add_destination_impl(&self, destination: Destination) -> Result<(), StoreError> {
        self.job(|reply| SessionJob::AddDestination(destination, reply)).await
    }

    pub(super) async fn destinations_impl(&self, application: &str) -> Result<Vec<Destination>, StoreError> {
        let application = application.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, application, url, events, statuses, secret, created_at_ms FROM webhook_destinations
                     WHERE application = ?1 ORDER BY created_at_ms, id",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![application], |r| {
                    Ok((
                        Destination {
                            id: r.get(0)?,
                            application: r.get(1)?,
                            url: r.get(2)?,
                            subscribed_events: Vec::new(),
                            statuses: r.get(4)?,
                            secret: r.get(5)?,
                            created_at_ms: r.get(6)?,
                        },
                        r.get::<_, String>(3)?,
                    ))
                })
                .map_err(unavailable)?;
            rows.map(|row| {
                let (mut d, events) = row.map_err(unavailable)?;
                d.subscribed_events = parse(events)?;
                Ok(d)
            })
            .collect()
        })
        .await
    }

    pub(super) async fn remove_destination_impl(&self, application: &str, id: &str) -> Result<bool, StoreError> {
        let (application, id) = (application.to_owned(), id.to_owned());
        self.job(|reply| SessionJob::RemoveDestination(application, id, reply))
            .await
    }

    pub(super) async fn claim_events_impl(
        &self,
        claimant: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        let claimant = claimant.to_owned();
        let claimed = self
            .job(|reply| SessionJob::Claim {
                claimant,
                now_ms,
                lease_ms,
                limit,
                reply,
            })
            .await?;
        crate::store::rows::open_events(&self.keys, claimed)
    }

    pub(super) async fn settle_event_impl(
        &self,
        id: i64,
        claimant: &str,
        settlement: Settlement,
    ) -> Result<bool, StoreError> {
        let claimant = claimant.to_owned();
        self.job(|reply| SessionJob::Settle(id, claimant, settlement, reply))
            .await
    }

    pub(super) async fn outbox_depth_impl(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))
                .optional()
                .map(|n| n.unwrap_or(0) as u64)
                .map_err(unavailable)
        })
        .await
    }
}
