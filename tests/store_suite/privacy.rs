//! Issue 18's store methods, on every backend: delete one number's data on demand (its sessions
//! and their events too), retention's batches of an application's oldest verifications and
//! sessions, and blocked numbers (stored by blind index) listed back.
use super::suite::{charged, destination, moved, session, verification};
use otpgate::blocklist::{Entry, EntryKind};
use otpgate::sessions::{Session, SessionStatus};
use otpgate::store::{DeliveryChange, Erased, MessageState, SessionKey, Store, StoredMessage};
use otpgate_gateway::Channel;

fn message(id: &str, request_id: &str, phone: &str) -> StoredMessage {
    StoredMessage {
        carrier: "smsc-a".into(),
        carrier_message_id: id.into(),
        request_id: request_id.into(),
        application: "a".into(),
        phone: phone.into(),
        channel: Channel::Sms,
        state: MessageState::Accepted,
        sent_at_ms: 1_000,
    }
}

pub async fn deleting_a_number_removes_its_verifications_and_messages_and_nothing_else(store: &dyn Store) {
    let gone = [
        charged("a", "+12025550123", 1_768_435_200_000, 7_900),
        verification("a", "+12025550123", 1_768_435_300_000),
    ];
    let kept_number = verification("a", "+12025550124", 1_768_435_200_000);
    let kept_app = verification("b", "+12025550123", 1_768_435_200_000);
    let sent = vec![
        DeliveryChange::Sent(message("m-1", &gone[0].request_id, "+12025550123")),
        DeliveryChange::Sent(message("m-2", &kept_number.request_id, "+12025550124")),
    ];
    let mut records = gone.to_vec();
    records.extend([kept_number.clone(), kept_app.clone()]);
    store.save_with_delivery(records, sent).await.unwrap();

    let erased = store.delete_number("a", "+12025550123").await.unwrap();
    assert_eq!(
        erased,
        Erased {
            verifications: 2,
            messages: 1,
            ..Erased::default()
        }
    );
    assert!(store.load_number("a", "+12025550123", 0).await.unwrap().is_empty());
    assert_eq!(
        store.load_number("a", "+12025550124", 0).await.unwrap(),
        vec![kept_number]
    );
    assert_eq!(store.load_number("b", "+12025550123", 0).await.unwrap(), vec![kept_app]);
    let ids = vec!["m-1".to_owned(), "m-2".to_owned()];
    let left: Vec<_> = store
        .find_messages("smsc-a", &ids)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.carrier_message_id)
        .collect();
    assert_eq!(left, ["m-2"]);
    // The bill stays: the ledger never held the number.
    let usage = store.usage("a", "2026-01").await.unwrap();
    assert_eq!(usage.iter().map(|u| u.verifications).sum::<u64>(), 1, "{usage:?}");
    assert_eq!(
        store.delete_number("a", "+12025550123").await.unwrap(),
        Erased::default()
    );
}

pub async fn retention_deletes_the_oldest_verifications_in_batches(store: &dyn Store) {
    let records: Vec<_> = (1..=5)
        .map(|i| verification("a", &format!("+1202555012{i}"), i * 1_000))
        .chain([verification("b", "+12025550121", 1_000)])
        .collect();
    store.save(records).await.unwrap();
    let batch = |limit| store.delete_older_than("a", 4_000, limit);
    assert_eq!(batch(2).await.unwrap().verifications, 2);
    assert_eq!(batch(2).await.unwrap().verifications, 1);
    assert_eq!(batch(2).await.unwrap().verifications, 0);
    // Created at 1_000, 2_000 and 3_000: gone; at 4_000 and after, and application b: kept.
    for (i, kept) in [(1, false), (3, false), (4, true), (5, true)] {
        let loaded = store.load_number("a", &format!("+1202555012{i}"), 0).await.unwrap();
        assert_eq!(loaded.len(), usize::from(kept), "number {i}");
    }
    assert_eq!(store.load_number("b", "+12025550121", 0).await.unwrap().len(), 1);
}

