//! One test suite for every `Store` backend. Each backend instantiates [`store_suite!`] with a
//! constructor; the embedded SQLite store runs it here, the PostgreSQL store will run the same.
use otpgate::code::CodeSecret;
use otpgate::config::VerificationPolicy;
use otpgate::number;
use otpgate::number_state::{NumberState, SendRequest, SendResult, SendStart};
use otpgate::outbox::{Destination, Settlement};
use otpgate::sessions::events::status_event;
use otpgate::sessions::{Session, SessionStatus, SessionTimes};
use otpgate::store::sqlite::SqliteStore;
use otpgate::store::{SessionKey, SessionUpdate, Store};
use otpgate::verification::{State, Verification};
use otpgate::workflows::{PhoneSettings, Workflow};
use otpgate_gateway::Channel;

pub fn workflow(app: &str, id: &str, at_ms: i64) -> Workflow {
    Workflow {
        id: id.into(),
        application: app.into(),
        label: format!("workflow {id}"),
        phone: PhoneSettings::default(),
        created_at_ms: at_ms,
        updated_at_ms: at_ms,
    }
}

/// A new session of `app` whose `session_url` carries `token`, created at `at_ms`.
pub fn session(app: &str, token: &str, at_ms: i64) -> Session {
    let times = SessionTimes::default();
    Session::new(
        app,
        workflow(app, "wf", 0),
        token,
        Some("user-1".into()),
        None,
        None,
        None,
        &times,
        at_ms,
    )
}

pub fn destination(app: &str, id: &str, events: &[&str]) -> Destination {
    Destination {
        id: id.into(),
        application: app.into(),
        url: format!("http://127.0.0.1:9/{id}"),
        subscribed_events: events.iter().map(|e| e.to_string()).collect(),
        statuses: events
            .iter()
            .map(|e| otpgate::outbox::event_statuses(e).unwrap())
            .fold(0, |a, b| a | b),
        secret: format!("secret-{id}"),
        created_at_ms: 1,
    }
}

