//! The OpenAPI 3.1 document of the HTTP API, derived with `utoipa` from the handlers' own
//! `#[utoipa::path]` descriptions and response types, served at `GET /v3/openapi.json`.
//!
//! The document is public (no `x-api-key`), as Didit and Twilio publish theirs: it describes the
//! API, not an application. Beyond what each handler declares, [`Shared`] adds what every
//! operation shares — the `x-api-key` scheme, the 401 of a missing key, the 429 of the request
//! limits (with `Retry-After`), the 413 and 400 of a body, the 503 of an unavailable store — and
//! the links from send to the sandbox inbox and to check, which schemathesis' stateful phase
//! follows (`tests/schemathesis.rs`).
mod hosted;
pub mod schemas;

use super::error::ApiError;
use super::{billing, blocklist, channels, destinations, ops, phone, privacy, sandbox, sessions, workflows};
use actix_web::HttpResponse;
use serde_json::{json, Value};
use std::sync::OnceLock;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{OpenApi, PartialSchema, ToSchema};

/// The document's path, itself in the document.
pub const PATH: &str = "/v3/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "otpgate",
        description = "Self-hostable phone verification: one-time codes over SMS, WhatsApp, Telegram, RCS, Viber and voice. Shapes follow Didit's public API (CONTRACT.md §3).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        phone::send,
        phone::check,
        privacy::delete,
        sandbox::messages,
        blocklist::add,
        blocklist::list,
        blocklist::remove,
        billing::usage,
        channels::webhook,
        channels::verify,
        workflows::create,
        workflows::list,
        workflows::get,
        workflows::update,
        workflows::delete,
        sessions::create,
        sessions::decision_of,
        sessions::update_status,
        sessions::delete,
        destinations::add,
        destinations::list,
        destinations::remove,
        hosted::page,
        hosted::status,
        hosted::form,
        hosted::script,
        hosted::style,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        document,
    ),
    components(schemas(ApiError, schemas::StatusUpdated)),
    modifiers(&Shared),
    tags(
        (name = "standalone", description = "Path B: send and check a code from your backend"),
        (name = "hosted", description = "Path A: workflows and sessions verified on the hosted page"),
        (name = "hosted page", description = "The hosted page at `session_url`, for people"),
        (name = "risk", description = "The blocklist"),
        (name = "billing"),
        (name = "webhooks", description = "Receivers of session events"),
        (name = "channels", description = "Callbacks from channel platforms, signed their way"),
        (name = "sandbox", description = "Only when `[sandbox] enabled`"),
        (name = "operations"),
    )
)]
pub struct ApiDoc;

/// This document (OpenAPI 3.1).
#[utoipa::path(
    get,
    path = "/v3/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(json_text())
}

/// The document as served.
pub fn json_text() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
        add_links(&mut doc);
        add_webhooks(&mut doc);
        doc.to_string()
    })
}

/// Name of the API key scheme.
const API_KEY: &str = "x-api-key";

struct Shared;

fn error(description: &str) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ApiError::name())))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .into()
}

impl utoipa::Modify for Shared {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "The application's API key (`[[applications]] api_key`)",
            ))),
        );
        let retry_after = HeaderBuilder::new()
            .schema(u64::schema())
            .description(Some("Whole seconds to wait"))
            .build();
        let too_many = ResponseBuilder::new()
            .description("`rate_limited`: a request limit was reached")
            .header("Retry-After", retry_after)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(ApiError::name())))
                    .build(),
            )
            .build();
        for (path, item) in doc.paths.paths.iter_mut() {
            let html = !path.starts_with("/v3/") && path != "/healthz" && path != "/readyz" && path != "/metrics";
            for operation in [&mut item.get, &mut item.post, &mut item.patch, &mut item.delete]
                .into_iter()
                .flatten()
            {
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, response: RefOr<Response>| {
                    responses.entry(status.to_owned()).or_insert(response);
                };
                add("429", too_many.clone().into());
                if html {
                    continue;
                }
                if operation.security.is_some() {
                    add("401", error("`unauthorized`: missing or wrong `x-api-key`"));
                    add(
                        "503",
                        error("`store_unavailable`, `store_full` or `busy`: the store (or the number's worker) cannot take the request now; nothing was done, retry after `Retry-After` seconds"),
                    );
                }
                if operation.request_body.is_some() {
                    add(
                        "400",
                        error("`empty_body`, `invalid_json`, `invalid_body` or a field's problem; `field` names it"),
                    );
                    add("413", error("`payload_too_large`: the body is over 64 KiB"));
                }
            }
        }
    }
}

