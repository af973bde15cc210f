//! Durable storage behind one trait.
//!
//! [`Store`] is what the engine needs from a database: load one number's recent history, save
//! changed verifications (in order, answering only once they are durable), and a small settings
//! table (written once, or replaced); for path A, workflows, sessions (changed only over the version
//! read, with their webhook events in the same commit), webhook destinations and the leased outbox.
//! Delivery state too ([`delivery`]): each message a carrier accepted and the rest of each
//! fallback plan, written in the same commit as the verification they belong to, so receipts and
//! due fallback steps survive a restart and reach any node.
//! [`sqlite::SqliteStore`] is the embedded default; [`postgres::PostgresStore`], for several
//! nodes on one database, implements the same trait and runs the same test suite
//! (`tests/store_suite.rs`).
pub mod crypto;
pub mod delivery;
pub mod health;
pub mod postgres;
mod rows;
pub mod sqlite;

pub use delivery::{DeliveryChange, MessageState, PendingFallback, PlannedStep, StoredMessage};

use crate::billing::UsageRow;
use crate::blocklist::Entry;
use crate::outbox::{ClaimedEvent, Destination, Settlement};
use crate::sessions::events::StatusEvent;
use crate::sessions::Session;
use crate::verification::{Match, Verification};
use crate::workflows::Workflow;
use async_trait::async_trait;
use std::future::Future;
use std::pin::Pin;

/// Resolves once the saved records are durable (committed and synced).
pub type Commit = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// Resolves once an [`Store::update_session`] is durable: whether the session was replaced.
pub type Applied = Pin<Box<dyn Future<Output = Result<bool, StoreError>> + Send>>;

/// Resolves once a [`Store::save_session_if_versions`] is durable: what it wrote.
pub type SavedWithSession = Pin<Box<dyn Future<Output = Result<SessionSaved, StoreError>> + Send>>;

/// What [`Store::save_session_if_versions`] wrote, in its one transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionSaved {
    /// The records (and the delivery changes) were written: false means nothing was written.
    pub records: bool,
    /// The session was replaced (and its event added); never true without `records`.
    pub session: bool,
}

/// A session change for [`Store::update_session`].
#[derive(Debug, Clone)]
pub struct SessionUpdate {
    /// The session's new state. Its `version` must be `expected_version + 1`.
    pub session: Session,
    /// The version the change was computed from.
    pub expected_version: i64,
    /// Verifications changed with it, saved as [`Store::save`] saves them in any case.
    pub records: Vec<Verification>,
    /// The status change's webhook, when the status changed.
    pub event: Option<StatusEvent>,
}

/// What a writer that starts a verification saw of its number ([`Store::save_if_versions`]):
/// the write applies only while no other verification of (`application`, `phone`) was created
/// at or after `since_ms` than `known`, the newest the writer holds (none: it holds none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub application: String,
    /// E.164.
    pub phone: String,
    pub known: Option<String>,
    /// Milliseconds since the epoch: the newest known one's creation, or how far back the
    /// writer loaded the number's history when it holds none.
    pub since_ms: i64,
}

/// How a session is looked up.
#[derive(Debug, Clone, Copy)]
pub enum SessionKey<'a> {
    Id(&'a str),
    /// SHA-256 of the token in `session_url`.
    TokenDigest(&'a [u8; 32]),
}

/// What [`Store::delete_number`] or one [`Store::delete_older_than`] batch removed, in rows.
/// Ledger rows stay: they hold no number (request id, month, channel, country, amount).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Erased {
    pub verifications: u64,
    pub messages: u64,
    pub fallbacks: u64,
    /// Hosted sessions (of the number, or created before the cut-off).
    pub sessions: u64,
    /// Webhook events of those sessions not yet delivered.
    pub outbox: u64,
}

