//! `POST /v3/channels/{carrier}/webhook/`: callbacks from channel platforms (WhatsApp status
//! webhooks, Telegram delivery reports, Viber callbacks, RCS events). No API key: each platform
//! signs its callbacks, and an unsigned, forged or replayed one is refused with 401 before
//! anything changes.
use super::error::ApiError;
use super::EngineData;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use std::collections::HashMap;

/// `GET /v3/channels/{carrier}/webhook/`: the platform's subscription check (WhatsApp sends
/// `hub.mode`, `hub.verify_token`, `hub.challenge` when the webhook is registered).
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
        Ok(applied) => Ok(HttpResponse::Ok().json(json!({ "applied": applied }))),
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
