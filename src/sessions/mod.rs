//! Hosted sessions (path A, CONTRACT §3): one per end user, created by the application, completed
//! by the user on the hosted page at `session_url`, reported by signed webhooks.
//!
//! A [`Session`] is plain data; every change is a new version written with
//! [`crate::store::Store::update_session`], which applies it only if nobody changed the session
//! meanwhile and writes its webhook event in the same commit. The rules live here as pure
//! functions so they are tested without a store:
//!
//! ```text
//! Not Started ──page opened──▶ In Progress ──right code──▶ Approved | Declined | In Review
//!      │                           │                                             │
//!      └─ link unused (7 d) ─▶ Expired   └─ not finished (1 h) ─▶ Abandoned      └─ update-status ─▶ Approved | Declined
//! ```
//!
//! The verification itself is an ordinary one of the number's actor ([`crate::actors`]), sent and
//! checked under the workflow's limits and risk actions.
pub mod events;
pub mod service;

use crate::verification::{State, Verification};
use crate::workflows::Workflow;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Session statuses, spelled as the API and webhooks spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SessionStatus {
    #[serde(rename = "Not Started")]
    NotStarted,
    #[serde(rename = "In Progress")]
    InProgress,
    #[serde(rename = "In Review")]
    InReview,
    Approved,
    Declined,
    Abandoned,
    Expired,
}

impl SessionStatus {
    pub const ALL: [SessionStatus; 7] = [
        SessionStatus::NotStarted,
        SessionStatus::InProgress,
        SessionStatus::InReview,
        SessionStatus::Approved,
        SessionStatus::Declined,
        SessionStatus::Abandoned,
        SessionStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::NotStarted => "Not Started",
            SessionStatus::InProgress => "In Progress",
            SessionStatus::InReview => "In Review",
            SessionStatus::Approved => "Approved",
            SessionStatus::Declined => "Declined",
            SessionStatus::Abandoned => "Abandoned",
            SessionStatus::Expired => "Expired",
        }
    }

    /// Low-cardinality metric label (`not_started`, `in_review`, ...).
    pub fn label(self) -> &'static str {
        match self {
            SessionStatus::NotStarted => "not_started",
            SessionStatus::InProgress => "in_progress",
            SessionStatus::InReview => "in_review",
            SessionStatus::Approved => "approved",
            SessionStatus::Declined => "declined",
            SessionStatus::Abandoned => "abandoned",
            SessionStatus::Expired => "expired",
        }
    }

    /// One bit per status, for webhook destinations' subscriptions.
    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// Whether the session can still change without a person's review.
    pub fn is_open(self) -> bool {
        matches!(self, SessionStatus::NotStarted | SessionStatus::InProgress)
    }

    /// Statuses whose webhook and decision carry the verification's outcome (Didit: `decision`
    /// when Approved, Declined, In Review or Abandoned).
    pub fn has_decision(self) -> bool {
        matches!(
            self,
            SessionStatus::Approved | SessionStatus::Declined | SessionStatus::InReview | SessionStatus::Abandoned
        )
    }
}

/// How long sessions wait (the `[sessions]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimes {
    /// Not Started this long after creation: Expired.
    pub expire_after_ms: i64,
    /// In Progress this long after the page was opened: Abandoned.
    pub abandon_after_ms: i64,
    /// The least time between two sends from the hosted page.
    pub resend_cooldown_ms: i64,
}

impl Default for SessionTimes {
    fn default() -> Self {
        Self {
            expire_after_ms: 7 * 24 * 3600 * 1000,
            abandon_after_ms: 3600 * 1000,
            resend_cooldown_ms: 30 * 1000,
        }
    }
}

/// The session's verification: enough to find it again (`Store::load_number` from its creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationRef {
    pub request_id: String,
    pub phone: String,
    pub created_at_ms: i64,
}

/// A person's decision on a session In Review (`PATCH /v3/session/{id}/update-status/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub previous_status: SessionStatus,
    pub new_status: SessionStatus,
    pub comment: Option<String>,
    /// Who decided: the application whose key made the request.
    pub by: String,
    pub at_ms: i64,
}

