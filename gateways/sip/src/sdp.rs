//! The SDP offer we send and the parts of the answer we need (RFC 4566, RFC 3264).

use std::net::{IpAddr, SocketAddr};

/// An audio offer for PCMU (payload type 0, preferred) and PCMA (8) on `rtp_port`.
pub fn offer(ip: IpAddr, rtp_port: u16, session_id: u64) -> String {
    let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
    format!(
        "v=0\r\no=otpgate {session_id} {session_id} IN {family} {ip}\r\ns=otpgate\r\n\
         c=IN {family} {ip}\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0 8\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\na=sendonly\r\n"
    )
}

/// Where the callee wants our RTP, and in which of our codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaAnswer {
    pub destination: SocketAddr,
    pub payload_type: u8,
}

/// Reads the first audio stream of an SDP answer; `None` if it has no usable address, port or
/// codec of ours (PCMU / PCMA).
pub fn parse_answer(body: &str) -> Option<MediaAnswer> {
    let mut session_ip: Option<IpAddr> = None;
    let mut media_ip: Option<IpAddr> = None;
    let mut audio: Option<(u16, u8)> = None;
    let mut in_audio = false;
    for line in body.lines().map(str::trim) {
        if let Some(c) = line.strip_prefix("c=") {
            let ip = c
                .split_whitespace()
                .nth(2)
                .and_then(|a| a.split('/').next()?.parse().ok());
            if in_audio {
                media_ip = ip;
            } else if audio.is_none() {
                session_ip = ip;
            }
        } else if let Some(m) = line.strip_prefix("m=") {
            in_audio = false;
            let mut fields = m.split_whitespace();
            if audio.is_some() || fields.next() != Some("audio") {
                continue;
            }
            let port: u16 = fields.next()?.split('/').next()?.parse().ok()?;
            let payload_type = fields
                .skip(1)
                .filter_map(|p| p.parse::<u8>().ok())
                .find(|p| *p == 0 || *p == 8)?;
            if port == 0 {
                return None; // stream rejected
            }
            audio = Some((port, payload_type));
            in_audio = true;
        }
    }
    let (port, payload_type) = audio?;
    let ip = media_ip.or(session_ip)?;
    Some(MediaAnswer {
        destination: SocketAddr::new(ip, port),
        payload_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_session_or_media_connection_and_the_first_codec_of_ours() {
        let body = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n";
        let answer = parse_answer(body).unwrap();
        assert_eq!(answer.destination, "10.0.0.1:4000".parse().unwrap());
        assert_eq!(answer.payload_type, 8);
        let media_level = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n";
        assert_eq!(
            parse_answer(media_level).unwrap().destination,
            "10.0.0.2:5000".parse().unwrap()
        );
        assert_eq!(parse_answer("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n"), None);
        assert_eq!(
            parse_answer("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 9 RTP/AVP 18\r\n"),
            None
        );
    }

    #[test]
    fn offer_lists_pcmu_then_pcma() {
        let offer = offer("127.0.0.1".parse().unwrap(), 40000, 7);
        assert!(offer.contains("m=audio 40000 RTP/AVP 0 8\r\n"), "{offer}");
        assert!(offer.contains("c=IN IP4 127.0.0.1\r\n"));
    }
}
