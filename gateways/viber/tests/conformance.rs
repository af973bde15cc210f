//! The HTTP channel conformance suite (`otpgate_http_kit::testing::suite`) against the fake
//! Viber platform, over real HTTP.
use otpgate_http_kit::testing::suite::{Case, UnderTest};
use otpgate_http_kit::testing::{harness::CODE, Action, Rule};
use otpgate_viber::fake::{FakeViber, Received};
use otpgate_viber::wire::SendMessage;
use otpgate_viber::Viber;

struct ViberChannel;

impl UnderTest for ViberChannel {
    type Platform = Viber;
    type Fake = FakeViber;
    const BINARY: &'static str = env!("CARGO_BIN_EXE_otpgate-fake-viber");
    const SIGNING_SECRET: Option<&'static str> = None;

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

    fn check_received(received: &Received, accepted: &str) {
        let expected = SendMessage::otp("14155550100", CODE, "req-+14155550100");
        assert_eq!(
            (received.message_token.to_string(), &received.message),
            (accepted.to_owned(), &expected)
        );
    }
}

otpgate_http_kit::conformance_tests!(ViberChannel);