/// Why a store call failed. The API answers every kind with 503 and `Retry-After`
/// (`src/api/error.rs`); [`StoreError::kind`] labels `otpgate_store_errors_total`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refused the work (connection lost, timeout, file
    /// system read-only, writer stopped). Transient: retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// No space left for writes (SQLite's `SQLITE_FULL`, PostgreSQL's `disk_full`). Reads work.
    #[error("store full: {0}")]
    Full(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The metric label of this error: `unavailable`, `full` or `corrupt`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Full(_) => "full",
            StoreError::Corrupt(_) => "corrupt",
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Verifications of one number created at or after `since_ms`, oldest first.
    async fn load_number(&self, application: &str, phone: &str, since_ms: i64)
        -> Result<Vec<Verification>, StoreError>;

    /// Saves records. Saves are applied in call order; the returned future resolves when they
    /// are durable. Calling this must not block: it only enqueues. A record carrying a
    /// [`crate::billing::Charge`] adds its one ledger row (never a second one for the same
    /// request id), marked free while the application's month has had fewer than
    /// [`crate::billing::FREE_PER_MONTH`] charges before it, in commit order.
    fn save(&self, records: Vec<Verification>) -> Commit;

    /// Every approved verification of one number in one application, oldest first.
    async fn approvals(&self, application: &str, phone: &str) -> Result<Vec<Match>, StoreError>;

    /// What a number's actor loads when it starts: [`Store::load_number`] and
    /// [`Store::approvals`]. A backend may answer both with one query (SQLite does).
    async fn load_for_actor(
        &self,
        application: &str,
        phone: &str,
        since_ms: i64,
    ) -> Result<(Vec<Verification>, Vec<Match>), StoreError> {
        let (history, approvals) = tokio::join!(
            self.load_number(application, phone, since_ms),
            self.approvals(application, phone)
        );
        Ok((history?, approvals?))
    }

    /// A month's ledger of one application, grouped by channel and country.
    async fn usage(&self, application: &str, month: &str) -> Result<Vec<UsageRow>, StoreError>;

    /// Adds a blocklist entry; false (and nothing changed) when the value is already listed.
    async fn blocklist_add(&self, entry: Entry) -> Result<bool, StoreError>;

    /// Removes a blocklist entry; false when there was none.
    async fn blocklist_remove(&self, application: &str, value: &str) -> Result<bool, StoreError>;

    /// Every blocklist entry of every application (loaded once at start).
    async fn blocklist_all(&self) -> Result<Vec<Entry>, StoreError>;

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Stores `value` under `key` unless the key exists; true when it was stored.
    async fn put_setting_if_absent(&self, key: &str, value: &str) -> Result<bool, StoreError>;

    /// Stores `value` under `key`, replacing any value there; resolves once it is durable.
    /// Writes to one key apply in call order, so the last call's value is the one kept (the
    /// routing actor keeps what it learned this way, under `routing.deliverability`).
    async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// Resolves once everything saved before the call is durable.
    async fn flush(&self) -> Result<(), StoreError>;

    // Path A: workflows, sessions, webhook destinations and the webhook outbox.

    /// Inserts a workflow, or replaces the one with the same (application, id).
    async fn put_workflow(&self, workflow: Workflow) -> Result<(), StoreError>;

    /// One workflow of one application.
    async fn workflow(&self, application: &str, id: &str) -> Result<Option<Workflow>, StoreError>;

    /// Every workflow of one application, oldest first.
    async fn workflows(&self, application: &str) -> Result<Vec<Workflow>, StoreError>;

    /// Deletes a workflow; false when there was none. Sessions keep their copy of it.
    async fn delete_workflow(&self, application: &str, id: &str) -> Result<bool, StoreError>;

    /// Stores a new session, giving it the application's next `session_number` (1, 2, 3...;
    /// never reused, also under concurrent creates); returns the session as stored. Its token
    /// digest is unique.
    async fn create_session(&self, session: Session) -> Result<Session, StoreError>;

    /// One session by id or by token digest.
    async fn session(&self, key: SessionKey<'_>) -> Result<Option<Session>, StoreError>;

    /// Applies a session change, in one transaction: saves `records` exactly as [`Store::save`]
    /// would; then, only if the stored session's version is still `expected_version`, replaces it
    /// with `session` and, when `event` is given, adds one outbox event per webhook destination
    /// of the session's application that subscribes to the event's status (ordered after every
    /// event added before it). Applied in call order with [`Store::save`]; must not block (it
    /// only enqueues). Resolves, once durable, to whether the session was replaced; false means
    /// someone changed or deleted it first and nothing but `records` was written.
    fn update_session(&self, update: SessionUpdate) -> Applied;

    /// Deletes a session and its undelivered events; false when there was none in `application`.
    async fn delete_session(&self, application: &str, id: &str) -> Result<bool, StoreError>;

    /// Up to `limit` sessions whose deadline (expiry or abandonment) is at or before `now_ms`,
    /// earliest deadline first.
    async fn sessions_due(&self, now_ms: i64, limit: usize) -> Result<Vec<Session>, StoreError>;

    /// Adds a webhook destination.
    async fn add_destination(&self, destination: Destination) -> Result<(), StoreError>;

    /// Every webhook destination of one application, oldest first.
    async fn destinations(&self, application: &str) -> Result<Vec<Destination>, StoreError>;

    /// Deletes a destination and its undelivered events; false when there was none.
    async fn remove_destination(&self, application: &str, id: &str) -> Result<bool, StoreError>;

    /// Leases up to `limit` due events to `claimant` until `now_ms + lease_ms`, atomically: an
    /// event is handed to one claimant at a time, whichever process or node asks. Only the
    /// oldest pending event of each (destination, session) is ever due, so a session's events
    /// reach a destination in order. An event is due when its retry time has come and it is not
    /// leased (or its lease ran out). Returned oldest due first.
    async fn claim_events(
        &self,
        claimant: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedEvent>, StoreError>;

    /// Ends `claimant`'s lease on event `id`: delivered or given up removes it (the next event
    /// of its session becomes due); a retry makes it due again at the given time, one attempt
    /// more. False (nothing changed) when the event is gone or leased by someone else.
    async fn settle_event(&self, id: i64, claimant: &str, settlement: Settlement) -> Result<bool, StoreError>;

    /// Events not yet delivered nor given up, in every application.
    async fn outbox_depth(&self) -> Result<u64, StoreError>;

    // Issue 14: delivery state.

    /// Like [`Store::save`], and applies `delivery` in the same transaction (after the records):
    /// the messages a send put out and the fallback plan it left, or their outcomes. Applied in
    /// call order with [`Store::save`] and [`Store::update_session`]; must not block.
    fn save_with_delivery(&self, records: Vec<Verification>, delivery: Vec<DeliveryChange>) -> Commit;

    /// Like [`Store::update_session`], and applies `delivery` in the same transaction whether or
    /// not the session was replaced (as `records` are).
    fn update_session_with_delivery(&self, update: SessionUpdate, delivery: Vec<DeliveryChange>) -> Applied;

    /// Saves `record` one version up, only if the store still holds it at `record.version` (a
    /// record never stored: version 0, and no row); its charge and `delivery` are written only
    /// then, in the same transaction. [`Store::save`] stores a record at the version it carries:
    /// writers of contested state (attempts, approval, charge) use this one. Resolves, once durable, to whether it was
    /// applied: false means another writer (another node's actor for the same number) changed it
    /// first, and the caller must reload before it decides again. Applied in call order with
    /// [`Store::save`]; must not block. [`Store::save_if_versions`] with one record and no head.
    fn save_if_version(&self, record: Verification, delivery: Vec<DeliveryChange>) -> Applied {
        self.save_if_versions(vec![record], None, delivery)
    }

    /// Like [`Store::save_if_version`] for several records of one number, all or nothing: each is
    /// saved one version up, with its charge and then `delivery`, only if every one is still
    /// stored at the version it carries and, when `head` is given, no verification of the number
    /// other than `head.known` was created at or after `head.since_ms` (so two nodes cannot both
    /// start a verification for the same number). False: nothing was written.
    fn save_if_versions(
        &self,
        records: Vec<Verification>,
        head: Option<Head>,
        delivery: Vec<DeliveryChange>,
    ) -> Applied;

    /// [`Store::save_if_versions`] and [`Store::update_session_with_delivery`] in ONE transaction,
    /// so a crash cannot leave a session behind the verification it follows (issue 14): first
    /// `update.records`, each one version up, all or nothing over the versions they carry and
    /// `head` (as [`Store::save_if_versions`]); only if they applied, the session change, only if
    /// the stored session is still at `update.expected_version` (with its outbox events, as
    /// [`Store::update_session`]); then `delivery`, whenever the records applied.
    ///
    /// A lost race on the records writes nothing (`records: false`): the caller reloads the
    /// number and decides again. A lost race on the session alone (someone else changed or
    /// deleted it first) keeps [`Store::update_session`]'s rule: the records and `delivery` are
    /// written, the session and its event are not (`session: false`); the verification is the
    /// number's truth, and the session's other writer decided from a newer session. Applied in
    /// call order with [`Store::save`]; must not block.
    fn save_session_if_versions(
        &self,
        update: SessionUpdate,
        head: Option<Head>,
        delivery: Vec<DeliveryChange>,
    ) -> SavedWithSession;

    /// Stored messages of `carrier` whose id is one of `ids` (spellings of one receipt's id, the
    /// exact one first; see [`StoredMessage::carrier_message_id`]), in the order of `ids`.
    async fn find_messages(&self, carrier: &str, ids: &[String]) -> Result<Vec<StoredMessage>, StoreError>;

    /// Leases up to `limit` fallbacks due at `now_ms` (their `due_at_ms` at or before it, leased
    /// or not: a lease that ran out is taken over) to `claimant` until `now_ms + lease_ms`, by a
    /// conditional update, so each is handed to one claimant at a time on every node. Returned
    /// with `due_at_ms` set to the lease's end, earliest due first. The claimant runs the step
    /// and ends the lease by storing the next [`DeliveryChange::Arm`] or a
    /// [`DeliveryChange::Disarm`]. The scan is one indexed range on the due time.
    async fn claim_fallbacks(
        &self,
        claimant: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<PendingFallback>, StoreError>;

    /// Leases the fallback of `request_id` to `claimant` before its due time (a negative receipt
    /// came for the message of `from_carrier` it waits for), unless someone else holds a lease
    /// that has not run out; `None` when there is none to take.
    async fn claim_fallback(
        &self,
        request_id: &str,
        from_carrier: &str,
        claimant: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<PendingFallback>, StoreError>;

    // Issue 18: delete on demand and retention.

    /// Deletes every verification of `phone` (E.164) in `application`, with its messages and
    /// fallback plan, and every hosted session of the number with its undelivered webhook events,
    /// in one transaction after every write queued before it.
    async fn delete_number(&self, application: &str, phone: &str) -> Result<Erased, StoreError>;

    /// Deletes up to `limit` of the oldest verifications of `application` created before
    /// `before_ms` (ms since the Unix epoch), with their messages and fallback plans, and up to
    /// `limit` of its oldest sessions created before it, with their undelivered webhook events,
    /// in one short transaction; call again while it removes `limit` verifications or sessions.
    async fn delete_older_than(&self, application: &str, before_ms: i64, limit: usize) -> Result<Erased, StoreError>;
}
