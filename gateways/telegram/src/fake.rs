//! A fake Telegram Gateway API platform for tests, benchmarks and local runs, on the kit's fake
//! server (rules, control routes, signed callbacks; see `otpgate_http_kit::testing`).
//!
//! It answers `sendVerificationMessage` and `checkSendAbility` with the documented shapes
//! after checking the Bearer token, and posts signed delivery reports (`delivered` then `read`,
//! or `expired` for a `fail` rule) to the send's `callback_url`. A `refuse` rule's `error` is a
//! Telegram error string (default `PHONE_NUMBER_INVALID`); a `throttle` rule with `retry_after`
//! answers `FLOOD_WAIT_<n>`, without it a bare HTTP 429.
use crate::wire::{CheckSendAbility, DeliveryStatus, Envelope, RequestStatus, SendVerificationMessage};
use crate::wire::{SIGNATURE, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use otpgate_http_kit::testing::{Fake, FakePlatform, Rule, Signed};
use otpgate_http_kit::unix_now;
use serde::{Deserialize, Serialize};

pub struct FakeTelegram;

/// One `sendVerificationMessage` the fake accepted, and the `request_id` it answered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Received {
    pub request_id: String,
    #[serde(flatten)]
    pub request: SendVerificationMessage,
}

fn refused(http: StatusCode, error: &str) -> HttpResponse {
    HttpResponse::build(http).json(Envelope::<RequestStatus> {
        ok: false,
        result: None,
        error: Some(error.to_owned()),
    })
}

impl FakePlatform for FakeTelegram {
    const NAME: &'static str = "fake-telegram";
    const SIGNS_WITH_TOKEN: bool = true;

    fn routes(config: &mut web::ServiceConfig) {
        config
            .route("/sendVerificationMessage", web::post().to(send_verification_message))
            .route("/checkSendAbility", web::post().to(check_send_ability));
    }

    fn refuse(rule: &Rule) -> HttpResponse {
        let http = rule.status.and_then(|s| StatusCode::from_u16(s).ok());
        refused(
            http.unwrap_or(StatusCode::BAD_REQUEST),
            rule.error.as_deref().unwrap_or("PHONE_NUMBER_INVALID"),
        )
    }

    fn throttle(rule: &Rule) -> HttpResponse {
        match rule.retry_after {
            Some(n) => refused(StatusCode::BAD_REQUEST, &format!("FLOOD_WAIT_{n}")),
            None => refused(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS"),
        }
    }

    fn unreadable(why: String) -> HttpResponse {
        refused(StatusCode::BAD_REQUEST, &format!("BAD_REQUEST: {why}"))
    }
}

fn request_status(fake: &Fake<FakeTelegram>, phone: &str, payload: Option<String>, state: &str) -> RequestStatus {
    RequestStatus {
        request_id: format!("fake-{}", fake.next_id()),
        phone_number: phone.to_owned(),
        request_cost: 0.01,
        payload,
        delivery_status: Some(DeliveryStatus {
            status: state.to_owned(),
            updated_at: unix_now() as i64,
        }),
    }
}

fn accepted(status: RequestStatus) -> HttpResponse {
    HttpResponse::Ok().json(Envelope {
        ok: true,
        result: Some(status),
        error: None,
    })
}

async fn send_verification_message(
    fake: web::Data<Fake<FakeTelegram>>,
    request: HttpRequest,
    body: web::Json<SendVerificationMessage>,
) -> HttpResponse {
    let Some(token) = fake.authorize_bearer(&request) else {
        return refused(StatusCode::UNAUTHORIZED, "ACCESS_TOKEN_INVALID");
    };
    let body = body.into_inner();
    let rule = fake.rule_for(&body.phone_number);
    if let Some(refusal) = fake.refusal(&rule).await {
        return refusal;
    }
    let status = request_status(&fake, &body.phone_number, body.payload.clone(), "sent");
    let callback_url = body.callback_url.clone();
    fake.record(&Received {
        request_id: status.request_id.clone(),
        request: body,
    });
    if let Some(url) = callback_url.or_else(|| fake.settings().callback_url.clone()) {
        let secret = fake.secret(&token);
        let signed = |state: String| {
            let mut report = status.clone();
            report.delivery_status = Some(DeliveryStatus {
                status: state,
                updated_at: unix_now() as i64,
            });
            let body = serde_json::to_vec(&report).expect("a report serializes");
            let timestamp = unix_now().to_string();
            let signature = SIGNATURE.sign(&secret, &[timestamp.as_bytes(), b"\n", &body]);
            Signed {
                headers: vec![(TIMESTAMP_HEADER, timestamp), (SIGNATURE_HEADER, signature)],
                body,
            }
        };
        fake.call_back(&rule, url, (&["delivered", "read"], &["expired"]), signed);
    }
    accepted(status)
}

async fn check_send_ability(
    fake: web::Data<Fake<FakeTelegram>>,
    request: HttpRequest,
    body: web::Json<CheckSendAbility>,
) -> HttpResponse {
    if fake.authorize_bearer(&request).is_none() {
        return refused(StatusCode::UNAUTHORIZED, "ACCESS_TOKEN_INVALID");
    }
    let rule = fake.rule_for(&body.phone_number);
    match fake.refusal(&rule).await {
        Some(refusal) => refusal,
        None => accepted(request_status(&fake, &body.phone_number, None, "sent")),
    }
}
