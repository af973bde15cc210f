//! Phone numbers for load runs: deterministic sequences indexed from 0, so a
//! run can continue where the last one stopped (`--start`) and every unit of
//! work gets a number of its own (the engine sends at most 3 times per number
//! per 24 h).

/// Which numbers a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numbers {
    /// Fictional `+1NXX55501XX`: the engine delivers them to its sandbox
    /// inbox, never to a carrier.
    Sandbox,
    /// Valid US numbers in real area codes (libphonenumber agrees), outside
    /// the sandbox range: the engine routes them to its carriers.
    Carrier,
}

/// Sandbox subscriber endings used per exchange: `00`..`96`. Endings 97–99 are left out because
/// `+12025550197..99` are the sandbox's disposable, VoIP and high-risk numbers, which do not
/// simply approve.
const SANDBOX_ENDINGS: u64 = 97;
const SANDBOX_SPACE: u64 = 800 * SANDBOX_ENDINGS;

/// Area codes in service, each valid as fixed line or mobile in libphonenumber's NANP metadata
/// (checked by a test below). Consecutive indexes rotate through them.
const AREA_CODES: [u16; 20] = [
    201, 202, 206, 212, 213, 214, 305, 312, 404, 415, 503, 512, 602, 617, 702, 713, 718, 808, 917, 972,
];
/// Local numbers per area code: `200-0000`..`999-9999` without `555-01XX` (the sandbox range).
const LOCAL_NUMBERS: u64 = 8_000_000 - 100;
const CARRIER_SPACE: u64 = AREA_CODES.len() as u64 * LOCAL_NUMBERS;

impl Numbers {
    /// How many distinct numbers the sequence has.
    pub fn space(self) -> u64 {
        match self {
            Numbers::Sandbox => SANDBOX_SPACE,
            Numbers::Carrier => CARRIER_SPACE,
        }
    }

    /// The shape of the numbers, for messages.
    pub fn pattern(self) -> &'static str {
        match self {
            Numbers::Sandbox => "sandbox numbers (+1NXX55501XX)",
            Numbers::Carrier => "US carrier numbers (+1 NPA NXX XXXX)",
        }
    }

    /// Number `i` of the sequence; `i` must be below [`Numbers::space`].
    pub fn phone(self, i: u64) -> Phone {
        match self {
            Numbers::Sandbox => {
                let nxx = 200 + (i / SANDBOX_ENDINGS) % 800;
                Phone::nanp(nxx as u16, 5_550_100 + i % SANDBOX_ENDINGS)
            }
            Numbers::Carrier => {
                let area = AREA_CODES[(i % AREA_CODES.len() as u64) as usize];
                let mut local = 2_000_000 + (i / AREA_CODES.len() as u64) % LOCAL_NUMBERS;
                if local >= 5_550_100 {
                    local += 100;
                }
                Phone::nanp(area, local)
            }
        }
    }
}

/// A `+1` number in E.164, built on the stack so a unit of work costs no
/// allocation for its phone number.
pub struct Phone([u8; 12]);

impl Phone {
    /// `+1` `area` (3 digits) `local` (7 digits).
    fn nanp(area: u16, local: u64) -> Self {
        let mut b = *b"+1\0\0\0\0\0\0\0\0\0\0";
        let digits = u64::from(area) * 10_000_000 + local;
        let mut rest = digits;
        for slot in b[2..].iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        Phone(b)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("phone digits are ASCII")
    }

    /// The digits after the `+`.
    pub fn digits(&self) -> &str {
        &self.as_str()[1..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn sandbox_numbers_follow_the_sandbox_pattern() {
        let s = Numbers::Sandbox;
        assert_eq!(s.phone(0).as_str(), "+12005550100");
        assert_eq!(s.phone(2 * 97 + 23).as_str(), "+12025550123");
        assert_eq!(s.phone(SANDBOX_SPACE - 1).as_str(), "+19995550196");
    }

    #[test]
    fn the_sandbox_risk_numbers_are_never_used() {
        for i in 0..SANDBOX_SPACE {
            let phone = Numbers::Sandbox.phone(i);
            assert!(
                !["+12025550197", "+12025550198", "+12025550199"].contains(&phone.as_str()),
                "{i}"
            );
        }
    }

    #[test]
    fn sandbox_numbers_are_distinct_over_the_space() {
        let all: HashSet<_> = (0..SANDBOX_SPACE)
            .map(|i| Numbers::Sandbox.phone(i).as_str().to_string())
            .collect();
        assert_eq!(all.len() as u64, SANDBOX_SPACE);
    }

    #[test]
    fn carrier_numbers_rotate_area_codes_and_skip_the_sandbox_range() {
        let c = Numbers::Carrier;
        assert_eq!(c.phone(0).as_str(), "+12012000000");
        assert_eq!(c.phone(1).as_str(), "+12022000000");
        assert_eq!(c.phone(20).as_str(), "+12012000001");
        let before_sandbox = (5_550_099 - 2_000_000) * 20;
        assert_eq!(c.phone(before_sandbox).as_str(), "+12015550099");
        assert_eq!(c.phone(before_sandbox + 20).as_str(), "+12015550200");
        assert_eq!(c.phone(CARRIER_SPACE - 1).as_str(), "+19729999999");
    }

    /// Every 9,973rd number plus the edges of each area code: none is a sandbox number, all are
    /// distinct, and libphonenumber (the engine's validator) calls each a valid US number.
    #[test]
    fn carrier_numbers_are_valid_us_numbers_outside_the_sandbox() {
        let db = &phonenumber::metadata::DATABASE;
        let edges = (0..20).flat_map(|a| [a, CARRIER_SPACE - 1 - a]);
        let sample: Vec<u64> = (0..CARRIER_SPACE).step_by(9_973).chain(edges).collect();
        let mut seen = HashSet::new();
        for i in sample {
            let phone = Numbers::Carrier.phone(i);
            let s = phone.as_str();
            assert!(&s[5..10] != "55501", "{i}: {s} is a sandbox number");
            let parsed = phonenumber::parse(None, s).unwrap_or_else(|e| panic!("{i}: {s}: {e}"));
            assert!(phonenumber::is_valid(&parsed), "{i}: {s} is not valid");
            assert_eq!(parsed.metadata(db).map(|m| m.id()), Some("US"), "{s}");
            seen.insert(s.to_string());
        }
        let all: HashSet<_> = (0..1_000_000)
            .map(|i| Numbers::Carrier.phone(i).as_str().to_string())
            .collect();
        assert_eq!(all.len(), 1_000_000);
        assert!(seen.len() > 16_000);
    }
}
