//! The sandbox channel: messages are "delivered" into an in-memory inbox that integrators read
//! through `GET /v3/sandbox/messages/`, so they can test without any carrier.
//!
//! The inbox holds codes in clear text, so it is deliberately memory-only: nothing here ever
//! reaches the disk, and it is bounded (per number and in numbers kept) so a load test cannot
//! grow it without limit.
use crate::{Accepted, Channel, Delivery, Gateway, GatewayError, OutboundMessage};
use async_trait::async_trait;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Messages kept per (application, number); older ones are dropped first.
pub const MESSAGES_PER_NUMBER: usize = 10;
/// Numbers kept per inbox; the number least recently written to is dropped first.
pub const NUMBERS_KEPT: usize = 200_000;

/// One message as the sandbox channel received it.
#[derive(Debug, Clone)]
pub struct SandboxMessage {
    pub message_id: String,
    pub request_id: String,
    pub phone_number: String,
    pub channel: Channel,
    pub text: String,
    pub code: String,
    pub created_at_ms: i64,
}

type Key = (String, String);

#[derive(Default)]
struct InboxState {
    by_number: HashMap<Key, VecDeque<SandboxMessage>>,
    // Insertion order of keys, for eviction. A key may appear more than once; stale entries are
    // skipped when their number was rewritten later (tracked by `generation`).
    order: VecDeque<(Key, u64)>,
    generation: HashMap<Key, u64>,
}

/// The in-memory inbox shared by the sandbox gateway and the HTTP endpoint that lists it.
#[derive(Default, Clone)]
pub struct Inbox {
    state: Arc<Mutex<InboxState>>,
    sequence: Arc<AtomicU64>,
}

impl Inbox {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&self, application: &str, message: SandboxMessage) {
        let key = (application.to_owned(), message.phone_number.clone());
        let generation = self.sequence.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state.lock();
        let queue = state.by_number.entry(key.clone()).or_default();
        if queue.len() == MESSAGES_PER_NUMBER {
            queue.pop_back();
        }
        queue.push_front(message);
        state.generation.insert(key.clone(), generation);
        state.order.push_back((key, generation));
        while state.by_number.len() > NUMBERS_KEPT {
            let Some((oldest, generation)) = state.order.pop_front() else {
                break;
            };
            if state.generation.get(&oldest) == Some(&generation) {
                state.by_number.remove(&oldest);
                state.generation.remove(&oldest);
            }
        }
        // Stale order entries accumulate only while numbers are rewritten; compact when the
        // queue is clearly dominated by them.
        if state.order.len() > 2 * NUMBERS_KEPT.max(state.by_number.len()) {
            let InboxState { order, generation, .. } = &mut *state;
            order.retain(|(k, g)| generation.get(k) == Some(g));
        }
    }

    /// Messages to one number for one application, newest first.
    pub fn list(&self, application: &str, phone_number: &str) -> Vec<SandboxMessage> {
        let key = (application.to_owned(), phone_number.to_owned());
        let state = self.state.lock();
        state
            .by_number
            .get(&key)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// A gateway that carries every channel to every country and delivers instantly into an
/// [`Inbox`].
pub struct SandboxGateway {
    inbox: Inbox,
    next_id: AtomicU64,
}

impl SandboxGateway {
    pub const NAME: &'static str = "sandbox";

    pub fn new(inbox: Inbox) -> Self {
        Self {
            inbox,
            next_id: AtomicU64::new(1),
        }
    }
}

#[async_trait]
impl Gateway for SandboxGateway {
    fn name(&self) -> &str {
        Self::NAME
    }

    /// Sandbox numbers never reach a carrier: nothing to charge.
    fn billable(&self) -> bool {
        false
    }

    fn channels(&self) -> &[Channel] {
        &Channel::ALL
    }

    fn serves_country(&self, _country: &str) -> bool {
        true
    }

    fn fee_micros(&self, _country: &str) -> u64 {
        0
    }

    fn is_up(&self) -> bool {
        true
    }

    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, GatewayError> {
        let id = format!("sbx-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.inbox.push(
            &message.application,
            SandboxMessage {
                message_id: id.clone(),
                request_id: message.request_id.clone(),
                phone_number: message.to.clone(),
                channel: message.channel,
                text: message.text.clone(),
                code: message.code.clone(),
                created_at_ms: now,
            },
        );
        Ok(Accepted {
            carrier_message_id: id,
            parts: 1,
            delivery: Some(Delivery::Delivered),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(app: &str, to: &str, code: &str) -> OutboundMessage {
        OutboundMessage {
            request_id: "r1".into(),
            application: app.into(),
            to: to.into(),
            channel: Channel::Sms,
            code: code.into(),
            text: format!("code {code}"),
            locale: "en".into(),
        }
    }

    #[tokio::test]
    async fn lists_newest_first_per_application() {
        let inbox = Inbox::new();
        let gw = SandboxGateway::new(inbox.clone());
        gw.send(&message("a", "+12025550123", "111111")).await.unwrap();
        gw.send(&message("a", "+12025550123", "222222")).await.unwrap();
        gw.send(&message("b", "+12025550123", "333333")).await.unwrap();
        let codes: Vec<_> = inbox.list("a", "+12025550123").into_iter().map(|m| m.code).collect();
        assert_eq!(codes, ["222222", "111111"]);
        assert_eq!(inbox.list("b", "+12025550123").len(), 1);
        assert!(inbox.list("a", "+12025550124").is_empty());
    }

    #[tokio::test]
    async fn keeps_a_bounded_history_per_number() {
        let inbox = Inbox::new();
        let gw = SandboxGateway::new(inbox.clone());
        for i in 0..(MESSAGES_PER_NUMBER + 5) {
            gw.send(&message("a", "+12025550123", &i.to_string())).await.unwrap();
        }
        let listed = inbox.list("a", "+12025550123");
        assert_eq!(listed.len(), MESSAGES_PER_NUMBER);
        assert_eq!(listed[0].code, (MESSAGES_PER_NUMBER + 4).to_string());
    }

    #[test]
    fn debug_never_shows_the_code() {
        let shown = format!("{:?}", message("a", "+12025550123", "987654"));
        assert!(!shown.contains("987654"), "{shown}");
    }
}
