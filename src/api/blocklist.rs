//! The application's blocklist: `POST /v3/blocklist/phone/` with `{phone_number}` or `{prefix}`
//! (201, or 200 when already listed), `GET /v3/blocklist/phone/` (every entry), and
//! `DELETE /v3/blocklist/phone/{number or prefix}/` (204, 404 when not listed).
use super::error::ApiError;
use super::input::read_object;
use super::phone::phone_number;
use super::{authenticate, EngineData};
use crate::blocklist::{normalise_prefix, Entry, EntryKind};
use crate::engine::{now_ms, EngineError};
use crate::verification::iso8601;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

fn view(entry: &Entry) -> Value {
    json!({
        "type": entry.kind,
        entry.kind.as_str(): entry.value,
        "created_at": iso8601(entry.created_at_ms),
    })
}

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

pub async fn list(req: HttpRequest, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?;
    let results: Vec<Value> = engine.blocklist.list(&application.name).iter().map(view).collect();
    Ok(HttpResponse::Ok().json(json!({ "count": results.len(), "results": results })))
}

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
