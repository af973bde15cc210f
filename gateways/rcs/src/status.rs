//! RBM's status table: a refusal's HTTP status and Google error `status` as a [`Refusal`].
//! What it leaves open (429, 401/403, other 4xx, 5xx) is read from the HTTP status alone, as on
//! every platform.
use otpgate_http_kit::Refusal;

/// An answer with HTTP status `http_status` whose body's canonical code, if any, is `status`.
pub fn refusal(http_status: u16, status: Option<&str>) -> Option<Refusal> {
    match (http_status, status) {
        (_, Some("RESOURCE_EXHAUSTED")) => Some(Refusal::Throttled(None)),
        // RBM answers 404 for a number without an RCS-capable device.
        (404, _) => Some(Refusal::Number("not_rcs_capable")),
        _ => None,
    }
}

/// The canonical code Google's APIs answer an HTTP status with (the fake writes these).
pub fn canonical(http_status: u16) -> &'static str {
    match http_status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        500..=599 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    }
}
