//! Schemas of the OpenAPI document for shapes whose Rust types live outside the API layer (the
//! report, the decision, the workflow view, the domain enums) or that the handlers read by hand
//! (request bodies, see `input.rs` for why). These types describe the wire format only; nothing
//! serialises or parses them. The tests at the end hold the enums to the domain's own spellings,
//! and `tests/schemathesis.rs` holds every response to these shapes against the live server.
#![allow(dead_code)] // Fields exist to be described, never read.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// An E.164 phone number: `+`, country code, subscriber number, 15 digits at most.
pub const E164_PATTERN: &str = r"^\+[1-9][0-9]{1,14}$";

// ---------------------------------------------------------------- enums

/// A delivery channel as requests spell it (UPPERCASE).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChannelInput {
    Sms,
    Whatsapp,
    Telegram,
    Rcs,
    Viber,
    Call,
}

/// A delivery channel as answers and reports spell it (lowercase).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Whatsapp,
    Telegram,
    Rcs,
    Viber,
    Call,
}

/// `status` of `POST /v3/phone/send/` (CONTRACT §3).
#[derive(Serialize, ToSchema)]
pub enum SendStatus {
    Success,
    Retry,
    Blocked,
    Undeliverable,
}

/// Why a send was `Blocked`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    RepeatedAttempts,
    Suspicious,
    Spam,
    InBlockList,
}

/// `status` of `POST /v3/phone/check/` (CONTRACT §3).
#[derive(Serialize, ToSchema)]
pub enum CheckStatus {
    Approved,
    Failed,
    Declined,
    #[serde(rename = "In Review")]
    InReview,
    #[serde(rename = "Expired or Not Found")]
    ExpiredOrNotFound,
}

/// What `POST /v3/phone/check/` does about a risk the number carries.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckRiskAction {
    NoAction,
    Decline,
}

/// What a workflow does about a configurable risk.
#[derive(Serialize, Deserialize, ToSchema)]
pub enum RiskAction {
    Decline,
    Review,
    Approve,
}

/// `status` of the report (CONTRACT §4).
#[derive(Serialize, ToSchema)]
pub enum ReportStatus {
    Approved,
    Declined,
    #[serde(rename = "In Review")]
    InReview,
    #[serde(rename = "Not Finished")]
    NotFinished,
}

/// `carrier.type` of the report.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LineType {
    Mobile,
    Landline,
    Voip,
    Unknown,
}

/// The risk classes of CONTRACT §4.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Risk {
    VerificationCodeAttemptsExceeded,
    HighRiskPhoneNumber,
    PhoneNumberInBlocklist,
    DisposableNumberDetected,
    VoipNumberDetected,
    DuplicatedPhoneNumber,
}

/// A warning's `log_type`: error declines, warning sends to review, information only informs.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogType {
    Error,
    Warning,
    Information,
}

/// `lifecycle[].type` of the report.
#[derive(Serialize, ToSchema)]
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

/// Session statuses (CONTRACT §3).
#[derive(Serialize, ToSchema)]
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

/// The statuses a reviewer may give a session In Review.
#[derive(Serialize, Deserialize, ToSchema)]
pub enum ReviewDecision {
    Approved,
    Declined,
}

/// The one feature this engine offers (UPPERCASE, as Didit spells its features).
#[derive(Serialize, Deserialize, ToSchema)]
pub enum Feature {
    #[serde(rename = "PHONE")]
    Phone,
}

/// Webhook events a destination may subscribe to.
#[derive(Serialize, Deserialize, ToSchema)]
pub enum WebhookEvent {
    #[serde(rename = "status.updated")]
    StatusUpdated,
    #[serde(rename = "session.verified")]
    SessionVerified,
    #[serde(rename = "session.declined")]
    SessionDeclined,
    #[serde(rename = "session.review_started")]
    SessionReviewStarted,
    #[serde(rename = "data.updated")]
    DataUpdated,
}

/// `type` of a blocklist entry.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlocklistKind {
    PhoneNumber,
    Prefix,
}

// ---------------------------------------------------------------- the report (CONTRACT §4)

