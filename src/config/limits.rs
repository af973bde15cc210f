//! Extension sections for the HTTP listener (CONTRACT §2 names neither): `[limits]`, the request
//! limits every endpoint answers 429 past, and `[server.tls]`, optional TLS (rustls) for the
//! listener.
use serde::Deserialize;
use std::path::PathBuf;

/// `[limits]`: requests per minute, each limit a token bucket whose burst is one minute's worth
/// (governor's GCRA). `0` turns a limit off. The defaults are generous — about 1,000 requests a
/// second from one address or one key — so that only floods and brute force meet them. On a
/// PostgreSQL store the same numbers are per-minute windows shared by every node
/// ([`crate::limits`]): they hold for the whole deployment, not per node.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    /// Every request from one client address (IPv6: one /64), any endpoint.
    pub requests_per_minute_per_ip: u32,
    /// Every request carrying one application's valid `x-api-key`, from any address.
    pub requests_per_minute_per_key: u32,
    /// Requests answered 401 (wrong or missing key, forged callback signature) from one address;
    /// past it, requests from that address that carry an `x-api-key` get 429 until the bucket
    /// refills, valid key or not, so guessing keys stays slow.
    pub failed_auth_per_minute_per_ip: u32,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            requests_per_minute_per_ip: 60_000,
            requests_per_minute_per_key: 60_000,
            failed_auth_per_minute_per_ip: 10,
        }
    }
}

/// The validated `[limits]` section (per minute; `None` = off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    pub per_ip: Option<std::num::NonZeroU32>,
    pub per_key: Option<std::num::NonZeroU32>,
    pub failed_auth_per_ip: Option<std::num::NonZeroU32>,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RawLimits::default().validate()
    }
}

impl RawLimits {
    pub(super) fn validate(&self) -> RequestLimits {
        RequestLimits {
            per_ip: std::num::NonZeroU32::new(self.requests_per_minute_per_ip),
            per_key: std::num::NonZeroU32::new(self.requests_per_minute_per_key),
            failed_auth_per_ip: std::num::NonZeroU32::new(self.failed_auth_per_minute_per_ip),
        }
    }
}

/// `[server.tls]`: serve HTTPS instead of HTTP. Both files are PEM.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// The certificate chain, leaf first.
    pub cert: String,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
    /// `"1.2"` (default: TLS 1.2 and 1.3) or `"1.3"` (TLS 1.3 only).
    #[serde(default = "default_min_version")]
    pub min_version: String,
}

fn default_min_version() -> String {
    "1.2".into()
}

/// The lowest TLS version the listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    V1_2,
    V1_3,
}

/// The validated `[server.tls]` section. The files are read (and the pair checked) at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub min_version: TlsVersion,
}

impl RawTls {
    pub(super) fn validate(&self, problems: &mut Vec<String>) -> Option<TlsConfig> {
        let min_version = match self.min_version.as_str() {
            "1.2" => TlsVersion::V1_2,
            "1.3" => TlsVersion::V1_3,
            other => {
                problems.push(format!("server.tls.min_version: {other:?} is not \"1.2\" or \"1.3\""));
                return None;
            }
        };
        let mut file = |key: &str, value: &str| {
            if value.trim().is_empty() {
                problems.push(format!("server.tls.{key}: must name a PEM file"));
            }
            PathBuf::from(value.trim())
        };
        let cert = file("cert", &self.cert);
        let key = file("key", &self.key);
        Some(TlsConfig { cert, key, min_version })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{RawConfig, TlsVersion};

    #[test]
    fn limits_are_on_by_default_and_zero_turns_one_off() {
        let config = RawConfig::parse("").unwrap().build_and_validate().unwrap();
        assert_eq!(config.limits.per_ip.map(|n| n.get()), Some(60_000));
        assert_eq!(config.limits.per_key.map(|n| n.get()), Some(60_000));
        assert_eq!(config.limits.failed_auth_per_ip.map(|n| n.get()), Some(10));
        assert_eq!(config.tls, None);
        let config = RawConfig::parse("[limits]\nrequests_per_minute_per_ip = 0\n")
            .unwrap()
            .build_and_validate()
            .unwrap();
        assert_eq!(config.limits.per_ip, None);
        assert!(config.limits.per_key.is_some());
    }

    #[test]
    fn tls_needs_both_files_and_a_known_version() {
        let config = RawConfig::parse("[server.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n")
            .unwrap()
            .build_and_validate()
            .unwrap();
        let tls = config.tls.unwrap();
        assert_eq!(tls.min_version, TlsVersion::V1_2);
        assert_eq!(tls.cert, std::path::PathBuf::from("c.pem"));

        let err = RawConfig::parse("[server.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nmin_version = \"1.1\"\n")
            .unwrap()
            .build_and_validate()
            .unwrap_err();
        assert!(err.to_string().contains("server.tls.min_version: \"1.1\""), "{err}");
        let err = RawConfig::parse("[server.tls]\ncert = \"c.pem\"\n").unwrap_err();
        assert!(err.to_string().contains("key"), "{err}");
    }
}
