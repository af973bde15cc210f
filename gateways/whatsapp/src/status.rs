//! WhatsApp's status table: a Graph `error.code` as a [`Refusal`]. What it leaves open (code
//! 100 and unknown codes, or no Graph error at all) is read from the HTTP status alone, as on
//! every platform: 429 throttled, 401/403 `auth_failed`, 5xx `server_error`, other 4xx
//! `invalid_request`.
//!
//! | Graph `error.code`                         | refusal                          |
//! |--------------------------------------------|----------------------------------|
//! | 130429, 131048, 131056, 80007, 4, 613      | throttled                        |
//! | 131026 (undeliverable, not a WhatsApp user) | number: `not_whatsapp_user`     |
//! | 131030 (recipient not in the allowed list) | message: `recipient_not_allowed` |
//! | 131008 (missing parameter), 132000..=132999 | carrier: `template_error`       |
//! | 190, 0, 3, 10, 200..=299                   | carrier: `auth_failed`           |
//! | 131000, 131016, 1, 2                       | transient: `server_error`        |
use otpgate_http_kit::Refusal;

pub fn refusal(code: i64) -> Option<Refusal> {
    match code {
        130429 | 131048 | 131056 | 80007 | 4 | 613 => Some(Refusal::Throttled(None)),
        131026 => Some(Refusal::Number("not_whatsapp_user")),
        // This account (in development mode) may not write to it; another account may.
        131030 => Some(Refusal::Message("recipient_not_allowed")),
        // The template or its parameters: every message of this carrier would fail alike.
        131008 | 132000..=132999 => Some(Refusal::Carrier("template_error")),
        190 | 0 | 3 | 10 | 200..=299 => Some(Refusal::Carrier("auth_failed")),
        131000 | 131016 | 1 | 2 => Some(Refusal::Transient("server_error")),
        _ => None,
    }
}
