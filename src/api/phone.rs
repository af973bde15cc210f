//! Standalone verification (Path B): `POST /v3/phone/send/` and `POST /v3/phone/check/`.
use super::error::ApiError;
use super::input::{read_object, Object};
use super::openapi::schemas as s;
use super::{authenticate, EngineData};
use crate::actors::{CheckCode, SendCode, SendStatus};
use crate::code;
use crate::config::{MAX_CODE_LENGTH, MIN_CODE_LENGTH};
use crate::engine::now_ms;
use crate::metrics as m;
use crate::number::{self, NumberInfo};
use crate::number_state::BlockReason;
use crate::number_state::{CheckResult, RiskAction, RiskActions, SendRequest};
use crate::risk::Refusal;
use crate::verification::{iso8601, PhoneReport};
use actix_web::{web, HttpRequest, HttpResponse};
use otpgate_gateway::Channel;
use serde::Serialize;
use serde_json::Value;
use std::time::Instant;
use utoipa::ToSchema;

/// `POST /v3/phone/send/` answer (CONTRACT §3).
#[derive(Serialize, ToSchema)]
pub struct SendResponse<'a> {
    /// The verification's id (a UUID); the same on a `Retry`.
    request_id: &'a str,
    #[schema(value_type = s::SendStatus)]
    status: &'static str,
    /// Why a send was `Blocked`; null otherwise.
    #[schema(value_type = Option<s::BlockReason>)]
    #[schema(required = true)]
    reason: Option<BlockReason>,
    /// The channel that took the message; null when none did.
    #[schema(value_type = Option<s::Channel>)]
    #[schema(required = true)]
    channel: Option<Channel>,
    #[schema(required = true)]
    vendor_data: Option<&'a str>,
    #[schema(value_type = Option<Object>)]
    #[schema(required = true)]
    metadata: Option<&'a Value>,
}

/// `POST /v3/phone/check/` answer (CONTRACT §3).
#[derive(Serialize, ToSchema)]
pub struct CheckResponse<'a> {
    /// Null when nothing was pending (`Expired or Not Found`).
    #[schema(required = true)]
    request_id: Option<&'a str>,
    #[schema(value_type = s::CheckStatus)]
    status: &'static str,
    message: String,
    /// The report when the verification is `Approved` or `Declined`; null otherwise.
    #[schema(value_type = Option<s::PhoneReport>)]
    #[schema(required = true)]
    phone: Option<PhoneReport<'a>>,
    #[schema(required = true)]
    vendor_data: Option<&'a str>,
    #[schema(value_type = Option<Object>)]
    #[schema(required = true)]
    metadata: Option<&'a Value>,
    /// ISO 8601 (UTC) with milliseconds.
    #[schema(format = DateTime)]
    #[schema(required = true)]
    created_at: Option<String>,
}

const MAX_VENDOR_DATA: usize = 1024;
const MAX_LOCALE: usize = 35;

pub(super) fn phone_number(body: &Object, key: &str) -> Result<NumberInfo, ApiError> {
    let raw = body.required_str(key)?;
    number::parse(raw).map_err(|e| {
        let code = match e {
            number::NumberError::NotE164 => "invalid_format",
            number::NumberError::Invalid => "invalid_phone_number",
        };
        ApiError::field(body.path(key), code, format!("{} {e}", body.path(key)))
    })
}

fn channel(body: &Object, key: &str) -> Result<Option<Channel>, ApiError> {
    body.optional_str(key)?
        .map(|raw| {
            Channel::from_request(raw).map_err(|_| {
                ApiError::field(
                    body.path(key),
                    "invalid_choice",
                    format!(
                        "{} must be one of SMS, WHATSAPP, TELEGRAM, RCS, VIBER, CALL, not {raw:?}",
                        body.path(key)
                    ),
                )
            })
        })
        .transpose()
}

pub(super) fn vendor_data(body: &Object) -> Result<Option<String>, ApiError> {
    let value = body.optional_str("vendor_data")?;
    if value.is_some_and(|v| v.len() > MAX_VENDOR_DATA) {
        return Err(ApiError::field(
            "vendor_data",
            "too_long",
            format!("vendor_data is longer than {MAX_VENDOR_DATA} bytes"),
        ));
    }
    Ok(value.map(str::to_owned))
}

pub(super) fn metadata(body: &Object) -> Result<Option<Value>, ApiError> {
    match body.optional_value("metadata") {
        Some(Value::Object(map)) => Ok(Some(Value::Object(map))),
        None => Ok(None),
        Some(_) => Err(ApiError::field(
            "metadata",
            "invalid_type",
            "metadata must be an object",
        )),
    }
}

