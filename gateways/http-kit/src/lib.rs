//! What otpgate's HTTP channel gateways (WhatsApp, Telegram, Viber, RCS) share, so that each
//! channel crate keeps only what is its own: the platform's wire types and signature
//! (`wire.rs`), its status table (`status.rs`), its [`Platform`] with its config keys (`lib.rs`)
//! and its fake (`fake.rs`).
//!
//! # Layout
//! - [`request`]: one client per carrier, answers read whole, `Retry-After` (every RFC 9110
//!   form), transport failures and the HTTP statuses every platform means alike, and the
//!   carrier's reachability.
//! - [`channel`]: [`HttpGateway`], the [`otpgate_gateway::Gateway`] of every HTTP channel,
//!   around a [`Platform`] (a platform's `[[carriers]]` keys, its sends and its callbacks).
//! - [`tracker`]: [`CallbackTracker`], matching callback events to sent messages with the
//!   platform's outcome mapping, each message reported once.
//! - [`callback`]: what a callback carries ([`Event`]) and why one is refused
//!   ([`CallbackRejection`], with the HTTP status the engine answers).
//! - [`signature`]: [`HmacScheme`], the callback signature of a platform, with `sign` / `verify`.
//! - [`testing`]: the fake-platform kit and the conformance suite every channel runs.
#![forbid(unsafe_code)]

pub mod callback;
pub mod channel;
pub mod request;
pub mod signature;
pub mod testing;
pub mod tracker;

pub use callback::{unix_now, CallbackRejection, Event, Headers};
pub use channel::{base_url, ChannelSettings, HttpCarrier, HttpGateway, Platform, Secret};
pub use request::{Answer, PlatformClient, Refusal};
pub use signature::{Encoding, Hash, HmacScheme, KeyFrom};
pub use tracker::{CallbackTracker, Outcomes};
