//! The one table that classifies the platform's refusals and transport failures.
use otpgate_gateway::GatewayError;
use std::time::Duration;

/// Throttle delay when the platform says "too many requests" without saying for how long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Classifies an answer that is not `{"status": 0, "message_token": ..}`: a non-zero Viber
/// `status` (HTTP 200, as the platform answers refusals), or a non-2xx HTTP status with or
/// without a readable body.
pub fn classify(
    http_status: u16,
    status: Option<i64>,
    status_message: &str,
    retry_after: Option<Duration>,
) -> GatewayError {
    let detail = match status {
        Some(status) => format!("HTTP {http_status}: status {status} {status_message}"),
        None => format!("HTTP {http_status}: no status"),
    };
    let throttled = || GatewayError::throttled(retry_after.unwrap_or(DEFAULT_RETRY_AFTER), detail.clone());
    match (http_status, status) {
        (429, _) | (_, Some(12)) => throttled(),
        (_, Some(2)) | (401 | 403, _) => GatewayError::permanent("auth_failed", detail),
        // Not on Viber, not reachable from this account, or no device that can show templates.
        (_, Some(5 | 6 | 11)) => GatewayError::permanent("not_viber_user", detail),
        (_, Some(7..=9)) => GatewayError::permanent("account_unavailable", detail),
        (500.., _) => GatewayError::transient("server_error", detail),
        // 1 bad URL, 3 bad data, 4 missing data, anything else.
        _ => GatewayError::permanent("invalid_request", detail),
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

#[cfg(test)]
mod tests {
    use super::*;
    use otpgate_gateway::ErrorKind;

    #[test]
    fn the_table() {
        let cases = [
            (200, Some(5), ErrorKind::Permanent, "not_viber_user"),
            (200, Some(6), ErrorKind::Permanent, "not_viber_user"),
            (200, Some(11), ErrorKind::Permanent, "not_viber_user"),
            (200, Some(2), ErrorKind::Permanent, "auth_failed"),
            (401, None, ErrorKind::Permanent, "auth_failed"),
            (200, Some(8), ErrorKind::Permanent, "account_unavailable"),
            (200, Some(12), ErrorKind::Throttled, "throttled"),
            (429, None, ErrorKind::Throttled, "throttled"),
            (200, Some(1), ErrorKind::Permanent, "invalid_request"),
            (200, Some(3), ErrorKind::Permanent, "invalid_request"),
            (200, Some(4), ErrorKind::Permanent, "invalid_request"),
            (200, Some(99), ErrorKind::Permanent, "invalid_request"),
            (400, None, ErrorKind::Permanent, "invalid_request"),
            (500, None, ErrorKind::Transient, "server_error"),
            (503, Some(3), ErrorKind::Transient, "server_error"),
        ];
        for (http, status, kind, reason) in cases {
            let classified = classify(http, status, "msg", None);
            assert_eq!(
                (classified.kind(), classified.reason()),
                (kind, reason),
                "{http} {status:?}"
            );
        }
        assert_eq!(
            classify(429, None, "", Some(Duration::from_secs(3))).retry_after(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            classify(200, Some(12), "", None).retry_after(),
            Some(DEFAULT_RETRY_AFTER)
        );
    }
}
