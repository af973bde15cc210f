//! One test suite for every `Store` backend, in the manner of quickwit's metastore suite: each
//! test is a function generic over the backend (`store_suite/suite.rs`, taking `&dyn Store`), and
//! [`store_suite!`] makes one `#[tokio::test]` per function in a backend's module, opening a fresh
//! store with that module's `open()`. The embedded SQLite store runs every one in a temporary
//! directory. The PostgreSQL store runs every one when `TEST_DATABASE_URL` is set
//! (`postgres://postgres@127.0.0.1:5432/test` in `.ci/run`), each in a fresh schema dropped after,
//! so they run in parallel; when it is unset they are skipped and the run says so on stderr.
#[path = "store_suite/atomic.rs"]
mod atomic;
#[path = "store_suite/delivery.rs"]
mod delivery;
#[path = "store_suite/pg.rs"]
mod pg;
#[path = "store_suite/pg_plans.rs"]
mod pg_plans;
#[path = "store_suite/privacy.rs"]
mod privacy;
#[path = "store_suite/suite.rs"]
mod suite;

/// One `#[tokio::test]` per test of the suite, each on a store from `open()` (in scope where the
/// macro is used: `async fn open() -> Option<(Guard, impl Store)>`, `None` to skip).
macro_rules! store_suite {
    () => {
        store_suite!(suite:
            saved_records_load_back_per_number_oldest_first,
            later_saves_of_a_record_win_in_call_order,
            the_last_of_many_queued_saves_of_a_record_wins,
            many_concurrent_saves_are_all_durable,
            the_first_500_charges_of_a_utc_month_are_free_and_each_verification_is_charged_once,
            approvals_of_a_number_are_listed_oldest_first,
            blocklist_entries_are_added_once_and_removed,
            workflows_are_kept_per_application,
            sessions_get_increasing_numbers_per_application_and_are_found_by_id_or_token,
            a_session_change_applies_once_over_its_version_with_its_events_and_records,
            events_are_leased_to_one_claimant_and_delivered_in_order_per_session,
            due_sessions_are_listed_by_deadline,
            settings_are_written_once,
            a_replaced_setting_keeps_the_last_value_written,
        );
        store_suite!(delivery:
            messages_are_found_by_carrier_and_id_and_settled_once,
            due_plans_are_leased_once_and_taken_over_when_the_lease_runs_out,
            a_negative_receipt_leases_its_plan_early_unless_someone_holds_it,
            a_stale_writer_loses_its_conditional_write,
        );
        store_suite!(privacy:
            deleting_a_number_removes_its_verifications_and_messages_and_nothing_else,
            retention_deletes_the_oldest_verifications_in_batches,
            deleting_a_number_removes_its_sessions_and_their_undelivered_events,
            retention_deletes_old_sessions_with_their_events,
            a_blocked_number_is_listed_back_and_removed_by_the_number,
        );
        store_suite!(atomic:
            a_stale_record_writes_neither_the_record_nor_the_session_nor_its_event,
            current_records_and_session_are_written_together_once,
            a_stale_session_alone_writes_the_records_but_not_the_session,
        );
    };
    ($module:ident: $($test:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                let Some((guard, store)) = open().await else { return };
                super::$module::$test(&store).await;
                drop(store);
                drop(guard);
            }
        )*
    };
}

mod sqlite {
    use super::suite::{self, charged, verification};
    use otpgate::store::sqlite::SqliteStore;
    use otpgate::store::Store;
    use std::sync::Arc;

