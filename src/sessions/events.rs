//! What a session says about itself: the decision (`GET /v3/session/{id}/decision/`) and the
//! `status.updated` webhook written with each status change (CONTRACT §3).
use super::{Session, SessionStatus};
use crate::outbox::canonical;
use crate::verification::{iso8601, Verification};
use crate::workflows::PHONE;
use serde_json::{json, Map, Value};

/// The one event type sessions send.
pub const STATUS_UPDATED: &str = "status.updated";

/// A status change's webhook, to be written with the change ([`crate::store::SessionUpdate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEvent {
    pub status: SessionStatus,
    /// The payload in canonical JSON: the exact body sent and signed.
    pub payload: String,
    pub created_at_ms: i64,
}

/// The decision: the session's status and its verification's report (the same report as path B).
pub fn decision(session: &Session, verification: Option<&Verification>) -> Value {
    let reviews: Vec<Value> = session
        .reviews
        .iter()
        .map(|r| {
            json!({
                "user": r.by,
                "previous_status": r.previous_status,
                "new_status": r.new_status,
                "comment": r.comment,
                "created_at": iso8601(r.at_ms),
            })
        })
        .collect();
    let reports: Vec<Value> = verification
        .filter(|v| session.owns(v))
        .map(|v| serde_json::to_value(v.report()).expect("a report always serialises"))
        .into_iter()
        .collect();
    json!({
        "session_id": session.id,
        "session_number": session.number,
        "status": session.status,
        "workflow_id": session.workflow.id,
        "features": [PHONE],
        "vendor_data": session.vendor_data,
        "metadata": session.metadata,
        "callback": session.callback,
        "contact_details": { "phone": session.contact_phone },
        "created_at": iso8601(session.created_at_ms),
        "phone_verifications": reports,
        "reviews": reviews,
    })
}

/// The `status.updated` webhook for `session` as it now stands. `vendor_data` and `metadata` are
/// present only when the session has them (as Didit sends them); `decision` when the status
/// carries one. Times are unix seconds.
pub fn status_event(session: &Session, verification: Option<&Verification>, now_ms: i64) -> StatusEvent {
    let mut payload = Map::new();
    payload.insert("webhook_type".into(), STATUS_UPDATED.into());
    payload.insert("session_id".into(), session.id.clone().into());
    payload.insert("status".into(), session.status.as_str().into());
    payload.insert("workflow_id".into(), session.workflow.id.clone().into());
    if let Some(vendor_data) = &session.vendor_data {
        payload.insert("vendor_data".into(), vendor_data.clone().into());
    }
    if let Some(metadata) = &session.metadata {
        payload.insert("metadata".into(), metadata.clone());
    }
    payload.insert("created_at".into(), (session.created_at_ms / 1000).into());
    payload.insert("timestamp".into(), (now_ms / 1000).into());
    if session.status.has_decision() {
        payload.insert("decision".into(), decision(session, verification));
    }
    StatusEvent {
        status: session.status,
        payload: canonical::to_string(&Value::Object(payload)),
        created_at_ms: now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::SessionTimes;
    use crate::workflows::{PhoneSettings, Workflow};

    fn session(status: SessionStatus) -> Session {
        let workflow = Workflow {
            id: "wf-1".into(),
            application: "a".into(),
            label: "phone".into(),
            phone: PhoneSettings::default(),
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        let mut s = Session::new(
            "a",
            workflow,
            "t",
            Some("José Müller".into()),
            Some(json!({ "score": 0.5, "plan": 3.0 })),
            None,
            None,
            &SessionTimes::default(),
            1_800_000_000_123,
        );
        s.status = status;
        s
    }

    #[test]
    fn in_progress_carries_no_decision_and_optional_fields_only_when_set() {
        let event = status_event(&session(SessionStatus::InProgress), None, 1_800_000_100_999);
        let body: Value = serde_json::from_str(&event.payload).unwrap();
        assert_eq!(body["webhook_type"], "status.updated");
        assert_eq!(body["status"], "In Progress");
        assert_eq!(
            (body["created_at"].as_i64(), body["timestamp"].as_i64()),
            (Some(1_800_000_000), Some(1_800_000_100))
        );
        assert!(body.get("decision").is_none());
        assert!(
            event.payload.contains("\"vendor_data\":\"José Müller\""),
            "not escaped: {}",
            event.payload
        );
        assert!(
            event.payload.contains("\"plan\":3,"),
            "integer-valued float: {}",
            event.payload
        );

        let mut bare = session(SessionStatus::Expired);
        bare.vendor_data = None;
        bare.metadata = None;
        let body: Value = serde_json::from_str(&status_event(&bare, None, 0).payload).unwrap();
        assert!(body.get("vendor_data").is_none() && body.get("metadata").is_none() && body.get("decision").is_none());
    }

    #[test]
    fn final_statuses_carry_the_decision() {
        for status in [
            SessionStatus::Approved,
            SessionStatus::Declined,
            SessionStatus::InReview,
            SessionStatus::Abandoned,
        ] {
            let body: Value = serde_json::from_str(&status_event(&session(status), None, 0).payload).unwrap();
            assert_eq!(body["decision"]["status"], status.as_str());
            assert_eq!(body["decision"]["features"], json!(["PHONE"]));
        }
    }
}
