//! The one place where failures become HTTP responses: `{detail, code, field}` JSON.
use crate::engine::EngineError;
use crate::store::StoreError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Every error answer: `detail` says what is wrong in words, `code` names the problem for
/// programs (`required`, `invalid_format`, `invalid_choice`, `not_found`, `rate_limited`, …),
/// and `field` names the request field at fault when there is one (`options.code_size`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    #[schema(example = "phone_number is required")]
    pub detail: String,
    #[schema(example = "required")]
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "phone_number")]
    pub field: Option<String>,
    /// Whole seconds for the `Retry-After` header of a 429 or a store failure's 503.
    #[serde(skip)]
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            code,
            field: None,
            retry_after: None,
        }
    }

    /// 429 with `Retry-After` (whole seconds, rounded up, at least 1).
    pub fn rate_limited(retry_after: std::time::Duration, detail: impl Into<String>) -> Self {
        let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self {
            retry_after: Some(seconds.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
        }
    }

    /// 400 for one named field.
    pub fn field(field: impl Into<String>, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            detail: detail.into(),
            code,
            field: Some(field.into()),
            retry_after: None,
        }
    }

    /// Seconds of a 429's (or a store failure's 503's) `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than {limit} bytes"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(self)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::ProvidersUnavailable => {
                Self::new(StatusCode::BAD_GATEWAY, "phone_provider_unavailable", e.to_string())
            }
            EngineError::ActorGone => Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()),
            EngineError::Store(e) => e.into(),
        }
    }
}

/// Seconds a client is told to wait (`Retry-After`) before retrying after a store failure.
const STORE_RETRY_AFTER_S: u64 = 2;

/// Every store failure is a 503 with `Retry-After`, nothing written (the write that failed was
/// not acknowledged, so retrying it is safe): `store_full` when the store has no space left for
/// writes, else `store_unavailable`. The outage itself is logged once, by
/// [`crate::store::health`], not once per request; a corrupt record (not an outage) is logged here.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let (code, detail) = match &e {
            StoreError::Full(_) => (
                "store_full",
                "storage is full: the store has no space left for writes; retry later",
            ),
            StoreError::Unavailable(_) => ("store_unavailable", "the store is unavailable; retry later"),
            StoreError::Corrupt(_) => {
                tracing::error!(error = %e, "corrupt stored record while serving a request");
                ("store_unavailable", "the store is unavailable; retry later")
            }
        };
        Self {
            retry_after: Some(STORE_RETRY_AFTER_S),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn answer(e: StoreError) -> (u16, Option<String>, serde_json::Value) {
        let response = ApiError::from(EngineError::Store(e)).error_response();
        let retry_after = response
            .headers()
            .get(actix_web::http::header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let status = response.status().as_u16();
        let body = response.into_body().try_into_bytes().unwrap();
        (status, retry_after, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn store_failures_are_503_with_retry_after_and_a_full_disk_says_so() {
        let (status, retry_after, body) = answer(StoreError::Full("database or disk is full".into()));
        assert_eq!((status, retry_after.as_deref()), (503, Some("2")));
        assert_eq!(body["code"], "store_full");
        assert!(
            body["detail"].as_str().unwrap().starts_with("storage is full"),
            "{body}"
        );

        let (status, retry_after, body) = answer(StoreError::Unavailable("connection closed".into()));
        assert_eq!((status, retry_after.as_deref()), (503, Some("2")));
        assert_eq!(body["code"], "store_unavailable");
        // The driver's message stays in the log, out of the answer.
        assert!(!body.to_string().contains("connection closed"), "{body}");
    }
}
