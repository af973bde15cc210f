//! Sessions (path A): `POST /v3/session/` (201), `GET /v3/session/{id}/decision/`,
//! `DELETE /v3/session/{id}/` (204), `PATCH /v3/session/{id}/update-status/` (a session In Review
//! approved or declined, with a comment; 409 for any other status).
use super::error::ApiError;
use super::input::read_object;
use super::openapi::schemas as s;
use super::phone::{metadata, vendor_data};
use super::{authenticate, EngineData};
use crate::actors::ResolveReview;
use crate::engine::{now_ms, EngineError};
use crate::number;
use crate::sessions::events::decision;
use crate::sessions::service::{self, Hosting};
use crate::sessions::{new_token, Session, SessionStatus};
use crate::store::SessionKey;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

const MAX_COMMENT: usize = 2048;

pub type HostingData = web::Data<Hosting>;

/// A new session: send the user to `session_url`.
#[derive(Serialize, ToSchema)]
pub struct SessionCreated {
    session_id: String,
    session_number: i64,
    /// The hosted page of this session (its token is the page's only key).
    session_url: String,
    /// `Not Started`.
    #[schema(value_type = s::SessionStatus)]
    status: SessionStatus,
    workflow_id: String,
    #[schema(required = true)]
    vendor_data: Option<String>,
    #[schema(value_type = Option<Object>)]
    #[schema(required = true)]
    metadata: Option<Value>,
    #[schema(required = true)]
    callback: Option<String>,
}

/// Creates a session (path A) of a workflow; the user verifies on its hosted page.
#[utoipa::path(
    post,
    path = "/v3/session/",
    operation_id = "session_create",
    tag = "hosted",
    security(("x-api-key" = [])),
    request_body = s::SessionBody,
    responses(
        (status = 201, description = "Created, `Not Started`", body = SessionCreated),
        (status = 400, description = "Bad body (an unknown `workflow_id` included); `field` names the field", body = ApiError),
    )
)]
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    engine: EngineData,
    hosting: HostingData,
) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let body = read_object(payload).await?;
    body.deny_unknown(&[
        "workflow_id",
        "vendor_data",
        "callback",
        "metadata",
        "contact_details",
        "language",
    ])?;
    let workflow_id = body.required_str("workflow_id")?;
    let workflow = engine
        .store
        .workflow(&application, workflow_id)
        .await
        .map_err(EngineError::from)?
        .ok_or_else(|| {
            ApiError::field(
                "workflow_id",
                "not_found",
                format!("workflow_id {workflow_id:?} is not a workflow of this application"),
            )
        })?;
    let callback = body
        .optional_str("callback")?
        .map(|url| {
            super::destinations::is_http_url(url)
                .then(|| url.to_owned())
                .ok_or_else(|| {
                    ApiError::field(
                        "callback",
                        "invalid_format",
                        "callback must be an http:// or https:// URL",
                    )
                })
        })
        .transpose()?;
    let contact_phone = match body.optional_object("contact_details")? {
        Some(contact) => contact
            .optional_str("phone")?
            .map(|raw| {
                number::parse(raw).map(|n| n.full_number).map_err(|e| {
                    ApiError::field(
                        "contact_details.phone",
                        "invalid_phone_number",
                        format!("contact_details.phone {e}"),
                    )
                })
            })
            .transpose()?,
        None => None,
    };
    let language = body
        .optional_str("language")?
        .map(|l| {
            (!l.is_empty() && l.len() <= 35 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                .then(|| l.to_owned())
                .ok_or_else(|| {
                    ApiError::field(
                        "language",
                        "invalid_value",
                        "language must be a language tag like en or es",
                    )
                })
        })
        .transpose()?;
    let token = new_token();
    let mut session = Session::new(
        &application,
        workflow,
        &token,
        vendor_data(&body)?,
        metadata(&body)?,
        callback,
        contact_phone,
        &hosting.times,
        now_ms(),
    );
    session.language = language;
    let session = engine.store.create_session(session).await.map_err(EngineError::from)?;
    service::entered(&hosting, SessionStatus::NotStarted);
    tracing::info!(%application, session_id = %session.id, session_number = session.number, "session created");
    Ok(HttpResponse::Created().json(SessionCreated {
        session_url: hosting.session_url(&token),
        session_id: session.id,
        session_number: session.number,
        status: session.status,
        workflow_id: session.workflow.id,
        vendor_data: session.vendor_data,
        metadata: session.metadata,
        callback: session.callback,
    }))
}

/// The application's session `id`, with a timeout that came due applied.
async fn find(engine: &EngineData, hosting: &Hosting, application: &str, id: &str) -> Result<Session, ApiError> {
    let session = engine
        .store
        .session(SessionKey::Id(id))
        .await
        .map_err(EngineError::from)?
        .filter(|s| s.application == application)
        .ok_or_else(|| ApiError::not_found(format!("no session {id}")))?;
    Ok(
        service::settle_timeout(engine.store.as_ref(), hosting, session, now_ms())
            .await
            .map_err(EngineError::from)?,
    )
}

