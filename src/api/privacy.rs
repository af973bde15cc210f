//! Delete on demand (issue 18): `DELETE /v3/phone/{phone_number}/` removes everything the calling
//! application's store holds about one number — its verifications, the messages carriers
//! accepted for them and their fallback plans, its hosted sessions and their undelivered webhook
//! events — and answers `200 {phone_number, deleted: {verifications, messages, fallbacks,
//! sessions, outbox}}` (row counts), or 404 when nothing was stored. Ledger
//! rows stay for billing: they never held the number. Didit and Twilio Verify have no such
//! endpoint (Twilio erases per account through support), so the path follows this API's
//! resource style. The number's actor does the delete and stops, so nothing it held is written
//! back (`actors::Forget`).
use super::error::ApiError;
use super::{authenticate, EngineData};
use crate::actors::Forget;
use crate::number;
use crate::store::Erased;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

/// The answer of a delete on demand: the number as stored (E.164) and the rows removed.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    /// The number, E.164.
    phone_number: String,
    /// Rows removed, by table.
    deleted: Erased,
}

/// `DELETE /v3/phone/{phone_number}/`: the number in E.164 (`+` as is or `%2B`).
#[utoipa::path(
    delete,
    path = "/v3/phone/{phone_number}/",
    operation_id = "phone_delete",
    tag = "standalone",
    security(("x-api-key" = [])),
    params(("phone_number" = String, Path, description = "The number in E.164 (`+` as is or `%2B`)")),
    responses(
        (status = 200, description = "Deleted: the rows removed, by table", body = Deleted),
        (status = 400, description = "`phone_number` is not a valid E.164 number", body = ApiError),
        (status = 404, description = "Nothing is stored for this number", body = ApiError),
    )
)]
pub async fn delete(req: HttpRequest, path: web::Path<String>, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let number = number::parse(path.trim()).map_err(|e| {
        let code = match e {
            number::NumberError::NotE164 => "invalid_format",
            number::NumberError::Invalid => "invalid_phone_number",
        };
        ApiError::field("phone_number", code, format!("phone_number {e}"))
    })?;
    let key = (application, number.full_number);
    let erased = engine.registry.ask(&engine.actor_parts, &key, Forget).await??;
    let total = erased.verifications + erased.messages + erased.fallbacks + erased.sessions + erased.outbox;
    // Counts only: neither the number nor the application's name reaches the log.
    tracing::info!(
        verifications = erased.verifications,
        messages = erased.messages,
        fallbacks = erased.fallbacks,
        sessions = erased.sessions,
        outbox = erased.outbox,
        "number data deleted on demand"
    );
    if total == 0 {
        return Err(ApiError::not_found("nothing is stored for this phone_number"));
    }
    Ok(HttpResponse::Ok().json(Deleted {
        phone_number: key.1,
        deleted: erased,
    }))
}
