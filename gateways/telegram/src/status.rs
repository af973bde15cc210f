//! Telegram's status table: the `error` string of an `{ok: false}` answer as a [`Refusal`].
//! What it leaves open is read from the HTTP status alone, as on every platform.
use otpgate_http_kit::Refusal;
use std::time::Duration;

/// `error` of a refused call (`ACCESS_TOKEN_INVALID`, `FLOOD_WAIT_5`, ...).
pub fn refusal(error: &str) -> Option<Refusal> {
    if let Some(seconds) = error.strip_prefix("FLOOD_WAIT_") {
        return Some(Refusal::Throttled(seconds.parse().ok().map(Duration::from_secs)));
    }
    match error {
        e if e.starts_with("ACCESS_TOKEN_") => Some(Refusal::Carrier("auth_failed")),
        "BALANCE_NOT_ENOUGH" => Some(Refusal::Carrier("no_balance")),
        // The number is malformed, has no Telegram account, or cannot receive from the gateway.
        e if e.starts_with("PHONE_NUMBER_") || e == "USER_NOT_FOUND" || e.contains("CANNOT_SEND") => {
            Some(Refusal::Number("not_telegram_user"))
        }
        _ => None,
    }
}
