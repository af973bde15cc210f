//! Webhook destinations: `POST /v3/webhook/destinations/` `{url, subscribed_events?}` → 201 with
//! `secret_shared_key` (shown this once), `GET /v3/webhook/destinations/` (`{count, results}`,
//! without secrets), `DELETE /v3/webhook/destinations/{id}/` (204; its undelivered events go too).
use super::error::ApiError;
use super::input::read_object;
use super::openapi::schemas as s;
use super::{authenticate, EngineData};
use crate::engine::{now_ms, EngineError};
use crate::outbox::{event_statuses, new_secret, Destination, EVENT_NAMES};
use crate::sessions::events::STATUS_UPDATED;
use crate::verification::iso8601;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

const MAX_URL: usize = 2048;

/// A webhook destination. `secret_shared_key` only in the answer that created it.
#[derive(Serialize, ToSchema)]
pub struct DestinationView {
    id: String,
    url: String,
    #[schema(value_type = Vec<s::WebhookEvent>)]
    subscribed_events: Vec<String>,
    /// ISO 8601 (UTC) with milliseconds.
    #[schema(format = DateTime)]
    created_at: String,
    /// The HMAC key of `X-Signature-V2` and `X-Signature-Simple`; shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_shared_key: Option<String>,
}

/// The application's webhook destinations, without secrets.
#[derive(Serialize, ToSchema)]
pub struct Destinations {
    count: usize,
    results: Vec<DestinationView>,
}

fn view(d: &Destination) -> DestinationView {
    DestinationView {
        id: d.id.clone(),
        url: d.url.clone(),
        subscribed_events: d.subscribed_events.clone(),
        created_at: iso8601(d.created_at_ms),
        secret_shared_key: None,
    }
}

/// An http(s) URL with a host, as a receiver's address.
pub(super) fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && url.len() <= MAX_URL
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Registers a receiver of session events (`status.updated` and the others named).
#[utoipa::path(
    post,
    path = "/v3/webhook/destinations/",
    operation_id = "webhook_destination_add",
    tag = "webhooks",
    security(("x-api-key" = [])),
    request_body = s::DestinationBody,
    responses(
        (status = 201, description = "Registered; `secret_shared_key` is shown this once", body = DestinationView),
        (status = 400, description = "Bad body; `field` names the field", body = ApiError),
    )
)]
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
    let answer = DestinationView {
        secret_shared_key: Some(destination.secret.clone()),
        ..view(&destination)
    };
    Ok(HttpResponse::Created().json(answer))
}

/// Lists the application's webhook destinations.
#[utoipa::path(
    get,
    path = "/v3/webhook/destinations/",
    operation_id = "webhook_destination_list",
    tag = "webhooks",
    security(("x-api-key" = [])),
    responses((status = 200, description = "Every destination, without secrets", body = Destinations))
)]
pub async fn list(req: HttpRequest, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let destinations = engine
        .store
        .destinations(&application)
        .await
        .map_err(EngineError::from)?;
    let results: Vec<_> = destinations.iter().map(view).collect();
    Ok(HttpResponse::Ok().json(Destinations {
        count: results.len(),
        results,
    }))
}

/// Removes a destination; its undelivered events go with it.
#[utoipa::path(
    delete,
    path = "/v3/webhook/destinations/{id}/",
    operation_id = "webhook_destination_remove",
    tag = "webhooks",
    security(("x-api-key" = [])),
    params(("id" = String, Path, description = "The destination's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such destination", body = ApiError),
    )
)]
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
