//! Per-destination behaviours: which answer a submit_sm gets.
//!
//! Rules arrive as [`RuleSpec`]s (TOML file or JSON over the control endpoint, unknown fields
//! refused), are validated once into an immutable [`RuleSet`], and are matched in order against
//! the destination address. A rule with `times` counts down across all connections and then falls
//! through to the next rule, so "throttled twice, then delivered" is two lines of config.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::receipt::{AddressSpelling, ReceiptForm, ReceiptPdu, ReceiptText};

/// ESME_RINVDSTADR: what `refuse` answers when the rule names no status.
const DEFAULT_REFUSE_STATUS: u32 = 0x0B;
/// ESME_RTHROTTLED: what `throttle` answers when the rule names no status.
const DEFAULT_THROTTLE_STATUS: u32 = 0x58;
const DEFAULT_HOLD_PENDING: u32 = 10;

/// What the simulator does with a matching submit_sm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// ESME_ROK, never a receipt.
    Accept,
    /// ESME_ROK, receipt `DELIVRD`.
    Deliver,
    /// ESME_ROK, receipt `UNDELIV`.
    Undeliver,
    /// ESME_ROK, receipt `REJECTD`.
    Reject,
    /// ESME_ROK, receipt `EXPIRED`.
    Expire,
    /// ESME_ROK, receipt `DELETED`.
    Delete,
    /// An error command_status, empty message_id.
    Refuse,
    /// ESME_RTHROTTLED (or the rule's status).
    Throttle,
    /// Never answer this submit_sm.
    Silent,
    /// Close the connection on receipt, without answering.
    Drop,
    /// Hold matching submits unanswered; close the connection once `pending` are held.
    HoldThenDrop,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Deliver => "deliver",
            Action::Undeliver => "undeliver",
            Action::Reject => "reject",
            Action::Expire => "expire",
            Action::Delete => "delete",
            Action::Refuse => "refuse",
            Action::Throttle => "throttle",
            Action::Silent => "silent",
            Action::Drop => "drop",
            Action::HoldThenDrop => "hold_then_drop",
        }
    }

    /// The final state a receipt reports for this action, if the action produces one.
    pub fn final_state(self) -> Option<FinalState> {
        match self {
            Action::Deliver => Some(FinalState::Delivered),
            Action::Undeliver => Some(FinalState::Undeliverable),
            Action::Reject => Some(FinalState::Rejected),
            Action::Expire => Some(FinalState::Expired),
            Action::Delete => Some(FinalState::Deleted),
            _ => None,
        }
    }
}

/// The outcome a delivery receipt reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalState {
    Delivered,
    Undeliverable,
    Rejected,
    Expired,
    Deleted,
}

impl FinalState {
    /// The `stat:` word of the receipt text.
    pub fn stat(self) -> &'static str {
        match self {
            FinalState::Delivered => "DELIVRD",
            FinalState::Undeliverable => "UNDELIV",
            FinalState::Rejected => "REJECTD",
            FinalState::Expired => "EXPIRED",
            FinalState::Deleted => "DELETED",
        }
    }

    /// The `message_state` TLV value (SMPP 3.4 §5.2.28).
    pub fn message_state(self) -> u8 {
        match self {
            FinalState::Delivered => 2,
            FinalState::Expired => 3,
            FinalState::Deleted => 4,
            FinalState::Undeliverable => 5,
            FinalState::Rejected => 8,
        }
    }

    pub fn is_success(self) -> bool {
        self == FinalState::Delivered
    }

    fn default_err(self) -> u16 {
        if self.is_success() {
            0
        } else {
            1
        }
    }
}

/// A command_status as written in config: a number (TOML allows `0x58`) or a string `"0x58"`,
/// since JSON has no hex literals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusValue {
    Number(u32),
    Text(String),
}

impl StatusValue {
    fn parse(&self) -> Result<u32, String> {
        match self {
            StatusValue::Number(number) => Ok(*number),
            StatusValue::Text(text) => {
                let text = text.trim();
                let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => text.parse(),
                };
                parsed.map_err(|_| format!("status {text:?} is not a number"))
            }
        }
    }
}

