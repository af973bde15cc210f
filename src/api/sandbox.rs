//! `GET /v3/sandbox/messages/?phone_number=...`: what the sandbox channel "delivered" to a
//! number for the calling application, code included, newest first.
use super::error::ApiError;
use super::{authenticate, EngineData};
use crate::number;
use crate::verification::iso8601;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct Query {
    phone_number: Option<String>,
}

pub async fn messages(req: HttpRequest, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?;
    let Some(inbox) = &engine.inbox else {
        return Err(ApiError::not_found("the sandbox is disabled on this server"));
    };
    let query = web::Query::<Query>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request("invalid_query", format!("invalid query string: {e}")))?;
    let raw = query.phone_number.as_deref().ok_or_else(|| {
        ApiError::field(
            "phone_number",
            "required",
            "phone_number is required (URL-encode the + as %2B)",
        )
    })?;
    // An unencoded '+' arrives as a space; accept it rather than confuse the caller.
    let raw = raw
        .strip_prefix(' ')
        .map(|rest| format!("+{rest}"))
        .unwrap_or_else(|| raw.to_owned());
    let number = number::parse(&raw)
        .map_err(|e| ApiError::field("phone_number", "invalid_format", format!("phone_number {e}")))?;
    let results: Vec<_> = inbox
        .list(&application.name, &number.full_number)
        .into_iter()
        .map(|m| {
            json!({
                "message_id": m.message_id,
                "request_id": m.request_id,
                "phone_number": m.phone_number,
                "channel": m.channel,
                "text": m.text,
                "code": m.code,
                "created_at": iso8601(m.created_at_ms),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "count": results.len(), "results": results })))
}
