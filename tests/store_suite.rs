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
    sent(app, phone, at_ms, None)
}

/// A verification whose first message a carrier with `fee_micros` accepted at `at_ms`: charged.
pub fn charged(app: &str, phone: &str, at_ms: i64, fee_micros: u64) -> Verification {
    let v = sent(app, phone, at_ms, Some(fee_micros));
    assert!(v.charge.is_some());
    v
}

fn sent(app: &str, phone: &str, at_ms: i64, fee_micros: Option<u64>) -> Verification {
    let secret = CodeSecret::from_bytes(b"suite");
    let request = SendRequest {
        application: app.into(),
        number: number::parse(phone).unwrap(),
        channel: None,
        preferred: None,
        blocklisted: None,
        high_risk: None,
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
        fee_micros,
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
        async fn the_first_500_charges_of_a_utc_month_are_free_and_each_verification_is_charged_once() {
            let (_guard, store) = $open;
            // 2026-01-31T23:59:59.999Z and the millisecond after it.
            let (end_of_january, start_of_february) = (1_769_903_999_999, 1_769_904_000_000);
            let mut january: Vec<_> = (0..501)
                .map(|i| charged("a", &format!("+346123{i:05}"), end_of_january - i, 7_900))
                .collect();
            // Concurrent saves of the 500th and 501st, and a second save of a charged record
            // (its resend or fallback): still 501 charges, exactly one billable.
            let last = january.pop().unwrap();
            let before_last = january.pop().unwrap();
            store.save(january).await.unwrap();
            let (x, y, z) = tokio::join!(
                store.save(vec![before_last.clone()]),
                store.save(vec![last]),
                store.save(vec![before_last])
            );
            (x.unwrap(), y.unwrap(), z.unwrap());
            store
                .save(vec![charged("b", "+34612200000", end_of_january, 0)])
                .await
                .unwrap();
            store
                .save(vec![charged("a", "+34612200001", start_of_february, 0)])
                .await
                .unwrap();
            store
                .save(vec![verification("a", "+34612200002", end_of_january)])
                .await
                .unwrap();

            let usage = store.usage("a", "2026-01").await.unwrap();
            assert_eq!(usage.len(), 1, "{usage:?}");
            assert_eq!(
                (usage[0].channel.as_str(), usage[0].country.as_str()),
                ("sms", "ES")
            );
            assert_eq!((usage[0].verifications, usage[0].free), (501, 500));
            assert_eq!(usage[0].amount_micros, 37_900, "one billable: $0.03 + $0.0079");
            // A new month starts a new allowance; other applications have their own.
            let february = store.usage("a", "2026-02").await.unwrap();
            assert_eq!(
                (
                    february[0].verifications,
                    february[0].free,
                    february[0].amount_micros
                ),
                (1, 1, 0)
            );
            assert_eq!(store.usage("b", "2026-01").await.unwrap()[0].free, 1);
            assert!(store.usage("a", "2025-12").await.unwrap().is_empty());
        }

        #[tokio::test]
        async fn approvals_of_a_number_are_listed_oldest_first() {
            let (_guard, store) = $open;
            let mut older = verification("a", "+12025550123", 1_000);
            older.state = State::Approved;
            older.verified_at_ms = Some(1_500);
            let mut newer = verification("a", "+12025550123", 2_000);
            newer.state = State::Approved;
            newer.vendor_data = Some("user-2".into());
            let pending = verification("a", "+12025550123", 3_000);
            let mut other_app = verification("b", "+12025550123", 1_000);
            other_app.state = State::Approved;
            store
                .save(vec![newer.clone(), pending, older.clone(), other_app])
                .await
                .unwrap();
            let approvals = store.approvals("a", "+12025550123").await.unwrap();
            let ids: Vec<&str> = approvals.iter().map(|m| m.request_id.as_str()).collect();
            assert_eq!(ids, [older.request_id.as_str(), newer.request_id.as_str()]);
            assert_eq!(approvals[0].verified_at_ms, Some(1_500));
            assert_eq!(approvals[1].vendor_data.as_deref(), Some("user-2"));
            // The actor's one read: recent history since 2_500, and every approval.
            let (history, all) = store.load_for_actor("a", "+12025550123", 2_500).await.unwrap();
            assert_eq!(history.len(), 1, "only the pending one is recent");
            assert_eq!(all, approvals);
        }

        #[tokio::test]
        async fn blocklist_entries_are_added_once_and_removed() {
            let (_guard, store) = $open;
            let entry = |app: &str, value: &str| otpgate::blocklist::Entry {
                application: app.into(),
                value: value.into(),
                kind: otpgate::blocklist::EntryKind::Prefix,
                created_at_ms: 1,
            };
            assert!(store.blocklist_add(entry("a", "+88213")).await.unwrap());
            assert!(!store.blocklist_add(entry("a", "+88213")).await.unwrap());
            assert!(store.blocklist_add(entry("b", "+88213")).await.unwrap());
            assert_eq!(store.blocklist_all().await.unwrap().len(), 2);
            assert!(store.blocklist_remove("a", "+88213").await.unwrap());
            assert!(!store.blocklist_remove("a", "+88213").await.unwrap());
            assert_eq!(store.blocklist_all().await.unwrap(), vec![entry("b", "+88213")]);
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
