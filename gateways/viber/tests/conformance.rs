//! The HTTP channel conformance suite (`otpgate_http_kit::testing::suite`) against the fake
//! Viber platform, over real HTTP.
use otpgate_http_kit::testing::suite::{assert_fields, Case, UnderTest};
use otpgate_http_kit::testing::{harness::CODE, Action, Rule};
use otpgate_viber::fake::FakeViber;
use otpgate_viber::Viber;
use serde_json::{json, Value};

struct ViberChannel;

impl UnderTest for ViberChannel {
    type Platform = Viber;
    type Fake = FakeViber;

    const KEYS: &'static str = "token = \"{token}\"";

    fn refusals() -> Vec<Case> {
        let status = |s: i64| Rule::new("", Action::Refuse).error(s);
        vec![
            Case::number(status(5), "not_viber_user"),
            Case::number(status(6), "not_viber_user"),
            Case::number(status(11), "not_viber_user"),
            Case::carrier(status(2), "auth_failed"),
            Case::carrier(status(8), "account_unavailable"),
            Case::throttled(status(12), 1),
            Case::message(status(3), "invalid_request"),
            Case::message(status(99), "invalid_request"),
            Case::transient(status(3).status(503), "server_error"),
        ]
    }

    fn check_received(received: &Value, accepted: &str) {
        let token: u64 = accepted.parse().expect("a message token");
        let template = json!({"name": "otp", "parameters": {"code": CODE}});
        let tracking = "req-+14155550100";
        assert_fields(
            received,
            json!({"message_token": token, "receiver": "14155550100", "template": template, "tracking_data": tracking}),
        );
    }
}

otpgate_http_kit::conformance_tests!(ViberChannel, "otpgate-fake-viber");
