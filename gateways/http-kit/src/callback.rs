//! What a platform's callback request carries, and why one is refused.
use std::fmt::Display;

/// Reads a request header by name (case-insensitive), whatever the HTTP library.
pub type Headers<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One event a callback tells about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The platform's id of the message (wamid, `request_id`, `message_token`, `messageId`).
    pub carrier_id: String,
    /// The platform's word for what happened (`delivered`, `read`, `failed`, `DELIVERED`, ...).
    pub event: String,
    /// The platform's error code or description for a failure, when it gave one.
    pub error: Option<String>,
}

/// Why a callback was refused; nothing is changed in any case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackRejection {
    /// The signature header is missing or does not match.
    #[error("signature missing or wrong")]
    BadSignature,
    /// Correctly signed, but too old or too far ahead: a replay.
    #[error("timestamp too old or missing (replay protection)")]
    Stale,
    /// Correctly signed (where the signature covers the body), but not a callback of this
    /// platform.
    #[error("body is not a callback of this platform: {0}")]
    Malformed(String),
}

impl CallbackRejection {
    /// `what` could not be read (`why`).
    pub fn malformed(what: &str, why: impl Display) -> Self {
        CallbackRejection::Malformed(format!("{what}: {why}"))
    }

    /// The HTTP status the callback route answers: 401 to a signature or replay problem, so
    /// the platform's delivery shows it as an authentication fault; 400 to a body it sent wrong.
    pub fn http_status(&self) -> u16 {
        match self {
            CallbackRejection::BadSignature | CallbackRejection::Stale => 401,
            CallbackRejection::Malformed(_) => 400,
        }
    }
}

/// Now, in unix seconds: what signed timestamps are compared with.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}
