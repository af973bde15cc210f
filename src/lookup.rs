//! The pluggable number lookup: an HTTP service (an HLR or number-portability provider, or an
//! adapter in front of one) that says which carrier a number is with *now* — the prefix data
//! only knows which carrier the range was allocated to, and ported numbers move.
//!
//! `GET <url with {number} replaced by the URL-encoded E.164 number>`, `Authorization: Bearer
//! <token>` when configured. `200` with `{"carrier": "Movistar", "type": "mobile" | "landline" |
//! "voip", "ported": true}` (every field optional) overrides the prefix data; `404` means the
//! provider does not know the number. Both are cached for `ttl_seconds`. Anything else — an
//! error status, a timeout, a body we cannot read — falls back to the prefix data, is not cached,
//! and is counted (`otpgate_intel_lookups_total{result}`), so a slow provider costs at most
//! `timeout_ms` per send and never fails one.
use crate::number::{LineType, NumberInfo};
use quick_cache::sync::Cache;
use serde::Deserialize;
use std::time::{Duration, Instant};

#[derive(Clone, PartialEq, Eq)]
pub struct LookupConfig {
    /// Contains `{number}`.
    pub url: String,
    pub token: Option<String>,
    pub ttl: Duration,
    pub timeout: Duration,
}

// The token stays out of every `{:?}`.
impl std::fmt::Debug for LookupConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupConfig")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What the provider said about a number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LookupResult {
    pub carrier: Option<String>,
    #[serde(rename = "type")]
    pub line_type: Option<LineType>,
    pub ported: Option<bool>,
}

impl LookupResult {
    pub fn apply(&self, number: &mut NumberInfo) {
        if let Some(carrier) = self.carrier.as_ref().filter(|c| !c.trim().is_empty()) {
            number.carrier_name = Some(carrier.trim().to_owned());
        }
        if let Some(line_type) = self.line_type.filter(|t| *t != LineType::Unknown) {
            number.line_type = line_type;
            if line_type == LineType::Voip {
                number.is_virtual = true;
            }
        }
    }
}

pub struct Lookup {
    config: LookupConfig,
    client: reqwest::Client,
    /// Number → (when looked up, what the provider said; `None` for 404).
    cache: Cache<String, (Instant, Option<LookupResult>)>,
}

fn count(result: &'static str) {
    metrics::counter!(crate::metrics::INTEL_LOOKUPS, "result" => result).increment(1);
}

impl Lookup {
    pub fn new(config: LookupConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| format!("lookup client: {e}"))?;
        Ok(Self {
            config,
            client,
            cache: Cache::new(100_000),
        })
    }

    /// The provider's answer for `full_number`, from the cache while it is fresh.
    pub async fn lookup(&self, full_number: &str) -> Option<LookupResult> {
        if let Some((at, result)) = self.cache.get(full_number) {
            if at.elapsed() < self.config.ttl {
                count("cached");
                return result;
            }
        }
        let url = self.config.url.replace("{number}", &full_number.replace('+', "%2B"));
        let mut request = self.client.get(&url);
        if let Some(token) = &self.config.token {
            request = request.bearer_auth(token);
        }
        let result = match request.send().await {
            Ok(response) if response.status() == reqwest::StatusCode::NOT_FOUND => None,
            Ok(response) if response.status().is_success() => match response.json::<LookupResult>().await {
                Ok(result) => Some(result),
                Err(error) => {
                    count("error");
                    tracing::warn!(%error, "number lookup answered a body we cannot read");
                    return None;
                }
            },
            Ok(response) => {
                count("error");
                tracing::warn!(status = %response.status(), "number lookup failed");
                return None;
            }
            Err(error) => {
                count(if error.is_timeout() { "timeout" } else { "error" });
                tracing::warn!(error = %error.without_url(), "number lookup failed");
                return None;
            }
        };
        count(if result.is_some() { "found" } else { "not_found" });
        self.cache
            .insert(full_number.to_owned(), (Instant::now(), result.clone()));
        result
    }
}