    async fn open() -> Option<(tempfile::TempDir, SqliteStore)> {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("data/otpgate.db")).unwrap();
        Some((dir, store))
    }

    store_suite!();

    /// Two stores on one database file stand for two nodes.
    #[tokio::test]
    async fn two_nodes_on_one_database_never_claim_the_same_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otpgate.db");
        let (a, b) = (SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap());
        suite::two_nodes_never_claim_the_same_event(&a, &b).await;
    }

    #[tokio::test]
    async fn concurrent_claimants_on_two_stores_of_one_file_never_share_a_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otpgate.db");
        let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        super::delivery::concurrent_claimants_never_share_a_plan(vec![a, b]).await;
    }

    #[tokio::test]
    async fn two_nodes_on_one_database_share_one_free_tier() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otpgate.db");
        let (a, b) = (SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap());
        suite::two_nodes_share_one_free_tier(&a, &b).await;
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otpgate.db");
        let v = verification("a", "+12025550123", 1_000);
        {
            let store = SqliteStore::open(&path).unwrap();
            store.save(vec![v.clone()]).await.unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.load_number("a", "+12025550123", 0).await.unwrap(), vec![v]);
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otpgate.db");
        drop(SqliteStore::open(&path).unwrap());
        rusqlite::Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let error = SqliteStore::open(&path)
            .err()
            .expect("opened a newer schema")
            .to_string();
        assert!(error.contains("newer"), "{error}");
    }

    /// A store written before the running totals existed (schema 2) gets them from its ledger on
    /// upgrade: the month's allowance continues where the ledger left it.
    #[tokio::test]
    async fn upgrading_a_store_counts_its_existing_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otpgate.db");
        // 2026-01-15T00:00:00Z.
        let january = 1_768_435_200_000;
        {
            let store = SqliteStore::open(&path).unwrap();
            let months: Vec<_> = (0..499)
                .map(|i| charged("a", &format!("+346124{i:05}"), january + i, 7_900))
                .collect();
            store.save(months).await.unwrap();
        }
        // Back to schema 2: the ledger alone, as stop 9 left it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE charge_months; DROP TABLE usage_months; DROP TABLE workflows; DROP TABLE sessions;
             DROP TABLE session_numbers; DROP TABLE webhook_destinations; DROP TABLE outbox;
             DROP TABLE messages; DROP TABLE fallbacks; ALTER TABLE blocklist DROP COLUMN sealed;
             ALTER TABLE verifications DROP COLUMN version; PRAGMA user_version = 2;",
        )
        .unwrap();
        drop(conn);

        let store = SqliteStore::open(&path).unwrap();
        let (the_500th, the_501st) = (
            charged("a", "+34612500000", january + 600, 7_900),
            charged("a", "+34612500001", january + 601, 7_900),
        );
        store.save(vec![the_500th, the_501st]).await.unwrap();
        let usage = store.usage("a", "2026-01").await.unwrap();
        assert_eq!((usage[0].verifications, usage[0].free), (501, 500), "{usage:?}");
        assert_eq!(usage[0].amount_micros, 37_900);
    }

    /// Issue 11: no statement of the send, check, receipt or callback path may do work that grows
    /// with the number of stored rows. Two checks per statement of
    /// [`sqlite::HOT_PATH_STATEMENTS`]: its query plan (no full scan, no aggregate, no temporary
    /// sort), and its SQLite VM steps measured on a store holding 1,000 and then 20,000 other
    /// verifications and charges of the same application and month (equal counts).
    mod query_plans {
        use otpgate::store::sqlite::{self, SqliteStore};
        use rusqlite::{Connection, StatementStatus, ToSql};

        /// What stop 9 inserted each charge with: it counted the month's ledger on every send.
        const COUNTING_CHARGE: &str = "INSERT OR IGNORE INTO charges
               (request_id, application, month, charged_at_ms, channel, country, amount_micros, free)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
               (SELECT COUNT(*) < ?8 FROM charges WHERE application = ?2 AND month = ?3))";

        /// 2026-11-30T12:00:00Z and its month.
        const NOW_MS: i64 = 1_796_040_000_000;
        const MONTH: &str = "2026-11";

        /// Why `sql` can cost more as the store fills, from `EXPLAIN QUERY PLAN` and `EXPLAIN`.
        fn plan_faults(conn: &Connection, sql: &str) -> Vec<String> {
            let mut faults = Vec::new();
            for detail in explain(conn, &format!("EXPLAIN QUERY PLAN {sql}"), 3) {
                if detail.starts_with("SCAN ") && detail != "SCAN CONSTANT ROW" {
                    faults.push(format!("full scan: {detail}"));
                }
                if detail.starts_with("USE TEMP B-TREE") {
                    faults.push(format!("sorts its whole result: {detail}"));
                }
            }
            for opcode in explain(conn, &format!("EXPLAIN {sql}"), 1) {
                if opcode.starts_with("Agg") && !faults.iter().any(|f| f.starts_with("aggregate")) {
                    faults.push(format!("aggregate over every matching row ({opcode})"));
                }
            }
            faults
        }

        /// Column `column` of every row of an `EXPLAIN` statement, its parameters left unbound
        /// (`raw_query`: the plan does not depend on their values).
        fn explain(conn: &Connection, explain_sql: &str, column: usize) -> Vec<String> {
            let mut stmt = conn.prepare(explain_sql).unwrap();
            let mut rows = stmt.raw_query();
            let mut values = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                values.push(row.get::<_, String>(column).unwrap());
            }
            values
        }

        fn open() -> (tempfile::TempDir, Connection) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("otpgate.db");
            drop(SqliteStore::open(&path).unwrap());
            (dir, Connection::open(&path).unwrap())
        }

        /// Adds `n` approved verifications of other numbers, each charged, to application `a` in
        /// this month, with the running totals a real writer keeps; and `n` sessions, workflows
        /// and webhook events waiting for a retry later (none of them the ones the statements
        /// touch).
        fn fill(conn: &Connection, from: i64, n: i64) {
            conn.execute_batch(&format!(
                "WITH RECURSIVE k(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM k WHERE i < {from} + {n} - 1)
                 INSERT INTO verifications SELECT printf('fill-%08d', i), 'a', printf('+3460%07d', i),
                   {NOW_MS} - 1000 - i, 'approved', '{{}}', 1 FROM k;
                 WITH RECURSIVE k(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM k WHERE i < {from} + {n} - 1)
                 INSERT INTO charges SELECT printf('fill-%08d', i), 'a', '{MONTH}', {NOW_MS} - 1000 - i,
                   'sms', 'ES', 30000, i < 500 FROM k;
                 DELETE FROM charge_months; DELETE FROM usage_months;
                 INSERT INTO charge_months SELECT application, month, COUNT(*) FROM charges GROUP BY 1, 2;
                 INSERT INTO usage_months SELECT application, month, channel, country, COUNT(*), SUM(free),
                   SUM(CASE WHEN free THEN 0 ELSE amount_micros END) FROM charges GROUP BY 1, 2, 3, 4;
                 WITH RECURSIVE k(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM k WHERE i < {from} + {n} - 1)
                 INSERT INTO sessions SELECT printf('fill-%08d', i), 'a', i + 2, randomblob(32), 'In Progress', 1,
                   {NOW_MS} + 3600000 + i, '{{}}', printf('bi1:%032x', i), {NOW_MS} - 1000 - i FROM k;
                 WITH RECURSIVE k(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM k WHERE i < {from} + {n} - 1)
                 INSERT INTO outbox (session_id, destination_id, status, payload, created_at_ms, due_at_ms)
                   SELECT printf('fill-%08d', i), 'd-1', 'In Progress', '{{}}', {NOW_MS}, {NOW_MS} + 3600000 + i FROM k;
                 WITH RECURSIVE k(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM k WHERE i < {from} + {n} - 1)
                 INSERT INTO workflows SELECT 'a', printf('wf-fill-%08d', i), i, '{{}}' FROM k;
                 WITH RECURSIVE k(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM k WHERE i < {from} + {n} - 1)
                 INSERT INTO messages SELECT 'smsc-a', printf('%x', 4096 + i), printf('fill-%08d', i), 'a',
                   printf('+3460%07d', i), 'sms', 'accepted', {NOW_MS} - 1000 - i FROM k;
                 WITH RECURSIVE k(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM k WHERE i < {from} + {n} - 1)
                 INSERT INTO fallbacks SELECT printf('fill-%08d', i), 'a', printf('+3460%07d', i),
                   {NOW_MS} + 3600000 + i, NULL, 'smsc-a', '{{}}' FROM k;
                 ANALYZE;"
            ))
            .unwrap();
        }

        /// The parameters each hot statement runs with: one number with a short history.
        fn params_for(name: &str) -> Vec<Box<dyn ToSql>> {
            let b = |v: &'static str| Box::new(v) as Box<dyn ToSql>;
            let i = |v: i64| Box::new(v) as Box<dyn ToSql>;
            match name {
                "save_verification" => vec![
                    b("new-1"),
                    b("a"),
                    b("+34611000001"),
                    i(NOW_MS),
                    b("pending"),
                    b("{}"),
                    i(1),
                ],
                "save_verification_if_version" => vec![
                    b("t-2"),
                    b("a"),
                    b("+34611000001"),
                    i(NOW_MS),
                    b("approved"),
                    b("{}"),
                    i(2),
                ],
                "insert_charge" | "counting_charge" => vec![
                    b("new-1"),
                    b("a"),
                    b(MONTH),
                    i(NOW_MS),
                    b("sms"),
                    b("ES"),
                    i(37_900),
                    i(500),
                ],
                "count_charge" => vec![b("a"), b(MONTH)],
                "add_usage" => vec![b("a"), b(MONTH), b("sms"), b("ES"), i(0), i(37_900)],
                "load_number" | "load_for_actor" => vec![b("a"), b("+34611000001"), i(NOW_MS - 86_400_000)],
                "approvals" => vec![b("a"), b("+34611000001")],
                "next_session_number" => vec![b("a")],
                "insert_session" => vec![
                    b("s-new"),
                    b("a"),
                    i(2),
                    Box::new(vec![7u8; 32]),
                    b("Not Started"),
                    i(0),
                    i(NOW_MS),
                    b("{}"),
                    b("bi1:00"),
                    i(NOW_MS),
                ],
                "session_by_id" => vec![b("s-1")],
                "session_by_token" => vec![Box::new(vec![1u8; 32])],
                "update_session" => vec![
                    b("s-1"),
                    i(0),
                    b("In Progress"),
                    i(1),
                    i(NOW_MS + 1),
                    b("{}"),
                    b("bi1:00"),
                ],
                "fan_out_event" => vec![b("s-1"), b("In Progress"), b("{}"), i(NOW_MS), b("a"), i(2)],
                "workflow" => vec![b("a"), b("wf-1")],
                "claim_candidates" => vec![i(NOW_MS), i(32)],
                "claim_event" => vec![i(1), b("node"), i(NOW_MS + 30_000), i(NOW_MS)],
                "settle_remove" => vec![i(1), b("node")],
                "settle_retry" => vec![i(1), b("node"), i(NOW_MS + 5_000)],
                "insert_message" => vec![
                    b("smsc-a"),
                    b("ff"),
                    b("new-1"),
                    b("a"),
                    b("+34611000001"),
                    b("sms"),
                    b("accepted"),
                    i(NOW_MS),
                ],
                "message_outcome" => vec![b("smsc-a"), b("a1"), b("delivered")],
                "find_message" => vec![b("smsc-a"), b("a1")],
                "arm_fallback" => vec![
                    b("new-1"),
                    b("a"),
                    b("+34611000001"),
                    i(NOW_MS + 5_000),
                    b("smsc-a"),
                    b("{}"),
                ],
                "disarm_fallback" => vec![b("t-2")],
                "any_fallback_due" => vec![i(NOW_MS)],
                "claim_fallbacks" => vec![i(NOW_MS), i(NOW_MS + 120_000), b("node"), i(256)],
                "claim_fallback" => vec![b("t-2"), b("node"), i(NOW_MS + 120_000), i(NOW_MS), b("smsc-a")],
                other => panic!("no parameters for the hot statement {other:?}: add them here"),
            }
        }

        /// SQLite VM steps of one run of `sql` (rolled back, so runs compare like for like).
        fn vm_steps(conn: &mut Connection, name: &str, sql: &str) -> i32 {
            let tx = conn.transaction().unwrap();
            let steps = {
                let mut stmt = tx.prepare(sql).unwrap();
                let params = params_for(name);
                let refs: Vec<&dyn ToSql> = params.iter().map(|p| p.as_ref()).collect();
                let mut rows = stmt.query(refs.as_slice()).unwrap();
                while rows.next().unwrap().is_some() {}
                drop(rows);
                stmt.get_status(StatementStatus::VmStep)
            };
            tx.rollback().unwrap();
            steps
        }

        /// The number the statements read: two verifications, one approved.
        fn target_rows(conn: &Connection) {
            conn.execute_batch(&format!(
                "INSERT INTO verifications VALUES ('t-1', 'a', '+34611000001', {}, 'approved', '{{}}', 1);
                 INSERT INTO verifications VALUES ('t-2', 'a', '+34611000001', {}, 'pending', '{{}}', 1);",
                NOW_MS - 3_600_000,
                NOW_MS - 60_000
            ))
            .unwrap();
            // A session with one due event, the application's destination, and its workflow.
            conn.execute_batch(&format!(
                "INSERT INTO sessions VALUES ('s-1', 'a', 1, zeroblob(32), 'Not Started', 0, {deadline}, '{{}}', NULL, {now});
                 INSERT INTO session_numbers VALUES ('a', 1);
                 INSERT INTO webhook_destinations VALUES ('d-1', 'a', 'http://127.0.0.1:9/', '[]', 127, 'k', 1);
                 INSERT INTO outbox (seq, session_id, destination_id, status, payload, created_at_ms, due_at_ms, claimed_by)
                   VALUES (1, 's-1', 'd-1', 'In Progress', '{{}}', {now}, {now} - 1, 'node');
                 INSERT INTO workflows VALUES ('a', 'wf-1', 1, '{{}}');
                 INSERT INTO messages VALUES ('smsc-a', 'a1', 't-2', 'a', '+34611000001', 'sms', 'accepted', {now});
                 INSERT INTO fallbacks VALUES ('t-2', 'a', '+34611000001', {now} - 1, NULL, 'smsc-a', '{{}}');",
                deadline = NOW_MS + 60_000,
                now = NOW_MS
            ))
            .unwrap();
        }

        #[test]
        fn every_hot_statement_has_a_plan_that_does_not_grow_with_the_store() {
            let (_dir, conn) = open();
            let mut faults = Vec::new();
            for (name, sql) in sqlite::HOT_PATH_STATEMENTS {
                for fault in plan_faults(&conn, sql) {
                    faults.push(format!("{name}: {fault}"));
                }
            }
            assert!(faults.is_empty(), "{faults:#?}");
        }

        #[test]
        fn every_hot_statement_takes_as_many_steps_at_20k_rows_as_at_1k() {
            let (_dir, mut conn) = open();
            target_rows(&conn);
            fill(&conn, 0, 1_000);
            let small: Vec<i32> = sqlite::HOT_PATH_STATEMENTS
                .iter()
                .map(|(name, sql)| vm_steps(&mut conn, name, sql))
                .collect();
            fill(&conn, 1_000, 19_000);
            for ((name, sql), small) in sqlite::HOT_PATH_STATEMENTS.iter().zip(small) {
                let large = vm_steps(&mut conn, name, sql);
                assert!(small > 0, "{name} ran no step");
                assert_eq!(
                    large, small,
                    "{name}: {small} VM steps at 1,000 rows, {large} at 20,000"
                );
            }
        }

        /// The checks above catch the fault of issue 11: stop 9's charge insert fails both.
        #[test]
        fn the_checks_catch_a_charge_that_counts_the_month() {
            let (_dir, mut conn) = open();
            let faults = plan_faults(&conn, COUNTING_CHARGE);
            assert!(faults.iter().any(|f| f.starts_with("aggregate")), "{faults:?}");
            assert!(
                plan_faults(&conn, "SELECT body FROM verifications WHERE state = 'approved'")
                    .iter()
                    .any(|f| f.starts_with("full scan"))
            );
            fill(&conn, 0, 1_000);
            let small = vm_steps(&mut conn, "counting_charge", COUNTING_CHARGE);
            fill(&conn, 1_000, 19_000);
            let large = vm_steps(&mut conn, "counting_charge", COUNTING_CHARGE);
            assert!(large > small * 10, "{small} steps at 1,000 rows, {large} at 20,000");
        }
    }
}

