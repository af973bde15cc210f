//! The PostgreSQL store's schema (versioned migrations, applied on connect) and the statements
//! of its hot paths.
//!
//! The tables mirror the SQLite store's (`sqlite.rs`), with PostgreSQL types: `BIGINT` for every
//! integer and millisecond time, `BYTEA` for digests, `BOOLEAN` for flags.
use super::{delivery, unavailable, StoreError};

/// Schema versions, applied in order, tracked in `otpgate_schema`. Append only.
pub const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE verifications (
        request_id    TEXT PRIMARY KEY,
        application   TEXT NOT NULL,
        phone         TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        state         TEXT NOT NULL,
        body          TEXT NOT NULL
    );
    CREATE INDEX verifications_by_number ON verifications (application, phone, created_at_ms);
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE blocklist (
        application   TEXT NOT NULL,
        value         TEXT NOT NULL,
        kind          TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        PRIMARY KEY (application, value)
    );
    CREATE TABLE charges (
        request_id    TEXT PRIMARY KEY,
        application   TEXT NOT NULL,
        month         TEXT NOT NULL,
        charged_at_ms BIGINT NOT NULL,
        channel       TEXT NOT NULL,
        country       TEXT NOT NULL,
        amount_micros BIGINT NOT NULL,
        free          BOOLEAN NOT NULL
    );
    CREATE INDEX charges_by_month ON charges (application, month);
    -- Running totals kept beside the ledger in the same transaction (issue 11): the free-tier
    -- decision and the usage report never count ledger rows. The counter row is also the lock
    -- that orders concurrent charges of one application's month, whichever node writes them.
    CREATE TABLE charge_months (
        application TEXT NOT NULL,
        month       TEXT NOT NULL,
        charged     BIGINT NOT NULL,
        PRIMARY KEY (application, month)
    );
    CREATE TABLE usage_months (
        application   TEXT NOT NULL,
        month         TEXT NOT NULL,
        channel       TEXT NOT NULL,
        country       TEXT NOT NULL,
        verifications BIGINT NOT NULL,
        free          BIGINT NOT NULL,
        amount_micros BIGINT NOT NULL,
        PRIMARY KEY (application, month, channel, country)
    );
",
    // Path A: workflows, sessions, webhook destinations and the outbox.
    "
    CREATE TABLE workflows (
        application   TEXT NOT NULL,
        id            TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        body          TEXT NOT NULL,
        PRIMARY KEY (application, id)
    );
    CREATE TABLE sessions (
        id           TEXT PRIMARY KEY,
        application  TEXT NOT NULL,
        number       BIGINT NOT NULL,
        token_digest BYTEA NOT NULL UNIQUE,
        status       TEXT NOT NULL,
        version      BIGINT NOT NULL,
        deadline_ms  BIGINT,
        body         TEXT NOT NULL
    );
    CREATE INDEX sessions_by_deadline ON sessions (deadline_ms);
    CREATE TABLE session_numbers (
        application TEXT PRIMARY KEY,
        last        BIGINT NOT NULL
    );
    CREATE TABLE webhook_destinations (
        id            TEXT PRIMARY KEY,
        application   TEXT NOT NULL,
        url           TEXT NOT NULL,
        events        TEXT NOT NULL,
        statuses      BIGINT NOT NULL,
        secret        TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL
    );
    CREATE INDEX webhook_destinations_by_application ON webhook_destinations (application, created_at_ms);
    CREATE TABLE outbox (
        seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        session_id     TEXT NOT NULL,
        destination_id TEXT NOT NULL,
        status         TEXT NOT NULL,
        payload        TEXT NOT NULL,
        created_at_ms  BIGINT NOT NULL,
        due_at_ms      BIGINT NOT NULL,
        attempts       BIGINT NOT NULL DEFAULT 0,
        claimed_by     TEXT
    );
    CREATE INDEX outbox_by_due ON outbox (due_at_ms, seq);
    CREATE INDEX outbox_by_session ON outbox (session_id, destination_id, seq);
    CREATE INDEX outbox_by_destination ON outbox (destination_id);
