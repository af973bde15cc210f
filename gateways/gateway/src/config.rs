//! What every protocol's carrier config goes through. Each protocol has one `Keys` struct
//! (serde, `deny_unknown_fields`) with only its own keys, next to the gateway it configures, and
//! a `build` that validates them into the gateway's config, naming each problem by its key in
//! [`Problems`]. The engine reads the keys every carrier has (`name`, `protocol`, `countries`,
//! `fee_usd`), picks the protocol's `Keys`, and says where in the file each problem is.

/// The problems found in one `[[carriers]]` entry, each naming the key it is about.
#[derive(Debug)]
pub struct Problems {
    protocol: &'static str,
    found: Vec<(String, String)>,
}

impl Problems {
    /// An empty list for an entry of `protocol` (`"smpp"`, `"telegram"`, ...).
    pub fn new(protocol: &'static str) -> Self {
        Self {
            protocol,
            found: Vec::new(),
        }
    }

    pub fn protocol(&self) -> &'static str {
        self.protocol
    }

    /// Records a problem with `key` (a key of the entry, or a dotted path into one such as
    /// `fee_usd.US`).
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.found.push((key.into(), message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// `value` when it is set and not blank; otherwise records that `key` is required (`why`,
    /// when not empty, is added in parentheses) and returns an empty string.
    pub fn required(&mut self, key: &str, value: Option<String>, why: &str) -> String {
        let value = value.unwrap_or_default();
        self.require(key, &value, why);
        value
    }

    /// Records that `key` is required when `value` is blank (`why`, when not empty, is added in
    /// parentheses).
    pub fn require(&mut self, key: &str, value: &str, why: &str) {
        if value.trim().is_empty() {
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(" ({why})")
            };
            let message = format!("required for protocol \"{}\"{why}", self.protocol);
            self.push(key, message);
        }
    }

    /// The problems as (key, message), in the order they were found.
    pub fn into_vec(self) -> Vec<(String, String)> {
        self.found
    }
}

/// What a protocol's `build` gets besides its keys.
#[derive(Debug, Clone)]
pub struct CarrierContext {
    /// The carrier's `name`.
    pub name: String,
    /// Where this carrier's platform reaches the engine with callbacks
    /// (`{public_url}/v3/channels/{name}/webhook/`).
    pub callback_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_keys_name_the_protocol_and_why() {
        let mut problems = Problems::new("viber");
        assert_eq!(problems.required("token", Some("t".into()), ""), "t");
        assert!(problems.is_empty());
        problems.required("token", Some("  ".into()), "a secret: no default");
        problems.required("base_url", None, "");
        assert_eq!(
            problems.into_vec(),
            [
                (
                    "token".into(),
                    "required for protocol \"viber\" (a secret: no default)".into()
                ),
                ("base_url".into(), "required for protocol \"viber\"".into())
            ]
        );
    }
}
