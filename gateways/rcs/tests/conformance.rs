//! The HTTP channel conformance suite (`otpgate_http_kit::testing::suite`) against the fake RBM
//! platform, over real HTTP.
use otpgate_http_kit::testing::suite::{Case, UnderTest};
use otpgate_http_kit::testing::{harness::CODE, Action, Rule};
use otpgate_rcs::fake::{FakeRcs, Received};
use otpgate_rcs::Rcs;

struct RcsChannel;

impl UnderTest for RcsChannel {
    type Platform = Rcs;
    type Fake = FakeRcs;
    const BINARY: &'static str = env!("CARGO_BIN_EXE_otpgate-fake-rcs");

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

    fn check_received(received: &Received, accepted: &str) {
        let text = format!("Your code is {CODE}");
        assert_eq!(
            (received.phone.as_str(), received.message_id.as_str()),
            ("+14155550100", accepted)
        );
        assert_eq!(
            (received.agent_id.as_str(), received.text.as_str()),
            ("otpgate-agent", text.as_str())
        );
    }
}

otpgate_http_kit::conformance_tests!(RcsChannel);
