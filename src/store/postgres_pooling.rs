//! The PostgreSQL store's connection pool, and the time bounds that make an unreachable
//! database fail requests fast (503) instead of holding them until the client gives up.
use super::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::NoTls;

/// Connections per node: the writer's and the readers'.
const POOL_SIZE: usize = 8;
/// Opening one connection (TCP and start-up), unless `store.url` sets `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Waiting for a pooled connection, opening one, or checking one before reuse.
const POOL_TIMEOUT: Duration = Duration::from_millis(1500);
/// One read or one write batch, taking a connection included (a transaction cut short is
/// dropped with its connection, and the server rolls it back). A write queued behind a batch
/// that hangs waits for it first: up to twice this.
pub(super) const QUERY_TIMEOUT: Duration = Duration::from_millis(1500);

/// A pool on the database at `url`; connects lazily.
pub(super) fn build(url: &str) -> Result<Pool, StoreError> {
    let mut config = tokio_postgres::Config::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("store.url is not a PostgreSQL URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .recycle_timeout(Some(POOL_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// The error of a read or write cut short by [`QUERY_TIMEOUT`].
pub(super) fn timed_out(what: &str) -> StoreError {
    StoreError::Unavailable(format!("{what} took longer than {QUERY_TIMEOUT:?}"))
}
