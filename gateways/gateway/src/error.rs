use std::time::Duration;

/// How a failure should be handled. Routing and fallback look at nothing else (with
/// [`Fault`] for permanent refusals): the one table that turns them into the next step is
/// `otpgate::routing::next_step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The carrier may take it on another try (connection reset, timeout, 5xx): the engine
    /// moves on to the next carrier of the same channel, then to the next channel.
    Transient,
    /// The carrier will not take this message; [`GatewayError::fault`] says whose fault it is.
    Permanent,
    /// The carrier asked us to slow down: the engine waits [`GatewayError::retry_after`] (when
    /// the verification's budget allows) and sends again on the same carrier.
    Throttled,
}

/// Who a permanent refusal is about, which decides what the engine does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The destination: invalid, not on the platform, not capable of the channel. Every
    /// carrier of the channel would refuse it too, so the channel is skipped for the number.
    Number,
    /// The carrier account: rejected credentials, no balance, suspended. Every message would
    /// fail the same way, so the carrier is marked down (`otpgate_carrier_up` 0) and alerted.
    Carrier,
    /// This message alone (a malformed request, a template the platform refused): the next
    /// carrier is tried.
    Message,
}

/// A classified gateway failure. `reason` is a short, stable, low-cardinality token used as a
/// metrics label (`throttled`, `invalid_destination`, `timeout`, ...); `detail` is for logs.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct GatewayError {
    kind: ErrorKind,
    fault: Option<Fault>,
    reason: &'static str,
    detail: String,
    retry_after: Option<Duration>,
}

impl GatewayError {
    fn new(kind: ErrorKind, fault: Option<Fault>, reason: &'static str, detail: String) -> Self {
        Self {
            kind,
            fault,
            reason,
            detail,
            retry_after: None,
        }
    }

    pub fn transient(reason: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, None, reason, detail.into())
    }

    /// A permanent refusal of this message alone ([`Fault::Message`]).
    pub fn permanent(reason: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, Some(Fault::Message), reason, detail.into())
    }

    /// A permanent refusal because of the destination ([`Fault::Number`]).
    pub fn number_at_fault(reason: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, Some(Fault::Number), reason, detail.into())
    }

    /// A permanent refusal because of the carrier account ([`Fault::Carrier`]).
    pub fn carrier_at_fault(reason: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, Some(Fault::Carrier), reason, detail.into())
    }

    pub fn throttled(retry_after: Duration, detail: impl Into<String>) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(ErrorKind::Throttled, None, "throttled", detail.into())
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whose fault a permanent refusal is; `None` for transient and throttled errors.
    pub fn fault(&self) -> Option<Fault> {
        self.fault
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

    /// How long a throttled carrier asked us to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_constructor_says_its_kind_and_fault() {
        let cases = [
            (GatewayError::transient("timeout", ""), ErrorKind::Transient, None),
            (
                GatewayError::throttled(Duration::from_secs(2), ""),
                ErrorKind::Throttled,
                None,
            ),
            (
                GatewayError::permanent("invalid_request", ""),
                ErrorKind::Permanent,
                Some(Fault::Message),
            ),
            (
                GatewayError::number_at_fault("not_a_user", ""),
                ErrorKind::Permanent,
                Some(Fault::Number),
            ),
            (
                GatewayError::carrier_at_fault("auth_failed", ""),
                ErrorKind::Permanent,
                Some(Fault::Carrier),
            ),
        ];
        for (error, kind, fault) in cases {
            assert_eq!((error.kind(), error.fault()), (kind, fault), "{error}");
        }
        let throttled = GatewayError::throttled(Duration::from_secs(2), "slow down");
        assert_eq!(
            (throttled.reason(), throttled.retry_after()),
            ("throttled", Some(Duration::from_secs(2)))
        );
    }
}