/// One rule as written by a person: every field but `pattern` and `action` optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// A digit prefix of the destination address (a leading '+' is ignored), or "*".
    pub pattern: String,
    pub action: Action,
    /// command_status for `refuse` and `throttle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusValue>,
    /// Receipt delay for receipt actions; defaults to the simulator's `--receipt-delay-ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// The rule applies to this many matching submits in total, then falls through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// For `hold_then_drop`: how many held submits on one connection trigger the close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u32>,
    /// The receipt's `err:` code; 0 for `deliver`, 1 for the failure receipts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<u16>,
    /// For `refuse` and `throttle`: answer with the bare 16-octet header, no body (SMPP 3.4
    /// §3.3 allows it for any error response; npm `smpp` always does it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_only: Option<bool>,
    /// The receipt's PDU: `deliver_sm` (default) or `data_sm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_pdu: Option<ReceiptPdu>,
    /// Where the receipt text goes: `short_message` (deliver_sm's default), `message_payload`
    /// (data_sm's default; short_message left empty) or `none` (TLVs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_text: Option<ReceiptText>,
    /// Whether the receipt carries `receipted_message_id` and `message_state`; default: the
    /// simulator's `--no-receipt-tlvs` setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_tlvs: Option<bool>,
    /// How the receipt's source_addr spells the handset (see [`AddressSpelling`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_source_addr: Option<AddressSpelling>,
}

impl RuleSpec {
    pub fn new(pattern: impl Into<String>, action: Action) -> Self {
        RuleSpec {
            pattern: pattern.into(),
            action,
            status: None,
            delay_ms: None,
            times: None,
            pending: None,
            err: None,
            header_only: None,
            receipt_pdu: None,
            receipt_text: None,
            receipt_tlvs: None,
            receipt_source_addr: None,
        }
    }

    pub fn status(mut self, status: u32) -> Self {
        self.status = Some(StatusValue::Number(status));
        self
    }

    pub fn delay_ms(mut self, delay_ms: u64) -> Self {
        self.delay_ms = Some(delay_ms);
        self
    }

    pub fn times(mut self, times: u64) -> Self {
        self.times = Some(times);
        self
    }

    pub fn pending(mut self, pending: u32) -> Self {
        self.pending = Some(pending);
        self
    }

    pub fn err(mut self, err: u16) -> Self {
        self.err = Some(err);
        self
    }

    pub fn header_only(mut self) -> Self {
        self.header_only = Some(true);
        self
    }

    pub fn receipt_pdu(mut self, pdu: ReceiptPdu) -> Self {
        self.receipt_pdu = Some(pdu);
        self
    }

    pub fn receipt_text(mut self, text: ReceiptText) -> Self {
        self.receipt_text = Some(text);
        self
    }

    pub fn receipt_tlvs(mut self, tlvs: bool) -> Self {
        self.receipt_tlvs = Some(tlvs);
        self
    }

    pub fn receipt_source_addr(mut self, spelling: AddressSpelling) -> Self {
        self.receipt_source_addr = Some(spelling);
        self
    }
}

/// The TOML file given to `--rules`: `[[rules]]` tables (or `rules = [ {...}, ... ]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

/// Parses the `--rules` TOML text.
pub fn parse_rules_toml(text: &str) -> Result<Vec<RuleSpec>, RuleError> {
    toml::from_str::<RulesFile>(text)
        .map(|file| file.rules)
        .map_err(|error| RuleError::new(None, error.message().to_owned()))
}

/// Why a rule was refused; `index` is the rule's position in its list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{detail}", index.map(|i| format!("rule {i}: ")).unwrap_or_default())]
pub struct RuleError {
    pub index: Option<usize>,
    pub detail: String,
}

impl RuleError {
    fn new(index: Option<usize>, detail: String) -> Self {
        RuleError { index, detail }
    }
}