",
    // Issue 14: delivery state (messages and fallback plans).
    super::delivery::MIGRATION,
    // Issue 14: limits shared by every node (request and send limits, pumping, live nodes).
    crate::limits::postgres::MIGRATION,
    // Issue 18: indexes for retention and delete-on-demand (sealing is `encryption::reseal`).
    super::encryption::MIGRATION,
    // Issue 18: columns for sealed sessions and blocklist numbers (as SQLite's migration 7).
    super::encryption::MIGRATION_SEALED_ROWS,
];

/// Applies pending migrations in one transaction, under an advisory lock so that nodes starting
/// together migrate once. The lock is per schema (its key is "otpg" and the hash of the schema's
/// name), so engines on other schemas of the same database (tests, staging) never wait for each
/// other, and waiting for it gives up after 60 s with a clear error instead of hanging the start.
/// Refuses a schema newer than this build knows.
pub(super) async fn migrate(client: &mut deadpool_postgres::Object) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(unavailable)?;
    // 1869901927 is "otpg" in ASCII, as a 32-bit key.
    tx.batch_execute(
        "SET LOCAL lock_timeout = '60s';
         SELECT pg_advisory_xact_lock(1869901927, hashtext(current_schema()));
         CREATE TABLE IF NOT EXISTS otpgate_schema (version BIGINT NOT NULL);",
    )
    .await
    .map_err(|e| {
        StoreError::Unavailable(format!(
            "could not take the schema's migration lock (another node migrating, or a session holding it): {e}"
        ))
    })?;
    let version = match tx
        .query_opt("SELECT version FROM otpgate_schema", &[])
        .await
        .map_err(unavailable)?
    {
        Some(row) => row.get::<_, i64>(0) as usize,
        None => {
            tx.execute("INSERT INTO otpgate_schema (version) VALUES (0)", &[])
                .await
                .map_err(unavailable)?;
            0
        }
    };
    if version > MIGRATIONS.len() {
        return Err(StoreError::Unavailable(format!(
            "database schema version {version} is newer than this build knows ({}); refusing to touch it",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.batch_execute(sql).await.map_err(unavailable)?;
        tx.execute("UPDATE otpgate_schema SET version = $1", &[&((i + 1) as i64)])
            .await
            .map_err(unavailable)?;
        tracing::info!(version = i + 1, "store migrated");
    }
    tx.commit().await.map_err(unavailable)
}

/// The statements of the send, check, receipt and callback paths, of hosted sessions and
/// webhook deliveries, and of delivery state (messages, fallbacks and their leases), by name. Each must cost the same whatever the number of stored rows:
/// `tests/store_suite.rs` (`mod query_plans`) runs `EXPLAIN` on every one over filled, analysed
/// tables and fails on a sequential scan of a growing table or an aggregate.
pub const HOT_PATH_STATEMENTS: &[(&str, &str)] = &[
    ("save_verification", SAVE_VERIFICATION),
    ("save_verification_if_version", SAVE_VERIFICATION_IF_VERSION),
    ("insert_charge", INSERT_CHARGE),
    ("count_charge", COUNT_CHARGE),
    ("load_number", LOAD_NUMBER),
    ("load_for_actor", LOAD_FOR_ACTOR),
    ("approvals", APPROVALS),
    ("next_session_number", NEXT_SESSION_NUMBER),
    ("insert_session", INSERT_SESSION),
    ("session_by_id", SESSION_BY_ID),
    ("session_by_token", SESSION_BY_TOKEN),
    ("update_session", UPDATE_SESSION),
    ("fan_out_event", FAN_OUT_EVENT),
    ("workflow", WORKFLOW),
    ("claim_candidates", CLAIM_CANDIDATES),
    ("claim_event", CLAIM_EVENT),
    ("settle_remove", SETTLE_REMOVE),
    ("settle_retry", SETTLE_RETRY),
    ("insert_message", delivery::INSERT_MESSAGE),
    ("message_outcome", delivery::MESSAGE_OUTCOME),
    ("find_messages", delivery::FIND_MESSAGES),
    ("arm_fallback", delivery::ARM_FALLBACK),
    ("disarm_fallback", delivery::DISARM_FALLBACK),
    ("claim_fallbacks", delivery::CLAIM_FALLBACKS),
    ("claim_fallback", delivery::CLAIM_FALLBACK),
];

/// Inserts a verification or replaces its state and body (the primary key decides).
pub const SAVE_VERIFICATION: &str =
    "INSERT INTO verifications (request_id, application, phone, created_at_ms, state, body)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (request_id) DO UPDATE SET state = excluded.state, body = excluded.body";

/// Like [`SAVE_VERIFICATION`], only over version `$7` (the body's `version`, which `$6` carries
/// one higher): a new record (`$7` = 0) is inserted only if none exists, a stored one replaced
/// only while its version is still `$7`. One row changed when applied, none when a stale writer
/// lost; a concurrent writer's conflicting row is waited for and the condition re-checked on it.
/// The version lives in the body (rows written before it existed read as 0), as in SQLite.
pub const SAVE_VERIFICATION_IF_VERSION: &str =
    "INSERT INTO verifications (request_id, application, phone, created_at_ms, state, body)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (request_id) DO UPDATE SET state = excluded.state, body = excluded.body
     WHERE COALESCE((verifications.body::jsonb ->> 'version')::BIGINT, 0) = $7";

/// Takes the number's write lock until the transaction ends: writers that may start a
/// verification for (`$1`, `$2`) take turns ([`crate::store::Store::save_if_versions`]).
pub const LOCK_NUMBER: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1::text || ' ' || $2::text, 0))";

