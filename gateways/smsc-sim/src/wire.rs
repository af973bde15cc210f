//! Framing on top of rusmpp's `CommandCodec`.
//!
//! rusmpp's decoder ends the stream on the first PDU it cannot parse. An SMSC should instead
//! answer that PDU with generic_nack and carry on, so [`FrameDecoder`] cuts each frame by its
//! command_length first and only then hands it to the codec: a bad body costs one nack, not the
//! connection. Only a command_length that makes framing impossible is fatal.

use std::io;

use rusmpp::tokio_codec::CommandCodec;
use rusmpp::Command;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

const HEADER_LENGTH: usize = 16;
/// Far above any legal PDU (submit_sm with a full message_payload is under 64 KiB).
pub const MAX_COMMAND_LENGTH: usize = 70_000;

/// One inbound frame.
#[derive(Debug)]
// Boxing the command would cost an allocation per PDU to shrink a variant that is almost never
// built.
#[allow(clippy::large_enum_variant)]
pub enum Inbound {
    Command(Command),
    /// A frame whose body rusmpp could not decode; the header is still known.
    Malformed {
        command_id: u32,
        sequence_number: u32,
    },
}

#[derive(Debug)]
pub struct FrameDecoder {
    codec: CommandCodec,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder {
            codec: CommandCodec::new().without_max_length(),
        }
    }
}

impl Decoder for FrameDecoder {
    type Item = Inbound;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, io::Error> {
        if src.len() < HEADER_LENGTH {
            return Ok(None);
        }
        let word = |at: usize| u32::from_be_bytes([src[at], src[at + 1], src[at + 2], src[at + 3]]);
        let command_length = word(0) as usize;
        if !(HEADER_LENGTH..=MAX_COMMAND_LENGTH).contains(&command_length) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("command_length {command_length} out of range"),
            ));
        }
        if src.len() < command_length {
            src.reserve(command_length - src.len());
            return Ok(None);
        }
        let (command_id, sequence_number) = (word(4), word(12));
        let mut frame = src.split_to(command_length);
        match self.codec.decode(&mut frame) {
            Ok(Some(command)) if command.pdu().is_some() => Ok(Some(Inbound::Command(command))),
            // A response may be the bare header (SMPP 3.4 §3.3, e.g. an ESME refusing a
            // receipt); rusmpp returns it without a pdu.
            Ok(Some(command)) if command_length == HEADER_LENGTH && is_response(command_id) => {
                Ok(Some(Inbound::Command(command)))
            }
            // Otherwise rusmpp leaves `pdu` empty when a body-less command carries a body, or
            // the reverse.
            Ok(_) | Err(_) => {
                // The codec may be left mid-frame; a fresh one starts clean on the next frame.
                self.codec = CommandCodec::new().without_max_length();
                Ok(Some(Inbound::Malformed {
                    command_id,
                    sequence_number,
                }))
            }
        }
    }
}

/// Appends a response that is only its 16-octet header. Written by hand because rusmpp's
/// `Command` always encodes a body for the PDUs that have one, and SMPP 3.4 §3.3 lets an error
/// response go without it.
pub fn put_header_only(out: &mut BytesMut, command_id: u32, command_status: u32, sequence_number: u32) {
    for word in [HEADER_LENGTH as u32, command_id, command_status, sequence_number] {
        out.extend_from_slice(&word.to_be_bytes());
    }
}

fn is_response(command_id: u32) -> bool {
    command_id & 0x8000_0000 != 0
}

/// Appends `command`'s wire form to `out`.
pub fn put(out: &mut BytesMut, command: &Command) {
    // CommandCodec's encoder is stateless and cannot fail on a BytesMut.
    let _ = CommandCodec::new().encode(command, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusmpp::{CommandStatus, Pdu};

    fn encoded(command: &Command) -> BytesMut {
        let mut out = BytesMut::new();
        put(&mut out, command);
        out
    }

    #[test]
    fn decodes_back_to_back_frames_and_waits_for_partial_ones() {
        let mut bytes = encoded(&Command::new(CommandStatus::EsmeRok, 7, Pdu::EnquireLink));
        bytes.extend_from_slice(&encoded(&Command::new(CommandStatus::EsmeRok, 8, Pdu::Unbind)));
        let tail = bytes.split_off(20);
        let mut decoder = FrameDecoder::default();
        let Some(Inbound::Command(first)) = decoder.decode(&mut bytes).unwrap() else {
            panic!("first frame");
        };
        assert_eq!(first.sequence_number(), 7);
        assert!(decoder.decode(&mut bytes).unwrap().is_none());
        bytes.extend_from_slice(&tail);
        let Some(Inbound::Command(second)) = decoder.decode(&mut bytes).unwrap() else {
            panic!("second frame");
        };
        assert_eq!((second.sequence_number(), second.pdu()), (8, Some(&Pdu::Unbind)));
    }

    #[test]
    fn malformed_body_is_reported_and_the_next_frame_still_decodes() {
        // enquire_link must have no body; this one carries 2 bytes.
        let mut bytes = BytesMut::from(&[0, 0, 0, 18, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 9, 0xAA, 0xBB][..]);
        bytes.extend_from_slice(&encoded(&Command::new(CommandStatus::EsmeRok, 10, Pdu::EnquireLink)));
        let mut decoder = FrameDecoder::default();
        match decoder.decode(&mut bytes).unwrap() {
            Some(Inbound::Malformed {
                command_id: 0x15,
                sequence_number: 9,
            }) => {}
            other => panic!("expected malformed, got {other:?}"),
        }
        let Some(Inbound::Command(next)) = decoder.decode(&mut bytes).unwrap() else {
            panic!("next frame");
        };
        assert_eq!(next.sequence_number(), 10);
    }

    #[test]
    fn impossible_length_is_fatal() {
        let mut bytes = BytesMut::from(&[0, 0, 0, 4, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1][..]);
        assert!(FrameDecoder::default().decode(&mut bytes).is_err());
    }
}
