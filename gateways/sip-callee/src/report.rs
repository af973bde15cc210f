//! What the callee writes down: the per-call JSON report next to the WAV, and one JSON line per
//! call outcome in the `--report-file` log.

use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// `DIR/<call-id>.json` for an answered call, finalised on the caller's BYE or, in
/// `hangup-after` mode, just before the callee sends its own BYE.
#[derive(Debug, Clone, Serialize)]
pub struct CallReport {
    pub call_id: String,
    pub from: String,
    pub to: String,
    pub codec: crate::sdp::Codec,
    pub packets: u64,
    pub duration_ms: u64,
    pub first_marker_bit: Option<bool>,
    pub sequence_gaps: u64,
    pub ssrc_changes: u64,
    /// The caller ended the call with a BYE (false when the callee hung up first).
    pub bye_received: bool,
    /// The callee ended the call with its own BYE (`hangup-after` mode); the recording stops there.
    pub hung_up_by_callee: bool,
    /// `--nat-media`: packets that reached the port the callee's own RTP leaves from, i.e. sent
    /// by a caller that latched onto it (0 otherwise).
    pub packets_at_media_source: u64,
    /// The top Via of the INVITE, its Contact, its first Route (empty without), and its SDP
    /// connection line (`IN IP4 addr`): where the caller said it is and how the INVITE came.
    pub invite_via: String,
    pub invite_contact: String,
    pub invite_route: String,
    pub offer_connection: String,
}

/// One line of the `--report-file` log.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub call_id: String,
    pub from: String,
    pub to: String,
    /// answered | hung_up | rejected | cancelled | auth_failed | unsupported_media | bad_extension
    /// (`hung_up`: answered, then ended by the callee's own BYE)
    pub outcome: &'static str,
    /// The final status code sent to the INVITE.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<CallReport>,
}

/// Appends one JSON line to `path`.
pub fn append_line(path: &Path, outcome: &Outcome) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(outcome)?;
    line.push(b'\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(&line)
}

/// A Call-ID made safe to use as a file name.
pub fn file_stem(call_id: &str) -> String {
    call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}
