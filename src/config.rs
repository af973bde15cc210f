//! Configuration: the TOML file of the contract (§2), parsed strictly and validated once.
//!
//! Parsing goes through [`RawConfig`] (every section `deny_unknown_fields`, every key defaulted
//! except secrets; `[[carriers]]` entries are read by their protocol's keys in
//! [`crate::carriers`]), then [`RawConfig::build_and_validate`] turns it into the immutable
//! [`Config`] the engine runs on, or into a list of every problem found, each with the line of
//! the key it is about.
mod hosted;
mod limits;
mod privacy;

pub use hosted::{RawSessions, RawWebhooks, WebhooksConfig};
pub use limits::{RawLimits, RawTls, RequestLimits, TlsConfig, TlsVersion};
pub use privacy::{RawEncryption, RawPreviousKey, MAX_RETENTION_DAYS, MIN_RETENTION_DAYS};

use crate::carriers::{self, CarrierConfig, RawCarrier};
use otpgate_gateway::Channel;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Problems found in a config file, each one line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct ConfigError(pub Vec<String>);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// The text this was parsed from, to say on which line each problem is.
    #[serde(skip)]
    source: Option<String>,
    pub server: RawServer,
    pub store: RawStore,
    pub applications: Vec<RawApplication>,
    pub verification: RawVerification,
    pub sandbox: RawSandbox,
    pub carriers: Vec<RawCarrier>,
    pub routing: BTreeMap<String, Vec<String>>,
    pub risk: RawRisk,
    pub intel: RawIntel,
    pub sessions: RawSessions,
    pub webhooks: RawWebhooks,
    pub limits: RawLimits,
}

/// Extension (`[intel]`): the number-intelligence data files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIntel {
    /// Empty: the built-in libphonenumber carrier mapping.
    pub carriers_file: String,
    /// Empty: the built-in list.
    pub disposable_file: String,
    pub reload_seconds: u64,
    pub lookup: Option<RawLookup>,
}

impl Default for RawIntel {
    fn default() -> Self {
        Self {
            carriers_file: String::new(),
            disposable_file: String::new(),
            reload_seconds: 60,
            lookup: None,
        }
    }
}

/// Extension (`[intel.lookup]`): an HTTP number-lookup provider (src/lookup.rs).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLookup {
    pub url: String,
    pub token: Option<String>,
    #[serde(default = "default_lookup_ttl")]
    pub ttl_seconds: u64,
    #[serde(default = "default_lookup_timeout")]
    pub timeout_ms: u64,
}

fn default_lookup_ttl() -> u64 {
    86_400
}

fn default_lookup_timeout() -> u64 {
    800
}

/// The validated `[intel]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntelConfig {
    pub carriers_file: Option<PathBuf>,
    pub disposable_file: Option<PathBuf>,
    pub reload_seconds: u64,
    pub lookup: Option<crate::lookup::LookupConfig>,
}

/// Extension (`[risk]`): send rate limits and pumping protection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRisk {
    pub sends_per_minute_per_application: u32,
    pub sends_per_minute_per_ip: u32,
    pub high_risk_prefixes: Vec<String>,
    pub pumping: RawPumping,
}

