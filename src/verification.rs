//! The verification record and the report built from it (CONTRACT §4).
//!
//! A [`Verification`] is what the store keeps: the code only as a MAC, the counters that enforce
//! the limits, and the lifecycle that explains what happened. The rules that move it between
//! states live in [`crate::number_state`]; this module is data and presentation.
use crate::code::CodeMac;
use crate::number::{LineType, NumberInfo};
use otpgate_gateway::Channel;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a verification stands. `Undeliverable` means no channel took the first message;
/// `InReview` that the code was right but a workflow sends one of its risks to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Approved,
    Declined,
    Expired,
    Undeliverable,
    InReview,
}

impl State {
    /// The report's status spelling (CONTRACT §4).
    pub fn report_status(self) -> &'static str {
        match self {
            State::Approved => "Approved",
            State::Declined => "Declined",
            State::InReview => "In Review",
            State::Pending | State::Expired | State::Undeliverable => "Not Finished",
        }
    }
}

/// The risk classes of CONTRACT §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Risk {
    VerificationCodeAttemptsExceeded,
    HighRiskPhoneNumber,
    PhoneNumberInBlocklist,
    DisposableNumberDetected,
    VoipNumberDetected,
    DuplicatedPhoneNumber,
}

impl Risk {
    fn descriptions(self) -> (&'static str, &'static str) {
        match self {
            Risk::VerificationCodeAttemptsExceeded => (
                "Verification attempts exceeded",
                "Too many wrong codes or resend requests for this phone number; the verification was declined.",
            ),
            Risk::HighRiskPhoneNumber => (
                "High-risk phone number",
                "The phone number is known to be high risk (fraud, pumping or premium-rate ranges).",
            ),
            Risk::PhoneNumberInBlocklist => (
                "Phone number in blocklist",
                "The phone number or its prefix is in the application's blocklist.",
            ),
            Risk::DisposableNumberDetected => (
                "Disposable phone number",
                "The phone number belongs to a disposable or temporary number service.",
            ),
            Risk::VoipNumberDetected => (
                "VoIP phone number",
                "The phone number is a VoIP or virtual number rather than a mobile line.",
            ),
            Risk::DuplicatedPhoneNumber => (
                "Duplicated phone number",
                "The phone number was already verified for another user of this application.",
            ),
        }
    }
}

/// `log_type` of a warning: error declines, warning sends to review, information only informs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogType {
    Error,
    Warning,
    Information,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub feature: String,
    pub risk: Risk,
    pub additional_data: Option<Value>,
    pub log_type: LogType,
    pub short_description: String,
    pub long_description: String,
}

impl Warning {
    pub fn new(risk: Risk, log_type: LogType, additional_data: Option<Value>) -> Self {
        let (short, long) = risk.descriptions();
        Self {
            feature: "PHONE".into(),
            risk,
            additional_data,
            log_type,
            short_description: short.into(),
            long_description: long.into(),
        }
    }
}

/// What a lifecycle entry records: the report's `lifecycle[].type` (CONTRACT §4), spelled as there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LifecycleKind {
    PhoneVerificationMessageSent,
    PhoneDeliveryDelivered,
    PhoneDeliveryFailed,
    PhoneChannelFallback,
    PhoneFallbackExhausted,
    PhoneVerificationExpired,
    PhoneVerificationBlocked,
    PhoneVerificationDeclined,
    PhoneVerificationApproved,
    PhoneVerificationInReview,
    InvalidCodeEntered,
    ValidCodeEntered,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEntry {
    #[serde(rename = "type")]
    pub kind: LifecycleKind,
    pub timestamp_ms: i64,
    pub details: Option<Value>,
    /// Decimal string in USD when the step was charged, as billing reports it.
    pub fee: Option<String>,
}

/// One verification of one number for one application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub request_id: String,
    pub application: String,
    pub number: NumberInfo,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    #[serde(with = "hex_mac")]
    pub code_mac: CodeMac,
    pub state: State,
    pub attempts: u32,
    pub max_attempts: u32,
    /// When each message of this verification was accepted by a carrier (resends included).
    pub sends_ms: Vec<i64>,
    pub channel: Option<Channel>,
    pub verification_method: Option<Channel>,
    pub vendor_data: Option<String>,
    pub metadata: Option<Value>,
    pub verified_at_ms: Option<i64>,
    pub warnings: Vec<Warning>,
    pub lifecycle: Vec<LifecycleEntry>,
    /// Set once, when a carrier first accepted a message of this verification.
    #[serde(default)]
    pub charge: Option<crate::billing::Charge>,
    /// Earlier approvals of this number for other users (`vendor_data`), found when this one's
    /// code was entered: the report's `matches`.
    #[serde(default)]
    pub matches: Vec<Match>,
    /// The version of this record as stored: 0 for a record never stored (or stored before
    /// versions existed); each conditional save ([`crate::store::Store::save_if_version`]) stores
    /// it one up, and applies only while the stored version is still this one.
    #[serde(default)]
    pub version: i64,
}

