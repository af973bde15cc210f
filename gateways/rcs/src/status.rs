//! The one table that classifies the platform's refusals and transport failures.
use otpgate_gateway::GatewayError;
use std::time::Duration;

/// Throttle delay when RBM says "too many requests" without saying for how long.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Classifies a non-2xx answer. `status` is the Google error body's canonical code
/// (`NOT_FOUND`, `RESOURCE_EXHAUSTED`, ...) when the body had one.
pub fn classify(http_status: u16, status: Option<&str>, retry_after: Option<Duration>) -> GatewayError {
    let detail = format!("HTTP {http_status}: {}", status.unwrap_or("no error status"));
    match (http_status, status) {
        (429, _) | (_, Some("RESOURCE_EXHAUSTED")) => {
            GatewayError::throttled(retry_after.unwrap_or(DEFAULT_RETRY_AFTER), detail)
        }
        (401 | 403, _) => GatewayError::permanent("auth_failed", detail),
        // RBM answers 404 for a number that has no RCS-capable device: fall back to another channel.
        (404, _) => GatewayError::permanent("not_rcs_capable", detail),
        (400..=499, _) => GatewayError::permanent("invalid_request", detail),
        (500..=599, _) => GatewayError::transient("server_error", detail),
        // 1xx/3xx: nothing RBM documents; the platform may answer properly next time.
        _ => GatewayError::transient("bad_response", detail),
    }
}

/// Classifies a failure to get any answer at all.
pub fn classify_transport(error: &reqwest::Error) -> GatewayError {
    if error.is_timeout() {
        GatewayError::transient("timeout", error.to_string())
    } else {
        // Refused, reset or dropped connection, or a body cut short: the platform may come back.
        GatewayError::transient("connection", error.to_string())
    }
}

/// A `Retry-After` header in seconds.
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use otpgate_gateway::ErrorKind;

    #[test]
    fn the_table() {
        let cases = [
            (404, Some("NOT_FOUND"), ErrorKind::Permanent, "not_rcs_capable"),
            (404, None, ErrorKind::Permanent, "not_rcs_capable"),
            (429, Some("RESOURCE_EXHAUSTED"), ErrorKind::Throttled, "throttled"),
            (429, None, ErrorKind::Throttled, "throttled"),
            (400, Some("RESOURCE_EXHAUSTED"), ErrorKind::Throttled, "throttled"),
            (401, Some("UNAUTHENTICATED"), ErrorKind::Permanent, "auth_failed"),
            (403, Some("PERMISSION_DENIED"), ErrorKind::Permanent, "auth_failed"),
            (400, Some("INVALID_ARGUMENT"), ErrorKind::Permanent, "invalid_request"),
            (409, Some("ALREADY_EXISTS"), ErrorKind::Permanent, "invalid_request"),
            (500, None, ErrorKind::Transient, "server_error"),
            (503, Some("UNAVAILABLE"), ErrorKind::Transient, "server_error"),
            (302, None, ErrorKind::Transient, "bad_response"),
        ];
        for (http_status, status, kind, reason) in cases {
            let classified = classify(http_status, status, None);
            assert_eq!(
                (classified.kind(), classified.reason()),
                (kind, reason),
                "{http_status} {status:?}"
            );
        }
        assert_eq!(
            classify(429, None, Some(Duration::from_secs(3))).retry_after(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(classify(429, None, None).retry_after(), Some(DEFAULT_RETRY_AFTER));
        assert_eq!(parse_retry_after(Some(" 5 ")), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }
}
