//! Unit tests of the number rules, without actors, sockets or a store.
use super::*;
use crate::number;

const T0: i64 = 1_800_000_000_000;

fn request(phone: &str) -> SendRequest {
    SendRequest {
        application: "default".into(),
        number: number::parse(phone).unwrap(),
        channel: None,
        preferred: None,
        blocklisted: None,
        high_risk: None,
        vendor_data: None,
        metadata: None,
        code_length: 6,
        locale: "en".into(),
    }
}

fn delivered() -> SendResult {
    SendResult::Accepted {
        channel: Channel::Sms,
        carrier: "sandbox".into(),
        delivered: true,
        fallbacks: vec![],
        fee_micros: None,
        message_id: "1".into(),
    }
}

/// Starts a send to the default sandbox number under the default policy.
fn begin(state: &mut NumberState, secret: &CodeSecret, at: i64) -> SendStart {
    state
        .begin_send(&request("+12025550123"), &VerificationPolicy::default(), secret, at)
        .0
}

fn sent(state: &mut NumberState, secret: &CodeSecret, phone: &str, at: i64) -> SendStart {
    let (start, _) = state.begin_send(&request(phone), &VerificationPolicy::default(), secret, at);
    if let SendStart::Deliver { request_id, .. } = &start {
        state.finish_send(request_id, at, &delivered(), at).unwrap();
    }
    start
}

#[test]
fn sends_in_flight_land_on_their_verification_after_refused_sends_replaced_it() {
    let secret = CodeSecret::from_bytes(b"s");
    let mut state = NumberState::default();
    // Three sends start before any is answered; the 4th and 5th are refused meanwhile.
    let starts: Vec<SendStart> = (0..5).map(|i| begin(&mut state, &secret, T0 + i)).collect();
    let SendStart::Deliver { request_id, .. } = &starts[0] else {
        panic!("{:?}", starts[0])
    };
    assert!(matches!(starts[3], SendStart::Blocked { .. }));
    assert!(matches!(starts[4], SendStart::Blocked { .. }));
    assert_ne!(
        state.current().unwrap().request_id,
        *request_id,
        "a newer one is current"
    );
    let charged = SendResult::Accepted {
        channel: Channel::Sms,
        carrier: "smsc".into(),
        delivered: false,
        fallbacks: vec![],
        fee_micros: Some(7_900),
        message_id: "1".into(),
    };
    for i in 0..3 {
        let v = state
            .finish_send(request_id, T0 + i, &charged, T0 + 10)
            .expect("the send's own verification, though no longer current");
        assert_eq!(v.request_id, *request_id);
        // Each send was reserved on the record when it began (so other nodes count it).
        assert_eq!(v.sends_ms.len(), 3);
        assert_eq!(v.charge.as_ref().map(|c| c.carrier_fee_micros), Some(7_900));
    }
    assert!(
        state.detached.is_empty() && state.inflight.is_empty(),
        "forgotten once answered"
    );
}

fn code_of(start: &SendStart) -> String {
    match start {
        SendStart::Deliver { code, .. } => code.clone(),
        other => panic!("not delivered: {other:?}"),
    }
}

#[test]
fn right_code_approves_once() {
    let secret = CodeSecret::from_bytes(b"s");
    let mut state = NumberState::default();
    let code = code_of(&sent(&mut state, &secret, "+12025550123", T0));
    let (result, changed) = state.check(&code, RiskActions::default(), &secret, T0 + 1);
    assert_eq!(result, CheckResult::Approved);
    assert_eq!(changed[0].attempts, 1);
    assert_eq!(changed[0].verified_at_ms, Some(T0 + 1));
    assert_eq!(
        state.check(&code, RiskActions::default(), &secret, T0 + 2).0,
        CheckResult::NotFound
    );
}

fn accepted(channel: Channel) -> SendResult {
    SendResult::Accepted {
        channel,
        carrier: "carrier".into(),
        delivered: false,
        fallbacks: vec![],
        fee_micros: None,
        message_id: "1".into(),
    }
}

