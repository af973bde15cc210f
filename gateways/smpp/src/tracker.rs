//! Matches receipts to the messages they are about, across every bind of one carrier (an SMSC
//! may send a receipt on any bind), and reports each message's outcome to the engine once.
use crate::receipt::{self, Receipt};
use dashmap::DashMap;
use otpgate_gateway::{Channel, Delivery, DeliveryReport, OutboundMessage, ReportSender};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A receipt may overtake its own submit_sm_resp when it comes back on another bind; it waits
/// this long for the message to be registered.
const ORPHAN_WAIT: Duration = Duration::from_secs(60);
/// Unmatched receipts kept at most (they are usually for messages sent before a restart).
const MAX_ORPHANS: usize = 10_000;

/// One message (all its parts) waiting for receipts.
pub struct Tracked {
    request_id: String,
    application: String,
    to: String,
    parts: u32,
    delivered_parts: AtomicU32,
    reported: AtomicBool,
    /// When tracking started, for expiry.
    since: Instant,
}

impl Tracked {
    pub fn new(message: &OutboundMessage, parts: u32) -> Arc<Self> {
        Arc::new(Self {
            request_id: message.request_id.clone(),
            application: message.application.clone(),
            to: message.to.clone(),
            parts,
            delivered_parts: AtomicU32::new(0),
            reported: AtomicBool::new(false),
            since: Instant::now(),
        })
    }

    fn handset_digits(&self) -> &str {
        self.to.strip_prefix('+').unwrap_or(&self.to)
    }
}

pub struct Tracker {
    carrier: String,
    reports: ReportSender,
    by_id: DashMap<String, Arc<Tracked>>,
    orphans: DashMap<String, (Receipt, Instant)>,
}

impl Tracker {
    pub fn new(carrier: String, reports: ReportSender) -> Self {
        Self {
            carrier,
            reports,
            by_id: DashMap::new(),
            orphans: DashMap::new(),
        }
    }

    /// Registers a part the SMSC accepted under `message_id`. Called by the bind before it
    /// reads the next PDU, so a receipt on the same bind always finds it.
    /// Only the canonical spelling is stored; a receipt is looked up under every spelling of its
    /// own id, which covers an SMSC that answers in one base and receipts in the other.
    pub fn track(&self, message_id: &str, tracked: Arc<Tracked>) {
        let id = receipt::canonical(message_id);
        if !self.orphans.is_empty() {
            let early = receipt::id_forms(&id).iter().find_map(|f| self.orphans.remove(f));
            if let Some((_, (early, _))) = early {
                self.by_id.insert(id, tracked);
                self.apply(early, None);
                return;
            }
        }
        self.by_id.insert(id, tracked);
    }

    /// Applies a receipt. `handset` is the receipt's source_addr, used only to refuse a match
    /// that a hex/decimal reinterpretation of the id produced for some other number.
    pub fn on_receipt(&self, receipt: Receipt, handset: Option<&str>) {
        self.apply(receipt, handset);
    }

