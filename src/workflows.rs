//! Workflows (path A, CONTRACT §3): per application, the PHONE feature and its settings — the
//! preferred channel, the limits that override `[verification]`, and the action taken for each
//! configurable risk. A session copies its workflow when it is created, so editing or deleting a
//! workflow never changes a session already handed to a user.
use crate::config::VerificationPolicy;
use crate::number_state::{RiskAction, RiskActions};
use crate::verification::iso8601;
use otpgate_gateway::Channel;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The only feature this engine runs (Didit's feature enum is UPPERCASE and strict).
pub const PHONE: &str = "PHONE";

/// One workflow of one application, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    /// UUID v7: `workflow_id` (and Didit's `uuid`).
    pub id: String,
    pub application: String,
    pub label: String,
    pub phone: PhoneSettings,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// The PHONE feature's `config`. `None` limits take the engine's `[verification]` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneSettings {
    pub preferred_channel: Option<Channel>,
    pub code_validity_seconds: Option<u64>,
    pub max_code_attempts: Option<u32>,
    pub max_resend_requests_per_24h: Option<u32>,
    pub risk_actions: WorkflowRiskActions,
}

/// `config.risk_actions`, keyed by the risk names of CONTRACT §4. Approve when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowRiskActions {
    #[serde(rename = "DISPOSABLE_NUMBER_DETECTED")]
    pub disposable: RiskAction,
    #[serde(rename = "VOIP_NUMBER_DETECTED")]
    pub voip: RiskAction,
    #[serde(rename = "DUPLICATED_PHONE_NUMBER")]
    pub duplicated: RiskAction,
}

/// The risks a workflow may configure, as named in requests.
pub const CONFIGURABLE_RISKS: [&str; 3] = [
    "DISPOSABLE_NUMBER_DETECTED",
    "VOIP_NUMBER_DETECTED",
    "DUPLICATED_PHONE_NUMBER",
];

impl WorkflowRiskActions {
    /// Sets the action of `risk` (one of [`CONFIGURABLE_RISKS`]); false for another name.
    pub fn set(&mut self, risk: &str, action: RiskAction) -> bool {
        match risk {
            "DISPOSABLE_NUMBER_DETECTED" => self.disposable = action,
            "VOIP_NUMBER_DETECTED" => self.voip = action,
            "DUPLICATED_PHONE_NUMBER" => self.duplicated = action,
            _ => return false,
        }
        true
    }

    pub fn actions(self) -> RiskActions {
        RiskActions {
            duplicated: self.duplicated,
            disposable: self.disposable,
            voip: self.voip,
        }
    }
}

/// Parses an action as requests spell it: `Decline | Review | Approve`, exact casing.
pub fn parse_action(raw: &str) -> Option<RiskAction> {
    match raw {
        "Decline" => Some(RiskAction::Decline),
        "Review" => Some(RiskAction::Review),
        "Approve" => Some(RiskAction::Approve),
        _ => None,
    }
}

impl PhoneSettings {
    /// The engine's policy with this workflow's overrides.
    pub fn policy(&self, base: &VerificationPolicy) -> VerificationPolicy {
        VerificationPolicy {
            code_validity_ms: self
                .code_validity_seconds
                .map_or(base.code_validity_ms, |s| s as i64 * 1000),
            max_code_attempts: self.max_code_attempts.unwrap_or(base.max_code_attempts),
            max_resend_requests_per_24h: self
                .max_resend_requests_per_24h
                .unwrap_or(base.max_resend_requests_per_24h),
            ..*base
        }
    }
}

impl Workflow {
    /// The API shape (Didit's workflow object, PHONE only): settings resolved against `base`.
    pub fn view(&self, base: &VerificationPolicy) -> Value {
        let policy = self.phone.policy(base);
        json!({
            "uuid": self.id,
            "workflow_id": self.id,
            "workflow_label": self.label,
            "features": [{
                "feature": PHONE,
                "config": {
                    "preferred_channel": self.phone.preferred_channel.map(|c| c.as_str().to_ascii_uppercase()),
                    "code_validity_seconds": policy.code_validity_ms / 1000,
                    "max_code_attempts": policy.max_code_attempts,
                    "max_resend_requests_per_24h": policy.max_resend_requests_per_24h,
                    "risk_actions": self.phone.risk_actions,
                },
            }],
            "created_at": iso8601(self.created_at_ms),
            "updated_at": iso8601(self.updated_at_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_and_the_rest_stays() {
        let base = VerificationPolicy::default();
        let settings = PhoneSettings {
            max_code_attempts: Some(5),
            ..Default::default()
        };
        let policy = settings.policy(&base);
        assert_eq!(policy.max_code_attempts, 5);
        assert_eq!(policy.code_validity_ms, base.code_validity_ms);
        assert_eq!(policy.max_resend_requests_per_24h, base.max_resend_requests_per_24h);
    }

    #[test]
    fn risk_actions_are_named_by_their_risk_and_spelled_as_the_contract() {
        let mut actions = WorkflowRiskActions::default();
        assert!(actions.set("VOIP_NUMBER_DETECTED", parse_action("Review").unwrap()));
        assert!(!actions.set("voip_number_detected", RiskAction::Review));
        assert_eq!(parse_action("review"), None);
        assert_eq!(
            serde_json::to_value(actions).unwrap(),
            json!({ "DISPOSABLE_NUMBER_DETECTED": "Approve", "VOIP_NUMBER_DETECTED": "Review", "DUPLICATED_PHONE_NUMBER": "Approve" })
        );
        assert_eq!(actions.actions().voip, RiskAction::Review);
    }
}
