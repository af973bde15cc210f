//! Issue 14: the store suite's tests of delivery state (messages, fallback plans and their
//! leases, conditional saves over a verification's version), as functions over `&dyn Store`;
//! `tests/store_suite.rs` runs each once per backend.
use otpgate::code::CodeSecret;
use otpgate::config::VerificationPolicy;
use otpgate::number;
use otpgate::number_state::{NumberState, RiskActions, SendRequest, SendResult, SendStart};
use otpgate::store::{DeliveryChange, MessageState, PendingFallback, PlannedStep, Store, StoredMessage};
use otpgate::verification::State;
use otpgate_gateway::Channel;
use std::collections::HashSet;
use std::sync::Arc;

const NOW: i64 = 1_796_040_000_000;

pub fn message(id: &str, request_id: &str) -> StoredMessage {
    StoredMessage {
        carrier: "smsc-a".into(),
        carrier_message_id: id.into(),
        request_id: request_id.into(),
        application: "app".into(),
        phone: "+34600002002".into(),
        channel: Channel::Sms,
        state: MessageState::Accepted,
        sent_at_ms: NOW,
    }
}

pub fn plan(request_id: &str, due_at_ms: i64) -> PendingFallback {
    PendingFallback {
        request_id: request_id.into(),
        application: "app".into(),
        phone: "+34600002002".into(),
        due_at_ms,
        from_channel: Channel::Sms,
        from_carrier: "smsc-a".into(),
        country: "ES".into(),
        locale: "es".into(),
        webotp_host: Some("verify.example.com".into()),
        code_length: 6,
        steps: vec![
            PlannedStep {
                channel: Channel::Sms,
                carrier: "smsc-b".into(),
            },
            PlannedStep {
                channel: Channel::Whatsapp,
                carrier: "meta".into(),
            },
        ],
    }
}

/// A message is found by carrier and any of the spellings asked for; its outcome is set once.
pub async fn messages_are_found_by_carrier_and_id_and_settled_once(store: &dyn Store) {
    let sent = vec![
        DeliveryChange::Sent(message("1a", "r-1")),
        DeliveryChange::Sent(message("26", "r-2")),
    ];
    store.save_with_delivery(Vec::new(), sent).await.unwrap();
    let ids = vec!["1a".to_owned(), "26".to_owned(), "ff".to_owned()];
    let found = store.find_messages("smsc-a", &ids).await.unwrap();
    assert_eq!(
        found,
        vec![message("1a", "r-1"), message("26", "r-2")],
        "in the order asked"
    );
    assert!(
        store.find_messages("smsc-b", &ids).await.unwrap().is_empty(),
        "per carrier"
    );

    let outcome = |state| DeliveryChange::Outcome {
        carrier: "smsc-a".into(),
        carrier_message_id: "1a".into(),
        state,
    };
    store
        .save_with_delivery(Vec::new(), vec![outcome(MessageState::Delivered)])
        .await
        .unwrap();
    store
        .save_with_delivery(Vec::new(), vec![outcome(MessageState::Failed)])
        .await
        .unwrap();
    let found = store.find_messages("smsc-a", &ids[..1]).await.unwrap();
    assert_eq!(found[0].state, MessageState::Delivered, "the first final outcome stays");
}

