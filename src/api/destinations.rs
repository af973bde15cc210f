//! Webhook destinations: `POST /v3/webhook/destinations/` `{url, subscribed_events?}` → 201 with
//! `secret_shared_key` (shown this once), `GET /v3/webhook/destinations/` (`{count, results}`,
//! without secrets), `DELETE /v3/webhook/destinations/{id}/` (204; its undelivered events go too).
use super::error::ApiError;
use super::input::read_object;
use super::{authenticate, EngineData};
use crate::engine::{now_ms, EngineError};
use crate::outbox::{event_statuses, new_secret, Destination, EVENT_NAMES};
use crate::sessions::events::STATUS_UPDATED;
use crate::verification::iso8601;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

const MAX_URL: usize = 2048;

fn view(d: &Destination) -> Value {
    json!({
        "id": d.id,
        "url": d.url,
        "subscribed_events": d.subscribed_events,
        "created_at": iso8601(d.created_at_ms),
    })
}

/// An http(s) URL with a host, as a receiver's address.
pub(super) fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && url.len() <= MAX_URL
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

pub async fn add(req: HttpRequest, payload: web::Payload, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let body = read_object(payload).await?;
    body.deny_unknown(&["url", "subscribed_events"])?;
    let url = body.required_str("url")?;
    if !is_http_url(url) {
        return Err(ApiError::field(
            "url",
            "invalid_format",
            format!("url must be an http:// or https:// URL of at most {MAX_URL} characters"),
        ));
    }
    let events = body
        .optional_strings("subscribed_events")?
        .unwrap_or_else(|| vec![STATUS_UPDATED.to_owned()]);
    if events.is_empty() {
        return Err(ApiError::field(
            "subscribed_events",
            "required",
            format!("subscribed_events needs at least one of {EVENT_NAMES}"),
        ));
    }
    let mut statuses = 0;
    for (i, event) in events.iter().enumerate() {
        statuses |= event_statuses(event).ok_or_else(|| {
            ApiError::field(
                format!("subscribed_events[{i}]"),
                "invalid_choice",
                format!("subscribed_events[{i}] must be one of {EVENT_NAMES}, not {event:?}"),
            )
        })?;
    }
    let destination = Destination {
        id: uuid::Uuid::now_v7().to_string(),
        application,
        url: url.to_owned(),
        subscribed_events: events,
        statuses,
        secret: new_secret(),
        created_at_ms: now_ms(),
    };
    engine
        .store
        .add_destination(destination.clone())
        .await
        .map_err(EngineError::from)?;
    tracing::info!(application = %destination.application, destination_id = %destination.id, "webhook destination added");
    let mut answer = view(&destination);
    answer["secret_shared_key"] = destination.secret.clone().into();
    Ok(HttpResponse::Created().json(answer))
}

pub async fn list(req: HttpRequest, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let destinations = engine
        .store
        .destinations(&application)
        .await
        .map_err(EngineError::from)?;
    let results: Vec<Value> = destinations.iter().map(view).collect();
    Ok(HttpResponse::Ok().json(json!({ "count": results.len(), "results": results })))
}

pub async fn remove(req: HttpRequest, path: web::Path<String>, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let removed = engine
        .store
        .remove_destination(&application, &path)
        .await
        .map_err(EngineError::from)?;
    if !removed {
        return Err(ApiError::not_found(format!("no webhook destination {}", path.as_str())));
    }
    tracing::info!(%application, destination_id = %path.as_str(), "webhook destination removed");
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::is_http_url;

    #[test]
    fn receivers_are_http_urls() {
        assert!(is_http_url("https://hooks.example.com/didit"));
        assert!(is_http_url("http://127.0.0.1:9000/"));
        for bad in ["ftp://x", "https://", "http:///path", "https://a b", "example.com"] {
            assert!(!is_http_url(bad), "{bad}");
        }
    }
}
