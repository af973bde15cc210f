//! Workflows (path A): `POST /v3/workflows/` (201), `GET /v3/workflows/` (array, oldest first),
//! `GET|PATCH|DELETE /v3/workflows/{id}/`. Body: `workflow_label` and `features`, an array with
//! the one entry `{feature: "PHONE", config: {...}}` (UPPERCASE, strict). PATCH replaces what it
//! names: the label, or the whole features array (as Didit's does).
use super::error::ApiError;
use super::input::{read_object, Object};
use super::openapi::schemas as s;
use super::{authenticate, EngineData};
use crate::engine::{now_ms, EngineError};
use crate::workflows::{parse_action, PhoneSettings, Workflow, WorkflowRiskActions, CONFIGURABLE_RISKS, PHONE};
use actix_web::{web, HttpRequest, HttpResponse};
use otpgate_gateway::Channel;

const MAX_LABEL: usize = 128;
const DEFAULT_LABEL: &str = "Phone verification";
const CONFIG_KEYS: [&str; 5] = [
    "preferred_channel",
    "code_validity_seconds",
    "max_code_attempts",
    "max_resend_requests_per_24h",
    "risk_actions",
];
/// Didit's other features: named in the error, so a caller knows why theirs was refused.
const OTHER_FEATURES: [&str; 8] = [
    "OCR",
    "ID_VERIFICATION",
    "LIVENESS",
    "FACE_MATCH",
    "AML",
    "IP_ANALYSIS",
    "EMAIL",
    "QUESTIONNAIRE",
];

fn label(body: &Object) -> Result<Option<String>, ApiError> {
    let Some(label) = body.optional_str("workflow_label")? else {
        return Ok(None);
    };
    if label.trim().is_empty() || label.chars().count() > MAX_LABEL {
        return Err(ApiError::field(
            "workflow_label",
            "invalid_value",
            format!("workflow_label must be 1 to {MAX_LABEL} characters"),
        ));
    }
    Ok(Some(label.to_owned()))
}

fn within<T: Copy + PartialOrd + std::fmt::Display>(
    config: &Object,
    key: &str,
    value: Option<T>,
    low: T,
    high: T,
) -> Result<Option<T>, ApiError> {
    match value {
        Some(v) if v < low || v > high => Err(ApiError::field(
            config.path(key),
            "out_of_range",
            format!("{} must be between {low} and {high}", config.path(key)),
        )),
        other => Ok(other),
    }
}

/// The PHONE feature's settings from `features`.
fn phone_settings(body: &Object) -> Result<PhoneSettings, ApiError> {
    let features = body.optional_objects("features")?.ok_or_else(|| {
        ApiError::field(
            "features",
            "required",
            "features is required: [{\"feature\": \"PHONE\"}]",
        )
    })?;
    let mut phone = None;
    for item in &features {
        item.deny_unknown(&["feature", "config"])?;
        let name = item.required_str("feature")?;
        let path = item.path("feature");
        if name != PHONE {
            let detail = if name.eq_ignore_ascii_case(PHONE) {
                format!("{path} must be \"PHONE\" (UPPERCASE), not {name:?}")
            } else if OTHER_FEATURES.contains(&name) {
                format!("{path}: {name} is not available; this engine verifies phone numbers only (PHONE)")
            } else {
                format!("{path} must be \"PHONE\", not {name:?}")
            };
            return Err(ApiError::field(path, "invalid_choice", detail));
        }
        if phone.is_some() {
            return Err(ApiError::field(path, "duplicate", "features lists PHONE twice"));
        }
        phone = Some(match item.optional_object("config")? {
            Some(config) => phone_config(&config)?,
            None => PhoneSettings::default(),
        });
    }
    phone.ok_or_else(|| ApiError::field("features", "required", "features must contain {\"feature\": \"PHONE\"}"))
}