/// The `phone` object: the same report on both paths.
#[derive(Serialize, ToSchema)]
pub struct PhoneReport {
    status: ReportStatus,
    /// Country calling code with `+`, e.g. `+34`.
    #[schema(example = "+1")]
    phone_number_prefix: String,
    /// The subscriber part, without the prefix.
    phone_number: String,
    /// E.164.
    #[schema(pattern = r"^\+[1-9][0-9]{1,14}$")]
    full_number: String,
    /// ISO 3166-1 alpha-2.
    #[schema(required = true)]
    country_code: Option<String>,
    #[schema(required = true)]
    country_name: Option<String>,
    carrier: Carrier,
    is_disposable: bool,
    is_virtual: bool,
    /// The channel that delivered the code.
    #[schema(required = true)]
    verification_method: Option<Channel>,
    /// Codes entered so far.
    #[schema(minimum = 0)]
    verification_attempts: u32,
    /// ISO 8601 (UTC), null until approved.
    #[schema(format = DateTime)]
    #[schema(required = true)]
    verified_at: Option<String>,
    warnings: Vec<Warning>,
    lifecycle: Vec<LifecycleEntry>,
    /// Other `vendor_data` that verified the same number.
    matches: Vec<ReportMatch>,
}

/// The number's carrier.
#[derive(Serialize, ToSchema)]
pub struct Carrier {
    #[schema(required = true)]
    name: Option<String>,
    #[serde(rename = "type")]
    kind: LineType,
}

/// A risk found on the number.
#[derive(Serialize, ToSchema)]
pub struct Warning {
    feature: Feature,
    risk: Risk,
    #[schema(required = true)]
    additional_data: Option<Value>,
    log_type: LogType,
    short_description: String,
    long_description: String,
}

/// One step of the verification.
#[derive(Serialize, ToSchema)]
pub struct LifecycleEntry {
    #[serde(rename = "type")]
    kind: LifecycleKind,
    /// ISO 8601 (UTC) with milliseconds.
    #[schema(format = DateTime)]
    timestamp: String,
    #[schema(required = true)]
    details: Option<Value>,
    /// USD as a decimal string (`"0.0379"`) when the step was charged.
    #[schema(required = true)]
    fee: Option<String>,
}

/// Another verification of the same number.
#[derive(Serialize, ToSchema)]
pub struct ReportMatch {
    request_id: String,
    #[schema(required = true)]
    vendor_data: Option<String>,
    #[schema(format = DateTime)]
    #[schema(required = true)]
    verified_at: Option<String>,
}

// ---------------------------------------------------------------- sessions

/// `GET /v3/session/{id}/decision/`: the session status and its verification's report.
#[derive(Serialize, ToSchema)]
pub struct Decision {
    session_id: String,
    session_number: i64,
    status: SessionStatus,
    workflow_id: String,
    features: Vec<Feature>,
    #[schema(required = true)]
    vendor_data: Option<String>,
    #[schema(value_type = Option<Object>)]
    #[schema(required = true)]
    metadata: Option<Value>,
    #[schema(required = true)]
    callback: Option<String>,
    contact_details: ContactDetailsOut,
    #[schema(format = DateTime)]
    created_at: String,
    /// Zero or one report.
    phone_verifications: Vec<PhoneReport>,
    reviews: Vec<Review>,
}

/// The number the session was created for, if any.
#[derive(Serialize, ToSchema)]
pub struct ContactDetailsOut {
    #[schema(required = true)]
    phone: Option<String>,
}

/// A reviewer's decision on a session In Review.
#[derive(Serialize, ToSchema)]
pub struct Review {
    /// The application whose key made the review.
    user: String,
    previous_status: SessionStatus,
    new_status: SessionStatus,
    #[schema(required = true)]
    comment: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
}

/// `POST /v3/session/` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    /// A workflow of the calling application.
    workflow_id: String,
    #[schema(max_length = 1024)]
    vendor_data: Option<String>,
    /// Where the hosted page sends the user when done: an http(s) URL.
    #[schema(max_length = 2048, example = "https://example.com/done")]
    callback: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    contact_details: Option<ContactDetails>,
    /// The hosted page's language (a tag such as `en` or `es`); else the browser's.
    #[schema(pattern = "^[A-Za-z0-9-]{1,35}$")]
    language: Option<String>,
}

/// `contact_details` of a session: a number pre-filled and locked on the hosted page.
#[derive(Deserialize, ToSchema)]
pub struct ContactDetails {
    #[schema(pattern = r"^\+[1-9][0-9]{1,14}$", example = "+12025550123")]
    phone: Option<String>,
}

