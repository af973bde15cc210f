//! The PostgreSQL store: several engine nodes on one database (`store.url = "postgres://…"`).
//!
//! Writes go through one writer task per node, as in the SQLite store: it takes every queued
//! write, applies them in call order in one transaction on one connection, commits (with
//! PostgreSQL's default `synchronous_commit = on`, COMMIT returns once the WAL is flushed) and
//! only then answers each waiter. Under load one commit covers many writes; at rest a write waits
//! for one. Reads go to a small pool of connections.
//!
//! Across nodes, correctness rests on PostgreSQL rather than on the one writer: the free-tier
//! counter row of an application's month is updated (so row-locked until commit) by the
//! transaction that adds a charge, so concurrent writers take turns on it and the 500th is
//! decided in commit order; session changes are conditional on the version read; outbox claims
//! lock their rows with `FOR UPDATE SKIP LOCKED`, so two nodes never lease the same event. A
//! transaction that loses a deadlock or a serialization check is retried whole.
//!
//! Driver: `tokio-postgres` with the `deadpool-postgres` pool, rather than sqlx. The writer needs
//! one connection held for a batch of statements with cached prepared statements, which is what
//! tokio-postgres does directly (deadpool caches each connection's statements); sqlx would add
//! its query macros' and its other backends' machinery we do not use (the SQLite store is
//! rusqlite), and its TLS feature set to keep clear of OpenSSL. Both crates are maintained by
//! the rust-postgres and deadpool projects. Connections are plain TCP or Unix sockets
//! (`NoTls`): run the database on the nodes' private network, or behind a TLS tunnel.
#[path = "postgres_delivery.rs"]
mod delivery;
#[path = "postgres_encryption.rs"]
mod encryption;
#[path = "postgres_pooling.rs"]
mod pooling;
#[path = "postgres_schema.rs"]
mod schema;
#[path = "postgres_sessions.rs"]
mod sessions;

pub use schema::{HOT_PATH_STATEMENTS, MIGRATIONS};

use super::crypto::Keyring;
use super::delivery::{prepare, Write};
use super::rows::{block_entry, block_keys, block_row, rows, to_match, BlockRow, ChargeRow, Row};
use super::{
    Applied, Commit, DeliveryChange, Erased, Head, PendingFallback, SavedWithSession as Saved, SessionKey,
    SessionUpdate, Store, StoreError, StoredMessage,
};
use crate::billing::{self, UsageRow};
use crate::blocklist::Entry;
use crate::outbox::{ClaimedEvent, Destination, Settlement};
use crate::sessions::Session;
use crate::verification::{Match, State, Verification};
use crate::workflows::Workflow;
use async_trait::async_trait;
use deadpool_postgres::{Pool, Transaction};
use futures_util::future::try_join_all;
use schema::*;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;

/// Writes applied per transaction at most; bounds the latency one commit adds.
const MAX_BATCH: usize = 2048;
/// Times a batch is run again after losing a deadlock or serialization check to another node.
const RETRIES: usize = 5;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Job {
    /// Verification rows, then delivery writes, in one transaction.
    Save(Vec<Row>, Vec<Write>, Reply<()>),
    /// Rows over their versions (`version - 1`) and the number's head when given, all or
    /// nothing, then, only if applied, their delivery writes.
    SaveIfVersions(Vec<Row>, Option<Head>, Vec<Write>, Reply<bool>),
    PutIfAbsent(String, String, Reply<bool>),
    Put(String, String, Reply<()>),
    BlockAdd(BlockRow, Reply<bool>),
    /// An application's entry stored under either value: the value named, or its blind index.
    BlockRemove(String, [String; 2], Reply<bool>),
    Flush(Reply<()>),
    /// A session job, and the delivery writes applied with it (whatever its outcome).
    Sessions(sessions::SessionJob, Vec<Write>),
}

/// What a job produced, held until its transaction commits.
enum Output {
    Saved,
    Put(bool),
    Sessions(sessions::SessionOutput),
}

