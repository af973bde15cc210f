//! The one testing place of the HTTP channels: the fake-platform kit their fakes are built on,
//! and what their tests share.
//!
//! - [`rules`]: the rule vocabulary of every fake (`deliver`, `fail`, `refuse`, `throttle`,
//!   `server_error`, `drop`, by longest digit prefix).
//! - [`fake`]: the server a fake runs on — token check, rules, control routes, the sends it
//!   took, signed callbacks posted later — around a [`fake::FakePlatform`], which adds the
//!   platform's routes and says how it refuses, throttles and signs.
//! - [`mod@main`]: the `main` of every fake binary (flags, TOML rules, the ready line).
//! - [`harness`]: test messages, a callback receiver, fake binaries run as processes.
//! - [`suite`]: the conformance tests every channel runs against its fake
//!   ([`conformance_tests!`](crate::conformance_tests)).
pub mod fake;
pub mod harness;
pub mod main;
pub mod rules;
pub mod suite;

pub use crate::callback::unix_now;
pub use fake::{Events, Fake, FakePlatform, FakeServer, FakeSettings, Signed};
pub use rules::{Action, Rule, Rules};
