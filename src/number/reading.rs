//! libphonenumber's reading of a number given with a leading `+` (`PhoneNumberUtil.parse`,
//! `getRegionCodeForNumber`, `getNumberType`, `isValidNumber`), on the `phonenumber` crate's
//! metadata.
//!
//! Written out here because the crate's own `parse`, `PhoneNumber::number_type` and
//! `PhoneNumber::metadata` refuse valid numbers (measured on every example number of its
//! metadata, see `number`'s tests):
//! - `number_type` and `metadata` match the national number without its leading zeros, so
//!   Italian landlines (`+39 06 …`), Ivory Coast's 10-digit plan of 2021 (`+225 01 …`) and 17
//!   other ranges read as type Unknown, or as no region at all;
//! - `parse` strips a national prefix even when the number is viable only with it
//!   (whisperfish/rust-phonenumber#76): `+7 800 …` becomes `+7 00 …`.
//!
//! Descriptors are still matched with the crate's [`Descriptor::is_match`], so a number is
//! valid here exactly when the crate's `is_valid` says so of a number it splits the same way.
use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use phonenumber::Type;
use quick_cache::sync::Cache;
use regex::{Regex, RegexBuilder};
use std::sync::{Arc, LazyLock};

/// A number as libphonenumber reads it.
pub(super) struct Reading {
    pub calling_code: u16,
    /// The national significant number, leading zeros kept (`0612345678` for `+39 06 …`).
    pub national: String,
    /// The region whose metadata describes the number (libphonenumber's
    /// `getRegionCodeForNumber`); `None` when no region sharing the code claims it.
    pub region: Option<&'static Metadata>,
    /// libphonenumber's `getNumberType` in that region.
    pub kind: Type,
}

impl Reading {
    pub fn new(calling_code: u16, national: String) -> Self {
        let region = region_for(calling_code, &national);
        let kind = region.map_or(Type::Unknown, |m| number_type(m, &national));
        Reading {
            calling_code,
            national,
            region,
            kind,
        }
    }

    /// libphonenumber's `isValidNumber`: the region found knows the number's type.
    pub fn is_valid(&self) -> bool {
        self.kind != Type::Unknown
    }
}

/// Reads `+digits` as libphonenumber's `parse` does for a number with a leading `+`: the
/// calling code (the first 1 to 3 digits that are one), then the national number with a
/// national prefix stripped under `maybeStripNationalPrefixAndCarrierCode`'s rules. `None` when
/// no calling code fits.
pub(super) fn read(input: &str) -> Option<Reading> {
    let digits = input.strip_prefix('+')?;
    let (calling_code, rest) = (1..=3.min(digits.len().saturating_sub(1))).find_map(|len| {
        let code: u16 = digits[..len].parse().ok()?;
        DATABASE.region(&code).map(|_| (code, &digits[len..]))
    })?;
    // The prefix rules are the main region's (the first listed for the code).
    let main = DATABASE.by_code(&calling_code)?.into_iter().next()?;
    let national = match strip_national_prefix(main, rest) {
        Some(stripped) if length_allows_stripping(main, stripped.len()) => stripped,
        _ => rest.to_owned(),
    };
    // libphonenumber's MIN_LENGTH_FOR_NSN; the E.164 shape already caps the length.
    (national.len() >= 2).then(|| Reading::new(calling_code, national))
}

/// The types a number can have (libphonenumber's `PhoneNumberType` less the combined
/// FIXED_LINE_OR_MOBILE and UNKNOWN), in the order `getNumberType` tries them.
pub const NUMBER_TYPES: [Type; 10] = [
    Type::PremiumRate,
    Type::TollFree,
    Type::SharedCost,
    Type::Voip,
    Type::PersonalNumber,
    Type::Pager,
    Type::Uan,
    Type::Voicemail,
    Type::FixedLine,
    Type::Mobile,
];

/// libphonenumber's `getRegionCodeForNumberFromRegionList` (the crate's private
/// `validator::source_for`): the only region of the code, else the first (main region first)
/// whose leading digits match or, lacking those, whose metadata knows the number's type.
fn region_for(calling_code: u16, national: &str) -> Option<&'static Metadata> {
    let regions = DATABASE.by_code(&calling_code)?;
    if let [only] = regions[..] {
        return Some(only);
    }
    regions.into_iter().find(|meta| match meta.leading_digits() {
        Some(leading) => leading.find(national).is_some_and(|m| m.start() == 0),
        None => number_type(meta, national) != Type::Unknown,
    })
}

/// libphonenumber's `getNumberTypeHelper` (the crate's private `validator::number_type`), with
/// the national number's leading zeros kept. Descriptors are matched with the crate's own
/// [`Descriptor::is_match`], so validity is what the crate's
/// `is_valid` answers for a number it decomposes right.
pub(super) fn number_type(meta: &Metadata, national: &str) -> Type {
    let descriptors = meta.descriptors();
    let matches = |d: Option<&Descriptor>| d.is_some_and(|d| d.is_match(national));
    if !descriptors.general().is_match(national) {
        return Type::Unknown;
    }
    let special = NUMBER_TYPES
        .iter()
        .filter(|kind| !matches!(kind, Type::FixedLine | Type::Mobile));
    if let Some(kind) = special.copied().find(|kind| matches(descriptors.get(*kind))) {
        return kind;
    }
    let (fixed, mobile) = (descriptors.fixed_line(), descriptors.mobile());
    let same_pattern = fixed.map(|d| d.national_number().as_str()) == mobile.map(|d| d.national_number().as_str());
    match (matches(fixed), matches(mobile)) {
        (true, _) if same_pattern => Type::FixedLineOrMobile,
        (true, true) => Type::FixedLineOrMobile,
        (true, false) => Type::FixedLine,
        (false, true) => Type::Mobile,
        (false, false) => Type::Unknown,
    }
}

