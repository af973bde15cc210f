//! Matches delivery reports to the messages they are about and reports each outcome once.
use dashmap::DashMap;
use otpgate_gateway::{Channel, Delivery, DeliveryReport, OutboundMessage, ReportSender};
use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// How long a message waits for its report before it is forgotten.
pub const REPORT_WAIT: Duration = Duration::from_secs(3600);
/// A report may overtake the answer to its own send; it waits this long for the send to
/// register the message.
const ORPHAN_WAIT: Duration = Duration::from_secs(60);
const MAX_ORPHANS: usize = 10_000;
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The outcome an event's `eventType` means; `None` for `IS_TYPING` and anything unknown.
/// `FAILED` is not an RBM event type; we accept it (and the fake sends it) for failures.
pub fn outcome_of(event_type: &str) -> Option<Delivery> {
    match event_type {
        "DELIVERED" | "READ" => Some(Delivery::Delivered),
        "FAILED" => Some(Delivery::Failed),
        _ => None,
    }
}

struct Tracked {
    request_id: String,
    application: String,
    to: String,
    since: Instant,
}

/// A final report that arrived before its message was registered.
struct Orphan {
    status: String,
    outcome: Delivery,
    at: Instant,
}

pub struct Tracker {
    carrier: String,
    reports: ReportSender,
    by_id: DashMap<String, Tracked>,
    orphans: DashMap<String, Orphan>,
    last_sweep: Mutex<Instant>,
}

impl Tracker {
    pub fn new(carrier: String, reports: ReportSender) -> Self {
        Self {
            carrier,
            reports,
            by_id: DashMap::new(),
            orphans: DashMap::new(),
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    /// Registers a message RBM accepted under `message_id`.
    pub fn track(&self, message_id: &str, message: &OutboundMessage) {
        self.sweep_now_and_then();
        let tracked = Tracked {
            request_id: message.request_id.clone(),
            application: message.application.clone(),
            to: message.to.clone(),
            since: Instant::now(),
        };
        if let Some((_, early)) = self.orphans.remove(message_id) {
            self.report(message_id, tracked, early.status, early.outcome);
        } else {
            self.by_id.insert(message_id.to_owned(), tracked);
        }
    }

    /// Applies an event type for `message_id`; true when it produced a report.
    pub fn apply(&self, message_id: &str, status: &str) -> bool {
        self.sweep_now_and_then();
        let Some(outcome) = outcome_of(status) else {
            return false; // `IS_TYPING` and the like: keep waiting
        };
        // Removing first makes the report happen at most once, however many copies arrive.
        match self.by_id.remove(message_id) {
            Some((_, tracked)) => {
                self.report(message_id, tracked, status.to_owned(), outcome);
                true
            }
            None => {
                if self.orphans.len() < MAX_ORPHANS {
                    let orphan = Orphan {
                        status: status.to_owned(),
                        outcome,
                        at: Instant::now(),
                    };
                    self.orphans.entry(message_id.to_owned()).or_insert(orphan);
                }
                false
            }
        }
    }

    fn report(&self, message_id: &str, tracked: Tracked, status: String, delivery: Delivery) {
        let _ = self.reports.send(DeliveryReport {
            request_id: tracked.request_id,
            application: tracked.application,
            to: tracked.to,
            carrier: self.carrier.clone(),
            channel: Channel::Rcs,
            carrier_message_id: message_id.to_owned(),
            delivery,
            status,
            error: None,
        });
    }

    fn sweep_now_and_then(&self) {
        let now = Instant::now();
        {
            let mut last = self.last_sweep.lock();
            if now.duration_since(*last) < SWEEP_EVERY {
                return;
            }
            *last = now;
        }
        self.sweep(now);
    }

    /// Forgets messages that never got a report within [`REPORT_WAIT`], and stale orphans.
    pub fn sweep(&self, now: Instant) {
        self.by_id.retain(|_, t| now.duration_since(t.since) < REPORT_WAIT);
        self.orphans.retain(|_, o| now.duration_since(o.at) < ORPHAN_WAIT);
    }

    pub fn tracked(&self) -> usize {
        self.by_id.len()
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