/// `session` moved to `status`, with its webhook event.
pub fn moved(session: &Session, status: SessionStatus, at_ms: i64) -> SessionUpdate {
    let next = session.next(|s| s.status = status);
    SessionUpdate {
        event: Some(status_event(&next, None, at_ms)),
        expected_version: session.version,
        session: next,
        records: Vec::new(),
    }
}

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
        message_id: "1".into(),
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
        async fn workflows_are_kept_per_application() {
            let (_guard, store) = $open;
            store.put_workflow(workflow("a", "w1", 1)).await.unwrap();
            store.put_workflow(workflow("a", "w2", 2)).await.unwrap();
            store.put_workflow(workflow("b", "w3", 3)).await.unwrap();
            let mut renamed = workflow("a", "w1", 1);
            renamed.label = "renamed".into();
            renamed.updated_at_ms = 5;
            store.put_workflow(renamed.clone()).await.unwrap();
            assert_eq!(store.workflow("a", "w1").await.unwrap(), Some(renamed.clone()));
            assert_eq!(
                store.workflow("b", "w1").await.unwrap(),
                None,
                "another application's"
            );
            let ids: Vec<String> = store
                .workflows("a")
                .await
                .unwrap()
                .into_iter()
                .map(|w| w.id)
                .collect();
            assert_eq!(ids, ["w1", "w2"], "oldest first");
            assert!(!store.delete_workflow("b", "w1").await.unwrap());
            assert!(store.delete_workflow("a", "w1").await.unwrap());
            assert!(!store.delete_workflow("a", "w1").await.unwrap());
            assert_eq!(store.workflows("a").await.unwrap().len(), 1);
        }

        #[tokio::test]
        async fn sessions_get_increasing_numbers_per_application_and_are_found_by_id_or_token() {
            let (_guard, store) = $open;
            let creates: Vec<_> = (0..20)
                .map(|i| store.create_session(session("a", &format!("token-{i}"), i)))
                .collect();
            let mut numbers = Vec::new();
            for created in futures_util::future::join_all(creates).await {
                numbers.push(created.unwrap().number);
            }
            numbers.sort();
            assert_eq!(numbers, (1..=20).collect::<Vec<i64>>(), "each number once");
            let other = store.create_session(session("b", "token-b", 0)).await.unwrap();
            assert_eq!(other.number, 1, "numbers are per application");

            let by_id = store.session(SessionKey::Id(&other.id)).await.unwrap().unwrap();
            assert_eq!(by_id, other);
            let digest = otpgate::sessions::token_digest("token-b");
            assert_eq!(
                store.session(SessionKey::TokenDigest(&digest)).await.unwrap(),
                Some(other)
            );
            let unknown = otpgate::sessions::token_digest("nope");
            assert_eq!(
                store.session(SessionKey::TokenDigest(&unknown)).await.unwrap(),
                None
            );
        }

        #[tokio::test]
        async fn a_session_change_applies_once_over_its_version_with_its_events_and_records() {
            let (_guard, store) = $open;
            store
                .add_destination(destination("a", "all", &["status.updated"]))
                .await
                .unwrap();
            store
                .add_destination(destination("a", "approvals", &["session.verified"]))
                .await
                .unwrap();
            store
                .add_destination(destination("b", "elsewhere", &["status.updated"]))
                .await
                .unwrap();
            let s = store.create_session(session("a", "t", 1_000)).await.unwrap();

            let mut started = moved(&s, SessionStatus::InProgress, 2_000);
            let v = verification("a", "+12025550123", 1_500);
            started.records = vec![v.clone()];
            // Two changes computed from the same version: the first one applies, the second
            // writes its records only.
            let mut late = moved(&s, SessionStatus::Expired, 2_001);
            let mut approved_v = v.clone();
            approved_v.state = State::Approved;
            late.records = vec![approved_v.clone()];
            let (first, second) = tokio::join!(store.update_session(started), store.update_session(late));
            assert!(first.unwrap());
            assert!(!second.unwrap());
            let stored = store.session(SessionKey::Id(&s.id)).await.unwrap().unwrap();
            assert_eq!((stored.status, stored.version), (SessionStatus::InProgress, 1));
            assert_eq!(
                store.load_number("a", "+12025550123", 0).await.unwrap(),
                vec![approved_v],
                "records are saved either way, in call order"
            );
            // One event, for the destination of "a" subscribed to every status.
            let claimed = store.claim_events("node-1", 10_000, 30_000, 10).await.unwrap();
            assert_eq!(claimed.len(), 1, "{claimed:?}");
            assert_eq!(
                (claimed[0].destination_id.as_str(), claimed[0].status.as_str()),
                ("all", "In Progress")
            );
            assert_eq!(claimed[0].secret, "secret-all");
            assert!(claimed[0].payload.contains("\"status\":\"In Progress\""));

            let approved = store
                .update_session(moved(&stored, SessionStatus::Approved, 3_000))
                .await
                .unwrap();
            assert!(approved);
            assert_eq!(
                store.outbox_depth().await.unwrap(),
                3,
                "in progress + approved twice"
            );
            // A session deleted takes its undelivered events with it.
            assert!(
                !store.delete_session("b", &s.id).await.unwrap(),
                "another application's"
            );
            assert!(store.delete_session("a", &s.id).await.unwrap());
            assert_eq!(store.session(SessionKey::Id(&s.id)).await.unwrap(), None);
            assert_eq!(store.outbox_depth().await.unwrap(), 0);
            let gone = store
                .update_session(moved(&stored, SessionStatus::Declined, 4_000))
                .await
                .unwrap();
            assert!(!gone, "a deleted session is not written again");
        }

        #[tokio::test]
        async fn events_are_leased_to_one_claimant_and_delivered_in_order_per_session() {
            let (_guard, store) = $open;
            store
                .add_destination(destination("a", "d1", &["status.updated"]))
                .await
                .unwrap();
            store
                .add_destination(destination("a", "d2", &["status.updated"]))
                .await
                .unwrap();
            let s1 = store.create_session(session("a", "t1", 0)).await.unwrap();
            let s2 = store.create_session(session("a", "t2", 0)).await.unwrap();
            let s1b = s1.next(|s| s.status = SessionStatus::InProgress);
            assert!(store
                .update_session(moved(&s1, SessionStatus::InProgress, 100))
                .await
                .unwrap());
            assert!(store
                .update_session(moved(&s1b, SessionStatus::Approved, 101))
                .await
                .unwrap());
            assert!(store
                .update_session(moved(&s2, SessionStatus::InProgress, 102))
                .await
                .unwrap());

            // Heads only: s1's first event for each destination, and s2's.
            let now = 1_000;
            let first = store.claim_events("node-1", now, 30_000, 100).await.unwrap();
            let heads: Vec<(String, String, String)> = first
                .iter()
                .map(|e| (e.session_id.clone(), e.destination_id.clone(), e.status.clone()))
                .collect();
            assert_eq!(heads.len(), 4, "{heads:?}");
            assert!(
                heads.iter().all(|(_, _, status)| status == "In Progress"),
                "{heads:?}"
            );
            assert!(first.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
            // Leased: nobody else gets them until the lease ends.
            assert!(store
                .claim_events("node-2", now + 29_999, 30_000, 100)
                .await
                .unwrap()
                .is_empty());

            let (delivered, retried) = (&first[0], &first[1]);
            assert_eq!(delivered.session_id, s1.id);
            assert!(
                !store
                    .settle_event(delivered.id, "node-2", Settlement::Delivered)
                    .await
                    .unwrap(),
                "not its lease"
            );
            assert!(store
                .settle_event(delivered.id, "node-1", Settlement::Delivered)
                .await
                .unwrap());
            assert!(
                !store
                    .settle_event(delivered.id, "node-1", Settlement::Delivered)
                    .await
                    .unwrap(),
                "settled once"
            );
            let retry_at = now + 5_000;
            assert!(store
                .settle_event(retried.id, "node-1", Settlement::Retry { due_at_ms: retry_at })
                .await
                .unwrap());

            // s1's Approved for the delivered destination is now the head; the retried event's
            // session waits for it, on its destination only.
            let next = store.claim_events("node-2", now + 1, 30_000, 100).await.unwrap();
            assert_eq!(next.len(), 1, "{next:?}");
            assert_eq!(
                (next[0].session_id.as_str(), next[0].status.as_str()),
                (s1.id.as_str(), "Approved")
            );
            assert_eq!(next[0].destination_id, delivered.destination_id);
            let again = store.claim_events("node-2", retry_at, 30_000, 100).await.unwrap();
            assert_eq!(again.len(), 1);
            assert_eq!((again[0].id, again[0].attempts), (retried.id, 1));
            // A lease that ran out is claimable again, by anyone.
            let expired = store
                .claim_events("node-3", now + 30_000, 30_000, 100)
                .await
                .unwrap();
            assert_eq!(
                expired.len(),
                2,
                "the two leases of node-1 not settled: {expired:?}"
            );
            assert!(!store
                .settle_event(expired[0].id, "node-1", Settlement::GiveUp)
                .await
                .unwrap());
            assert!(store.remove_destination("a", "d2").await.unwrap());
            assert!(!store.remove_destination("a", "d2").await.unwrap());
            assert!(store
                .destinations("a")
                .await
                .unwrap()
                .iter()
                .all(|d| d.id == "d1"));
            assert!(store
                .claim_events("node-4", now + 100_000, 1, 100)
                .await
                .unwrap()
                .iter()
                .all(|e| e.destination_id == "d1"));
        }

        #[tokio::test]
        async fn due_sessions_are_listed_by_deadline() {
            let (_guard, store) = $open;
            let times = SessionTimes::default();
            let early = store.create_session(session("a", "t1", 0)).await.unwrap();
            let late = store.create_session(session("a", "t2", 10)).await.unwrap();
            let done = store.create_session(session("a", "t3", 0)).await.unwrap();
            let finished = done.next(|s| {
                s.status = SessionStatus::Declined;
                s.deadline_ms = None;
            });
            let update = SessionUpdate {
                session: finished,
                expected_version: 0,
                records: vec![],
                event: None,
            };
            assert!(store.update_session(update).await.unwrap());
            assert!(store
                .sessions_due(times.expire_after_ms - 1, 10)
                .await
                .unwrap()
                .is_empty());
            let due = store.sessions_due(times.expire_after_ms + 10, 10).await.unwrap();
            assert_eq!(due, vec![early.clone(), late]);
            assert_eq!(store.sessions_due(i64::MAX, 1).await.unwrap(), vec![early]);
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

        #[tokio::test]
        async fn a_replaced_setting_keeps_the_last_value_written() {
            let (_guard, store) = $open;
            store.put_setting("learned", "one").await.unwrap();
            assert_eq!(
                store.get_setting("learned").await.unwrap().as_deref(),
                Some("one")
            );
            let (a, b) = tokio::join!(
                store.put_setting("learned", "two"),
                store.put_setting("learned", "three")
            );
            a.unwrap();
            b.unwrap();
            assert_eq!(
                store.get_setting("learned").await.unwrap().as_deref(),
                Some("three")
            );
            assert!(!store.put_setting_if_absent("learned", "four").await.unwrap());
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

    /// Two stores on one database file stand for two nodes: under concurrent claims each event
    /// goes to one of them.
    #[tokio::test]
    async fn two_nodes_on_one_database_never_claim_the_same_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otpgate.db");
        let (a, b) = (SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap());
        a.add_destination(destination("app", "d", &["status.updated"]))
            .await
            .unwrap();
        for i in 0..60 {
            let s = a.create_session(session("app", &format!("t{i}"), 0)).await.unwrap();
            assert!(b.update_session(moved(&s, SessionStatus::InProgress, 1)).await.unwrap());
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10 {
            // Each store's writer is its own thread: the two claims run at once.
            let (x, y) = tokio::join!(
                a.claim_events("a", 1_000, 60_000, 7),
                b.claim_events("b", 1_000, 60_000, 7)
            );
            let (x, y) = (x.unwrap(), y.unwrap());
            for event in x.into_iter().chain(y) {
                assert!(seen.insert(event.id), "event {} claimed twice", event.id);
            }
        }
        assert_eq!(seen.len(), 60);
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
             DROP TABLE messages; DROP TABLE fallbacks;
             PRAGMA user_version = 2;",
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
                   {NOW_MS} - 1000 - i, 'approved', '{{}}' FROM k;
                 WITH RECURSIVE k(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM k WHERE i < {from} + {n} - 1)
                 INSERT INTO charges SELECT printf('fill-%08d', i), 'a', '{MONTH}', {NOW_MS} - 1000 - i,
                   'sms', 'ES', 30000, i < 500 FROM k;
                 DELETE FROM charge_months; DELETE FROM usage_months;
                 INSERT INTO charge_months SELECT application, month, COUNT(*) FROM charges GROUP BY 1, 2;
                 INSERT INTO usage_months SELECT application, month, channel, country, COUNT(*), SUM(free),
                   SUM(CASE WHEN free THEN 0 ELSE amount_micros END) FROM charges GROUP BY 1, 2, 3, 4;
                 WITH RECURSIVE k(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM k WHERE i < {from} + {n} - 1)
                 INSERT INTO sessions SELECT printf('fill-%08d', i), 'a', i + 2, randomblob(32), 'In Progress', 1,
                   {NOW_MS} + 3600000 + i, '{{}}' FROM k;
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
                "save_verification" => vec![b("new-1"), b("a"), b("+34611000001"), i(NOW_MS), b("pending"), b("{}")],
                "save_verification_if_version" => vec![
                    b("t-2"),
                    b("a"),
                    b("+34611000001"),
                    i(NOW_MS),
                    b("approved"),
                    b("{}"),
                    i(0),
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
                ],
                "session_by_id" => vec![b("s-1")],
                "session_by_token" => vec![Box::new(vec![1u8; 32])],
                "update_session" => vec![b("s-1"), i(0), b("In Progress"), i(1), i(NOW_MS + 1), b("{}")],
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
                "INSERT INTO verifications VALUES ('t-1', 'a', '+34611000001', {}, 'approved', '{{}}');
                 INSERT INTO verifications VALUES ('t-2', 'a', '+34611000001', {}, 'pending', '{{}}');",
                NOW_MS - 3_600_000,
                NOW_MS - 60_000
            ))
            .unwrap();
            // A session with one due event, the application's destination, and its workflow.
            conn.execute_batch(&format!(
                "INSERT INTO sessions VALUES ('s-1', 'a', 1, zeroblob(32), 'Not Started', 0, {deadline}, '{{}}');
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
