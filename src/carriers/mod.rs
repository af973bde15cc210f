//! `[[carriers]]`: each entry validated by the keys of its protocol, and its gateway started.
//!
//! Every entry has `name`, `protocol`, `countries` and `fee_usd`, read here, and every HTTP
//! channel's entry `base_url`. The rest belongs to the protocol: one `deny_unknown_fields`
//! struct each, picked by `ProtocolKeys` (an enum tagged by `protocol`) and validated next to
//! its gateway — [`smpp`] and [`sip`] here, the HTTP platforms (`otpgate_whatsapp::WhatsApp`,
//! ...) in their own crates. Adding a key is one edit in that one file; a key that belongs to
//! another protocol is an error, not silently ignored.
pub mod sip;
pub mod smpp;

use crate::webhooks;
use otpgate_gateway::config::{CarrierContext, Problems};
use otpgate_gateway::{Coverage, Gateway, ReportSender};
use otpgate_http_kit::{ChannelSettings, HttpCarrier, HttpGateway, Platform};
use otpgate_rcs::Rcs;
use otpgate_sip::{SipConfig, SipGateway};
use otpgate_smpp::{SmppConfig, SmppGateway};
use otpgate_telegram::Telegram;
use otpgate_viber::Viber;
use otpgate_whatsapp::WhatsApp;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// One `[[carriers]]` entry as written; [`validate`] reads it.
pub type RawCarrier = toml::Table;

/// Per-request timeout of the HTTP channels.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// A validated carrier, ready to start.
#[derive(Debug, Clone)]
pub enum CarrierConfig {
    Smpp(SmppConfig),
    Sip(SipConfig),
    Whatsapp(HttpCarrier<WhatsApp>),
    Telegram(HttpCarrier<Telegram>),
    Viber(HttpCarrier<Viber>),
    Rcs(HttpCarrier<Rcs>),
}

/// The protocol-specific keys of an entry, by its `protocol`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ProtocolKeys {
    Smpp(smpp::Keys),
    Sip(sip::Keys),
    Whatsapp(WhatsApp),
    Telegram(Telegram),
    Viber(Viber),
    Rcs(Rcs),
}

const PROTOCOLS: &str = "smpp, sip, whatsapp, telegram, viber, rcs";

/// The keys every entry has besides `name` and `protocol`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CoverageKeys {
    /// ISO 3166-1 alpha-2 codes, `"*"` for all (the default).
    countries: Option<Vec<String>>,
    /// USD per message: `default` and per-country overrides.
    fee_usd: Option<BTreeMap<String, f64>>,
}

impl CarrierConfig {
    pub fn name(&self) -> &str {
        match self {
            CarrierConfig::Smpp(c) => &c.name,
            CarrierConfig::Sip(c) => &c.name,
            CarrierConfig::Whatsapp(c) => &c.settings.name,
            CarrierConfig::Telegram(c) => &c.settings.name,
            CarrierConfig::Viber(c) => &c.settings.name,
            CarrierConfig::Rcs(c) => &c.settings.name,
        }
    }

    /// The check a platform makes when its webhook is registered, if this carrier's does.
    pub fn verifier(&self) -> Option<webhooks::Verifier> {
        let CarrierConfig::Whatsapp(c) = self else {
            return None;
        };
        c.platform.verify_token.as_ref()?;
        let platform = c.platform.clone();
        Some(Arc::new(move |query| platform.verify_subscription(query)))
    }

    /// Starts the gateway (SMPP binds connect in the background), and returns the handler for
    /// its platform's callbacks if it has any. Needs a running actix system.
    pub fn start(&self, reports: ReportSender) -> (Arc<dyn Gateway>, Option<webhooks::Handler>) {
        match self {
            CarrierConfig::Smpp(c) => (SmppGateway::start(c.clone(), reports), None),
            CarrierConfig::Sip(c) => (SipGateway::new(c.clone(), reports), None),
            CarrierConfig::Whatsapp(c) => start_http(c, reports),
            CarrierConfig::Telegram(c) => start_http(c, reports),
            CarrierConfig::Viber(c) => start_http(c, reports),
            CarrierConfig::Rcs(c) => start_http(c, reports),
        }
    }

    /// Where the platform posts its callbacks for carrier `name`.
    pub fn callback_url(public_url: &str, name: &str) -> String {
        format!("{public_url}/v3/channels/{name}/webhook/")
    }
}

fn start_http<P: Platform>(
    carrier: &HttpCarrier<P>,
    reports: ReportSender,
) -> (Arc<dyn Gateway>, Option<webhooks::Handler>) {
    let gateway = HttpGateway::new(carrier.clone(), reports);
    let receiver = gateway.clone();
    let handler: webhooks::Handler = Arc::new(move |headers, body| receiver.handle_callback(headers, body));
    (gateway, Some(handler))
}

