//! The hosted page's routes (path A), described for the OpenAPI document. The page itself is
//! HTML for people (see `api/hosted`); these stubs only carry the description, because the
//! handlers there answer with rendered pages rather than typed bodies.
#![allow(dead_code)] // Read by the `OpenApi` derive only.

use crate::api::hosted::HostedStatus;

/// The hosted page. Opening it moves the session Not Started → In Progress.
#[utoipa::path(
    get,
    path = "/session/{token}/",
    operation_id = "hosted_page",
    tag = "hosted page",
    params(("token" = String, Path, description = "The session URL's token (48 hex digits)")),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 400, description = "Bad query string", body = String, content_type = "text/plain"),
        (status = 404, description = "The link does not work (unknown token)", body = String, content_type = "text/html"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    )
)]
pub fn page() {}

/// What the page's script polls: the session status and the channel used.
#[utoipa::path(
    get,
    path = "/session/{token}/status",
    operation_id = "hosted_status",
    tag = "hosted page",
    params(("token" = String, Path, description = "The session URL's token (48 hex digits)")),
    responses(
        (status = 200, description = "The status", body = HostedStatus),
        (status = 404, description = "The link does not work (unknown token)", body = String, content_type = "text/html"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    )
)]
pub fn status() {}

/// The page's forms: `send` (`country` + `national`, or the locked number), `resend` (after the
/// cooldown) and `check` (`code`); each needs the page's `csrf` field and cookie.
#[utoipa::path(
    post,
    path = "/session/{token}/{action}",
    operation_id = "hosted_form",
    tag = "hosted page",
    params(
        ("token" = String, Path, description = "The session URL's token (48 hex digits)"),
        ("action" = String, Path, description = "`send`, `resend` or `check`; any other is a 404"),
    ),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "`csrf`, and `country` + `national` (send) or `code` (check)"),
    responses(
        (status = 303, description = "Done: back to the page"),
        (status = 400, description = "A wrong or malformed code, an invalid number, or a body that is not a form", content(("text/html"), ("text/plain"))),
        (status = 403, description = "Missing or wrong CSRF token", body = String, content_type = "text/html"),
        (status = 404, description = "Unknown token or action", content(("text/html"), ("text/plain"))),
        (status = 409, description = "The session is finished", body = String, content_type = "text/html"),
        (status = 410, description = "The session expired or was abandoned", body = String, content_type = "text/html"),
        (status = 413, description = "Form too large", body = String, content_type = "text/plain"),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded`", body = String, content_type = "text/plain"),
        (status = 422, description = "No channel could take the code", body = String, content_type = "text/html"),
        (status = 429, description = "Resent or sent too often", body = String, content_type = "text/html"),
        (status = 502, description = "Every carrier is down", body = String, content_type = "text/html"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    )
)]
pub fn form() {}

/// The page's only script.
#[utoipa::path(
    get,
    path = "/hosted/app.js",
    operation_id = "hosted_script",
    tag = "hosted page",
    responses((status = 200, description = "JavaScript", body = String, content_type = "text/javascript"))
)]
pub fn script() {}

/// The page's only style sheet.
#[utoipa::path(
    get,
    path = "/hosted/app.css",
    operation_id = "hosted_style",
    tag = "hosted page",
    responses((status = 200, description = "CSS", body = String, content_type = "text/css"))
)]
pub fn style() {}
