//! Matches delivery reports to the messages they are about and reports each outcome once.
//! The matching itself is [`otpgate_gateway::callbacks::CallbackTracker`], shared with the other
//! HTTP channels; this module says which Telegram states are final.
use otpgate_gateway::callbacks::CallbackTracker;
#[cfg(test)]
pub use otpgate_gateway::callbacks::REPORT_WAIT;
use otpgate_gateway::{Channel, Delivery, OutboundMessage, ReportSender};
#[cfg(test)]
use std::time::Instant;

/// The outcome a `delivery_status.status` means; `None` for `sent` and anything unknown.
pub fn outcome_of(status: &str) -> Option<Delivery> {
    match status {
        "delivered" | "read" => Some(Delivery::Delivered),
        "expired" | "revoked" => Some(Delivery::Failed),
        _ => None,
    }
}

pub struct Tracker(CallbackTracker);

impl Tracker {
    pub fn new(carrier: String, reports: ReportSender) -> Self {
        Self(CallbackTracker::new(carrier, Channel::Telegram, reports))
    }

    /// Registers a message the platform accepted as `telegram_id`.
    pub fn track(&self, telegram_id: &str, message: &OutboundMessage) {
        self.0.track(telegram_id, message);
    }

    /// Applies a callback's `status` for `telegram_id`; true when it produced a report.
    pub fn apply(&self, telegram_id: &str, status: &str) -> bool {
        match outcome_of(status) {
            Some(outcome) => self.0.apply(telegram_id, outcome, status, None),
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
            channel: Channel::Telegram,
            code: "123456".into(),
            text: "t".into(),
            locale: "en".into(),
        }
    }

    #[test]
    fn sent_waits_delivered_reports_once_and_read_adds_nothing() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("tg".into(), tx);
        tracker.track("t-1", &message());
        assert!(!tracker.apply("t-1", "sent"));
        assert!(tracker.apply("t-1", "delivered"));
        assert!(!tracker.apply("t-1", "read"));
        let report = rx.try_recv().unwrap();
        assert_eq!(
            (report.request_id.as_str(), report.delivery),
            ("req-1", Delivery::Delivered)
        );
        assert_eq!(report.channel, Channel::Telegram);
        assert!(rx.try_recv().is_err());
        assert_eq!(tracker.tracked(), 0);
    }

    #[test]
    fn a_report_that_overtakes_its_send_waits_for_it() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("tg".into(), tx);
        assert!(!tracker.apply("t-2", "revoked"));
        assert!(rx.try_recv().is_err());
        tracker.track("t-2", &message());
        assert_eq!(rx.try_recv().unwrap().delivery, Delivery::Failed);
    }

    #[test]
    fn entries_expire() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("tg".into(), tx);
        tracker.track("t-3", &message());
        tracker.sweep(Instant::now() + REPORT_WAIT);
        assert_eq!(tracker.tracked(), 0);
        assert!(!tracker.apply("t-3", "delivered"));
        assert!(rx.try_recv().is_err());
    }
}
