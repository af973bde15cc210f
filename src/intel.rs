//! Number intelligence beyond libphonenumber's metadata: the mobile carrier's name from
//! libphonenumber's carrier mapping (config/intel/carriers.tsv), and whether the number belongs to
//! a disposable-number service (config/intel/disposable.txt). Both files are compiled in as
//! defaults; `[intel] carriers_file` / `disposable_file` point at newer copies, which are
//! re-read when they change (checked every `reload_seconds`), so a refresh needs no restart.
//!
//! Parsing (`number::parse`) stays pure and cached; [`Intel::enrich`] adds these facts to a
//! parsed number when a verification is created.
use crate::number::{LineType, NumberInfo};
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

const BUILT_IN_CARRIERS: &str = include_str!("../config/intel/carriers.tsv");
const BUILT_IN_DISPOSABLE: &str = include_str!("../config/intel/disposable.txt");

/// Prefix (E.164 digits, no `+`) → carrier name, matched longest first.
#[derive(Default)]
pub struct CarrierMap {
    names: Vec<Arc<str>>,
    prefixes: HashMap<Box<str>, u32>,
    longest: usize,
}

impl CarrierMap {
    /// Parses `prefix<TAB>name` lines; `#` lines and blank lines are skipped.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut map = CarrierMap::default();
        let mut index: HashMap<&str, u32> = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (prefix, name) = line
                .split_once('\t')
                .ok_or_else(|| format!("line {}: expected <prefix><TAB><name>", n + 1))?;
            if prefix.is_empty() || prefix.len() > 15 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("line {}: prefix {prefix:?} is not 1 to 15 digits", n + 1));
            }
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("line {}: empty carrier name", n + 1));
            }
            let id = *index.entry(name).or_insert_with(|| {
                map.names.push(Arc::from(name));
                (map.names.len() - 1) as u32
            });
            map.longest = map.longest.max(prefix.len());
            map.prefixes.insert(prefix.into(), id);
        }
        Ok(map)
    }

    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// The carrier of an E.164 number (`+` optional), by its longest listed prefix.
    pub fn lookup(&self, full_number: &str) -> Option<Arc<str>> {
        let digits = full_number.strip_prefix('+').unwrap_or(full_number);
        (1..=digits.len().min(self.longest))
            .rev()
            .find_map(|len| self.prefixes.get(&digits[..len]))
            .map(|&id| self.names[id as usize].clone())
    }
}

/// Disposable numbers and ranges.
#[derive(Default)]
pub struct DisposableList {
    numbers: HashSet<Box<str>>,
    prefixes: Vec<Box<str>>,
}

impl DisposableList {
    /// Parses `+number` and `+prefix*` lines; `#` lines and blank lines are skipped.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut list = DisposableList::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (digits, prefix) = match line.strip_suffix('*') {
                Some(p) => (p, true),
                None => (line, false),
            };
            let digits = digits
                .strip_prefix('+')
                .filter(|d| !d.is_empty() && d.len() <= 15 && d.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("line {}: {line:?} is not +digits or +digits*", n + 1))?;
            let value: Box<str> = format!("+{digits}").into();
            if prefix {
                list.prefixes.push(value);
            } else {
                list.numbers.insert(value);
            }
        }
        Ok(list)
    }

    pub fn len(&self) -> usize {
        self.numbers.len() + self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, full_number: &str) -> bool {
        self.numbers.contains(full_number) || self.prefixes.iter().any(|p| full_number.starts_with(&**p))
    }
}

/// One data file: where it comes from and when it was last read.
struct Source {
    kind: &'static str,
    path: Option<PathBuf>,
    modified: RwLock<Option<SystemTime>>,
}

impl Source {
    /// The file's text if it changed since the last read (or was never read).
    fn changed_text(&self) -> Option<Result<String, String>> {
        let path = self.path.as_ref()?;
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified.is_some() && modified == *self.modified.read() {
            return None;
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()));
        if text.is_ok() {
            *self.modified.write() = modified;
        }
        Some(text)
    }
}

