//! The HTTP API (actix-web): routes, authentication, and the server function.
//!
//! Every `/v3/*` route needs `x-api-key`, but for `/v3/openapi.json` (the API's public
//! description, [`openapi`]) and the channel platforms' signed callbacks. Handlers validate input into typed requests, ask the
//! number's actor, and shape the answer; errors go through [`error::ApiError`]. Every request
//! first passes the request limits ([`limits`]); the listener speaks TLS when configured ([`tls`]).
mod billing;
mod blocklist;
mod channels;
mod destinations;
pub mod error;
mod hosted;
mod input;
pub mod limits;
pub mod openapi;
mod ops;
mod phone;
mod privacy;
mod sandbox;
mod sessions;
pub mod tls;
mod workflows;

use crate::applications::Application;
use crate::engine::Engine;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use error::ApiError;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

pub use input::MAX_BODY_BYTES;

type EngineData = web::Data<Engine>;

/// The application named by the request's `x-api-key`.
fn authenticate<'a>(req: &HttpRequest, engine: &'a Engine) -> Result<&'a Application, ApiError> {
    let key = req
        .headers()
        .get("x-api-key")
        .ok_or_else(|| ApiError::unauthorized("missing x-api-key header"))?
        .to_str()
        .map_err(|_| ApiError::unauthorized("x-api-key is not a valid key"))?;
    engine
        .applications
        .authenticate(key)
        .ok_or_else(|| ApiError::unauthorized("x-api-key is not a valid key"))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no endpoint {} {}",
        req.method(),
        req.path()
    )))
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.path()),
    ))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    let resource = |path: &str, route: actix_web::Route| {
        web::resource(path.to_owned())
            .route(route)
            .default_service(web::to(method_not_allowed))
    };
    cfg.service(resource("/v3/phone/send/", web::post().to(phone::send)))
        .service(resource("/v3/phone/check/", web::post().to(phone::check)))
        .service(resource("/v3/phone/{phone_number}/", web::delete().to(privacy::delete)))
        .service(resource("/v3/sandbox/messages/", web::get().to(sandbox::messages)))
        .service(
            web::resource("/v3/blocklist/phone/")
                .route(web::post().to(blocklist::add))
                .route(web::get().to(blocklist::list))
                .default_service(web::to(method_not_allowed)),
        )
        .service(resource(
            "/v3/blocklist/phone/{entry}/",
            web::delete().to(blocklist::remove),
        ))
        .service(resource("/v3/billing/usage/", web::get().to(billing::usage)))
        .service(
            web::resource("/v3/channels/{carrier}/webhook/")
                .route(web::post().to(channels::webhook))
                .route(web::get().to(channels::verify))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/v3/workflows/")
                .route(web::post().to(workflows::create))
                .route(web::get().to(workflows::list))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/v3/workflows/{id}/")
                .route(web::get().to(workflows::get))
                .route(web::patch().to(workflows::update))
                .route(web::delete().to(workflows::delete))
                .default_service(web::to(method_not_allowed)),
        )
        .service(resource("/v3/session/", web::post().to(sessions::create)))
        .service(resource(
            "/v3/session/{id}/decision/",
            web::get().to(sessions::decision_of),
        ))
        .service(resource(
            "/v3/session/{id}/update-status/",
            web::patch().to(sessions::update_status),
        ))
        .service(resource("/v3/session/{id}/", web::delete().to(sessions::delete)))
        .service(
            web::resource("/v3/webhook/destinations/")
                .route(web::post().to(destinations::add))
                .route(web::get().to(destinations::list))
                .default_service(web::to(method_not_allowed)),
        )
        .service(resource(
            "/v3/webhook/destinations/{id}/",
            web::delete().to(destinations::remove),
        ))
        .configure(hosted::routes)
        .service(resource("/healthz", web::get().to(ops::healthz)))
        .service(resource("/readyz", web::get().to(ops::readyz)))
        .service(resource("/metrics", web::get().to(ops::metrics)))
        .service(resource(openapi::PATH, web::get().to(openapi::document)));
}

/// How the server listens: its worker count, the request limits of every endpoint, and TLS.
pub struct Listening {
    pub workers: usize,
    pub limits: Arc<limits::Limits>,
    /// HTTPS with these settings; plain HTTP when `None`.
    pub tls: Option<rustls::ServerConfig>,
}

/// Builds the HTTP server on an already bound listener (tests bind port 0). Signals are left to
/// the caller (`serve::run`): actix-server's own handler would stop the whole actix system on
/// SIGTERM, taking the carrier binds down before they could unbind. `ServerHandle::stop(true)`
/// drains in-flight requests before the server's future resolves.
pub fn server(
    listener: std::net::TcpListener,
    engine: Arc<Engine>,
    metrics: PrometheusHandle,
    hosting: Arc<crate::sessions::service::Hosting>,
    listening: Listening,
) -> std::io::Result<actix_web::dev::Server> {
    let engine = web::Data::from(engine);
    let metrics = web::Data::new(metrics);
    let hosting = web::Data::from(hosting);
    let request_limits = web::Data::from(listening.limits);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(engine.clone())
            .app_data(metrics.clone())
            .app_data(hosting.clone())
            .app_data(request_limits.clone())
            .configure(routes)
            .default_service(web::to(not_found))
            .wrap(actix_web::middleware::from_fn(limits::enforce))
    });
    let server = match listening.tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    };
    let server = server
        .workers(listening.workers)
        .shutdown_timeout(30)
        .disable_signals()
        .run();
    Ok(server)
}
