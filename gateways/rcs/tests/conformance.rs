//! The HTTP channel conformance suite (`otpgate_http_kit::testing::suite`) against the fake RBM
//! platform, over real HTTP.
use otpgate_http_kit::testing::suite::{assert_fields, Case, UnderTest};
use otpgate_http_kit::testing::{harness::CODE, Action, Rule};
use otpgate_rcs::fake::FakeRcs;
use otpgate_rcs::Rcs;
use serde_json::{json, Value};

struct RcsChannel;

impl UnderTest for RcsChannel {
    type Platform = Rcs;
    type Fake = FakeRcs;

    const KEYS: &'static str = "agent_id = \"otpgate-agent\"\ntoken = \"{token}\"\nwebhook_token = \"{secret}\"";

    fn refusals() -> Vec<Case> {
        let answer = |status: u16| Rule::new("", Action::Refuse).status(status);
        vec![
            Case::number(answer(404), "not_rcs_capable"),
            Case::throttled(answer(400).error("RESOURCE_EXHAUSTED"), 1),
            Case::carrier(answer(403), "auth_failed"),
            Case::message(answer(400), "invalid_request"),
            Case::message(answer(409), "invalid_request"),
            Case::transient(answer(503), "server_error"),
            Case::transient(answer(302), "bad_response"),
        ]
    }

    fn check_received(received: &Value, accepted: &str) {
        let text = format!("Your code is {CODE}");
        assert_fields(
            received,
            json!({"phone": "+14155550100", "message_id": accepted, "agent_id": "otpgate-agent", "text": text}),
        );
    }
}

otpgate_http_kit::conformance_tests!(RcsChannel, "otpgate-fake-rcs");