/// One session, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// UUID v7.
    pub id: String,
    pub application: String,
    /// `session_number`: 1, 2, 3... per application, assigned by the store.
    pub number: i64,
    /// The workflow as it was when the session was created.
    pub workflow: Workflow,
    /// SHA-256 of the token in `session_url`; the token itself is never stored.
    #[serde(with = "hex_digest")]
    pub token_digest: [u8; 32],
    pub status: SessionStatus,
    /// Bumped by every stored change; the store applies an update only over the version it read.
    pub version: i64,
    pub vendor_data: Option<String>,
    pub metadata: Option<Value>,
    pub callback: Option<String>,
    /// `contact_details.phone`: the number is pre-filled and locked on the page.
    pub contact_phone: Option<String>,
    pub verification: Option<VerificationRef>,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    /// When it expires (Not Started) or is abandoned (In Progress); `None` once it cannot time out.
    pub deadline_ms: Option<i64>,
    /// The last send from the page, for the resend cooldown.
    pub last_send_ms: Option<i64>,
    pub reviews: Vec<Review>,
    /// `language` given at creation: the page's language when it has that one (else the
    /// browser's `Accept-Language` decides).
    #[serde(default)]
    pub language: Option<String>,
}

/// A new session token: 192 random bits, hex (what `session_url` carries).
pub fn new_token() -> String {
    let bytes: [u8; 24] = rand::Rng::random(&mut rand::rng());
    hex::encode(bytes)
}

/// What the store keeps of a token.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Session {
    /// A new session, Not Started, expiring after `times.expire_after_ms`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        application: &str,
        workflow: Workflow,
        token: &str,
        vendor_data: Option<String>,
        metadata: Option<Value>,
        callback: Option<String>,
        contact_phone: Option<String>,
        times: &SessionTimes,
        now_ms: i64,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            application: application.to_owned(),
            number: 0,
            workflow,
            token_digest: token_digest(token),
            status: SessionStatus::NotStarted,
            version: 0,
            vendor_data,
            metadata,
            callback,
            contact_phone,
            verification: None,
            created_at_ms: now_ms,
            started_at_ms: None,
            deadline_ms: Some(now_ms + times.expire_after_ms),
            last_send_ms: None,
            reviews: Vec::new(),
            language: None,
        }
    }

    /// The next version of this session (what an update writes), with `change` applied.
    pub fn next(&self, change: impl FnOnce(&mut Session)) -> Session {
        let mut next = self.clone();
        next.version = self.version + 1;
        change(&mut next);
        next
    }

    fn with_status(&self, status: SessionStatus, deadline_ms: Option<i64>) -> Session {
        self.next(|s| {
            s.status = status;
            s.deadline_ms = deadline_ms;
        })
    }

    /// The page was opened: Not Started becomes In Progress, abandoned after `abandon_after_ms`.
    pub fn open(&self, times: &SessionTimes, now_ms: i64) -> Option<Session> {
        (self.status == SessionStatus::NotStarted && !self.is_due(now_ms)).then(|| {
            let mut next = self.with_status(SessionStatus::InProgress, Some(now_ms + times.abandon_after_ms));
            next.started_at_ms = Some(now_ms);
            next
        })
    }

    fn is_due(&self, now_ms: i64) -> bool {
        self.deadline_ms.is_some_and(|d| d <= now_ms)
    }

    /// The timeout that is due at `now_ms`: Not Started → Expired, In Progress → Abandoned.
    pub fn timed_out(&self, now_ms: i64) -> Option<Session> {
        if !self.is_due(now_ms) {
            return None;
        }
        match self.status {
            SessionStatus::NotStarted => Some(self.with_status(SessionStatus::Expired, None)),
            SessionStatus::InProgress => Some(self.with_status(SessionStatus::Abandoned, None)),
            _ => None,
        }
    }

    /// The session after a send or check of its verification `v` (while In Progress): `v`
    /// becomes its verification, and its status follows when `v` reached Approved, Declined or
    /// In Review. `None` once the session is no longer In Progress.
    pub fn with_verification(&self, v: &Verification) -> Option<Session> {
        if self.status != SessionStatus::InProgress {
            return None;
        }
        let status = match v.state {
            State::Approved => Some(SessionStatus::Approved),
            State::Declined => Some(SessionStatus::Declined),
            State::InReview => Some(SessionStatus::InReview),
            State::Pending | State::Expired | State::Undeliverable => None,
        };
        Some(self.next(|s| {
            s.verification = Some(VerificationRef {
                request_id: v.request_id.clone(),
                phone: v.number.full_number.clone(),
                created_at_ms: v.created_at_ms,
            });
            if let Some(status) = status {
                s.status = status;
                s.deadline_ms = None;
            }
        }))
    }

    /// Whether `v` is this session's verification.
    pub fn owns(&self, v: &Verification) -> bool {
        self.verification.as_ref().is_some_and(|r| r.request_id == v.request_id)
    }

    /// A person's decision on a session In Review; `None` unless it is In Review.
    pub fn reviewed(&self, approve: bool, comment: Option<String>, by: &str, now_ms: i64) -> Option<Session> {
        if self.status != SessionStatus::InReview {
            return None;
        }
        let new_status = if approve {
            SessionStatus::Approved
        } else {
            SessionStatus::Declined
        };
        let mut next = self.with_status(new_status, None);
        next.reviews.push(Review {
            previous_status: self.status,
            new_status,
            comment,
            by: by.to_owned(),
            at_ms: now_ms,
        });
        Some(next)
    }
}

