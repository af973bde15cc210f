//! Just enough SDP (RFC 4566) for a G.711 offer/answer: which codecs the offer carries, and our answer.

use crate::behaviour::AnswerShape;
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};

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

/// The codec a shape makes the callee receive: PCMA when it puts PCMA first, else `chosen`.
pub fn codec_for(shape: AnswerShape, chosen: Codec) -> Codec {
    if shape == AnswerShape::PcmaFirst {
        Codec::Pcma
    } else {
        chosen
    }
}

/// Builds the SDP answer: one audio stream on `ip:port` with `codec`, in the given shape.
pub fn answer(shape: AnswerShape, ip: IpAddr, port: u16, codec: Codec, session_id: u64) -> String {
    let pt = codec.payload_type();
    let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
    let connection = match shape {
        AnswerShape::Hold => "c=IN IP4 0.0.0.0\r\n".to_owned(),
        _ => format!("c=IN {family} {ip}\r\n"),
    };
    let (session_c, media_c) = match shape {
        AnswerShape::MediaLevelConnection => (String::new(), connection),
        _ => (connection, String::new()),
    };
    let port = if shape == AnswerShape::PortZero { 0 } else { port };
    let (formats, extra) = match shape {
        AnswerShape::PcmaFirst => (
            "8 0 101".to_owned(),
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
        ),
        AnswerShape::TelephoneEvent => (
            format!("18 {pt} 101"),
            "a=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
        ),
        _ => (pt.to_string(), ""),
    };
    let direction = match shape {
        AnswerShape::Sendonly => "sendonly",
        AnswerShape::Inactive => "inactive",
        _ => "sendrecv",
    };
    format!(
        "v=0\r\no=otpgate-callee {session_id} {session_id} IN {family} {ip}\r\ns=otpgate-sip-callee\r\n\
         {session_c}t=0 0\r\nm=audio {port} RTP/AVP {formats}\r\n{media_c}a=rtpmap:{pt} {}/8000\r\n{extra}\
         a=ptime:20\r\na={direction}\r\n",
        codec.name()
    )
}

/// Where an offer wants the callee's RTP: its first audio stream's address and port (media-level
/// `c=` over session-level).
pub fn offer_media(offer: &str) -> Option<SocketAddr> {
    let mut session: Option<IpAddr> = None;
    let mut media: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    for line in offer.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=audio ") {
            port = m.split_whitespace().next()?.parse().ok();
        } else if let Some(c) = line.strip_prefix("c=") {
            let ip = c.split_whitespace().nth(2).and_then(|a| a.parse().ok());
            if port.is_some() {
                media = media.or(ip);
            } else {
                session = session.or(ip);
            }
        }
    }
    Some(SocketAddr::new(media.or(session)?, port?))
}

/// The connection address of an offer, as written (for the call report).
pub fn offer_connection(offer: &str) -> String {
    offer
        .lines()
        .find_map(|l| l.trim().strip_prefix("c="))
        .unwrap_or_default()
        .to_owned()
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

    #[test]
    fn answers_in_every_shape() {
        let ip = "127.0.0.1".parse().unwrap();
        let plain = answer(AnswerShape::In200, ip, 4000, Codec::Pcmu, 1);
        assert!(
            plain.contains("c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"),
            "{plain}"
        );
        assert!(plain.ends_with("a=sendrecv\r\n"));
        let media_level = answer(AnswerShape::MediaLevelConnection, ip, 4000, Codec::Pcmu, 1);
        assert!(
            media_level.contains("m=audio 4000 RTP/AVP 0\r\nc=IN IP4 127.0.0.1\r\n"),
            "{media_level}"
        );
        assert!(answer(AnswerShape::PcmaFirst, ip, 4000, Codec::Pcma, 1).contains("RTP/AVP 8 0 101\r\n"));
        assert!(answer(AnswerShape::PortZero, ip, 4000, Codec::Pcmu, 1).contains("m=audio 0 "));
        assert!(answer(AnswerShape::Hold, ip, 4000, Codec::Pcmu, 1).contains("c=IN IP4 0.0.0.0\r\n"));
        assert!(answer(AnswerShape::Inactive, ip, 4000, Codec::Pcmu, 1).ends_with("a=inactive\r\n"));
        assert_eq!(codec_for(AnswerShape::PcmaFirst, Codec::Pcmu), Codec::Pcma);
    }

    #[test]
    fn reads_where_the_offer_wants_media() {
        let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(offer_media(offer), Some("10.0.0.1:4000".parse().unwrap()));
        let media_level = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n";
        assert_eq!(offer_media(media_level), Some("10.0.0.2:4000".parse().unwrap()));
        assert_eq!(offer_connection(offer), "IN IP4 10.0.0.1");
    }
}
