//! What the callee does with an INVITE: the `--mode` and the per-called-user TOML rules.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// One callee behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 100, 180, then 200 OK with an SDP answer; records the RTP until BYE.
    Answer,
    /// 486 Busy Here.
    Busy,
    /// The given final status code (4xx–6xx).
    Reject(u16),
    /// 180 and nothing more; CANCEL ends it with 487.
    RingForever,
    /// 401 with a digest challenge; a correct re-INVITE is answered, a wrong one gets 403.
    Challenge,
    /// Answers like [`Mode::Answer`], then hangs up itself (BYE) this long after the ACK of its
    /// 200 OK: RFC 3261 §15 forbids the callee's BYE before that ACK, and timing from the ACK keeps
    /// that rule without a second timer.
    HangupAfter(Duration),
}

/// The `--mode` syntax, for error messages.
const MODES: &str = "answer|busy|reject:CODE|ring-forever|challenge|hangup-after:MS";

/// The longest `hangup-after` accepted: a day. Beyond that it is a typo, not a test.
const MAX_HANGUP_MS: u64 = 86_400_000;

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "answer" => Ok(Mode::Answer),
            "busy" => Ok(Mode::Busy),
            "ring-forever" => Ok(Mode::RingForever),
            "challenge" => Ok(Mode::Challenge),
            other => {
                if let Some(ms) = other.strip_prefix("hangup-after:") {
                    return match ms.parse::<u64>() {
                        Ok(ms @ 0..=MAX_HANGUP_MS) => Ok(Mode::HangupAfter(Duration::from_millis(ms))),
                        _ => Err(format!(
                            "hangup-after needs milliseconds 0..={MAX_HANGUP_MS}, got {ms:?}"
                        )),
                    };
                }
                let code = other
                    .strip_prefix("reject:")
                    .ok_or_else(|| format!("unknown mode {other:?}: {MODES}"))?;
                match code.parse::<u16>() {
                    Ok(code @ 400..=699) => Ok(Mode::Reject(code)),
                    _ => Err(format!("reject code must be 400..=699, got {code:?}")),
                }
            }
        }
    }
}

/// How an answered call's offer/answer exchange looks on the wire: the shapes real trunks send
/// (RFC 3261 §13.2.1, RFC 3262, RFC 3264, RFC 6337).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerShape {
    /// 180 without SDP, then 200 with the answer.
    #[default]
    In200,
    /// 183 Session Progress with the answer, then 200 with the same SDP again.
    EarlyAnd200,
    /// 183 with the answer, then 200 without a body.
    EarlyOnly,
    /// 183 with the answer sent reliably (`Require: 100rel`, `RSeq: 1`, RFC 3262); the 200
    /// (without a body) follows the caller's PRACK. An INVITE without `Supported: 100rel` gets
    /// 420 Bad Extension.
    ReliableEarly,
    /// 200 listing PCMA before PCMU (and telephone-event): the caller must send PCMA.
    PcmaFirst,
    /// 200 with G.729, the chosen G.711 codec and telephone-event (101, `a=fmtp:101 0-16`).
    TelephoneEvent,
    /// 200 whose `c=` line is only inside the audio media section.
    MediaLevelConnection,
    /// 200 with `a=sendonly`: the callee would not hear anything.
    Sendonly,
    /// 200 with `a=inactive`.
    Inactive,
    /// 200 rejecting the audio stream (port 0).
    PortZero,
    /// 200 with the RFC 2543 hold address `c=IN IP4 0.0.0.0`.
    Hold,
}

/// The `--answer-shape` syntax, for error messages.
const SHAPES: &str = "in-200|early-and-200|early-only|reliable-early|pcma-first|telephone-event|\
                      media-level-c|sendonly|inactive|port-zero|hold";

impl FromStr for AnswerShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim() {
            "in-200" => AnswerShape::In200,
            "early-and-200" => AnswerShape::EarlyAnd200,
            "early-only" => AnswerShape::EarlyOnly,
            "reliable-early" => AnswerShape::ReliableEarly,
            "pcma-first" => AnswerShape::PcmaFirst,
            "telephone-event" => AnswerShape::TelephoneEvent,
            "media-level-c" => AnswerShape::MediaLevelConnection,
            "sendonly" => AnswerShape::Sendonly,
            "inactive" => AnswerShape::Inactive,
            "port-zero" => AnswerShape::PortZero,
            "hold" => AnswerShape::Hold,
            other => return Err(format!("unknown answer shape {other:?}: {SHAPES}")),
        })
    }
}

