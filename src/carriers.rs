//! `[[carriers]]`: validating each entry for its protocol, and starting its gateway.
//!
//! Each protocol has its own keys; a key that belongs to another protocol is an error, not
//! silently ignored.
use crate::config::RawCarrier;
use crate::webhooks;
use otpgate_gateway::{Coverage, Gateway, ReportSender};
use otpgate_rcs::{RcsConfig, RcsGateway};
use otpgate_sip::transport::{Hop, TlsClient, Transport as SipTransport};
use otpgate_sip::{SipConfig, SipGateway};
use otpgate_smpp::{SmppConfig, SmppGateway, Source, Tls};
use otpgate_telegram::{ReportError, TelegramConfig, TelegramGateway};
use otpgate_viber::{ViberConfig, ViberGateway};
use otpgate_whatsapp::{WebhookError, WhatsAppConfig, WhatsAppGateway};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A validated carrier, ready to start.
#[derive(Debug, Clone)]
pub enum CarrierConfig {
    Smpp(SmppConfig),
    Telegram(TelegramConfig),
    Whatsapp(WhatsAppConfig),
    Viber(ViberConfig),
    Rcs(RcsConfig),
    Sip(SipConfig),
}

impl CarrierConfig {
    pub fn name(&self) -> &str {
        match self {
            CarrierConfig::Smpp(c) => &c.name,
            CarrierConfig::Telegram(c) => &c.name,
            CarrierConfig::Whatsapp(c) => &c.name,
            CarrierConfig::Viber(c) => &c.name,
            CarrierConfig::Rcs(c) => &c.name,
            CarrierConfig::Sip(c) => &c.name,
        }
    }

    /// The check a platform makes when its webhook is registered, if this carrier's does.
    pub fn verifier(&self) -> Option<webhooks::Verifier> {
        let CarrierConfig::Whatsapp(c) = self else {
            return None;
        };
        let expected = c.verify_token.clone()?;
        Some(Arc::new(move |query| {
            let mode = query.get("hub.mode").map(String::as_str);
            let token = query.get("hub.verify_token").map(String::as_bytes).unwrap_or_default();
            let matches: bool = subtle::ConstantTimeEq::ct_eq(token, expected.as_bytes()).into();
            (mode == Some("subscribe") && matches).then(|| query.get("hub.challenge").cloned().unwrap_or_default())
        }))
    }

    /// Starts the gateway (SMPP binds connect in the background), and returns the handler for
    /// its platform's callbacks if it has any. Needs a running actix system.
    pub fn start(&self, reports: ReportSender) -> (Arc<dyn Gateway>, Option<webhooks::Handler>) {
        match self {
            CarrierConfig::Smpp(c) => (SmppGateway::start(c.clone(), reports), None),
            CarrierConfig::Telegram(c) => {
                let gateway = TelegramGateway::new(c.clone(), reports);
                let receiver = gateway.clone();
                let handler: webhooks::Handler = Arc::new(move |headers, body| {
                    let timestamp = headers(otpgate_telegram::TIMESTAMP_HEADER);
                    let signature = headers(otpgate_telegram::SIGNATURE_HEADER);
                    receiver
                        .handle_report(timestamp.as_deref(), signature.as_deref(), body)
                        .map_err(|e| match e {
                            ReportError::BadSignature => webhooks::Rejection::BadSignature,
                            ReportError::Stale => webhooks::Rejection::Stale,
                            ReportError::Malformed(why) => webhooks::Rejection::Malformed(why),
                        })
                });
                (gateway, Some(handler))
            }
            CarrierConfig::Whatsapp(c) => {
                let gateway = WhatsAppGateway::new(c.clone(), reports);
                let receiver = gateway.clone();
                let handler: webhooks::Handler = Arc::new(move |headers, body| {
                    let signature = headers("x-hub-signature-256");
                    receiver
                        .handle_webhook(signature.as_deref(), body)
                        .map_err(|e| match e {
                            WebhookError::BadSignature => webhooks::Rejection::BadSignature,
                            WebhookError::Malformed(why) => webhooks::Rejection::Malformed(why),
                        })
                });
                (gateway, Some(handler))
            }
            CarrierConfig::Sip(c) => (SipGateway::new(c.clone(), reports), None),
            CarrierConfig::Viber(c) => {
                let gateway = ViberGateway::new(c.clone(), reports);
                let receiver = gateway.clone();
                let handler: webhooks::Handler = Arc::new(move |headers, body| {
                    let signature = headers(otpgate_viber::SIGNATURE_HEADER);
                    receiver
                        .handle_callback(signature.as_deref(), body)
                        .map_err(|e| match e {
                            otpgate_viber::CallbackError::BadSignature => webhooks::Rejection::BadSignature,
                            otpgate_viber::CallbackError::Malformed(why) => webhooks::Rejection::Malformed(why),
                        })
                });
                (gateway, Some(handler))
            }
            CarrierConfig::Rcs(c) => {
                let gateway = RcsGateway::new(c.clone(), reports);
                let receiver = gateway.clone();
                let handler: webhooks::Handler = Arc::new(move |headers, body| {
                    let signature = headers(otpgate_rcs::SIGNATURE_HEADER);
                    receiver
                        .handle_callback(signature.as_deref(), body)
                        .map_err(|e| match e {
                            otpgate_rcs::CallbackError::BadSignature => webhooks::Rejection::BadSignature,
                            otpgate_rcs::CallbackError::Malformed(why) => webhooks::Rejection::Malformed(why),
                        })
                });
                (gateway, Some(handler))
            }
        }
    }

