//! Operations endpoints: liveness, readiness and Prometheus metrics. No key needed.
use super::EngineData;
use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready when the store answers a read and, with carriers configured, at least one is up. While
/// the store's last write batch failed (database unreachable, file system read-only, disk full:
/// [`crate::store::health`]), also a write must succeed (a small setting, `readiness-probe`), so
/// the node reports ready again as soon as the store takes writes, without waiting for traffic.
pub async fn readyz(engine: EngineData) -> HttpResponse {
    if engine.router.any_carrier_up() == Some(false) {
        return HttpResponse::ServiceUnavailable().json(json!({ "status": "not ready", "detail": "no carrier is up" }));
    }
    let probe = match engine.store.get_setting("readiness-probe").await {
        Ok(_) if crate::store::health::writes_failing() => {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            engine.store.put_setting("readiness-probe", &now_ms.to_string()).await
        }
        read => read.map(|_| ()),
    };
    match probe {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(e) => HttpResponse::ServiceUnavailable().json(json!({ "status": "not ready", "detail": e.to_string() })),
    }
}

pub async fn metrics(handle: web::Data<PrometheusHandle>, engine: EngineData) -> HttpResponse {
    engine.router.refresh_metrics();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