    fn apply(&self, receipt: Receipt, handset: Option<&str>) {
        // The id exactly as the submit_sm_resp spelled it identifies the message, whatever the
        // SMSC writes as the handset's address (`600002002` for `34600002002`, TON/NPI unknown
        // or international): the address is not compared then.
        let canonical = receipt::canonical(&receipt.message_id);
        let exact = self.by_id.get(&canonical).map(|t| (canonical.clone(), t.clone()));
        // The other base is a guess, so it must also name the same handset.
        let plausible = |t: &Tracked| handset.is_none_or(|h| same_handset(h, t.handset_digits()));
        let found = exact.or_else(|| {
            receipt::id_forms(&canonical).into_iter().skip(1).find_map(|form| {
                let tracked = self.by_id.get(&form).filter(|t| plausible(t)).map(|t| t.clone());
                tracked.map(|t| (form, t))
            })
        });
        let Some((key, tracked)) = found else {
            if let Some(outcome) = receipt.outcome {
                // Not ours in memory: either it overtook its submit_sm_resp (kept as an orphan
                // for `track`), or it is for a message sent before a restart or by another node,
                // which only the engine's store knows; it is told at once and matches by id.
                let _ = self.reports.send(DeliveryReport::unmatched(
                    self.carrier.clone(),
                    Channel::Sms,
                    canonical.clone(),
                    handset.map(str::to_owned),
                    outcome,
                    receipt.stat.clone(),
                    receipt.error.clone(),
                ));
                if self.orphans.len() < MAX_ORPHANS {
                    self.orphans.insert(canonical, (receipt, Instant::now()));
                }
            }
            return;
        };
        let Some(outcome) = receipt.outcome else {
            return; // intermediate (ENROUTE, ACCEPTD): keep waiting
        };
        self.by_id.remove_if(&key, |_, t| Arc::ptr_eq(t, &tracked));
        let report = match outcome {
            Delivery::Delivered => tracked.delivered_parts.fetch_add(1, Ordering::AcqRel) + 1 == tracked.parts,
            Delivery::Failed => true,
        };
        if report && !tracked.reported.swap(true, Ordering::AcqRel) {
            let _ = self.reports.send(DeliveryReport {
                request_id: tracked.request_id.clone(),
                application: tracked.application.clone(),
                to: tracked.to.clone(),
                carrier: self.carrier.clone(),
                channel: Channel::Sms,
                // The id as tracked (canonical, in the base the submit_sm_resp used), which is
                // how the engine stored the message, whatever spelling the receipt used.
                carrier_message_id: key,
                delivery: outcome,
                status: receipt.stat,
                error: receipt.error,
            });
        }
    }

    /// Forgets messages that never got a receipt within `ttl`, and stale orphans.
    pub fn sweep(&self, ttl: Duration) {
        let now = Instant::now();
        self.by_id.retain(|_, t| now.duration_since(t.since) < ttl);
        self.orphans.retain(|_, (_, at)| now.duration_since(*at) < ORPHAN_WAIT);
    }

    pub fn tracked(&self) -> usize {
        self.by_id.len()
    }
}

