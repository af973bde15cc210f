//! Status webhooks: the `X-Hub-Signature-256` check, and the tracker that matches statuses to
//! the messages this gateway sent and reports each message's outcome to the engine once.
//!
//! Statuses arrive unordered and may repeat: `read` can come without `delivered`, `delivered`
//! can come twice, and a status can overtake the send answer that told us its wamid. So the
//! first final status (`delivered`, `read` or `failed`) wins and forgets the message, and a
//! final status for a wamid not yet tracked waits briefly for it (`ORPHAN_WAIT`).
use crate::wire::{Status, WebhookPayload};
use hmac::{Hmac, Mac};
use otpgate_gateway::callbacks::CallbackTracker;
use otpgate_gateway::{Channel, Delivery, OutboundMessage, ReportSender};
use sha2::Sha256;

/// How long a message waits for its final status.
pub const TRACK_TTL: std::time::Duration = otpgate_gateway::callbacks::REPORT_WAIT;

/// Why a webhook was refused. The engine answers 401 to `BadSignature` and 400 to `Malformed`,
/// and changes nothing in either case.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("missing or invalid X-Hub-Signature-256")]
    BadSignature,
    #[error("malformed webhook body: {0}")]
    Malformed(String),
}

/// The value of `X-Hub-Signature-256` for `body`: `sha256=<hex HMAC-SHA256(app_secret, body)>`.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header against the raw body, in constant time.
pub fn verify_signature(app_secret: &str, header: Option<&str>, body: &[u8]) -> Result<(), WebhookError> {
    let hex_sig = header
        .map(str::trim)
        .and_then(|h| h.strip_prefix("sha256="))
        .ok_or(WebhookError::BadSignature)?;
    let expected = hex::decode(hex_sig).map_err(|_| WebhookError::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| WebhookError::BadSignature)
}

/// Parses a verified body into its statuses.
pub fn parse(body: &[u8]) -> Result<Vec<Status>, WebhookError> {
    let payload: WebhookPayload = serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    Ok(payload.statuses().collect())
}

/// Registers accepted messages and turns statuses into reports; the matching itself (report
/// once, hold a status that overtakes its send, forget after an hour) is the tracker the HTTP
/// channels share.
pub struct Tracker(CallbackTracker);

impl Tracker {
    pub fn new(carrier: String, reports: ReportSender) -> Self {
        Self(CallbackTracker::new(carrier, Channel::Whatsapp, reports))
    }

    /// Registers a message the platform accepted under `wamid`.
    pub fn track(&self, wamid: &str, message: &OutboundMessage) {
        self.0.track(wamid, message);
    }

    /// Applies statuses; returns how many produced a report.
    pub fn apply(&self, statuses: Vec<Status>) -> usize {
        let mut applied = 0;
        for status in statuses {
            // `sent` and unknown states: keep waiting.
            let Some(outcome) = outcome_of(&status.status) else {
                continue;
            };
            let error = match outcome {
                Delivery::Failed => status.errors.first().map(|e| e.code.to_string()),
                Delivery::Delivered => None,
            };
            applied += usize::from(self.0.apply(&status.id, outcome, &status.status, error.as_deref()));
        }
        applied
    }

    /// Messages still waiting for a final status.
    pub fn tracked(&self) -> usize {
        self.0.tracked()
    }
}

/// `delivered` and `read` mean the handset has it; `failed` means it never will.
fn outcome_of(status: &str) -> Option<Delivery> {
    match status {
        "delivered" | "read" => Some(Delivery::Delivered),
        "failed" => Some(Delivery::Failed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::StatusError;
    use otpgate_gateway::report_channel;

    fn message() -> OutboundMessage {
        OutboundMessage {
            request_id: "req-1".into(),
            application: "app".into(),
            to: "+5511999990000".into(),
            channel: Channel::Whatsapp,
            code: "123456".into(),
            text: "t".into(),
            locale: "pt".into(),
        }
    }

    fn status(id: &str, status: &str) -> Status {
        Status {
            id: id.into(),
            status: status.into(),
            recipient_id: "5511999990000".into(),
            errors: vec![],
        }
    }

    #[test]
    fn signatures_verify_only_for_the_same_secret_and_body() {
        let sig = signature("s3cret", b"{}");
        assert!(verify_signature("s3cret", Some(&sig), b"{}").is_ok());
        assert_eq!(
            verify_signature("other", Some(&sig), b"{}"),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_signature("s3cret", Some(&sig), b"{ }"),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(verify_signature("s3cret", None, b"{}"), Err(WebhookError::BadSignature));
        assert_eq!(
            verify_signature("s3cret", Some("sha256=zz"), b"{}"),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_signature("s3cret", Some(sig.trim_start_matches("sha256=")), b"{}"),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn read_before_delivered_and_repeats_report_once() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("wa".into(), tx);
        tracker.track("wamid.1", &message());
        let applied = tracker.apply(vec![
            status("wamid.1", "sent"),
            status("wamid.1", "read"),
            status("wamid.1", "delivered"),
            status("wamid.1", "read"),
        ]);
        assert_eq!(applied, 1);
        let report = rx.try_recv().unwrap();
        assert_eq!((report.delivery, report.status.as_str()), (Delivery::Delivered, "read"));
        assert!(rx.try_recv().is_err());
        assert_eq!(tracker.tracked(), 0);
    }

    #[test]
    fn a_failure_reports_its_first_error_code() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("wa".into(), tx);
        tracker.track("wamid.2", &message());
        let mut failed = status("wamid.2", "failed");
        failed.errors = vec![StatusError {
            code: 131026,
            title: "Message undeliverable".into(),
        }];
        assert_eq!(tracker.apply(vec![failed]), 1);
        let report = rx.try_recv().unwrap();
        assert_eq!(report.delivery, Delivery::Failed);
        assert_eq!(report.error.as_deref(), Some("131026"));
    }

    #[test]
    fn a_status_that_overtakes_its_send_answer_waits_for_it() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("wa".into(), tx);
        assert_eq!(tracker.apply(vec![status("wamid.3", "delivered")]), 0);
        assert!(rx.try_recv().is_err());
        tracker.track("wamid.3", &message());
        assert_eq!(rx.try_recv().unwrap().request_id, "req-1");
        assert_eq!(tracker.tracked(), 0);
    }
}
