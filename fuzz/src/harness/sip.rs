//! SIP and RTP: what a trunk sends the voice gateway, and what reaches the callee simulator.
use otpgate_sip::transport::Transport;
use otpgate_sip::{dialog, digest, framing, response, sdp};
use otpgate_sip_callee::{digest as callee_digest, rtp, sdp as callee_sdp};
use rsip::prelude::*;
use rsip::{Header, SipMessage};

/// A TCP / TLS stream of SIP messages: framed as the gateway frames them, each message parsed
/// by rsip (as a UDP datagram would be too) and read by everything the call reads.
pub fn sip_message(data: &[u8]) {
    // The whole input as one datagram.
    read_message(data);
    let mut rest = data;
    loop {
        match framing::frame(rest) {
            framing::Frame::Message { skip, len } => {
                assert!(len > 0 && skip + len <= rest.len(), "a frame lies inside the buffer");
                assert!(len <= framing::MAX_MESSAGE);
                read_message(&rest[skip..skip + len]);
                rest = &rest[skip + len..];
            }
            framing::Frame::Incomplete { skip } => {
                assert!(skip <= rest.len());
                break;
            }
            framing::Frame::Invalid(_) => break,
        }
    }
}

fn read_message(message: &[u8]) {
    match SipMessage::try_from(message) {
        Ok(SipMessage::Response(response)) => {
            let _ = response::code_of(&response);
            let _ = response::cseq_of(&response);
            let _ = response::to_tag_of(&response);
            let _ = response::rseq_of(&response);
            let routes = dialog::route_set(&response);
            if let Some(contact) = response::contact_uri(&response) {
                for transport in [Transport::Udp, Transport::Tcp, Transport::Tls] {
                    let _ = dialog::target(&contact, &routes, transport);
                }
            }
            for header in response.headers.iter() {
                let challenge = match header {
                    Header::WwwAuthenticate(c) => c.value().to_string(),
                    Header::ProxyAuthenticate(c) => c.value().to_string(),
                    _ => continue,
                };
                if let Ok(challenge) = digest::parse_challenge(&challenge) {
                    let value = digest::credentials(&challenge, "user", "secret", "INVITE", "sip:x@h", "cafe");
                    assert!(value.starts_with("Digest "));
                }
            }
            let _ = sdp::parse_answer(&String::from_utf8_lossy(&response.body));
        }
        Ok(SipMessage::Request(request)) => {
            // The callee's BYE is answered with a 200 built from its headers.
            let _ = response::ok_to(&request).to_string();
        }
        Err(_) => {}
    }
}

/// An SDP answer body, as the gateway reads it from a 183 / 200.
pub fn sip_sdp(data: &[u8]) {
    let body = String::from_utf8_lossy(data);
    if let Ok(answer) = sdp::parse_answer(&body) {
        assert!(answer.destination.port() != 0, "a playable answer has a media port");
    }
    // The callee simulator reads offers with its own parser.
    let _ = callee_sdp::choose_codec(&body);
    let _ = callee_sdp::offer_media(&body);
    let _ = callee_sdp::offer_connection(&body);
}

/// Datagrams arriving at the callee's RTP port; each input is a sequence of datagrams, each
/// prefixed by its length (u16, big-endian), recorded for both codecs. The callee's digest
/// reader gets the input as an `Authorization` value too.
pub fn callee_rtp(data: &[u8]) {
    let mut recorders = [
        (rtp::Recorder::default(), callee_sdp::Codec::Pcmu),
        (rtp::Recorder::default(), callee_sdp::Codec::Pcma),
    ];
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let packet = &rest[2..2 + len];
        rest = &rest[2 + len..];
        if let Some((_, payload)) = rtp::parse(packet) {
            assert!(
                payload.len() + 12 <= packet.len(),
                "the payload follows a 12-octet header"
            );
        }
        for (recorder, codec) in &mut recorders {
            let before = recorder.samples.len();
            if recorder.record(packet, *codec) {
                assert!(recorder.samples.len() >= before);
            }
            let _ = recorder.duration_ms();
        }
    }
    let header = String::from_utf8_lossy(data);
    let _ = callee_digest::parse_params(&header);
    let _ = callee_digest::verify(&header, callee_digest::Algorithm::Md5, "INVITE", "user", "pw", |_| true);
}