/// A number that passed the checks made before its actor: enriched, and what the risk rules
/// found (the actor declines blocklisted and high-risk numbers without sending).
pub(super) struct Screened {
    pub number: NumberInfo,
    pub blocklisted: Option<crate::blocklist::Entry>,
    pub high_risk: Option<Value>,
}

/// The checks of every send, path A's as path B's: number intelligence, the blocklist, the
/// rate limits (429) and high-risk rules, then the lookup provider.
pub(super) async fn screen(
    engine: &crate::engine::Engine,
    application: &str,
    mut number: NumberInfo,
    ip: Option<&str>,
) -> Result<Screened, ApiError> {
    engine.intel.enrich(&mut number);
    let blocklisted = engine.blocklist.matching_number(application, &number);
    let mut high_risk = None;
    if blocklisted.is_none() {
        match engine
            .risk
            .admit_across_nodes(application, ip, &number.full_number, now_ms())
            .await
        {
            Ok(()) => {}
            Err(Refusal::RateLimited { scope, retry_after }) => {
                metrics::counter!(m::SENDS_RATE_LIMITED, "scope" => scope).increment(1);
                m::send_refused("rate_limit");
                return Err(ApiError::rate_limited(
                    retry_after,
                    format!("too many sends for this {scope}; retry later"),
                ));
            }
            Err(Refusal::HighRisk { details }) => high_risk = Some(details),
        }
    }
    // After the rate limits: a refused request must not cost a (paid) provider lookup.
    if let Some(lookup) = engine.lookup.as_ref().filter(|_| number.sandbox.is_none()) {
        if let Some(result) = lookup.lookup(&number.full_number).await {
            result.apply(&mut number);
        }
    }
    Ok(Screened {
        number,
        blocklisted,
        high_risk,
    })
}

/// Sends a code (Path B). Answers once a carrier accepted the first message.
#[utoipa::path(
    post,
    path = "/v3/phone/send/",
    operation_id = "phone_send",
    tag = "standalone",
    security(("x-api-key" = [])),
    request_body = s::SendBody,
    responses(
        (status = 200, description = "`Success` (a new verification), `Retry` (a resend of the pending one), `Blocked` (refused by anti-fraud; not billed) or `Undeliverable` (no channel could take it; not billed)", body = SendResponse),
        (status = 400, description = "Bad body; `field` names the field", body = ApiError),
        (status = 502, description = "`phone_provider_unavailable`: every carrier is down", body = ApiError),
    )
)]
pub async fn send(req: HttpRequest, payload: web::Payload, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let received = Instant::now();
    let application = authenticate(&req, &engine)?.name.clone();
    let body = read_object(payload).await?;
    let number = phone_number(&body, "phone_number")?;
    let pinned = channel(&body, "channel")?;
    let vendor_data = vendor_data(&body)?;
    let metadata = metadata(&body)?;
    let ip = match body.optional_object("signals")? {
        Some(signals) => signals
            .optional_str("ip")?
            .map(|raw| {
                raw.parse::<std::net::IpAddr>().map(|ip| ip.to_string()).map_err(|_| {
                    ApiError::field(
                        "signals.ip",
                        "invalid_format",
                        "signals.ip must be an IPv4 or IPv6 address",
                    )
                })
            })
            .transpose()?,
        None => None,
    };

    let mut code_length = engine.policy.code_length;
    let mut locale = "en".to_owned();
    let mut preferred = None;
    if let Some(options) = body.optional_object("options")? {
        if let Some(size) = options.optional_u32("code_size")? {
            if !(MIN_CODE_LENGTH..=MAX_CODE_LENGTH).contains(&size) {
                return Err(ApiError::field(
                    "options.code_size",
                    "out_of_range",
                    "options.code_size must be between 4 and 10",
                ));
            }
            code_length = size;
        }
        if let Some(l) = options.optional_str("locale")? {
            if l.is_empty()
                || l.len() > MAX_LOCALE
                || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ApiError::field(
                    "options.locale",
                    "invalid_value",
                    "options.locale must be a language tag like en or pt-BR",
                ));
            }
            locale = l.to_owned();
        }
        preferred = channel(&options, "preferred_channel")?;
    }

    let Screened {
        number,
        blocklisted,
        high_risk,
    } = screen(&engine, &application, number, ip.as_deref()).await?;
    let key = (application.clone(), number.full_number.clone());
    let full_number = number.full_number.clone();
    let request = SendRequest {
        application,
        number,
        channel: pinned,
        preferred,
        blocklisted,
        high_risk,
        vendor_data: vendor_data.clone(),
        metadata: metadata.clone(),
        code_length,
        locale,
    };
    let outcome = engine
        .registry
        .ask(
            &engine.actor_parts,
            &key,
            SendCode {
                request,
                received,
                hosted: None,
            },
        )
        .await??;
    if matches!(outcome.status, SendStatus::Success | SendStatus::Retry) {
        engine.risk.record_send(&key.0, &full_number, now_ms());
    }
    let status = match outcome.status {
        SendStatus::Success => "Success",
        SendStatus::Retry => "Retry",
        SendStatus::Blocked => "Blocked",
        SendStatus::Undeliverable => "Undeliverable",
    };
    Ok(HttpResponse::Ok().json(SendResponse {
        request_id: &outcome.request_id,
        status,
        reason: outcome.reason,
        channel: outcome.channel,
        vendor_data: vendor_data.as_deref(),
        metadata: metadata.as_ref(),
    }))
}

