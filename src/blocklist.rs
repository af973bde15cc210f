//! Per-application blocklists of numbers and number prefixes.
//!
//! The list lives in the store (durable, loaded at start) and in memory here, where every send
//! looks it up before anything else: a blocked number is refused without sending or billing.
//! Writes go to the store first and change memory only once durable, so what a send sees is
//! never ahead of what survives a restart.
use crate::number::NumberInfo;
use parking_lot::RwLock;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Longest E.164 number: `+` and 15 digits.
const MAX_E164_DIGITS: usize = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// One E.164 number.
    PhoneNumber,
    /// Every number starting with these digits, e.g. `+88213` (an IRSF range).
    Prefix,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::PhoneNumber => "phone_number",
            EntryKind::Prefix => "prefix",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "phone_number" => Some(EntryKind::PhoneNumber),
            "prefix" => Some(EntryKind::Prefix),
            _ => None,
        }
    }
}

/// One entry of an application's blocklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub application: String,
    /// E.164 with the `+`: the number, or the prefix.
    pub value: String,
    pub kind: EntryKind,
    pub created_at_ms: i64,
}

/// A prefix as the API takes it: `+` (optional) then 1 to 15 digits; returned with the `+`.
pub fn normalise_prefix(raw: &str) -> Result<String, &'static str> {
    let digits = raw.trim().strip_prefix('+').unwrap_or(raw.trim());
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be digits after an optional +, such as +88213");
    }
    if digits.len() > MAX_E164_DIGITS || digits.starts_with('0') {
        return Err("must be the start of an E.164 number (country code first, at most 15 digits)");
    }
    Ok(format!("+{digits}"))
}

#[derive(Default)]
struct AppList {
    /// value → entry, ordered for listing.
    entries: BTreeMap<String, Entry>,
}

#[derive(Default)]
pub struct Blocklist {
    apps: RwLock<HashMap<String, AppList>>,
}

impl Blocklist {
    pub fn new(entries: Vec<Entry>) -> Self {
        let list = Self::default();
        for entry in entries {
            list.insert(entry);
        }
        list
    }

    /// Adds (or replaces) an entry that is already durable.
    pub fn insert(&self, entry: Entry) {
        self.apps
            .write()
            .entry(entry.application.clone())
            .or_default()
            .entries
            .insert(entry.value.clone(), entry);
    }

    pub fn remove(&self, application: &str, value: &str) {
        if let Some(list) = self.apps.write().get_mut(application) {
            list.entries.remove(value);
        }
    }

    pub fn get(&self, application: &str, value: &str) -> Option<Entry> {
        self.apps.read().get(application)?.entries.get(value).cloned()
    }

    /// The entry stored as `value`, or, when `value` is a phone number written in another
    /// spelling than the canonical one entries are stored in (`+54 11 …` for `+54 9 11 …`),
    /// the entry of its canonical spelling.
    pub fn entry_for(&self, application: &str, value: &str) -> Option<Entry> {
        self.get(application, value).or_else(|| {
            let number = crate::number::parse(value).ok()?;
            self.get(application, &number.full_number)
        })
    }

    /// The entry that blocks `full_number` (E.164) for `application`: the number itself, or the
    /// longest blocked prefix of it.
    pub fn matching(&self, application: &str, full_number: &str) -> Option<Entry> {
        let apps = self.apps.read();
        let list = apps.get(application)?;
        // "+1", "+12", ... "+12025550123": at most 15 lookups, longest first.
        (2..=full_number.len())
            .rev()
            .filter_map(|end| full_number.get(..end))
            .find_map(|value| list.entries.get(value))
            .cloned()
    }

