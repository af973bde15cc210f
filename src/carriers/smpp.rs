//! The keys of a `protocol = "smpp"` carrier, validated into the SMPP gateway's config. Add a
//! key here: a field of [`Keys`] and its check in [`Keys::build`].
use otpgate_gateway::config::Problems;
use otpgate_gateway::Coverage;
use otpgate_smpp::{SmppConfig, Source, Tls};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// Required: `host:port` of the SMSC.
    address: Option<String>,
    /// Required, at most 15 ASCII characters (SMPP 3.4 §5.2.1).
    system_id: Option<String>,
    /// Required (a secret: no default), at most 8 ASCII characters.
    password: Option<String>,
    /// Default `""`, at most 12 ASCII characters.
    system_type: Option<String>,
    /// Default `OTPGATE`.
    source_addr: Option<String>,
    /// Parallel transceiver binds, 1..=64 (default 1).
    binds: Option<u32>,
    /// Unacknowledged submit_sm per bind, 1..=1024 (default 10).
    window: Option<u32>,
    /// submit_sm per second per carrier (default 100); 0 means no limit.
    max_tps: Option<u32>,
    /// Default false (rustls).
    tls: Option<bool>,
    /// Extension: a PEM file of extra CA certificates for `tls = true` (a carrier's private CA).
    tls_ca_file: Option<String>,
    /// 1..=3600 (default 30).
    enquire_link_seconds: Option<u64>,
    /// Extension: how long an SMPP request may go unanswered, 1..=300 (default 10).
    response_timeout_seconds: Option<u64>,
}

impl Keys {
    pub fn build(self, name: &str, coverage: Coverage, problems: &mut Problems) -> Option<SmppConfig> {
        let address = match self.address {
            Some(a)
                if a.rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) =>
            {
                a
            }
            Some(a) => {
                problems.push("address", format!("{a:?} is not host:port"));
                String::new()
            }
            None => problems.required("address", None, "host:port"),
        };
        let mut c_string = |key: &str, value: String, max: usize| {
            if value.len() > max || !value.is_ascii() {
                problems.push(key, format!("at most {max} ASCII characters (SMPP limit)"));
                return None;
            }
            Some(value)
        };
        let system_id = self
            .system_id
            .filter(|s| !s.is_empty())
            .map(|s| c_string("system_id", s, 15));
        let password = self.password.map(|s| c_string("password", s, 8));
        let system_type = c_string("system_type", self.system_type.unwrap_or_default(), 12);
        if system_id.is_none() {
            problems.required("system_id", None, "");
        }
        if password.is_none() {
            problems.required("password", None, "a secret: no default");
        }
        let source = Source::parse(self.source_addr.as_deref().unwrap_or("OTPGATE"))
            // The message names the key first: "source_addr is empty".
            .map_err(|e| problems.push("source_addr", e.trim_start_matches("source_addr ")))
            .ok();
        let binds = self.binds.unwrap_or(1);
        if !(1..=64).contains(&binds) {
            problems.push("binds", format!("{binds} is outside 1..64"));
        }
        let window = self.window.unwrap_or(10);
        if !(1..=1024).contains(&window) {
            problems.push("window", format!("{window} is outside 1..1024"));
        }
        let enquire_link_seconds = self.enquire_link_seconds.unwrap_or(30);
        if !(1..=3600).contains(&enquire_link_seconds) {
            problems.push(
                "enquire_link_seconds",
                format!("{enquire_link_seconds} is outside 1..3600"),
            );
        }
        let response_timeout_seconds = self.response_timeout_seconds.unwrap_or(10);
        if !(1..=300).contains(&response_timeout_seconds) {
            let message = format!("{response_timeout_seconds} is outside 1..300");
            problems.push("response_timeout_seconds", message);
        }
        if self.tls_ca_file.is_some() && self.tls != Some(true) {
            problems.push("tls_ca_file", "only used with tls = true");
        }
        let tls = match self.tls.unwrap_or(false) {
            true if !address.is_empty() => Tls::new(&address, self.tls_ca_file.as_deref().map(Path::new))
                .map_err(|e| problems.push("tls", e.to_string()))
                .ok(),
            _ => None,
        };
        if !problems.is_empty() {
            return None;
        }
        Some(SmppConfig {
            name: name.to_owned(),
            address,
            system_id: system_id??.parse().ok()?,
            password: password??.parse().ok()?,
            system_type: system_type?.parse().ok()?,
            source: source?,
            binds,
            window,
            // 0 means no limit (a benchmark, or a carrier that enforces its own).
            max_tps: self.max_tps.unwrap_or(100),
            // Split by the live nodes on a PostgreSQL store (`crate::limits`); whole on SQLite.
            tps_share: Default::default(),
            tls,
            enquire_link: Duration::from_secs(enquire_link_seconds),
            response_timeout: Duration::from_secs(response_timeout_seconds),
            coverage,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::RawConfig;

    #[test]
    fn an_smpp_carrier_takes_the_contract_defaults() {
        let text = "[[carriers]]\nname = \"smsc-a\"\nprotocol = \"smpp\"\naddress = \"127.0.0.1:2775\"\n\
                    system_id = \"otpgate\"\npassword = \"secret\"\nfee_usd = { default = 0.0, US = 0.0079 }\n";
        let config = RawConfig::parse(text).unwrap().build_and_validate().unwrap();
        assert!(
            !config.sandbox_enabled,
            "sandbox is off by default once a carrier exists"
        );
        let crate::carriers::CarrierConfig::Smpp(smpp) = &config.carriers[0] else {
            panic!("not smpp")
        };
        assert_eq!((smpp.binds, smpp.window, smpp.max_tps), (1, 10, 100));
        assert_eq!(smpp.enquire_link, std::time::Duration::from_secs(30));
        assert_eq!(smpp.coverage.fee_micros("US"), 7_900);
        assert!(smpp.coverage.serves("BR"));
        assert!(!format!("{smpp:?}").contains("secret"), "password leaks through Debug");
    }

    #[test]
    fn smpp_carrier_problems_name_each_key() {
        let text = "[[carriers]]\nname = \"smsc-a\"\nprotocol = \"smpp\"\naddress = \"nowhere\"\n\
                    system_id = \"otpgate\"\npassword = \"much-too-long\"\nwindow = 0\n\
                    base_url = \"http://x\"\nfee_usd = { default = -1.0 }\ncountries = [\"usa\"]\n";
        let err = RawConfig::parse(text).unwrap().build_and_validate().unwrap_err();
        let text = err.to_string();
        for key in [
            "address",
            "password",
            "window",
            "base_url",
            "fee_usd.default",
            "countries",
        ] {
            assert!(text.contains(&format!("(smsc-a).{key}")), "{key} not named in:\n{text}");
        }
        let missing = RawConfig::parse("[[carriers]]\nname = \"b\"\nprotocol = \"smpp\"\n")
            .unwrap()
            .build_and_validate()
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("(b).address") && missing.contains("(b).system_id") && missing.contains("(b).password")
        );
    }
}
