//! Every offer/answer shape real trunks use (RFC 3261 §13.2.1, RFC 3262, RFC 3264, RFC 6337),
//! played by the `otpgate-sip-callee` simulator over real UDP (`--answer-shape`): where the SDP
//! answer travels (200, 183, reliable 183 + PRACK), which codec it picks, and answers that
//! cannot carry the prompt. Build the simulator first: `cargo build -p otpgate-sip-callee`.
mod common;

use common::*;
use otpgate_gateway::{Delivery, ErrorKind};
use otpgate_sip::prompt::{self, Language};

const CODE: &str = "5";

/// Calls a callee answering in `shape`; returns the callee, the call's report (if it was
/// accepted) and the outcome.
async fn call_in_shape(shape: &str) -> (Callee, Result<(String, Delivery), otpgate_gateway::GatewayError>) {
    let callee = Callee::start(&["--mode", "answer", "--answer-shape", shape]);
    let mut trunk = trunk(config(&callee.address));
    let result = match trunk.send(&message(CODE)).await {
        Ok(accepted) => Ok((accepted.carrier_message_id, trunk.outcome().await.delivery)),
        Err(error) => Err(error),
    };
    (callee, result)
}

/// The trunk: `183 Session Progress` with SDP, then `200 OK` without a body. The answer
/// of the early dialog is the call's answer, and the callee hears the whole prompt.
#[tokio::test(flavor = "multi_thread")]
async fn sdp_in_183_and_a_200_without_body_plays_the_code() {
    let (callee, result) = call_in_shape("early-only").await;
    let (call_id, delivery) = result.expect("the call is answered, not hung up as unsupported_media");
    assert_eq!(delivery, Delivery::Delivered);
    let report = callee.report(&call_id);
    assert_eq!(report["codec"], "PCMU");
    assert_eq!(
        report["packets"],
        prompt::frame_count(CODE, Language::English) as u64,
        "{report}"
    );
    assert_heard_prompt(&callee, &call_id, CODE, Language::English);
}

/// A 183 sent reliably (`Require: 100rel`, `RSeq: 1`): the simulator sends its 200 only after
/// our PRACK (and would refuse an INVITE without `Supported: 100rel` with 420), so a call that
/// completes proves both.
#[tokio::test(flavor = "multi_thread")]
async fn a_reliable_183_is_pracked_and_its_answer_played() {
    let (callee, result) = call_in_shape("reliable-early").await;
    let (call_id, delivery) = result.expect("PRACKed, then answered");
    assert_eq!(delivery, Delivery::Delivered);
    assert_heard_prompt(&callee, &call_id, CODE, Language::English);
    assert_eq!(callee.outcomes()[0]["outcome"], "answered");
}

/// Shapes that carry a playable answer, each with the codec the callee must receive.
#[tokio::test(flavor = "multi_thread")]
async fn every_playable_answer_shape_delivers_the_whole_prompt() {
    let shapes = [
        ("in-200", "PCMU"),
        ("early-and-200", "PCMU"),
        ("media-level-c", "PCMU"),
        ("telephone-event", "PCMU"),
        // The answerer's first format wins (RFC 3264 §6.1), though our offer preferred PCMU.
        ("pcma-first", "PCMA"),
    ];
    let calls = shapes.map(|(shape, codec)| async move { (shape, codec, call_in_shape(shape).await) });
    for (shape, codec, (callee, result)) in join_all(calls).await {
        let (call_id, delivery) = result.unwrap_or_else(|e| panic!("{shape}: {e}"));
        assert_eq!(delivery, Delivery::Delivered, "{shape}");
        let report = callee.report(&call_id);
        assert_eq!(report["codec"], codec, "{shape}: {report}");
        assert_eq!(
            report["packets"],
            prompt::frame_count(CODE, Language::English) as u64,
            "{shape}: {report}"
        );
        assert_eq!(report["sequence_gaps"], 0, "{shape}");
    }
}

/// Answers the callee would not hear: a rejected stream, a send-only or inactive one, the RFC 2543
/// hold address. Each is a permanent failure with its reason, and the answered call gets its BYE.
#[tokio::test(flavor = "multi_thread")]
async fn answers_that_cannot_carry_the_prompt_are_classified_and_hung_up() {
    let shapes = [
        ("port-zero", "unsupported_media"),
        ("sendonly", "media_inactive"),
        ("inactive", "media_inactive"),
        ("hold", "media_inactive"),
    ];
    let calls = shapes.map(|(shape, reason)| async move { (shape, reason, call_in_shape(shape).await) });
    for (shape, reason, (callee, result)) in join_all(calls).await {
        let error = result.map(|_| ()).expect_err(shape);
        assert_eq!(
            (error.reason(), error.kind()),
            (reason, ErrorKind::Permanent),
            "{shape}: {error}"
        );
        // The callee answered 200, got our ACK and our BYE, and heard nothing.
        let outcomes = eventually_outcomes(&callee).await;
        assert_eq!(outcomes[0]["outcome"], "answered", "{shape}: {outcomes:?}");
        assert_eq!(outcomes[0]["report"]["bye_received"], true, "{shape}");
        assert_eq!(outcomes[0]["report"]["packets"], 0, "{shape}");
    }
}

/// The callee writes its outcome line once it finalised the call, just before its 200 to our BYE.
async fn eventually_outcomes(callee: &Callee) -> Vec<serde_json::Value> {
    for _ in 0..40 {
        let outcomes = callee.outcomes();
        if !outcomes.is_empty() {
            return outcomes;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    callee.outcomes()
}

/// Runs the calls concurrently (each simulator is its own process): the suite takes one prompt's
/// time instead of one per shape.
async fn join_all<F, const N: usize>(calls: [F; N]) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = calls.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(N);
    for handle in handles {
        outputs.push(handle.await.expect("call task"));
    }
    outputs
}
