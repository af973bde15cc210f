//! The embedded store: SQLite in WAL mode with group commit.
//!
//! One writer thread owns the only write connection. It takes every queued write, applies them
//! in one transaction, commits with `synchronous = FULL` (the WAL is fsynced before COMMIT
//! returns) and only then answers each waiter. Under load one fsync covers hundreds of writes,
//! so durability does not cap throughput; at rest a write waits for one fsync. Reads run on a
//! small pool of read-only connections, which WAL lets proceed beside the writer.
//!
//! rusqlite rather than sqlx's SQLite driver: the writer is a plain thread that must batch many
//! statements into one transaction with cached prepared statements, which is direct in
//! rusqlite and would cost an async hop per statement through sqlx's worker. The PostgreSQL
//! backend uses tokio-postgres (see there why).
#[path = "sqlite_delivery.rs"]
mod delivery;
#[path = "sqlite_encryption.rs"]
mod encryption;
#[path = "sqlite_erase.rs"]
mod erase;
#[path = "sqlite_rows.rs"]
mod records;
#[path = "sqlite_sessions.rs"]
mod sessions;

use super::crypto::Keyring;
use super::rows::{block_entry, block_keys, block_row, record, rows, BlockRow, Row};
use super::{
    Applied, Commit, DeliveryChange, Head, PendingFallback, SavedWithSession, SessionKey, SessionUpdate, Store,
    StoreError, StoredMessage,
};
use crate::billing::UsageRow;
use crate::blocklist::Entry;
use crate::outbox::{ClaimedEvent, Destination, Settlement};
use crate::sessions::Session;
use crate::verification::{Match, State, Verification};
use crate::workflows::Workflow;
use async_trait::async_trait;
use parking_lot::Mutex;
use records::{save_if_current, save_rows};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// Writes applied per transaction at most; bounds the latency one commit adds.
const MAX_BATCH: usize = 2048;
/// Read-only connections opened at start.
const READERS: usize = 2;
/// Read-only connections kept for reuse at most. A read finding none idle opens one; opening
/// costs a file open, a `fchown`, the WAL index mapping and a parse of the whole schema, so
/// the pool keeps what concurrent reads (every new number's actor loads its history) needed
/// rather than closing them again (seen: one open per ten verifications with 2 kept).
const READERS_KEPT: usize = 8;

/// Schema versions, applied in order and tracked in SQLite's `user_version`. Append only.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE verifications (
        request_id    TEXT PRIMARY KEY NOT NULL,
        application   TEXT NOT NULL,
        phone         TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        state         TEXT NOT NULL,
        body          TEXT NOT NULL
    );
    CREATE INDEX verifications_by_number ON verifications (application, phone, created_at_ms);
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    );
",
    "
    CREATE TABLE blocklist (
        application   TEXT NOT NULL,
        value         TEXT NOT NULL,
        kind          TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (application, value)
    );
    CREATE TABLE charges (
        request_id         TEXT PRIMARY KEY NOT NULL,
        application        TEXT NOT NULL,
        month              TEXT NOT NULL,
        charged_at_ms      INTEGER NOT NULL,
        channel            TEXT NOT NULL,
        country            TEXT NOT NULL,
        amount_micros      INTEGER NOT NULL,
        free               INTEGER NOT NULL
    );
    CREATE INDEX charges_by_month ON charges (application, month);
",
    // Running totals kept beside the ledger in the same transaction, so that neither the free-tier
    // decision of a send nor the usage report counts the month's ledger rows (issue 11: a
    // `COUNT(*)` per charge made every send O(month's volume)). Backfilled from the ledger.
    "
    CREATE TABLE charge_months (
        application TEXT NOT NULL,
        month       TEXT NOT NULL,
        charged     INTEGER NOT NULL,
        PRIMARY KEY (application, month)
    ) WITHOUT ROWID;
    INSERT INTO charge_months (application, month, charged)
        SELECT application, month, COUNT(*) FROM charges GROUP BY application, month;
    CREATE TABLE usage_months (
        application   TEXT NOT NULL,
        month         TEXT NOT NULL,
        channel       TEXT NOT NULL,
        country       TEXT NOT NULL,
        verifications INTEGER NOT NULL,
        free          INTEGER NOT NULL,
        amount_micros INTEGER NOT NULL,
        PRIMARY KEY (application, month, channel, country)
    ) WITHOUT ROWID;
    INSERT INTO usage_months (application, month, channel, country, verifications, free, amount_micros)
        SELECT application, month, channel, country, COUNT(*), SUM(free),
               SUM(CASE WHEN free THEN 0 ELSE amount_micros END)
        FROM charges GROUP BY application, month, channel, country;