/// A [`Store`] on PostgreSQL. Open it with [`PostgresStore::connect`].
pub struct PostgresStore {
    pool: Pool,
    writer: mpsc::UnboundedSender<Job>,
    keys: std::sync::Arc<Keyring>,
}

/// A driver or pool error as [`StoreError::Unavailable`] ([`StoreError::Full`] for SQLSTATE
/// 53100 `disk_full`): the server's message (never its `DETAIL`, which may quote a stored value
/// such as a phone number).
pub(crate) fn unavailable(e: impl Into<PgError>) -> StoreError {
    match e.into() {
        PgError(message, true) => StoreError::Full(message),
        PgError(message, false) => StoreError::Unavailable(message),
    }
}

/// An error message fit for logs, and whether the server said its disk is full.
pub(crate) struct PgError(String, bool);

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        let full = e.code() == Some(&SqlState::DISK_FULL);
        match e.as_db_error() {
            Some(db) => PgError(
                format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
                full,
            ),
            None => PgError(e.to_string(), full),
        }
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => PgError(other.to_string(), false),
        }
    }
}

impl From<String> for PgError {
    fn from(e: String) -> Self {
        PgError(e, false)
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn stopped() -> StoreError {
    StoreError::Unavailable("store writer has stopped".into())
}

/// Whether a failed transaction lost to a concurrent one and may simply be run again.
fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/db`, with the
    /// libpq parameters tokio-postgres knows, e.g. `?options=-c%20search_path%3Dotpgate`) and
    /// applies pending migrations. Spawns the writer task on the current tokio runtime.
    /// Numbers are sealed under the key in the settings table (`postgres_encryption.rs`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_keys(url, None).await
    }

    /// [`Self::connect`], sealing under `keys` when given (`[store.encryption]`); rows not sealed
    /// under the current key yet are rewritten before it returns.
    pub async fn connect_with_keys(url: &str, keys: Option<Keyring>) -> Result<Self, StoreError> {
        let pool = pooling::build(url)?;
        {
            let mut client = pool.get().await.map_err(unavailable)?;
            schema::migrate(&mut client).await?;
        }
        let keys = std::sync::Arc::new(encryption::open_keys(&pool, keys).await?);
        let (writer, jobs) = mpsc::unbounded_channel();
        tokio::spawn(run_writer(pool.clone(), jobs));
        Ok(Self { pool, writer, keys })
    }

    fn enqueue(&self, job: Job) -> Result<(), StoreError> {
        self.writer.send(job).map_err(|_| stopped())
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let (reply, done) = oneshot::channel();
        self.enqueue(make(reply))?;
        done.await.map_err(|_| stopped())?
    }

    /// Runs one read statement on a pooled connection.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let result = tokio::time::timeout(pooling::QUERY_TIMEOUT, async {
            let client = self.pool.get().await.map_err(unavailable)?;
            let statement = client.prepare_cached(sql).await.map_err(unavailable)?;
            client.query(&statement, params).await.map_err(unavailable)
        })
        .await
        .unwrap_or_else(|_| Err(pooling::timed_out("read")));
        super::health::observe("postgres", super::health::Op::Read, &result);
        result
    }

    /// The JSON bodies in column 0 of a read, opened ([`Keyring::open_body`]) and parsed.
    async fn bodies<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<T>, StoreError> {
        self.query(sql, params)
            .await?
            .iter()
            .map(|r| serde_json::from_str(&self.keys.open_body(r.get::<_, &str>(0))?).map_err(corrupt))
            .collect()
    }
}

async fn run_writer(pool: Pool, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let result = write_with_retries(&pool, &batch).await;
        metrics::histogram!(crate::metrics::STORE_COMMIT_DURATION).record(started.elapsed().as_secs_f64());
        metrics::histogram!(crate::metrics::STORE_BATCH_SIZE).record(batch.len() as f64);
        if let Err(e) = &result {
            tracing::debug!(error = %e, writes = batch.len(), "store commit failed");
        }
        super::health::observe("postgres", super::health::Op::Write, &result);
        for (i, job) in batch.drain(..).enumerate() {
            let output = result.as_ref().map(|outputs| &outputs[i]).map_err(Clone::clone);
            match job {
                Job::Sessions(job, _) => job.answer(output.and_then(|o| match o {
                    Output::Sessions(o) => Ok(o),
                    _ => Err(StoreError::Unavailable("writer answered the wrong job".into())),
                })),
                Job::Save(_, _, reply) | Job::Put(_, _, reply) | Job::Flush(reply) => {
                    let _ = reply.send(output.map(|_| ()));
                }
                Job::PutIfAbsent(_, _, reply)
                | Job::BlockAdd(_, reply)
                | Job::BlockRemove(_, _, reply)
                | Job::SaveIfVersions(_, _, _, reply) => {
                    let _ = reply.send(output.map(|o| matches!(o, Output::Put(true))));
                }
            }
        }
    }
}

/// One batch in one transaction, run again (from scratch: the failed one rolled back) when it
/// lost a deadlock or serialization check to another node's.
async fn write_with_retries(pool: &Pool, batch: &[Job]) -> Result<Vec<Output>, StoreError> {
    let mut attempt = 0;
    loop {
        // One bound for taking a connection and running the batch on it.
        let deadline = tokio::time::Instant::now() + pooling::QUERY_TIMEOUT;
        let got = tokio::time::timeout_at(deadline, pool.get()).await;
        let mut client = got.map_err(|_| pooling::timed_out("write"))?.map_err(unavailable)?;
        let result = tokio::time::timeout_at(deadline, async {
            let tx = client.transaction().await?;
            let outputs = write_batch(&tx, batch).await?;
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(outputs)
        })
        .await;
        let Ok(result) = result else {
            // Mid-transaction, maybe mid-COMMIT: close the connection rather than pool it.
            drop(deadpool_postgres::Object::take(client));
            return Err(pooling::timed_out("write"));
        };
        match result {
            Ok(outputs) => return Ok(outputs),
            Err(e) if retryable(&e) && attempt < RETRIES => {
                attempt += 1;
                tracing::warn!(error = %PgError::from(e).0, attempt, "store commit lost to another node's; retrying");
                tokio::time::sleep(Duration::from_millis(5 * attempt as u64)).await;
            }
            Err(e) => return Err(unavailable(e)),
        }
    }
}

async fn write_batch(tx: &Transaction<'_>, batch: &[Job]) -> Result<Vec<Output>, tokio_postgres::Error> {
    // Verification rows first, in call order: the plain saves' pipelined, and each conditional
    // save in its place between them (it must see the saves queued before it, and later ones
    // must win over it).
    let mut applied = vec![false; batch.len()];
    let mut from = 0;
    for (i, job) in batch.iter().enumerate() {
        if let Some((rows, head)) = job.conditional() {
            save_rows(tx, batch_rows(&batch[from..i])).await?;
            applied[i] = still_current(tx, rows, head).await?;
            if applied[i] {
                save_rows(tx, rows.iter()).await?;
            }
            from = i + 1;
        }
    }
    save_rows(tx, batch_rows(&batch[from..])).await?;
    let mut outputs = Vec::with_capacity(batch.len());
    for job in batch {
        outputs.push(match job {
            Job::Save(_, writes, _) => {
                delivery::apply(tx, writes).await?;
                Output::Saved
            }
            Job::SaveIfVersions(_, _, writes, _) => {
                let written = applied[outputs.len()];
                if written {
                    delivery::apply(tx, writes).await?;
                }
                Output::Put(written)
            }
            Job::BlockAdd(e, _) => {
                let sql = "INSERT INTO blocklist (application, value, kind, created_at_ms, sealed)
                           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (application, value) DO NOTHING";
                let stmt = tx.prepare_cached(sql).await?;
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                    [&e.application, &e.value, &e.kind.as_str(), &e.created_at_ms, &e.sealed];
                Output::Put(tx.execute(&stmt, &params).await? == 1)
            }
            Job::BlockRemove(application, [value, index], _) => {
                let stmt = tx
                    .prepare_cached("DELETE FROM blocklist WHERE application = $1 AND value IN ($2, $3)")
                    .await?;
                Output::Put(tx.execute(&stmt, &[application, value, index]).await? >= 1)
            }
            Job::PutIfAbsent(key, value, _) => {
                let stmt = tx
                    .prepare_cached("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                    .await?;
                Output::Put(tx.execute(&stmt, &[key, value]).await? == 1)
            }
            Job::Put(key, value, _) => {
                let stmt = tx
                    .prepare_cached(
                        "INSERT INTO settings (key, value) VALUES ($1, $2)
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    )
                    .await?;
                tx.execute(&stmt, &[key, value]).await?;
                Output::Saved
            }
            Job::Flush(_) => Output::Saved,
            Job::Sessions(job, writes) => {
                let output = sessions::apply(tx, job, applied[outputs.len()]).await?;
                delivery::apply(tx, writes).await?;
                Output::Sessions(output)
            }
        });
    }
    Ok(outputs)
}

/// The verification rows of `jobs`, in call order.
fn batch_rows(jobs: &[Job]) -> impl Iterator<Item = &Row> + Clone {
    jobs.iter().flat_map(|job| match job {
        Job::Save(rows, ..) => rows.as_slice(),
        Job::Sessions(sessions::SessionJob::UpdateSession(update, _), _) => update.rows.as_slice(),
        _ => &[],
    })
}

/// Whether a conditional save of `rows` ([`Store::save_if_versions`]) applies: no other
/// verification of `head`'s number was created since the writer looked, and each row is still
/// stored at the version it was read at (`version - 1`, or not stored at all). Another node's
/// writer of the same number waits: the number's advisory lock (held to the end of the
/// transaction) orders the writers that start verifications, and `FOR UPDATE` the rows.
async fn still_current(tx: &Transaction<'_>, rows: &[Row], head: Option<&Head>) -> Result<bool, tokio_postgres::Error> {
    if let Some(head) = head {
        let lock = tx.prepare_cached(schema::LOCK_NUMBER).await?;
        tx.execute(&lock, &[&head.application, &head.phone]).await?;
        let other = tx.prepare_cached(schema::OTHER_SINCE).await?;
        let known = head.known.as_deref().unwrap_or("");
        if tx
            .query_opt(&other, &[&head.application, &head.phone, &head.since_ms, &known])
            .await?
            .is_some()
        {
            return Ok(false);
        }
    }
    let stored = tx.prepare_cached(schema::VERSION_FOR_UPDATE).await?;
    for r in rows {
        let version: Option<i64> = tx.query_opt(&stored, &[&r.request_id]).await?.map(|row| row.get(0));
        if version.is_some_and(|v| v != r.version - 1) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Writes a batch's verification rows, in call order: each upserted, and its charge added once
/// (with the month's totals). Three pipelined rounds instead of a round trip per statement:
/// every upsert, then every charge insert, then the counting of the charges that were new (which
/// depends on the inserts' answers). tokio-postgres sends a connection's requests in the order
/// their futures are first polled and the server runs them in that order, so a later save of a
/// record still wins, the first charge of a request id is the one kept, and the month's charges
/// are counted in call order. Only saves touch these tables, so running them before the batch's
/// other jobs is invisible outside the transaction.
async fn save_rows<'r>(
    tx: &Transaction<'_>,
    rows: impl Iterator<Item = &'r Row> + Clone,
) -> Result<(), tokio_postgres::Error> {
    type Param = dyn tokio_postgres::types::ToSql + Sync;
    let upsert = tx.prepare_cached(SAVE_VERIFICATION).await?;
    let charge = tx.prepare_cached(INSERT_CHARGE).await?;
    let count = tx.prepare_cached(COUNT_CHARGE).await?;
    let free_per_month = billing::FREE_PER_MONTH as i64;
    try_join_all(rows.clone().map(|r| {
        let params: [&Param; 6] = [
            &r.request_id,
            &r.application,
            &r.phone,
            &r.created_at_ms,
            &r.state,
            &r.body,
        ];
        tx.execute_raw(&upsert, params)
    }))
    .await?;
    let charged: Vec<(&Row, &ChargeRow)> = rows.filter_map(|r| r.charge.as_ref().map(|c| (r, c))).collect();
    let inserted = try_join_all(charged.iter().map(|(r, c)| {
        let params: [&Param; 7] = [
            &r.request_id,
            &r.application,
            &c.month,
            &c.at_ms,
            &c.channel,
            &c.country,
            &c.amount_micros,
        ];
        tx.execute_raw(&charge, params)
    }))
    .await?;
    // Nothing inserted: this verification was charged before (resend, fallback).
    let new = charged.iter().zip(inserted).filter(|(_, n)| *n == 1);
    try_join_all(new.map(|((r, c), _)| {
        let params: [&Param; 7] = [
            &r.application,
            &c.month,
            &r.request_id,
            &c.channel,
            &c.country,
            &c.amount_micros,
            &free_per_month,
        ];
        tx.execute_raw(&count, params)
    }))
    .await?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn load_number(
        &self,
        application: &str,
        phone: &str,
        since_ms: i64,
    ) -> Result<Vec<Verification>, StoreError> {
        self.bodies(LOAD_NUMBER, &[&application, &self.keys.index(phone), &since_ms])
            .await
    }

    fn save(&self, records: Vec<Verification>) -> Commit {
        self.save_with_delivery(records, Vec::new())
    }

    fn save_with_delivery(&self, records: Vec<Verification>, changes: Vec<DeliveryChange>) -> Commit {
        let (reply, done) = oneshot::channel();
        let queued = rows(&self.keys, records)
            .and_then(|rows| Ok((rows, prepare(&self.keys, changes)?)))
            .and_then(|(rows, writes)| self.enqueue(Job::Save(rows, writes, reply)));
        Box::pin(async move {
            queued?;
            done.await.map_err(|_| stopped())?
        })
    }

    async fn approvals(&self, application: &str, phone: &str) -> Result<Vec<Match>, StoreError> {
        let approved: Vec<Verification> = self.bodies(APPROVALS, &[&application, &self.keys.index(phone)]).await?;
        Ok(approved.into_iter().map(to_match).collect())
    }

    /// One read for both: the number's rows since `since_ms` or approved, split here.
    async fn load_for_actor(
        &self,
        application: &str,
        phone: &str,
        since_ms: i64,
    ) -> Result<(Vec<Verification>, Vec<Match>), StoreError> {
        let phone = self.keys.index(phone);
        let all: Vec<Verification> = self.bodies(LOAD_FOR_ACTOR, &[&application, &phone, &since_ms]).await?;
        let (mut history, mut approvals) = (Vec::new(), Vec::new());
        for v in all {
            if v.state == State::Approved {
                approvals.push(to_match(v.clone()));
            }
            if v.created_at_ms >= since_ms {
                history.push(v);
            }
        }
        Ok((history, approvals))
    }

    async fn usage(&self, application: &str, month: &str) -> Result<Vec<UsageRow>, StoreError> {
        let rows = self
            .query(
                "SELECT channel, country, verifications, free, amount_micros
                 FROM usage_months WHERE application = $1 AND month = $2 ORDER BY channel, country",
                &[&application, &month],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| UsageRow {
                channel: r.get(0),
                country: r.get(1),
                verifications: r.get::<_, i64>(2) as u64,
                free: r.get::<_, i64>(3) as u64,
                amount_micros: r.get::<_, i64>(4) as u64,
            })
            .collect())
    }

    async fn blocklist_add(&self, entry: Entry) -> Result<bool, StoreError> {
        let row = block_row(&self.keys, entry);
        self.ask(|reply| Job::BlockAdd(row, reply)).await
    }

    async fn blocklist_remove(&self, application: &str, value: &str) -> Result<bool, StoreError> {
        let (application, values) = (application.to_owned(), block_keys(&self.keys, value));
        self.ask(|reply| Job::BlockRemove(application, values, reply)).await
    }

    async fn blocklist_all(&self) -> Result<Vec<Entry>, StoreError> {
        let sql = "SELECT application, value, kind, created_at_ms, sealed FROM blocklist";
        let rows = self.query(sql, &[]).await?;
        rows.iter()
            .map(|r| block_entry(&self.keys, r.get(0), r.get(1), r.get(2), r.get(4), r.get(3)))
            .collect()
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let rows = self.query("SELECT value FROM settings WHERE key = $1", &[&key]).await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    async fn put_setting_if_absent(&self, key: &str, value: &str) -> Result<bool, StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.ask(|reply| Job::PutIfAbsent(key, value, reply)).await
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.ask(|reply| Job::Put(key, value, reply)).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.ask(Job::Flush).await
    }

    async fn put_workflow(&self, workflow: Workflow) -> Result<(), StoreError> {
        let body = serde_json::to_string(&workflow).map_err(corrupt)?;
        self.ask(|reply| {
            Job::Sessions(
                sessions::SessionJob::PutWorkflow(Box::new(workflow), body, reply),
                Vec::new(),
            )
        })
        .await
    }

    async fn workflow(&self, application: &str, id: &str) -> Result<Option<Workflow>, StoreError> {
        Ok(self.bodies(WORKFLOW, &[&application, &id]).await?.pop())
    }

    async fn workflows(&self, application: &str) -> Result<Vec<Workflow>, StoreError> {
        self.bodies(
            "SELECT body FROM workflows WHERE application = $1 ORDER BY created_at_ms, id",
            &[&application],
        )
        .await
    }

    async fn delete_workflow(&self, application: &str, id: &str) -> Result<bool, StoreError> {
        let (application, id) = (application.to_owned(), id.to_owned());
        self.ask(|reply| Job::Sessions(sessions::SessionJob::DeleteWorkflow(application, id, reply), Vec::new()))
            .await
    }

    async fn create_session(&self, session: Session) -> Result<Session, StoreError> {
        let keys = self.keys.clone();
        self.ask(|reply| {
            Job::Sessions(
                sessions::SessionJob::CreateSession(Box::new(session), keys, reply),
                Vec::new(),
            )
        })
        .await
    }

    async fn session(&self, key: SessionKey<'_>) -> Result<Option<Session>, StoreError> {
        Ok(match key {
            SessionKey::Id(id) => self.bodies(SESSION_BY_ID, &[&id]).await?.pop(),
            SessionKey::TokenDigest(digest) => self.bodies(SESSION_BY_TOKEN, &[&&digest[..]]).await?.pop(),
        })
    }

    fn update_session(&self, update: SessionUpdate) -> Applied {
        self.update_session_with_delivery(update, Vec::new())
    }

    fn update_session_with_delivery(&self, update: SessionUpdate, changes: Vec<DeliveryChange>) -> Applied {
        let (reply, done) = oneshot::channel();
        let queued = sessions::prepare_update(&self.keys, update)
            .and_then(|u| Ok((u, prepare(&self.keys, changes)?)))
            .and_then(|(u, writes)| {
                self.enqueue(Job::Sessions(
                    sessions::SessionJob::UpdateSession(Box::new(u), reply),
                    writes,
                ))
            });
        Box::pin(async move {
            queued?;
            done.await.map_err(|_| stopped())?
        })
    }

    async fn delete_session(&self, application: &str, id: &str) -> Result<bool, StoreError> {
        let (application, id) = (application.to_owned(), id.to_owned());
        self.ask(|reply| Job::Sessions(sessions::SessionJob::DeleteSession(application, id, reply), Vec::new()))
            .await
    }

    async fn sessions_due(&self, now_ms: i64, limit: usize) -> Result<Vec<Session>, StoreError> {
        self.bodies(
            "SELECT body FROM sessions WHERE deadline_ms <= $1 ORDER BY deadline_ms LIMIT $2",
            &[&now_ms, &(limit as i64)],
        )
        .await
    }

    async fn add_destination(&self, destination: Destination) -> Result<(), StoreError> {
        self.ask(|reply| Job::Sessions(sessions::SessionJob::AddDestination(destination, reply), Vec::new()))
            .await
    }

    async fn destinations(&self, application: &str) -> Result<Vec<Destination>, StoreError> {
        let rows = self
            .query(
                "SELECT id, application, url, events, statuses, secret, created_at_ms FROM webhook_destinations
                 WHERE application = $1 ORDER BY created_at_ms, id",
                &[&application],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Destination {
                    id: r.get(0),
                    application: r.get(1),
                    url: r.get(2),
                    subscribed_events: serde_json::from_str(r.get::<_, &str>(3)).map_err(corrupt)?,
                    statuses: u32::try_from(r.get::<_, i64>(4)).map_err(corrupt)?,
                    secret: r.get(5),
                    created_at_ms: r.get(6),
                })
            })
            .collect()
    }

    async fn remove_destination(&self, application: &str, id: &str) -> Result<bool, StoreError> {
        let (application, id) = (application.to_owned(), id.to_owned());
        self.ask(|reply| {
            Job::Sessions(
                sessions::SessionJob::RemoveDestination(application, id, reply),
                Vec::new(),
            )
        })
        .await
    }

    async fn claim_events(
        &self,
        claimant: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        self.claim_events_impl(claimant, now_ms, lease_ms, limit).await
    }

    async fn settle_event(&self, id: i64, claimant: &str, settlement: Settlement) -> Result<bool, StoreError> {
        let claimant = claimant.to_owned();
        self.ask(|reply| {
            Job::Sessions(
                sessions::SessionJob::Settle(id, claimant, settlement, reply),
                Vec::new(),
            )
        })
        .await
    }

    async fn outbox_depth(&self) -> Result<u64, StoreError> {
        let rows = self.query("SELECT COUNT(*) FROM outbox", &[]).await?;
        Ok(rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0) as u64)
    }

    fn save_if_versions(
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
        let (reply, done) = oneshot::channel();
        // The head names its number as the verifications table does: by its blind index.
        let head = head.map(|h| Head {
            phone: self.keys.index(&h.phone),
            ..h
        });
        let queued = rows(&self.keys, next.collect())
            .and_then(|rows| Ok((rows, prepare(&self.keys, changes)?)))
            .and_then(|(rows, writes)| self.enqueue(Job::SaveIfVersions(rows, head, writes, reply)));
        Box::pin(async move {
            queued?;
            done.await.map_err(|_| stopped())?
        })
    }

    fn save_session_if_versions(
        &self,
        update: SessionUpdate,
        head: Option<Head>,
        changes: Vec<DeliveryChange>,
    ) -> Saved {
        self.save_session_if_versions_impl(update, head, changes)
    }

    async fn find_messages(&self, carrier: &str, ids: &[String]) -> Result<Vec<StoredMessage>, StoreError> {
        self.find_messages_impl(carrier, ids).await
    }

    async fn claim_fallbacks(
        &self,
        claimant: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<PendingFallback>, StoreError> {
        self.claim_fallbacks_impl(claimant, now_ms, lease_ms, limit).await
    }

    async fn claim_fallback(
        &self,
        request_id: &str,
        from_carrier: &str,
        claimant: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<PendingFallback>, StoreError> {
        self.claim_fallback_impl(request_id, from_carrier, claimant, now_ms, lease_ms)
            .await
    }

    async fn delete_number(&self, application: &str, phone: &str) -> Result<Erased, StoreError> {
        self.erase(application, Some(&self.keys.index(phone)), 0, 0).await
    }

    async fn delete_older_than(&self, application: &str, before_ms: i64, limit: usize) -> Result<Erased, StoreError> {
        self.erase(application, None, before_ms, limit as i64).await
    }
}