/// A plan is leased once it is due, to one claimant, with everything it was stored with; the
/// lease holds until it runs out; a new arm or a disarm ends it.
pub async fn due_plans_are_leased_once_and_taken_over_when_the_lease_runs_out(store: &dyn Store) {
    let arm = |p| DeliveryChange::Arm(p);
    store
        .save_with_delivery(Vec::new(), vec![arm(plan("r-1", NOW)), arm(plan("r-2", NOW + 5_000))])
        .await
        .unwrap();
    assert!(
        store
            .claim_fallbacks("n1", NOW - 1, 60_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let claimed = store.claim_fallbacks("n1", NOW, 60_000, 10).await.unwrap();
    assert_eq!(
        claimed,
        vec![PendingFallback {
            due_at_ms: NOW + 60_000,
            ..plan("r-1", NOW)
        }]
    );
    assert!(store
        .claim_fallbacks("n2", NOW + 5_000, 60_000, 10)
        .await
        .unwrap()
        .iter()
        .all(|p| p.request_id == "r-2"));
    assert!(
        store
            .claim_fallbacks("n2", NOW + 59_999, 60_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "both leased"
    );
    let taken_over = store.claim_fallbacks("n2", NOW + 60_000, 60_000, 10).await.unwrap();
    assert_eq!(taken_over.len(), 1, "n1's lease on r-1 ran out: {taken_over:?}");

    // The holder stores the next step (unleased, due later) or none.
    store
        .save_with_delivery(
            Vec::new(),
            vec![
                arm(plan("r-1", NOW + 90_000)),
                DeliveryChange::Disarm {
                    request_id: "r-2".into(),
                },
            ],
        )
        .await
        .unwrap();
    assert!(store
        .claim_fallbacks("n3", NOW + 89_999, 60_000, 10)
        .await
        .unwrap()
        .is_empty());
    let next = store.claim_fallbacks("n3", NOW + 200_000, 60_000, 10).await.unwrap();
    assert_eq!(
        next.iter().map(|p| p.request_id.as_str()).collect::<Vec<_>>(),
        ["r-1"],
        "r-2 was disarmed"
    );
}

/// A negative receipt leases a plan before it is due, only the plan that waits for that
/// carrier's message, and never one another claimant holds.
pub async fn a_negative_receipt_leases_its_plan_early_unless_someone_holds_it(store: &dyn Store) {
    store
        .save_with_delivery(Vec::new(), vec![DeliveryChange::Arm(plan("r-1", NOW + 30_000))])
        .await
        .unwrap();
    assert_eq!(
        store.claim_fallback("r-1", "smsc-b", "n1", NOW, 60_000).await.unwrap(),
        None,
        "another message"
    );
    let early = store.claim_fallback("r-1", "smsc-a", "n1", NOW, 60_000).await.unwrap();
    assert_eq!(early.map(|p| p.due_at_ms), Some(NOW + 60_000));
    assert_eq!(
        store
            .claim_fallback("r-1", "smsc-a", "n2", NOW + 1, 60_000)
            .await
            .unwrap(),
        None,
        "held by n1"
    );
    assert!(
        store
            .claim_fallbacks("n2", NOW + 30_000, 60_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "held by n1"
    );
    assert_eq!(
        store.claim_fallback("r-9", "smsc-a", "n1", NOW, 60_000).await.unwrap(),
        None
    );
}

/// Many claimants at once (tasks on one store, or several stores on one database): every due
/// plan goes to exactly one of them.
pub async fn concurrent_claimants_never_share_a_plan(stores: Vec<Arc<dyn Store>>) {
    let arms = (0..200)
        .map(|i| DeliveryChange::Arm(plan(&format!("r-{i:03}"), NOW + i)))
        .collect();
    stores[0].save_with_delivery(Vec::new(), arms).await.unwrap();
    let mut tasks = Vec::new();
    for claimant in 0..8 {
        let store = stores[claimant % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..20 {
                let claimed = store
                    .claim_fallbacks(&format!("n{claimant}"), NOW + 1_000, 60_000, 7)
                    .await
                    .unwrap();
                mine.extend(claimed.into_iter().map(|p| p.request_id));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), unique.len(), "a plan went to two claimants");
    assert_eq!(unique.len(), 200, "every due plan was handed out");
}

/// A number's state with one verification whose charged message went out at `NOW`, and its code.
fn sent_state() -> (NumberState, String, CodeSecret) {
    let secret = CodeSecret::from_bytes(b"versions");
    let request = SendRequest {
        application: "app".into(),
        number: number::parse("+34600002002").unwrap(),
        channel: None,
        preferred: None,
        blocklisted: None,
        high_risk: None,
        vendor_data: None,
        metadata: None,
        code_length: 6,
        locale: "es".into(),
    };
    let mut state = NumberState::default();
    let (start, _) = state.begin_send(&request, &VerificationPolicy::default(), &secret, NOW);
    let SendStart::Deliver { request_id, code, .. } = start else {
        panic!("blocked")
    };
    let accepted = SendResult::Accepted {
        channel: Channel::Sms,
        carrier: "smsc-a".into(),
        delivered: false,
        fallbacks: vec![],
        fee_micros: Some(7_900),
        message_id: "1a".into(),
    };
    state.finish_send(&request_id, NOW, &accepted, NOW).unwrap();
    (state, code, secret)
}

/// Issue 14: two nodes each holding an actor for one number change the same stored version; the
/// first conditional write wins, the stale one is refused and writes nothing (no second approval,
/// no second charge, none of its delivery changes), and a fresh read lets it decide again.
pub async fn a_stale_writer_loses_its_conditional_write(store: &dyn Store) {
    let (node_a, code, secret) = sent_state();
    let first = node_a.current().unwrap().clone();
    assert_eq!(first.version, 0, "never stored");
    assert!(
        store.save_if_version(first.clone(), Vec::new()).await.unwrap(),
        "first write of a new record"
    );
    assert!(
        !store.save_if_version(first.clone(), Vec::new()).await.unwrap(),
        "a second insert of it loses"
    );
    let loaded = store.load_number("app", "+34600002002", 0).await.unwrap();
    assert_eq!(loaded[0].version, 1);

    // Both nodes load version 1; node A approves with the right code, node B counts a wrong one.
    let mut node_a_state = NumberState::from_history(loaded.clone(), Vec::new(), NOW + 1);
    let mut node_b_state = NumberState::from_history(loaded, Vec::new(), NOW + 1);
    let (_, approved) = node_a_state.check(&code, RiskActions::default(), &secret, NOW + 2);
    let (_, wrong) = node_b_state.check("000000x", RiskActions::default(), &secret, NOW + 2);
    assert_eq!(approved[0].state, State::Approved);
    let stale_delivery = vec![DeliveryChange::Sent(message("b-1", &approved[0].request_id))];
    assert!(store.save_if_version(approved[0].clone(), Vec::new()).await.unwrap());
    assert!(
        !store.save_if_version(wrong[0].clone(), stale_delivery).await.unwrap(),
        "computed from version 1, which is gone"
    );
    let now = store.load_number("app", "+34600002002", 0).await.unwrap();
    assert_eq!((now[0].state, now[0].attempts, now[0].version), (State::Approved, 1, 2));
    assert!(
        store.find_messages("smsc-a", &["b-1".into()]).await.unwrap().is_empty(),
        "nothing of the loser"
    );
    let usage = store.usage("app", "2026-11").await.unwrap();
    assert_eq!(
        usage.iter().map(|u| u.verifications).sum::<u64>(),
        1,
        "charged once: {usage:?}"
    );
    // The loser reloads and decides again over the version it now sees.
    let mut node_b_state = NumberState::from_history(now, Vec::new(), NOW + 3);
    let (result, changed) = node_b_state.check(&code, RiskActions::default(), &secret, NOW + 3);
    assert_eq!(result, otpgate::number_state::CheckResult::NotFound, "already approved");
    assert!(changed.is_empty());
}
