//! Phone numbers: strict E.164 input read the way libphonenumber reads it (the `phonenumber`
//! crate's metadata), one canonical spelling for lines that plans write two ways, and the
//! fictional sandbox numbers of the contract (§5).
//!
//! # Reading a number
//! [`reading`] reads `+digits` exactly as libphonenumber does, on the crate's metadata; the
//! crate's own `parse` and `number_type` refuse valid numbers (see there).
//!
//! # One spelling per line
//! Argentina writes its mobiles with a mobile token, `9`, after the country code (`+54 9 11 …`)
//! while the same line is often written without it (`+54 11 …`); Mexico did the same with `1`
//! until August 2019. libphonenumber reads the two spellings as two numbers (or the old one as
//! invalid), so limits, duplicates and the blocklist would count one line twice. [`parse`]
//! returns the canonical spelling in `full_number`: the E.164 form a carrier routes to, i.e.
//! `+54 9 …` for an Argentine line and `+52 …` without the abolished `1`.
mod reading;

pub use reading::NUMBER_TYPES;

use phonenumber::Type;
use quick_cache::sync::Cache;
use reading::{read, Reading};
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
    /// E.164 with the leading `+`, in the line's canonical spelling (see the module docs): the
    /// key of its limits, duplicates and blocklist entries, and the address carriers get.
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
    #[error("must be in E.164 format: '+', the country code, then the number, at most 15 digits, e.g. +14155550123")]
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