#[test]
fn an_approval_without_a_receipt_names_the_channel_of_the_last_accepted_message() {
    let secret = CodeSecret::from_bytes(b"s");
    // One message, accepted, no receipt yet.
    let mut state = NumberState::default();
    let start = begin(&mut state, &secret, T0);
    let SendStart::Deliver { request_id, code, .. } = &start else {
        panic!("{start:?}")
    };
    state.finish_send(request_id, T0, &accepted(Channel::Sms), T0);
    let (result, changed) = state.check(code, RiskActions::default(), &secret, T0 + 1);
    assert_eq!(result, CheckResult::Approved);
    assert_eq!(changed[0].verification_method, Some(Channel::Sms));

    // Accepted on SMS, then the same code on WhatsApp after the fallback: WhatsApp is last.
    let mut state = NumberState::default();
    let start = begin(&mut state, &secret, T0);
    let SendStart::Deliver { request_id, code, .. } = &start else {
        panic!("{start:?}")
    };
    state.finish_send(request_id, T0, &accepted(Channel::Sms), T0);
    let from = (Channel::Sms, "smsc", "no_receipt");
    state.on_fallback(request_id, from, &accepted(Channel::Whatsapp), T0 + 20_000);
    let (_, changed) = state.check(code, RiskActions::default(), &secret, T0 + 20_001);
    assert_eq!(changed[0].verification_method, Some(Channel::Whatsapp));

    // A receipt names the channel that delivered; a resend accepted later does not undo it.
    let mut state = NumberState::default();
    let start = begin(&mut state, &secret, T0);
    let SendStart::Deliver { request_id, code, .. } = &start else {
        panic!("{start:?}")
    };
    state.finish_send(request_id, T0, &delivered(), T0);
    assert!(matches!(
        begin(&mut state, &secret, T0 + 1),
        SendStart::Deliver { resend: true, .. }
    ));
    state.finish_send(request_id, T0 + 1, &accepted(Channel::Whatsapp), T0 + 1);
    let (_, changed) = state.check(code, RiskActions::default(), &secret, T0 + 2);
    assert_eq!(changed[0].verification_method, Some(Channel::Sms));
}

#[test]
fn two_wrong_codes_decline_and_the_right_one_no_longer_works() {
    let secret = CodeSecret::from_bytes(b"s");
    let mut state = NumberState::default();
    let code = code_of(&sent(&mut state, &secret, "+12025550123", T0));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        state.check(wrong, RiskActions::default(), &secret, T0).0,
        CheckResult::Failed { attempts_left: 1 }
    );
    let (result, changed) = state.check(wrong, RiskActions::default(), &secret, T0);
    assert_eq!(result, CheckResult::Declined);
    assert_eq!(changed[0].warnings[0].risk, Risk::VerificationCodeAttemptsExceeded);
    assert_eq!(
        state.check(&code, RiskActions::default(), &secret, T0).0,
        CheckResult::Declined
    );
}

#[test]
fn resend_repeats_the_code_and_keeps_attempts_and_expiry() {
    let secret = CodeSecret::from_bytes(b"s");
    let mut state = NumberState::default();
    let first = sent(&mut state, &secret, "+12025550123", T0);
    state.check("000001", RiskActions::default(), &secret, T0 + 5);
    let second = sent(&mut state, &secret, "+12025550123", T0 + 10);
    match (&first, &second) {
        (
            SendStart::Deliver {
                request_id: a,
                code: ca,
                ..
            },
            SendStart::Deliver {
                request_id: b,
                code: cb,
                resend,
                ..
            },
        ) => {
            assert_eq!((a, ca), (b, cb));
            assert!(resend);
        }
        other => panic!("{other:?}"),
    }
    let v = state.current().unwrap();
    assert_eq!(v.attempts, 1);
    assert_eq!(v.expires_at_ms, T0 + 300_000);
}

#[test]
fn fourth_send_in_24h_is_blocked_and_declines() {
    let secret = CodeSecret::from_bytes(b"s");
    let mut state = NumberState::default();
    for i in 0..3 {
        assert!(matches!(
            sent(&mut state, &secret, "+12025550123", T0 + i),
            SendStart::Deliver { .. }
        ));
    }
    let blocked = sent(&mut state, &secret, "+12025550123", T0 + 3);
    assert!(matches!(
        blocked,
        SendStart::Blocked {
            reason: BlockReason::RepeatedAttempts,
            ..
        }
    ));
    assert_eq!(state.current().unwrap().state, State::Declined);
    // A day after the first send the window has room again.
    assert!(matches!(
        sent(&mut state, &secret, "+12025550123", T0 + DAY_MS + 1),
        SendStart::Deliver { .. }
    ));
}

#[test]
fn expiry_is_reported_as_not_found() {
    let secret = CodeSecret::from_bytes(b"s");
    let mut state = NumberState::default();
    let code = code_of(&sent(&mut state, &secret, "+12025550123", T0));
    let (result, changed) = state.check(&code, RiskActions::default(), &secret, T0 + 300_000);
    assert_eq!(result, CheckResult::NotFound);
    assert_eq!(changed[0].state, State::Expired);
}