    /// Where the platform posts its callbacks for carrier `name`.
    pub fn callback_url(public_url: &str, name: &str) -> String {
        format!("{public_url}/v3/channels/{name}/webhook/")
    }
}

const SMPP_KEYS: &[&str] = &[
    "address",
    "system_id",
    "password",
    "system_type",
    "source_addr",
    "binds",
    "window",
    "max_tps",
    "tls",
    "tls_ca_file",
    "enquire_link_seconds",
    "response_timeout_seconds",
    "countries",
    "fee_usd",
];

const WHATSAPP_KEYS: &[&str] = &[
    "base_url",
    "phone_number_id",
    "access_token",
    "template",
    "language",
    "app_secret",
    "verify_token",
    "countries",
    "fee_usd",
];
const SIP_KEYS: &[&str] = &[
    "address",
    "from",
    "username",
    "password",
    "ring_timeout_seconds",
    "transport",
    "tls_ca_file",
    "outbound_proxy",
    "public_address",
    "countries",
    "fee_usd",
];
const VIBER_KEYS: &[&str] = &["base_url", "token", "countries", "fee_usd"];
const RCS_KEYS: &[&str] = &["base_url", "agent_id", "token", "webhook_token", "countries", "fee_usd"];
const TELEGRAM_KEYS: &[&str] = &["base_url", "token", "ttl_seconds", "countries", "fee_usd"];