/// `+` and 3 to 15 digits (E.164's maximum), not starting with 0. The floor is a calling code
/// and libphonenumber's shortest national number (2 digits): some valid numbers are short,
/// e.g. Iran's 4-digit universal access numbers (`+98 9601`); libphonenumber judges the rest.
fn is_e164_shape(s: &str) -> bool {
    match s.strip_prefix('+') {
        Some(digits) => {
            (3..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
        }
        None => false,
    }
}

/// A mobile token: a digit some numbering plans write between the country code and a mobile
/// line's national number when it is dialled from abroad. libphonenumber keeps the list in
/// `PhoneNumberUtil.MOBILE_TOKEN_MAPPINGS`; its metadata shows the token as a national-prefix
/// transform (Argentina's `15` becomes `9`). A scan of every region's metadata for a digit that
/// turns each fixed-line number into a mobile and back finds Argentina alone (see the tests).
struct MobileToken {
    calling_code: u16,
    token: char,
    /// Whether E.164 still writes the token: then the canonical spelling has it, else not.
    in_e164: bool,
}

const MOBILE_TOKENS: [MobileToken; 2] = [
    // ENACOM: a mobile is +54 9 <area code> <number>; `+54 <area code> <number>` is the same
    // line as written for dialling inside the country (where `15` marks it instead).
    MobileToken {
        calling_code: 54,
        token: '9',
        in_e164: true,
    },
    // Mexico abolished the `1` (with 01/044/045) in August 2019; libphonenumber removed it
    // from its token list (google/libphonenumber#2376) and now calls `+52 1 …` invalid, but old
    // contact lists and WhatsApp IDs still carry it.
    MobileToken {
        calling_code: 52,
        token: '1',
        in_e164: false,
    },
];

/// Parses and classifies a number given in strict E.164. `full_number` is the canonical
/// spelling (see the module docs); [`NumberInfo::spellings`] lists the other one.
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

/// [`parse`] without the cache: always reads libphonenumber's metadata. Expects the E.164 shape
/// already checked.
pub fn parse_uncached(input: &str) -> Result<NumberInfo, NumberError> {
    let reading = read(input).map(respell).ok_or(NumberError::Invalid)?;
    let sandbox = sandbox_kind(input);
    // Sandbox numbers are fictional on purpose; libphonenumber may not call them valid.
    if sandbox.is_none() && !reading.is_valid() {
        return Err(NumberError::Invalid);
    }
    let prefix = format!("+{}", reading.calling_code);
    let full_number = format!("{prefix}{}", reading.national);
    // Non-geographic numbers (satellite, global services) have the region "001": no country.
    let country_code = reading
        .region
        .map(|m| m.id())
        .filter(|id| id.len() == 2 && id.bytes().all(|b| b.is_ascii_uppercase()))
        .map(str::to_owned);
    let country_name = country_code
        .as_deref()
        .and_then(|c| isocountry::CountryCode::for_alpha2(c).ok())
        .map(|c| c.name().to_owned());

    let (line_type, is_virtual, is_premium) = reported_type(reading.kind);
    let mut info = NumberInfo {
        subscriber: reading.national,
        full_number,
        prefix,
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

/// What the report says of a number of libphonenumber type `kind`: `carrier.type`
/// (CONTRACT §4), `is_virtual`, and whether it costs the sender (premium rate, shared cost).
fn reported_type(kind: Type) -> (LineType, bool, bool) {
    match kind {
        Type::Mobile => (LineType::Mobile, false, false),
        Type::FixedLine => (LineType::Landline, false, false),
        Type::Voip => (LineType::Voip, true, false),
        Type::PersonalNumber => (LineType::Unknown, true, false),
        Type::PremiumRate | Type::SharedCost => (LineType::Unknown, false, true),
        // FixedLineOrMobile (all of NANP) cannot be told apart without a carrier lookup.
        _ => (LineType::Unknown, false, false),
    }
}

impl NumberInfo {
    /// Every spelling of this line in E.164 digits, `full_number` first: for a plan with a
    /// mobile token, also the spelling with (or without) it. Prefix lists (blocklist,
    /// disposable ranges) match a line by any of them.
    pub fn spellings(&self) -> Vec<String> {
        let mut all = vec![self.full_number.clone()];
        let Some(token) = MOBILE_TOKENS
            .iter()
            .find(|t| self.prefix == format!("+{}", t.calling_code))
        else {
            return all;
        };
        if token.in_e164 {
            if let Some(rest) = self.subscriber.strip_prefix(token.token) {
                all.push(format!("{}{rest}", self.prefix));
            }
        } else {
            all.push(format!("{}{}{}", self.prefix, token.token, self.subscriber));
        }
        all
    }
}

/// The canonical spelling of a line written with or without a mobile token.
fn respell(reading: Reading) -> Reading {
    let Some(token) = MOBILE_TOKENS.iter().find(|t| t.calling_code == reading.calling_code) else {
        return reading;
    };
    if token.in_e164 {
        if reading.is_valid() && !reading.national.starts_with(token.token) {
            let with = Reading::new(reading.calling_code, format!("{}{}", token.token, reading.national));
            if with.kind == Type::Mobile {
                return with;
            }
        }
    } else if !reading.is_valid() {
        if let Some(rest) = reading.national.strip_prefix(token.token) {
            let without = Reading::new(reading.calling_code, rest.to_owned());
            if matches!(without.kind, Type::Mobile | Type::FixedLineOrMobile) {
                return without;
            }
        }
    }
    reading
}

#[cfg(test)]
mod tests {
    use super::reading::number_type;
    use super::*;
    use phonenumber::metadata::{Descriptor, Metadata, DATABASE};

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
            "+12",
            "+012345678",
        ] {
            assert_eq!(parse(bad), Err(NumberError::NotE164), "{bad:?}");
        }
        // Short, but a number: Iran's universal access numbers have 4 digits.
        assert_eq!(parse("+989601").unwrap().country_code.as_deref(), Some("IR"));
        assert_eq!(parse("+345"), Err(NumberError::Invalid));
        assert_eq!(parse("+99912345678"), Err(NumberError::Invalid));
    }

    #[test]
    fn national_numbers_keep_their_leading_zeros() {
        // Italian landline: the 0 stays after +39 (libphonenumber's "Italian leading zero").
        let rome = parse("+390612345678").unwrap();
        assert_eq!((rome.prefix.as_str(), rome.subscriber.as_str()), ("+39", "0612345678"));
        assert_eq!(rome.full_number, "+390612345678");
        assert_eq!(rome.country_code.as_deref(), Some("IT"));
        assert_eq!(rome.line_type, LineType::Landline);
        // The Vatican's landlines sit inside Rome's 06 range; only the leading zero tells.
        assert_eq!(parse("+390669812345").unwrap().country_code.as_deref(), Some("VA"));
        // Ivory Coast's 10-digit plan (2021): mobiles start 01/05/07, landlines 2x.
        let abidjan_mobile = parse("+2250123456789").unwrap();
        assert_eq!(abidjan_mobile.country_code.as_deref(), Some("CI"));
        assert_eq!(abidjan_mobile.line_type, LineType::Mobile);
        assert_eq!(parse("+2250712345678").unwrap().line_type, LineType::Mobile);
        assert_eq!(parse("+2252123456789").unwrap().line_type, LineType::Landline);
        // Benin and Congo-Brazzaville write a leading zero too.
        assert_eq!(parse("+2290195123456").unwrap().line_type, LineType::Mobile);
        assert_eq!(parse("+242061234567").unwrap().country_code.as_deref(), Some("CG"));
        // The old 8-digit Ivorian numbers stopped working in 2021.
        assert_eq!(parse("+22507123456"), Err(NumberError::Invalid));
    }

    #[test]
    fn a_national_prefix_is_kept_when_the_number_is_viable_only_with_it() {
        // Russia's trunk prefix is 8, and so is the first digit of its freephone range.
        let freephone = parse("+78001234567").unwrap();
        assert_eq!(freephone.full_number, "+78001234567");
        assert_eq!(freephone.country_code.as_deref(), Some("RU"));
        assert_eq!(parse("+77001234567").unwrap().country_code.as_deref(), Some("KZ"));
        assert_eq!(parse("+3758011234567").unwrap().full_number, "+3758011234567");
        // A trunk prefix written by mistake after the country code is dropped, as
        // libphonenumber does: +33 0 6… is +33 6….
        assert_eq!(parse("+330612345678").unwrap().full_number, "+33612345678");
        // Plans whose short local spelling libphonenumber completes: San Marino's 0549.
        assert_eq!(parse("+378812345").unwrap().full_number, "+3780549812345");
    }

    #[test]
    fn a_line_written_with_or_without_the_mobile_token_is_one_number() {
        let with_nine = parse("+5491112345678").unwrap();
        assert_eq!(with_nine.full_number, "+5491112345678");
        assert_eq!(with_nine.subscriber, "91112345678");
        assert_eq!(with_nine.line_type, LineType::Mobile);
        assert_eq!(with_nine.country_code.as_deref(), Some("AR"));
        // Without the 9, and with the domestic 15 kept after the area code.
        for spelling in ["+541112345678", "+54111512345678"] {
            assert_eq!(parse(spelling).unwrap(), with_nine, "{spelling}");
        }
        assert_eq!(with_nine.spellings(), ["+5491112345678", "+541112345678"]);
        // A provincial area code (Córdoba, 351).
        assert_eq!(parse("+543514123456").unwrap().full_number, "+5493514123456");
        // Non-geographic Argentine numbers have no mobile spelling: freephone stays as is.
        let freephone = parse("+548001234567").unwrap();
        assert_eq!(freephone.full_number, "+548001234567");
        assert_eq!(freephone.spellings(), ["+548001234567"]);

        // Mexico: the 1 abolished in 2019 is dropped.
        let mexico = parse("+525512345678").unwrap();
        assert_eq!(parse("+5215512345678").unwrap(), mexico);
        assert_eq!(parse("+5218112345678").unwrap().full_number, "+528112345678");
        assert_eq!(mexico.spellings(), ["+525512345678", "+5215512345678"]);
        // The 1 is a mobile token, not a way into other ranges: +52 1 800 … stays invalid.
        assert_eq!(parse("+521800123456"), Err(NumberError::Invalid));
        // Other plans have one spelling.
        assert_eq!(parse("+34612345678").unwrap().spellings(), ["+34612345678"]);
    }
    /// The types of a region with a descriptor, and the descriptor.
    fn described_types(meta: &Metadata) -> Vec<(Type, &Descriptor)> {
        NUMBER_TYPES
            .iter()
            .filter_map(|kind| meta.descriptors().get(*kind).map(|d| (*kind, d)))
            .collect()
    }

    fn regions() -> Vec<&'static Metadata> {
        let mut all: Vec<_> = DATABASE.iter().collect();
        all.sort_by_key(|m| (m.id(), m.country_code()));
        all
    }

    /// For every region and every number type of the crate's metadata, the example number is
    /// accepted, in its country (or, for a range several regions share, the one libphonenumber
    /// names: the first in the calling code's list that claims it), with the carrier type the
    /// contract maps its type to. Failures are collected so one run lists them all.
    #[test]
    fn every_example_number_of_every_region_is_accepted_with_its_country_and_type() {
        let (mut examples, mut shared, mut respelled, mut library_agrees, mut sandbox) = (0, 0, 0, 0, 0);
        let mut failures = Vec::new();
        for meta in regions() {
            let code = meta.country_code();
            for (kind, descriptor) in described_types(meta) {
                let Some(example) = descriptor.example() else { continue };
                examples += 1;
                let input = format!("+{code}{example}");
                let number = match parse(&input) {
                    Ok(number) => number,
                    Err(e) => {
                        failures.push(format!("{} {kind:?} {input}: refused ({e})", meta.id()));
                        continue;
                    }
                };
                // The crate's own verdict, wherever its parse splits the number as we do.
                let library = phonenumber::parse(None, &input).unwrap();
                if library.national().to_string() == number.subscriber {
                    library_agrees += 1;
                    if !phonenumber::is_valid(&library) {
                        failures.push(format!("{} {kind:?} {input}: the crate's is_valid says no", meta.id()));
                    }
                }
                let mut kind = kind;
                if number.full_number != input {
                    // Only a mobile token re-spells a valid number: +54 11 … is +54 9 11 ….
                    let token = MOBILE_TOKENS.iter().find(|t| t.calling_code == code && t.in_e164);
                    match token {
                        Some(t) if number.full_number == format!("+{code}{}{example}", t.token) => {
                            respelled += 1;
                            kind = Type::Mobile;
                        }
                        _ => failures.push(format!("{} {kind:?} {input}: became {}", meta.id(), number.full_number)),
                    }
                }
                let country_ok = match number.country_code.as_deref() {
                    Some(country) if country == meta.id() => true,
                    None => meta.id() == "001",
                    Some(other) => {
                        // A shared range: `other` comes first for the code and knows the number.
                        let order = DATABASE.region(&code).unwrap();
                        let rank = |id: &str| order.iter().position(|r| *r == id);
                        let claims = number_type(DATABASE.by_id(other).unwrap(), &number.subscriber) != Type::Unknown;
                        shared += usize::from(claims);
                        claims && rank(other) < rank(meta.id())
                    }
                };
                if !country_ok {
                    failures.push(format!(
                        "{} {kind:?} {input}: country {:?}",
                        meta.id(),
                        number.country_code
                    ));
                }
                if number.sandbox.is_some() {
                    // The contract's fictional numbers (§5) have a fixed identity: US's example
                    // +1 201 555 0123 is one.
                    sandbox += 1;
                    continue;
                }
                let d = meta.descriptors();
                let overlaps = [d.fixed_line(), d.mobile()]
                    .iter()
                    .all(|d| d.is_some_and(|d| d.is_match(&number.subscriber)));
                // Fixed-line and mobile ranges that overlap are reported unknown until a lookup.
                let fixed_or_mobile = matches!(kind, Type::FixedLine | Type::Mobile);
                let expected = reported_type(if overlaps && fixed_or_mobile {
                    Type::FixedLineOrMobile
                } else {
                    kind
                });
                let got = (number.line_type, number.is_virtual, number.is_premium);
                if got != expected {
                    failures.push(format!(
                        "{} {kind:?} {input}: {got:?}, expected {expected:?}",
                        meta.id()
                    ));
                }
            }
        }
        println!(
            "{} regions, {examples} example numbers: {shared} in ranges shared with the code's main region, \
             {respelled} re-spelled with a mobile token, {sandbox} sandbox, {library_agrees} split as the crate's parse \
             splits them",
            regions().len()
        );
        assert!(examples > 1000, "{examples}");
        assert!(
            failures.is_empty(),
            "{} of {examples} failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    /// An invalid number for every region, made as libphonenumber's `getInvalidExampleNumber`
    /// makes one: the fixed-line example cut short, digit by digit, until the library calls it
    /// invalid. Each is refused as Invalid (not merely malformed).
    #[test]
    fn every_region_refuses_its_invalid_example() {
        let (mut made, mut failures) = (0, Vec::new());
        for meta in regions() {
            let code = meta.country_code();
            // The fixed-line example, as libphonenumber takes, else any.
            let mut described = described_types(meta);
            described.sort_by_key(|(kind, _)| *kind != Type::FixedLine);
            let Some(example) = described.iter().find_map(|(_, d)| d.example()) else {
                continue;
            };
            let invalid = (1..example.len())
                .rev()
                .map(|len| format!("+{code}{}", &example[..len]))
                .find(|candidate| {
                    let library = phonenumber::parse(None, candidate);
                    // Judged by the crate, on numbers its parse splits at the calling code.
                    library.is_ok_and(|n| candidate.ends_with(&n.national().to_string()) && !phonenumber::is_valid(&n))
                        && is_e164_shape(candidate)
                });
            let Some(invalid) = invalid else { continue };
            made += 1;
            if parse_uncached(&invalid).is_ok() {
                failures.push(format!("{} {invalid}: accepted", meta.id()));
            }
        }
        println!("invalid examples made for {made} of {} regions", regions().len());
        assert!(made > 200, "{made}");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
    /// The mobile-token table is complete for the bundled metadata. A region has a token `d`
    /// when `d` + a fixed-line number is a mobile and a mobile without its `d` is a fixed-line
    /// number; the examples show candidates (Argentina, but also Croatia, Lebanon, Peru …,
    /// where it is a coincidence of two ranges), and random numbers from every range of each
    /// candidate keep Argentina's 9 alone.
    #[test]
    fn scanning_the_metadata_finds_the_mobile_tokens_of_the_table() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random_digits = |len: usize| -> String {
            (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    char::from(b'0' + (seed % 10) as u8)
                })
                .collect()
        };
        // Up to 100 distinct numbers of `kind` in `meta`: `lead`, then random digits.
        let mut sample = |meta: &Metadata, kind: Type, lead: &str, len: usize| -> Vec<String> {
            let mut found = std::collections::BTreeSet::new();
            for _ in 0..5000 {
                let candidate = format!("{lead}{}", random_digits(len.saturating_sub(lead.len())));
                if number_type(meta, &candidate) == kind {
                    found.insert(candidate);
                }
                if found.len() == 100 {
                    break;
                }
            }
            found.into_iter().collect()
        };
        // At least 90% of `numbers`, and 30 or more, pass.
        let mostly = |numbers: &[String], pass: &dyn Fn(&str) -> bool| {
            numbers.len() >= 30 && numbers.iter().filter(|n| pass(n)).count() * 10 >= numbers.len() * 9
        };
        let (mut candidates, mut tokens) = (Vec::new(), Vec::new());
        for meta in regions() {
            let d = meta.descriptors();
            let (Some(fixed), Some(mobile)) = (
                d.fixed_line().and_then(|d| d.example()),
                d.mobile().and_then(|d| d.example()),
            ) else {
                continue;
            };
            let Some(token) = mobile.chars().next() else { continue };
            let to_mobile = |f: &str| number_type(meta, &format!("{token}{f}")) == Type::Mobile;
            let to_fixed = |m: &str| matches!(number_type(meta, &m[1..]), Type::FixedLine | Type::FixedLineOrMobile);
            if !(to_mobile(fixed) && to_fixed(mobile)) {
                continue;
            }
            candidates.push(meta.id());
            let landlines = sample(meta, Type::FixedLine, "", fixed.len());
            let mobiles = sample(meta, Type::Mobile, &token.to_string(), mobile.len());
            if mostly(&landlines, &to_mobile) && mostly(&mobiles, &to_fixed) {
                tokens.push((meta.id().to_owned(), token));
            }
        }
        println!("mobile token candidates from the examples: {candidates:?}; confirmed: {tokens:?}");
        let table: Vec<_> = MOBILE_TOKENS
            .iter()
            .filter(|t| t.in_e164)
            .map(|t| (DATABASE.region(&t.calling_code).unwrap()[0].to_owned(), t.token))
            .collect();
        assert_eq!(tokens, table);
        // Mexico's abolished 1 is gone from the metadata: libphonenumber reads +52 1 … as invalid.
        let mexico = read("+5215512345678").unwrap();
        assert!(!mexico.is_valid() && read("+525512345678").unwrap().is_valid());
    }
}
