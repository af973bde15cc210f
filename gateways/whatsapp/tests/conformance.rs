//! The HTTP channel conformance suite (`otpgate_http_kit::testing::suite`) against the fake
//! WhatsApp Cloud API, over real HTTP.
use otpgate_http_kit::testing::suite::{Case, UnderTest};
use otpgate_http_kit::testing::{harness::CODE, Action, Rule};
use otpgate_whatsapp::fake::{FakeWhatsApp, Received};
use otpgate_whatsapp::WhatsApp;

struct WhatsAppChannel;

impl UnderTest for WhatsAppChannel {
    type Platform = WhatsApp;
    type Fake = FakeWhatsApp;
    const BINARY: &'static str = env!("CARGO_BIN_EXE_otpgate-fake-whatsapp");

    const KEYS: &'static str =
        "phone_number_id = \"1234\"\naccess_token = \"{token}\"\napp_secret = \"{secret}\"\nlanguage = \"pt_BR\"";

    fn refusals() -> Vec<Case> {
        let code = |c: i64| Rule::new("", Action::Refuse).error(c);
        vec![
            Case::number(code(131026), "not_whatsapp_user"),
            Case::number(code(131030), "recipient_not_allowed"),
            Case::carrier(code(131008), "template_error"),
            Case::carrier(code(132001), "template_error"),
            Case::carrier(code(190).status(401), "auth_failed"),
            Case::message(code(100), "invalid_request"),
            Case::throttled(code(131056), 1),
            Case::transient(code(131000).status(500), "server_error"),
        ]
    }

    fn check_received(received: &Received, accepted: &str) {
        let code = Some(CODE.to_owned());
        assert_eq!(
            (received.to.as_str(), received.wamid.as_str()),
            ("14155550100", accepted)
        );
        assert_eq!(
            (received.template.as_str(), received.language.as_str()),
            ("otp_code", "pt_BR")
        );
        assert_eq!(
            (&received.body_code, &received.button_code),
            (&code, &code),
            "body and URL button"
        );
    }
}

otpgate_http_kit::conformance_tests!(WhatsAppChannel);
