//! Matching platform callbacks to the messages they are about, for every HTTP channel
//! (WhatsApp, Telegram, Viber, RCS): the gateway registers what the platform accepted and hands
//! over each event its callbacks carry; the platform's outcome mapping says which events are
//! final, and the tracker reports each message once — also when a callback overtakes the
//! answer to its own send, which it holds for a minute.
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

/// A platform's outcome mapping: each final event (`delivered`, `read`, `failed`, ...) with the
/// [`Delivery`] it means. Events not listed (`sent`, `IS_TYPING`, unknown ones) are not final.
pub type Outcomes = &'static [(&'static str, Delivery)];

pub struct CallbackTracker {
    carrier: String,
    channel: Channel,
    reports: ReportSender,
    outcomes: Outcomes,
    by_id: DashMap<String, Tracked>,
    orphans: DashMap<String, Orphan>,
    last_sweep: Mutex<Instant>,
}

impl CallbackTracker {
    /// A tracker reporting `carrier`'s messages on `channel` to `reports`, with the platform's
    /// `outcomes` mapping.
    pub fn new(carrier: String, channel: Channel, reports: ReportSender, outcomes: Outcomes) -> Self {
        Self {
            carrier,
            channel,
            reports,
            outcomes,
            by_id: DashMap::new(),
            orphans: DashMap::new(),
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    /// Registers a message the platform accepted under `carrier_id`.
    pub fn track(&self, carrier_id: &str, message: &OutboundMessage) {
        self.sweep_now_and_then();
        let tracked = Tracked {
            request_id: message.request_id.clone(),
            application: message.application.clone(),
            to: message.to.clone(),
            since: Instant::now(),
        };
        if let Some((_, early)) = self.orphans.remove(carrier_id) {
            self.report(carrier_id, tracked, early.event, early.outcome, early.desc);
        } else {
            self.by_id.insert(carrier_id.to_owned(), tracked);
        }
    }

    /// Applies one callback event for `carrier_id` (`event` is the platform's word, `desc` its
    /// error, if any); true when it produced a report. Events that are not final change nothing.
    pub fn apply(&self, carrier_id: &str, event: &str, desc: Option<&str>) -> bool {
        let Some(&(_, outcome)) = self.outcomes.iter().find(|(final_event, _)| *final_event == event) else {
            return false;
        };
        self.sweep_now_and_then();
        // Removing first makes the report happen at most once, however many callbacks arrive
        // (`seen` after `delivered`, retries).
        match self.by_id.remove(carrier_id) {
            Some((_, tracked)) => {
                self.report(carrier_id, tracked, event.to_owned(), outcome, desc.map(str::to_owned));
                true
            }
            None => {
                // Not registered here: it overtook its send (kept below for `track`), or the
                // message was sent before a restart or by another node, which only the engine's
                // store knows; it is told at once and matches by id.
                let _ = self.reports.send(DeliveryReport::unmatched(
                    self.carrier.clone(),
                    self.channel,
                    carrier_id.to_owned(),
                    None,
                    outcome,
                    event.to_owned(),
                    desc.map(str::to_owned),
                ));
                if self.orphans.len() < MAX_ORPHANS {
                    let orphan = Orphan {
                        event: event.to_owned(),
                        outcome,
                        desc: desc.map(str::to_owned),
                        at: Instant::now(),
                    };
                    self.orphans.entry(carrier_id.to_owned()).or_insert(orphan);
                }
                false
            }
        }
    }

    fn report(&self, carrier_id: &str, tracked: Tracked, event: String, delivery: Delivery, desc: Option<String>) {
        let _ = self.reports.send(DeliveryReport {
            request_id: tracked.request_id,
            application: tracked.application,
            to: tracked.to,
            carrier: self.carrier.clone(),
            channel: self.channel,
            carrier_message_id: carrier_id.to_owned(),
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

    /// The next report the gateway matched itself, skipping the unmatched ones it hands the
    /// engine (tested on their own).
    fn matched(
        rx: &mut otpgate_gateway::ReportReceiver,
    ) -> Result<DeliveryReport, tokio::sync::mpsc::error::TryRecvError> {
        loop {
            let report = rx.try_recv()?;
            if !report.is_unmatched() {
                return Ok(report);
            }
        }
    }

    /// Viber's events, as an example mapping.
    const VIBER: Outcomes = &[
        ("delivered", Delivery::Delivered),
        ("seen", Delivery::Delivered),
        ("failed", Delivery::Failed),
    ];

    fn tracker() -> (CallbackTracker, otpgate_gateway::ReportReceiver) {
        let (tx, rx) = report_channel();
        (CallbackTracker::new("vb".into(), Channel::Viber, tx, VIBER), rx)
    }

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
    fn a_message_is_reported_once_whatever_follows() {
        let (tracker, mut rx) = tracker();
        tracker.track("1", &message());
        assert!(!tracker.apply("1", "subscribed", None), "not a final event");
        assert!(tracker.apply("1", "delivered", None));
        assert!(!tracker.apply("1", "seen", None));
        let report = matched(&mut rx).unwrap();
        assert_eq!(
            (report.request_id.as_str(), report.delivery),
            ("req-1", Delivery::Delivered)
        );
        assert_eq!((report.channel, report.status.as_str()), (Channel::Viber, "delivered"));
        assert!(matched(&mut rx).is_err());
        assert_eq!(tracker.tracked(), 0);
    }

    #[test]
    fn a_callback_that_overtakes_its_send_waits_for_it() {
        let (tracker, mut rx) = tracker();
        assert!(!tracker.apply("2", "failed", Some("blocked")));
        assert!(matched(&mut rx).is_err());
        tracker.track("2", &message());
        let report = matched(&mut rx).unwrap();
        assert_eq!(
            (report.delivery, report.error.as_deref()),
            (Delivery::Failed, Some("blocked"))
        );
        assert_eq!(tracker.tracked(), 0);
    }

    #[test]
    fn a_final_callback_for_a_message_it_does_not_know_goes_to_the_engine_unmatched() {
        let (tracker, mut rx) = tracker();
        assert!(!tracker.apply("wamid.X", "delivered", None));
        let report = rx.try_recv().expect("handed to the engine");
        assert!(report.is_unmatched());
        assert_eq!(
            (report.carrier_message_id.as_str(), report.channel, report.delivery),
            ("wamid.X", Channel::Viber, Delivery::Delivered)
        );
        assert!(!tracker.apply("wamid.Y", "subscribed", None));
        assert!(rx.try_recv().is_err(), "not a final event: nothing handed on");
    }

    #[test]
    fn entries_expire() {
        let (tracker, mut rx) = tracker();
        tracker.track("3", &message());
        tracker.sweep(Instant::now() + REPORT_WAIT);
        assert_eq!(tracker.tracked(), 0);
        assert!(!tracker.apply("3", "delivered", None));
        assert!(matched(&mut rx).is_err());
    }
}