mod postgres {
    use super::pg::Schema;
    use super::suite::{self, charged, verification};
    use otpgate::store::postgres::PostgresStore;
    use otpgate::store::Store;
    use std::sync::Arc;

    async fn open() -> Option<(Schema, PostgresStore)> {
        let schema = Schema::create().await?;
        let store = PostgresStore::connect(&schema.url()).await.unwrap();
        Some((schema, store))
    }

    store_suite!();

    /// Two stores on one database stand for two nodes.
    #[tokio::test]
    async fn two_nodes_on_one_database_never_claim_the_same_event() {
        let Some(schema) = Schema::create().await else { return };
        let a = PostgresStore::connect(&schema.url()).await.unwrap();
        let b = PostgresStore::connect(&schema.url()).await.unwrap();
        suite::two_nodes_never_claim_the_same_event(&a, &b).await;
    }

    #[tokio::test]
    async fn two_nodes_on_one_database_share_one_free_tier() {
        let Some(schema) = Schema::create().await else { return };
        let url = schema.url();
        let (a, b) = tokio::join!(PostgresStore::connect(&url), PostgresStore::connect(&url));
        suite::two_nodes_share_one_free_tier(&a.unwrap(), &b.unwrap()).await;
    }

    #[tokio::test]
    async fn concurrent_claimants_on_two_nodes_never_share_a_fallback() {
        let Some(schema) = Schema::create().await else { return };
        let a: Arc<dyn Store> = Arc::new(PostgresStore::connect(&schema.url()).await.unwrap());
        let b: Arc<dyn Store> = Arc::new(PostgresStore::connect(&schema.url()).await.unwrap());
        super::delivery::concurrent_claimants_never_share_a_plan(vec![a, b]).await;
    }

