//! Viber's status table: the `status` of a send answer as a [`Refusal`]. Viber refuses with
//! HTTP 200 and a non-zero `status`; what the table leaves open (HTTP 429, 401/403, 5xx and
//! other 4xx without a status it knows) is read from the HTTP status alone, as on every platform.
use otpgate_http_kit::Refusal;

/// `status` (non-zero) of an answer with HTTP status `http_status`.
pub fn refusal(http_status: u16, status: i64) -> Option<Refusal> {
    match status {
        12 => Some(Refusal::Throttled(None)),
        2 => Some(Refusal::Carrier("auth_failed")),
        // Public account blocked, not found or suspended.
        7..=9 => Some(Refusal::Carrier("account_unavailable")),
        // Not on Viber, not subscribed to this account, or no device that shows templates.
        5 | 6 | 11 => Some(Refusal::Number("not_viber_user")),
        // A server error says more than the status it came with.
        _ if http_status >= 300 => None,
        // 1 invalid URL, 3 bad data, 4 missing data, anything else.
        _ => Some(Refusal::Message("invalid_request")),
    }
}

/// Viber's `status_message` for a status (the fake answers with these).
pub fn name(status: i64) -> &'static str {
    match status {
        1 => "invalidUrl",
        2 => "invalidAuthToken",
        3 => "badData",
        4 => "missingData",
        5 => "receiverNotRegistered",
        6 => "receiverNotSubscribed",
        7 => "publicAccountBlocked",
        8 => "publicAccountNotFound",
        9 => "publicAccountSuspended",
        11 => "noSuitableDevice",
        12 => "tooManyRequests",
        _ => "generalError",
    }
}
