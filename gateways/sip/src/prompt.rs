//! The audio of a call: the code as tone bursts, encoded to G.711.
//!
//! For now the prompt is synthesised in code: a short silence, one DTMF-like two-tone burst per
//! digit with a pause after each, a longer pause standing in for "I repeat", and the digits again.
//! Spoken prompts per language (espeak-ng generated G.711 assets) replace the tones later; the
//! frame layout below is what the tests count packets against.

/// Samples (= bytes of G.711) in one 20 ms frame at 8 kHz.
pub const SAMPLES_PER_FRAME: usize = 160;
/// Silence before the first digit.
pub const INTRO_FRAMES: usize = 10;
/// One digit's tone burst (200 ms).
pub const TONE_FRAMES: usize = 10;
/// Silence after each digit (100 ms).
pub const GAP_FRAMES: usize = 5;
/// Silence between the two readings ("I repeat").
pub const REPEAT_PAUSE_FRAMES: usize = 25;

/// One frame of linear 16-bit PCM.
pub type Frame = [i16; SAMPLES_PER_FRAME];

/// How many 20 ms frames the prompt for a code with `digits` digits lasts.
pub fn frame_count(digits: usize) -> usize {
    INTRO_FRAMES + 2 * digits * (TONE_FRAMES + GAP_FRAMES) + REPEAT_PAUSE_FRAMES
}

/// The prompt for `code` as PCM frames; characters other than ASCII digits are skipped.
pub fn frames(code: &str) -> Vec<Frame> {
    let digits: Vec<u8> = code.bytes().filter(u8::is_ascii_digit).collect();
    let mut out = Vec::with_capacity(frame_count(digits.len()));
    silence(&mut out, INTRO_FRAMES);
    for reading in 0..2 {
        if reading == 1 {
            silence(&mut out, REPEAT_PAUSE_FRAMES);
        }
        for &digit in &digits {
            tone(&mut out, digit);
            silence(&mut out, GAP_FRAMES);
        }
    }
    out
}

fn silence(out: &mut Vec<Frame>, frames: usize) {
    out.extend(std::iter::repeat_n([0i16; SAMPLES_PER_FRAME], frames));
}

/// The DTMF row and column frequencies of a digit.
fn dtmf(digit: u8) -> (f64, f64) {
    const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f64; 3] = [1209.0, 1336.0, 1477.0];
    match digit {
        b'0' => (ROWS[3], COLS[1]),
        d => {
            let i = usize::from(d - b'1');
            (ROWS[i / 3], COLS[i % 3])
        }
    }
}

fn tone(out: &mut Vec<Frame>, digit: u8) {
    let (low, high) = dtmf(digit);
    let step = std::f64::consts::TAU / 8000.0;
    for f in 0..TONE_FRAMES {
        let mut frame = [0i16; SAMPLES_PER_FRAME];
        for (i, sample) in frame.iter_mut().enumerate() {
            let t = (f * SAMPLES_PER_FRAME + i) as f64;
            *sample = (8000.0 * ((low * step * t).sin() + (high * step * t).sin())) as i16;
        }
        out.push(frame);
    }
}

/// G.711 µ-law (payload type 0).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    s = s.abs().min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// G.711 A-law (payload type 8), for trunks that answer with PCMA only.
pub fn linear_to_alaw(sample: i16) -> u8 {
    const SEGMENT_ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let mut value = i32::from(sample) >> 3;
    let mask = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    let Some(segment) = SEGMENT_ENDS.iter().position(|&end| value <= end) else {
        return 0x7F ^ mask;
    };
    let shift = if segment < 2 { 1 } else { segment };
    let alaw = ((segment as i32) << 4) | ((value >> shift) & 0x0F);
    (alaw as u8) ^ mask
}

/// Encodes one PCM frame for an RTP payload type (0 = PCMU, 8 = PCMA).
pub fn encode(frame: &Frame, payload_type: u8) -> Vec<u8> {
    let encode = if payload_type == 8 {
        linear_to_alaw
    } else {
        linear_to_ulaw
    };
    frame.iter().map(|&s| encode(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_matches_g711_reference_points() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_ulaw(1000), 0xCE);
    }

    #[test]
    fn alaw_matches_g711_reference_points() {
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-8), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn prompt_reads_the_digits_twice() {
        assert_eq!(frames("123456").len(), frame_count(6));
        assert_eq!(frame_count(6), 10 + 2 * 6 * 15 + 25);
        assert_eq!(frames("12-34").len(), frame_count(4));
        assert!(frames("5")[INTRO_FRAMES].iter().any(|&s| s != 0));
    }
}
