//! Checking: codes (attempts, single use, risk actions, duplicates) and reviews settled by a
//! person.
use super::*;

impl NumberState {
    /// Checks a code. Each check of a pending verification uses one attempt; the right code is
    /// accepted once.
    pub fn check(
        &mut self,
        candidate: &str,
        actions: RiskActions,
        secret: &CodeSecret,
        now_ms: i64,
    ) -> (CheckResult, Vec<Verification>) {
        let mut changed = Vec::new();
        self.expire_if_due(now_ms, &mut changed);
        let Some(v) = self.current.as_mut() else {
            return (CheckResult::NotFound, changed);
        };
        match v.state {
            State::Pending => {}
            // A declined verification keeps answering Declined until it would have expired, so
            // a late right code cannot turn it around.
            State::Declined if now_ms < v.expires_at_ms => return (CheckResult::Declined, changed),
            _ => return (CheckResult::NotFound, changed),
        }
        v.attempts += 1;
        if !secret.verify(&v.request_id, candidate, &v.code_mac) {
            v.log(
                LifecycleKind::InvalidCodeEntered,
                now_ms,
                Some(json!({ "attempt": v.attempts })),
            );
            let result = if v.attempts >= v.max_attempts {
                v.state = State::Declined;
                let data = json!({ "attempts": v.attempts, "max_attempts": v.max_attempts });
                v.warn(Risk::VerificationCodeAttemptsExceeded, LogType::Error, Some(data));
                v.log(LifecycleKind::PhoneVerificationDeclined, now_ms, None);
                self.code = None;
                CheckResult::Declined
            } else {
                CheckResult::Failed {
                    attempts_left: v.max_attempts - v.attempts,
                }
            };
            changed.push(v.clone());
            return (result, changed);
        }
        v.log(LifecycleKind::ValidCodeEntered, now_ms, None);
        // The right code proves a message arrived. Without a receipt naming the channel, the
        // report names the channel of the last message a carrier accepted.
        if v.verification_method.is_none() {
            v.verification_method = v.channel;
        }
        self.code = None;
        // The same number already verified for another user. Without vendor_data on both sides
        // there is no telling users apart, so no match.
        v.matches = match &v.vendor_data {
            Some(user) => self
                .approved
                .iter()
                .filter(|m| m.request_id != v.request_id && m.vendor_data.as_ref().is_some_and(|other| other != user))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let mut action = RiskAction::Approve;
        if !v.matches.is_empty() {
            let data = json!({ "matches": v.matches.len() });
            v.warn(Risk::DuplicatedPhoneNumber, actions.duplicated.log_type(), Some(data));
            action = actions.duplicated;
        }
        for (present, risk, risk_action) in [
            (
                v.number.is_disposable,
                Risk::DisposableNumberDetected,
                actions.disposable,
            ),
            (v.number.is_virtual, Risk::VoipNumberDetected, actions.voip),
        ] {
            if present {
                v.warn(risk, risk_action.log_type(), None);
                action = action.max(risk_action);
            }
        }
        let result = if action == RiskAction::Decline {
            v.state = State::Declined;
            v.log(LifecycleKind::PhoneVerificationDeclined, now_ms, None);
            CheckResult::Declined
        } else if action == RiskAction::Review {
            v.state = State::InReview;
            v.log(LifecycleKind::PhoneVerificationInReview, now_ms, None);
            CheckResult::InReview
        } else {
            v.state = State::Approved;
            v.verified_at_ms = Some(now_ms);
            v.log(LifecycleKind::PhoneVerificationApproved, now_ms, None);
            self.approved.push(Match {
                request_id: v.request_id.clone(),
                vendor_data: v.vendor_data.clone(),
                verified_at_ms: v.verified_at_ms,
            });
            CheckResult::Approved
        };
        changed.push(v.clone());
        (result, changed)
    }

    /// A person approved or declined a verification In Review (`details`: who, why; logged).
    /// The number's current record is used when it is that verification, else `stored` (as the
    /// store holds it). Returns the changed record; `None` when it is not In Review.
    pub fn resolve_review(
        &mut self,
        stored: Verification,
        approve: bool,
        details: Value,
        now_ms: i64,
    ) -> Option<Verification> {
        let mut stored = stored;
        let v = match self.current.as_mut() {
            Some(current) if current.request_id == stored.request_id => current,
            _ => &mut stored,
        };
        if v.state != State::InReview {
            return None;
        }
        if approve {
            v.state = State::Approved;
            v.verified_at_ms = Some(now_ms);
            v.log(LifecycleKind::PhoneVerificationApproved, now_ms, Some(details));
            self.approved.push(Match {
                request_id: v.request_id.clone(),
                vendor_data: v.vendor_data.clone(),
                verified_at_ms: v.verified_at_ms,
            });
        } else {
            v.state = State::Declined;
            v.log(LifecycleKind::PhoneVerificationDeclined, now_ms, Some(details));
        }
        Some(v.clone())
    }
}
