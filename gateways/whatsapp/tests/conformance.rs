//! The HTTP channel conformance suite (`otpgate_http_kit::testing::suite`) against the fake
//! WhatsApp Cloud API, over real HTTP.
use otpgate_http_kit::testing::suite::{assert_fields, Case, UnderTest};
use otpgate_http_kit::testing::{harness::CODE, Action, Rule};
use otpgate_whatsapp::fake::FakeWhatsApp;
use otpgate_whatsapp::WhatsApp;
use serde_json::{json, Value};

struct WhatsAppChannel;

impl UnderTest for WhatsAppChannel {
    type Platform = WhatsApp;
    type Fake = FakeWhatsApp;

    const KEYS: &'static str =
        "phone_number_id = \"1234\"\naccess_token = \"{token}\"\napp_secret = \"{secret}\"\nlanguage = \"pt_BR\"";

    fn refusals() -> Vec<Case> {
        let code = |c: i64| Rule::new("", Action::Refuse).error(c);
        vec![
            Case::number(code(131026), "not_whatsapp_user"),
            Case::message(code(131030), "recipient_not_allowed"),
            Case::carrier(code(131008), "template_error"),
            Case::carrier(code(132001), "template_error"),
            Case::carrier(code(190).status(401), "auth_failed"),
            Case::message(code(100), "invalid_request"),
            Case::throttled(code(131056), 1),
            Case::transient(code(131000).status(500), "server_error"),
        ]
    }

    fn check_received(received: &Value, accepted: &str) {
        // The code goes in both the body parameter and the URL button.
        let sent = json!({"to": "14155550100", "template": "otp_code", "language": "pt_BR", "wamid": accepted});
        assert_fields(received, sent);
        assert_fields(received, json!({"body_code": CODE, "button_code": CODE}));
    }
}

otpgate_http_kit::conformance_tests!(WhatsAppChannel, "otpgate-fake-whatsapp");
