//! RTP (RFC 3550) packets for one G.711 stream; the pacing is in [`crate::call::Answered::play`].

use crate::prompt::SAMPLES_PER_FRAME;
use std::time::Duration;

/// 20 ms per packet: 50 packets a second.
pub const PACKET_INTERVAL: Duration = Duration::from_millis(20);

/// Sequence, timestamp and SSRC state of one outgoing stream.
#[derive(Debug)]
pub struct RtpStream {
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    sent: u64,
}

impl RtpStream {
    /// A stream with a random SSRC and random initial sequence and timestamp (RFC 3550 §5.1).
    pub fn new(payload_type: u8) -> Self {
        Self {
            payload_type,
            sequence: rand::random(),
            timestamp: rand::random(),
            ssrc: rand::random(),
            sent: 0,
        }
    }

    /// The next packet carrying `payload`; the first has the marker bit (start of talkspurt).
    pub fn packet(&mut self, payload: &[u8]) -> Vec<u8> {
        let marker = if self.sent == 0 { 0x80 } else { 0x00 };
        let mut packet = Vec::with_capacity(12 + payload.len());
        packet.push(0x80); // version 2, no padding, no extension, no CSRC
        packet.push(marker | (self.payload_type & 0x7F));
        packet.extend_from_slice(&self.sequence.to_be_bytes());
        packet.extend_from_slice(&self.timestamp.to_be_bytes());
        packet.extend_from_slice(&self.ssrc.to_be_bytes());
        packet.extend_from_slice(payload);
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(SAMPLES_PER_FRAME as u32);
        self.sent += 1;
        packet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_advance_sequence_and_timestamp_and_mark_the_first() {
        let mut stream = RtpStream::new(0);
        let first = stream.packet(&[0xFF; 160]);
        let second = stream.packet(&[0xFF; 160]);
        assert_eq!(first.len(), 172);
        assert_eq!(first[0], 0x80);
        assert_eq!(first[1], 0x80, "marker, PT 0");
        assert_eq!(second[1], 0x00);
        let seq = |p: &[u8]| u16::from_be_bytes([p[2], p[3]]);
        let ts = |p: &[u8]| u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        assert_eq!(seq(&second), seq(&first).wrapping_add(1));
        assert_eq!(ts(&second), ts(&first).wrapping_add(160));
        assert_eq!(first[8..12], second[8..12], "fixed SSRC");
    }
}
