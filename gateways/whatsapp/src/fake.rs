//! A fake WhatsApp Cloud API for tests and local runs, on the kit's fake server (rules, control
//! routes, signed callbacks; see `otpgate_http_kit::testing`).
//!
//! It checks the Bearer token (401, code 190) and the authentication-template body (a missing
//! button parameter: 400, code 131008) as the platform does, and posts status webhooks signed
//! with the app secret (`--secret`) to the webhook URL (`--callback-url`): `sent`, `delivered`,
//! `read` by default, `sent` then `failed` for a `fail` rule. A `refuse` rule's `error` is a
//! Graph code (default 131026, not a WhatsApp user), with HTTP `status` (default 400).
use crate::wire::{self, Status, StatusError, SIGNATURE, SIGNATURE_HEADER};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use otpgate_http_kit::testing::{Fake, FakePlatform, Rule, Signed};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub struct FakeWhatsApp;

/// One send the fake took.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Received {
    pub to: String,
    pub template: String,
    pub language: String,
    /// The body parameter and the URL-button parameter, as sent.
    pub body_code: Option<String>,
    pub button_code: Option<String>,
    pub wamid: String,
}

fn graph_refusal(status: u16, code: i64, message: &str) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(wire::graph_error_body(code, message))
}

impl FakePlatform for FakeWhatsApp {
    const NAME: &'static str = "fake-whatsapp";

    fn routes(config: &mut web::ServiceConfig) {
        config.route("/{phone_number_id}/messages", web::post().to(send));
    }

    fn refuse(rule: &Rule) -> HttpResponse {
        let code = rule.error.as_deref().and_then(|e| e.parse().ok()).unwrap_or(131026);
        graph_refusal(rule.status.unwrap_or(400), code, &format!("(#{code}) refused by rule"))
    }

    fn throttle(_rule: &Rule) -> HttpResponse {
        graph_refusal(429, 130429, "(#130429) Rate limit hit")
    }

    fn unreadable(why: String) -> HttpResponse {
        graph_refusal(400, 100, &format!("(#100) {why}"))
    }
}

/// A refusal's Graph code and message.
type Refusal = (i64, &'static str);

const INVALID_PARAMETER: Refusal = (100, "(#100) Invalid parameter");

/// Checks the documented authentication-template shape; `Err` is the platform's refusal.
fn validate(body: &Value) -> Result<Received, Refusal> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let to = text(&body["to"]).filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()));
    let (Some(to), Some("whatsapp"), Some("template")) =
        (to, body["messaging_product"].as_str(), body["type"].as_str())
    else {
        return Err(INVALID_PARAMETER);
    };
    let template = &body["template"];
    let (Some(name), Some(language)) = (text(&template["name"]), text(&template["language"]["code"])) else {
        return Err(INVALID_PARAMETER);
    };
    let components = template["components"].as_array().cloned().unwrap_or_default();
    let parameter = |pick: &dyn Fn(&Value) -> bool| {
        components
            .iter()
            .find(|c| pick(c))
            .and_then(|c| text(&c["parameters"][0]["text"]))
    };
    let body_code = parameter(&|c| c["type"] == "body");
    let button_code = parameter(&|c| c["type"] == "button" && c["sub_type"] == "url");
    if body_code.is_none() || button_code.is_none() {
        return Err((131008, "(#131008) Required parameter is missing"));
    }
    Ok(Received {
        to,
        template: name,
        language,
        body_code,
        button_code,
        wamid: String::new(),
    })
}

async fn send(fake: web::Data<Fake<FakeWhatsApp>>, request: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    let Some(token) = fake.authorize_bearer(&request) else {
        return graph_refusal(401, 190, "Invalid OAuth access token - Cannot parse access token");
    };
    let mut received = match validate(&body) {
        Ok(received) => received,
        Err((code, text)) => return graph_refusal(400, code, text),
    };
    let rule = fake.rule_for(&received.to);
    if let Some(refusal) = fake.refusal(&rule).await {
        return refusal;
    }
    let to = received.to.clone();
    let wamid = format!("wamid.FAKE{:08}", fake.next_id());
    received.wamid = wamid.clone();
    fake.record(&received);
    if let Some(url) = fake.settings().callback_url.clone() {
        let code = rule.error.as_deref().and_then(|e| e.parse().ok()).unwrap_or(131026);
        let phone_number_id = request.match_info().get("phone_number_id").unwrap_or("0").to_owned();
        let secret = fake.secret(&token);
        let signed = |state: String| {
            let error = (state == "failed").then_some(code);
            let status = Status {
                id: wamid.clone(),
                status: state,
                recipient_id: to.clone(),
                errors: error
                    .map(|code| {
                        vec![StatusError {
                            code,
                            title: "Message undeliverable".into(),
                        }]
                    })
                    .unwrap_or_default(),
            };
            let body = wire::status_webhook(&phone_number_id, &status, otpgate_http_kit::unix_now()).to_string();
            let signature = SIGNATURE.sign(&secret, &[body.as_bytes()]);
            Signed {
                headers: vec![(SIGNATURE_HEADER, signature)],
                body: body.into_bytes(),
            }
        };
        fake.call_back(
            &rule,
            url,
            (&["sent", "delivered", "read"], &["sent", "failed"]),
            signed,
        );
    }
    HttpResponse::Ok().json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": wamid }]
    }))
}
