//! What a number's actor answers when it could not do the work, and the clock it stamps
//! records with. Defined here, beside the actors that produce them, so that `actors` does not
//! import `engine` (the engine owns the registry and the actors' parts, not the other way round).
use crate::store::StoreError;

/// Failures of the engine itself (not of a verification), mapped to HTTP in `api::error`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("every carrier that could deliver to this number is down")]
    ProvidersUnavailable,
    #[error("the number's actor stopped while handling the request; retry")]
    ActorGone,
}

/// Milliseconds since the Unix epoch (UTC), 0 if the clock is before it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
