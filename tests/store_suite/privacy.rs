//! Issue 18's store methods, on every backend: delete one number's data on demand, and
//! retention's batches of an application's oldest verifications.
use super::suite::{charged, verification};
use otpgate::store::{DeliveryChange, Erased, MessageState, Store, StoredMessage};
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
            fallbacks: 0
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