/// The answer a rule (or the default) gives to one submit_sm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// ESME_ROK; `receipt` when the action reports a final state.
    Accept {
        receipt: Option<ReceiptPlan>,
    },
    /// An error command_status, no message_id; `header_only`: no body at all.
    Error {
        status: u32,
        header_only: bool,
    },
    Silent,
    Drop,
    Hold {
        pending: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptPlan {
    pub state: FinalState,
    pub err: u16,
    /// `None`: use the simulator's default receipt delay.
    pub delay: Option<Duration>,
    pub form: ReceiptForm,
}

#[derive(Debug)]
struct Rule {
    /// `None` matches every destination.
    prefix: Option<String>,
    action: Action,
    verdict: Verdict,
    remaining: Option<AtomicU64>,
}

/// A validated, ordered rule list with its `times` counters.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    pub fn build(specs: &[RuleSpec]) -> Result<RuleSet, RuleError> {
        let rules = specs
            .iter()
            .enumerate()
            .map(|(index, spec)| Rule::build(spec).map_err(|e| RuleError::new(Some(index), e)))
            .collect::<Result<_, _>>()?;
        Ok(RuleSet { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first live rule matching `destination`, consuming one of its `times`.
    pub fn decide(&self, destination: &[u8]) -> Option<(Action, Verdict)> {
        let destination = destination.strip_prefix(b"+").unwrap_or(destination);
        self.rules
            .iter()
            .filter(|rule| rule.matches(destination))
            .find(|rule| rule.take_one())
            .map(|rule| (rule.action, rule.verdict))
    }

    /// The rules as specs, with `times` showing what is left of each counter.
    pub fn describe(&self) -> Vec<RuleSpec> {
        self.rules.iter().map(Rule::describe).collect()
    }
}

impl Rule {
    fn build(spec: &RuleSpec) -> Result<Rule, String> {
        let pattern = spec.pattern.trim();
        let prefix = match pattern {
            "*" => None,
            _ => {
                let digits = pattern.strip_prefix('+').unwrap_or(pattern);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("pattern {pattern:?} must be a digit prefix or \"*\""));
                }
                Some(digits.to_owned())
            }
        };
        let action = spec.action;
        let not_for = |field: &str| Err(format!("{field} does not apply to {}", action.name()));
        let receipt_action = action.final_state().is_some();
        if spec.status.is_some() && !matches!(action, Action::Refuse | Action::Throttle) {
            return not_for("status");
        }
        if (spec.delay_ms.is_some() || spec.err.is_some()) && !receipt_action {
            return not_for(if spec.err.is_some() { "err" } else { "delay_ms" });
        }
        if spec.pending.is_some() && action != Action::HoldThenDrop {
            return not_for("pending");
        }
        if spec.header_only.is_some() && !matches!(action, Action::Refuse | Action::Throttle) {
            return not_for("header_only");
        }
        let form = ReceiptForm {
            pdu: spec.receipt_pdu.unwrap_or_default(),
            text: spec.receipt_text,
            tlvs: spec.receipt_tlvs,
            source_addr: spec.receipt_source_addr,
        };
        if form != ReceiptForm::default() && !receipt_action {
            return not_for("a receipt_* field");
        }
        if form.pdu == ReceiptPdu::DataSm && form.text == Some(ReceiptText::ShortMessage) {
            return Err("data_sm has no short_message: use receipt_text = \"message_payload\" or \"none\"".into());
        }
        if form.text == Some(ReceiptText::None) && form.tlvs == Some(false) {
            return Err("a receipt with neither text nor TLVs says nothing".into());
        }
        if spec.times == Some(0) {
            return Err("times must be at least 1".into());
        }
        let status = spec.status.as_ref().map(StatusValue::parse).transpose()?;
        if status == Some(0) {
            return Err("status 0 is ESME_ROK; use accept or deliver".into());
        }
        if spec.err.is_some_and(|err| err > 999) {
            return Err("err must fit in three digits".into());
        }
        let verdict = match action {
            Action::Refuse => Verdict::Error {
                status: status.unwrap_or(DEFAULT_REFUSE_STATUS),
                header_only: spec.header_only.unwrap_or(false),
            },
            Action::Throttle => Verdict::Error {
                status: status.unwrap_or(DEFAULT_THROTTLE_STATUS),
                header_only: spec.header_only.unwrap_or(false),
            },
            Action::Silent => Verdict::Silent,
            Action::Drop => Verdict::Drop,
            Action::HoldThenDrop => {
                let pending = spec.pending.unwrap_or(DEFAULT_HOLD_PENDING);
                if pending == 0 {
                    return Err("pending must be at least 1".into());
                }
                Verdict::Hold {
                    pending: pending as usize,
                }
            }
            Action::Accept => Verdict::Accept { receipt: None },
            Action::Deliver | Action::Undeliver | Action::Reject | Action::Expire | Action::Delete => {
                let state = action.final_state().expect("receipt action");
                Verdict::Accept {
                    receipt: Some(ReceiptPlan {
                        state,
                        err: spec.err.unwrap_or(state.default_err()),
                        delay: spec.delay_ms.map(Duration::from_millis),
                        form,
                    }),
                }
            }
        };
        Ok(Rule {
            prefix,
            action,
            verdict,
            remaining: spec.times.map(AtomicU64::new),
        })
    }

    fn matches(&self, destination: &[u8]) -> bool {
        match &self.prefix {
            None => true,
            Some(prefix) => destination.starts_with(prefix.as_bytes()),
        }
    }

    /// True if the rule still applies; counts one use against `times`.
    fn take_one(&self) -> bool {
        match &self.remaining {
            None => true,
            Some(remaining) => remaining
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| left.checked_sub(1))
                .is_ok(),
        }
    }

    fn describe(&self) -> RuleSpec {
        let mut spec = RuleSpec::new(self.prefix.clone().unwrap_or_else(|| "*".into()), self.action);
        match self.verdict {
            Verdict::Error { status, header_only } => {
                spec.status = Some(StatusValue::Number(status));
                spec.header_only = header_only.then_some(true);
            }
            Verdict::Hold { pending } => spec.pending = Some(pending as u32),
            Verdict::Accept { receipt: Some(plan) } => {
                spec.err = Some(plan.err);
                spec.delay_ms = plan.delay.map(|delay| delay.as_millis() as u64);
                spec.receipt_pdu = (plan.form.pdu != ReceiptPdu::default()).then_some(plan.form.pdu);
                spec.receipt_text = plan.form.text;
                spec.receipt_tlvs = plan.form.tlvs;
                spec.receipt_source_addr = plan.form.source_addr;
            }
            _ => {}
        }
        spec.times = self
            .remaining
            .as_ref()
            .map(|remaining| remaining.load(Ordering::Acquire));
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(set: &RuleSet, destination: &str) -> Option<Action> {
        set.decide(destination.as_bytes()).map(|(action, _)| action)
    }

    #[test]
    fn first_matching_prefix_wins_and_star_matches_all() {
        let set = RuleSet::build(&[
            RuleSpec::new("1555", Action::Refuse),
            RuleSpec::new("15", Action::Silent),
            RuleSpec::new("*", Action::Accept),
        ])
        .unwrap();
        assert_eq!(decide(&set, "15551234567"), Some(Action::Refuse));
        assert_eq!(decide(&set, "+15551234567"), Some(Action::Refuse));
        assert_eq!(decide(&set, "15661234567"), Some(Action::Silent));
        assert_eq!(decide(&set, "447700900000"), Some(Action::Accept));
    }

    #[test]
    fn times_exhausts_then_falls_through() {
        let set = RuleSet::build(&[RuleSpec::new("1", Action::Throttle).times(2)]).unwrap();
        assert_eq!(decide(&set, "1555"), Some(Action::Throttle));
        assert_eq!(decide(&set, "1555"), Some(Action::Throttle));
        assert_eq!(decide(&set, "1555"), None);
        assert_eq!(set.describe()[0].times, Some(0));
    }

    #[test]
    fn statuses_default_and_parse_from_text() {
        let set = RuleSet::build(&[
            RuleSpec::new("1", Action::Throttle),
            RuleSpec::new("2", Action::Refuse),
            RuleSpec {
                status: Some(StatusValue::Text("0x14".into())),
                ..RuleSpec::new("3", Action::Throttle)
            },
        ])
        .unwrap();
        let status = |d: &str| match set.decide(d.as_bytes()) {
            Some((_, Verdict::Error { status, .. })) => status,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(status("1"), 0x58);
        assert_eq!(status("2"), 0x0B);
        assert_eq!(status("3"), 0x14);
    }

    #[test]
    fn receipt_actions_carry_state_err_and_delay() {
        let set = RuleSet::build(&[RuleSpec::new("9", Action::Undeliver).delay_ms(250)]).unwrap();
        let Some((_, Verdict::Accept { receipt: Some(plan) })) = set.decide(b"9") else {
            panic!("expected a receipt plan");
        };
        assert_eq!(plan.state.stat(), "UNDELIV");
        assert_eq!(plan.state.message_state(), 5);
        assert_eq!(plan.err, 1);
        assert_eq!(plan.delay, Some(Duration::from_millis(250)));
    }

    #[test]
    fn invalid_rules_are_refused_with_their_index() {
        let cases = [
            RuleSpec::new("15a", Action::Accept),
            RuleSpec::new("", Action::Accept),
            RuleSpec::new("1", Action::Accept).status(0x58),
            RuleSpec::new("1", Action::Refuse).status(0),
            RuleSpec::new("1", Action::Refuse).delay_ms(5),
            RuleSpec::new("1", Action::Silent).pending(3),
            RuleSpec::new("1", Action::HoldThenDrop).pending(0),
            RuleSpec::new("1", Action::Deliver).times(0),
            RuleSpec::new("1", Action::Deliver).header_only(),
            RuleSpec::new("1", Action::Refuse).receipt_pdu(ReceiptPdu::DataSm),
            RuleSpec::new("1", Action::Deliver)
                .receipt_pdu(ReceiptPdu::DataSm)
                .receipt_text(ReceiptText::ShortMessage),
            RuleSpec::new("1", Action::Deliver)
                .receipt_text(ReceiptText::None)
                .receipt_tlvs(false),
        ];
        for case in cases {
            let error = RuleSet::build(&[RuleSpec::new("*", Action::Accept), case.clone()])
                .expect_err(&format!("{case:?} should be refused"));
            assert_eq!(error.index, Some(1));
        }
    }

    #[test]
    fn toml_file_with_hex_status() {
        let specs = parse_rules_toml(
            r#"
            [[rules]]
            pattern = "1555"
            action = "throttle"
            status = 0x14
            times = 3

            [[rules]]
            pattern = "*"
            action = "hold_then_drop"
            pending = 4
            "#,
        )
        .unwrap();
        assert_eq!(specs[0], RuleSpec::new("1555", Action::Throttle).status(0x14).times(3));
        assert_eq!(specs[1], RuleSpec::new("*", Action::HoldThenDrop).pending(4));
        assert!(parse_rules_toml("[[rules]]\npattern = \"1\"\naction = \"nope\"").is_err());
        assert!(parse_rules_toml("[[rules]]\npattern = \"1\"\naction = \"accept\"\nx = 1").is_err());
    }

    #[test]
    fn json_status_as_string_or_number() {
        let specs: Vec<RuleSpec> = serde_json::from_str(
            r#"[{"pattern":"1","action":"refuse","status":"0x0B"},
                {"pattern":"2","action":"throttle","status":20}]"#,
        )
        .unwrap();
        let set = RuleSet::build(&specs).unwrap();
        let status = |d: &[u8]| match set.decide(d).unwrap().1 {
            Verdict::Error { status, .. } => status,
            other => panic!("{other:?}"),
        };
        assert_eq!((status(b"1"), status(b"2")), (0x0B, 20));
    }

    #[test]
    fn receipt_forms_and_header_only_errors_from_toml() {
        let specs = parse_rules_toml(
            r#"
            [[rules]]
            pattern = "34"
            action = "refuse"
            status = 0x0B
            header_only = true

            [[rules]]
            pattern = "35"
            action = "deliver"
            receipt_pdu = "data_sm"
            receipt_text = "none"

            [[rules]]
            pattern = "36"
            action = "undeliver"
            receipt_text = "message_payload"
            receipt_tlvs = false
            receipt_source_addr = { strip = 2, prefix = "0", ton = 2, npi = 1 }
            "#,
        )
        .unwrap();
        let set = RuleSet::build(&specs).unwrap();
        assert_eq!(
            set.decide(b"34600000000").unwrap().1,
            Verdict::Error {
                status: 0x0B,
                header_only: true
            }
        );
        let form = |d: &[u8]| match set.decide(d).unwrap().1 {
            Verdict::Accept { receipt: Some(plan) } => plan.form,
            other => panic!("{other:?}"),
        };
        assert_eq!(form(b"35").pdu, ReceiptPdu::DataSm);
        assert_eq!(form(b"35").text, Some(ReceiptText::None));
        let spelled = form(b"36");
        assert_eq!(
            (spelled.text, spelled.tlvs),
            (Some(ReceiptText::MessagePayload), Some(false))
        );
        let spelling = spelled.source_addr.unwrap();
        assert_eq!((spelling.strip, spelling.ton, spelling.npi), (2, Some(2), Some(1)));
        // What the control endpoint shows is what was written.
        let described = set.describe();
        assert_eq!(described[0], specs[0]);
        assert_eq!(described[1].receipt_pdu, Some(ReceiptPdu::DataSm));
        assert_eq!(described[2].receipt_source_addr, specs[2].receipt_source_addr);
    }
}
