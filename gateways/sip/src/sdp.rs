//! The SDP offer we send and the parts of the answer we need (RFC 4566, RFC 3264).

use std::net::{IpAddr, SocketAddr};

/// An audio offer for PCMU (payload type 0, preferred) and PCMA (8) on `ip:rtp_port`: the
/// address the callee should send to, our public address behind a NAT.
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
    /// The payload type to send: 0 or 8, or the dynamic number the answer maps to PCMU / PCMA.
    pub payload_type: u8,
    /// PCMA (A-law) rather than PCMU.
    pub alaw: bool,
}

/// Why an answer cannot carry our prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotPlayable {
    #[error("no audio stream in the SDP answer")]
    NoAudio,
    #[error("the audio stream was rejected (port 0)")]
    Rejected,
    #[error("no PCMU/PCMA in the SDP answer")]
    NoCommonCodec,
    #[error("no usable connection address in the SDP answer")]
    NoAddress,
    /// `a=sendonly` / `a=inactive`, or the RFC 2543 hold address `0.0.0.0`: the callee will
    /// not take our audio.
    #[error("the answer's audio stream is {0}: the callee would not hear us")]
    NotReceiving(&'static str),
}

impl NotPlayable {
    /// The failure reason: `media_inactive` when the callee refuses to receive, else
    /// `unsupported_media`.
    pub fn reason(self) -> &'static str {
        match self {
            NotPlayable::NotReceiving(_) => "media_inactive",
            _ => "unsupported_media",
        }
    }
}

/// The codec a payload type stands for: a static one (RFC 3551: 0 PCMU, 8 PCMA), or a dynamic
/// one mapped by `a=rtpmap` to PCMU/8000 or PCMA/8000. `Some(alaw)`.
fn g711(payload_type: u8, rtpmaps: &[(u8, String)]) -> Option<bool> {
    let mapped = rtpmaps.iter().find(|(pt, _)| *pt == payload_type).map(|(_, name)| name);
    match (payload_type, mapped) {
        (0, _) => Some(false),
        (8, _) => Some(true),
        (96..=127, Some(name)) if name.eq_ignore_ascii_case("PCMU/8000") => Some(false),
        (96..=127, Some(name)) if name.eq_ignore_ascii_case("PCMA/8000") => Some(true),
        _ => None,
    }
}

/// Reads the first audio stream of an SDP answer: the connection address (media level over
/// session level), the first of its formats that is ours (the answerer's preference, RFC 3264
/// §6.1), and the direction (media level over session level, `sendrecv` by default).
pub fn parse_answer(body: &str) -> Result<MediaAnswer, NotPlayable> {
    let mut session_ip: Option<IpAddr> = None;
    let mut session_direction = "sendrecv";
    // The first audio m= line: its port and formats, and its own c= / a= lines.
    let mut audio: Option<(u16, Vec<u8>)> = None;
    let mut media_ip: Option<IpAddr> = None;
    let mut media_direction: Option<&str> = None;
    let mut rtpmaps: Vec<(u8, String)> = Vec::new();
    let mut section = Section::Session;
    for line in body.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut fields = m.split_whitespace();
            section = if audio.is_none() && fields.next() == Some("audio") {
                let port = fields.next().and_then(|p| p.split('/').next()?.parse().ok());
                let formats = fields.skip(1).filter_map(|p| p.parse().ok()).collect();
                audio = Some((port.ok_or(NotPlayable::NoAudio)?, formats));
                Section::Audio
            } else {
                Section::Other
            };
            continue;
        }
        let connection = || {
            let address = line.strip_prefix("c=")?.split_whitespace().nth(2)?;
            address.split('/').next()?.parse().ok()
        };
        let direction = ["sendrecv", "sendonly", "recvonly", "inactive"]
            .into_iter()
            .find(|d| line.strip_prefix("a=") == Some(d));
        match section {
            Section::Session => {
                session_ip = session_ip.or_else(connection);
                session_direction = direction.unwrap_or(session_direction);
            }
            Section::Audio => {
                media_ip = media_ip.or_else(connection);
                media_direction = direction.or(media_direction);
                if let Some((pt, name)) = line.strip_prefix("a=rtpmap:").and_then(|r| r.split_once(' ')) {
                    if let Ok(pt) = pt.trim().parse() {
                        rtpmaps.push((pt, name.trim().to_owned()));
                    }
                }
            }
            Section::Other => {}
        }
    }
    let (port, formats) = audio.ok_or(NotPlayable::NoAudio)?;
    if port == 0 {
        return Err(NotPlayable::Rejected);
    }
    let (payload_type, alaw) = formats
        .iter()
        .find_map(|&pt| Some((pt, g711(pt, &rtpmaps)?)))
        .ok_or(NotPlayable::NoCommonCodec)?;
    let direction = media_direction.unwrap_or(session_direction);
    if matches!(direction, "sendonly" | "inactive") {
        return Err(NotPlayable::NotReceiving(direction));
    }
    let ip = media_ip.or(session_ip).ok_or(NotPlayable::NoAddress)?;
    if ip.is_unspecified() {
        return Err(NotPlayable::NotReceiving("on hold (connection address 0.0.0.0)"));
    }
    Ok(MediaAnswer {
        destination: SocketAddr::new(ip, port),
        payload_type,
        alaw,
    })
}

