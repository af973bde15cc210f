//! SIP callee simulator: the far end otpgate's SIP voice gateway is tested against.
//!
//! # Layout
//! - [`behaviour`] — `--mode` (answer, busy, reject:CODE, ring-forever, challenge, hangup-after:MS),
//!   per-user rules, and `--answer-shape` (how the SDP answer travels).
//! - [`server`] — the SIP user agent server (rsip messages) and the call table; `server/invite.rs`
//!   answers INVITE and PRACK in the configured shape, `server/dialog.rs` ACK, BYE and CANCEL.
//! - [`transport`] — UDP, TCP and TLS listeners and the way back to each peer.
//! - [`sdp`] — codec choice from the offer and the SDP answer.
//! - [`rtp`] — RTP header parsing and the per-call recorder (packets, gaps, SSRC changes, duration).
//! - [`g711`] — µ-law / A-law decoding to 16-bit PCM.
//! - [`wav`] — the WAV writer for received audio.
//! - [`digest`] — digest authentication challenge and check (MD5, SHA-256).
//! - [`report`] — the per-call JSON report and the JSON-lines outcome log.
#![forbid(unsafe_code)]

pub mod behaviour;
pub mod digest;
pub mod g711;
pub mod report;
pub mod rtp;
pub mod sdp;
pub mod server;
pub mod transport;
pub mod wav;

pub use behaviour::{AnswerShape, Mode, Rules};
pub use server::{run, Config};
pub use transport::Listener;