",
    sessions::MIGRATION,
    delivery::MIGRATION,
    encryption::MIGRATION,
    encryption::MIGRATION_SEALED_ROWS,
    // A verification's version beside its body, so a conditional write compares a column instead
    // of parsing the stored JSON envelope (`json_extract`) on every write. Rows written before
    // keep NULL here and are read through their body ([`stored_version!`]).
    "ALTER TABLE verifications ADD COLUMN version INTEGER;",
];

/// A stored verification's version, as SQL: the column, or for a row written before it existed
/// the body's `version` (rows older still read as 0). A macro so that `concat!` can put the one
/// spelling into both statements that compare it.
macro_rules! stored_version {
    () => {
        "COALESCE(verifications.version, json_extract(verifications.body, '$.version'), 0)"
    };
}

/// The version a stored verification `?1` is at ([`stored_version!`]).
pub const STORED_VERSION: &str = concat!(
    "SELECT ",
    stored_version!(),
    " FROM verifications WHERE request_id = ?1"
);

/// The statements of the send, check, receipt and callback paths, of hosted sessions and
/// webhook deliveries, and of delivery state (messages, fallbacks and their scheduler), by name. Each must cost the same
/// whatever the number of stored rows: `tests/query_plans.rs` runs `EXPLAIN QUERY PLAN` on every
/// one of them and fails on a full scan, an aggregate or a temporary sort, and counts each one's
/// SQLite VM steps on a small and on a filled store.
pub const HOT_PATH_STATEMENTS: &[(&str, &str)] = &[
    ("save_verification", SAVE_VERIFICATION),
    ("save_verification_if_version", SAVE_VERIFICATION_IF_VERSION),
    ("insert_charge", INSERT_CHARGE),
    ("count_charge", COUNT_CHARGE),
    ("add_usage", ADD_USAGE),
    ("load_number", LOAD_NUMBER),
    ("load_for_actor", LOAD_FOR_ACTOR),
    ("approvals", APPROVALS),
    ("next_session_number", sessions::NEXT_SESSION_NUMBER),
    ("insert_session", sessions::INSERT_SESSION),
    ("session_by_id", sessions::SESSION_BY_ID),
    ("session_by_token", sessions::SESSION_BY_TOKEN),
    ("update_session", sessions::UPDATE_SESSION),
    ("fan_out_event", sessions::FAN_OUT_EVENT),
    ("workflow", sessions::WORKFLOW),
    ("claim_candidates", sessions::CLAIM_CANDIDATES),
    ("claim_event", sessions::CLAIM_EVENT),
    ("settle_remove", sessions::SETTLE_REMOVE),
    ("settle_retry", sessions::SETTLE_RETRY),
    ("insert_message", delivery::INSERT_MESSAGE),
    ("message_outcome", delivery::MESSAGE_OUTCOME),
    ("find_message", delivery::FIND_MESSAGE),
    ("arm_fallback", delivery::ARM_FALLBACK),
    ("disarm_fallback", delivery::DISARM_FALLBACK),
    ("any_fallback_due", delivery::ANY_FALLBACK_DUE),
    ("claim_fallbacks", delivery::CLAIM_FALLBACKS),
    ("claim_fallback", delivery::CLAIM_FALLBACK),
];

/// Inserts a verification or replaces its state and body (the primary key decides).
/// `?7` is the record's version, which its body `?6` carries too.
pub const SAVE_VERIFICATION: &str =
    "INSERT INTO verifications (request_id, application, phone, created_at_ms, state, body, version)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
     ON CONFLICT (request_id) DO UPDATE SET state = excluded.state, body = excluded.body,
       version = excluded.version";

