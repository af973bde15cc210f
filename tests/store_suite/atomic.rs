//! Issue 14: a hosted session's change and the conditional records it follows are written in one
//! transaction ([`Store::save_session_if_versions`]), as functions over `&dyn Store`;
//! `tests/store_suite.rs` runs each once per backend.
use super::delivery::message;
use super::suite::{destination, moved, session, verification};
use otpgate::sessions::{Session, SessionStatus};
use otpgate::store::{DeliveryChange, Head, SessionKey, SessionSaved, Store};
use otpgate::verification::{State, Verification};

const PHONE: &str = "+12025550123";

/// A destination of "a" for every status, a new session of "a", and a verification of
/// [`PHONE`] stored once (version 1), as loaded back.
async fn setup(store: &dyn Store) -> (Session, Verification) {
    store
        .add_destination(destination("a", "all", &["status.updated"]))
        .await
        .unwrap();
    let s = store.create_session(session("a", "t", 1_000)).await.unwrap();
    assert!(store
        .save_if_version(verification("a", PHONE, 1_500), Vec::new())
        .await
        .unwrap());
    let v = store.load_number("a", PHONE, 0).await.unwrap().remove(0);
    assert_eq!(v.version, 1);
    (s, v)
}

fn approved(v: &Verification) -> Verification {
    Verification {
        state: State::Approved,
        ..v.clone()
    }
}

fn sent(v: &Verification) -> Vec<DeliveryChange> {
    vec![DeliveryChange::Sent(message("m-1", &v.request_id))]
}

async fn message_stored(store: &dyn Store) -> bool {
    !store.find_messages("smsc-a", &["m-1".into()]).await.unwrap().is_empty()
}

/// A record at a version the store no longer holds, or a head another verification overtook:
/// neither the records, nor the session, nor its event, nor the delivery changes are written.
pub async fn a_stale_record_writes_neither_the_record_nor_the_session_nor_its_event(store: &dyn Store) {
    let (s, v) = setup(store).await;
    let mut update = moved(&s, SessionStatus::Approved, 2_000);
    update.records = vec![Verification {
        version: 0,
        ..approved(&v)
    }];
    let saved = store.save_session_if_versions(update, None, sent(&v)).await.unwrap();
    assert_eq!(saved, SessionSaved::default(), "computed from version 0, which is gone");

    // A new verification whose writer did not see the stored one.
    let mut update = moved(&s, SessionStatus::InProgress, 2_000);
    update.records = vec![verification("a", PHONE, 1_700)];
    let head = Head {
        application: "a".into(),
        phone: PHONE.into(),
        known: None,
        since_ms: 0,
    };
    let saved = store
        .save_session_if_versions(update, Some(head), sent(&v))
        .await
        .unwrap();
    assert_eq!(saved, SessionSaved::default(), "another verification started first");

    let stored = store.session(SessionKey::Id(&s.id)).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.version),
        (s.status, s.version),
        "session untouched"
    );
    assert_eq!(
        store.load_number("a", PHONE, 0).await.unwrap(),
        vec![v],
        "records untouched"
    );
    assert_eq!(store.outbox_depth().await.unwrap(), 0, "no webhook event");
    assert!(!message_stored(store).await, "no delivery change");
}

/// Records at the versions read and the session at its version: all of it is written, once,
/// also when two writers decided from the same versions at the same time.
pub async fn current_records_and_session_are_written_together_once(store: &dyn Store) {
    let (s, v) = setup(store).await;
    let mut first = moved(&s, SessionStatus::Approved, 2_000);
    first.records = vec![approved(&v)];
    let mut second = moved(&s, SessionStatus::Declined, 2_001);
    second.records = vec![Verification {
        state: State::Declined,
        ..v.clone()
    }];
    let (a, b) = tokio::join!(
        store.save_session_if_versions(first, None, sent(&v)),
        store.save_session_if_versions(second, None, Vec::new())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let both = SessionSaved {
        records: true,
        session: true,
    };
    assert_eq!(
        (a, b),
        (both, SessionSaved::default()),
        "the first in call order wins, whole"
    );

    let loaded = store.load_number("a", PHONE, 0).await.unwrap();
    assert_eq!(
        loaded,
        vec![Verification {
            version: 2,
            ..approved(&v)
        }]
    );
    let stored = store.session(SessionKey::Id(&s.id)).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.version),
        (SessionStatus::Approved, s.version + 1)
    );
    let claimed = store.claim_events("node-1", 10_000, 30_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_eq!(claimed[0].status, "Approved");
    assert!(message_stored(store).await);
}

/// Someone else changed the session first (records current): the records and delivery changes
/// are written, the session and its event are not, as [`Store::update_session`] does.
pub async fn a_stale_session_alone_writes_the_records_but_not_the_session(store: &dyn Store) {
    let (s, v) = setup(store).await;
    assert!(store
        .update_session(moved(&s, SessionStatus::InProgress, 1_800))
        .await
        .unwrap());
    let mut update = moved(&s, SessionStatus::Approved, 2_000);
    update.records = vec![approved(&v)];
    let saved = store.save_session_if_versions(update, None, sent(&v)).await.unwrap();
    assert_eq!(
        saved,
        SessionSaved {
            records: true,
            session: false
        }
    );
    let loaded = store.load_number("a", PHONE, 0).await.unwrap();
    assert_eq!((loaded[0].state, loaded[0].version), (State::Approved, 2));
    assert!(message_stored(store).await);
    let stored = store.session(SessionKey::Id(&s.id)).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.version),
        (SessionStatus::InProgress, s.version + 1)
    );
    let claimed = store.claim_events("node-1", 10_000, 30_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "only the other writer's event: {claimed:?}");
    assert_eq!(claimed[0].status, "In Progress");
}
