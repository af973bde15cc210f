use std::collections::HashMap;

/// Which countries a carrier serves and what it charges per message there, from the carrier's
/// `countries` and `fee_usd` config keys. Fees are integer micro-dollars: money is never a float.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// ISO 3166-1 alpha-2 codes; empty or containing `"*"` means every country.
    countries: Vec<String>,
    default_fee_micros: u64,
    fees_micros: HashMap<String, u64>,
}

impl Coverage {
    pub fn new(countries: Vec<String>, default_fee_micros: u64, fees_micros: HashMap<String, u64>) -> Self {
        Self {
            countries,
            default_fee_micros,
            fees_micros,
        }
    }

    pub fn serves(&self, country: &str) -> bool {
        self.countries.is_empty()
            || self
                .countries
                .iter()
                .any(|c| c == "*" || c.eq_ignore_ascii_case(country))
    }

    pub fn fee_micros(&self, country: &str) -> u64 {
        self.fees_micros
            .get(country)
            .copied()
            .unwrap_or(self.default_fee_micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_serves_everyone_and_fees_fall_back_to_the_default() {
        let coverage = Coverage::new(vec!["*".into()], 1_000, HashMap::from([("US".into(), 7_900)]));
        assert!(coverage.serves("BR"));
        assert_eq!(coverage.fee_micros("US"), 7_900);
        assert_eq!(coverage.fee_micros("BR"), 1_000);
    }

    #[test]
    fn a_country_list_serves_only_its_countries() {
        let coverage = Coverage::new(vec!["US".into(), "CA".into()], 0, HashMap::new());
        assert!(coverage.serves("CA"));
        assert!(!coverage.serves("BR"));
    }
}
