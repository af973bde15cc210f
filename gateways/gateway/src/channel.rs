use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A delivery channel. Input spells it UPPERCASE (`"WHATSAPP"`), reports lowercase
/// (`"whatsapp"`); both spellings are fixed by the public API contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Sms,
    Whatsapp,
    Telegram,
    Rcs,
    Viber,
    Call,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Sms,
        Channel::Whatsapp,
        Channel::Telegram,
        Channel::Rcs,
        Channel::Viber,
        Channel::Call,
    ];

    /// The lowercase spelling used in reports, config and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Telegram => "telegram",
            Channel::Rcs => "rcs",
            Channel::Viber => "viber",
            Channel::Call => "call",
        }
    }

    /// Parses the UPPERCASE request spelling (`SMS`, `WHATSAPP`, ...).
    pub fn from_request(s: &str) -> Result<Channel, ParseChannelError> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s) && s.bytes().all(|b| b.is_ascii_uppercase()))
            .ok_or_else(|| ParseChannelError(s.to_owned()))
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the lowercase config spelling (`sms`, `whatsapp`, ...).
impl FromStr for Channel {
    type Err = ParseChannelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ParseChannelError(s.to_owned()))
    }
}

impl Serialize for Channel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Channel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel {0:?}")]
pub struct ParseChannelError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_spelling_is_uppercase_only() {
        assert_eq!(Channel::from_request("WHATSAPP"), Ok(Channel::Whatsapp));
        assert_eq!(Channel::from_request("CALL"), Ok(Channel::Call));
        assert!(Channel::from_request("whatsapp").is_err());
        assert!(Channel::from_request("Sms").is_err());
        assert!(Channel::from_request("PIGEON").is_err());
    }

    #[test]
    fn config_spelling_is_lowercase() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(c));
        }
        assert!("SMS".parse::<Channel>().is_err());
    }
}