/// `PATCH /v3/session/{id}/update-status/` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStatusBody {
    new_status: ReviewDecision,
    #[schema(max_length = 2048)]
    comment: Option<String>,
}

/// The `status.updated` webhook sent to each destination on every session status change
/// (CONTRACT §3): signed with `X-Signature-V2` over its canonical JSON and `X-Signature-Simple`.
#[derive(Serialize, ToSchema)]
pub struct StatusUpdated {
    /// `status.updated`.
    #[schema(example = "status.updated")]
    webhook_type: String,
    session_id: String,
    status: SessionStatus,
    workflow_id: String,
    /// Present when the session has one.
    vendor_data: Option<String>,
    /// Present when the session has one.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds of the change.
    timestamp: i64,
    /// When the status is Approved, Declined, In Review or Abandoned.
    decision: Option<Decision>,
}

// ---------------------------------------------------------------- workflows

/// A workflow (Didit's workflow object, PHONE only), its settings resolved against the defaults.
#[derive(Serialize, ToSchema)]
pub struct Workflow {
    /// Same as `workflow_id` (Didit names it both ways).
    uuid: String,
    workflow_id: String,
    workflow_label: String,
    /// Exactly one entry, PHONE.
    features: Vec<WorkflowFeature>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// The PHONE feature of a workflow, as answered.
#[derive(Serialize, ToSchema)]
pub struct WorkflowFeature {
    feature: Feature,
    config: PhoneConfig,
}

/// PHONE settings, as answered (defaults filled in).
#[derive(Serialize, ToSchema)]
pub struct PhoneConfig {
    #[schema(required = true)]
    preferred_channel: Option<ChannelInput>,
    code_validity_seconds: u64,
    max_code_attempts: u32,
    max_resend_requests_per_24h: u32,
    risk_actions: RiskActions,
}

/// The action per configurable risk (Approve when not configured).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskActions {
    #[serde(rename = "DISPOSABLE_NUMBER_DETECTED")]
    disposable: Option<RiskAction>,
    #[serde(rename = "VOIP_NUMBER_DETECTED")]
    voip: Option<RiskAction>,
    #[serde(rename = "DUPLICATED_PHONE_NUMBER")]
    duplicated: Option<RiskAction>,
}

/// `POST /v3/workflows/` body; on `PATCH /v3/workflows/{id}/` every field is optional and
/// replaces what it names.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowBody {
    /// 1 to 128 characters; "Phone verification" when omitted.
    #[schema(min_length = 1, max_length = 128)]
    workflow_label: Option<String>,
    /// `[{"feature": "PHONE"}]`, optionally with `config`.
    #[schema(min_items = 1, max_items = 1)]
    features: Vec<WorkflowFeatureInput>,
}

/// `PATCH /v3/workflows/{id}/` body: what it names is replaced.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowPatch {
    #[schema(min_length = 1, max_length = 128)]
    workflow_label: Option<String>,
    #[schema(min_items = 1, max_items = 1)]
    features: Option<Vec<WorkflowFeatureInput>>,
}

/// One feature of a workflow request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowFeatureInput {
    feature: Feature,
    config: Option<PhoneConfigInput>,
}

/// PHONE settings of a workflow request; each defaults to the server's `[verification]`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneConfigInput {
    preferred_channel: Option<ChannelInput>,
    #[schema(minimum = 30, maximum = 86400)]
    code_validity_seconds: Option<u32>,
    #[schema(minimum = 1, maximum = 10)]
    max_code_attempts: Option<u32>,
    #[schema(minimum = 0, maximum = 10)]
    max_resend_requests_per_24h: Option<u32>,
    risk_actions: Option<RiskActions>,
}

// ---------------------------------------------------------------- standalone (path B)

/// `POST /v3/phone/send/` body.
#[derive(Deserialize, ToSchema)]
pub struct SendBody {
    /// E.164.
    #[schema(pattern = r"^\+[1-9][0-9]{1,14}$", example = "+12025550123")]
    phone_number: String,
    /// Pins the channel; omitted means "route automatically".
    channel: Option<ChannelInput>,
    /// Your reference for this user, echoed back (at most 1024 bytes).
    #[schema(max_length = 1024)]
    vendor_data: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    options: Option<SendOptions>,
    signals: Option<Signals>,
}