/// Validates entry `i`, pushing one line per problem. `None` when it cannot be used.
/// `public_url` is where platforms that call back reach this engine.
pub fn validate(i: usize, raw: &RawCarrier, public_url: &str, problems: &mut Vec<String>) -> Option<CarrierConfig> {
    let at = format!("carriers[{i}] ({})", raw.name);
    let before = problems.len();
    if raw.name.trim().is_empty() || raw.name.len() > 64 || raw.name.contains(char::is_whitespace) {
        problems.push(format!("{at}.name: must be 1 to 64 characters without spaces"));
    }
    match raw.protocol.as_str() {
        "smpp" => {}
        "telegram" => return telegram(&at, raw, public_url, problems),
        "whatsapp" => return whatsapp(&at, raw, problems),
        "viber" => return viber(&at, raw, problems),
        "rcs" => return rcs(&at, raw, problems),
        "sip" => return sip(&at, raw, problems),
        p => {
            problems.push(format!(
                "{at}.protocol: {p:?} is not one of smpp, sip, whatsapp, telegram, viber, rcs"
            ));
            return None;
        }
    }
    for key in raw.keys_set() {
        if !SMPP_KEYS.contains(&key) {
            problems.push(format!("{at}.{key}: not a key of protocol \"smpp\""));
        }
    }
    let coverage = coverage(&at, raw, problems);

    let address = match raw.address.as_deref() {
        Some(a)
            if a.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) =>
        {
            a.to_owned()
        }
        Some(a) => {
            problems.push(format!("{at}.address: {a:?} is not host:port"));
            String::new()
        }
        None => {
            problems.push(format!("{at}.address: required for protocol \"smpp\" (host:port)"));
            String::new()
        }
    };
    let c_string = |key: &str, value: &str, max: usize, problems: &mut Vec<String>| {
        if value.len() > max || !value.is_ascii() {
            problems.push(format!("{at}.{key}: at most {max} ASCII characters (SMPP limit)"));
            return None;
        }
        Some(value.to_owned())
    };
    let system_id = match raw.system_id.as_deref() {
        Some(s) if !s.is_empty() => c_string("system_id", s, 15, problems),
        _ => {
            problems.push(format!("{at}.system_id: required for protocol \"smpp\""));
            None
        }
    };
    let password = match raw.password.as_deref() {
        Some(s) => c_string("password", s, 8, problems),
        None => {
            problems.push(format!(
                "{at}.password: required for protocol \"smpp\" (a secret: no default)"
            ));
            None
        }
    };
    let system_type = c_string("system_type", raw.system_type.as_deref().unwrap_or(""), 12, problems);
    let source = Source::parse(raw.source_addr.as_deref().unwrap_or("OTPGATE"))
        .map_err(|e| problems.push(format!("{at}.{e}")))
        .ok();
    let binds = raw.binds.unwrap_or(1);
    if !(1..=64).contains(&binds) {
        problems.push(format!("{at}.binds: {binds} is outside 1..64"));
    }
    let window = raw.window.unwrap_or(10);
    if !(1..=1024).contains(&window) {
        problems.push(format!("{at}.window: {window} is outside 1..1024"));
    }
    // 0 means no limit (a benchmark, or a carrier that enforces its own).
    let max_tps = raw.max_tps.unwrap_or(100);
    let enquire_link_seconds = raw.enquire_link_seconds.unwrap_or(30);
    if !(1..=3600).contains(&enquire_link_seconds) {
        problems.push(format!(
            "{at}.enquire_link_seconds: {enquire_link_seconds} is outside 1..3600"
        ));
    }
    let response_timeout_seconds = raw.response_timeout_seconds.unwrap_or(10);
    if !(1..=300).contains(&response_timeout_seconds) {
        problems.push(format!(
            "{at}.response_timeout_seconds: {response_timeout_seconds} is outside 1..300"
        ));
    }
    if raw.tls_ca_file.is_some() && raw.tls != Some(true) {
        problems.push(format!("{at}.tls_ca_file: only used with tls = true"));
    }
    let tls = match raw.tls.unwrap_or(false) {
        true if !address.is_empty() => Tls::new(&address, raw.tls_ca_file.as_deref().map(Path::new))
            .map_err(|e| problems.push(format!("{at}.tls: {e}")))
            .ok(),
        _ => None,
    };

    if problems.len() > before {
        return None;
    }
    Some(CarrierConfig::Smpp(SmppConfig {
        name: raw.name.clone(),
        address,
        system_id: system_id?.parse().ok()?,
        password: password?.parse().ok()?,
        system_type: system_type?.parse().ok()?,
        source: source?,
        binds,
        window,
        max_tps,
        tls,
        enquire_link: Duration::from_secs(enquire_link_seconds),
        response_timeout: Duration::from_secs(response_timeout_seconds),
        coverage: coverage?,
    }))
}