/// Whether a receipt's source_addr can be the number a message went to (`to_digits`: E.164
/// without `+`). SMSCs write the handset internationally (`34600002002`, `+34600002002`,
/// `0034600002002`) or nationally (`600002002`, `0600002002`), so the digits are compared
/// without their leading zeros and the shorter must end the longer; an empty address says
/// nothing and passes.
pub fn same_handset(source_addr: &str, to_digits: &str) -> bool {
    /// Shorter than any national significant number in use: too little to compare.
    const MIN_DIGITS: usize = 4;
    let digits = |s: &str| -> String {
        let all: String = s.chars().filter(char::is_ascii_digit).collect();
        all.trim_start_matches('0').to_owned()
    };
    let (a, b) = (digits(source_addr), digits(to_digits));
    if a.is_empty() {
        return true;
    }
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    short.len() >= MIN_DIGITS && long.ends_with(short.as_str())
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

    fn message(to: &str) -> OutboundMessage {
        OutboundMessage {
            request_id: "req-1".into(),
            application: "app".into(),
            to: to.into(),
            channel: Channel::Sms,
            code: "123456".into(),
            text: "t".into(),
            locale: "en".into(),
        }
    }

    fn receipt(id: &str, stat: &str) -> Receipt {
        Receipt {
            message_id: id.into(),
            stat: stat.into(),
            outcome: receipt::outcome_of(stat),
            error: None,
        }
    }

    #[test]
    fn a_receipt_in_the_other_base_is_reported_once() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("smsc-a".into(), tx);
        tracker.track("26", Tracked::new(&message("+14155550100"), 1));
        tracker.on_receipt(receipt("1A", "DELIVRD"), Some("14155550100"));
        tracker.on_receipt(receipt("1A", "DELIVRD"), Some("14155550100"));
        let report = matched(&mut rx).unwrap();
        assert_eq!(
            (report.request_id.as_str(), report.delivery),
            ("req-1", Delivery::Delivered)
        );
        assert!(matched(&mut rx).is_err());
        assert_eq!(tracker.tracked(), 0);
    }

    #[test]
    fn a_long_message_is_delivered_when_every_part_is_and_failed_at_the_first_failure() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("smsc-a".into(), tx);
        let tracked = Tracked::new(&message("+14155550100"), 2);
        tracker.track("10", tracked.clone());
        tracker.track("11", tracked);
        tracker.on_receipt(receipt("10", "DELIVRD"), None);
        assert!(matched(&mut rx).is_err());
        tracker.on_receipt(receipt("11", "DELIVRD"), None);
        assert_eq!(matched(&mut rx).unwrap().delivery, Delivery::Delivered);

        let failed = Tracked::new(&message("+14155550100"), 2);
        tracker.track("20", failed.clone());
        tracker.track("21", failed);
        tracker.on_receipt(receipt("21", "UNDELIV"), None);
        assert_eq!(matched(&mut rx).unwrap().delivery, Delivery::Failed);
        tracker.on_receipt(receipt("20", "DELIVRD"), None);
        assert!(matched(&mut rx).is_err());
    }

    #[test]
    fn a_receipt_that_overtakes_its_resp_waits_for_it() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("smsc-a".into(), tx);
        tracker.on_receipt(receipt("77", "UNDELIV"), None);
        assert!(matched(&mut rx).is_err());
        tracker.track("77", Tracked::new(&message("+14155550100"), 1));
        assert_eq!(matched(&mut rx).unwrap().status, "UNDELIV");
    }

    #[test]
    fn a_receipt_for_a_message_it_does_not_know_goes_to_the_engine_unmatched() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("smsc-a".into(), tx);
        tracker.on_receipt(receipt("001A", "DELIVRD"), Some("34600002002"));
        let report = rx.try_recv().expect("handed to the engine");
        assert!(report.is_unmatched());
        assert_eq!(
            (
                report.carrier.as_str(),
                report.carrier_message_id.as_str(),
                report.to.as_str()
            ),
            ("smsc-a", "1a", "34600002002"),
            "the canonical id and the handset as the receipt spells it"
        );
        assert_eq!(
            (report.delivery, report.status.as_str()),
            (Delivery::Delivered, "DELIVRD")
        );
        tracker.on_receipt(receipt("9", "ENROUTE"), None);
        assert!(rx.try_recv().is_err(), "an intermediate state is not handed on");
    }

    #[test]
    fn an_intermediate_state_keeps_waiting() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("smsc-a".into(), tx);
        tracker.track("5", Tracked::new(&message("+14155550100"), 1));
        tracker.on_receipt(receipt("5", "ENROUTE"), None);
        assert!(matched(&mut rx).is_err());
        assert_eq!(tracker.tracked(), 1);
    }

    #[test]
    fn an_exact_id_counts_whatever_the_handset_spelling() {
        for spelling in ["600002002", "34600002002", "+34600002002", "0034600002002", ""] {
            let (tx, mut rx) = report_channel();
            let tracker = Tracker::new("smsc-a".into(), tx);
            tracker.track("27", Tracked::new(&message("+34600002002"), 1));
            tracker.on_receipt(receipt("27", "DELIVRD"), Some(spelling));
            assert_eq!(matched(&mut rx).unwrap().delivery, Delivery::Delivered, "{spelling:?}");
        }
    }

    #[test]
    fn a_reinterpreted_id_must_name_the_same_handset() {
        let (tx, mut rx) = report_channel();
        let tracker = Tracker::new("smsc-a".into(), tx);
        // Tracked as hex "1a"; a receipt "26" (decimal 26 = 0x1a) only matches the same number.
        tracker.track("1a", Tracked::new(&message("+34600002002"), 1));
        tracker.on_receipt(receipt("26", "DELIVRD"), Some("447700900123"));
        assert!(matched(&mut rx).is_err(), "another handset");
        tracker.on_receipt(receipt("26", "DELIVRD"), Some("600002002"));
        assert_eq!(matched(&mut rx).unwrap().delivery, Delivery::Delivered);
    }

    #[test]
    fn handset_spellings() {
        assert!(same_handset("600002002", "34600002002"));
        assert!(same_handset("0600002002", "34600002002"));
        assert!(same_handset("+34600002002", "34600002002"));
        assert!(same_handset("0034600002002", "34600002002"));
        assert!(!same_handset("600002003", "34600002002"));
        assert!(!same_handset("002", "34600002002"), "too few digits to say");
    }
}
