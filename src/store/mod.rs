//! Durable storage behind one trait.
//!
//! [`Store`] is what the engine needs from a database: load one number's recent history, save
//! changed verifications (in order, answering only once they are durable), and a small settings
//! table (written once, or replaced). [`sqlite::SqliteStore`] is the embedded default; a PostgreSQL backend for several
//! nodes implements the same trait and runs the same test suite (`tests/store_suite.rs`).
pub mod sqlite;

use crate::billing::UsageRow;
use crate::blocklist::Entry;
use crate::verification::{Match, Verification};
use async_trait::async_trait;
use std::future::Future;
use std::pin::Pin;

/// Resolves once the saved records are durable (committed and synced).
pub type Commit = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
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
}