/// Another verification of a number (`$1`, `$2`) than `$4`, created at or after `$3`.
pub const OTHER_SINCE: &str = "SELECT 1 FROM verifications WHERE application = $1 AND phone = $2
     AND created_at_ms >= $3 AND request_id <> $4 LIMIT 1";

/// A verification's stored version, its row locked until the transaction ends.
pub const VERSION_FOR_UPDATE: &str =
    "SELECT COALESCE((body::jsonb ->> 'version')::BIGINT, 0) FROM verifications WHERE request_id = $1 FOR UPDATE";

/// A verification's one ledger row, not yet free; nothing when it was charged before.
pub const INSERT_CHARGE: &str = "INSERT INTO charges
       (request_id, application, month, charged_at_ms, channel, country, amount_micros, free)
     VALUES ($1, $2, $3, $4, $5, $6, $7, false)
     ON CONFLICT (request_id) DO NOTHING";

/// After [`INSERT_CHARGE`] stored charge `$3`: counts it in its month (`$1`, `$2`), the counter
/// row staying locked until commit, so that concurrent charges of the month take turns and the
/// count each one sees is its place in commit order; marks it free when that place is at most
/// `$7`; and adds it to the usage report's group (`$4` channel, `$5` country, `$6` amount).
pub const COUNT_CHARGE: &str = "WITH counted AS (
       INSERT INTO charge_months AS m (application, month, charged) VALUES ($1, $2, 1)
       ON CONFLICT (application, month) DO UPDATE SET charged = m.charged + 1
       RETURNING m.charged <= $7::BIGINT AS free
     ), flagged AS (
       UPDATE charges SET free = true FROM counted WHERE charges.request_id = $3 AND counted.free
     )
     INSERT INTO usage_months AS u (application, month, channel, country, verifications, free, amount_micros)
       SELECT $1, $2, $4, $5, 1, counted.free::INT, CASE WHEN counted.free THEN 0 ELSE $6::BIGINT END
       FROM counted
     ON CONFLICT (application, month, channel, country) DO UPDATE SET
       verifications = u.verifications + 1,
       free = u.free + excluded.free,
       amount_micros = u.amount_micros + excluded.amount_micros";