/// Like [`SAVE_VERIFICATION`], only over stored version `?7 - 1` ([`stored_version!`]): a record
/// not stored is inserted, a stored one replaced only while its version is still the one the
/// decision was made from. One row changed when applied, none when a stale writer lost: the
/// check and the write are one statement on one row found by primary key.
pub const SAVE_VERIFICATION_IF_VERSION: &str = concat!(
    "INSERT INTO verifications (request_id, application, phone, created_at_ms, state, body, version)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
     ON CONFLICT (request_id) DO UPDATE SET state = excluded.state, body = excluded.body,
       version = excluded.version
     WHERE ",
    stored_version!(),
    " = ?7 - 1"
);

/// One ledger row per request id (a second charge of the same verification is ignored), free while
/// the application's month has had fewer than `?8` charges before it. Decided in the one writer, so
/// commit order settles who is the 500th; the month's count is one row of `charge_months`.
pub const INSERT_CHARGE: &str = "INSERT OR IGNORE INTO charges
       (request_id, application, month, charged_at_ms, channel, country, amount_micros, free)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
       COALESCE((SELECT charged < ?8 FROM charge_months WHERE application = ?2 AND month = ?3), 1))
     RETURNING free";

/// Counts a charge that [`INSERT_CHARGE`] stored in its month's running total.
pub const COUNT_CHARGE: &str = "INSERT INTO charge_months (application, month, charged) VALUES (?1, ?2, 1)
     ON CONFLICT (application, month) DO UPDATE SET charged = charged + 1";

/// Adds a stored charge to the usage report's group (`free` 0 or 1, `amount_micros` 0 when free).
pub const ADD_USAGE: &str =
    "INSERT INTO usage_months (application, month, channel, country, verifications, free, amount_micros)
     VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)
     ON CONFLICT (application, month, channel, country) DO UPDATE SET
       verifications = verifications + 1,
       free = free + excluded.free,
       amount_micros = amount_micros + excluded.amount_micros";

/// A number's verifications created at or after `?3`, oldest first.
pub const LOAD_NUMBER: &str =
    "SELECT body FROM verifications WHERE application = ?1 AND phone = ?2 AND created_at_ms >= ?3
     ORDER BY created_at_ms";

/// What a number's actor loads at start: its rows since `?3` and its approvals, in one read.
pub const LOAD_FOR_ACTOR: &str = "SELECT body FROM verifications WHERE application = ?1 AND phone = ?2
       AND (created_at_ms >= ?3 OR state = 'approved')
     ORDER BY created_at_ms";

/// A number's approved verifications, oldest first.
pub const APPROVALS: &str =
    "SELECT body FROM verifications WHERE application = ?1 AND phone = ?2 AND state = 'approved'
     ORDER BY created_at_ms";

enum Job {
    /// Verification rows, then delivery writes, in one transaction.
    Save(Vec<Row>, Vec<delivery::Write>, oneshot::Sender<Result<(), StoreError>>),
    ClaimFallbacks(delivery::Claim, delivery::ClaimReply),
    /// Rows over their versions (and the number's head, when given), all or nothing, then (only
    /// if applied) their delivery writes.
    SaveIfVersions(
        Vec<Row>,
        Option<super::Head>,
        Vec<delivery::Write>,
        oneshot::Sender<Result<bool, StoreError>>,
    ),
    PutIfAbsent(String, String, oneshot::Sender<Result<bool, StoreError>>),
    Put(String, String, oneshot::Sender<Result<(), StoreError>>),
    BlockAdd(BlockRow, oneshot::Sender<Result<bool, StoreError>>),
    /// An application's entry stored under either value: the value named, or its blind index.
    BlockRemove(String, [String; 2], oneshot::Sender<Result<bool, StoreError>>),
    Flush(oneshot::Sender<Result<(), StoreError>>),
    Sessions(sessions::SessionJob),
    /// Issue 18: a number's data, or a retention batch.
    Erase(erase::Erase, erase::EraseReply),
}

