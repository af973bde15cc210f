//! Durable storage behind one trait.
//!
//! [`Store`] is what the engine needs from a database: load one number's recent history, save
//! changed verifications (in order, answering only once they are durable), and a small settings
//! table. [`sqlite::SqliteStore`] is the embedded default; a PostgreSQL backend for several
//! nodes implements the same trait and runs the same test suite (`tests/store_suite.rs`).
pub mod sqlite;

use crate::verification::Verification;
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
    /// are durable. Calling this must not block: it only enqueues.
    fn save(&self, records: Vec<Verification>) -> Commit;

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Stores `value` under `key` unless the key exists; true when it was stored.
    async fn put_setting_if_absent(&self, key: &str, value: &str) -> Result<bool, StoreError>;

    /// Resolves once everything saved before the call is durable.
    async fn flush(&self) -> Result<(), StoreError>;
}
