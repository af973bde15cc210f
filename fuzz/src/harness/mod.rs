//! One entry per decoder that reads bytes from outside otpgate; each runs the decoder as the
//! engine does and asserts what must hold whatever the bytes (panics are the findings).
//!
//! # Layout
//! - [`smpp`]: `smpp_pdu` (framing + what the session does with each PDU), `smpp_receipt`
//!   (delivery-receipt text and message-id forms).
//! - [`sip`]: `sip_message` (stream framing, rsip parse, every response/request reader the
//!   call uses, digest challenges), `sip_sdp` (SDP answers), `callee_rtp` (the callee
//!   simulator's RTP recorder, SDP offer and digest readers).
//! - [`channels`]: `channel_callback` (each HTTP channel's callback body and signature headers).
//! - [`api`]: `api_json` (JSON bodies of send/check and path A's endpoints, through the real
//!   actix handlers over an embedded store).
//! - [`config`]: `config_toml` (the config file parser and validation).
//!
//! Also compiled by `tests/fuzz_corpora.rs` through `#[path]`: keep it free of libFuzzer.
mod api;
mod channels;
mod config;
mod sip;
mod smpp;

pub use api::api_json;
pub use channels::channel_callback;
pub use config::config_toml;
pub use sip::{callee_rtp, sip_message, sip_sdp};
pub use smpp::{smpp_pdu, smpp_receipt};

/// A target's body: the bytes libFuzzer (or a corpus file) gives it.
pub type Target = fn(&[u8]);

/// Each target by name, which is also its corpus directory under `fuzz/corpus/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("smpp_pdu", smpp_pdu),
    ("smpp_receipt", smpp_receipt),
    ("sip_message", sip_message),
    ("sip_sdp", sip_sdp),
    ("callee_rtp", callee_rtp),
    ("channel_callback", channel_callback),
    ("api_json", api_json),
    ("config_toml", config_toml),
];