/// Prepared statements kept per connection. rusqlite keeps 16 by default; the writer alone runs
/// more than that in one group commit (version checks, the verification and its charge, the
/// message, the fallback plan, settings, blocklist, sessions, claims), and an evicted statement
/// is parsed and planned again on its next use (seen in profiles as `sqlite3RunParser` and
/// `StatementCache::cache_stmt` on the send path).
const STATEMENT_CACHE: usize = 96;

pub struct SqliteStore {
    path: PathBuf,
    writer: mpsc::Sender<Job>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Seals numbers and computes their blind index ([`super::crypto`]).
    keys: Arc<Keyring>,
}

/// A failure as a [`StoreError`]: [`StoreError::Full`] for SQLite's `SQLITE_FULL` (the disk or
/// the file system holding the database is full), else [`StoreError::Unavailable`].
fn unavailable<E: std::fmt::Display + 'static>(e: E) -> StoreError {
    let full = (&e as &dyn std::any::Any)
        .downcast_ref::<rusqlite::Error>()
        .and_then(rusqlite::Error::sqlite_error_code)
        == Some(rusqlite::ErrorCode::DiskFull);
    match full {
        true => StoreError::Full(e.to_string()),
        false => StoreError::Unavailable(e.to_string()),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations, sealing
    /// numbers under the key in `store.key` beside it (generated on first open, mode 0600):
    /// [`Self::open_with_keys`] with [`encryption::local_keyring`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let keys = encryption::local_keyring(path)?;
        Self::open_with_keys(path, keys)
    }

    /// Opens (creating if needed) the database at `path`, applies pending migrations and rewrites
    /// every row not yet sealed under the current key of `keys` (clear text from before
    /// encryption, or an older key after a rotation) before anything else reads it.
    pub fn open_with_keys(path: &Path, keys: Keyring) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut conn = Connection::open(path).map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        migrate(&mut conn)?;
        encryption::reseal(&mut conn, &keys)?;

        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(open_reader(path)?);
        }

        let (writer, jobs) = mpsc::channel();
        std::thread::Builder::new()
            .name("otpgate-store-writer".into())
            .spawn(move || run_writer(conn, jobs))
            .map_err(unavailable)?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            readers: Arc::new(Mutex::new(readers)),
            keys: Arc::new(keys),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn enqueue(&self, job: Job) -> Result<(), StoreError> {
        crate::metrics::store_queue();
        self.writer.send(job).map_err(|_| {
            crate::metrics::store_dequeued(1);
            StoreError::Unavailable("store writer has stopped".into())
        })
    }

    /// Runs `read` on a pooled read-only connection off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        let result = tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_reader(&path)?,
            };
            let result = read(&conn);
            let mut pool = readers.lock();
            if pool.len() < READERS_KEPT {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(unavailable)
        .and_then(|result| result);
        super::health::observe("sqlite", super::health::Op::Read, &result);
        result
    }
}

/// A read-only connection to the database at `path`, as the pool keeps them.
fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let reader = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(unavailable)?;
    reader
        .busy_timeout(std::time::Duration::from_secs(5))
        .map_err(unavailable)?;
    reader.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(reader)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: usize = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(unavailable)?;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Unavailable(format!(
            "database schema version {version} is newer than this build knows ({}); refusing to touch it",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction().map_err(unavailable)?;
        tx.execute_batch(sql).map_err(unavailable)?;
        tx.pragma_update(None, "user_version", i + 1).map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        tracing::info!(version = i + 1, "store migrated");
    }
    Ok(())
}

enum Output {
    Saved,
    Put(bool),
    Sessions(sessions::SessionOutput),
    Claimed(Vec<PendingFallback>),
    Erased(super::Erased),
}

