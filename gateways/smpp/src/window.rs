//! The requests a bind has written and not yet seen answered, by sequence number.
//!
//! The window's *size* is enforced before a request reaches the bind (a semaphore per bind in
//! the gateway); this is the bookkeeping behind it: sequence numbers, who waits for which
//! answer, and which answers are overdue. Pure data, so it is tested without sockets.
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// SMPP sequence numbers run 0x00000001..=0x7FFFFFFF.
const MAX_SEQUENCE: u32 = 0x7FFF_FFFF;

pub struct Window<T> {
    next: u32,
    timeout: Duration,
    pending: HashMap<u32, Entry<T>>,
}

struct Entry<T> {
    sent_at: Instant,
    item: T,
}

impl<T> Window<T> {
    pub fn new(timeout: Duration) -> Self {
        Self {
            next: 1,
            timeout,
            pending: HashMap::new(),
        }
    }

    /// Allocates the next sequence number, skipping any still pending after a wrap.
    pub fn next_sequence(&mut self) -> u32 {
        loop {
            let seq = self.next;
            self.next = if seq >= MAX_SEQUENCE { 1 } else { seq + 1 };
            if !self.pending.contains_key(&seq) {
                return seq;
            }
        }
    }

    pub fn insert(&mut self, seq: u32, item: T, now: Instant) {
        self.pending.insert(seq, Entry { sent_at: now, item });
    }

    /// The answer for `seq` arrived: returns what was waiting and how long it took.
    pub fn complete(&mut self, seq: u32, now: Instant) -> Option<(T, Duration)> {
        self.pending
            .remove(&seq)
            .map(|e| (e.item, now.saturating_duration_since(e.sent_at)))
    }

    /// Removes and returns everything that has waited longer than the response timeout.
    pub fn expired(&mut self, now: Instant) -> Vec<(u32, T)> {
        let timeout = self.timeout;
        let due: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.sent_at) >= timeout)
            .map(|(seq, _)| *seq)
            .collect();
        due.into_iter()
            .filter_map(|seq| self.pending.remove(&seq).map(|e| (seq, e.item)))
            .collect()
    }

    /// Removes everything (the connection is gone).
    pub fn drain(&mut self) -> Vec<T> {
        self.pending.drain().map(|(_, e)| e.item).collect()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_complete_their_own_request_once() {
        let mut w = Window::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let (a, b) = (w.next_sequence(), w.next_sequence());
        w.insert(a, "a", t0);
        w.insert(b, "b", t0);
        assert_eq!(w.complete(b, t0 + Duration::from_millis(3)).map(|x| x.0), Some("b"));
        assert_eq!(w.complete(b, t0).map(|x| x.0), None);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn overdue_requests_expire_and_fresh_ones_stay() {
        let mut w = Window::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let old = w.next_sequence();
        w.insert(old, 1, t0);
        let new = w.next_sequence();
        w.insert(new, 2, t0 + Duration::from_secs(3));
        let expired = w.expired(t0 + Duration::from_secs(5));
        assert_eq!(expired, vec![(old, 1)]);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn sequence_numbers_wrap_and_skip_pending_ones() {
        let mut w = Window::new(Duration::from_secs(5));
        w.next = MAX_SEQUENCE;
        w.insert(1, (), Instant::now());
        assert_eq!(w.next_sequence(), MAX_SEQUENCE);
        assert_eq!(w.next_sequence(), 2);
    }
}
