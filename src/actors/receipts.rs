//! What a number's actor remembers about receipts, in one type: outcomes that arrived while
//! their send was still being answered (a fast SMSC sends the receipt right behind
//! submit_sm_resp), and the messages whose final receipt it already applied (a platform's `read`
//! after `delivered`, handed on unmatched and found in the store before the first outcome's
//! commit, must change nothing). Both are small and bounded; the store keeps the truth.
use otpgate_gateway::Delivery;
use std::collections::VecDeque;

/// Early outcomes kept at most.
const EARLY_KEPT: usize = 16;
/// Settled messages kept at most.
const SETTLED_KEPT: usize = 32;

#[derive(Debug, Default)]
pub struct Receipts {
    /// (request id, carrier, outcome) of receipts ahead of their send's answer.
    early: Vec<(String, String, Delivery)>,
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
}