fn run_writer(mut conn: Connection, jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        crate::metrics::store_dequeued(batch.len());
        let started = Instant::now();
        let result = write_batch(&mut conn, &batch);
        metrics::histogram!(crate::metrics::STORE_COMMIT_DURATION).record(started.elapsed().as_secs_f64());
        metrics::histogram!(crate::metrics::STORE_BATCH_SIZE).record(batch.len() as f64);
        if let Err(e) = &result {
            tracing::debug!(error = %e, writes = batch.len(), "store commit failed");
        }
        super::health::observe("sqlite", super::health::Op::Write, &result);
        for (i, job) in batch.drain(..).enumerate() {
            let output = result.as_ref().map(|outputs| &outputs[i]).map_err(Clone::clone);
            match job {
                Job::Sessions(job) => job.answer(output.and_then(|o| match o {
                    Output::Sessions(o) => Ok(o),
                    _ => Err(StoreError::Unavailable("writer answered the wrong job".into())),
                })),
                Job::ClaimFallbacks(_, reply) => {
                    let _ = reply.send(output.and_then(|o| match o {
                        Output::Claimed(claimed) => Ok(claimed.clone()),
                        _ => Err(StoreError::Unavailable("writer answered the wrong job".into())),
                    }));
                }
                Job::Erase(_, reply) => {
                    let _ = reply.send(output.and_then(|o| match o {
                        Output::Erased(erased) => Ok(*erased),
                        _ => Err(StoreError::Unavailable("writer answered the wrong job".into())),
                    }));
                }
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

fn write_batch(conn: &mut Connection, batch: &[Job]) -> Result<Vec<Output>, StoreError> {
    // IMMEDIATE: take the write lock at BEGIN, so another process writing the same file (a second
    // node) makes us wait in the busy handler instead of failing a read-then-write upgrade.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let mut outputs = Vec::with_capacity(batch.len());
    {
        let mut put = tx
            .prepare_cached("INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)")
            .map_err(unavailable)?;
        let mut replace = tx
            .prepare_cached("INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .map_err(unavailable)?;
        let mut block_add = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO blocklist (application, value, kind, created_at_ms, sealed) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(unavailable)?;
        let mut block_remove = tx
            .prepare_cached("DELETE FROM blocklist WHERE application = ?1 AND value IN (?2, ?3)")
            .map_err(unavailable)?;
        for job in batch {
            outputs.push(match job {
                Job::Save(rows, writes, _) => {
                    save_rows(&tx, rows)?;
                    delivery::apply(&tx, writes)?;
                    Output::Saved
                }
                Job::ClaimFallbacks(claim, _) => Output::Claimed(delivery::claim(&tx, claim)?),
                Job::SaveIfVersions(rows, head, writes, _) => {
                    let applied = save_if_current(&tx, rows, head.as_ref())?;
                    if applied {
                        delivery::apply(&tx, writes)?;
                    }
                    Output::Put(applied)
                }
                Job::BlockAdd(e, _) => Output::Put(
                    block_add
                        .execute(params![
                            e.application,
                            e.value,
                            e.kind.as_str(),
                            e.created_at_ms,
                            e.sealed
                        ])
                        .map_err(unavailable)?
                        == 1,
                ),
                Job::BlockRemove(application, [value, index], _) => Output::Put(
                    block_remove
                        .execute(params![application, value, index])
                        .map_err(unavailable)?
                        >= 1,
                ),
                Job::PutIfAbsent(key, value, _) => {
                    Output::Put(put.execute(params![key, value]).map_err(unavailable)? == 1)
                }
                Job::Put(key, value, _) => {
                    replace.execute(params![key, value]).map_err(unavailable)?;
                    Output::Saved
                }
                Job::Flush(_) => Output::Saved,
                Job::Sessions(job) => Output::Sessions(sessions::apply(&tx, job)?),
                Job::Erase(e, _) => Output::Erased(erase::apply(&tx, e)?),
            });
        }
    }
    tx.commit().map_err(unavailable)?;
    Ok(outputs)
}

#[async_trait]
impl Store for SqliteStore {
    async fn load_number(
        &self,
        application: &str,
        phone: &str,
        since_ms: i64,
    ) -> Result<Vec<Verification>, StoreError> {
        let (application, phone, keys) = (application.to_owned(), self.keys.index(phone), self.keys.clone());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(LOAD_NUMBER).map_err(unavailable)?;
            let bodies = stmt
                .query_map(params![application, phone, since_ms], |r| r.get::<_, String>(0))
                .map_err(unavailable)?;
            bodies.map(|body| record(&keys, &body.map_err(unavailable)?)).collect()
        })
        .await
    }

    fn save(&self, records: Vec<Verification>) -> Commit {
        self.save_with_delivery(records, Vec::new())
    }

    fn save_with_delivery(&self, records: Vec<Verification>, changes: Vec<DeliveryChange>) -> Commit {
        let prepared = rows(&self.keys, records).and_then(|rows| Ok((rows, delivery::prepare(&self.keys, changes)?)));
        let (reply, done) = oneshot::channel();
        let queued = prepared.and_then(|(rows, writes)| self.enqueue(Job::Save(rows, writes, reply)));
        Box::pin(async move {
            queued?;
            done.await
                .map_err(|_| StoreError::Unavailable("store writer has stopped".into()))?
        })
    }

    /// One read for both: the number's rows since `since_ms` or approved, split here.
    async fn load_for_actor(
        &self,
        application: &str,
        phone: &str,
        since_ms: i64,
    ) -> Result<(Vec<Verification>, Vec<Match>), StoreError> {
        let (application, phone, keys) = (application.to_owned(), self.keys.index(phone), self.keys.clone());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(LOAD_FOR_ACTOR).map_err(unavailable)?;
            let bodies = stmt
                .query_map(params![application, phone, since_ms], |r| r.get::<_, String>(0))
                .map_err(unavailable)?;
            let (mut history, mut approvals) = (Vec::new(), Vec::new());
            for body in bodies {
                let v = record(&keys, &body.map_err(unavailable)?)?;
                if v.state == State::Approved {
                    approvals.push(Match {
                        request_id: v.request_id.clone(),
                        vendor_data: v.vendor_data.clone(),
                        verified_at_ms: v.verified_at_ms,
                    });
                }
                if v.created_at_ms >= since_ms {
                    history.push(v);
                }
            }
            Ok((history, approvals))
        })
        .await
    }

    async fn approvals(&self, application: &str, phone: &str) -> Result<Vec<Match>, StoreError> {
        let (application, phone, keys) = (application.to_owned(), self.keys.index(phone), self.keys.clone());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(APPROVALS).map_err(unavailable)?;
            let bodies = stmt
                .query_map(params![application, phone], |r| r.get::<_, String>(0))
                .map_err(unavailable)?;
            bodies
                .map(|body| {
                    let v = record(&keys, &body.map_err(unavailable)?)?;
                    Ok(Match {
                        request_id: v.request_id,
                        vendor_data: v.vendor_data,
                        verified_at_ms: v.verified_at_ms,
                    })
                })
                .collect()
        })
        .await
    }

    async fn usage(&self, application: &str, month: &str) -> Result<Vec<UsageRow>, StoreError> {
        let (application, month) = (application.to_owned(), month.to_owned());
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT channel, country, verifications, free, amount_micros
                     FROM usage_months WHERE application = ?1 AND month = ?2 ORDER BY channel, country",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![application, month], |r| {
                    Ok(UsageRow {
                        channel: r.get(0)?,
                        country: r.get(1)?,
                        verifications: r.get::<_, i64>(2)? as u64,
                        free: r.get::<_, i64>(3)? as u64,
                        amount_micros: r.get::<_, i64>(4)? as u64,
                    })
                })
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable)).collect()
        })
        .await
    }

    async fn blocklist_add(&self, entry: Entry) -> Result<bool, StoreError> {
        let (reply, done) = oneshot::channel();
        self.enqueue(Job::BlockAdd(block_row(&self.keys, entry), reply))?;
        done.await
            .map_err(|_| StoreError::Unavailable("store writer has stopped".into()))?
    }

    async fn blocklist_remove(&self, application: &str, value: &str) -> Result<bool, StoreError> {
        let (reply, done) = oneshot::channel();
        self.enqueue(Job::BlockRemove(
            application.to_owned(),
            block_keys(&self.keys, value),
            reply,
        ))?;
        done.await
            .map_err(|_| StoreError::Unavailable("store writer has stopped".into()))?
    }

    async fn blocklist_all(&self) -> Result<Vec<Entry>, StoreError> {
        let keys = self.keys.clone();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT application, value, kind, created_at_ms, sealed FROM blocklist")
                .map_err(unavailable)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })
                .map_err(unavailable)?;
            rows.map(|r| {
                let (application, value, kind, created_at_ms, sealed) = r.map_err(unavailable)?;
                block_entry(&keys, application, value, &kind, sealed.as_deref(), created_at_ms)
            })
            .collect()
        })
        .await
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.read(move |conn| {
            conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(unavailable)
        })
        .await
    }

    async fn put_setting_if_absent(&self, key: &str, value: &str) -> Result<bool, StoreError> {
        let (reply, done) = oneshot::channel();
        self.enqueue(Job::PutIfAbsent(key.to_owned(), value.to_owned(), reply))?;
        done.await
            .map_err(|_| StoreError::Unavailable("store writer has stopped".into()))?
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (reply, done) = oneshot::channel();
        self.enqueue(Job::Put(key.to_owned(), value.to_owned(), reply))?;
        done.await
            .map_err(|_| StoreError::Unavailable("store writer has stopped".into()))?
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let (reply, done) = oneshot::channel();
        self.enqueue(Job::Flush(reply))?;
        done.await
            .map_err(|_| StoreError::Unavailable("store writer has stopped".into()))?
    }
    async fn put_workflow(&self, workflow: Workflow) -> Result<(), StoreError> {
        self.put_workflow_impl(workflow).await
    }

    async fn workflow(&self, application: &str, id: &str) -> Result<Option<Workflow>, StoreError> {
        self.workflow_impl(application, id).await
    }

    async fn workflows(&self, application: &str) -> Result<Vec<Workflow>, StoreError> {
        self.workflows_impl(application).await
    }

    async fn delete_workflow(&self, application: &str, id: &str) -> Result<bool, StoreError> {
        self.delete_workflow_impl(application, id).await
    }

    async fn create_session(&self, session: Session) -> Result<Session, StoreError> {
        self.create_session_impl(session).await
    }

    async fn session(&self, key: SessionKey<'_>) -> Result<Option<Session>, StoreError> {
        self.session_impl(key).await
    }

    fn update_session(&self, update: SessionUpdate) -> Applied {
        self.update_session_impl(update, Vec::new())
    }

    fn update_session_with_delivery(&self, update: SessionUpdate, changes: Vec<DeliveryChange>) -> Applied {
        self.update_session_impl(update, changes)
    }

    fn save_if_versions(
        &self,
        records: Vec<Verification>,
        head: Option<Head>,
        changes: Vec<DeliveryChange>,
    ) -> Applied {
        self.save_if_versions_impl(records, head, changes)
    }

    fn save_session_if_versions(
        &self,
        update: SessionUpdate,
        head: Option<Head>,
        changes: Vec<DeliveryChange>,
    ) -> SavedWithSession {
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

    async fn delete_session(&self, application: &str, id: &str) -> Result<bool, StoreError> {
        self.delete_session_impl(application, id).await
    }

    async fn sessions_due(&self, now_ms: i64, limit: usize) -> Result<Vec<Session>, StoreError> {
        self.sessions_due_impl(now_ms, limit).await
    }

    async fn add_destination(&self, destination: Destination) -> Result<(), StoreError> {
        self.add_destination_impl(destination).await
    }

    async fn destinations(&self, application: &str) -> Result<Vec<Destination>, StoreError> {
        self.destinations_impl(application).await
    }

    async fn remove_destination(&self, application: &str, id: &str) -> Result<bool, StoreError> {
        self.remove_destination_impl(application, id).await
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
        self.settle_event_impl(id, claimant, settlement).await
    }

    async fn outbox_depth(&self) -> Result<u64, StoreError> {
        self.outbox_depth_impl().await
    }

    async fn delete_number(&self, application: &str, phone: &str) -> Result<super::Erased, StoreError> {
        self.erase(erase::Erase::Number {
            application: application.to_owned(),
            index: self.keys.index(phone),
        })
        .await
    }

    async fn delete_older_than(
        &self,
        application: &str,
        before_ms: i64,
        limit: usize,
    ) -> Result<super::Erased, StoreError> {
        self.erase(erase::Erase::Older {
            application: application.to_owned(),
            before_ms,
            limit: limit as i64,
        })
        .await
    }
}