mod hex_digest {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(digest: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(digest))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(text, &mut digest).map_err(serde::de::Error::custom)?;
        Ok(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflows::PhoneSettings;

    const T0: i64 = 1_800_000_000_000;

    pub(crate) fn session() -> Session {
        let workflow = Workflow {
            id: "wf".into(),
            application: "a".into(),
            label: "phone".into(),
            phone: PhoneSettings::default(),
            created_at_ms: T0,
            updated_at_ms: T0,
        };
        Session::new(
            "a",
            workflow,
            "token",
            None,
            None,
            None,
            None,
            &SessionTimes::default(),
            T0,
        )
    }

    #[test]
    fn statuses_are_spelled_as_the_contract() {
        let spelled: Vec<String> = SessionStatus::ALL
            .iter()
            .map(|s| serde_json::to_value(s).unwrap().as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            spelled,
            [
                "Not Started",
                "In Progress",
                "In Review",
                "Approved",
                "Declined",
                "Abandoned",
                "Expired"
            ]
        );
        for s in SessionStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn an_unused_link_expires_and_an_opened_one_is_abandoned() {
        let times = SessionTimes::default();
        let s = session();
        assert!(s.timed_out(T0 + times.expire_after_ms - 1).is_none());
        let expired = s.timed_out(T0 + times.expire_after_ms).unwrap();
        assert_eq!(
            (expired.status, expired.version, expired.deadline_ms),
            (SessionStatus::Expired, 1, None)
        );
        assert!(s.open(&times, T0 + times.expire_after_ms).is_none(), "too late to open");

        let opened = s.open(&times, T0 + 10).unwrap();
        assert_eq!(opened.status, SessionStatus::InProgress);
        assert!(opened.open(&times, T0 + 20).is_none(), "opened once");
        let abandoned = opened.timed_out(T0 + 10 + times.abandon_after_ms).unwrap();
        assert_eq!(abandoned.status, SessionStatus::Abandoned);
        assert!(abandoned.timed_out(i64::MAX).is_none());
    }

    #[test]
    fn only_a_session_in_review_is_reviewed() {
        let s = session();
        assert!(s.reviewed(true, None, "ops", T0).is_none());
        let mut in_review = s.clone();
        in_review.status = SessionStatus::InReview;
        let approved = in_review
            .reviewed(true, Some("looks fine".into()), "acme", T0 + 1)
            .unwrap();
        assert_eq!(approved.status, SessionStatus::Approved);
        assert_eq!(approved.reviews[0].previous_status, SessionStatus::InReview);
        assert_eq!(approved.reviews[0].by, "acme");
        assert!(approved.reviewed(false, None, "acme", T0 + 2).is_none());
    }

    #[test]
    fn tokens_are_long_random_and_stored_as_digests() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 48, "192 bits");
        assert_eq!(token_digest(&a), token_digest(&a));
        assert_ne!(token_digest(&a), token_digest(&b));
    }
}
