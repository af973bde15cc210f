//! A fresh PostgreSQL schema per test, in the database of `TEST_DATABASE_URL`, dropped after
//! (shared by `tests/store_suite.rs` and `tests/postgres_engine.rs`).
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

/// One test's schema. Dropped (with everything in it) when this is.
pub struct Schema {
    base_url: String,
    pub name: String,
}

/// Says once per run, on the real stderr (test output capture does not hide it), that the
/// PostgreSQL runs are skipped.
fn skipped() {
    static NOTICE: Once = Once::new();
    NOTICE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "{}: TEST_DATABASE_URL is not set: SKIPPING its PostgreSQL tests \
             (set it, e.g. to postgres://postgres@127.0.0.1:5432/test, to run them)",
            test_binary()
        );
    });
}

/// The test binary's name without cargo's hash: `store_suite`, `postgres_engine`.
fn test_binary() -> String {
    let path = std::env::args().next().unwrap_or_default();
    let file = path.rsplit('/').next().unwrap_or_default();
    file.rsplit_once('-').map_or(file, |(name, _)| name).to_owned()
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL: cannot connect: {e}"));
    tokio::spawn(connection);
    client
}

impl Schema {
    /// A new empty schema, or `None` (said once on stderr) when `TEST_DATABASE_URL` is unset.
    pub async fn create() -> Option<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let Ok(base_url) = std::env::var("TEST_DATABASE_URL") else {
            skipped();
            return None;
        };
        let name = format!(
            "otpgate_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        connect(&base_url)
            .await
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"))
            .await
            .unwrap();
        Some(Self { base_url, name })
    }

    /// `TEST_DATABASE_URL` with this schema as the search path: what a store is opened with.
    pub fn url(&self) -> String {
        let separator = if self.base_url.contains('?') { '&' } else { '?' };
        format!("{}{separator}options=-c%20search_path%3D{}", self.base_url, self.name)
    }

    /// A plain connection whose search path is this schema.
    #[allow(dead_code)] // not every test binary that includes this module uses it
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url()).await
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.base_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    connect(&url)
                        .await
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            let _ = writeln!(std::io::stderr(), "store_suite: could not drop schema {}", self.name);
        }
    }
}