fn phone_config(config: &Object) -> Result<PhoneSettings, ApiError> {
    config.deny_unknown(&CONFIG_KEYS)?;
    let preferred_channel = config
        .optional_str("preferred_channel")?
        .map(|raw| {
            Channel::from_request(raw).map_err(|_| {
                let path = config.path("preferred_channel");
                ApiError::field(
                    path.clone(),
                    "invalid_choice",
                    format!("{path} must be one of SMS, WHATSAPP, TELEGRAM, RCS, VIBER, CALL, not {raw:?}"),
                )
            })
        })
        .transpose()?;
    let validity = config.optional_u32("code_validity_seconds")?.map(u64::from);
    let mut risk_actions = WorkflowRiskActions::default();
    if let Some(actions) = config.optional_object("risk_actions")? {
        for risk in actions.keys().map(str::to_owned).collect::<Vec<_>>() {
            let path = actions.path(&risk);
            let raw = actions.required_str(&risk)?;
            let action = parse_action(raw).ok_or_else(|| {
                ApiError::field(
                    path.clone(),
                    "invalid_choice",
                    format!("{path} must be Decline, Review or Approve, not {raw:?}"),
                )
            })?;
            if !risk_actions.set(&risk, action) {
                return Err(ApiError::field(
                    path,
                    "unknown_risk",
                    format!(
                        "{risk} has no configurable action; configurable risks: {} (VERIFICATION_CODE_ATTEMPTS_EXCEEDED, HIGH_RISK_PHONE_NUMBER and PHONE_NUMBER_IN_BLOCKLIST always decline)",
                        CONFIGURABLE_RISKS.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(PhoneSettings {
        preferred_channel,
        code_validity_seconds: within(config, "code_validity_seconds", validity, 30, 86_400)?,
        max_code_attempts: within(
            config,
            "max_code_attempts",
            config.optional_u32("max_code_attempts")?,
            1,
            10,
        )?,
        max_resend_requests_per_24h: within(
            config,
            "max_resend_requests_per_24h",
            config.optional_u32("max_resend_requests_per_24h")?,
            0,
            10,
        )?,
        risk_actions,
    })
}

/// Creates a workflow (path A): the PHONE feature and its settings.
#[utoipa::path(
    post,
    path = "/v3/workflows/",
    operation_id = "workflow_create",
    tag = "hosted",
    security(("x-api-key" = [])),
    request_body = s::WorkflowBody,
    responses(
        (status = 201, description = "Created", body = s::Workflow),
        (status = 400, description = "Bad body; `field` names the field", body = ApiError),
    )
)]
pub async fn create(req: HttpRequest, payload: web::Payload, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let body = read_object(payload).await?;
    body.deny_unknown(&["workflow_label", "features"])?;
    let now = now_ms();
    let workflow = Workflow {
        id: uuid::Uuid::now_v7().to_string(),
        application,
        label: label(&body)?.unwrap_or_else(|| DEFAULT_LABEL.to_owned()),
        phone: phone_settings(&body)?,
        created_at_ms: now,
        updated_at_ms: now,
    };
    engine
        .store
        .put_workflow(workflow.clone())
        .await
        .map_err(EngineError::from)?;
    tracing::info!(application = %workflow.application, workflow_id = %workflow.id, "workflow created");
    Ok(HttpResponse::Created().json(workflow.view(&engine.policy)))
}

/// Lists the application's workflows, oldest first.
#[utoipa::path(
    get,
    path = "/v3/workflows/",
    operation_id = "workflow_list",
    tag = "hosted",
    security(("x-api-key" = [])),
    responses((status = 200, description = "Every workflow", body = Vec<s::Workflow>))
)]
pub async fn list(req: HttpRequest, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?;
    let workflows = engine
        .store
        .workflows(&application.name)
        .await
        .map_err(EngineError::from)?;
    let views: Vec<_> = workflows.iter().map(|w| w.view(&engine.policy)).collect();
    Ok(HttpResponse::Ok().json(views))
}

async fn find(engine: &EngineData, application: &str, id: &str) -> Result<Workflow, ApiError> {
    engine
        .store
        .workflow(application, id)
        .await
        .map_err(EngineError::from)?
        .ok_or_else(|| ApiError::not_found(format!("no workflow {id}")))
}

/// One workflow.
#[utoipa::path(
    get,
    path = "/v3/workflows/{id}/",
    operation_id = "workflow_get",
    tag = "hosted",
    security(("x-api-key" = [])),
    params(("id" = String, Path, description = "The workflow's id")),
    responses(
        (status = 200, description = "The workflow", body = s::Workflow),
        (status = 404, description = "No such workflow", body = ApiError),
    )
)]
pub async fn get(req: HttpRequest, path: web::Path<String>, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let workflow = find(&engine, &application, &path).await?;
    Ok(HttpResponse::Ok().json(workflow.view(&engine.policy)))
}

/// Changes a workflow: what the body names is replaced (the label, or the whole `features`).
#[utoipa::path(
    patch,
    path = "/v3/workflows/{id}/",
    operation_id = "workflow_update",
    tag = "hosted",
    security(("x-api-key" = [])),
    params(("id" = String, Path, description = "The workflow's id")),
    request_body = s::WorkflowPatch,
    responses(
        (status = 200, description = "The workflow as it now is", body = s::Workflow),
        (status = 400, description = "Bad body; `field` names the field", body = ApiError),
        (status = 404, description = "No such workflow", body = ApiError),
    )
)]
pub async fn update(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    engine: EngineData,
) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let body = read_object(payload).await?;
    body.deny_unknown(&["workflow_label", "features"])?;
    let mut workflow = find(&engine, &application, &path).await?;
    if let Some(label) = label(&body)? {
        workflow.label = label;
    }
    if body.optional_value("features").is_some() {
        workflow.phone = phone_settings(&body)?;
    }
    workflow.updated_at_ms = now_ms();
    engine
        .store
        .put_workflow(workflow.clone())
        .await
        .map_err(EngineError::from)?;
    Ok(HttpResponse::Ok().json(workflow.view(&engine.policy)))
}

/// Deletes a workflow.
#[utoipa::path(
    delete,
    path = "/v3/workflows/{id}/",
    operation_id = "workflow_delete",
    tag = "hosted",
    security(("x-api-key" = [])),
    params(("id" = String, Path, description = "The workflow's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such workflow", body = ApiError),
    )
)]
pub async fn delete(req: HttpRequest, path: web::Path<String>, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let deleted = engine
        .store
        .delete_workflow(&application, &path)
        .await
        .map_err(EngineError::from)?;
    if !deleted {
        return Err(ApiError::not_found(format!("no workflow {}", path.as_str())));
    }
    Ok(HttpResponse::NoContent().finish())
}
