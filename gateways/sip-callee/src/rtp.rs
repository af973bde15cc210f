//! RTP (RFC 3550) reception: header parsing, the per-call recorder that counts packets,
//! sequence gaps and SSRC changes and decodes the G.711 payload for the WAV file, and the media
//! task of a call (with `--nat-media`, also the callee's own RTP, sent from another port).

use crate::sdp::Codec;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

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
    /// Packets that arrived on the port the callee's own RTP leaves from (`--nat-media`).
    pub packets_at_media_source: u64,
    first_timestamp: Option<u32>,
    last_timestamp: u32,
    last_packet_samples: u32,
    last_sequence: Option<u16>,
    ssrc: Option<u32>,
}

impl Recorder {
    /// Records one datagram; non-RTP datagrams and other payload types are ignored (false).
    pub fn record(&mut self, packet: &[u8], codec: Codec) -> bool {
        let Some((header, payload)) = parse(packet) else {
            return false;
        };
        if header.payload_type != codec.payload_type() {
            return false;
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
        true
    }

    /// Duration from the RTP timestamps (8 kHz clock), including the last packet's own length.
    pub fn duration_ms(&self) -> u64 {
        let Some(first) = self.first_timestamp else { return 0 };
        let ticks = u64::from(self.last_timestamp.wrapping_sub(first)) + u64::from(self.last_packet_samples);
        ticks / 8
    }
}

/// `--nat-media`: the socket the callee's own RTP leaves from, and where it goes (the offer's
/// address). Behind a NAT this is the only port the caller can reach the callee at.
pub struct MediaSource {
    pub socket: UdpSocket,
    pub destination: SocketAddr,
}

/// Records the call's RTP until `stop`: what reaches the SDP port and, with a [`MediaSource`],
/// what reaches the port the callee sends its own RTP from (silence, 20 ms packets).
pub async fn receive_media(
    socket: UdpSocket,
    source: Option<MediaSource>,
    codec: Codec,
    mut stop: oneshot::Receiver<()>,
) -> Recorder {
    let mut recorder = Recorder::default();
    let mut buf = [0u8; 2048];
    let mut source_buf = [0u8; 2048];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut outgoing = Outgoing::new(codec);
    let sending = source.is_some();
    loop {
        let from_source = async {
            match &source {
                Some(source) => source.socket.recv_from(&mut source_buf).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                if let Ok((len, _)) = received {
                    recorder.record(&buf[..len], codec);
                }
            }
            received = from_source => {
                if let Ok((len, _)) = received {
                    if recorder.record(&source_buf[..len], codec) {
                        recorder.packets_at_media_source += 1;
                    }
                }
            }
            _ = tick.tick(), if sending => {
                if let Some(source) = &source {
                    let _ = source.socket.send_to(&outgoing.next(), source.destination).await;
                }
            }
            _ = &mut stop => break,
        }
    }
    // Whatever arrived before the BYE is already queued on the sockets: take it too.
    while let Ok((len, _)) = socket.try_recv_from(&mut buf) {
        recorder.record(&buf[..len], codec);
    }
    if let Some(source) = &source {
        while let Ok((len, _)) = source.socket.try_recv_from(&mut source_buf) {
            if recorder.record(&source_buf[..len], codec) {
                recorder.packets_at_media_source += 1;
            }
        }
    }
    recorder
}

/// The callee's own RTP stream: 20 ms of G.711 silence per packet.
struct Outgoing {
    codec: Codec,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
}

impl Outgoing {
    fn new(codec: Codec) -> Outgoing {
        Outgoing {
            codec,
            sequence: rand::random(),
            timestamp: rand::random(),
            ssrc: rand::random(),
        }
    }

    fn next(&mut self) -> Vec<u8> {
        let silence = match self.codec {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        };
        let mut packet = vec![0x80, self.codec.payload_type()];
        packet.extend_from_slice(&self.sequence.to_be_bytes());
        packet.extend_from_slice(&self.timestamp.to_be_bytes());
        packet.extend_from_slice(&self.ssrc.to_be_bytes());
        packet.extend_from_slice(&[silence; 160]);
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(160);
        packet
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