#[test]
fn high_risk_number_is_blocked_before_sending() {
    let secret = CodeSecret::from_bytes(b"s");
    let mut state = NumberState::default();
    let start = sent(&mut state, &secret, number::SANDBOX_HIGH_RISK, T0);
    assert!(matches!(
        start,
        SendStart::Blocked {
            reason: BlockReason::Suspicious,
            ..
        }
    ));
    let v = state.current().unwrap();
    assert_eq!(v.warnings[0].risk, Risk::HighRiskPhoneNumber);
    assert!(v.sends_ms.is_empty());
}

#[test]
fn voip_number_declines_only_when_asked() {
    let secret = CodeSecret::from_bytes(b"s");
    for (decline, expected, log_type) in [
        (false, CheckResult::Approved, LogType::Information),
        (true, CheckResult::Declined, LogType::Error),
    ] {
        let mut state = NumberState::default();
        let code = code_of(&sent(&mut state, &secret, number::SANDBOX_VOIP, T0));
        let actions = RiskActions {
            voip: if decline {
                RiskAction::Decline
            } else {
                RiskAction::Approve
            },
            ..Default::default()
        };
        let (result, changed) = state.check(&code, actions, &secret, T0 + 1);
        assert_eq!(result, expected);
        assert_eq!(changed[0].warnings[0].risk, Risk::VoipNumberDetected);
        assert_eq!(changed[0].warnings[0].log_type, log_type);
    }
}

#[test]
fn review_holds_a_right_code_until_a_person_decides() {
    let secret = CodeSecret::from_bytes(b"s");
    let mut state = NumberState::default();
    let code = code_of(&sent(&mut state, &secret, number::SANDBOX_VOIP, T0));
    let actions = RiskActions {
        voip: RiskAction::Review,
        disposable: RiskAction::Decline,
        ..Default::default()
    };
    let (result, changed) = state.check(&code, actions, &secret, T0 + 1);
    assert_eq!(result, CheckResult::InReview);
    let v = changed[0].clone();
    assert_eq!((v.state, v.report().status), (State::InReview, "In Review"));
    assert_eq!(v.warnings[0].log_type, LogType::Warning);
    // The code was used: checking again finds nothing pending.
    assert_eq!(state.check(&code, actions, &secret, T0 + 2).0, CheckResult::NotFound);
    let approved = state
        .resolve_review(v.clone(), true, json!({ "by": "ops" }), T0 + 3)
        .unwrap();
    assert_eq!(
        (approved.state, approved.verified_at_ms),
        (State::Approved, Some(T0 + 3))
    );
    assert!(
        state.resolve_review(approved, false, json!({}), T0 + 4).is_none(),
        "settled once"
    );
    // A record that is no longer current is settled from the stored copy.
    assert_eq!(
        NumberState::default()
            .resolve_review(v, false, json!({}), T0 + 5)
            .map(|v| v.state),
        Some(State::Declined)
    );
}

#[test]
fn undeliverable_first_send_is_not_counted() {
    let secret = CodeSecret::from_bytes(b"s");
    let mut state = NumberState::default();
    for i in 0..5 {
        let start = begin(&mut state, &secret, T0 + i);
        let SendStart::Deliver { request_id, .. } = start else {
            panic!("blocked after {i} failed sends")
        };
        let failed = SendResult::Undeliverable {
            failures: vec![(Channel::Sms, "x".into(), "refused")],
        };
        assert_eq!(
            state.finish_send(&request_id, T0 + i, &failed, T0 + i).unwrap().state,
            State::Undeliverable
        );
    }
}

#[test]
fn history_restores_limits_after_restart() {
    let secret = CodeSecret::from_bytes(b"s");
    let mut state = NumberState::default();
    let mut saved = None;
    for i in 0..3 {
        let start = begin(&mut state, &secret, T0 + i);
        let SendStart::Deliver { request_id, .. } = start else {
            panic!()
        };
        // The store keeps one row per request_id: the latest write wins.
        saved = state.finish_send(&request_id, T0 + i, &delivered(), T0 + i);
    }
    let mut restored = NumberState::from_history(saved.into_iter().collect(), Vec::new(), T0 + 10);
    let start = begin(&mut restored, &secret, T0 + 10);
    assert!(matches!(
        start,
        SendStart::Blocked {
            reason: BlockReason::RepeatedAttempts,
            ..
        }
    ));
}
