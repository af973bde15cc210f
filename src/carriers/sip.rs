//! The keys of a `protocol = "sip"` carrier, validated into the SIP gateway's config. Add a
//! key here: a field of [`Keys`] and its check in [`Keys::build`].
use otpgate_gateway::config::Problems;
use otpgate_gateway::Coverage;
use otpgate_sip::transport::{Hop, TlsClient, Transport};
use otpgate_sip::SipConfig;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// Required: `host:port` of the trunk.
    address: Option<String>,
    /// Our address of record (default `sip:otp@otpgate.invalid`).
    from: Option<String>,
    /// Extension: digest credentials for the trunk, both or neither.
    username: Option<String>,
    password: Option<String>,
    /// Extension: how long a callee may ring, 1..=120 (default 30).
    ring_timeout_seconds: Option<u64>,
    /// `udp` (default), `tcp` or `tls`.
    transport: Option<String>,
    /// Extension: a PEM file of extra CA certificates for `transport = "tls"`.
    tls_ca_file: Option<String>,
    /// Extension: `host:port` of a proxy every request goes through (a preloaded Route).
    outbound_proxy: Option<String>,
    /// Extension: the IP address the trunk reaches us at behind a NAT (Via, Contact, SDP).
    public_address: Option<String>,
}

impl Keys {
    pub fn build(self, name: &str, coverage: Coverage, problems: &mut Problems) -> Option<SipConfig> {
        let address = problems.required("address", self.address, "");
        if !address.is_empty()
            && address
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            problems.push("address", format!("{address:?} is not host:port"));
        }
        let from = self.from.unwrap_or_else(|| "sip:otp@otpgate.invalid".into());
        if !from.starts_with("sip:") {
            problems.push("from", format!("{from:?} must be a sip: URI"));
        }
        if self.username.is_some() != self.password.is_some() {
            problems.push("username", "username and password go together (digest auth)");
        }
        let ring = self.ring_timeout_seconds.unwrap_or(30);
        if !(1..=120).contains(&ring) {
            problems.push("ring_timeout_seconds", format!("{ring} is outside 1..120"));
        }
        let transport = self
            .transport
            .as_deref()
            .unwrap_or("udp")
            .parse::<Transport>()
            .unwrap_or_else(|e| {
                problems.push("transport", e.to_string());
                Transport::Udp
            });
        if self.tls_ca_file.is_some() && transport != Transport::Tls {
            problems.push("tls_ca_file", "only used with transport = \"tls\"");
        }
        let tls = (transport == Transport::Tls)
            .then(|| TlsClient::new(self.tls_ca_file.as_deref().map(Path::new)))
            .transpose()
            .unwrap_or_else(|e| {
                problems.push("tls_ca_file", e.to_string());
                None
            });
        if let Some(proxy) = &self.outbound_proxy {
            if let Err(e) = Hop::parse(proxy) {
                problems.push("outbound_proxy", e.to_string());
            }
        }
        let public_address = self.public_address.as_deref().and_then(|ip| {
            ip.parse()
                .map_err(|_| problems.push("public_address", format!("{ip:?} is not an IP address")))
                .ok()
        });
        if !problems.is_empty() {
            return None;
        }
        Some(SipConfig {
            name: name.to_owned(),
            address,
            transport,
            tls,
            outbound_proxy: self.outbound_proxy,
            public_address,
            from,
            username: self.username,
            password: self.password,
            ring_timeout: Duration::from_secs(ring),
            coverage,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::RawConfig;

    #[test]
    fn a_sip_carrier_takes_transport_proxy_and_public_address() {
        let text = "[[carriers]]\nname = \"voice\"\nprotocol = \"sip\"\naddress = \"sip.example.net:5061\"\n\
                    transport = \"tls\"\noutbound_proxy = \"edge.example.net:5061\"\npublic_address = \"203.0.113.7\"\n";
        let config = RawConfig::parse(text).unwrap().build_and_validate().unwrap();
        let crate::carriers::CarrierConfig::Sip(sip) = &config.carriers[0] else {
            panic!("not sip")
        };
        assert_eq!(sip.transport, otpgate_sip::transport::Transport::Tls);
        assert!(sip.tls.is_some(), "TLS settings built from the public roots");
        assert_eq!(sip.outbound_proxy.as_deref(), Some("edge.example.net:5061"));
        assert_eq!(sip.public_address, Some("203.0.113.7".parse().unwrap()));
        let default = "[[carriers]]\nname = \"voice\"\nprotocol = \"sip\"\naddress = \"127.0.0.1:5060\"\n";
        let config = RawConfig::parse(default).unwrap().build_and_validate().unwrap();
        let crate::carriers::CarrierConfig::Sip(sip) = &config.carriers[0] else {
            panic!("not sip")
        };
        assert_eq!(sip.transport, otpgate_sip::transport::Transport::Udp);
        assert!(sip.tls.is_none());
    }

    #[test]
    fn sip_network_problems_name_each_key() {
        let text = "[[carriers]]\nname = \"voice\"\nprotocol = \"sip\"\naddress = \"127.0.0.1:5060\"\n\
                    transport = \"sctp\"\ntls_ca_file = \"/nonexistent/ca.pem\"\noutbound_proxy = \"edge\"\n\
                    public_address = \"my.host\"\n";
        let err = RawConfig::parse(text)
            .unwrap()
            .build_and_validate()
            .unwrap_err()
            .to_string();
        for needle in [
            "(voice).transport: \"sctp\" is not one of udp, tcp, tls",
            "(voice).tls_ca_file: only used with transport = \"tls\"",
            "(voice).outbound_proxy: \"edge\" is not host:port",
            "(voice).public_address: \"my.host\" is not an IP address",
        ] {
            assert!(err.contains(needle), "{needle} not in {err}");
        }
        let missing_ca = "[[carriers]]\nname = \"voice\"\nprotocol = \"sip\"\naddress = \"127.0.0.1:5061\"\n\
                          transport = \"tls\"\ntls_ca_file = \"/nonexistent/ca.pem\"\n";
        let err = RawConfig::parse(missing_ca)
            .unwrap()
            .build_and_validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("(voice).tls_ca_file: tls_ca_file /nonexistent/ca.pem"),
            "{err}"
        );
    }
}