/// The session's status and its verification's report.
#[utoipa::path(
    get,
    path = "/v3/session/{id}/decision/",
    operation_id = "session_decision",
    tag = "hosted",
    security(("x-api-key" = [])),
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The decision", body = s::Decision),
        (status = 404, description = "No such session", body = ApiError),
    )
)]
pub async fn decision_of(
    req: HttpRequest,
    path: web::Path<String>,
    engine: EngineData,
    hosting: HostingData,
) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let session = find(&engine, &hosting, &application, &path).await?;
    let verification = service::verification_of(engine.store.as_ref(), &session)
        .await
        .map_err(EngineError::from)?;
    Ok(HttpResponse::Ok().json(decision(&session, verification.as_ref())))
}

/// Deletes a session.
#[utoipa::path(
    delete,
    path = "/v3/session/{id}/",
    operation_id = "session_delete",
    tag = "hosted",
    security(("x-api-key" = [])),
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such session", body = ApiError),
    )
)]
pub async fn delete(req: HttpRequest, path: web::Path<String>, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let deleted = engine
        .store
        .delete_session(&application, &path)
        .await
        .map_err(EngineError::from)?;
    if !deleted {
        return Err(ApiError::not_found(format!("no session {}", path.as_str())));
    }
    tracing::info!(%application, session_id = %path.as_str(), "session deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Approves or declines a session In Review.
#[utoipa::path(
    patch,
    path = "/v3/session/{id}/update-status/",
    operation_id = "session_update_status",
    tag = "hosted",
    security(("x-api-key" = [])),
    params(("id" = String, Path, description = "The session's id")),
    request_body = s::UpdateStatusBody,
    responses(
        (status = 200, description = "The decision as it now is", body = s::Decision),
        (status = 400, description = "Bad body; `field` names the field", body = ApiError),
        (status = 404, description = "No such session", body = ApiError),
        (status = 409, description = "`invalid_status`: the session is not In Review", body = ApiError),
    )
)]
pub async fn update_status(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    engine: EngineData,
    hosting: HostingData,
) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let body = read_object(payload).await?;
    body.deny_unknown(&["new_status", "comment"])?;
    let approve = match body.required_str("new_status")? {
        "Approved" => true,
        "Declined" => false,
        other => {
            return Err(ApiError::field(
                "new_status",
                "invalid_choice",
                format!("new_status must be Approved or Declined, not {other:?}"),
            ))
        }
    };
    let comment = body.optional_str("comment")?.map(str::to_owned);
    if comment.as_ref().is_some_and(|c| c.len() > MAX_COMMENT) {
        return Err(ApiError::field(
            "comment",
            "too_long",
            format!("comment is longer than {MAX_COMMENT} bytes"),
        ));
    }
    let session = find(&engine, &hosting, &application, &path).await?;
    let not_in_review = |status: SessionStatus| {
        ApiError::new(
            StatusCode::CONFLICT,
            "invalid_status",
            format!(
                "the session is {}; only a session In Review can be approved or declined",
                status.as_str()
            ),
        )
    };
    if session.status != SessionStatus::InReview {
        return Err(not_in_review(session.status));
    }
    let hook = service::review_hook(session.clone(), approve, comment.clone(), application.clone());
    let verification = service::verification_of(engine.store.as_ref(), &session)
        .await
        .map_err(EngineError::from)?;
    let changed = match verification {
        // The verification is settled by its number's actor, with the session in one commit.
        Some(v) => {
            let key = (application.clone(), v.number.full_number.clone());
            let details = json!({ "reviewed_by": application, "comment": comment, "session_id": session.id });
            let review = ResolveReview {
                verification: v,
                approve,
                details,
                session: hook,
            };
            engine.registry.ask(&engine.actor_parts, &key, review).await??
        }
        None => match hook(None, now_ms()) {
            Some(update) => engine.store.update_session(update).await.map_err(EngineError::from)?,
            None => false,
        },
    };
    let now = engine
        .store
        .session(SessionKey::Id(&session.id))
        .await
        .map_err(EngineError::from)?
        .ok_or_else(|| ApiError::not_found(format!("no session {}", session.id)))?;
    if !changed || now.status == SessionStatus::InReview {
        return Err(not_in_review(now.status));
    }
    service::entered(&hosting, now.status);
    tracing::info!(%application, session_id = %now.id, status = now.status.as_str(), "session reviewed");
    let verification = service::verification_of(engine.store.as_ref(), &now)
        .await
        .map_err(EngineError::from)?;
    Ok(HttpResponse::Ok().json(decision(&now, verification.as_ref())))
}
