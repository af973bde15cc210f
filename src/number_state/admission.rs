//! Admission: the send limits (24 h window, blocklist, high risk), new verifications, and
//! declining a refused or newly blocklisted one.
use super::*;

impl NumberState {
    /// Applies the send limits and decides what to deliver. The send is counted at once so
    /// concurrent requests cannot both slip under the limit; [`Self::finish_send`] uncounts it
    /// if nothing was delivered.
    pub fn begin_send(
        &mut self,
        request: &SendRequest,
        policy: &VerificationPolicy,
        secret: &CodeSecret,
        now_ms: i64,
    ) -> (SendStart, Vec<Verification>) {
        let mut changed = Vec::new();
        self.expire_if_due(now_ms, &mut changed);
        self.sends_ms.retain(|t| *t > now_ms - DAY_MS);

        if let Some(entry) = &request.blocklisted {
            let v = self.new_verification(request, policy, secret, now_ms, false).0;
            let data = json!({ entry.kind.as_str(): entry.value });
            let start = self.block(
                v,
                Risk::PhoneNumberInBlocklist,
                data,
                BlockReason::InBlockList,
                now_ms,
                &mut changed,
            );
            return (start, changed);
        }

        let high_risk = match (request.number.sandbox, request.number.is_premium) {
            (Some(SandboxNumber::HighRisk), _) => Some(json!({ "reason": "sandbox high-risk number" })),
            (_, true) => Some(json!({ "reason": "premium-rate or shared-cost number" })),
            _ => request.high_risk.clone(),
        };
        if let Some(data) = high_risk {
            let v = self.new_verification(request, policy, secret, now_ms, false).0;
            let start = self.block(
                v,
                Risk::HighRiskPhoneNumber,
                data,
                BlockReason::Suspicious,
                now_ms,
                &mut changed,
            );
            return (start, changed);
        }

        let max_sends = 1 + policy.max_resend_requests_per_24h as usize;
        if self.sends_ms.len() >= max_sends {
            let pending = self.current.as_ref().is_some_and(|v| v.state == State::Pending);
            let v = match self.current.take() {
                Some(v) if pending => v,
                previous => {
                    self.current = previous;
                    self.new_verification(request, policy, secret, now_ms, false).0
                }
            };
            let data = json!({ "sends_in_24h": self.sends_ms.len(), "max_sends_in_24h": max_sends });
            let risk = Risk::VerificationCodeAttemptsExceeded;
            let start = self.block(v, risk, data, BlockReason::RepeatedAttempts, now_ms, &mut changed);
            return (start, changed);
        }

        self.sends_ms.push(now_ms);
        if let Some(v) = self.current.as_mut().filter(|v| v.state == State::Pending) {
            *self.inflight.entry(v.request_id.clone()).or_default() += 1;
            // The send is reserved on the record itself, so another node's actor for the number
            // counts it too (its write of the same record is conditional on this one's version).
            v.sends_ms.push(now_ms);
            // After a restart only the MAC survives: issue a fresh code under the same
            // request_id; validity is not extended and attempts are not reset.
            let code = match &self.code {
                Some(code) => code.clone(),
                None => {
                    let code = code::generate(request.code_length);
                    v.code_mac = secret.mac(&v.request_id, &code);
                    self.code = Some(code.clone());
                    code
                }
            };
            changed.push(v.clone());
            return (
                SendStart::Deliver {
                    request_id: v.request_id.clone(),
                    code,
                    resend: true,
                },
                changed,
            );
        }
        let (mut v, code) = self.new_verification(request, policy, secret, now_ms, true);
        v.sends_ms.push(now_ms);
        changed.push(v.clone());
        let start = SendStart::Deliver {
            request_id: v.request_id.clone(),
            code: code.clone(),
            resend: false,
        };
        self.inflight.insert(v.request_id.clone(), 1);
        self.replace_current(v);
        self.code = Some(code);
        (start, changed)
    }

    fn new_verification(
        &self,
        request: &SendRequest,
        policy: &VerificationPolicy,
        secret: &CodeSecret,
        now_ms: i64,
        will_send: bool,
    ) -> (Verification, String) {
        let request_id = uuid::Uuid::now_v7().to_string();
        // A verification refused before any send still gets an unguessable MAC, never a blank.
        let code = code::generate(if will_send { request.code_length } else { 10 });
        let v = Verification {
            code_mac: secret.mac(&request_id, &code),
            request_id,
            application: request.application.clone(),
            number: request.number.clone(),
            created_at_ms: now_ms,
            expires_at_ms: now_ms + policy.code_validity_ms,
            state: State::Pending,
            attempts: 0,
            max_attempts: policy.max_code_attempts,
            sends_ms: Vec::new(),
            channel: None,
            verification_method: None,
            vendor_data: request.vendor_data.clone(),
            metadata: request.metadata.clone(),
            verified_at_ms: None,
            warnings: Vec::new(),
            lifecycle: Vec::new(),
            charge: None,
            matches: Vec::new(),
            version: 0,
        };
        (v, code)
    }

    /// Declines `v` with `risk` as a refused send: it becomes the current verification, the
    /// clear code is dropped, and the caller is told why.
    fn block(
        &mut self,
        mut v: Verification,
        risk: Risk,
        data: Value,
        reason: BlockReason,
        now_ms: i64,
        changed: &mut Vec<Verification>,
    ) -> SendStart {
        v.state = State::Declined;
        v.warn(risk, LogType::Error, Some(data));
        v.log(
            LifecycleKind::PhoneVerificationBlocked,
            now_ms,
            Some(json!({ "reason": reason })),
        );
        let request_id = v.request_id.clone();
        changed.push(v.clone());
        self.replace_current(v);
        self.code = None;
        SendStart::Blocked { request_id, reason }
    }

    /// Declines the pending verification for `risk` found after its code went out (e.g. the
    /// number was blocklisted meanwhile). Returns the changed record, if one was pending.
    pub fn decline_pending(&mut self, risk: Risk, data: Value, now_ms: i64) -> Option<Verification> {
        let v = self.current.as_mut().filter(|v| v.is_pending_at(now_ms))?;
        v.state = State::Declined;
        v.warn(risk, LogType::Error, Some(data));
        v.log(
            LifecycleKind::PhoneVerificationDeclined,
            now_ms,
            Some(json!({ "risk": risk })),
        );
        self.code = None;
        Some(v.clone())
    }
}