pub struct Intel {
    carriers: RwLock<Arc<CarrierMap>>,
    disposable: RwLock<Arc<DisposableList>>,
    carriers_source: Source,
    disposable_source: Source,
}

impl Intel {
    /// Loads the configured files (or the built-in data); a file that cannot be read or parsed
    /// at start is an error.
    pub fn load(carriers_file: Option<PathBuf>, disposable_file: Option<PathBuf>) -> Result<Self, String> {
        let intel = Intel {
            carriers: RwLock::new(Arc::new(CarrierMap::parse(BUILT_IN_CARRIERS)?)),
            disposable: RwLock::new(Arc::new(DisposableList::parse(BUILT_IN_DISPOSABLE)?)),
            carriers_source: Source {
                kind: "carriers",
                path: carriers_file,
                modified: RwLock::new(None),
            },
            disposable_source: Source {
                kind: "disposable",
                path: disposable_file,
                modified: RwLock::new(None),
            },
        };
        for result in intel.reload() {
            result?;
        }
        Ok(intel)
    }

    /// Re-reads the configured files that changed. A file that fails to read or parse keeps the
    /// previous data (and is retried on the next call); each outcome is logged and counted.
    pub fn reload(&self) -> Vec<Result<(), String>> {
        let mut results = Vec::new();
        if let Some(text) = self.carriers_source.changed_text() {
            let parsed = text.and_then(|t| CarrierMap::parse(&t));
            results.push(self.install(&self.carriers_source, parsed, |map| {
                let len = map.len();
                *self.carriers.write() = Arc::new(map);
                len
            }));
        }
        if let Some(text) = self.disposable_source.changed_text() {
            let parsed = text.and_then(|t| DisposableList::parse(&t));
            results.push(self.install(&self.disposable_source, parsed, |list| {
                let len = list.len();
                *self.disposable.write() = Arc::new(list);
                len
            }));
        }
        results
    }

    fn install<T>(
        &self,
        source: &Source,
        parsed: Result<T, String>,
        put: impl FnOnce(T) -> usize,
    ) -> Result<(), String> {
        let path = source
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        match parsed {
            Ok(data) => {
                let entries = put(data);
                metrics::counter!(crate::metrics::INTEL_RELOADS, "file" => source.kind, "result" => "ok").increment(1);
                tracing::info!(file = source.kind, %path, entries, "number intelligence loaded");
                Ok(())
            }
            Err(error) => {
                // A half-written file must not wipe the data in use: retry on the next change.
                *source.modified.write() = None;
                metrics::counter!(crate::metrics::INTEL_RELOADS, "file" => source.kind, "result" => "error")
                    .increment(1);
                tracing::error!(file = source.kind, %path, %error, "number intelligence file refused; keeping the previous data");
                Err(format!("{} file {path}: {error}", source.kind))
            }
        }
    }

    /// Adds the carrier name and the disposable flag to a parsed number. Sandbox numbers keep
    /// their fixed carrier identities (the disposable list applies to them too, which is how
    /// the list can be tried without a carrier). A carrier name from the mapping (which covers mobile ranges only)
    /// makes a number whose type libphonenumber could not tell (`FixedLineOrMobile`) mobile.
    ///
    /// A line with two spellings (a mobile token, see [`NumberInfo::spellings`]) is looked up
    /// under both, canonical first, so data written either way applies.
    pub fn enrich(&self, number: &mut NumberInfo) {
        let spellings = number.spellings();
        if number.sandbox.is_none() && number.carrier_name.is_none() {
            let carriers = self.carriers.read();
            if let Some(name) = spellings.iter().find_map(|s| carriers.lookup(s)) {
                number.carrier_name = Some(name.to_string());
                if number.line_type == LineType::Unknown && !number.is_premium {
                    number.line_type = LineType::Mobile;
                }
            }
        }
        let disposable = self.disposable.read();
        if spellings.iter().any(|s| disposable.contains(s)) {
            number.is_disposable = true;
        }
    }

