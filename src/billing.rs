//! Money: what a verification costs, and the monthly usage report.
//!
//! A verification is charged once, when a carrier first accepts one of its messages: the
//! platform price ($0.03) plus that carrier's pass-through fee for the country (config
//! `fee_usd`). Nothing is charged for Blocked or Undeliverable sends, nor for the sandbox. The
//! first 500 charges of an application in a calendar month (UTC) are free. Amounts are integer
//! micro-dollars everywhere and become decimal strings only in the API ("0.0379"): never floats.
//!
//! The charge rides on the verification record ([`Charge`]); the store keeps one ledger row per
//! verification (keyed by request id, so a fallback or a resend never charges twice) and decides
//! free or billable in its single writer, in commit order, so concurrent sends cannot both be
//! the 500th.
use otpgate_gateway::Channel;
use serde::{Deserialize, Serialize};

/// The platform's price per verification: $0.03.
pub const PRICE_MICROS: u64 = 30_000;
/// Verifications per application per UTC calendar month that cost nothing.
pub const FREE_PER_MONTH: u64 = 500;

/// What one verification was charged, recorded when its first message was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub at_ms: i64,
    pub channel: Channel,
    pub carrier: String,
    /// ISO alpha-2, or `unknown`.
    pub country: String,
    /// The carrier's pass-through fee.
    pub carrier_fee_micros: u64,
}

impl Charge {
    /// Price plus carrier fee, before the free allowance.
    pub fn amount_micros(&self) -> u64 {
        PRICE_MICROS + self.carrier_fee_micros
    }

    /// The UTC calendar month of the charge, `YYYY-MM`.
    pub fn month(&self) -> String {
        month_of(self.at_ms)
    }
}

/// `YYYY-MM` of a UTC timestamp in milliseconds.
pub fn month_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m")
        .to_string()
}

/// Parses the `month` query value: `YYYY-MM`, months 01..12, years 2000..9999.
pub fn parse_month(text: &str) -> Option<String> {
    let (year, month) = text.split_once('-')?;
    let ok = year.len() == 4
        && month.len() == 2
        && year.parse::<u32>().is_ok_and(|y| (2000..=9999).contains(&y))
        && month.parse::<u32>().is_ok_and(|m| (1..=12).contains(&m));
    ok.then(|| text.to_owned())
}

/// Micro-dollars as a decimal string with at least two decimals: 30000 → "0.03",
/// 37900 → "0.0379", 0 → "0.00".
pub fn usd(micros: u64) -> String {
    let fraction = format!("{:06}", micros % 1_000_000);
    let trimmed = fraction.trim_end_matches('0');
    let decimals = if trimmed.len() < 2 { &fraction[..2] } else { trimmed };
    format!("{}.{decimals}", micros / 1_000_000)
}

/// One group of a month's ledger: verifications charged on one channel to one country.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub channel: String,
    pub country: String,
    pub verifications: u64,
    /// Of which inside the free allowance.
    pub free: u64,
    /// Sum over the billable ones.
    pub amount_micros: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_exact_decimal_strings() {
        assert_eq!(usd(0), "0.00");
        assert_eq!(usd(30_000), "0.03");
        assert_eq!(usd(37_900), "0.0379");
        assert_eq!(usd(35_000), "0.035");
        assert_eq!(usd(1), "0.000001");
        assert_eq!(usd(15_000_000), "15.00");
        assert_eq!(usd(1_234_567_890), "1234.56789");
    }

    #[test]
    fn months_are_utc_calendar_months() {
        // 2026-01-31T23:59:59.999Z and one millisecond later.
        assert_eq!(month_of(1_769_903_999_999), "2026-01");
        assert_eq!(month_of(1_769_904_000_000), "2026-02");
        assert_eq!(parse_month("2026-02").as_deref(), Some("2026-02"));
        for bad in ["2026-13", "2026-00", "26-01", "2026-1", "2026/01", "", "abcd-ef"] {
            assert_eq!(parse_month(bad), None, "{bad:?}");
        }
    }
}
