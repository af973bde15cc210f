//! otpgate: a self-hostable phone-verification engine.
//!
//! # Layout
//! - [`config`]: the TOML config, parsed strictly and validated into an immutable
//!   [`config::Config`]; every problem is reported at once, with its line.
//! - [`carriers`]: `[[carriers]]` entries read by the keys of their protocol (one struct per
//!   protocol, next to its gateway), and their gateways started.
//! - [`serve`]: start-up wiring and the drain on shutdown.
//! - [`api`]: the HTTP API (actix-web): routes, input validation, the error-to-HTTP mapping.
//! - [`applications`]: tenants and their hashed API keys.
//! - [`engine`]: the shared parts handed to the API and the actors.
//! - [`actors`]: one actor per active (application, number) and the registry that finds it.
//! - [`number_state`]: the rules of one number (limits, expiry, resends, attempts, single use).
//! - [`verification`]: the stored verification record and the report built from it.
//! - [`code`]: code generation (CSPRNG) and the keyed hash codes are stored as.
//! - [`number`]: E.164 parsing and classification (libphonenumber metadata), sandbox numbers.
//! - [`intel`]: carrier names and disposable numbers from data files, reloadable.
//! - [`lookup`]: the optional HTTP number-lookup provider (HLR / portability), cached.
//! - [`risk`]: refusals before a send: rate limits, high-risk prefixes, SMS-pumping protection.
//! - [`limits`]: on PostgreSQL, the request, send and pumping limits and carriers' `max_tps`
//!   shared by every node (batched reservations of shared counters, a heartbeat of live nodes).
//! - [`blocklist`]: per-application blocked numbers and prefixes.
//! - [`routing`]: which channel and carrier to try, what each refusal leads to, and the
//!   routing actor that owns the table and the measured deliverability.
//! - [`receipts`]: delivery reports from the gateways, handed to the number's actor.
//! - [`retention`]: the background job that deletes what is older than an application's
//!   `retention_days` (issue 18).
//! - [`billing`]: what a verification costs, and the monthly usage report.
//! - [`templates`]: message texts per locale.
//! - [`store`]: the `Store` trait and the embedded SQLite store with group commit.
//! - [`webhooks`]: signed callbacks from the channel platforms, per carrier.
//! - [`workflows`]: path A's workflows: the PHONE feature, its limits and risk actions.
//! - [`sessions`]: hosted sessions, their lifecycle, decision and `status.updated` events.
//! - [`outbox`]: outbound webhooks: destinations, signatures, the durable outbox and its worker.
//! - [`metrics`]: Prometheus metric names and their descriptions.
//!
//! Channels are implemented outside this crate, under `gateways/`, behind the
//! `otpgate_gateway::Gateway` trait; the HTTP channels share `otpgate-http-kit`.
#![forbid(unsafe_code)]

pub mod actors;
pub mod api;
pub mod applications;
pub mod billing;
pub mod blocklist;
pub mod carriers;
pub mod code;
pub mod config;
pub mod engine;
pub mod intel;
pub mod limits;
pub mod lookup;
pub mod metrics;
pub mod number;
pub mod number_state;
pub mod outbox;
pub mod receipts;
pub mod retention;
pub mod risk;
pub mod routing;
pub mod scheduler;
pub mod serve;
pub mod sessions;
pub mod store;
pub mod templates;
pub mod verification;
pub mod webhooks;
pub mod workflows;