/// Which part of the SDP a line belongs to.
enum Section {
    Session,
    Audio,
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION_C: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n";

    #[test]
    fn reads_session_or_media_connection_and_the_first_codec_of_ours() {
        let body = format!("{SESSION_C}m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n");
        let answer = parse_answer(&body).unwrap();
        assert_eq!(answer.destination, "10.0.0.1:4000".parse().unwrap());
        assert_eq!((answer.payload_type, answer.alaw), (8, true));
        let media_level = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n";
        assert_eq!(
            parse_answer(media_level).unwrap().destination,
            "10.0.0.2:5000".parse().unwrap()
        );
        let only_media_level = "v=0\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\nc=IN IP6 ::1\r\n";
        assert_eq!(
            parse_answer(only_media_level).unwrap().destination,
            "[::1]:5000".parse().unwrap()
        );
    }

    #[test]
    fn the_answerers_order_wins_and_dynamic_g711_counts() {
        let pcma_first = format!("{SESSION_C}m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n");
        assert_eq!(parse_answer(&pcma_first).unwrap().payload_type, 8);
        let with_events = format!(
            "{SESSION_C}m=audio 4000 RTP/AVP 18 0 8 101\r\na=rtpmap:18 G729/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
        );
        assert_eq!(parse_answer(&with_events).unwrap().payload_type, 0);
        let dynamic = format!("{SESSION_C}m=audio 4000 RTP/AVP 97\r\na=rtpmap:97 PCMA/8000\r\n");
        assert_eq!(
            (
                parse_answer(&dynamic).unwrap().payload_type,
                parse_answer(&dynamic).unwrap().alaw
            ),
            (97, true)
        );
        let video_first = format!("{SESSION_C}m=video 0 RTP/AVP 31\r\nm=audio 4000 RTP/AVP 0\r\n");
        assert_eq!(parse_answer(&video_first).unwrap().destination.port(), 4000);
    }

    #[test]
    fn unplayable_answers_say_why() {
        let cases = [
            (format!("{SESSION_C}m=audio 0 RTP/AVP 0\r\n"), NotPlayable::Rejected),
            (
                format!("{SESSION_C}m=audio 9 RTP/AVP 18\r\n"),
                NotPlayable::NoCommonCodec,
            ),
            (SESSION_C.to_owned(), NotPlayable::NoAudio),
            ("v=0\r\nm=audio 4000 RTP/AVP 0\r\n".to_owned(), NotPlayable::NoAddress),
            (
                format!("{SESSION_C}m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"),
                NotPlayable::NotReceiving("sendonly"),
            ),
            (
                format!("{SESSION_C}a=inactive\r\nm=audio 4000 RTP/AVP 0\r\n"),
                NotPlayable::NotReceiving("inactive"),
            ),
            (
                "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n".to_owned(),
                NotPlayable::NotReceiving("on hold (connection address 0.0.0.0)"),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(parse_answer(&body), Err(expected), "{body}");
        }
        assert_eq!(NotPlayable::NotReceiving("inactive").reason(), "media_inactive");
        assert_eq!(NotPlayable::Rejected.reason(), "unsupported_media");
        // A media-level direction overrides the session's.
        let overridden = format!("{SESSION_C}a=sendonly\r\nm=audio 4000 RTP/AVP 0\r\na=recvonly\r\n");
        assert!(parse_answer(&overridden).is_ok());
    }

    #[test]
    fn offer_lists_pcmu_then_pcma() {
        let offer = offer("127.0.0.1".parse().unwrap(), 40000, 7);
        assert!(offer.contains("m=audio 40000 RTP/AVP 0 8\r\n"), "{offer}");
        assert!(offer.contains("c=IN IP4 127.0.0.1\r\n"));
    }
}