    #[tokio::test]
    async fn data_survives_reconnecting() {
        let Some(schema) = Schema::create().await else { return };
        let v = verification("a", "+12025550123", 1_000);
        {
            let store = PostgresStore::connect(&schema.url()).await.unwrap();
            store.save(vec![v.clone()]).await.unwrap();
        }
        let store = PostgresStore::connect(&schema.url()).await.unwrap();
        assert_eq!(store.load_number("a", "+12025550123", 0).await.unwrap(), vec![v]);
        // Migrations ran once: the ledger tables are not created again.
        let charged = charged("a", "+12025550124", 1_000, 0);
        store.save(vec![charged]).await.unwrap();
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused_untouched() {
        let Some(schema) = Schema::create().await else { return };
        drop(PostgresStore::connect(&schema.url()).await.unwrap());
        let client = schema.client().await;
        client
            .batch_execute("UPDATE otpgate_schema SET version = 99")
            .await
            .unwrap();
        let error = PostgresStore::connect(&schema.url())
            .await
            .err()
            .expect("opened a newer schema")
            .to_string();
        assert!(error.contains("newer"), "{error}");
        let version: i64 = client
            .query_one("SELECT version FROM otpgate_schema", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(version, 99);
    }

    #[tokio::test]
    async fn nodes_starting_together_migrate_once() {
        let Some(schema) = Schema::create().await else { return };
        let url = schema.url();
        let opened = futures_util::future::join_all((0..4).map(|_| PostgresStore::connect(&url))).await;
        for store in opened {
            store.unwrap();
        }
    }
}
