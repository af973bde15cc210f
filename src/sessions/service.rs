//! Storing session changes: a status change goes out with its `status.updated` event, is counted
//! in `otpgate_sessions_total`, and wakes the local webhook worker. Also the sweep that expires
//! and abandons sessions whose time ran out.
use super::events::status_event;
use super::{Session, SessionStatus, SessionTimes, VerificationRef};
use crate::actors::SessionHook;
use crate::metrics as m;
use crate::store::{SessionUpdate, Store, StoreError};
use crate::verification::Verification;
use std::sync::Arc;
use tokio::sync::Notify;

/// What the session endpoints and the hosted page need beside the engine.
pub struct Hosting {
    pub times: SessionTimes,
    /// `server.public_url`: the base of `session_url`, and the page's own origin.
    pub public_url: String,
    /// Wakes this process's webhook worker after a local status change.
    pub wake: Arc<Notify>,
}

impl Hosting {
    pub fn new(times: SessionTimes, public_url: &str) -> Self {
        Self {
            times,
            public_url: public_url.trim_end_matches('/').to_owned(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The page of a session whose token is `token`.
    pub fn session_url(&self, token: &str) -> String {
        format!("{}/session/{token}/", self.public_url)
    }

    /// The public URL's host (no port): what the WebOTP line `@host #code` names (the SMS
    /// one-time-code format of the WICG spec binds a code to a host, not to a port).
    pub fn host(&self) -> &str {
        let rest = self
            .public_url
            .split_once("://")
            .map_or(self.public_url.as_str(), |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or(rest);
        match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().map_or(authority, |h| &authority[..h.len() + 2]),
            None => authority.split(':').next().unwrap_or(authority),
        }
    }
}

/// The update that writes `next` over `current`: with its webhook event when the status changed.
pub fn change(current: &Session, next: Session, verification: Option<&Verification>, now_ms: i64) -> SessionUpdate {
    let event = (next.status != current.status).then(|| status_event(&next, verification, now_ms));
    SessionUpdate {
        expected_version: current.version,
        session: next,
        records: Vec::new(),
        event,
    }
}

/// The hook of a send from the page: the verification becomes the session's, the send time
/// starts the resend cooldown, and a send refused for risk (declined) declines the session.
pub fn send_hook(session: Session) -> SessionHook {
    Arc::new(move |v, now_ms| {
        let v = v?;
        let mut next = session.with_verification(v)?;
        next.last_send_ms = Some(now_ms);
        Some(change(&session, next, Some(v), now_ms))
    })
}

/// The hook of a check from the page: the session follows its verification's outcome.
pub fn check_hook(session: Session) -> SessionHook {
    Arc::new(move |v, now_ms| {
        let v = v.filter(|v| session.owns(v))?;
        let next = session.with_verification(v)?;
        (next.status != session.status).then(|| change(&session, next, Some(v), now_ms))
    })
}

/// The hook of `update-status`: a session In Review approved or declined by `by`.
pub fn review_hook(session: Session, approve: bool, comment: Option<String>, by: String) -> SessionHook {
    Arc::new(move |v, now_ms| {
        let next = session.reviewed(approve, comment.clone(), &by, now_ms)?;
        Some(change(&session, next, v, now_ms))
    })
}

/// Counts a status a session entered (and wakes the worker for its webhook).
pub fn entered(hosting: &Hosting, status: SessionStatus) {
    metrics::counter!(m::SESSIONS, "status" => status.label()).increment(1);
    hosting.wake.notify_one();
}

/// Writes `next` over `current` (nothing else changed meanwhile). Returns whether it was written.
pub async fn apply(
    store: &dyn Store,
    hosting: &Hosting,
    current: &Session,
    next: Session,
    verification: Option<&Verification>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let status = (next.status != current.status).then_some(next.status);
    let applied = store
        .update_session(change(current, next, verification, now_ms))
        .await?;
    if let (true, Some(status)) = (applied, status) {
        entered(hosting, status);
    }
    Ok(applied)
}

/// The session's verification as stored, if it has one.
pub async fn verification_of(store: &dyn Store, session: &Session) -> Result<Option<Verification>, StoreError> {
    let Some(VerificationRef {
        request_id,
        phone,
        created_at_ms,
    }) = &session.verification
    else {
        return Ok(None);
    };
    let history = store.load_number(&session.application, phone, *created_at_ms).await?;
    Ok(history.into_iter().find(|v| &v.request_id == request_id))
}

/// Expires or abandons `session` if its time ran out; returns it as it now stands.
pub async fn settle_timeout(
    store: &dyn Store,
    hosting: &Hosting,
    session: Session,
    now_ms: i64,
) -> Result<Session, StoreError> {
    let Some(next) = session.timed_out(now_ms) else {
        return Ok(session);
    };
    let verification = verification_of(store, &session).await?;
    if apply(store, hosting, &session, next.clone(), verification.as_ref(), now_ms).await? {
        return Ok(next);
    }
    // Someone changed it first: theirs stands.
    Ok(store
        .session(crate::store::SessionKey::Id(&session.id))
        .await?
        .unwrap_or(session))
}

/// One sweep: every session whose deadline passed is expired or abandoned. Returns how many.
pub async fn sweep(store: &dyn Store, hosting: &Hosting, now_ms: i64) -> Result<usize, StoreError> {
    let mut settled = 0;
    loop {
        let due = store.sessions_due(now_ms, 100).await?;
        let (batch, before) = (due.len(), settled);
        for session in due {
            let status = session.status;
            if settle_timeout(store, hosting, session, now_ms).await?.status != status {
                settled += 1;
            }
        }
        // A short batch was the last; one that settled nothing would come back the same.
        if batch < 100 || settled == before {
            return Ok(settled);
        }
    }
}

/// Sweeps every `every` until the process ends.
pub async fn run_sweeper(store: Arc<dyn Store>, hosting: Arc<Hosting>, every: std::time::Duration) {
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        if let Err(e) = sweep(store.as_ref(), &hosting, crate::engine::now_ms()).await {
            crate::store::health::background_failure("could not expire or abandon due sessions", &e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webotp_host_is_the_public_urls_authority() {
        let times = SessionTimes::default();
        assert_eq!(
            Hosting::new(times, "https://verify.example.com/").host(),
            "verify.example.com"
        );
        assert_eq!(Hosting::new(times, "http://127.0.0.1:8080").host(), "127.0.0.1");
        assert_eq!(Hosting::new(times, "http://[::1]:8080/x").host(), "[::1]");
        assert_eq!(
            Hosting::new(times, "http://127.0.0.1:8080").session_url("abc"),
            "http://127.0.0.1:8080/session/abc/"
        );
    }
}
