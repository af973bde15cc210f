//! A fake Viber Business Messages platform for tests, benchmarks and local runs, on the kit's
//! fake server (rules, control routes, signed callbacks; see `otpgate_http_kit::testing`).
//!
//! It answers `POST /send_message` with the shapes in [`crate::wire`] after checking the
//! `X-Viber-Auth-Token` header, and posts `delivered` then `seen` (or `failed`) callbacks,
//! signed with the token, to the account's callback URL when one is set. A `refuse` rule's
//! `error` is a Viber status (default 5, not a Viber user), answered with HTTP 200 as Viber does.
use crate::status;
use crate::wire::{Callback, SendAnswer, SendMessage, AUTH_HEADER, SIGNATURE, SIGNATURE_HEADER};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use otpgate_http_kit::testing::{Fake, FakePlatform, Rule, Signed};
use serde::{Deserialize, Serialize};

/// The first `message_token` the fake hands out (the one in Viber's own examples).
const FIRST_TOKEN: u64 = 4_912_661_846_655_238_145;

pub struct FakeViber;

/// One `send_message` the fake accepted, and the `message_token` it answered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Received {
    pub message_token: u64,
    #[serde(flatten)]
    pub message: SendMessage,
}

fn answer(http: StatusCode, status: i64, status_message: &str) -> HttpResponse {
    HttpResponse::build(http).json(SendAnswer {
        status,
        status_message: status_message.to_owned(),
        message_token: None,
    })
}

impl FakePlatform for FakeViber {
    const NAME: &'static str = "fake-viber";
    const SIGNS_WITH_TOKEN: bool = true;

    fn routes(config: &mut web::ServiceConfig) {
        config.route("/send_message", web::post().to(send_message));
    }

    fn refuse(rule: &Rule) -> HttpResponse {
        let status = rule.error.as_deref().and_then(|e| e.parse().ok()).unwrap_or(5);
        let http = rule
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK);
        answer(http, status, status::name(status))
    }

    fn throttle(_rule: &Rule) -> HttpResponse {
        answer(StatusCode::TOO_MANY_REQUESTS, 12, status::name(12))
    }

    /// Viber answers unreadable requests with HTTP 200 and status 3.
    fn unreadable(why: String) -> HttpResponse {
        answer(StatusCode::OK, 3, &format!("badData: {why}"))
    }
}

async fn send_message(
    fake: web::Data<Fake<FakeViber>>,
    request: HttpRequest,
    body: web::Json<SendMessage>,
) -> HttpResponse {
    let Some(token) = fake.authorize(&request, AUTH_HEADER) else {
        return answer(StatusCode::OK, 2, status::name(2));
    };
    let body = body.into_inner();
    let rule = fake.rule_for(&body.receiver);
    if let Some(refusal) = fake.refusal(&rule).await {
        return refusal;
    }
    let message_token = FIRST_TOKEN + fake.next_id();
    let receiver = body.receiver.clone();
    fake.record(&Received {
        message_token,
        message: body,
    });
    if let Some(url) = fake.settings().callback_url.clone() {
        let secret = fake.secret(&token);
        let signed = |event: String| {
            let callback = Callback {
                desc: (event == "failed").then(|| rule.error.clone().unwrap_or_else(|| "fake failure".into())),
                event,
                timestamp: Some(otpgate_http_kit::testing::unix_now() * 1000),
                message_token: Some(message_token),
                user_id: Some(format!("fake-user-{receiver}")),
            };
            let body = serde_json::to_vec(&callback).expect("a callback serializes");
            let signature = SIGNATURE.sign(&secret, &[&body]);
            Signed {
                headers: vec![(SIGNATURE_HEADER, signature)],
                body,
            }
        };
        fake.call_back(&rule, url, (&["delivered", "seen"], &["failed"]), signed);
    }
    HttpResponse::Ok().json(SendAnswer {
        status: 0,
        status_message: "ok".into(),
        message_token: Some(message_token),
    })
}
