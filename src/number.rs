//! Phone numbers: strict E.164 input, libphonenumber metadata (through the `phonenumber` crate)
//! for country and line type, and the fictional sandbox numbers of the contract (§5).
use phonenumber::{Mode, Type};
use quick_cache::sync::Cache;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// Parsed numbers kept for reuse. libphonenumber's matching is regex-heavy (a profile of the
/// send → inbox → check path spent ~18% of the engine's CPU in it), and one verification
/// parses its number on every request, so results are memoised. Bounded; the cached function
/// is pure, so a process-wide cache changes nothing but speed.
static PARSED: LazyLock<Cache<String, Result<NumberInfo, NumberError>>> = LazyLock::new(|| Cache::new(50_000));

/// Line type as reported in `carrier.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineType {
    Mobile,
    Landline,
    Voip,
    Unknown,
}

/// The deterministic sandbox numbers: fictional NANP `+1NXX55501XX`, which never reach a
/// carrier, three of which carry a fixed risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxNumber {
    Approves,
    HighRisk,
    Voip,
    Disposable,
}

pub const SANDBOX_HIGH_RISK: &str = "+12025550199";
pub const SANDBOX_VOIP: &str = "+12025550198";
pub const SANDBOX_DISPOSABLE: &str = "+12025550197";

/// Everything the engine knows about a number without asking a carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberInfo {
    /// E.164 with the leading `+`.
    pub full_number: String,
    /// `+` and the country calling code, e.g. `+34`.
    pub prefix: String,
    /// The national significant number (what follows the prefix).
    pub subscriber: String,
    /// ISO 3166-1 alpha-2, e.g. `ES`; `None` for non-geographic numbers.
    pub country_code: Option<String>,
    pub country_name: Option<String>,
    pub carrier_name: Option<String>,
    pub line_type: LineType,
    pub is_virtual: bool,
    pub is_disposable: bool,
    /// Premium-rate and shared-cost numbers cost the sender money: a pumping signal.
    pub is_premium: bool,
    pub sandbox: Option<SandboxNumber>,
}

/// Why a string is not a usable phone number. The message is shown to API callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("must be in E.164 format: '+' followed by 7 to 15 digits, e.g. +14155550123")]
    NotE164,
    #[error("is not a valid phone number for any country")]
    Invalid,
}

/// The sandbox kind of an E.164 string, if it is one of the fictional `+1NXX55501XX` numbers.
pub fn sandbox_kind(e164: &str) -> Option<SandboxNumber> {
    let d = e164.strip_prefix("+1")?.as_bytes();
    let fictional =
        d.len() == 10 && d.iter().all(u8::is_ascii_digit) && (b'2'..=b'9').contains(&d[0]) && &d[3..8] == b"55501";
    if !fictional {
        return None;
    }
    Some(match e164 {
        SANDBOX_HIGH_RISK => SandboxNumber::HighRisk,
        SANDBOX_VOIP => SandboxNumber::Voip,
        SANDBOX_DISPOSABLE => SandboxNumber::Disposable,
        _ => SandboxNumber::Approves,
    })
}

