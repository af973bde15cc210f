//! Operations endpoints: liveness, readiness and Prometheus metrics. No key needed.
use super::EngineData;
use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready when the store answers a read and, with carriers configured, at least one is up.
pub async fn readyz(engine: EngineData) -> HttpResponse {
    if engine.router.any_carrier_up() == Some(false) {
        return HttpResponse::ServiceUnavailable().json(json!({ "status": "not ready", "detail": "no carrier is up" }));
    }
    match engine.store.get_setting("readiness-probe").await {
        Ok(_) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(e) => HttpResponse::ServiceUnavailable().json(json!({ "status": "not ready", "detail": e.to_string() })),
    }
}

pub async fn metrics(handle: web::Data<PrometheusHandle>, engine: EngineData) -> HttpResponse {
    engine.router.refresh_metrics();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