fn decline_action(body: &Object, key: &str) -> Result<RiskAction, ApiError> {
    match body.optional_str(key)? {
        None | Some("NO_ACTION") => Ok(RiskAction::Approve),
        Some("DECLINE") => Ok(RiskAction::Decline),
        Some(other) => Err(ApiError::field(
            key,
            "invalid_choice",
            format!("{key} must be NO_ACTION or DECLINE, not {other:?}"),
        )),
    }
}

/// Checks a code the user entered (Path B). Every outcome, a wrong code included, is a 200.
#[utoipa::path(
    post,
    path = "/v3/phone/check/",
    operation_id = "phone_check",
    tag = "standalone",
    security(("x-api-key" = [])),
    request_body = s::CheckBody,
    responses(
        (status = 200, description = "`Approved`, `Failed` (wrong code, attempts left), `Declined` (attempts exhausted, blocklisted, high risk…) or `Expired or Not Found`", body = CheckResponse),
        (status = 400, description = "Bad body; `field` names the field", body = ApiError),
    )
)]
pub async fn check(req: HttpRequest, payload: web::Payload, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let body = read_object(payload).await?;
    let number = phone_number(&body, "phone_number")?;
    let code = body.required_str("code")?;
    if !code::is_well_formed(code) {
        return Err(ApiError::field("code", "invalid_format", "code must be 4 to 10 digits"));
    }
    let vendor_data = vendor_data(&body)?;
    let actions = RiskActions {
        duplicated: decline_action(&body, "duplicated_phone_number_action")?,
        disposable: decline_action(&body, "disposable_number_action")?,
        voip: decline_action(&body, "voip_number_action")?,
    };

    let blocklisted = engine.blocklist.matching_number(&application, &number);
    let key = (application, number.full_number);
    let check = CheckCode {
        code: code.to_owned(),
        actions,
        blocklisted,
        session: None,
    };
    let outcome = engine.registry.ask(&engine.actor_parts, &key, check).await??;
    if outcome.result == CheckResult::Approved {
        engine.risk.record_completion(&key.0, &key.1, now_ms());
    }
    let (status, message) = match outcome.result {
        CheckResult::Approved => ("Approved", "The verification code is correct.".to_owned()),
        CheckResult::Failed { attempts_left } => (
            "Failed",
            format!("The verification code is incorrect; {attempts_left} attempt(s) left."),
        ),
        CheckResult::Declined => ("Declined", "The verification was declined.".to_owned()),
        // Path B has no Review action; a workflow's check answers through its session.
        CheckResult::InReview => ("In Review", "The verification is in review.".to_owned()),
        CheckResult::NotFound => (
            "Expired or Not Found",
            "No pending verification for this phone number, or it has expired.".to_owned(),
        ),
    };
    let v = outcome
        .verification
        .as_ref()
        .filter(|_| outcome.result != CheckResult::NotFound);
    let phone = v
        .filter(|_| matches!(outcome.result, CheckResult::Approved | CheckResult::Declined))
        .map(|v| v.report());
    Ok(HttpResponse::Ok().json(CheckResponse {
        request_id: v.map(|v| v.request_id.as_str()),
        status,
        message,
        phone,
        vendor_data: vendor_data
            .as_deref()
            .or_else(|| v.and_then(|v| v.vendor_data.as_deref())),
        metadata: v.and_then(|v| v.metadata.as_ref()),
        created_at: v.map(|v| iso8601(v.created_at_ms)),
    }))
}