/// Validates entry `i`, pushing one line per problem (`carriers[i] (name).key: what`). `None`
/// when it cannot be used. `public_url` is where platforms that call back reach this engine.
pub fn validate(i: usize, raw: &RawCarrier, public_url: &str, problems: &mut Vec<String>) -> Option<CarrierConfig> {
    let name = raw
        .get("name")
        .and_then(toml::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let at = format!("carriers[{i}] ({name})");
    let before = problems.len();
    if name.trim().is_empty() || name.len() > 64 || name.contains(char::is_whitespace) {
        problems.push(format!("{at}.name: must be 1 to 64 characters without spaces"));
    }
    let Some(protocol) = raw.get("protocol").and_then(toml::Value::as_str) else {
        problems.push(format!("{at}.protocol: required, one of {PROTOCOLS}"));
        return None;
    };
    let http = matches!(protocol, "whatsapp" | "telegram" | "viber" | "rcs");
    let mut coverage_keys = toml::Table::new();
    let mut protocol_keys = toml::Table::new();
    let mut base_url = None;
    for (key, value) in raw {
        match key.as_str() {
            "name" | "protocol" => {}
            "base_url" if http => match value.as_str() {
                Some(url) => base_url = Some(url.to_owned()),
                None => problems.push(format!("{at}.base_url: {value} is not a string")),
            },
            "countries" | "fee_usd" => {
                coverage_keys.insert(key.clone(), value.clone());
            }
            _ => {
                protocol_keys.insert(key.clone(), value.clone());
            }
        }
    }
    // Read on past every problem, so that one run names them all.
    let coverage = read_keys::<CoverageKeys>(&at, None, coverage_keys, problems)
        .and_then(|keys| coverage(&at, keys, problems))
        .unwrap_or_default();
    let tagged = toml::Table::from_iter([(protocol.to_owned(), toml::Value::Table(protocol_keys))]);
    let keys = read_keys::<ProtocolKeys>(&at, Some(protocol), tagged, problems)?;
    let carrier = CarrierContext {
        callback_url: CarrierConfig::callback_url(public_url, &name),
        name,
    };
    let mut found = Problems::new(keys.protocol());
    let config = keys.build(&carrier, coverage, base_url, &mut found);
    problems.extend(
        found
            .into_vec()
            .iter()
            .map(|(key, message)| format!("{at}.{key}: {message}")),
    );
    config.filter(|_| problems.len() == before)
}

impl ProtocolKeys {
    fn protocol(&self) -> &'static str {
        match self {
            ProtocolKeys::Smpp(_) => "smpp",
            ProtocolKeys::Sip(_) => "sip",
            ProtocolKeys::Whatsapp(_) => "whatsapp",
            ProtocolKeys::Telegram(_) => "telegram",
            ProtocolKeys::Viber(_) => "viber",
            ProtocolKeys::Rcs(_) => "rcs",
        }
    }

    fn build(
        self,
        carrier: &CarrierContext,
        coverage: Coverage,
        base_url: Option<String>,
        problems: &mut Problems,
    ) -> Option<CarrierConfig> {
        let name = &carrier.name;
        let http = (carrier, coverage, base_url, problems);
        Some(match self {
            ProtocolKeys::Smpp(keys) => CarrierConfig::Smpp(keys.build(name, http.1, http.3)?),
            ProtocolKeys::Sip(keys) => CarrierConfig::Sip(keys.build(name, http.1, http.3)?),
            ProtocolKeys::Whatsapp(platform) => CarrierConfig::Whatsapp(http_carrier(platform, http)),
            ProtocolKeys::Telegram(platform) => CarrierConfig::Telegram(http_carrier(platform, http)),
            ProtocolKeys::Viber(platform) => CarrierConfig::Viber(http_carrier(platform, http)),
            ProtocolKeys::Rcs(platform) => CarrierConfig::Rcs(http_carrier(platform, http)),
        })
    }
}

/// An HTTP carrier of `platform`, checked, with the keys every HTTP carrier has.
fn http_carrier<P: Platform>(
    mut platform: P,
    (carrier, coverage, base_url, problems): (&CarrierContext, Coverage, Option<String>, &mut Problems),
) -> HttpCarrier<P> {
    let base_url = otpgate_http_kit::base_url(base_url, P::DEFAULT_BASE_URL, problems);
    platform.check(carrier, problems);
    HttpCarrier {
        platform,
        settings: ChannelSettings {
            name: carrier.name.clone(),
            coverage,
            base_url,
            timeout: HTTP_TIMEOUT,
        },
    }
}

