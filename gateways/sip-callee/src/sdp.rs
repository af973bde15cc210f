//! Just enough SDP (RFC 4566) for a G.711 offer/answer: which codecs the offer carries, and our answer.

use serde::Serialize;

/// The G.711 codecs the callee can receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Codec {
    #[serde(rename = "PCMU")]
    Pcmu,
    #[serde(rename = "PCMA")]
    Pcma,
}

impl Codec {
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Codec::Pcmu => crate::g711::ulaw_to_linear(byte),
            Codec::Pcma => crate::g711::alaw_to_linear(byte),
        }
    }
}

/// Picks the codec to answer with: PCMU if the first audio m= line offers it, else PCMA, else none.
/// Static payload types 0 and 8 count even without an `a=rtpmap`; dynamic ones count by rtpmap name.
pub fn choose_codec(offer: &str) -> Option<Codec> {
    let media = offer.lines().map(str::trim).find(|l| l.starts_with("m=audio"))?;
    let payloads: Vec<&str> = media.split_whitespace().skip(3).collect();
    let named = |name: &str| {
        offer.lines().map(str::trim).any(|l| {
            l.strip_prefix("a=rtpmap:").is_some_and(|rest| {
                let mut parts = rest.split_whitespace();
                let pt = parts.next().unwrap_or_default();
                let enc = parts.next().unwrap_or_default();
                payloads.contains(&pt) && enc.eq_ignore_ascii_case(name)
            })
        })
    };
    if payloads.contains(&"0") || named("PCMU/8000") {
        Some(Codec::Pcmu)
    } else if payloads.contains(&"8") || named("PCMA/8000") {
        Some(Codec::Pcma)
    } else {
        None
    }
}

/// Builds the SDP answer: one audio stream on `ip:port` with the chosen codec.
pub fn answer(ip: std::net::IpAddr, port: u16, codec: Codec, session_id: u64) -> String {
    let pt = codec.payload_type();
    format!(
        "v=0\r\no=otpgate-callee {session_id} {session_id} IN IP4 {ip}\r\ns=otpgate-sip-callee\r\n\
         c=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {}/8000\r\na=sendrecv\r\n",
        codec.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_pcmu() {
        let offer = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\n";
        assert_eq!(choose_codec(offer), Some(Codec::Pcmu));
        assert_eq!(choose_codec("m=audio 4000 RTP/AVP 8\r\n"), Some(Codec::Pcma));
        assert_eq!(choose_codec("m=audio 4000 RTP/AVP 18\r\n"), None);
        assert_eq!(choose_codec("v=0\r\n"), None);
    }
}