fn coverage(at: &str, raw: &RawCarrier, problems: &mut Vec<String>) -> Option<Coverage> {
    let countries = raw.countries.clone().unwrap_or_else(|| vec!["*".into()]);
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
    for (key, usd) in raw.fee_usd.clone().unwrap_or_default() {
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

fn telegram(at: &str, raw: &RawCarrier, public_url: &str, problems: &mut Vec<String>) -> Option<CarrierConfig> {
    let before = problems.len();
    let (coverage, base_url) = http_common(
        at,
        "telegram",
        raw,
        TELEGRAM_KEYS,
        "https://gatewayapi.telegram.org",
        problems,
    );
    let token = match raw.token.as_deref() {
        Some(t) if !t.trim().is_empty() => t.to_owned(),
        _ => {
            problems.push(format!(
                "{at}.token: required for protocol \"telegram\" (a secret: no default)"
            ));
            String::new()
        }
    };
    let ttl_seconds = raw.ttl_seconds.unwrap_or(300);
    if !(30..=3600).contains(&ttl_seconds) {
        problems.push(format!("{at}.ttl_seconds: {ttl_seconds} is outside 30..3600"));
    }
    if problems.len() > before {
        return None;
    }
    Some(CarrierConfig::Telegram(TelegramConfig {
        name: raw.name.clone(),
        base_url,
        token,
        callback_url: Some(CarrierConfig::callback_url(public_url, &raw.name)),
        ttl_seconds,
        coverage: coverage?,
        timeout: Duration::from_secs(10),
    }))
}

/// A required string key: pushes a problem when missing or blank.
fn required(at: &str, protocol: &str, key: &str, value: Option<&String>, problems: &mut Vec<String>) -> String {
    match value {
        Some(v) if !v.trim().is_empty() => v.clone(),
        _ => {
            problems.push(format!("{at}.{key}: required for protocol \"{protocol}\""));
            String::new()
        }
    }
}

fn whatsapp(at: &str, raw: &RawCarrier, problems: &mut Vec<String>) -> Option<CarrierConfig> {
    let before = problems.len();
    let (coverage, base_url) = http_common(
        at,
        "whatsapp",
        raw,
        WHATSAPP_KEYS,
        "https://graph.facebook.com/v21.0",
        problems,
    );
    let phone_number_id = required(
        at,
        "whatsapp",
        "phone_number_id",
        raw.phone_number_id.as_ref(),
        problems,
    );
    let access_token = required(at, "whatsapp", "access_token", raw.access_token.as_ref(), problems);
    let app_secret = required(at, "whatsapp", "app_secret", raw.app_secret.as_ref(), problems);
    if problems.len() > before {
        return None;
    }
    Some(CarrierConfig::Whatsapp(WhatsAppConfig {
        name: raw.name.clone(),
        base_url,
        phone_number_id,
        access_token,
        template: raw.template.clone().unwrap_or_else(|| "otp_code".into()),
        language: raw.language.clone().unwrap_or_else(|| "en_US".into()),
        app_secret,
        verify_token: raw.verify_token.clone(),
        coverage: coverage?,
        timeout: Duration::from_secs(10),
    }))
}

/// Keys of `protocol` only, the shared coverage keys, and an http(s) base URL.
fn http_common(
    at: &str,
    protocol: &str,
    raw: &RawCarrier,
    allowed: &[&str],
    default_base: &str,
    problems: &mut Vec<String>,
) -> (Option<Coverage>, String) {
    for key in raw.keys_set() {
        if !allowed.contains(&key) {
            problems.push(format!("{at}.{key}: not a key of protocol \"{protocol}\""));
        }
    }
    let coverage = coverage(at, raw, problems);
    let base_url = raw
        .base_url
        .clone()
        .unwrap_or_else(|| default_base.into())
        .trim_end_matches('/')
        .to_owned();
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        problems.push(format!(
            "{at}.base_url: {base_url:?} must start with http:// or https://"
        ));
    }
    (coverage, base_url)
}

fn viber(at: &str, raw: &RawCarrier, problems: &mut Vec<String>) -> Option<CarrierConfig> {
    let before = problems.len();
    let (coverage, base_url) = http_common(at, "viber", raw, VIBER_KEYS, "https://chatapi.viber.com/pa", problems);
    let token = required(at, "viber", "token", raw.token.as_ref(), problems);
    if problems.len() > before {
        return None;
    }
    Some(CarrierConfig::Viber(ViberConfig {
        name: raw.name.clone(),
        base_url,
        token,
        coverage: coverage?,
        timeout: Duration::from_secs(10),
    }))
}

fn rcs(at: &str, raw: &RawCarrier, problems: &mut Vec<String>) -> Option<CarrierConfig> {
    let before = problems.len();
    let (coverage, base_url) = http_common(
        at,
        "rcs",
        raw,
        RCS_KEYS,
        "https://rcsbusinessmessaging.googleapis.com",
        problems,
    );
    let agent_id = required(at, "rcs", "agent_id", raw.agent_id.as_ref(), problems);
    let token = required(at, "rcs", "token", raw.token.as_ref(), problems);
    let webhook_token = required(at, "rcs", "webhook_token", raw.webhook_token.as_ref(), problems);
    if problems.len() > before {
        return None;
    }
    Some(CarrierConfig::Rcs(RcsConfig {
        name: raw.name.clone(),
        base_url,
        agent_id,
        token,
        webhook_token,
        coverage: coverage?,
        timeout: Duration::from_secs(10),
    }))
}

fn sip(at: &str, raw: &RawCarrier, problems: &mut Vec<String>) -> Option<CarrierConfig> {
    let before = problems.len();
    for key in raw.keys_set() {
        if !SIP_KEYS.contains(&key) {
            problems.push(format!("{at}.{key}: not a key of protocol \"sip\""));
        }
    }
    let coverage = coverage(at, raw, problems);
    let address = required(at, "sip", "address", raw.address.as_ref(), problems);
    if !address.is_empty()
        && address
            .rsplit_once(':')
            .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
    {
        problems.push(format!("{at}.address: {address:?} is not host:port"));
    }
    let from = raw.from.clone().unwrap_or_else(|| "sip:otp@otpgate.invalid".into());
    if !from.starts_with("sip:") {
        problems.push(format!("{at}.from: {from:?} must be a sip: URI"));
    }
    if raw.username.is_some() != raw.password.is_some() {
        problems.push(format!(
            "{at}.username: username and password go together (digest auth)"
        ));
    }
    let ring = raw.ring_timeout_seconds.unwrap_or(30);
    if !(1..=120).contains(&ring) {
        problems.push(format!("{at}.ring_timeout_seconds: {ring} is outside 1..120"));
    }
    let transport = raw.transport.as_deref().unwrap_or("udp").parse().unwrap_or_else(|e| {
        problems.push(format!("{at}.transport: {e}"));
        SipTransport::Udp
    });
    if raw.tls_ca_file.is_some() && transport != SipTransport::Tls {
        problems.push(format!("{at}.tls_ca_file: only used with transport = \"tls\""));
    }
    let tls = (transport == SipTransport::Tls)
        .then(|| TlsClient::new(raw.tls_ca_file.as_deref().map(Path::new)))
        .transpose()
        .unwrap_or_else(|e| {
            problems.push(format!("{at}.tls_ca_file: {e}"));
            None
        });
    if let Some(proxy) = &raw.outbound_proxy {
        if let Err(e) = Hop::parse(proxy) {
            problems.push(format!("{at}.outbound_proxy: {e}"));
        }
    }
    let public_address = raw.public_address.as_deref().and_then(|ip| {
        ip.parse()
            .map_err(|_| problems.push(format!("{at}.public_address: {ip:?} is not an IP address")))
            .ok()
    });
    if problems.len() > before {
        return None;
    }
    Some(CarrierConfig::Sip(SipConfig {
        name: raw.name.clone(),
        address,
        transport,
        tls,
        outbound_proxy: raw.outbound_proxy.clone(),
        public_address,
        from,
        username: raw.username.clone(),
        password: raw.password.clone(),
        ring_timeout: Duration::from_secs(ring),
        coverage: coverage?,
    }))
}
