//! The application's blocklist: `POST /v3/blocklist/phone/` with `{phone_number}` or `{prefix}`
//! (201, or 200 when already listed), `GET /v3/blocklist/phone/` (every entry), and
//! `DELETE /v3/blocklist/phone/{number or prefix}/` (204, 404 when not listed).
use super::error::ApiError;
use super::input::read_object;
use super::openapi::schemas as s;
use super::phone::phone_number;
use super::{authenticate, EngineData};
use crate::blocklist::{normalise_prefix, Entry, EntryKind};
use crate::engine::{now_ms, EngineError};
use crate::verification::iso8601;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

/// A blocklist entry: `type` and, under the key it names, the number or the prefix.
#[derive(Serialize, ToSchema)]
pub struct BlocklistEntry {
    #[serde(rename = "type")]
    #[schema(value_type = s::BlocklistKind)]
    kind: EntryKind,
    /// E.164, for `type: phone_number`.
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
    /// For `type: prefix`, e.g. `+88213`.
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    /// ISO 8601 (UTC) with milliseconds.
    #[schema(format = DateTime)]
    created_at: String,
}

/// Every entry of the application's blocklist, ordered by value.
#[derive(Serialize, ToSchema)]
pub struct BlocklistEntries {
    count: usize,
    results: Vec<BlocklistEntry>,
}

fn view(entry: &Entry) -> BlocklistEntry {
    let value = Some(entry.value.clone());
    let (phone_number, prefix) = match entry.kind {
        EntryKind::PhoneNumber => (value, None),
        EntryKind::Prefix => (None, value),
    };
    BlocklistEntry {
        kind: entry.kind,
        phone_number,
        prefix,
        created_at: iso8601(entry.created_at_ms),
    }
}

/// Adds a number or a prefix to the application's blocklist: sends to it are `Blocked`, checks
/// `Declined` with `PHONE_NUMBER_IN_BLOCKLIST`.
#[utoipa::path(
    post,
    path = "/v3/blocklist/phone/",
    operation_id = "blocklist_add",
    tag = "risk",
    security(("x-api-key" = [])),
    request_body = s::BlocklistBody,
    responses(
        (status = 201, description = "Added", body = BlocklistEntry),
        (status = 200, description = "Already listed", body = BlocklistEntry),
        (status = 400, description = "Neither or both of `phone_number` and `prefix`, or a bad one", body = ApiError),
    )
)]
pub async fn add(req: HttpRequest, payload: web::Payload, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let body = read_object(payload).await?;
    let (kind, value) = match (body.optional_value("phone_number"), body.optional_value("prefix")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "ambiguous",
                "give either phone_number or prefix, not both",
            ))
        }
        (Some(_), None) => (EntryKind::PhoneNumber, phone_number(&body, "phone_number")?.full_number),
        (None, Some(_)) => {
            let raw = body.required_str("prefix")?;
            let prefix = normalise_prefix(raw)
                .map_err(|why| ApiError::field("prefix", "invalid_format", format!("prefix {why}")))?;
            (EntryKind::Prefix, prefix)
        }
        (None, None) => {
            return Err(ApiError::field(
                "phone_number",
                "required",
                "phone_number (E.164, such as +14155552671) or prefix (such as +88213) is required",
            ))
        }
    };
    if let Some(existing) = engine.blocklist.get(&application, &value) {
        return Ok(HttpResponse::Ok().json(view(&existing)));
    }
    let entry = Entry {
        application,
        value,
        kind,
        created_at_ms: now_ms(),
    };
    // Durable first; sends see the entry once it would survive a restart.
    let created = engine
        .store
        .blocklist_add(entry.clone())
        .await
        .map_err(EngineError::from)?;
    if !created {
        // A concurrent request added it between our look-up and the write.
        return Ok(HttpResponse::Ok().json(view(&entry)));
    }
    engine.blocklist.insert(entry.clone());
    tracing::info!(application = %entry.application, kind = entry.kind.as_str(), "blocklist entry added");
    Ok(HttpResponse::Created().json(view(&entry)))
}

/// Lists the application's blocklist.
#[utoipa::path(
    get,
    path = "/v3/blocklist/phone/",
    operation_id = "blocklist_list",
    tag = "risk",
    security(("x-api-key" = [])),
    responses((status = 200, description = "Every entry", body = BlocklistEntries))
)]
pub async fn list(req: HttpRequest, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?;
    let results: Vec<_> = engine.blocklist.list(&application.name).iter().map(view).collect();
    Ok(HttpResponse::Ok().json(BlocklistEntries {
        count: results.len(),
        results,
    }))
}

/// Removes a number (in any spelling) or a prefix from the blocklist.
#[utoipa::path(
    delete,
    path = "/v3/blocklist/phone/{entry}/",
    operation_id = "blocklist_remove",
    tag = "risk",
    security(("x-api-key" = [])),
    params(("entry" = String, Path, description = "The number (E.164) or the prefix, `+` as is or as `%2B`", pattern = r"^\+?[1-9][0-9]{0,14}$", example = "+88213")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Not a number or prefix", body = ApiError),
        (status = 404, description = "Not in the blocklist", body = ApiError),
    )
)]
pub async fn remove(req: HttpRequest, path: web::Path<String>, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    // A '+' left unencoded in a path stays a '+'; an encoded one (%2B) arrives decoded.
    let value = normalise_prefix(path.trim())
        .map_err(|why| ApiError::bad_request("invalid_format", format!("blocklist entry {why}")))?;
    // A number is listed in its canonical spelling; it may be named in another.
    let Some(entry) = engine.blocklist.entry_for(&application, &value) else {
        return Err(ApiError::not_found(format!("{value} is not in the blocklist")));
    };
    engine
        .store
        .blocklist_remove(&application, &entry.value)
        .await
        .map_err(EngineError::from)?;
    engine.blocklist.remove(&application, &entry.value);
    tracing::info!(%application, kind = entry.kind.as_str(), "blocklist entry removed");
    Ok(HttpResponse::NoContent().finish())
}
