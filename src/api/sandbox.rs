//! `GET /v3/sandbox/messages/?phone_number=...`: what the sandbox channel "delivered" to a
//! number for the calling application, code included, newest first.
use super::error::ApiError;
use super::openapi::schemas as s;
use super::{authenticate, EngineData};
use crate::number;
use crate::verification::iso8601;
use actix_web::{web, HttpRequest, HttpResponse};
use otpgate_gateway::Channel;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize)]
pub struct Query {
    phone_number: Option<String>,
}

/// One message the sandbox "delivered".
#[derive(Serialize, ToSchema)]
pub struct SandboxMessage {
    message_id: String,
    request_id: String,
    /// E.164.
    phone_number: String,
    #[schema(value_type = s::Channel)]
    channel: Channel,
    /// The message as the user would have read it.
    text: String,
    /// The code it carried.
    code: String,
    /// ISO 8601 (UTC) with milliseconds.
    #[schema(format = DateTime)]
    created_at: String,
}

/// The sandbox inbox of one number, newest first.
#[derive(Serialize, ToSchema)]
pub struct SandboxMessages {
    count: usize,
    results: Vec<SandboxMessage>,
}

/// Lists what the sandbox channels "delivered" to a number, code included, newest first.
#[utoipa::path(
    get,
    path = "/v3/sandbox/messages/",
    operation_id = "sandbox_messages",
    tag = "sandbox",
    security(("x-api-key" = [])),
    params(("phone_number" = String, Query, description = "E.164 (URL-encode the `+` as `%2B`)", pattern = r"^\+[1-9][0-9]{1,14}$", example = "+12025550123")),
    responses(
        (status = 200, description = "The messages", body = SandboxMessages),
        (status = 400, description = "`phone_number` missing or not a number", body = ApiError),
        (status = 404, description = "The sandbox is disabled on this server", body = ApiError),
    )
)]
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
        .map(|m| SandboxMessage {
            created_at: iso8601(m.created_at_ms),
            message_id: m.message_id,
            request_id: m.request_id,
            phone_number: m.phone_number,
            channel: m.channel,
            text: m.text,
            code: m.code,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SandboxMessages {
        count: results.len(),
        results,
    }))
}