impl AnswerShape {
    /// The provisional response that carries the answer before the 200, if any.
    pub fn early(self) -> bool {
        matches!(
            self,
            AnswerShape::EarlyAnd200 | AnswerShape::EarlyOnly | AnswerShape::ReliableEarly
        )
    }

    /// The 200 OK repeats the answer (false: the 200 has no body).
    pub fn sdp_in_200(self) -> bool {
        !matches!(self, AnswerShape::EarlyOnly | AnswerShape::ReliableEarly)
    }
}

/// The rules file as written: `default = "answer"` and a `[users]` table of user → mode.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    default: Option<String>,
    #[serde(default)]
    users: HashMap<String, String>,
}

/// The validated mode per called user (the user part of the Request-URI), with a default.
#[derive(Debug, Clone)]
pub struct Rules {
    default: Mode,
    users: HashMap<String, Mode>,
}

impl Rules {
    pub fn single(mode: Mode) -> Self {
        Rules {
            default: mode,
            users: HashMap::new(),
        }
    }

    /// Parses a rules file; its `default` overrides `fallback` (the `--mode`).
    pub fn parse_toml(text: &str, fallback: Mode) -> Result<Self, String> {
        let file: RulesFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let default = file.default.as_deref().map(str::parse).transpose()?.unwrap_or(fallback);
        let users = file
            .users
            .into_iter()
            .map(|(user, mode)| Ok((user, mode.parse()?)))
            .collect::<Result<_, String>>()?;
        Ok(Rules { default, users })
    }

    pub fn mode_for(&self, user: Option<&str>) -> Mode {
        user.and_then(|u| self.users.get(u)).copied().unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes_and_rules() {
        assert_eq!("reject:503".parse(), Ok(Mode::Reject(503)));
        assert!("reject:200".parse::<Mode>().is_err());
        assert!("ring".parse::<Mode>().is_err());
        let rules = Rules::parse_toml(
            "[users]\nbob = \"busy\"\n\"+15550001\" = \"reject:603\"\n",
            Mode::Answer,
        )
        .unwrap();
        assert_eq!(rules.mode_for(Some("bob")), Mode::Busy);
        assert_eq!(rules.mode_for(Some("+15550001")), Mode::Reject(603));
        assert_eq!(rules.mode_for(Some("carol")), Mode::Answer);
        assert!(Rules::parse_toml("typo = 1", Mode::Answer).is_err());
    }

    #[test]
    fn parses_answer_shapes() {
        assert_eq!("reliable-early".parse(), Ok(AnswerShape::ReliableEarly));
        assert_eq!("media-level-c".parse(), Ok(AnswerShape::MediaLevelConnection));
        assert!("early".parse::<AnswerShape>().is_err());
        assert!(AnswerShape::EarlyOnly.early() && !AnswerShape::EarlyOnly.sdp_in_200());
        assert!(!AnswerShape::In200.early() && AnswerShape::In200.sdp_in_200());
    }

    #[test]
    fn parses_hangup_after() {
        assert_eq!(
            "hangup-after:300".parse(),
            Ok(Mode::HangupAfter(Duration::from_millis(300)))
        );
        for bad in [
            "hangup-after:",
            "hangup-after:abc",
            "hangup-after:-5",
            "hangup-after:1.5",
            "hangup-after:86400001",
        ] {
            assert!(bad.parse::<Mode>().is_err(), "{bad}");
        }
        let rules = Rules::parse_toml(
            "default = \"answer\"\n[users]\nquitter = \"hangup-after:300\"\n",
            Mode::Busy,
        )
        .unwrap();
        assert_eq!(
            rules.mode_for(Some("quitter")),
            Mode::HangupAfter(Duration::from_millis(300))
        );
        assert_eq!(rules.mode_for(Some("other")), Mode::Answer);
        let error = Rules::parse_toml("[users]\nquitter = \"hangup-after:soon\"\n", Mode::Answer).unwrap_err();
        assert!(error.contains("hangup-after"), "{error}");
    }
}
