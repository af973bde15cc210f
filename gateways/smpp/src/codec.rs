//! Framing of the bytes an SMSC sends: rusmpp's codec behind a decoder that cuts every frame by
//! its `command_length` first.
//!
//! rusmpp's `CommandCodec` ends the stream on the first body it cannot parse, and caps frames at
//! 8 KiB. An SMSC's PDU that rusmpp cannot read (a TLV it spells differently, an error response
//! with a truncated body) must cost that one PDU, not the bind and everything in its window, so
//! [`FrameCodec`] keeps the 16-octet header of such a frame ([`Frame::Undecodable`]) and the
//! session still matches it by `sequence_number`. Only a `command_length` that makes framing
//! impossible ends the connection.
//!
//! Header-only responses (SMPP 3.4 §3.3: a response with a non-zero `command_status` may carry
//! no body) are *not* undecodable: rusmpp returns them as a `Command` whose `pdu()` is `None`,
//! and [`crate::pdu::Inbound`] reads them from the header alone.
use bytes::{Buf, BytesMut};
use rusmpp::tokio_codec::{CommandCodec, EncodeError};
use rusmpp::Command;
use tokio_util::codec::{Decoder, Encoder};

/// Octets in a PDU header: command_length, command_id, command_status, sequence_number.
pub const HEADER_OCTETS: usize = 16;
/// Far above any legal PDU (a deliver_sm with a full 64 KiB message_payload fits).
pub const MAX_COMMAND_LENGTH: usize = 70_000;

/// The header of a PDU (SMPP 3.4 §3.2), as raw numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub command_length: u32,
    pub command_id: u32,
    pub command_status: u32,
    pub sequence_number: u32,
}

impl Header {
    /// Reads the header at the start of `frame` (at least [`HEADER_OCTETS`] long).
    fn read(frame: &[u8]) -> Self {
        let mut words = &frame[..HEADER_OCTETS];
        Self {
            command_length: words.get_u32(),
            command_id: words.get_u32(),
            command_status: words.get_u32(),
            sequence_number: words.get_u32(),
        }
    }

    pub fn is_response(&self) -> bool {
        self.command_id & 0x8000_0000 != 0
    }
}

/// One PDU off the wire.
#[derive(Debug)]
// A Command is large, but boxing it would cost an allocation per PDU to shrink a variant that
// is almost never built.
#[allow(clippy::large_enum_variant)]
pub enum Frame {
    Decoded(Command),
    /// A whole frame whose body rusmpp could not decode; its header is still good.
    Undecodable(Header),
}

/// Decodes [`Frame`]s; encodes `Command`s exactly as rusmpp does.
#[derive(Debug)]
pub struct FrameCodec {
    inner: CommandCodec,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self {
            inner: CommandCodec::new().without_max_length(),
        }
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        if src.len() < HEADER_OCTETS {
            return Ok(None);
        }
        let header = Header::read(src);
        let length = header.command_length as usize;
        if !(HEADER_OCTETS..=MAX_COMMAND_LENGTH).contains(&length) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("command_length {length} cannot frame a PDU"),
            ));
        }
        if src.len() < length {
            src.reserve(length - src.len());
            return Ok(None);
        }
        let mut frame = src.split_to(length);
        match self.inner.decode(&mut frame) {
            Ok(Some(command)) => Ok(Some(Frame::Decoded(command))),
            Ok(None) | Err(_) => {
                // The inner codec may be left mid-frame; a fresh one starts clean on the next.
                self.inner = CommandCodec::new().without_max_length();
                Ok(Some(Frame::Undecodable(header)))
            }
        }
    }
}

impl Encoder<Command> for FrameCodec {
    type Error = EncodeError;

    fn encode(&mut self, command: Command, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.inner.encode(command, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Vec<Frame> {
        let mut src = BytesMut::from(bytes);
        let mut decoder = FrameCodec::default();
        let mut frames = Vec::new();
        while let Some(frame) = decoder.decode(&mut src).unwrap() {
            frames.push(frame);
        }
        assert!(src.is_empty(), "left over: {src:?}");
        frames
    }

    #[test]
    fn a_header_only_refusal_decodes_with_its_header_and_no_body() {
        // What npm smpp sends for a refused submit_sm (issue 12): 16 octets, no message_id.
        let frames = decode_all(&[0, 0, 0, 0x10, 0x80, 0, 0, 4, 0, 0, 0, 0x0B, 0, 0, 0, 7]);
        let [Frame::Decoded(command)] = &frames[..] else {
            panic!("{frames:?}")
        };
        assert_eq!(u32::from(command.id()), 0x8000_0004);
        assert_eq!((u32::from(command.status()), command.sequence_number()), (0x0B, 7));
        assert!(command.pdu().is_none());
    }

    #[test]
    fn a_body_rusmpp_cannot_read_keeps_its_header_and_the_stream_goes_on() {
        // submit_sm_resp whose message_id lacks its NUL terminator, then an enquire_link.
        let mut bytes = vec![
            0, 0, 0, 0x13, 0x80, 0, 0, 4, 0, 0, 0, 0x45, 0, 0, 0, 9, b'a', b'b', b'c',
        ];
        bytes.extend_from_slice(&[0, 0, 0, 0x10, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 10]);
        let frames = decode_all(&bytes);
        match &frames[..] {
            [Frame::Undecodable(header), Frame::Decoded(next)] => {
                assert_eq!(
                    (header.command_id, header.command_status, header.sequence_number),
                    (0x8000_0004, 0x45, 9)
                );
                assert_eq!(next.sequence_number(), 10);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_partial_frame_waits_and_an_impossible_length_is_fatal() {
        let mut src = BytesMut::from(&[0, 0, 0, 0x11, 0x80, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1][..]);
        assert!(FrameCodec::default().decode(&mut src).unwrap().is_none());
        let mut bad = BytesMut::from(&[0, 0, 0, 8, 0x80, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1][..]);
        assert!(FrameCodec::default().decode(&mut bad).is_err());
    }
}
