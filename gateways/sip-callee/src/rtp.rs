//! RTP (RFC 3550) reception: header parsing and the per-call recorder that counts packets,
//! sequence gaps and SSRC changes, and decodes the G.711 payload for the WAV file.

use crate::sdp::Codec;

/// The fixed RTP header fields the recorder looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// Parses an RTP packet into its header and payload; `None` if it is not RTP version 2.
pub fn parse(packet: &[u8]) -> Option<(RtpHeader, &[u8])> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    let csrc_count = usize::from(packet[0] & 0x0f);
    let mut offset = 12 + 4 * csrc_count;
    if packet[0] & 0x10 != 0 {
        let ext = packet.get(offset + 2..offset + 4)?;
        offset += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    let mut end = packet.len();
    if packet[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*packet.last()?))?;
    }
    let payload = packet.get(offset..end)?;
    let header = RtpHeader {
        marker: packet[1] & 0x80 != 0,
        payload_type: packet[1] & 0x7f,
        sequence: u16::from_be_bytes([packet[2], packet[3]]),
        timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
        ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
    };
    Some((header, payload))
}

/// What one call's RTP stream looked like.
#[derive(Debug, Default)]
pub struct Recorder {
    pub packets: u64,
    pub first_marker_bit: Option<bool>,
    pub sequence_gaps: u64,
    pub ssrc_changes: u64,
    pub samples: Vec<i16>,
    first_timestamp: Option<u32>,
    last_timestamp: u32,
    last_packet_samples: u32,
    last_sequence: Option<u16>,
    ssrc: Option<u32>,
}

impl Recorder {
    /// Records one datagram; non-RTP datagrams and other payload types are ignored.
    pub fn record(&mut self, packet: &[u8], codec: Codec) {
        let Some((header, payload)) = parse(packet) else { return };
        if header.payload_type != codec.payload_type() {
            return;
        }
        if let Some(ssrc) = self.ssrc {
            if ssrc != header.ssrc {
                self.ssrc_changes += 1;
                self.last_sequence = None;
            }
        }
        self.ssrc = Some(header.ssrc);
        if let Some(last) = self.last_sequence {
            let step = header.sequence.wrapping_sub(last);
            // A step in the back half of the sequence space is a late or duplicate packet, not a gap.
            if (2..0x8000).contains(&step) {
                self.sequence_gaps += u64::from(step - 1);
            }
        }
        self.last_sequence = Some(header.sequence);
        if self.first_marker_bit.is_none() {
            self.first_marker_bit = Some(header.marker);
        }
        self.first_timestamp.get_or_insert(header.timestamp);
        self.last_timestamp = header.timestamp;
        self.last_packet_samples = payload.len() as u32;
        self.packets += 1;
        self.samples.extend(payload.iter().map(|&b| codec.decode(b)));
    }

    /// Duration from the RTP timestamps (8 kHz clock), including the last packet's own length.
    pub fn duration_ms(&self) -> u64 {
        let Some(first) = self.first_timestamp else { return 0 };
        let ticks = u64::from(self.last_timestamp.wrapping_sub(first)) + u64::from(self.last_packet_samples);
        ticks / 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16, ts: u32, ssrc: u32, marker: bool) -> Vec<u8> {
        let mut p = vec![0x80, if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[0xff; 160]);
        p
    }

    #[test]
    fn counts_gaps_and_duration() {
        let mut rec = Recorder::default();
        rec.record(&packet(65534, 0, 1, true), Codec::Pcmu);
        rec.record(&packet(65535, 160, 1, false), Codec::Pcmu);
        rec.record(&packet(2, 640, 1, false), Codec::Pcmu); // 0 and 1 missing
        rec.record(&packet(3, 800, 2, false), Codec::Pcmu);
        assert_eq!(rec.packets, 4);
        assert_eq!(rec.sequence_gaps, 2);
        assert_eq!(rec.ssrc_changes, 1);
        assert_eq!(rec.first_marker_bit, Some(true));
        assert_eq!(rec.duration_ms(), 120);
        assert_eq!(rec.samples.len(), 640);
    }
}