/// An approved verification of the same number for another user of the application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    pub request_id: String,
    pub vendor_data: Option<String>,
    pub verified_at_ms: Option<i64>,
}

impl Verification {
    pub fn log(&mut self, kind: LifecycleKind, at_ms: i64, details: Option<Value>) {
        self.lifecycle.push(LifecycleEntry {
            kind,
            timestamp_ms: at_ms,
            details,
            fee: None,
        });
    }

    pub fn warn(&mut self, risk: Risk, log_type: LogType, additional_data: Option<Value>) {
        if !self.warnings.iter().any(|w| w.risk == risk) {
            self.warnings.push(Warning::new(risk, log_type, additional_data));
        }
    }

    pub fn is_pending_at(&self, now_ms: i64) -> bool {
        self.state == State::Pending && now_ms < self.expires_at_ms
    }

    pub fn report(&self) -> PhoneReport<'_> {
        PhoneReport {
            status: self.state.report_status(),
            phone_number_prefix: &self.number.prefix,
            phone_number: &self.number.subscriber,
            full_number: &self.number.full_number,
            country_code: self.number.country_code.as_deref(),
            country_name: self.number.country_name.as_deref(),
            carrier: Carrier {
                name: self.number.carrier_name.as_deref(),
                kind: self.number.line_type,
            },
            is_disposable: self.number.is_disposable,
            is_virtual: self.number.is_virtual,
            verification_method: self.verification_method,
            verification_attempts: self.attempts,
            verified_at: self.verified_at_ms.map(iso8601),
            warnings: &self.warnings,
            lifecycle: self
                .lifecycle
                .iter()
                .map(|e| LifecycleView {
                    kind: e.kind,
                    timestamp: iso8601(e.timestamp_ms),
                    details: e.details.as_ref(),
                    fee: e.fee.as_deref(),
                })
                .collect(),
            matches: self
                .matches
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "request_id": m.request_id,
                        "vendor_data": m.vendor_data,
                        "verified_at": m.verified_at_ms.map(iso8601),
                    })
                })
                .collect(),
        }
    }
}

/// The `phone` object of the API, borrowed from a [`Verification`].
#[derive(Debug, Serialize)]
pub struct PhoneReport<'a> {
    pub status: &'static str,
    pub phone_number_prefix: &'a str,
    pub phone_number: &'a str,
    pub full_number: &'a str,
    pub country_code: Option<&'a str>,
    pub country_name: Option<&'a str>,
    pub carrier: Carrier<'a>,
    pub is_disposable: bool,
    pub is_virtual: bool,
    pub verification_method: Option<Channel>,
    pub verification_attempts: u32,
    pub verified_at: Option<String>,
    pub warnings: &'a [Warning],
    pub lifecycle: Vec<LifecycleView<'a>>,
    pub matches: Vec<Value>,
}

#[derive(Debug, Serialize)]
pub struct Carrier<'a> {
    pub name: Option<&'a str>,
    #[serde(rename = "type")]
    pub kind: LineType,
}

#[derive(Debug, Serialize)]
pub struct LifecycleView<'a> {
    #[serde(rename = "type")]
    pub kind: LifecycleKind,
    pub timestamp: String,
    pub details: Option<&'a Value>,
    pub fee: Option<&'a str>,
}

/// ISO 8601 / RFC 3339 in UTC with milliseconds, e.g. `2026-11-26T06:40:00.123Z`.
pub fn iso8601(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

mod hex_mac {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mac: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(mac))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut mac = [0u8; 32];
        hex::decode_to_slice(text, &mut mac).map_err(serde::de::Error::custom)?;
        Ok(mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed kinds keep the spellings every stored body and report already uses.
    #[test]
    fn lifecycle_kinds_keep_their_contract_spelling() {
        let stored = r#"{"type":"PHONE_CHANNEL_FALLBACK","timestamp_ms":1,"details":null,"fee":null}"#;
        let entry: LifecycleEntry = serde_json::from_str(stored).unwrap();
        assert_eq!(entry.kind, LifecycleKind::PhoneChannelFallback);
        assert_eq!(serde_json::to_string(&entry).unwrap(), stored);
        for (kind, spelling) in [
            (LifecycleKind::PhoneVerificationInReview, "PHONE_VERIFICATION_IN_REVIEW"),
            (LifecycleKind::InvalidCodeEntered, "INVALID_CODE_ENTERED"),
            (
                LifecycleKind::PhoneVerificationMessageSent,
                "PHONE_VERIFICATION_MESSAGE_SENT",
            ),
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), spelling);
        }
        assert!(serde_json::from_str::<LifecycleKind>(r#""SOMETHING_ELSE""#).is_err());
    }
}