/// A number's verifications created at or after `$3`, oldest first.
pub const LOAD_NUMBER: &str =
    "SELECT body FROM verifications WHERE application = $1 AND phone = $2 AND created_at_ms >= $3
     ORDER BY created_at_ms";

/// What a number's actor loads at start: its rows since `$3` and its approvals, in one read.
pub const LOAD_FOR_ACTOR: &str = "SELECT body FROM verifications WHERE application = $1 AND phone = $2
       AND (created_at_ms >= $3 OR state = 'approved')
     ORDER BY created_at_ms";

/// A number's approved verifications, oldest first.
pub const APPROVALS: &str =
    "SELECT body FROM verifications WHERE application = $1 AND phone = $2 AND state = 'approved'
     ORDER BY created_at_ms";

/// Takes the application's next session number.
pub const NEXT_SESSION_NUMBER: &str = "INSERT INTO session_numbers AS n (application, last) VALUES ($1, 1)
     ON CONFLICT (application) DO UPDATE SET last = n.last + 1 RETURNING last";

/// A new session: its body sealed, `phone` the blind index of its number (if it names one yet).
pub const INSERT_SESSION: &str =
    "INSERT INTO sessions (id, application, number, token_digest, status, version, deadline_ms, body, phone, created_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

pub const SESSION_BY_ID: &str = "SELECT body FROM sessions WHERE id = $1";

pub const SESSION_BY_TOKEN: &str = "SELECT body FROM sessions WHERE token_digest = $1";

/// Replaces a session only over the version the change was computed from.
pub const UPDATE_SESSION: &str =
    "UPDATE sessions SET status = $3, version = $4, deadline_ms = $5, body = $6, phone = $7
     WHERE id = $1 AND version = $2";

/// One outbox row per destination of application `$5` subscribed to status bit `$6`, in the
/// destinations' order.
pub const FAN_OUT_EVENT: &str =
    "INSERT INTO outbox (session_id, destination_id, status, payload, created_at_ms, due_at_ms)
     SELECT $1, id, $2, $3, $4, $4 FROM webhook_destinations
     WHERE application = $5 AND statuses & $6::BIGINT <> 0
     ORDER BY created_at_ms, id";

pub const WORKFLOW: &str = "SELECT body FROM workflows WHERE application = $1 AND id = $2";

/// Due events that are the oldest pending one of their (destination, session), locked for this
/// transaction; events another node is claiming right now are skipped, not waited for.
pub const CLAIM_CANDIDATES: &str =
    "SELECT o.seq, o.session_id, o.status, o.payload, o.created_at_ms, o.attempts, d.id, d.url, d.secret
     FROM outbox o JOIN webhook_destinations d ON d.id = o.destination_id
     WHERE o.due_at_ms <= $1
       AND NOT EXISTS (SELECT 1 FROM outbox p
                       WHERE p.session_id = o.session_id AND p.destination_id = o.destination_id AND p.seq < o.seq)
     ORDER BY o.due_at_ms, o.seq LIMIT $2
     FOR UPDATE OF o SKIP LOCKED";

/// Leases the events `$1` (locked by [`CLAIM_CANDIDATES`]) to `$2` until `$3`.
pub const CLAIM_EVENT: &str = "UPDATE outbox SET claimed_by = $2, due_at_ms = $3 WHERE seq = ANY($1)";

pub const SETTLE_REMOVE: &str = "DELETE FROM outbox WHERE seq = $1 AND claimed_by = $2";

pub const SETTLE_RETRY: &str =
    "UPDATE outbox SET due_at_ms = $3, attempts = attempts + 1, claimed_by = NULL WHERE seq = $1 AND claimed_by = $2";