impl Default for RawRisk {
    fn default() -> Self {
        Self {
            sends_per_minute_per_application: 0,
            sends_per_minute_per_ip: 20,
            high_risk_prefixes: Vec::new(),
            pumping: RawPumping::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPumping {
    pub prefix_digits: usize,
    pub window_seconds: u64,
    pub min_sends: u32,
    pub min_completion: f64,
    pub block_seconds: u64,
    pub grace_seconds: u64,
}

impl Default for RawPumping {
    fn default() -> Self {
        Self {
            prefix_digits: 6,
            window_seconds: 600,
            min_sends: 50,
            min_completion: 0.1,
            block_seconds: 3600,
            grace_seconds: 60,
        }
    }
}

/// The validated `[risk]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskPolicy {
    /// 0 = no limit.
    pub sends_per_minute_per_application: u32,
    /// By `signals.ip`; 0 = no limit.
    pub sends_per_minute_per_ip: u32,
    /// E.164 prefixes with the `+`.
    pub high_risk_prefixes: Vec<String>,
    pub prefix_digits: usize,
    pub pumping_window_ms: i64,
    /// 0 turns pumping protection off.
    pub pumping_min_sends: u32,
    pub pumping_min_completion: f64,
    pub pumping_block_ms: i64,
    /// Sends younger than this are not judged yet: their users may still enter the code.
    pub pumping_grace_ms: i64,
}

impl Default for RiskPolicy {
    fn default() -> Self {
        RawRisk::default().validate(&mut Vec::new())
    }
}

impl RawRisk {
    fn validate(&self, problems: &mut Vec<String>) -> RiskPolicy {
        let mut prefixes = Vec::new();
        for (i, raw) in self.high_risk_prefixes.iter().enumerate() {
            match crate::blocklist::normalise_prefix(raw) {
                Ok(p) => prefixes.push(p),
                Err(why) => problems.push(format!("risk.high_risk_prefixes[{i}]: {raw:?} {why}")),
            }
        }
        let p = &self.pumping;
        if !(1..=14).contains(&p.prefix_digits) {
            problems.push(format!(
                "risk.pumping.prefix_digits: {} is outside 1..14",
                p.prefix_digits
            ));
        }
        if !(60..=86_400).contains(&p.window_seconds) {
            problems.push(format!(
                "risk.pumping.window_seconds: {} is outside 60..86400",
                p.window_seconds
            ));
        }
        if !(0.0..=1.0).contains(&p.min_completion) {
            problems.push(format!(
                "risk.pumping.min_completion: {} is outside 0..1",
                p.min_completion
            ));
        }
        if p.grace_seconds >= p.window_seconds {
            problems.push(format!(
                "risk.pumping.grace_seconds: {} must be shorter than window_seconds ({})",
                p.grace_seconds, p.window_seconds
            ));
        }
        if !(1..=604_800).contains(&p.block_seconds) {
            problems.push(format!(
                "risk.pumping.block_seconds: {} is outside 1..604800",
                p.block_seconds
            ));
        }
        RiskPolicy {
            sends_per_minute_per_application: self.sends_per_minute_per_application,
            sends_per_minute_per_ip: self.sends_per_minute_per_ip,
            high_risk_prefixes: prefixes,
            prefix_digits: p.prefix_digits,
            pumping_window_ms: p.window_seconds as i64 * 1000,
            pumping_min_sends: p.min_sends,
            pumping_min_completion: p.min_completion,
            pumping_block_ms: p.block_seconds as i64 * 1000,
            pumping_grace_ms: p.grace_seconds as i64 * 1000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    pub listen: String,
    pub public_url: String,
    pub tls: Option<RawTls>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            tls: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStore {
    pub url: String,
    /// `[store.encryption]` (extension, issue 18): see [`RawEncryption`].
    pub encryption: Option<RawEncryption>,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            url: "sqlite://data/otpgate.db".into(),
            encryption: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApplication {
    pub name: String,
    pub api_key: String,
    /// Extension (issue 18): days verifications, messages and sessions are kept, 30..=3650;
    /// unset keeps them without limit.
    #[serde(default)]
    pub retention_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawVerification {
    pub code_length: u32,
    pub code_validity_seconds: u64,
    pub max_code_attempts: u32,
    pub max_resend_requests_per_24h: u32,
    pub fallback_after_seconds: u64,
}

impl Default for RawVerification {
    fn default() -> Self {
        Self {
            code_length: 6,
            code_validity_seconds: 300,
            max_code_attempts: 2,
            max_resend_requests_per_24h: 2,
            fallback_after_seconds: 20,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSandbox {
    /// `None` means "on exactly when no carrier is configured".
    pub enabled: Option<bool>,
}

/// The validated, immutable configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: String,
    pub store: StoreLocation,
    /// `[store.encryption]`: the keys numbers are sealed under; `None`: the store's generated key.
    pub encryption: Option<crate::store::crypto::Keyring>,
    pub applications: Vec<ApplicationConfig>,
    pub verification: VerificationPolicy,
    pub sandbox_enabled: bool,
    pub carriers: Vec<CarrierConfig>,
    pub routing: RoutingTable,
    pub risk: RiskPolicy,
    pub intel: IntelConfig,
    pub sessions: crate::sessions::SessionTimes,
    pub webhooks: WebhooksConfig,
    /// `[server.tls]`: HTTPS on `listen` when set.
    pub tls: Option<TlsConfig>,
    pub limits: RequestLimits,
}

/// Where the store is: `store.url` parsed.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `sqlite://PATH`: the embedded store.
    Sqlite { path: PathBuf },
    /// `postgres://…` or `postgresql://…`: the PostgreSQL store, for several nodes. The URL may
    /// hold a password, so it is not printed by `Debug`.
    Postgres { url: String },
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            StoreLocation::Postgres { .. } => f.debug_struct("Postgres").finish_non_exhaustive(),
        }
    }
}

impl StoreLocation {
    /// Where the engine keeps its own files (the code-hashing secret) beside the database.
    pub fn data_dir(&self) -> PathBuf {
        match self {
            StoreLocation::Sqlite { path } => match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            },
            // The code-hashing secret stays a local file: every node needs the same one.
            StoreLocation::Postgres { .. } => PathBuf::from("data"),
        }
    }
}

#[derive(Clone)]
pub struct ApplicationConfig {
    pub name: String,
    pub api_key: String,
    /// Days its data is kept (30..=3650); `None`: without limit.
    pub retention_days: Option<u32>,
}

impl std::fmt::Debug for ApplicationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplicationConfig")
            .field("name", &self.name)
            .field("api_key", &"<redacted>")
            .field("retention_days", &self.retention_days)
            .finish()
    }
}

/// Limits applied to every verification (a workflow may later override each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerificationPolicy {
    pub code_length: u32,
    pub code_validity_ms: i64,
    pub max_code_attempts: u32,
    pub max_resend_requests_per_24h: u32,
    pub fallback_after_seconds: u64,
}

impl Default for VerificationPolicy {
    fn default() -> Self {
        let raw = RawVerification::default();
        Self {
            code_length: raw.code_length,
            code_validity_ms: raw.code_validity_seconds as i64 * 1000,
            max_code_attempts: raw.max_code_attempts,
            max_resend_requests_per_24h: raw.max_resend_requests_per_24h,
            fallback_after_seconds: raw.fallback_after_seconds,
        }
    }
}

/// Channel order per country; `"*"` is the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingTable {
    pub by_country: BTreeMap<String, Vec<Channel>>,
}

impl RoutingTable {
    pub fn order_for(&self, country: &str) -> &[Channel] {
        self.by_country
            .get(country)
            .or_else(|| self.by_country.get("*"))
            .map(Vec::as_slice)
            .unwrap_or(&Channel::ALL)
    }
}

impl Default for RoutingTable {
    /// The seed's defaults: SMS first where it is cheapest, WhatsApp first where it leads.
    fn default() -> Self {
        use Channel::*;
        let mut by_country = BTreeMap::new();
        by_country.insert("*".to_owned(), vec![Sms, Whatsapp, Telegram, Rcs, Viber, Call]);
        for country in ["BR", "IN", "MX"] {
            by_country.insert(country.to_owned(), vec![Whatsapp, Sms, Telegram, Rcs, Viber, Call]);
        }
        Self { by_country }
    }
}

pub const MIN_CODE_LENGTH: u32 = 4;
pub const MAX_CODE_LENGTH: u32 = 10;

impl RawConfig {
    /// Parses TOML text. Errors name the key, line and column (toml's own messages).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| ConfigError(vec![e.to_string().trim_end().to_owned()]))?;
        Ok(RawConfig {
            source: Some(text.to_owned()),
            ..raw
        })
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(vec![format!("cannot read config {}: {e}", path.display())]))?;
        Self::parse(&text).map_err(|ConfigError(lines)| {
            ConfigError(lines.into_iter().map(|l| format!("{}: {l}", path.display())).collect())
        })
    }

    pub fn build_and_validate(self) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();

        let listen = self
            .server
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| {
                problems.push(format!(
                    "server.listen: {:?} is not an address like 127.0.0.1:8080",
                    self.server.listen
                ))
            })
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let public_url = self.server.public_url.trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            problems.push(format!(
                "server.public_url: {:?} must start with http:// or https://",
                self.server.public_url
            ));
        }

        let store = match self.store.url.strip_prefix("sqlite://") {
            Some(path) if !path.is_empty() => StoreLocation::Sqlite {
                path: PathBuf::from(path),
            },
            _ if self.store.url.starts_with("postgres://") || self.store.url.starts_with("postgresql://") => {
                if let Err(e) = self.store.url.parse::<tokio_postgres::Config>() {
                    // The parser's message names the part, never the password.
                    problems.push(format!("store.url: not a PostgreSQL URL: {e}"));
                }
                StoreLocation::Postgres {
                    url: self.store.url.clone(),
                }
            }
            _ => {
                problems.push(format!(
                    "store.url: {:?} is neither sqlite://PATH nor postgres://USER@HOST/DB",
                    self.store.url
                ));
                StoreLocation::Sqlite {
                    path: PathBuf::from("data/otpgate.db"),
                }
            }
        };

        let encryption = self
            .store
            .encryption
            .as_ref()
            .and_then(|raw| privacy::keyring(raw, &mut problems));

        let mut applications = Vec::new();
        for (i, app) in self.applications.into_iter().enumerate() {
            let at = format!("applications[{i}]");
            if app.name.trim().is_empty() || app.name.len() > 64 {
                problems.push(format!("{at}.name: must be 1 to 64 characters"));
            }
            if app.api_key.len() < 16 {
                problems.push(format!("{at}.api_key: must be at least 16 characters"));
            }
            if applications.iter().any(|a: &ApplicationConfig| a.name == app.name) {
                problems.push(format!("{at}.name: {:?} is used twice", app.name));
            }
            if applications
                .iter()
                .any(|a: &ApplicationConfig| a.api_key == app.api_key)
            {
                problems.push(format!("{at}.api_key: the same key is used by two applications"));
            }
            let retention_days = privacy::retention(&at, app.retention_days, &mut problems);
            applications.push(ApplicationConfig {
                name: app.name,
                api_key: app.api_key,
                retention_days,
            });
        }

        let v = &self.verification;
        if !(MIN_CODE_LENGTH..=MAX_CODE_LENGTH).contains(&v.code_length) {
            problems.push(format!("verification.code_length: {} is outside 4..10", v.code_length));
        }
        if !(30..=86_400).contains(&v.code_validity_seconds) {
            problems.push(format!(
                "verification.code_validity_seconds: {} is outside 30..86400",
                v.code_validity_seconds
            ));
        }
        if !(1..=10).contains(&v.max_code_attempts) {
            problems.push(format!(
                "verification.max_code_attempts: {} is outside 1..10",
                v.max_code_attempts
            ));
        }
        if v.max_resend_requests_per_24h > 10 {
            problems.push(format!(
                "verification.max_resend_requests_per_24h: {} is above 10",
                v.max_resend_requests_per_24h
            ));
        }
        if !(1..=600).contains(&v.fallback_after_seconds) {
            problems.push(format!(
                "verification.fallback_after_seconds: {} is outside 1..600",
                v.fallback_after_seconds
            ));
        }
        let verification = VerificationPolicy {
            code_length: v.code_length,
            code_validity_ms: v.code_validity_seconds as i64 * 1000,
            max_code_attempts: v.max_code_attempts,
            max_resend_requests_per_24h: v.max_resend_requests_per_24h,
            fallback_after_seconds: v.fallback_after_seconds,
        };

        let mut carriers: Vec<CarrierConfig> = Vec::new();
        for (i, raw) in self.carriers.iter().enumerate() {
            if let Some(carrier) = carriers::validate(i, raw, &public_url, &mut problems) {
                if carriers.iter().any(|c| c.name() == carrier.name()) {
                    problems.push(format!("carriers[{i}].name: {:?} is used twice", carrier.name()));
                }
                carriers.push(carrier);
            }
        }
        let sandbox_enabled = self.sandbox.enabled.unwrap_or(self.carriers.is_empty());
        let risk = self.risk.validate(&mut problems);
        let tls = self.server.tls.as_ref().and_then(|t| t.validate(&mut problems));
        let limits = self.limits.validate();
        if !(1..=86_400).contains(&self.intel.reload_seconds) {
            problems.push(format!(
                "intel.reload_seconds: {} is outside 1..86400",
                self.intel.reload_seconds
            ));
        }
        let file = |path: &str| (!path.trim().is_empty()).then(|| PathBuf::from(path.trim()));
        let lookup = self.intel.lookup.as_ref().map(|raw| {
            if !(raw.url.starts_with("http://") || raw.url.starts_with("https://")) || !raw.url.contains("{number}") {
                problems.push(format!(
                    "intel.lookup.url: {:?} must be an http(s) URL containing {{number}}",
                    raw.url
                ));
            }
            if !(1..=30 * 86_400).contains(&raw.ttl_seconds) {
                problems.push(format!(
                    "intel.lookup.ttl_seconds: {} is outside 1..2592000",
                    raw.ttl_seconds
                ));
            }
            if !(50..=10_000).contains(&raw.timeout_ms) {
                problems.push(format!(
                    "intel.lookup.timeout_ms: {} is outside 50..10000",
                    raw.timeout_ms
                ));
            }
            crate::lookup::LookupConfig {
                url: raw.url.clone(),
                token: raw.token.clone().filter(|t| !t.is_empty()),
                ttl: std::time::Duration::from_secs(raw.ttl_seconds),
                timeout: std::time::Duration::from_millis(raw.timeout_ms),
            }
        });
        let intel = IntelConfig {
            carriers_file: file(&self.intel.carriers_file),
            disposable_file: file(&self.intel.disposable_file),
            reload_seconds: self.intel.reload_seconds,
            lookup,
        };

        let sessions = self.sessions.validate(&mut problems);
        let webhooks = self.webhooks.validate(&mut problems);

        let mut routing = RoutingTable::default();
        for (country, channels) in self.routing {
            if country != "*" && !(country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase())) {
                problems.push(format!(
                    "routing.{country}: key must be \"*\" or an ISO 3166-1 alpha-2 code like BR"
                ));
                continue;
            }
            let mut parsed = Vec::new();
            for name in &channels {
                match name.parse::<Channel>() {
                    Ok(c) if parsed.contains(&c) => {
                        problems.push(format!("routing.{country}: {name:?} is listed twice"))
                    }
                    Ok(c) => parsed.push(c),
                    Err(_) => problems.push(format!(
                        "routing.{country}: {name:?} is not one of sms, whatsapp, telegram, rcs, viber, call"
                    )),
                }
            }
            if channels.is_empty() {
                problems.push(format!("routing.{country}: needs at least one channel"));
            }
            routing.by_country.insert(country, parsed);
        }

        if let Some(document) = self
            .source
            .as_deref()
            .and_then(|text| toml_edit::ImDocument::parse(text).ok())
        {
            for problem in &mut problems {
                if let Some(line) = line_of(&document, problem) {
                    problem.push_str(&format!(" (line {line})"));
                }
            }
        }
        if problems.is_empty() {
            Ok(Config {
                listen,
                public_url,
                store,
                encryption,
                applications,
                verification,
                sandbox_enabled,
                carriers,
                routing,
                risk,
                intel,
                sessions,
                webhooks,
                tls,
                limits,
            })
        } else {
            Err(ConfigError(problems))
        }
    }
}

/// The line of the key a problem names (`carriers[2] (wa).token: ...` → the `token` of the
/// third `[[carriers]]`), or of the nearest table of it that the file has.
fn line_of(document: &toml_edit::ImDocument<&str>, problem: &str) -> Option<usize> {
    let mut path = problem.split_once(": ")?.0.to_owned();
    // Carrier names in parentheses are for the reader.
    while let Some(start) = path.find(" (") {
        let end = start + path[start..].find(')')?;
        path.replace_range(start..=end, "");
    }
    let mut table: &dyn toml_edit::TableLike = document.as_table();
    let mut span = None;
    for segment in path.split('.') {
        let (key, index) = match segment.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        let Some((found, item)) = table.get_key_value(key) else {
            break;
        };
        span = found.span().or(span);
        let next = match index {
            Some(i) => {
                let entry = item.as_array_of_tables().and_then(|a| a.get(i));
                span = entry.and_then(|t| t.span()).or(span);
                entry.map(|t| t as &dyn toml_edit::TableLike)
            }
            None => item.as_table_like(),
        };
        match next {
            Some(next) => table = next,
            None => break,
        }
    }
    let start = span?.start;
    Some(document.raw()[..start].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests;