/// A session of `phone` (its `contact_details.phone`) created at `at_ms`, stored and moved to
/// In Progress with its event for destination `d-1`; returns it as stored.
async fn session_of(store: &dyn Store, token: &str, phone: &str, at_ms: i64) -> Session {
    let mut new = session("a", token, at_ms);
    new.contact_phone = Some(phone.into());
    let stored = store.create_session(new).await.unwrap();
    let update = moved(&stored, SessionStatus::InProgress, at_ms + 1);
    let next = update.session.clone();
    assert!(store.update_session(update).await.unwrap());
    next
}

pub async fn deleting_a_number_removes_its_sessions_and_their_undelivered_events(store: &dyn Store) {
    store
        .add_destination(destination("a", "d-1", &["status.updated"]))
        .await
        .unwrap();
    let gone = session_of(store, "t-gone", "+12025550123", 1_000).await;
    let kept = session_of(store, "t-kept", "+12025550124", 1_000).await;
    assert_eq!(store.outbox_depth().await.unwrap(), 2);

    let erased = store.delete_number("a", "+12025550123").await.unwrap();
    assert_eq!(
        erased,
        Erased {
            sessions: 1,
            outbox: 1,
            ..Erased::default()
        }
    );
    assert_eq!(store.session(SessionKey::Id(&gone.id)).await.unwrap(), None);
    assert_eq!(
        store.session(SessionKey::Id(&kept.id)).await.unwrap().map(|s| s.id),
        Some(kept.id.clone())
    );
    // The kept session's event is still there, and still delivers its payload as written.
    let claimed = store.claim_events("node", i64::MAX / 2, 1_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].session_id, kept.id);
    assert!(claimed[0].payload.starts_with('{'), "opened: {}", claimed[0].payload);
    assert_eq!(
        store.delete_number("a", "+12025550123").await.unwrap(),
        Erased::default()
    );
}

pub async fn retention_deletes_old_sessions_with_their_events(store: &dyn Store) {
    store
        .add_destination(destination("a", "d-1", &["status.updated"]))
        .await
        .unwrap();
    let old = session_of(store, "t-old", "+12025550123", 1_000).await;
    let new = session_of(store, "t-new", "+12025550124", 5_000).await;
    let erased = store.delete_older_than("a", 4_000, 10).await.unwrap();
    assert_eq!((erased.sessions, erased.outbox), (1, 1), "{erased:?}");
    assert_eq!(store.session(SessionKey::Id(&old.id)).await.unwrap(), None);
    assert!(store.session(SessionKey::Id(&new.id)).await.unwrap().is_some());
    assert_eq!(store.outbox_depth().await.unwrap(), 1);
    // Another application's cut-off does not touch a's sessions.
    assert_eq!(
        store.delete_older_than("b", 10_000, 10).await.unwrap(),
        Erased::default()
    );
}

pub async fn a_blocked_number_is_listed_back_and_removed_by_the_number(store: &dyn Store) {
    let entry = |value: &str, kind| Entry {
        application: "a".into(),
        value: value.into(),
        kind,
        created_at_ms: 1,
    };
    let number = entry("+12025550123", EntryKind::PhoneNumber);
    assert!(store.blocklist_add(number.clone()).await.unwrap());
    assert!(!store.blocklist_add(number.clone()).await.unwrap(), "listed once");
    assert!(store.blocklist_add(entry("+88213", EntryKind::Prefix)).await.unwrap());
    let mut listed = store.blocklist_all().await.unwrap();
    listed.sort_by(|a, b| a.value.cmp(&b.value));
    assert_eq!(listed, vec![number.clone(), entry("+88213", EntryKind::Prefix)]);
    assert!(store.blocklist_remove("a", "+12025550123").await.unwrap());
    assert!(!store.blocklist_remove("a", "+12025550123").await.unwrap());
    assert_eq!(
        store.blocklist_all().await.unwrap(),
        vec![entry("+88213", EntryKind::Prefix)]
    );
}