    pub fn carrier_prefixes(&self) -> usize {
        self.carriers.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number;

    #[test]
    fn the_built_in_carrier_data_names_mobile_carriers_by_longest_prefix() {
        let intel = Intel::load(None, None).unwrap();
        assert!(intel.carrier_prefixes() > 20_000, "{}", intel.carrier_prefixes());
        let map = intel.carriers.read().clone();
        // libphonenumber: 447910 EE, 4479110 Marathon Telecom.
        assert_eq!(map.lookup("+447910123456").as_deref(), Some("EE"));
        assert_eq!(map.lookup("+447911012345").as_deref(), Some("Marathon Telecom"));
        assert_eq!(map.lookup("+34610123456").as_deref(), Some("Vodafone"));
        assert_eq!(map.lookup("+99999"), None);
        let mut spain = number::parse("+34610123456").unwrap();
        intel.enrich(&mut spain);
        assert_eq!(spain.carrier_name.as_deref(), Some("Vodafone"));
        assert_eq!(spain.line_type, LineType::Mobile);
    }

    #[test]
    fn a_line_with_two_spellings_is_looked_up_under_both() {
        let intel = Intel::load(None, None).unwrap();
        // libphonenumber lists Argentine mobile ranges with the 9 (549113 Personal); a line
        // given without it is the same line.
        let mut buenos_aires = number::parse("+541131234567").unwrap();
        intel.enrich(&mut buenos_aires);
        assert_eq!(buenos_aires.carrier_name.as_deref(), Some("Personal"));
        assert_eq!(buenos_aires.line_type, LineType::Mobile);
        // A disposable list written with either spelling flags the line.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disposable.txt");
        std::fs::write(&path, "+541131234567\n+5215512345678\n").unwrap();
        let intel = Intel::load(None, Some(path)).unwrap();
        for spelling in ["+5491131234567", "+541131234567", "+525512345678"] {
            let mut number = number::parse(spelling).unwrap();
            intel.enrich(&mut number);
            assert!(number.is_disposable, "{spelling}");
        }
    }

    #[test]
    fn disposable_lines_are_numbers_or_prefixes() {
        let list = DisposableList::parse("# c\n\n+447700900123\n+4475550*\n").unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.contains("+447700900123"));
        assert!(list.contains("+447555012345"));
        assert!(!list.contains("+447700900124"));
        for bad in ["447700900123", "+44a", "+", "*", "+1234567890123456"] {
            assert!(DisposableList::parse(bad).is_err(), "{bad:?}");
        }
        assert!(CarrierMap::parse("44\n").is_err());
        assert!(CarrierMap::parse("4a\tX\n").is_err());
        assert!(CarrierMap::parse("44\t \n").is_err());
    }

    #[test]
    fn changed_files_are_reloaded_and_a_broken_one_keeps_the_old_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disposable.txt");
        std::fs::write(&path, "+34610000001\n").unwrap();
        let intel = Intel::load(None, Some(path.clone())).unwrap();
        let disposable = |n: &str| {
            let mut number = number::parse(n).unwrap();
            intel.enrich(&mut number);
            number.is_disposable
        };
        assert!(disposable("+34610000001"));
        assert!(intel.reload().is_empty(), "unchanged: not re-read");
        // Make sure the modification time moves even on coarse file systems.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, "+34610000002\n").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(2);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(intel.reload(), vec![Ok(())]);
        assert!(!disposable("+34610000001") && disposable("+34610000002"));
        std::fs::write(&path, "not a number\n").unwrap();
        let broken = SystemTime::now() + std::time::Duration::from_secs(4);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(broken)
            .unwrap();
        assert!(intel.reload()[0].is_err());
        assert!(disposable("+34610000002"), "kept the previous list");
        assert!(Intel::load(None, Some(dir.path().join("missing.txt"))).is_err());
    }
}
