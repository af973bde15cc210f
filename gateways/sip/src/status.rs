//! The one table that turns SIP outcomes into classified [`GatewayError`]s.

use otpgate_gateway::GatewayError;

/// Why a call failed, with the SIP status that said so (none for timeouts, no answer, socket
/// trouble and hang-ups): the status class is a label of the failed-calls metric.
#[derive(Debug)]
pub struct CallError {
    pub error: GatewayError,
    pub sip_status: Option<u16>,
}

impl From<GatewayError> for CallError {
    fn from(error: GatewayError) -> Self {
        CallError {
            error,
            sip_status: None,
        }
    }
}

impl CallError {
    /// `4xx`, `5xx`, `6xx`, or `none`.
    pub fn status_class(&self) -> &'static str {
        match self.sip_status {
            Some(400..=499) => "4xx",
            Some(500..=599) => "5xx",
            Some(600..=699) => "6xx",
            _ => "none",
        }
    }
}

/// A final failure response to the INVITE (not 401/407 while we may still answer them).
pub fn classify_final(code: u16, reason: &str) -> CallError {
    CallError {
        error: classify_code(code, reason),
        sip_status: Some(code),
    }
}

fn classify_code(code: u16, reason: &str) -> GatewayError {
    let detail = format!("SIP {code} {reason}");
    let reason = match code {
        486 | 600 => "busy",
        480 => "unavailable",
        603 => "declined",
        401 | 407 => "auth_failed",
        400..=499 => "call_failed_4xx",
        500..=599 => "call_failed_5xx",
        _ => "call_failed_6xx",
    };
    GatewayError::permanent(reason, detail)
}

/// Nobody answered within the ring time; the call was cancelled.
pub fn no_answer(ring_secs: f64) -> GatewayError {
    GatewayError::permanent("no_answer", format!("no answer within {ring_secs:.1} s"))
}

/// The trunk never responded (Timer B): worth retrying later.
pub fn timeout(detail: impl Into<String>) -> GatewayError {
    GatewayError::transient("timeout", detail)
}

/// Socket trouble on our side.
pub fn io(error: std::io::Error) -> GatewayError {
    GatewayError::transient("io", error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use otpgate_gateway::ErrorKind;

    #[test]
    fn table() {
        for (code, reason) in [
            (486, "busy"),
            (480, "unavailable"),
            (603, "declined"),
            (404, "call_failed_4xx"),
            (488, "call_failed_4xx"),
            (503, "call_failed_5xx"),
            (604, "call_failed_6xx"),
            (403, "call_failed_4xx"),
            (407, "auth_failed"),
        ] {
            let failure = classify_final(code, "x");
            assert_eq!(failure.status_class(), &format!("{}xx", code / 100)[..]);
            let error = failure.error;
            assert_eq!(error.reason(), reason, "{code}");
            assert_eq!(error.kind(), ErrorKind::Permanent);
        }
        assert!(timeout("t").is_transient());
        assert_eq!(CallError::from(timeout("t")).status_class(), "none");
    }
}
