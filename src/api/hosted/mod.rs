//! The hosted verification page at `session_url` (path A): number entry, code entry, resend with
//! a countdown, the result. Server-rendered; plain HTML forms that work without script, which
//! `app.js` enhances (number check as you type, countdown, WebOTP, channel updates).
//!
//! | route | what |
//! |---|---|
//! | `GET /session/{token}/` | the page; opening it moves the session Not Started → In Progress |
//! | `POST /session/{token}/send` | `csrf`, `country` + `national` (or the locked number): sends the code |
//! | `POST /session/{token}/resend` | `csrf`: the same code again, after the cooldown |
//! | `POST /session/{token}/check` | `csrf`, `code` |
//! | other `POST /session/{token}/…` | 404 |
//! | `GET /session/{token}/status` | `{status, channel, fell_back_from}` for the page's script |
//! | `GET /hosted/app.js`, `/hosted/app.css` | the page's only script and style |
//!
//! Protection: the token (192 bits) is the session's only key and is stored hashed. Forms carry a
//! CSRF token, HMAC(server secret, session id, a random cookie that is `HttpOnly`,
//! `SameSite=Strict`), so a form posted from elsewhere, to another session, or without the cookie
//! changes nothing. Every answer has a strict Content-Security-Policy (scripts and styles from
//! the engine only, `frame-ancestors 'none'`), `Referrer-Policy: no-referrer` (the token never
//! leaks through links) and `Cache-Control: no-store`.
mod i18n;
mod page;

use super::error::ApiError;
use super::phone::{screen, Screened};
use super::sessions::HostingData;
use super::EngineData;
use crate::actors::{CheckCode, HostedSend, SendCode, SendStatus};
use crate::code;
use crate::engine::{now_ms, EngineError};
use crate::number::{self, NumberInfo};
use crate::number_state::{CheckResult, SendRequest};
use crate::sessions::service::{self, check_hook, send_hook, Hosting};
use crate::sessions::{token_digest, Session, SessionStatus};
use crate::store::SessionKey;
use crate::verification::Verification;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use i18n::{negotiate, Lang};
use otpgate_gateway::Channel;
use page::{CodeStep, Frame, NumberStep, View};
use std::collections::HashMap;
use std::time::Instant;

const COOKIE: &str = "otpgate_csrf";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/session/{token}/").route(web::get().to(show)))
        .service(web::resource("/session/{token}/status").route(web::get().to(status)))
        .service(web::resource("/session/{token}/{action}").route(web::post().to(act)))
        .service(
            web::resource("/hosted/app.js").route(web::get().to(|| asset(SCRIPT, "text/javascript; charset=utf-8"))),
        )
        .service(web::resource("/hosted/app.css").route(web::get().to(|| asset(STYLE, "text/css; charset=utf-8"))));
}

async fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}

/// One request to a session's page: the session (timeouts applied), the language, the cookie.
struct Visit {
    session: Session,
    lang: Lang,
    region: Option<String>,
    /// The browser's CSRF cookie, or a new one to set.
    cookie: String,
    cookie_is_new: bool,
}

