//! The HTTP channel conformance suite (`otpgate_http_kit::testing::suite`) against the fake
//! Telegram Gateway API over real HTTP, and `checkSendAbility`.
use otpgate_http_kit::testing::suite::{self, assert_fields, Case, UnderTest};
use otpgate_http_kit::testing::{harness::CODE, Action, Rule};
use otpgate_telegram::fake::FakeTelegram;
use otpgate_telegram::Telegram;
use serde_json::{json, Value};

struct TelegramChannel;

impl UnderTest for TelegramChannel {
    type Platform = Telegram;
    type Fake = FakeTelegram;

    const KEYS: &'static str = "token = \"{token}\"";

    fn refusals() -> Vec<Case> {
        let error = |e: &str| Rule::new("", Action::Refuse).error(e);
        vec![
            Case::number(error("PHONE_NUMBER_INVALID"), "not_telegram_user"),
            Case::number(error("PHONE_NUMBER_NOT_FOUND"), "not_telegram_user"),
            Case::carrier(error("ACCESS_TOKEN_INVALID").status(401), "auth_failed"),
            Case::carrier(error("BALANCE_NOT_ENOUGH").status(200), "no_balance"),
            Case::throttled(error("FLOOD_WAIT_7"), 7),
            Case::message(error("CODE_INVALID"), "invalid_request"),
            Case::transient(error("INTERNAL").status(502), "server_error"),
        ]
    }

    fn check_received(received: &Value, accepted: &str) {
        let payload = "req-+14155550100";
        assert_fields(
            received,
            json!({"request_id": accepted, "phone_number": "+14155550100", "code": CODE, "ttl": 300, "payload": payload}),
        );
    }
}

otpgate_http_kit::conformance_tests!(TelegramChannel, "otpgate-fake-telegram");

#[tokio::test]
async fn check_send_ability_tells_a_number_without_telegram() {
    let rules = vec![Rule::new("44", Action::Refuse), Rule::new("33", Action::Throttle)];
    let s = suite::Setup::<TelegramChannel>::start(rules, suite::TOKEN);
    let (telegram, client) = (s.gateway.platform(), s.gateway.client());
    assert!(telegram.check_send_ability(client, "+14155550100").await.unwrap());
    assert!(!telegram.check_send_ability(client, "+447700900123").await.unwrap());
    let throttled = telegram.check_send_ability(client, "+33600000000").await.unwrap_err();
    assert_eq!(throttled.kind(), otpgate_gateway::ErrorKind::Throttled);
}