/// send → sandbox inbox → check, and send → check: the number flows on, and in the sandbox the
/// code does too, so a stateful run reaches `Approved`. Written into the JSON because utoipa
/// 5.5's `Link` serialises its fields in snake_case (`operation_id`), which OpenAPI does not know.
fn add_links(doc: &mut Value) {
    let send = &mut doc["paths"]["/v3/phone/send/"]["post"]["responses"]["200"];
    send["links"] = json!({
        "CheckCode": {
            "operationId": "phone_check",
            "requestBody": { "phone_number": "$request.body#/phone_number" },
            "description": "Check a code for the number just sent to",
        },
        "SandboxInbox": {
            "operationId": "sandbox_messages",
            "parameters": { "phone_number": "$request.body#/phone_number" },
            "description": "Read the sandbox inbox of the number just sent to",
        },
    });
    // Created things flow to the operations on them.
    let id_of = |path_param: &str, expression: &str| json!({ path_param: expression });
    doc["paths"]["/v3/workflows/"]["post"]["responses"]["201"]["links"] = json!({
        "GetWorkflow": { "operationId": "workflow_get", "parameters": id_of("id", "$response.body#/workflow_id") },
        "UpdateWorkflow": { "operationId": "workflow_update", "parameters": id_of("id", "$response.body#/workflow_id") },
        "DeleteWorkflow": { "operationId": "workflow_delete", "parameters": id_of("id", "$response.body#/workflow_id") },
        "CreateSession": {
            "operationId": "session_create",
            "requestBody": { "workflow_id": "$response.body#/workflow_id" },
        },
    });
    doc["paths"]["/v3/session/"]["post"]["responses"]["201"]["links"] = json!({
        "GetDecision": { "operationId": "session_decision", "parameters": id_of("id", "$response.body#/session_id") },
        "UpdateStatus": { "operationId": "session_update_status", "parameters": id_of("id", "$response.body#/session_id") },
        "DeleteSession": { "operationId": "session_delete", "parameters": id_of("id", "$response.body#/session_id") },
    });
    doc["paths"]["/v3/webhook/destinations/"]["post"]["responses"]["201"]["links"] = json!({
        "RemoveDestination": {
            "operationId": "webhook_destination_remove",
            "parameters": id_of("id", "$response.body#/id"),
        },
    });
    let inbox = &mut doc["paths"]["/v3/sandbox/messages/"]["get"]["responses"]["200"];
    inbox["links"] = json!({
        "CheckSandboxCode": {
            "operationId": "phone_check",
            "requestBody": {
                "phone_number": "$response.body#/results/0/phone_number",
                "code": "$response.body#/results/0/code",
            },
            "description": "Check the newest code the sandbox delivered",
        },
    });
}

/// The webhook the engine sends (OpenAPI 3.1 `webhooks`): body and signature headers.
fn add_webhooks(doc: &mut Value) {
    let header = |name: &str, description: &str| json!({ "name": name, "in": "header", "required": true, "schema": { "type": "string" }, "description": description });
    doc["webhooks"] = json!({
        "status.updated": {
            "post": {
                "operationId": "status_updated",
                "summary": "A session's status changed",
                "description": "Sent to every webhook destination subscribed to the change; retried with exponential backoff on network errors, 404 and 5xx until a 2xx or a give-up age, and kept across restarts.",
                "parameters": [
                    header("X-Timestamp", "Unix seconds of this attempt"),
                    header("X-Signature-V2", "hex HMAC-SHA256(secret_shared_key, JSON.stringify(sortKeys(shortenFloats(payload))))"),
                    header("X-Signature-Simple", "hex HMAC-SHA256(secret_shared_key, \"{X-Timestamp}:{session_id}:{status}:{webhook_type}\")"),
                    header("X-Signature", "hex HMAC-SHA256(secret_shared_key, raw body); equal to X-Signature-V2"),
                ],
                "requestBody": {
                    "required": true,
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/StatusUpdated" } } },
                },
                "responses": {
                    "2XX": { "description": "Received; anything else is retried" },
                },
            },
        },
    });
}