/// A page answer: a status and a view, or a redirect back to the page.
enum Answer {
    Page(StatusCode, View),
    /// 303 to the page itself (`./`, with a query).
    Back(&'static str),
}

fn header_str(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The session named by the URL's token, or the "link does not work" page.
async fn visit(req: &HttpRequest, token: &str, engine: &EngineData, hosting: &Hosting) -> Result<Visit, HttpResponse> {
    let accept = header_str(req, header::ACCEPT_LANGUAGE);
    let found = if token.len() == 48 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
        engine
            .store
            .session(SessionKey::TokenDigest(&token_digest(token)))
            .await
    } else {
        Ok(None)
    };
    let session = match found {
        Ok(Some(session)) => session,
        Ok(None) => {
            let (lang, _) = negotiate(None, accept);
            let t = lang.texts();
            let frame = Frame {
                lang,
                app: "",
                csrf: "",
            };
            return Err(respond(
                hosting,
                None,
                StatusCode::NOT_FOUND,
                page::problem(&frame, t.invalid_link_title, t.invalid_link),
            ));
        }
        Err(e) => return Err(unavailable(hosting, accept, e.into())),
    };
    let session = match service::settle_timeout(engine.store.as_ref(), hosting, session, now_ms()).await {
        Ok(session) => session,
        Err(e) => return Err(unavailable(hosting, accept, e.into())),
    };
    let (lang, region) = negotiate(session.language.as_deref(), accept);
    let existing = req
        .cookie(COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    let cookie_is_new = existing.is_none();
    let cookie = existing.unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
    Ok(Visit {
        session,
        lang,
        region,
        cookie,
        cookie_is_new,
    })
}

fn unavailable(hosting: &Hosting, accept: Option<&str>, e: EngineError) -> HttpResponse {
    tracing::error!(error = %e, "hosted page could not read its session");
    let (lang, _) = negotiate(None, accept);
    let frame = Frame {
        lang,
        app: "",
        csrf: "",
    };
    let t = lang.texts();
    respond(
        hosting,
        None,
        StatusCode::SERVICE_UNAVAILABLE,
        page::problem(&frame, t.title, t.busy),
    )
}

/// The form token of this session in this browser.
fn csrf_token(engine: &EngineData, session: &Session, cookie: &str) -> String {
    hex::encode(engine.secret.mac(&format!("csrf:{}", session.id), cookie))
}

/// Why a posted form is refused (nothing is changed), if it is.
fn refused_form(engine: &EngineData, visit: &Visit, form: &HashMap<String, String>) -> Option<&'static str> {
    let t = visit.lang.texts();
    if visit.cookie_is_new {
        return Some(t.no_cookie);
    }
    let mut mac = [0u8; 32];
    let valid = form
        .get("csrf")
        .is_some_and(|field| hex::decode_to_slice(field, &mut mac).is_ok())
        && engine
            .secret
            .verify(&format!("csrf:{}", visit.session.id), &visit.cookie, &mac);
    (!valid).then_some(t.csrf)
}

/// Every hosted answer's headers, and the CSRF cookie when it is new.
fn respond(hosting: &Hosting, new_cookie: Option<&str>, status: StatusCode, body: maud::Markup) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(value) = new_cookie {
        let path = format!("{}/session/", url_path(&hosting.public_url));
        let cookie = Cookie::build(COOKIE, value.to_owned())
            .path(path)
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(hosting.public_url.starts_with("https://"))
            .finish();
        response.cookie(cookie);
    }
    response.body(body.into_string())
}

/// The path part of a URL without its trailing slash (`https://x/verify/` → `/verify`).
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("", |i| rest[i..].trim_end_matches('/'))
}

fn finish(engine: &EngineData, hosting: &Hosting, visit: &Visit, answer: Answer) -> HttpResponse {
    let new_cookie = visit.cookie_is_new.then_some(visit.cookie.as_str());
    match answer {
        Answer::Back(query) => {
            let mut response = HttpResponse::SeeOther();
            response
                .insert_header((header::LOCATION, format!("./{query}")))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header(("Referrer-Policy", "no-referrer"));
            response.finish()
        }
        Answer::Page(status, view) => {
            let csrf = csrf_token(engine, &visit.session, &visit.cookie);
            let frame = Frame {
                lang: visit.lang,
                app: &visit.session.application,
                csrf: &csrf,
            };
            respond(hosting, new_cookie, status, page::render(&frame, &view))
        }
    }
}

/// A problem answered on the page itself (status, message).
fn problem(visit: &Visit, status: StatusCode, title: &'static str, message: &'static str) -> Answer {
    Answer::Page(
        status,
        View::Problem {
            title: title.to_owned(),
            message: message.replace("{app}", &visit.session.application),
        },
    )
}

/// `+34 612 34 56 78`: a number as people read it (E.164 if libphonenumber cannot format it).
fn readable(e164: &str) -> String {
    phonenumber::parse(None, e164)
        .map(|n| n.format().mode(phonenumber::Mode::International).to_string())
        .unwrap_or_else(|_| e164.to_owned())
}