/// `options` of a send.
#[derive(Deserialize, ToSchema)]
pub struct SendOptions {
    /// Digits in the code.
    #[schema(minimum = 4, maximum = 10)]
    code_size: Option<u32>,
    /// Language tag of the message, e.g. `en` or `pt-BR`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,35}$", example = "en")]
    locale: Option<String>,
    /// Tried first when routing automatically.
    preferred_channel: Option<ChannelInput>,
}

/// `signals` of a send: what the caller knows about the user's device (only `ip` is used).
#[derive(Deserialize, ToSchema)]
pub struct Signals {
    /// The user's IPv4 or IPv6 address (rate limits per address).
    #[schema(example = "203.0.113.7")]
    ip: Option<String>,
    device_id: Option<String>,
    user_agent: Option<String>,
}

/// `POST /v3/phone/check/` body.
#[derive(Deserialize, ToSchema)]
pub struct CheckBody {
    #[schema(pattern = r"^\+[1-9][0-9]{1,14}$", example = "+12025550123")]
    phone_number: String,
    /// The code the user entered: 4 to 10 digits.
    #[schema(pattern = "^[0-9]{4,10}$", example = "123456")]
    code: String,
    #[schema(max_length = 1024)]
    vendor_data: Option<String>,
    duplicated_phone_number_action: Option<CheckRiskAction>,
    disposable_number_action: Option<CheckRiskAction>,
    voip_number_action: Option<CheckRiskAction>,
}

// ---------------------------------------------------------------- other bodies

/// `POST /v3/blocklist/phone/` body: a number or a prefix, not both.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BlocklistBody {
    Number {
        /// E.164.
        #[schema(pattern = r"^\+[1-9][0-9]{1,14}$", example = "+12025550150")]
        phone_number: String,
    },
    Prefix {
        /// An E.164 prefix such as `+88213`.
        #[schema(pattern = r"^\+?[1-9][0-9]{0,14}$", example = "+88213")]
        prefix: String,
    },
}

/// `POST /v3/webhook/destinations/` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestinationBody {
    /// An http(s) URL, at most 2048 characters.
    #[schema(max_length = 2048, example = "https://example.com/otpgate-webhook")]
    url: String,
    /// `["status.updated"]` when omitted.
    #[schema(min_items = 1)]
    subscribed_events: Option<Vec<WebhookEvent>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    /// The string values an enum schema allows.
    fn values<T: PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        schema["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("not an enum schema: {schema}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }

    fn spelled<T: Serialize>(items: impl IntoIterator<Item = T>) -> Vec<String> {
        items
            .into_iter()
            .map(|i| serde_json::to_value(i).unwrap().as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn enums_match_the_domain_spellings() {
        use otpgate_gateway::Channel as C;
        assert_eq!(
            values::<Channel>(),
            C::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()
        );
        assert_eq!(
            values::<ChannelInput>(),
            C::ALL
                .iter()
                .map(|c| c.as_str().to_ascii_uppercase())
                .collect::<Vec<_>>()
        );
        assert_eq!(values::<SessionStatus>(), spelled(crate::sessions::SessionStatus::ALL));
        use crate::verification::Risk as R;
        assert_eq!(
            values::<Risk>(),
            spelled([
                R::VerificationCodeAttemptsExceeded,
                R::HighRiskPhoneNumber,
                R::PhoneNumberInBlocklist,
                R::DisposableNumberDetected,
                R::VoipNumberDetected,
                R::DuplicatedPhoneNumber,
            ])
        );
        use crate::number_state::BlockReason as B;
        assert_eq!(
            values::<BlockReason>(),
            spelled([B::RepeatedAttempts, B::Suspicious, B::Spam, B::InBlockList])
        );
        use crate::number::LineType as L;
        assert_eq!(
            values::<LineType>(),
            spelled([L::Mobile, L::Landline, L::Voip, L::Unknown])
        );
        let events: Vec<String> = crate::outbox::EVENT_NAMES.split(", ").map(str::to_owned).collect();
        assert_eq!(values::<WebhookEvent>(), events);
        for event in &events {
            assert!(crate::outbox::event_statuses(event).is_some(), "{event}");
        }
    }
}
