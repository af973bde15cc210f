//! Calls the real `otpgate-sip-callee` simulator over UDP. Build it first:
//! `cargo build -p otpgate-sip-callee` (same target dir as these tests).
mod common;

use common::*;
use otpgate_gateway::{report_channel, Channel, Delivery, Gateway, GatewayError};
use otpgate_sip::prompt::{self, Language};
use otpgate_sip::{SipConfig, SipGateway};
use std::time::Duration;
#[tokio::test(flavor = "multi_thread")]
async fn answered_call_plays_the_whole_prompt_and_is_delivered() {
    let callee = Callee::start(&["--mode", "answer"]);
    let mut trunk = gateway(&callee, None, RING);
    let accepted = trunk.send(&message("123456")).await.unwrap();
    assert_eq!(accepted.parts, 1);
    assert_eq!(accepted.delivery, None, "delivered only once the prompt has played");

    let outcome = trunk.outcome().await;
    assert_eq!(outcome.delivery, Delivery::Delivered);
    assert_eq!(outcome.status, "completed");
    assert_eq!(outcome.carrier_message_id, accepted.carrier_message_id);
    assert_eq!((outcome.request_id.as_str(), outcome.channel), ("req-1", Channel::Call));

    let call_id = &accepted.carrier_message_id;
    let report = callee.report(call_id);
    let expected = prompt::frame_count("123456", Language::English);
    assert!(
        expected > 400,
        "intro, six digits, 'I repeat', six digits: {expected} frames"
    );
    assert_eq!(report["codec"], "PCMU");
    assert_eq!(report["packets"], expected as u64, "{report}");
    assert_eq!(report["duration_ms"], (expected * 20) as u64, "{report}");
    assert_eq!(report["first_marker_bit"], true);
    assert_eq!(report["sequence_gaps"], 0);
    assert_eq!(report["ssrc_changes"], 0);
    assert_eq!(report["bye_received"], true);
    assert!(report["to"].as_str().unwrap().contains("sip:15550100@"), "{report}");
    assert_heard_prompt(&callee, call_id, "123456", Language::English);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_prompt_is_spoken_in_the_locale_language() {
    let callee = Callee::start(&["--mode", "answer"]);
    let mut spanish = gateway(&callee, None, RING);
    let mut arabic = gateway(&callee, None, RING);
    let (to_es, to_ar) = (message_in("907", "es-MX"), message_in("907", "ar_EG"));
    let (es, ar) = tokio::join!(spanish.send(&to_es), arabic.send(&to_ar));
    let (es, ar) = (es.unwrap(), ar.unwrap());
    assert_eq!(spanish.outcome().await.delivery, Delivery::Delivered);
    assert_eq!(arabic.outcome().await.delivery, Delivery::Delivered);
    assert_heard_prompt(&callee, &es.carrier_message_id, "907", Language::Spanish);
    assert_heard_prompt(&callee, &ar.carrier_message_id, "907", Language::Arabic);
    assert_ne!(
        callee.samples(&es.carrier_message_id),
        callee.samples(&ar.carrier_message_id)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callee_hanging_up_mid_prompt_is_reported_failed() {
    let callee = Callee::start(&["--mode", "hangup-after:1000"]);
    let mut trunk = gateway(&callee, None, RING);
    let accepted = trunk.send(&message("123456")).await.unwrap();
    let started = std::time::Instant::now();
    let outcome = trunk.outcome().await;
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(outcome.delivery, Delivery::Failed);
    assert_eq!(outcome.status, "hung_up");
    let report = callee.report(&accepted.carrier_message_id);
    assert_eq!(report["hung_up_by_callee"], true, "{report}");
    // About a second of the prompt arrived before the callee hung up, not the whole of it.
    let packets = report["packets"].as_u64().unwrap();
    assert!((30..=80).contains(&packets), "{report}");
    // Our 200 OK stopped the callee's BYE retransmissions, and we sent no BYE of our own.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let outcomes = callee.outcomes();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0]["outcome"], "hung_up");
}

#[test]
fn the_engine_waits_for_the_whole_prompt_before_falling_back() {
    let (tx, _rx) = report_channel();
    let gateway = SipGateway::new(config("127.0.0.1:5060"), tx);
    let within = gateway.outcome_within(&message_in("123456", "ar")).unwrap();
    let prompt = Duration::from_millis(20 * prompt::frame_count("123456", Language::Arabic) as u64);
    assert!(within > prompt, "{within:?} vs {prompt:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_is_a_permanent_failure() {
    let callee = Callee::start(&["--mode", "busy"]);
    assert_permanent(gateway(&callee, None, RING).send(&message("123456")).await, "busy");
}

#[tokio::test(flavor = "multi_thread")]
async fn service_unavailable_is_call_failed_5xx() {
    let callee = Callee::start(&["--mode", "reject:503"]);
    assert_permanent(
        gateway(&callee, None, RING).send(&message("123456")).await,
        "call_failed_5xx",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unanswered_call_is_cancelled_after_the_ring_time() {
    let callee = Callee::start(&["--mode", "ring-forever"]);
    let started = std::time::Instant::now();
    assert_permanent(
        gateway(&callee, None, Duration::from_secs(1))
            .send(&message("123456"))
            .await,
        "no_answer",
    );
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    // The callee logs the call after it answered the CANCEL: give it a moment under load.
    let mut outcomes = callee.outcomes();
    for _ in 0..40 {
        if !outcomes.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        outcomes = callee.outcomes();
    }
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0]["outcome"], "cancelled");
    assert_eq!(outcomes[0]["status"], 487);
}

async fn challenged_call(algorithm: &str, password: &str) -> Result<(Callee, String), GatewayError> {
    let callee = Callee::start(&[
        "--mode",
        "challenge",
        "--user",
        "otp",
        "--password",
        "s3cret",
        "--digest-algorithm",
        algorithm,
    ]);
    let mut trunk = gateway(&callee, Some(("otp", password)), RING);
    let accepted = trunk.send(&message("4711")).await?;
    assert_eq!(trunk.outcome().await.delivery, Delivery::Delivered);
    Ok((callee, accepted.carrier_message_id))
}

#[tokio::test(flavor = "multi_thread")]
async fn md5_challenge_is_answered() {
    let (callee, call_id) = challenged_call("MD5", "s3cret").await.unwrap();
    assert_eq!(
        callee.report(&call_id)["packets"],
        prompt::frame_count("4711", Language::English) as u64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sha_256_challenge_is_answered() {
    let (callee, call_id) = challenged_call("SHA-256", "s3cret").await.unwrap();
    assert_eq!(
        callee.report(&call_id)["packets"],
        prompt::frame_count("4711", Language::English) as u64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_is_auth_failed() {
    for algorithm in ["MD5", "SHA-256"] {
        assert_permanent(
            challenged_call(algorithm, "wrong")
                .await
                .map(|_| unreachable_accepted()),
            "auth_failed",
        );
    }
}

fn unreachable_accepted() -> otpgate_gateway::Accepted {
    unreachable!("a wrong password must not be accepted")
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_trunk_is_a_transient_timeout() {
    // A bound socket that never answers: INVITE retransmissions go unanswered until Timer B.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let gateway = SipGateway::new(
        SipConfig {
            ring_timeout: Duration::from_secs(1),
            ..config(&silent.local_addr().unwrap().to_string())
        },
        report_channel().0,
    );
    let error = gateway.send(&message("1")).await.expect_err("no response");
    assert_eq!(error.reason(), "timeout");
    assert!(error.is_transient());
    // T1 doubling: INVITE at 0, 0.5, 1.5 s within the 3 s Timer B.
    let mut buf = [0u8; 4096];
    silent.set_nonblocking(true).unwrap();
    let mut invites = 0;
    while let Ok(len) = silent.recv(&mut buf) {
        assert!(buf[..len].starts_with(b"INVITE "));
        invites += 1;
    }
    assert_eq!(invites, 3);
}
