//! What a fake platform does with each send: the [`Rule`] whose digit `prefix` is the longest
//! match for the destination. One vocabulary for every fake, each platform answering in its own
//! words (its error codes, its callback events).
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Accept, then call back the rule's `events` (default: the platform's delivered events).
    #[default]
    Deliver,
    /// Accept, then call back the platform's failure event (`error` as its error, when set).
    Fail,
    /// Refuse the send as the platform does: `error` is its error code or string (default: its
    /// "not a user of this platform" answer), `status` the HTTP status (default: its own).
    Refuse,
    /// Ask to slow down as the platform does, for `retry_after` seconds when set.
    Throttle,
    /// HTTP 500.
    ServerError,
    /// Send headers, then fail the body: the client sees the connection cut mid-answer.
    Drop,
}

/// One rule, as in `--rules FILE` (TOML `[[rules]]`) and `PUT /_control/rules` (JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Digits the destination (without `+`) starts with; `""` matches every destination.
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub action: Action,
    /// `refuse` / `fail`: the platform's error code or string (a number or a string).
    #[serde(default, deserialize_with = "code", skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `refuse`: the HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `throttle`: seconds to wait (a `Retry-After` header, or the platform's own form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// `deliver`: the events to call back, in this order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// Wait this long before answering (any action).
    #[serde(default)]
    pub delay_ms: u64,
    /// `deliver` / `fail`: wait this long before calling back.
    #[serde(default)]
    pub report_after_ms: u64,
    /// Apply to this many matching sends only; after that the next best rule applies (say,
    /// throttle once, then deliver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

impl Rule {
    /// A rule for destinations starting with `prefix`.
    pub fn new(prefix: &str, action: Action) -> Rule {
        Rule {
            prefix: prefix.into(),
            action,
            ..Rule::default()
        }
    }

    pub fn error(self, error: impl ToString) -> Rule {
        Rule {
            error: Some(error.to_string()),
            ..self
        }
    }

    pub fn status(self, status: u16) -> Rule {
        Rule {
            status: Some(status),
            ..self
        }
    }

    pub fn retry_after(self, seconds: u64) -> Rule {
        Rule {
            retry_after: Some(seconds),
            ..self
        }
    }

    pub fn times(self, times: u32) -> Rule {
        Rule {
            times: Some(times),
            ..self
        }
    }
}

/// Error codes are numbers on some platforms (WhatsApp 131026) and strings on others.
fn code<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Code {
        Number(i64),
        Text(String),
    }
    Ok(Option::<Code>::deserialize(deserializer)?.map(|code| match code {
        Code::Number(n) => n.to_string(),
        Code::Text(s) => s,
    }))
}

/// The rule set of a fake.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl Rules {
    pub fn new(rules: Vec<Rule>) -> Rules {
        Rules { rules }
    }

    /// The rule for `destination` (digits, `+` optional): the longest matching prefix among the
    /// rules with uses left, whose use it counts; `deliver` when none matches.
    pub fn take(&mut self, destination: &str) -> Rule {
        let digits = destination.trim_start_matches('+');
        let best = self
            .rules
            .iter_mut()
            .filter(|r| digits.starts_with(&r.prefix) && r.times != Some(0))
            .rev()
            .max_by_key(|r| r.prefix.len());
        match best {
            Some(rule) => {
                if let Some(times) = rule.times.as_mut() {
                    *times -= 1;
                }
                rule.clone()
            }
            None => Rule::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_wins_until_its_uses_run_out() {
        let mut rules: Rules = toml::from_str(
            r#"
            [[rules]]
            prefix = "44"
            action = "refuse"
            error = 131026

            [[rules]]
            prefix = "447"
            action = "throttle"
            retry_after = 2
            times = 1
            "#,
        )
        .unwrap();
        let first = rules.take("+447700900123");
        assert_eq!((first.action, first.retry_after), (Action::Throttle, Some(2)));
        let second = rules.take("447700900123");
        assert_eq!(
            (second.action, second.error.as_deref()),
            (Action::Refuse, Some("131026"))
        );
        assert_eq!(rules.take("+14155550100").action, Action::Deliver);
        assert!(toml::from_str::<Rules>("[[rules]]\nprefix = \"1\"\nsurprise = 1\n").is_err());
    }
}
