//! Matches delivery callbacks to the messages they are about and reports each outcome once.
use dashmap::DashMap;
use otpgate_gateway::{Channel, Delivery, DeliveryReport, OutboundMessage, ReportSender};
use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// How long a message waits for its callback before it is forgotten.
pub const REPORT_WAIT: Duration = Duration::from_secs(3600);
/// A callback may overtake the answer to its own send; it waits this long for the send to
/// register the message.
const ORPHAN_WAIT: Duration = Duration::from_secs(60);
const MAX_ORPHANS: usize = 10_000;
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The outcome a callback `event` means; `None` for events about anything else.
pub fn outcome_of(event: &str) -> Option<Delivery> {
    match event {
        "delivered" | "seen" => Some(Delivery::Delivered),
        "failed" => Some(Delivery::Failed),
        _ => None,
    }
}

struct Tracked {
    request_id: String,
    application: String,
    to: String,
    since: Instant,
}

/// A final callback that arrived before its message was registered.
struct Orphan {
    event: String,
    outcome: Delivery,
    desc: Option<String>,
    at: Instant,
}

pub struct Tracker {
    carrier: String,
    reports: ReportSender,
    by_token: DashMap<String, Tracked>,
    orphans: DashMap<String, Orphan>,
    last_sweep: Mutex<Instant>,
}

impl Tracker {
    pub fn new(carrier: String, reports: ReportSender) -> Self {
        Self {
            carrier,
            reports,
            by_token: DashMap::new(),
            orphans: DashMap::new(),
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    /// Registers a message the platform accepted as `message_token`.
    pub fn track(&self, message_token: &str, message: &OutboundMessage) {
        self.sweep_now_and_then();
        let tracked = Tracked {
            request_id: message.request_id.clone(),
            application: message.application.clone(),
            to: message.to.clone(),
            since: Instant::now(),
        };
        if let Some((_, early)) = self.orphans.remove(message_token) {
            self.report(message_token, tracked, early.event, early.outcome, early.desc);
        } else {
            self.by_token.insert(message_token.to_owned(), tracked);
        }
    }

    /// Applies a callback `event` for `message_token`; true when it produced a report.
    pub fn apply(&self, message_token: &str, event: &str, desc: Option<&str>) -> bool {
        self.sweep_now_and_then();
        let Some(outcome) = outcome_of(event) else {
            return false;
        };
        // Removing first makes the report happen at most once, however many callbacks arrive
        // (`seen` after `delivered`, retries).
        match self.by_token.remove(message_token) {
            Some((_, tracked)) => {
                self.report(
                    message_token,
                    tracked,
                    event.to_owned(),
                    outcome,
                    desc.map(str::to_owned),
                );
                true
            }
            None => {
                if self.orphans.len() < MAX_ORPHANS {
                    let orphan = Orphan {
                        event: event.to_owned(),
                        outcome,
                        desc: desc.map(str::to_owned),
                        at: Instant::now(),
                    };
                    self.orphans.entry(message_token.to_owned()).or_insert(orphan);
                }
                false
            }
        }
    }

    fn report(&self, message_token: &str, tracked: Tracked, event: String, delivery: Delivery, desc: Option<String>) {
        let _ = self.reports.send(DeliveryReport {
            request_id: tracked.request_id,
            application: tracked.application,
            to: tracked.to,
            carrier: self.carrier.clone(),
            channel: Channel::Viber,
            carrier_message_id: message_token.to_owned(),
            delivery,
            status: event,
            error: desc,
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

    /// Forgets messages that never got a callback within [`REPORT_WAIT`], and stale orphans.
    pub fn sweep(&self, now: Instant) {
        self.by_token.retain(|_, t| now.duration_since(t.since) < REPORT_WAIT);
        self.orphans.retain(|_, o| now.duration_since(o.at) < ORPHAN_WAIT);
    }

    pub fn tracked(&self) -> usize {
        self.by_token.len()
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