/// The channel the code first went out on, when a fallback moved it to another.
fn fell_back_from(v: &Verification) -> Option<Channel> {
    v.lifecycle
        .iter()
        .find(|e| e.kind == crate::verification::LifecycleKind::PhoneChannelFallback)
        .and_then(|e| e.details.as_ref()?.get("from")?.as_str()?.parse().ok())
}

/// What the page shows for the session as it stands.
async fn current_view(
    engine: &EngineData,
    hosting: &Hosting,
    visit: &Visit,
    change_number: bool,
    notice: Option<String>,
) -> Result<View, EngineError> {
    let session = &visit.session;
    if !session.status.is_open() {
        let continue_url = session.callback.as_ref().map(|callback| {
            let separator = if callback.contains('?') { '&' } else { '?' };
            let status = session.status.as_str().replace(' ', "%20");
            format!(
                "{callback}{separator}verificationSessionId={}&status={status}",
                session.id
            )
        });
        return Ok(View::Result {
            status: session.status,
            continue_url,
        });
    }
    let now = now_ms();
    let verification = service::verification_of(engine.store.as_ref(), session).await?;
    match verification.filter(|v| v.is_pending_at(now) && !change_number) {
        Some(v) => Ok(View::Code(code_step(engine, hosting, session, &v, now, None, notice))),
        None => Ok(View::Number(number_step(visit, None, String::new()))),
    }
}

fn number_step(visit: &Visit, error: Option<&str>, national: String) -> NumberStep {
    let session = &visit.session;
    let country = session
        .contact_phone
        .as_deref()
        .or(session.verification.as_ref().map(|v| v.phone.as_str()))
        .and_then(|phone| number::parse(phone).ok()?.country_code)
        .or_else(|| visit.region.clone())
        .filter(|iso| page::COUNTRIES.iter().any(|c| &c.iso == iso))
        .unwrap_or_else(|| "US".to_owned());
    NumberStep {
        country,
        national,
        locked: session.contact_phone.as_deref().map(readable),
        error: error.map(str::to_owned),
    }
}

fn code_step(
    engine: &EngineData,
    hosting: &Hosting,
    session: &Session,
    v: &Verification,
    now: i64,
    error: Option<String>,
    notice: Option<String>,
) -> CodeStep {
    let policy = session.workflow.phone.policy(&engine.policy);
    let resend_at = session.last_send_ms.unwrap_or(0) + hosting.times.resend_cooldown_ms;
    let max_sends = 1 + policy.max_resend_requests_per_24h as usize;
    CodeStep {
        phone: readable(&v.number.full_number),
        channel: v.channel,
        fell_back_from: fell_back_from(v),
        code_length: engine.policy.code_length,
        resend_in_seconds: ((resend_at - now).max(0) + 999) / 1000,
        resends_left: max_sends.saturating_sub(v.sends_ms.len()) as u32,
        error,
        notice,
    }
}

async fn show(
    req: HttpRequest,
    token: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
    engine: EngineData,
    hosting: HostingData,
) -> HttpResponse {
    let mut visit = match visit(&req, &token, &engine, &hosting).await {
        Ok(visit) => visit,
        Err(response) => return response,
    };
    let now = now_ms();
    if let Some(opened) = visit.session.open(&hosting.times, now) {
        match service::apply(
            engine.store.as_ref(),
            &hosting,
            &visit.session,
            opened.clone(),
            None,
            now,
        )
        .await
        {
            Ok(true) => visit.session = opened,
            Ok(false) => {
                if let Ok(Some(current)) = engine.store.session(SessionKey::Id(&visit.session.id)).await {
                    visit.session = current;
                }
            }
            Err(e) => return unavailable(&hosting, header_str(&req, header::ACCEPT_LANGUAGE), e.into()),
        }
    }
    let notice = query
        .contains_key("resent")
        .then(|| visit.lang.texts().resent.to_owned());
    match current_view(&engine, &hosting, &visit, query.contains_key("change"), notice).await {
        Ok(view) => finish(&engine, &hosting, &visit, Answer::Page(StatusCode::OK, view)),
        Err(e) => unavailable(&hosting, header_str(&req, header::ACCEPT_LANGUAGE), e),
    }
}