    /// The entry that blocks `number` for `application`, whichever of its spellings an entry was
    /// written in: a line written with or without a mobile token (`+54 9 11 …`, `+54 11 …`) is
    /// one line, and a prefix such as `+5411` means both.
    pub fn matching_number(&self, application: &str, number: &NumberInfo) -> Option<Entry> {
        number
            .spellings()
            .iter()
            .filter_map(|spelling| self.matching(application, spelling))
            .max_by_key(|entry| (entry.kind == EntryKind::PhoneNumber, entry.value.len()))
    }

    /// Every entry of `application`, ordered by value.
    pub fn list(&self, application: &str) -> Vec<Entry> {
        self.apps
            .read()
            .get(application)
            .map(|l| l.entries.values().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(application: &str, value: &str, kind: EntryKind) -> Entry {
        Entry {
            application: application.into(),
            value: value.into(),
            kind,
            created_at_ms: 0,
        }
    }

    #[test]
    fn numbers_and_prefixes_block_only_their_application() {
        let list = Blocklist::new(vec![
            entry("acme", "+14155552671", EntryKind::PhoneNumber),
            entry("acme", "+88213", EntryKind::Prefix),
            entry("other", "+44", EntryKind::Prefix),
        ]);
        assert_eq!(
            list.matching("acme", "+14155552671").unwrap().kind,
            EntryKind::PhoneNumber
        );
        assert_eq!(list.matching("acme", "+14155552672"), None);
        assert_eq!(list.matching("acme", "+882130001234").unwrap().value, "+88213");
        assert_eq!(
            list.matching("acme", "+447911123456"),
            None,
            "another application's prefix"
        );
        assert!(list.matching("other", "+447911123456").is_some());
        list.remove("acme", "+88213");
        assert_eq!(list.matching("acme", "+882130001234"), None);
        assert_eq!(list.list("acme").len(), 1);
    }

    #[test]
    fn the_longest_prefix_is_reported() {
        let list = Blocklist::new(vec![
            entry("a", "+1", EntryKind::Prefix),
            entry("a", "+1415", EntryKind::Prefix),
        ]);
        assert_eq!(list.matching("a", "+14155552671").unwrap().value, "+1415");
    }

    #[test]
    fn a_line_with_two_spellings_is_matched_by_entries_in_either() {
        let number = crate::number::parse("+541112345678").unwrap();
        assert_eq!(number.full_number, "+5491112345678", "keyed with the mobile 9");
        // Entries written without the 9 (as before canonical spellings, or as a prefix) apply.
        for (value, kind) in [
            ("+541112345678", EntryKind::PhoneNumber),
            ("+5491112345678", EntryKind::PhoneNumber),
            ("+5411", EntryKind::Prefix),
            ("+54911", EntryKind::Prefix),
        ] {
            let list = Blocklist::new(vec![entry("a", value, kind)]);
            assert_eq!(list.matching_number("a", &number).map(|e| e.value), Some(value.into()));
        }
        // The number itself wins over a prefix of either spelling.
        let list = Blocklist::new(vec![
            entry("a", "+5411", EntryKind::Prefix),
            entry("a", "+5491112345678", EntryKind::PhoneNumber),
        ]);
        assert_eq!(list.matching_number("a", &number).unwrap().kind, EntryKind::PhoneNumber);
        let other = crate::number::parse("+541112345679").unwrap();
        assert_eq!(list.matching_number("a", &other).unwrap().value, "+5411");
        // Found for removal under either spelling; a prefix only as written.
        for spelling in ["+5491112345678", "+541112345678", "+54111512345678"] {
            assert_eq!(list.entry_for("a", spelling).unwrap().value, "+5491112345678");
        }
        assert_eq!(list.entry_for("a", "+54911").map(|e| e.value), None);
    }

    #[test]
    fn prefixes_are_normalised_and_checked() {
        assert_eq!(normalise_prefix("88213").unwrap(), "+88213");
        assert_eq!(normalise_prefix(" +44 ").unwrap(), "+44");
        for bad in ["", "+", "+44a", "+0123", "+1234567890123456", "44-1"] {
            assert!(normalise_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