/// Reads `table` as `T`, pushing a problem for every key that does not fit (unknown, or of the
/// wrong type) and reading on without it, so that every problem is found at once. `T` is a
/// struct, or (with `protocol`) an enum whose one key, the protocol, holds the struct. `None`
/// only when the protocol is unknown.
fn read_keys<T: serde::de::DeserializeOwned>(
    at: &str,
    protocol: Option<&str>,
    mut table: toml::Table,
    problems: &mut Vec<String>,
) -> Option<T> {
    loop {
        let error = match serde_path_to_error::deserialize::<_, T>(toml::Value::Table(table.clone())) {
            Ok(keys) => return Some(keys),
            Err(error) => error,
        };
        let path: Vec<String> = error.path().iter().map(|segment| segment.to_string()).collect();
        let keys = match protocol {
            Some(p) => table.get_mut(p).and_then(toml::Value::as_table_mut),
            None => Some(&mut table),
        };
        // An enum's path starts with the variant: the protocol.
        let key = match (protocol, path.as_slice()) {
            (Some(_), [_, key, ..]) | (None, [key, ..]) => key,
            _ => {
                let protocol = protocol.unwrap_or_default();
                problems.push(format!("{at}.protocol: {protocol:?} is not one of {PROTOCOLS}"));
                return None;
            }
        };
        let message = error.inner().message();
        let what = match protocol {
            Some(p) if message.starts_with("unknown field") => format!("not a key of protocol \"{p}\""),
            _ => message.to_owned(),
        };
        problems.push(format!("{at}.{key}: {what}"));
        keys.and_then(|keys| keys.remove(key))?;
    }
}

fn coverage(at: &str, keys: CoverageKeys, problems: &mut Vec<String>) -> Option<Coverage> {
    let countries = keys.countries.unwrap_or_else(|| vec!["*".into()]);
    let before = problems.len();
    let country_ok = |c: &str| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase());
    for c in &countries {
        if c != "*" && !country_ok(c) {
            problems.push(format!(
                "{at}.countries: {c:?} is not \"*\" or an ISO 3166-1 alpha-2 code like US"
            ));
        }
    }
    let mut default_fee = 0;
    let mut fees = HashMap::new();
    for (key, usd) in keys.fee_usd.unwrap_or_default() {
        // Money is kept in integer micro-dollars; the config's decimal is read once, here.
        let micros = usd * 1_000_000.0;
        if !usd.is_finite() || !(0.0..=10.0).contains(&usd) || (micros - micros.round()).abs() > 1e-6 {
            problems.push(format!(
                "{at}.fee_usd.{key}: {usd} must be between 0 and 10 USD with at most 6 decimals"
            ));
            continue;
        }
        match key.as_str() {
            "default" => default_fee = micros.round() as u64,
            c if country_ok(c) => {
                fees.insert(key, micros.round() as u64);
            }
            _ => problems.push(format!(
                "{at}.fee_usd: key {key:?} is not \"default\" or a country code like US"
            )),
        }
    }
    (problems.len() == before).then(|| Coverage::new(countries, default_fee, fees))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<CarrierConfig, Vec<String>> {
        let raw: RawCarrier = toml::from_str(text).unwrap();
        let mut problems = Vec::new();
        validate(0, &raw, "http://engine", &mut problems).ok_or(problems)
    }

    #[test]
    fn every_unknown_or_mistyped_key_is_named_at_once() {
        let problems = check(
            "name = \"tg\"\nprotocol = \"telegram\"\ntoken = \"t\"\nttl_seconds = \"long\"\n\
             system_id = \"x\"\nsurprise = 1\nfee_usd = { default = \"free\" }\n",
        )
        .unwrap_err();
        assert_eq!(
            problems,
            [
                "carriers[0] (tg).fee_usd: invalid type: string \"free\", expected f64",
                "carriers[0] (tg).surprise: not a key of protocol \"telegram\"",
                "carriers[0] (tg).system_id: not a key of protocol \"telegram\"",
                "carriers[0] (tg).ttl_seconds: invalid type: string \"long\", expected u32",
            ]
        );
    }

    #[test]
    fn http_carriers_call_back_at_their_own_route() {
        let Ok(CarrierConfig::Telegram(tg)) = check("name = \"tg\"\nprotocol = \"telegram\"\ntoken = \"t\"\n") else {
            panic!("not telegram")
        };
        assert_eq!(
            tg.platform.callback_url.as_deref(),
            Some("http://engine/v3/channels/tg/webhook/")
        );
        assert_eq!(tg.settings.timeout, HTTP_TIMEOUT);
        let missing = check("name = \"vb\"\nprotocol = \"viber\"\nbase_url = \"ftp://x\"\n").unwrap_err();
        assert_eq!(
            missing,
            [
                "carriers[0] (vb).base_url: \"ftp://x\" must start with http:// or https://",
                "carriers[0] (vb).token: required for protocol \"viber\""
            ]
        );
    }
}