/// Reads the visit and its form, refusing a form without a valid CSRF token or a session that
/// is no longer in progress. `Err` is the finished answer.
async fn posted(
    req: &HttpRequest,
    token: &str,
    form: &HashMap<String, String>,
    engine: &EngineData,
    hosting: &Hosting,
) -> Result<Visit, HttpResponse> {
    let mut visit = visit(req, token, engine, hosting).await?;
    let t = visit.lang.texts();
    if let Some(why) = refused_form(engine, &visit, form) {
        tracing::info!(session_id = %visit.session.id, "hosted form refused: missing or wrong CSRF token");
        let answer = problem(&visit, StatusCode::FORBIDDEN, t.title, why);
        return Err(finish(engine, hosting, &visit, answer));
    }
    let now = now_ms();
    if let Some(opened) = visit.session.open(&hosting.times, now) {
        if let Ok(true) = service::apply(
            engine.store.as_ref(),
            hosting,
            &visit.session,
            opened.clone(),
            None,
            now,
        )
        .await
        {
            visit.session = opened;
        }
    }
    if visit.session.status != SessionStatus::InProgress {
        let (status, title, message) = match visit.session.status {
            SessionStatus::Expired => (StatusCode::GONE, t.expired_title, t.expired),
            SessionStatus::Abandoned => (StatusCode::GONE, t.abandoned_title, t.abandoned),
            _ => (StatusCode::CONFLICT, t.title, t.finished),
        };
        return Err(finish(engine, hosting, &visit, problem(&visit, status, title, message)));
    }
    Ok(visit)
}

/// The number a send form names: the locked one, or country + national digits (a leading `+`
/// means the person typed the whole international number).
fn submitted_number(session: &Session, form: &HashMap<String, String>) -> Option<NumberInfo> {
    if let Some(locked) = &session.contact_phone {
        return number::parse(locked).ok();
    }
    let national: String = form.get("national")?.chars().filter(|c| !c.is_whitespace()).collect();
    let e164 = if national.starts_with('+') {
        national
    } else {
        let country = form.get("country")?.parse::<phonenumber::country::Id>().ok()?;
        let parsed = phonenumber::parse(Some(country), &national).ok()?;
        parsed.format().mode(phonenumber::Mode::E164).to_string()
    };
    number::parse(&e164).ok()
}

/// The page's forms: `send`, `resend` and `check`, each after [`posted`]'s checks.
async fn act(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<HashMap<String, String>>,
    engine: EngineData,
    hosting: HostingData,
) -> HttpResponse {
    let (token, action) = path.into_inner();
    if !matches!(action.as_str(), "send" | "resend" | "check") {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such form; the page posts send, resend or check");
    }
    let visit = match posted(&req, &token, &form, &engine, &hosting).await {
        Ok(visit) => visit,
        Err(response) => return response,
    };
    let answer = match action.as_str() {
        "send" => send(&req, &form, &engine, &hosting, &visit).await,
        "resend" => resend(&req, &engine, &hosting, &visit).await,
        _ => check(&form, &engine, &hosting, &visit).await,
    };
    finish(&engine, &hosting, &visit, answer)
}

async fn send(
    req: &HttpRequest,
    form: &HashMap<String, String>,
    engine: &EngineData,
    hosting: &Hosting,
    visit: &Visit,
) -> Answer {
    let t = visit.lang.texts();
    let Some(number) = submitted_number(&visit.session, form) else {
        let national = form.get("national").cloned().unwrap_or_default();
        let mut step = number_step(visit, Some(t.invalid_number), national);
        if let Some(country) = form
            .get("country")
            .filter(|c| page::COUNTRIES.iter().any(|x| &x.iso == *c))
        {
            step.country = country.clone();
        }
        return Answer::Page(StatusCode::BAD_REQUEST, View::Number(step));
    };
    deliver(req, engine, hosting, visit, number, "").await
}

async fn resend(req: &HttpRequest, engine: &EngineData, hosting: &Hosting, visit: &Visit) -> Answer {
    let number = visit
        .session
        .verification
        .as_ref()
        .and_then(|v| number::parse(&v.phone).ok());
    match number {
        Some(number) => deliver(req, engine, hosting, visit, number, "?resent=1").await,
        None => Answer::Back(""),
    }
}

