//! One test suite for every `Store` backend. Each backend instantiates [`store_suite!`] with a
//! constructor; the embedded SQLite store runs it here, the PostgreSQL store will run the same.
use otpgate::code::CodeSecret;
use otpgate::config::VerificationPolicy;
use otpgate::number;
use otpgate::number_state::{NumberState, SendRequest, SendResult, SendStart};
use otpgate::store::sqlite::SqliteStore;
use otpgate::store::Store;
use otpgate::verification::{State, Verification};
use otpgate_gateway::Channel;

/// A verification of `phone` created at `at_ms`, as the number rules would make it.
pub fn verification(app: &str, phone: &str, at_ms: i64) -> Verification {
    let secret = CodeSecret::from_bytes(b"suite");
    let request = SendRequest {
        application: app.into(),
        number: number::parse(phone).unwrap(),
        channel: None,
        preferred: None,
        vendor_data: Some("user-1".into()),
        metadata: None,
        code_length: 6,
        locale: "en".into(),
    };
    let mut state = NumberState::default();
    let (start, _) = state.begin_send(&request, &VerificationPolicy::default(), &secret, at_ms);
    let SendStart::Deliver { request_id, .. } = start else {
        panic!("blocked")
    };
    let accepted = SendResult::Accepted {
        channel: Channel::Sms,
        carrier: "sandbox".into(),
        delivered: true,
        fallbacks: vec![],
    };
    state.finish_send(&request_id, at_ms, &accepted, at_ms).unwrap()
}

macro_rules! store_suite {
    ($open:expr) => {
        #[tokio::test]
        async fn saved_records_load_back_per_number_oldest_first() {
            let (_guard, store) = $open;
            let newer = verification("a", "+12025550123", 2_000);
            let older = verification("a", "+12025550123", 1_000);
            let other_number = verification("a", "+12025550124", 1_500);
            let other_app = verification("b", "+12025550123", 1_500);
            store
                .save(vec![newer.clone(), older.clone(), other_number, other_app])
                .await
                .unwrap();
            let loaded = store.load_number("a", "+12025550123", 0).await.unwrap();
            assert_eq!(loaded, vec![older, newer.clone()]);
            assert_eq!(
                store.load_number("a", "+12025550123", 1_500).await.unwrap(),
                vec![newer]
            );
            assert!(store
                .load_number("c", "+12025550123", 0)
                .await
                .unwrap()
                .is_empty());
        }

        #[tokio::test]
        async fn later_saves_of_a_record_win_in_call_order() {
            let (_guard, store) = $open;
            let mut v = verification("a", "+12025550123", 1_000);
            let first = store.save(vec![v.clone()]);
            v.state = State::Approved;
            v.attempts = 1;
            let second = store.save(vec![v.clone()]);
            // Awaited out of order: the order of the calls decides, not of the awaits.
            second.await.unwrap();
            first.await.unwrap();
            assert_eq!(store.load_number("a", "+12025550123", 0).await.unwrap(), vec![v]);
        }

        #[tokio::test]
        async fn many_concurrent_saves_are_all_durable() {
            let (_guard, store) = $open;
            let commits: Vec<_> = (0..500)
                .map(|i| {
                    store.save(vec![verification(
                        "a",
                        &format!("+1202555{:04}", 100 + i % 90),
                        i,
                    )])
                })
                .collect();
            for commit in commits {
                commit.await.unwrap();
            }
            let mut total = 0;
            for i in 0..90 {
                total += store
                    .load_number("a", &format!("+1202555{:04}", 100 + i), 0)
                    .await
                    .unwrap()
                    .len();
            }
            assert_eq!(total, 500);
        }

        #[tokio::test]
        async fn settings_are_written_once() {
            let (_guard, store) = $open;
            assert_eq!(store.get_setting("k").await.unwrap(), None);
            assert!(store.put_setting_if_absent("k", "first").await.unwrap());
            assert!(!store.put_setting_if_absent("k", "second").await.unwrap());
            assert_eq!(store.get_setting("k").await.unwrap().as_deref(), Some("first"));
            store.flush().await.unwrap();
        }
    };
}

mod sqlite {
    use super::*;

    fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("data/otpgate.db")).unwrap();
        (dir, store)
    }

    store_suite!(open());

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
}
