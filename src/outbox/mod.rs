//! Outbound webhooks: destinations, the durable outbox and its delivery worker (CONTRACT §3).
//!
//! A session's status change and its `status.updated` event are written in the same commit
//! ([`crate::store::Store::update_session`]), one outbox row per subscribed destination. The
//! [`worker`] of every running engine claims due rows with a lease, so each row is sent by one
//! node at a time; it signs ([`signature`]) and posts each, and settles it: removed on a 2xx,
//! retried with exponential backoff and jitter on a network error, a timeout, 404, 408, 429 or
//! a 5xx, given up (counted and logged) on another answer or once older than
//! `[webhooks] give_up_after_seconds`. Only the oldest pending event of a (destination,
//! session) is ever claimable, so a session's events arrive in order; a restart loses nothing,
//! since every row stays until it is settled. Delivery is at least once: a node that dies after
//! the receiver's 2xx but before settling makes the event be sent again.
pub mod canonical;
pub mod signature;
pub mod worker;

use crate::sessions::SessionStatus;

/// Where an application's webhooks go (`POST /v3/webhook/destinations/`).
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    /// UUID v7.
    pub id: String,
    pub application: String,
    pub url: String,
    /// As requested: `status.updated`, or Didit's narrower session events.
    pub subscribed_events: Vec<String>,
    /// The session statuses those events cover, one bit each ([`SessionStatus::bit`]).
    pub statuses: u32,
    /// `secret_shared_key`: 256 random bits, hex. Kept in clear (an HMAC key must be).
    pub secret: String,
    pub created_at_ms: i64,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination")
            .field("id", &self.id)
            .field("application", &self.application)
            .field("url", &self.url)
            .field("subscribed_events", &self.subscribed_events)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The statuses a subscribable event name covers; `None` for an unknown name. `status.updated`
/// covers every status; `session.verified`, `session.declined` and `session.review_started` are
/// the narrower names of Didit's integration guide; `data.updated` is accepted but this engine
/// has no data edits to report.
pub fn event_statuses(event: &str) -> Option<u32> {
    let all = SessionStatus::ALL.iter().fold(0, |bits, s| bits | s.bit());
    match event {
        "status.updated" => Some(all),
        "session.verified" => Some(SessionStatus::Approved.bit()),
        "session.declined" => Some(SessionStatus::Declined.bit()),
        "session.review_started" => Some(SessionStatus::InReview.bit()),
        "data.updated" => Some(0),
        _ => None,
    }
}

/// The event names [`event_statuses`] knows, for error messages.
pub const EVENT_NAMES: &str =
    "status.updated, session.verified, session.declined, session.review_started, data.updated";

/// A new `secret_shared_key`.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::Rng::random(&mut rand::rng());
    hex::encode(bytes)
}

/// An event leased to one claimant, with what its delivery needs.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimedEvent {
    /// Outbox sequence number: increases with every event written.
    pub id: i64,
    pub session_id: String,
    /// The status it reports (`X-Signature-Simple` signs it).
    pub status: String,
    /// The canonical JSON body.
    pub payload: String,
    pub created_at_ms: i64,
    /// Attempts made before this one.
    pub attempts: u32,
    pub destination_id: String,
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for ClaimedEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedEvent")
            .field("id", &self.id)
            .field("session_id", &self.session_id)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("destination_id", &self.destination_id)
            .finish_non_exhaustive()
    }
}

/// How a delivery attempt ended, for [`crate::store::Store::settle_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    Delivered,
    /// Try again at `due_at_ms`.
    Retry {
        due_at_ms: i64,
    },
    GiveUp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_updated_covers_every_status_and_the_narrow_events_one_each() {
        let all = event_statuses("status.updated").unwrap();
        for s in SessionStatus::ALL {
            assert_ne!(all & s.bit(), 0, "{s:?}");
        }
        assert_eq!(event_statuses("session.verified"), Some(SessionStatus::Approved.bit()));
        assert_eq!(event_statuses("STATUS.UPDATED"), None);
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let d = Destination {
            id: "d".into(),
            application: "a".into(),
            url: "http://x".into(),
            subscribed_events: vec![],
            statuses: 0,
            secret: "s3cr3t-value".into(),
            created_at_ms: 0,
        };
        assert!(!format!("{d:?}").contains("s3cr3t"));
    }
}