/// Sends the code for the session's verification to `number` through the number's actor, with
/// the workflow's limits; back to the page when a carrier took it.
async fn deliver(
    req: &HttpRequest,
    engine: &EngineData,
    hosting: &Hosting,
    visit: &Visit,
    number: NumberInfo,
    back: &'static str,
) -> Answer {
    let t = visit.lang.texts();
    let session = &visit.session;
    let now = now_ms();
    let wait_ms = session.last_send_ms.unwrap_or(i64::MIN / 2) + hosting.times.resend_cooldown_ms - now;
    if wait_ms > 0 {
        let message = t.wait_resend.replace("{n}", &((wait_ms + 999) / 1000).to_string());
        return page_with_error(engine, hosting, visit, StatusCode::TOO_MANY_REQUESTS, message).await;
    }
    let ip = req.peer_addr().map(|a| a.ip().to_string());
    let Screened {
        number,
        blocklisted,
        high_risk,
    } = match screen(engine, &session.application, number, ip.as_deref()).await {
        Ok(screened) => screened,
        Err(e) => return refused_send(engine, hosting, visit, e).await,
    };
    let key = (session.application.clone(), number.full_number.clone());
    let request = SendRequest {
        application: session.application.clone(),
        number,
        channel: None,
        preferred: session.workflow.phone.preferred_channel,
        blocklisted,
        high_risk,
        vendor_data: session.vendor_data.clone(),
        metadata: session.metadata.clone(),
        code_length: engine.policy.code_length,
        locale: visit.lang.tag().to_owned(),
    };
    let hosted = HostedSend {
        policy: session.workflow.phone.policy(&engine.policy),
        webotp_host: hosting.host().to_owned(),
        session: send_hook(session.clone()),
    };
    let message = SendCode {
        request,
        received: Instant::now(),
        hosted: Some(hosted),
    };
    let outcome = match engine.registry.ask(&engine.actor_parts, &key, message).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) | Err(e) => return refused_send(engine, hosting, visit, e.into()).await,
    };
    counted(engine, hosting, session).await;
    match outcome.status {
        SendStatus::Success | SendStatus::Retry => {
            engine.risk.record_send(&key.0, &key.1, now_ms());
            Answer::Back(back)
        }
        // Declined for risk: the session was declined with it; the page shows the result.
        SendStatus::Blocked => Answer::Back(""),
        SendStatus::Undeliverable => {
            page_with_error(
                engine,
                hosting,
                visit,
                StatusCode::UNPROCESSABLE_ENTITY,
                t.cant_send.to_owned(),
            )
            .await
        }
    }
}

/// The session's status as stored now, counted if it moved since `before`.
async fn counted(engine: &EngineData, hosting: &Hosting, before: &Session) {
    if let Ok(Some(now)) = engine.store.session(SessionKey::Id(&before.id)).await {
        if now.status != before.status {
            service::entered(hosting, now.status);
        }
    }
}

/// The page again, with `message` under its field.
async fn page_with_error(
    engine: &EngineData,
    hosting: &Hosting,
    visit: &Visit,
    status: StatusCode,
    message: String,
) -> Answer {
    let now = now_ms();
    let pending = service::verification_of(engine.store.as_ref(), &visit.session)
        .await
        .ok()
        .flatten()
        .filter(|v| v.is_pending_at(now));
    let view = match pending {
        Some(v) => View::Code(code_step(engine, hosting, &visit.session, &v, now, Some(message), None)),
        None => View::Number(number_step(visit, Some(&message), String::new())),
    };
    Answer::Page(status, view)
}

/// A send the engine refused before or while asking carriers, as a person reads it.
async fn refused_send(engine: &EngineData, hosting: &Hosting, visit: &Visit, e: ApiError) -> Answer {
    let t = visit.lang.texts();
    let message = match e.code {
        "rate_limited" => t.too_many.replace("{n}", &e.retry_after().unwrap_or(60).to_string()),
        "phone_provider_unavailable" => t.unavailable.to_owned(),
        _ => t.busy.to_owned(),
    };
    page_with_error(engine, hosting, visit, e.status(), message).await
}

