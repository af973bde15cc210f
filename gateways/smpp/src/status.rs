//! How an SMSC's refusal is handled, in one table: throttling and full queues are transient
//! (back off, retry on the same carrier); everything else is permanent (routing falls back).
use otpgate_gateway::GatewayError;
use std::time::Duration;

/// Back-off after ESME_RTHROTTLED / ESME_RMSGQFUL. SMSCs count TPS per second, so waiting less
/// than a second mostly earns another refusal.
pub const THROTTLE_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Throttled,
    Permanent,
}

/// (command_status, class, metrics reason). Statuses not listed are permanent with reason
/// `refused`.
const TABLE: &[(u32, Class, &str)] = &[
    (0x0000_0058, Class::Throttled, "throttled"),           // ESME_RTHROTTLED
    (0x0000_0014, Class::Throttled, "queue_full"),          // ESME_RMSGQFUL
    (0x0000_000B, Class::Permanent, "invalid_destination"), // ESME_RINVDSTADR
    (0x0000_0033, Class::Permanent, "invalid_destination"), // ESME_RINVNUMDESTS
    (0x0000_0050, Class::Permanent, "invalid_destination"), // ESME_RINVDSTTON
    (0x0000_0051, Class::Permanent, "invalid_destination"), // ESME_RINVDSTNPI
    (0x0000_000A, Class::Permanent, "invalid_source"),      // ESME_RINVSRCADR
    (0x0000_0048, Class::Permanent, "invalid_source"),      // ESME_RINVSRCTON
    (0x0000_0049, Class::Permanent, "invalid_source"),      // ESME_RINVSRCNPI
    (0x0000_0001, Class::Permanent, "invalid_message"),     // ESME_RINVMSGLEN
    (0x0000_0045, Class::Permanent, "submit_failed"),       // ESME_RSUBMITFAIL
    (0x0000_0008, Class::Permanent, "system_error"),        // ESME_RSYSERR
    (0x0000_0004, Class::Permanent, "not_bound"),           // ESME_RINVBNDSTS
];

/// The classified error for a non-zero `submit_sm_resp` status.
pub fn classify(status: u32) -> GatewayError {
    let (class, reason) = TABLE
        .iter()
        .find(|(code, _, _)| *code == status)
        .map_or((Class::Permanent, "refused"), |(_, class, reason)| (*class, *reason));
    let detail = format!("SMSC answered command_status 0x{status:08X}");
    match class {
        Class::Throttled => GatewayError::throttled(THROTTLE_BACKOFF, format!("{reason}: {detail}")),
        Class::Permanent => GatewayError::permanent(reason, detail),
    }
}

/// Bind refusals that will not fix themselves by retrying soon (wrong credentials, refused
/// system type): reconnecting at full speed would only hammer the SMSC.
pub fn bind_failure_is_permanent(status: u32) -> bool {
    matches!(
        status,
        0x0000_000D // ESME_RBINDFAIL
            | 0x0000_000E // ESME_RINVPASWD
            | 0x0000_000F // ESME_RINVSYSID
            | 0x0000_0053 // ESME_RINVSYSTYP
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use otpgate_gateway::ErrorKind;

    #[test]
    fn throttling_and_full_queues_back_off_at_least_a_second() {
        for status in [0x58, 0x14] {
            let e = classify(status);
            assert_eq!(e.kind(), ErrorKind::Throttled);
            assert!(e.retry_after().unwrap() >= Duration::from_secs(1));
        }
    }

    #[test]
    fn other_refusals_are_permanent_with_a_stable_reason() {
        assert_eq!(classify(0x0B).reason(), "invalid_destination");
        assert!(classify(0x0B).is_permanent());
        assert_eq!(classify(0x0000_0400).reason(), "refused");
        assert!(classify(0x0000_0400).is_permanent());
    }

    #[test]
    fn wrong_credentials_are_a_permanent_bind_failure() {
        assert!(bind_failure_is_permanent(0x0E));
        assert!(!bind_failure_is_permanent(0x08));
    }
}
