//! SIP messages on a byte stream (TCP, TLS): where one message ends (RFC 3261 §18.3).
//!
//! On UDP a datagram is one message; on a stream the header section ends at the first empty line
//! and the body is exactly `Content-Length` octets (mandatory on streams, §20.14). `rsip` parses a
//! whole message but does not frame one, so this small pure codec does: "not enough bytes yet" is
//! a normal answer ([`Frame::Incomplete`]), as in mini-redis' `frame.rs`. Keep-alive CRLFs
//! between messages (RFC 5626 §3.5.1) are skipped.

/// The largest message accepted on a stream: far above any INVITE with SDP, small enough that a
/// peer sending garbage cannot make us buffer without bound.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// What the start of a stream buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One whole message, `len` octets from the start of the buffer (after `skip` octets of
    /// keep-alive CRLFs).
    Message { skip: usize, len: usize },
    /// Keep-alive CRLFs only, or a message not yet complete: read more.
    Incomplete { skip: usize },
    /// Not SIP we can frame (no or bad Content-Length, or too large): close the connection.
    Invalid(&'static str),
}

/// Frames the message at the start of `buffer`.
pub fn frame(buffer: &[u8]) -> Frame {
    let skip = buffer.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    let rest = &buffer[skip..];
    let Some(header_end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if rest.len() > MAX_MESSAGE {
            Frame::Invalid("header section too large")
        } else {
            Frame::Incomplete { skip }
        };
    };
    let headers = &rest[..header_end];
    let Some(body_len) = content_length(headers) else {
        return Frame::Invalid("no valid Content-Length on a stream transport");
    };
    // A Content-Length near usize::MAX must not wrap into a short frame (found by fuzzing:
    // fuzz/corpus/sip_message/crash-content-length-overflow.sip).
    let Some(len) = (header_end + 4).checked_add(body_len).filter(|&len| len <= MAX_MESSAGE) else {
        return Frame::Invalid("message too large");
    };
    if rest.len() < len {
        Frame::Incomplete { skip }
    } else {
        Frame::Message { skip, len }
    }
}

/// The `Content-Length` (or compact `l`) value of a header section; `None` if absent or bad.
fn content_length(headers: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(headers).ok()?;
    text.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l"))
            .then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYE: &[u8] = b"BYE sip:a@b SIP/2.0\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn frames_whole_messages_and_waits_for_the_rest() {
        assert_eq!(
            frame(BYE),
            Frame::Message {
                skip: 0,
                len: BYE.len()
            }
        );
        assert_eq!(frame(&BYE[..20]), Frame::Incomplete { skip: 0 });
        let with_body = b"SIP/2.0 200 OK\r\nl: 4\r\n\r\nv=0\r\nNEXT";
        assert_eq!(frame(with_body), Frame::Message { skip: 0, len: 28 });
        assert_eq!(frame(&with_body[..26]), Frame::Incomplete { skip: 0 });
    }

    #[test]
    fn skips_keep_alives_and_refuses_what_cannot_be_framed() {
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(BYE);
        assert_eq!(
            frame(&stream),
            Frame::Message {
                skip: 4,
                len: BYE.len()
            }
        );
        assert_eq!(frame(b"\r\n\r\n"), Frame::Incomplete { skip: 4 });
        assert!(matches!(
            frame(b"BYE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n"),
            Frame::Invalid(_)
        ));
        assert!(matches!(
            frame(b"X\r\nContent-Length: 999999\r\n\r\n"),
            Frame::Invalid(_)
        ));
        assert!(matches!(frame(&vec![b'a'; MAX_MESSAGE + 1]), Frame::Invalid(_)));
    }

    #[test]
    fn a_content_length_that_would_overflow_is_refused_not_wrapped() {
        // Wrapped, the sum made a frame shorter than its own header section.
        let message = format!("BYE sip:a@b SIP/2.0\r\nContent-Length: {}\r\n\r\n", usize::MAX);
        assert_eq!(frame(message.as_bytes()), Frame::Invalid("message too large"));
    }
}
