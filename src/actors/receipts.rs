//! What a number's actor remembers about receipts, in one type: outcomes that arrived while
//! their send was still being answered (a fast SMSC sends the receipt right behind
//! submit_sm_resp), and the messages whose final receipt it already applied (a platform's `read`
//! after `delivered`, handed on unmatched and found in the store before the first outcome's
//! commit, must change nothing). All are small and bounded; the store keeps the truth.
//!
//! A receipt that overtakes the answer of a send this actor still waits for is *folded*: it is
//! not written on its own but kept whole until the send is answered, and the send's outcome
//! writes it in the same commit (its lifecycle entry, the message's state, no fallback plan).
//! One durable write less per message wherever the SMSC answers that fast, and nothing is lost
//! that was not lost before: a receipt is never acknowledged to the carrier on our commit (the
//! gateway answers `deliver_sm` on arrival), and a crash before the outcome's commit loses the
//! outcome with it.
use otpgate_gateway::{Delivery, DeliveryReport};
use std::collections::VecDeque;

/// Early outcomes kept at most.
const EARLY_KEPT: usize = 16;
/// Folded receipts kept at most; one more is written on its own.
const FOLDED_KEPT: usize = 16;
/// Settled messages kept at most.
const SETTLED_KEPT: usize = 32;

#[derive(Debug, Default)]
pub struct Receipts {
    /// (request id, carrier, outcome) of receipts ahead of their send's answer, written already
    /// (a fallback step's message, which is not [`Self::awaiting`]).
    early: Vec<(String, String, Delivery)>,
    /// (request id, sends of it) whose carrier answer this actor still waits for.
    awaiting: Vec<(String, u32)>,
    /// Receipts of awaited verifications, not yet written: the send's outcome writes them.
    folded: Vec<DeliveryReport>,
    /// (carrier, carrier message id) of messages settled here, newest last.
    settled: VecDeque<(String, String)>,
}

impl Receipts {
    /// Records that the final receipt of (`carrier`, `message_id`) is being applied; false when
    /// it already was (the report is a repeat and must change nothing).
    pub fn first_report(&mut self, carrier: &str, message_id: &str) -> bool {
        if self.settled.iter().any(|(c, m)| c == carrier && m == message_id) {
            return false;
        }
        if self.settled.len() >= SETTLED_KEPT {
            self.settled.pop_front();
        }
        self.settled.push_back((carrier.to_owned(), message_id.to_owned()));
        true
    }

    /// A send of `request_id` went to the carriers: until [`Self::answered`], its receipts fold.
    pub fn awaiting(&mut self, request_id: &str) {
        match self.awaiting.iter_mut().find(|(r, _)| r == request_id) {
            Some((_, n)) => *n += 1,
            None => self.awaiting.push((request_id.to_owned(), 1)),
        }
    }

    /// Keeps `report` for the answer of its verification's awaited send, which writes it; gives
    /// it back when no send of it is awaited (or too many are kept), to be written on its own.
    pub fn fold(&mut self, report: DeliveryReport) -> Option<DeliveryReport> {
        if self.folded.len() >= FOLDED_KEPT || !self.awaiting.iter().any(|(r, _)| *r == report.request_id) {
            return Some(report);
        }
        self.folded.push(report);
        None
    }

    /// A send of `request_id` was answered: every receipt folded for the verification, which
    /// that send's outcome now writes.
    pub fn answered(&mut self, request_id: &str) -> Vec<DeliveryReport> {
        if let Some(i) = self.awaiting.iter().position(|(r, _)| r == request_id) {
            self.awaiting[i].1 -= 1;
            if self.awaiting[i].1 == 0 {
                self.awaiting.swap_remove(i);
            }
        }
        if self.folded.is_empty() {
            return Vec::new();
        }
        let (taken, kept) = std::mem::take(&mut self.folded)
            .into_iter()
            .partition(|r| r.request_id == request_id);
        self.folded = kept;
        taken
    }

    /// Keeps an outcome for `request_id`'s message on `carrier` until its send is answered.
    pub fn hold_early(&mut self, request_id: &str, carrier: &str, delivery: Delivery) {
        self.early.truncate(EARLY_KEPT - 1);
        self.early.push((request_id.to_owned(), carrier.to_owned(), delivery));
    }

    /// The outcome held for `request_id`'s message on `carrier`, if one came early.
    pub fn take_early(&mut self, request_id: &str, carrier: &str) -> Option<Delivery> {
        let i = self
            .early
            .iter()
            .position(|(r, c, _)| r == request_id && c == carrier)?;
        Some(self.early.swap_remove(i).2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_is_refused_and_early_outcomes_are_taken_once() {
        let mut receipts = Receipts::default();
        assert!(receipts.first_report("wa", "wamid.1"));
        assert!(!receipts.first_report("wa", "wamid.1"));
        assert!(receipts.first_report("smsc", "wamid.1"), "another carrier's id");
        receipts.hold_early("r-1", "smsc", Delivery::Failed);
        assert_eq!(receipts.take_early("r-1", "wa"), None);
        assert_eq!(receipts.take_early("r-1", "smsc"), Some(Delivery::Failed));
        assert_eq!(receipts.take_early("r-1", "smsc"), None);
        for i in 0..100 {
            receipts.first_report("c", &i.to_string());
            receipts.hold_early(&i.to_string(), "c", Delivery::Delivered);
        }
        assert!(receipts.settled.len() <= SETTLED_KEPT && receipts.early.len() <= EARLY_KEPT);
        assert!(receipts.first_report("wa", "wamid.1"), "forgotten once old");
    }

    fn report(request_id: &str) -> DeliveryReport {
        DeliveryReport {
            request_id: request_id.into(),
            application: "app".into(),
            to: "+12025550123".into(),
            carrier: "smsc".into(),
            channel: otpgate_gateway::Channel::Sms,
            carrier_message_id: "1".into(),
            delivery: Delivery::Delivered,
            status: "DELIVRD".into(),
            error: None,
        }
    }

    #[test]
    fn receipts_fold_only_while_their_send_is_awaited_and_are_handed_to_its_answer() {
        let mut receipts = Receipts::default();
        assert!(receipts.fold(report("r-1")).is_some(), "nothing awaited");
        receipts.awaiting("r-1");
        receipts.awaiting("r-1");
        assert!(receipts.fold(report("r-2")).is_some(), "another verification");
        assert!(receipts.fold(report("r-1")).is_none());
        let taken = receipts.answered("r-1");
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].request_id, "r-1");
        assert!(receipts.answered("r-1").is_empty(), "handed over once");
        assert!(receipts.fold(report("r-1")).is_some(), "both sends answered");
        receipts.awaiting("r-3");
        for _ in 0..FOLDED_KEPT {
            assert!(receipts.fold(report("r-3")).is_none());
        }
        assert!(receipts.fold(report("r-3")).is_some(), "bounded: written on its own");
        assert_eq!(receipts.answered("r-3").len(), FOLDED_KEPT);
    }
}
