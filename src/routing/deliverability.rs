//! Measured deliverability: a decayed delivered / sent ratio per (carrier, country), fed by
//! receipts and by fallbacks for want of one. Pure data: the routing actor owns the one table,
//! persists it and publishes copies.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Weight of the newest outcome in the decayed ratio: about the last 20 messages count.
pub const DECAY: f64 = 0.05;
/// What a (carrier, country) is assumed to deliver before any outcome says otherwise.
pub const PRIOR: f64 = 0.9;

/// Ratios learned so far; a pair without an outcome yet is at [`PRIOR`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Deliverability {
    /// carrier → ISO 3166-1 alpha-2 country (or `unknown`) → ratio in 0..=1.
    ratios: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Deliverability {
    /// Counts one outcome of a message `carrier` accepted for `country`.
    pub fn record(&mut self, carrier: &str, country: &str, delivered: bool) {
        let outcome = if delivered { 1.0 } else { 0.0 };
        let ratio = self
            .ratios
            .entry(carrier.to_owned())
            .or_default()
            .entry(country.to_owned())
            .or_insert(PRIOR);
        *ratio += DECAY * (outcome - *ratio);
    }

    pub fn ratio(&self, carrier: &str, country: &str) -> f64 {
        self.ratios
            .get(carrier)
            .and_then(|by_country| by_country.get(country))
            .copied()
            .unwrap_or(PRIOR)
    }

    /// Every learned (carrier, country, ratio).
    pub fn learned(&self) -> impl Iterator<Item = (&str, &str, f64)> {
        self.ratios.iter().flat_map(|(carrier, by_country)| {
            by_country
                .iter()
                .map(move |(country, ratio)| (carrier.as_str(), country.as_str(), *ratio))
        })
    }

    /// The JSON the store keeps.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a map of floats serializes")
    }

    /// Reads [`Deliverability::to_json`]; ratios outside 0..=1 (or not numbers) are dropped.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        let mut read: Deliverability = serde_json::from_str(text)?;
        for by_country in read.ratios.values_mut() {
            by_country.retain(|_, ratio| (0.0..=1.0).contains(ratio));
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_move_the_ratio_of_their_country_only_and_survive_json() {
        let mut learned = Deliverability::default();
        learned.record("smsc-a", "ES", false);
        assert!((learned.ratio("smsc-a", "ES") - 0.855).abs() < 1e-9);
        assert_eq!(learned.ratio("smsc-a", "BR"), PRIOR);
        assert_eq!(learned.ratio("smsc-b", "ES"), PRIOR);
        for _ in 0..100 {
            learned.record("smsc-a", "BR", true);
        }
        assert!(learned.ratio("smsc-a", "BR") > 0.99);
        let read = Deliverability::from_json(&learned.to_json()).unwrap();
        for (carrier, country, ratio) in learned.learned() {
            assert!((read.ratio(carrier, country) - ratio).abs() < 1e-12);
        }
        assert_eq!(learned.learned().count(), 2);
        let odd = Deliverability::from_json(r#"{"a": {"ES": 7.0, "BR": 0.5}}"#).unwrap();
        assert_eq!((odd.ratio("a", "ES"), odd.ratio("a", "BR")), (PRIOR, 0.5));
    }
}
