//! A minimal RIFF/WAVE writer: mono, 16-bit PCM.

use std::io::{self, Write};

/// Encodes `samples` as a complete mono 16-bit PCM WAV file at `sample_rate` Hz.
pub fn encode(samples: &[i16], sample_rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

/// Writes `samples` to `path` as a WAV file.
pub fn write_file(path: &std::path::Path, samples: &[i16], sample_rate: u32) -> io::Result<()> {
    std::fs::File::create(path)?.write_all(&encode(samples, sample_rate))
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_sizes() {
        let bytes = super::encode(&[0, 1, -1], 8000);
        assert_eq!(bytes.len(), 44 + 6);
        assert_eq!(&bytes[40..44], &6u32.to_le_bytes());
        assert_eq!(&bytes[4..8], &42u32.to_le_bytes());
    }
}
