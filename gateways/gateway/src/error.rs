use std::time::Duration;

/// How a failure should be handled. Routing and fallback look at nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Worth retrying on the same carrier (connection reset, timeout).
    Transient,
    /// The carrier will not take this message (invalid destination, blocked, not capable):
    /// move to the next channel or carrier.
    Permanent,
    /// The carrier asked us to slow down; retry on the same carrier after the delay.
    Throttled,
}

/// A classified gateway failure. `reason` is a short, stable, low-cardinality token used as a
/// metrics label (`throttled`, `invalid_destination`, `timeout`, ...); `detail` is for logs.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct GatewayError {
    kind: ErrorKind,
    reason: &'static str,
    detail: String,
    retry_after: Option<Duration>,
}

impl GatewayError {
    pub fn transient(reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Transient,
            reason,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn permanent(reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Permanent,
            reason,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn throttled(retry_after: Duration, detail: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Throttled,
            reason: "throttled",
            detail: detail.into(),
            retry_after: Some(retry_after),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn reason(&self) -> &'static str {
        self.reason
    }

    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }

    pub fn is_permanent(&self) -> bool {
        self.kind == ErrorKind::Permanent
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}