/// A region's patterns that the crate does not expose in the form libphonenumber uses them:
/// the national prefix for parsing anchored at the start (`lookingAt`), and the general
/// pattern anchored at both ends (`matches`).
struct PrefixRules {
    national_prefix: Option<Regex>,
    general: Regex,
}

static PREFIX_RULES: LazyLock<Cache<&'static str, Arc<PrefixRules>>> = LazyLock::new(|| Cache::new(512));

fn prefix_rules(meta: &'static Metadata) -> Arc<PrefixRules> {
    PREFIX_RULES
        .get_or_insert_with(&meta.id(), || {
            // The metadata's patterns are written over several lines: compile as the crate does.
            let compile = |pattern: String| RegexBuilder::new(&pattern).ignore_whitespace(true).build();
            // Without a pattern of its own, the national prefix is parsed literally.
            let national_prefix = meta
                .national_prefix_for_parsing()
                .map(|re| re.as_str().to_owned())
                .or_else(|| meta.national_prefix().map(regex::escape))
                .filter(|p| !p.trim().is_empty())
                .map(|p| compile(format!("^(?:{p})")))
                .transpose()?;
            let general = compile(format!(
                "^(?:{})$",
                meta.descriptors().general().national_number().as_str()
            ))?;
            Ok::<_, regex::Error>(Arc::new(PrefixRules {
                national_prefix,
                general,
            }))
        })
        .expect("libphonenumber's metadata patterns compile")
}

/// libphonenumber's `maybeStripNationalPrefixAndCarrierCode`: the national number without a
/// national prefix (or transformed by the region's rule), unless the number is viable only
/// as given. `None` when there is nothing to strip.
fn strip_national_prefix(meta: &'static Metadata, national: &str) -> Option<String> {
    let rules = prefix_rules(meta);
    let captures = rules.national_prefix.as_ref()?.captures(national)?;
    let viable = |n: &str| rules.general.is_match(n);
    let whole = captures.get(0)?;
    let last_group = captures.get(captures.len() - 1);
    let transform = meta.national_prefix_transform_rule().filter(|r| !r.is_empty());
    let stripped = match (transform, last_group) {
        (Some(rule), Some(_)) => {
            let rule = java_replacement(rule);
            let mut transformed = String::new();
            captures.expand(&rule, &mut transformed);
            transformed + &national[whole.end()..]
        }
        _ => national[whole.end()..].to_owned(),
    };
    (!viable(national) || viable(&stripped)).then_some(stripped)
}

/// Java's replacement syntax (`9$1`) in `regex`'s (`9${1}`: a bare `$1x` would name group `1x`).
fn java_replacement(rule: &str) -> String {
    let mut out = String::with_capacity(rule.len() + 4);
    let mut chars = rule.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push_str("${");
            while let Some(digit) = chars.next_if(char::is_ascii_digit) {
                out.push(digit);
            }
            out.push('}');
        } else {
            out.push(c);
        }
    }
    out
}

/// libphonenumber keeps a stripped national number only if its length is possible for the
/// region (`testNumberLength` is not TOO_SHORT, IS_POSSIBLE_LOCAL_ONLY or INVALID_LENGTH).
/// The general descriptor's lengths are the union of the types' (as libphonenumber's metadata
/// build computes them; the crate leaves them empty).
fn length_allows_stripping(meta: &Metadata, length: usize) -> bool {
    let d = meta.descriptors();
    let types: Vec<&Descriptor> = NUMBER_TYPES.iter().filter_map(|kind| d.get(*kind)).collect();
    let length = length as u16;
    let possible = types.iter().flat_map(|d| d.possible_length());
    let local_only = types.iter().flat_map(|d| d.possible_local_length());
    let (min, max) = possible
        .clone()
        .fold((u16::MAX, 0), |(lo, hi), &l| (lo.min(l), hi.max(l)));
    let is_possible = possible.clone().any(|&l| l == length);
    if local_only.clone().any(|&l| l == length) && !is_possible {
        return false;
    }
    length >= min && (length > max || is_possible)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_group_references_become_braced() {
        assert_eq!(java_replacement("9$1"), "9${1}");
        assert_eq!(java_replacement("0549$1"), "0549${1}");
        assert_eq!(java_replacement("$2x$10"), "${2}x${10}");
        assert_eq!(java_replacement("$"), "$");
    }

    #[test]
    fn the_national_prefix_rules_follow_libphonenumber() {
        let national = |input: &str| read(input).map(|r| r.national);
        // Argentina's domestic mobile spelling (area code, then 15) is turned into 9 + area code.
        assert_eq!(national("+54111512345678").as_deref(), Some("91112345678"));
        // Russia's trunk 8 is stripped from a number that needs stripping, kept on 8 00 ….
        assert_eq!(national("+789161234567").as_deref(), Some("9161234567"));
        assert_eq!(national("+78001234567").as_deref(), Some("8001234567"));
        // NANP's trunk 1: stripped from +1 1 202 …, but not where only a 7-digit local number
        // (a length for dialling inside an area) would be left.
        assert_eq!(national("+112025550123").as_deref(), Some("2025550123"));
        assert_eq!(national("+112345678").as_deref(), Some("12345678"));
        // A calling code is 1 to 3 digits, the first prefix that is one.
        assert_eq!(read("+99912345678").map(|r| r.calling_code), None);
        assert_eq!(read("+88213123456").map(|r| r.calling_code), Some(882));
    }
}
