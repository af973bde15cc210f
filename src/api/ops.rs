//! Operations endpoints: liveness, readiness and Prometheus metrics. No key needed.
use super::EngineData;
use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use utoipa::ToSchema;

/// `status` of `GET /healthz` and `GET /readyz`.
#[derive(Serialize, ToSchema)]
pub enum Health {
    #[serde(rename = "ok")]
    Ok,
    #[serde(rename = "ready")]
    Ready,
    #[serde(rename = "not ready")]
    NotReady,
}

/// A liveness or readiness answer; `detail` says what is not ready.
#[derive(Serialize, ToSchema)]
pub struct HealthBody {
    status: Health,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

fn health(status: Health, detail: Option<String>) -> HealthBody {
    HealthBody { status, detail }
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses((status = 200, description = "Alive", body = HealthBody))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(health(Health::Ok, None))
}

/// Ready when the store answers a read and, with carriers configured, at least one is up. While
/// the store's last write batch failed (database unreachable, file system read-only, disk full:
/// [`crate::store::health`]), also a write must succeed (a small setting, `readiness-probe`), so
/// the node reports ready again as soon as the store takes writes, without waiting for traffic.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = HealthBody),
        (status = 503, description = "Not ready: no carrier is up, or the store does not answer", body = HealthBody),
    )
)]
pub async fn readyz(engine: EngineData) -> HttpResponse {
    if engine.router.any_carrier_up() == Some(false) {
        let body = health(Health::NotReady, Some("no carrier is up".to_owned()));
        return HttpResponse::ServiceUnavailable().json(body);
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
        Ok(()) => HttpResponse::Ok().json(health(Health::Ready, None)),
        Err(e) => HttpResponse::ServiceUnavailable().json(health(Health::NotReady, Some(e.to_string()))),
    }
}

/// Prometheus metrics (CONTRACT §7).
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain; version=0.0.4"))
)]
pub async fn metrics(handle: web::Data<PrometheusHandle>, engine: EngineData) -> HttpResponse {
    engine.router.refresh_metrics();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
