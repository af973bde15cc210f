//! Matches delivery callbacks to the messages they are about and reports each outcome once.
//! The matching itself is [`otpgate_gateway::callbacks::CallbackTracker`], shared with the other
//! HTTP channels; this module says which Viber states are final.
use otpgate_gateway::callbacks::CallbackTracker;
#[cfg(test)]
pub use otpgate_gateway::callbacks::REPORT_WAIT;
use otpgate_gateway::{Channel, Delivery, OutboundMessage, ReportSender};
#[cfg(test)]
use std::time::Instant;

/// The outcome a callback `event` means; `None` for events about anything else.
pub fn outcome_of(event: &str) -> Option<Delivery> {
    match event {
        "delivered" | "seen" => Some(Delivery::Delivered),
        "failed" => Some(Delivery::Failed),
        _ => None,
    }
}

pub struct Tracker(CallbackTracker);

impl Tracker {
    pub fn new(carrier: String, reports: ReportSender) -> Self {
        Self(CallbackTracker::new(carrier, Channel::Viber, reports))
    }

    /// Registers a message the platform accepted as `message_token`.
    pub fn track(&self, message_token: &str, message: &OutboundMessage) {
        self.0.track(message_token, message);
    }

    /// Applies a callback's `event` for `message_token`; true when it produced a report.
    pub fn apply(&self, message_token: &str, event: &str, desc: Option<&str>) -> bool {
        match outcome_of(event) {
            Some(outcome) => self.0.apply(message_token, outcome, event, desc),
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
            channel: Channel::Viber,
            code: "123456".into(),
            text: "t".into(),
            locale: "en".into(),
        }
    }

    #[test]
    fn delivered_reports_once_and_seen_adds_nothing() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("vb".into(), tx);
        tracker.track("1", &message());
        assert!(!tracker.apply("1", "subscribed", None));
        assert!(tracker.apply("1", "delivered", None));
        assert!(!tracker.apply("1", "seen", None));
        let report = rx.try_recv().unwrap();
        assert_eq!(
            (report.request_id.as_str(), report.delivery),
            ("req-1", Delivery::Delivered)
        );
        assert_eq!((report.channel, report.status.as_str()), (Channel::Viber, "delivered"));
        assert!(rx.try_recv().is_err());
        assert_eq!(tracker.tracked(), 0);
    }

    #[test]
    fn a_callback_that_overtakes_its_send_waits_for_it() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("vb".into(), tx);
        assert!(!tracker.apply("2", "failed", Some("blocked")));
        assert!(rx.try_recv().is_err());
        tracker.track("2", &message());
        let report = rx.try_recv().unwrap();
        assert_eq!(
            (report.delivery, report.error.as_deref()),
            (Delivery::Failed, Some("blocked"))
        );
        assert_eq!(tracker.tracked(), 0);
    }

    #[test]
    fn entries_expire() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("vb".into(), tx);
        tracker.track("3", &message());
        tracker.sweep(Instant::now() + REPORT_WAIT);
        assert_eq!(tracker.tracked(), 0);
        assert!(!tracker.apply("3", "delivered", None));
        assert!(rx.try_recv().is_err());
    }
}