async fn check(form: &HashMap<String, String>, engine: &EngineData, hosting: &Hosting, visit: &Visit) -> Answer {
    let t = visit.lang.texts();
    let session = &visit.session;
    let now = now_ms();
    let verification = match service::verification_of(engine.store.as_ref(), session).await {
        Ok(v) => v,
        Err(e) => return refused_send(engine, hosting, visit, EngineError::from(e).into()).await,
    };
    let Some(v) = verification.filter(|v| v.is_pending_at(now)) else {
        let step = number_step(visit, Some(t.code_expired), String::new());
        return Answer::Page(StatusCode::BAD_REQUEST, View::Number(step));
    };
    let code: String = form
        .get("code")
        .map_or(String::new(), |c| c.chars().filter(|c| !c.is_whitespace()).collect());
    if !code::is_well_formed(&code) {
        let error = Some(t.malformed_code.to_owned());
        return Answer::Page(
            StatusCode::BAD_REQUEST,
            View::Code(code_step(engine, hosting, session, &v, now, error, None)),
        );
    }
    let key = (session.application.clone(), v.number.full_number.clone());
    let message = CheckCode {
        code,
        actions: session.workflow.phone.risk_actions.actions(),
        blocklisted: engine.blocklist.matching_number(&key.0, &v.number),
        session: Some(check_hook(session.clone())),
    };
    let outcome = match engine.registry.ask(&engine.actor_parts, &key, message).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) | Err(e) => return refused_send(engine, hosting, visit, e.into()).await,
    };
    counted(engine, hosting, session).await;
    match outcome.result {
        CheckResult::Approved => {
            engine.risk.record_completion(&key.0, &key.1, now_ms());
            Answer::Back("")
        }
        CheckResult::Declined | CheckResult::InReview => Answer::Back(""),
        CheckResult::Failed { attempts_left } => {
            let error = Some(t.wrong_code.replace("{n}", &attempts_left.to_string()));
            let v = outcome.verification.unwrap_or(v);
            Answer::Page(
                StatusCode::BAD_REQUEST,
                View::Code(code_step(engine, hosting, session, &v, now, error, None)),
            )
        }
        CheckResult::NotFound => Answer::Page(
            StatusCode::BAD_REQUEST,
            View::Number(number_step(visit, Some(t.code_expired), String::new())),
        ),
    }
}

/// `GET /session/{token}/status`: what the page's script polls.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HostedStatus {
    #[schema(value_type = crate::api::openapi::schemas::SessionStatus)]
    status: crate::sessions::SessionStatus,
    /// The channel the code went out on, once sent.
    #[schema(value_type = Option<crate::api::openapi::schemas::Channel>)]
    #[schema(required = true)]
    channel: Option<Channel>,
    /// The channel it fell back from, if it did.
    #[schema(value_type = Option<crate::api::openapi::schemas::Channel>)]
    #[schema(required = true)]
    fell_back_from: Option<Channel>,
}

/// `{status, channel, fell_back_from}` for the page's script; no secrets, nothing changed.
async fn status(req: HttpRequest, token: web::Path<String>, engine: EngineData, hosting: HostingData) -> HttpResponse {
    let visit = match visit(&req, &token, &engine, &hosting).await {
        Ok(visit) => visit,
        Err(response) => return response,
    };
    let verification = service::verification_of(engine.store.as_ref(), &visit.session)
        .await
        .ok()
        .flatten();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .json(HostedStatus {
            status: visit.session.status,
            channel: verification.as_ref().and_then(|v| v.channel),
            fell_back_from: verification.as_ref().and_then(fell_back_from),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_path_follows_the_public_url() {
        assert_eq!(url_path("http://127.0.0.1:8080"), "");
        assert_eq!(url_path("https://x.example/verify/"), "/verify");
    }

    #[test]
    fn every_hosted_answer_forbids_framing_and_third_party_requests() {
        assert!(CSP.contains("frame-ancestors 'none'"));
        assert!(CSP.contains("default-src 'none'"));
        assert!(!CSP.contains("unsafe-inline"));
    }
}
