//! The one table that classifies the platform's refusals and transport failures.
use otpgate_gateway::GatewayError;
use std::time::Duration;

/// Throttle delay when Telegram says "too many requests" without saying for how long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Classifies a `{ok: false}` answer (or a non-2xx status without a usable body).
/// `error` is Telegram's error string (`ACCESS_TOKEN_INVALID`, `FLOOD_WAIT_5`, ...).
pub fn classify(http_status: u16, error: Option<&str>, retry_after: Option<Duration>) -> GatewayError {
    let detail = format!("HTTP {http_status}: {}", error.unwrap_or("no error string"));
    if let Some(seconds) = error.and_then(|e| e.strip_prefix("FLOOD_WAIT_")) {
        let wait = seconds.parse().map(Duration::from_secs).unwrap_or(DEFAULT_RETRY_AFTER);
        return GatewayError::throttled(wait, detail);
    }
    if http_status == 429 {
        return GatewayError::throttled(retry_after.unwrap_or(DEFAULT_RETRY_AFTER), detail);
    }
    match error {
        Some(e) if e.starts_with("ACCESS_TOKEN_") => GatewayError::permanent("auth_failed", detail),
        Some("BALANCE_NOT_ENOUGH") => GatewayError::permanent("no_balance", detail),
        // The number is malformed, has no Telegram account, or cannot receive from the gateway.
        Some(e) if e.starts_with("PHONE_NUMBER_") || e == "USER_NOT_FOUND" || e.contains("CANNOT_SEND") => {
            GatewayError::permanent("not_telegram_user", detail)
        }
        _ if http_status == 401 || http_status == 403 => GatewayError::permanent("auth_failed", detail),
        _ if http_status >= 500 => GatewayError::transient("server_error", detail),
        _ => GatewayError::permanent("refused", detail),
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
            (
                400,
                Some("PHONE_NUMBER_INVALID"),
                ErrorKind::Permanent,
                "not_telegram_user",
            ),
            (
                400,
                Some("PHONE_NUMBER_NOT_FOUND"),
                ErrorKind::Permanent,
                "not_telegram_user",
            ),
            (401, Some("ACCESS_TOKEN_INVALID"), ErrorKind::Permanent, "auth_failed"),
            (200, Some("BALANCE_NOT_ENOUGH"), ErrorKind::Permanent, "no_balance"),
            (400, Some("FLOOD_WAIT_7"), ErrorKind::Throttled, "throttled"),
            (429, None, ErrorKind::Throttled, "throttled"),
            (500, None, ErrorKind::Transient, "server_error"),
            (502, Some("INTERNAL"), ErrorKind::Transient, "server_error"),
            (400, Some("CODE_INVALID"), ErrorKind::Permanent, "refused"),
        ];
        for (status, error, kind, reason) in cases {
            let classified = classify(status, error, None);
            assert_eq!(
                (classified.kind(), classified.reason()),
                (kind, reason),
                "{status} {error:?}"
            );
        }
        assert_eq!(
            classify(400, Some("FLOOD_WAIT_7"), None).retry_after(),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            classify(429, None, Some(Duration::from_secs(3))).retry_after(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(classify(429, None, None).retry_after(), Some(DEFAULT_RETRY_AFTER));
    }
}
