//! The one table that turns a Cloud API refusal into a classified [`GatewayError`]: routing and
//! fallback look only at the kind, metrics only at the reason token.
//!
//! | HTTP / Graph `error.code`                         | kind      | reason               |
//! |---------------------------------------------------|-----------|----------------------|
//! | 429, 130429, 131048, 131056, 80007, 4, 613        | throttled | `throttled`          |
//! | 131026 (undeliverable, not a WhatsApp user)       | permanent | `not_whatsapp_user`  |
//! | 131030 (recipient not in the allowed list)        | permanent | `recipient_not_allowed` |
//! | 131008 (missing parameter), 132000..=132999       | permanent | `template_error`     |
//! | 190, 0, 3, 10, 200..=299, HTTP 401/403            | permanent | `auth_failed`        |
//! | 131000, 131016, 1, 2, 5xx                         | transient | `platform_error`     |
//! | 100 and any other 4xx                             | permanent | `invalid_request`    |
//! | timeout                                           | transient | `timeout`            |
//! | connection refused / reset / closed               | transient | `connection_failed`  |
//! | 200 without a message id                          | transient | `bad_response`       |
use crate::wire::GraphError;
use otpgate_gateway::GatewayError;
use std::time::Duration;

/// Used when a 429 carries no usable `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Classifies a non-200 answer. `retry_after` is the parsed `Retry-After` header, if any.
pub fn refusal(http_status: u16, graph: Option<&GraphError>, retry_after: Option<Duration>) -> GatewayError {
    let code = graph.and_then(|g| g.code);
    // The Graph message may echo request parameters, never the code itself: the code is only in
    // template parameters, which Meta does not repeat in errors.
    let detail = match graph {
        Some(g) => format!("HTTP {http_status}, code {}: {}", code.unwrap_or_default(), g.message),
        None => format!("HTTP {http_status}"),
    };
    match (http_status, code) {
        (429, _) | (_, Some(130429 | 131048 | 131056 | 80007 | 4 | 613)) => {
            GatewayError::throttled(retry_after.unwrap_or(DEFAULT_RETRY_AFTER), detail)
        }
        (_, Some(131026)) => GatewayError::permanent("not_whatsapp_user", detail),
        (_, Some(131030)) => GatewayError::permanent("recipient_not_allowed", detail),
        (_, Some(131008 | 132000..=132999)) => GatewayError::permanent("template_error", detail),
        (_, Some(190 | 0 | 3 | 10 | 200..=299)) | (401 | 403, _) => GatewayError::permanent("auth_failed", detail),
        (_, Some(131000 | 131016 | 1 | 2)) | (500..=599, _) => GatewayError::transient("platform_error", detail),
        _ => GatewayError::permanent("invalid_request", detail),
    }
}

/// Classifies a request that got no HTTP answer at all.
pub fn transport(error: &reqwest::Error) -> GatewayError {
    if error.is_timeout() {
        GatewayError::transient("timeout", error.to_string())
    } else {
        GatewayError::transient("connection_failed", error.to_string())
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the Graph API).
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use otpgate_gateway::ErrorKind;

    fn graph(code: i64) -> GraphError {
        GraphError {
            code: Some(code),
            message: String::new(),
        }
    }

    fn classify(http: u16, code: Option<i64>) -> (ErrorKind, &'static str) {
        let e = refusal(http, code.map(graph).as_ref(), None);
        (e.kind(), e.reason())
    }

    #[test]
    fn the_table_classifies_documented_refusals() {
        use ErrorKind::*;
        assert_eq!(classify(400, Some(131026)), (Permanent, "not_whatsapp_user"));
        assert_eq!(classify(400, Some(131008)), (Permanent, "template_error"));
        assert_eq!(classify(400, Some(132001)), (Permanent, "template_error"));
        assert_eq!(classify(400, Some(131030)), (Permanent, "recipient_not_allowed"));
        assert_eq!(classify(401, Some(190)), (Permanent, "auth_failed"));
        assert_eq!(classify(403, None), (Permanent, "auth_failed"));
        assert_eq!(classify(400, Some(100)), (Permanent, "invalid_request"));
        assert_eq!(classify(404, None), (Permanent, "invalid_request"));
        assert_eq!(classify(400, Some(131056)), (Throttled, "throttled"));
        assert_eq!(classify(429, None), (Throttled, "throttled"));
        assert_eq!(classify(503, None), (Transient, "platform_error"));
        assert_eq!(classify(500, Some(131000)), (Transient, "platform_error"));
    }

    #[test]
    fn throttling_waits_for_retry_after_or_one_second() {
        let told = refusal(429, None, parse_retry_after(Some(" 7 ")));
        assert_eq!(told.retry_after(), Some(Duration::from_secs(7)));
        let untold = refusal(400, Some(&graph(80007)), parse_retry_after(Some("soon")));
        assert_eq!(untold.retry_after(), Some(DEFAULT_RETRY_AFTER));
    }
}
