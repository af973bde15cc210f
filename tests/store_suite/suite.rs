//! The store suite's tests, as functions generic over the backend (`&dyn Store`), and the
//! records they use. `tests/store_suite.rs` runs each once per backend.
use otpgate::code::CodeSecret;
use otpgate::config::VerificationPolicy;
use otpgate::number;
use otpgate::number_state::{NumberState, SendRequest, SendResult, SendStart};
use otpgate::outbox::{Destination, Settlement};
use otpgate::sessions::events::status_event;
use otpgate::sessions::{Session, SessionStatus, SessionTimes};
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

pub async fn saved_records_load_back_per_number_oldest_first(store: &dyn Store) {
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
    assert!(store.load_number("c", "+12025550123", 0).await.unwrap().is_empty());
}

pub async fn later_saves_of_a_record_win_in_call_order(store: &dyn Store) {
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

pub async fn the_last_of_many_queued_saves_of_a_record_wins(store: &dyn Store) {
    // Enqueued together, so that most land in one group commit (a backend may pipeline them).
    let mut v = verification("a", "+12025550123", 1_000);
    let mut commits = Vec::new();
    for attempt in 0..200 {
        v.attempts = attempt;
        let other = verification("a", &format!("+1202555{:04}", 1_000 + attempt), 1_000);
        commits.push(store.save(vec![v.clone(), other]));
    }
    for commit in futures_util::future::join_all(commits).await {
        commit.unwrap();
    }
    assert_eq!(store.load_number("a", "+12025550123", 0).await.unwrap(), vec![v]);
}

pub async fn many_concurrent_saves_are_all_durable(store: &dyn Store) {
    let commits: Vec<_> = (0..500)
        .map(|i| store.save(vec![verification("a", &format!("+1202555{:04}", 100 + i % 90), i)]))
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

pub async fn the_first_500_charges_of_a_utc_month_are_free_and_each_verification_is_charged_once(store: &dyn Store) {
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
    x.unwrap();
    y.unwrap();
    z.unwrap();
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
    assert_eq!((usage[0].channel.as_str(), usage[0].country.as_str()), ("sms", "ES"));
    assert_eq!((usage[0].verifications, usage[0].free), (501, 500));
    assert_eq!(usage[0].amount_micros, 37_900, "one billable: $0.03 + $0.0079");
    // A new month starts a new allowance; other applications have their own.
    let february = store.usage("a", "2026-02").await.unwrap();
    assert_eq!(
        (february[0].verifications, february[0].free, february[0].amount_micros),
        (1, 1, 0)
    );
    assert_eq!(store.usage("b", "2026-01").await.unwrap()[0].free, 1);
    assert!(store.usage("a", "2025-12").await.unwrap().is_empty());
}

pub async fn approvals_of_a_number_are_listed_oldest_first(store: &dyn Store) {
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

pub async fn blocklist_entries_are_added_once_and_removed(store: &dyn Store) {
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

pub async fn workflows_are_kept_per_application(store: &dyn Store) {
    store.put_workflow(workflow("a", "w1", 1)).await.unwrap();
    store.put_workflow(workflow("a", "w2", 2)).await.unwrap();
    store.put_workflow(workflow("b", "w3", 3)).await.unwrap();
    let mut renamed = workflow("a", "w1", 1);
    renamed.label = "renamed".into();
    renamed.updated_at_ms = 5;
    store.put_workflow(renamed.clone()).await.unwrap();
    assert_eq!(store.workflow("a", "w1").await.unwrap(), Some(renamed.clone()));
    assert_eq!(store.workflow("b", "w1").await.unwrap(), None, "another application's");
    let ids: Vec<String> = store.workflows("a").await.unwrap().into_iter().map(|w| w.id).collect();
    assert_eq!(ids, ["w1", "w2"], "oldest first");
    assert!(!store.delete_workflow("b", "w1").await.unwrap());
    assert!(store.delete_workflow("a", "w1").await.unwrap());
    assert!(!store.delete_workflow("a", "w1").await.unwrap());
    assert_eq!(store.workflows("a").await.unwrap().len(), 1);
}

pub async fn sessions_get_increasing_numbers_per_application_and_are_found_by_id_or_token(store: &dyn Store) {
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
    assert_eq!(store.session(SessionKey::TokenDigest(&unknown)).await.unwrap(), None);
}

pub async fn a_session_change_applies_once_over_its_version_with_its_events_and_records(store: &dyn Store) {
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
    assert_eq!(store.outbox_depth().await.unwrap(), 3, "in progress + approved twice");
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

pub async fn events_are_leased_to_one_claimant_and_delivered_in_order_per_session(store: &dyn Store) {
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
    assert!(heads.iter().all(|(_, _, status)| status == "In Progress"), "{heads:?}");
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
    let expired = store.claim_events("node-3", now + 30_000, 30_000, 100).await.unwrap();
    assert_eq!(expired.len(), 2, "the two leases of node-1 not settled: {expired:?}");
    assert!(!store
        .settle_event(expired[0].id, "node-1", Settlement::GiveUp)
        .await
        .unwrap());
    assert!(store.remove_destination("a", "d2").await.unwrap());
    assert!(!store.remove_destination("a", "d2").await.unwrap());
    assert!(store.destinations("a").await.unwrap().iter().all(|d| d.id == "d1"));
    assert!(store
        .claim_events("node-4", now + 100_000, 1, 100)
        .await
        .unwrap()
        .iter()
        .all(|e| e.destination_id == "d1"));
}

pub async fn due_sessions_are_listed_by_deadline(store: &dyn Store) {
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

pub async fn settings_are_written_once(store: &dyn Store) {
    assert_eq!(store.get_setting("k").await.unwrap(), None);
    assert!(store.put_setting_if_absent("k", "first").await.unwrap());
    assert!(!store.put_setting_if_absent("k", "second").await.unwrap());
    assert_eq!(store.get_setting("k").await.unwrap().as_deref(), Some("first"));
    store.flush().await.unwrap();
}

pub async fn a_replaced_setting_keeps_the_last_value_written(store: &dyn Store) {
    store.put_setting("learned", "one").await.unwrap();
    assert_eq!(store.get_setting("learned").await.unwrap().as_deref(), Some("one"));
    let (a, b) = tokio::join!(
        store.put_setting("learned", "two"),
        store.put_setting("learned", "three")
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(store.get_setting("learned").await.unwrap().as_deref(), Some("three"));
    assert!(!store.put_setting_if_absent("learned", "four").await.unwrap());
}

/// Two stores on one database stand for two nodes: under concurrent claims each event goes to
/// one of them.
pub async fn two_nodes_never_claim_the_same_event(a: &dyn Store, b: &dyn Store) {
    a.add_destination(destination("app", "d", &["status.updated"]))
        .await
        .unwrap();
    for i in 0..60 {
        let s = a.create_session(session("app", &format!("t{i}"), 0)).await.unwrap();
        assert!(b.update_session(moved(&s, SessionStatus::InProgress, 1)).await.unwrap());
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10 {
        // Each store has its own writer: the two claims run at once.
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

/// Two nodes charging one application's month at once: exactly 500 free in all, each
/// verification charged once even when both nodes save it.
pub async fn two_nodes_share_one_free_tier(a: &dyn Store, b: &dyn Store) {
    // 2026-03-10T00:00:00Z.
    let march = 1_773_100_800_000;
    let records: Vec<_> = (0..600)
        .map(|i| charged("a", &format!("+346127{i:05}"), march + i, 7_900))
        .collect();
    let mut commits = Vec::new();
    for (i, v) in records.iter().enumerate() {
        let node = if i % 2 == 0 { a } else { b };
        commits.push(node.save(vec![v.clone()]));
        if i % 10 == 0 {
            // The same verification saved again by the other node (a fallback there).
            let other = if i % 2 == 0 { b } else { a };
            commits.push(other.save(vec![v.clone()]));
        }
    }
    for commit in futures_util::future::join_all(commits).await {
        commit.unwrap();
    }
    let usage = a.usage("a", "2026-03").await.unwrap();
    assert_eq!((usage[0].verifications, usage[0].free), (600, 500), "{usage:?}");
    assert_eq!(usage[0].amount_micros, 100 * 37_900, "100 billable at $0.03 + $0.0079");
}
