//! `POST /v3/channels/{carrier}/webhook/`: callbacks from channel platforms (WhatsApp status
//! webhooks, Telegram delivery reports, Viber callbacks, RCS events). No API key: each platform
//! signs its callbacks, and an unsigned, forged or replayed one is refused with 401 before
//! anything changes.
use super::error::ApiError;
use super::EngineData;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// A callback taken.
#[derive(Serialize, ToSchema)]
pub struct Applied {
    /// How many delivery updates it carried that changed something.
    applied: usize,
}

/// `GET /v3/channels/{carrier}/webhook/`: the platform's subscription check (WhatsApp sends
/// `hub.mode`, `hub.verify_token`, `hub.challenge` when the webhook is registered).
#[utoipa::path(
    get,
    path = "/v3/channels/{carrier}/webhook/",
    operation_id = "channel_subscription_check",
    tag = "channels",
    params(
        ("carrier" = String, Path, description = "A `[[carriers]]` name of the config"),
        ("hub.mode" = Option<String>, Query, description = "`subscribe`"),
        ("hub.verify_token" = Option<String>, Query),
        ("hub.challenge" = Option<String>, Query, description = "Echoed back"),
    ),
    responses(
        (status = 200, description = "The challenge, echoed", body = String, content_type = "text/plain"),
        (status = 400, description = "Bad query string", body = ApiError),
        (status = 403, description = "Not a subscription check, or a wrong token", body = ApiError),
        (status = 404, description = "No carrier of that name takes subscription checks", body = ApiError),
    )
)]
pub async fn verify(
    carrier: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
    engine: EngineData,
) -> Result<HttpResponse, ApiError> {
    let verifier = engine
        .webhooks
        .verifier(&carrier)
        .ok_or_else(|| ApiError::not_found(format!("no carrier {carrier:?} takes subscription checks")))?;
    match verifier(&query) {
        Some(challenge) => Ok(HttpResponse::Ok().content_type("text/plain").body(challenge)),
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_verify_token",
            "hub.mode is not subscribe or hub.verify_token does not match",
        )),
    }
}

/// A channel platform's callback: delivery reports and statuses, signed the platform's way
/// (e.g. WhatsApp's `X-Hub-Signature-256`, Telegram's `X-Request-Signature`). No API key.
#[utoipa::path(
    post,
    path = "/v3/channels/{carrier}/webhook/",
    operation_id = "channel_callback",
    tag = "channels",
    params(("carrier" = String, Path, description = "A `[[carriers]]` name of the config")),
    request_body(content = Object, description = "The platform's own callback body", content_type = "application/json"),
    responses(
        (status = 200, description = "Taken", body = Applied),
        (status = 400, description = "`invalid_callback`: not a callback of that platform", body = ApiError),
        (status = 401, description = "`invalid_signature`: unsigned, forged or replayed", body = ApiError),
        (status = 404, description = "No carrier of that name takes callbacks", body = ApiError),
    )
)]
pub async fn webhook(
    req: HttpRequest,
    carrier: web::Path<String>,
    body: web::Bytes,
    engine: EngineData,
) -> Result<HttpResponse, ApiError> {
    let handler = engine
        .webhooks
        .get(&carrier)
        .ok_or_else(|| ApiError::not_found(format!("no carrier {carrier:?} takes callbacks")))?;
    let headers = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    match handler(&headers, &body) {
        Ok(applied) => Ok(HttpResponse::Ok().json(Applied { applied })),
        Err(rejection) => {
            metrics::counter!(crate::metrics::WEBHOOKS_REJECTED, "carrier" => carrier.clone()).increment(1);
            tracing::warn!(carrier = %carrier, %rejection, "callback refused");
            let status = StatusCode::from_u16(rejection.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            let code = if status == StatusCode::UNAUTHORIZED {
                "invalid_signature"
            } else {
                "invalid_callback"
            };
            Err(ApiError::new(status, code, rejection.to_string()))
        }
    }
}
