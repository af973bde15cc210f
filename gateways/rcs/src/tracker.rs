//! Matches delivery reports to the messages they are about and reports each outcome once.
//! The matching itself is [`otpgate_gateway::callbacks::CallbackTracker`], shared with the other
//! HTTP channels; this module says which Rcs states are final.
use otpgate_gateway::callbacks::CallbackTracker;
#[cfg(test)]
pub use otpgate_gateway::callbacks::REPORT_WAIT;
use otpgate_gateway::{Channel, Delivery, OutboundMessage, ReportSender};
#[cfg(test)]
use std::time::Instant;

/// The outcome an event's `eventType` means; `None` for `IS_TYPING` and anything unknown.
/// `FAILED` is not an RBM event type; we accept it (and the fake sends it) for failures.
pub fn outcome_of(event_type: &str) -> Option<Delivery> {
    match event_type {
        "DELIVERED" | "READ" => Some(Delivery::Delivered),
        "FAILED" => Some(Delivery::Failed),
        _ => None,
    }
}

pub struct Tracker(CallbackTracker);

impl Tracker {
    pub fn new(carrier: String, reports: ReportSender) -> Self {
        Self(CallbackTracker::new(carrier, Channel::Rcs, reports))
    }

    /// Registers a message the platform accepted as `message_id`.
    pub fn track(&self, message_id: &str, message: &OutboundMessage) {
        self.0.track(message_id, message);
    }

    /// Applies a callback's `status` for `message_id`; true when it produced a report.
    pub fn apply(&self, message_id: &str, status: &str) -> bool {
        match outcome_of(status) {
            Some(outcome) => self.0.apply(message_id, outcome, status, None),
            None => false,
        }
    }

    #[cfg(test)]
    pub fn sweep(&self, now: Instant) {
        self.0.sweep(now);
    }

    pub fn tracked(&self) -> usize {
        self.0.tracked()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otpgate_gateway::report_channel;

    fn message() -> OutboundMessage {
        OutboundMessage {
            request_id: "req-1".into(),
            application: "app".into(),
            to: "+14155550100".into(),
            channel: Channel::Rcs,
            code: "123456".into(),
            text: "t".into(),
            locale: "en".into(),
        }
    }

    #[test]
    fn sent_waits_delivered_reports_once_and_read_adds_nothing() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("rcs".into(), tx);
        tracker.track("t-1", &message());
        assert!(!tracker.apply("t-1", "IS_TYPING"));
        assert!(tracker.apply("t-1", "DELIVERED"));
        assert!(!tracker.apply("t-1", "READ"));
        let report = rx.try_recv().unwrap();
        assert_eq!(
            (report.request_id.as_str(), report.delivery),
            ("req-1", Delivery::Delivered)
        );
        assert_eq!(report.channel, Channel::Rcs);
        assert!(rx.try_recv().is_err());
        assert_eq!(tracker.tracked(), 0);
    }

    #[test]
    fn a_report_that_overtakes_its_send_waits_for_it() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("rcs".into(), tx);
        assert!(!tracker.apply("t-2", "FAILED"));
        assert!(rx.try_recv().is_err());
        tracker.track("t-2", &message());
        assert_eq!(rx.try_recv().unwrap().delivery, Delivery::Failed);
    }

    #[test]
    fn entries_expire() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("rcs".into(), tx);
        tracker.track("t-3", &message());
        tracker.sweep(Instant::now() + REPORT_WAIT);
        assert_eq!(tracker.tracked(), 0);
        assert!(!tracker.apply("t-3", "DELIVERED"));
        assert!(rx.try_recv().is_err());
    }
}