fn is_e164_shape(s: &str) -> bool {
    match s.strip_prefix('+') {
        Some(digits) => {
            (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
        }
        None => false,
    }
}

/// Parses and classifies a number given in strict E.164.
pub fn parse(input: &str) -> Result<NumberInfo, NumberError> {
    if !is_e164_shape(input) {
        return Err(NumberError::NotE164);
    }
    if let Some(known) = PARSED.get(input) {
        return known;
    }
    let parsed = parse_uncached(input);
    PARSED.insert(input.to_owned(), parsed.clone());
    parsed
}

/// [`parse`] without the cache: always asks libphonenumber's metadata. Expects the E.164 shape
/// already checked.
pub fn parse_uncached(input: &str) -> Result<NumberInfo, NumberError> {
    let parsed = phonenumber::parse(None, input).map_err(|_| NumberError::Invalid)?;
    let sandbox = sandbox_kind(input);
    // Region detection is the expensive part (for +1 it tries every NANP region's patterns),
    // and `is_valid()`, `number_type()` and `country().id()` each redo it. libphonenumber's
    // validity is exactly "the type is not Unknown", so one metadata lookup and one type
    // match answer all three.
    let database = &phonenumber::metadata::DATABASE;
    let number_type = parsed.number_type(database);
    // Sandbox numbers are fictional on purpose; libphonenumber may not call them valid.
    if sandbox.is_none() && number_type == Type::Unknown {
        return Err(NumberError::Invalid);
    }
    let full_number = parsed.format().mode(Mode::E164).to_string();
    let prefix = format!("+{}", parsed.code().value());
    let subscriber = full_number[prefix.len()..].to_owned();
    // Non-geographic numbers (satellite, global services) have the region "001": no country.
    let country_code = parsed
        .metadata(database)
        .map(|m| m.id())
        .filter(|id| id.len() == 2 && id.bytes().all(|b| b.is_ascii_uppercase()))
        .map(str::to_owned);
    let country_name = country_code
        .as_deref()
        .and_then(|c| isocountry::CountryCode::for_alpha2(c).ok())
        .map(|c| c.name().to_owned());

    let (line_type, is_virtual, is_premium) = match number_type {
        Type::Mobile => (LineType::Mobile, false, false),
        Type::FixedLine => (LineType::Landline, false, false),
        Type::Voip => (LineType::Voip, true, false),
        Type::PersonalNumber => (LineType::Unknown, true, false),
        Type::PremiumRate | Type::SharedCost => (LineType::Unknown, false, true),
        // FixedLineOrMobile (all of NANP) cannot be told apart without a carrier lookup.
        _ => (LineType::Unknown, false, false),
    };
    let mut info = NumberInfo {
        full_number,
        prefix,
        subscriber,
        country_code,
        country_name,
        carrier_name: None,
        line_type,
        is_virtual,
        is_disposable: false,
        is_premium,
        sandbox,
    };
    if let Some(kind) = sandbox {
        // Fictional NANP numbers in unassigned area codes have no region in the metadata.
        if info.country_code.is_none() {
            info.country_code = Some("US".into());
            info.country_name = isocountry::CountryCode::for_alpha2("US")
                .ok()
                .map(|c| c.name().to_owned());
        }
        info.carrier_name = Some("Sandbox Mobile".into());
        info.line_type = LineType::Mobile;
        info.is_virtual = false;
        info.is_premium = false;
        match kind {
            SandboxNumber::Voip => {
                info.carrier_name = Some("Sandbox VoIP".into());
                info.line_type = LineType::Voip;
                info.is_virtual = true;
            }
            SandboxNumber::Disposable => info.is_disposable = true,
            SandboxNumber::Approves | SandboxNumber::HighRisk => {}
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_sandbox_number_is_parsed_and_split() {
        let n = parse("+12025550123").unwrap();
        assert_eq!(n.full_number, "+12025550123");
        assert_eq!(n.prefix, "+1");
        assert_eq!(n.subscriber, "2025550123");
        assert_eq!(n.country_code.as_deref(), Some("US"));
        assert_eq!(n.sandbox, Some(SandboxNumber::Approves));
        assert_eq!(n.line_type, LineType::Mobile);
    }

    #[test]
    fn spanish_mobile_is_mobile_and_named() {
        let n = parse("+34612345678").unwrap();
        assert_eq!(n.prefix, "+34");
        assert_eq!(n.subscriber, "612345678");
        assert_eq!(n.country_code.as_deref(), Some("ES"));
        assert_eq!(n.country_name.as_deref(), Some("Spain"));
        assert_eq!(n.line_type, LineType::Mobile);
        assert_eq!(n.sandbox, None);
    }

    #[test]
    fn landline_is_landline() {
        let n = parse("+442079460000").unwrap();
        assert_eq!(n.country_code.as_deref(), Some("GB"));
        assert_eq!(n.line_type, LineType::Landline);
    }

    #[test]
    fn sandbox_risk_numbers() {
        assert_eq!(parse(SANDBOX_HIGH_RISK).unwrap().sandbox, Some(SandboxNumber::HighRisk));
        let voip = parse(SANDBOX_VOIP).unwrap();
        assert!(voip.is_virtual);
        assert_eq!(voip.line_type, LineType::Voip);
        assert!(parse(SANDBOX_DISPOSABLE).unwrap().is_disposable);
        assert_eq!(sandbox_kind("+12025550200"), None);
        let unassigned_area = parse("+12005550100").unwrap();
        assert_eq!(unassigned_area.country_code.as_deref(), Some("US"));
        assert_eq!(unassigned_area.prefix, "+1");
        assert_eq!(sandbox_kind("+11025550123"), None, "N must be 2..9");
    }

    #[test]
    fn rejects_what_is_not_e164() {
        for bad in [
            "2025550123",
            "+1202555012a",
            "+1 202 555 0123",
            "+1234567890123456789012345",
            "",
            "+",
            "+012345678",
        ] {
            assert_eq!(parse(bad), Err(NumberError::NotE164), "{bad:?}");
        }
        assert_eq!(parse("+99912345678"), Err(NumberError::Invalid));
    }
}
