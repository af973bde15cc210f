//! What a call says: "Your verification code is 1 2 3 4 5 6. I repeat: 1 2 3 4 5 6", spoken in
//! the verification's language, as 20 ms frames of G.711.
//!
//! The words are recordings made once with espeak-ng (`prompts/generate.sh`, which also
//! regenerates them) and stored as raw G.711 µ-law at 8 kHz: that is PCMU's wire format, so a
//! PCMU call sends the bytes as they are and a PCMA call transcodes them sample by sample. They
//! are compiled into the binary, so a deployment has no asset path to get wrong.
//!
//! Layout: a short lead-in of silence, the intro, then each digit followed by a pause, the
//! "I repeat" phrase, and each digit with its pause again. Every clip is padded with silence to
//! whole frames, so the frame count is the sum of the parts ([`frame_count`]).

/// Samples (= bytes of G.711) in one 20 ms frame at 8 kHz.
pub const SAMPLES_PER_FRAME: usize = 160;
/// Silence before the intro, so the callee's ear is at the phone when the words start (300 ms).
pub const LEAD_FRAMES: usize = 15;
/// Silence after the intro, after each digit and after "I repeat" (400 ms).
pub const PAUSE_FRAMES: usize = 20;
/// G.711 µ-law silence (linear 0).
pub const ULAW_SILENCE: u8 = 0xFF;

/// One frame of G.711 µ-law.
pub type Frame = [u8; SAMPLES_PER_FRAME];

/// The languages the prompts are recorded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Spanish,
    Arabic,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::English, Language::Spanish, Language::Arabic];

    /// The language of a verification's locale (`es`, `es-MX`, `ar_EG`, ...); English for any
    /// language without recordings.
    pub fn from_locale(locale: &str) -> Self {
        let language = locale.split(['-', '_']).next().unwrap_or_default();
        match language.to_ascii_lowercase().as_str() {
            "es" => Language::Spanish,
            "ar" => Language::Arabic,
            _ => Language::English,
        }
    }

    /// The ISO 639-1 code, as used for the recordings' folder names.
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Spanish => "es",
            Language::Arabic => "ar",
        }
    }

    fn clips(self) -> &'static Clips {
        match self {
            Language::English => &EN,
            Language::Spanish => &ES,
            Language::Arabic => &AR,
        }
    }
}

/// One language's recordings, raw µ-law.
struct Clips {
    intro: &'static [u8],
    repeat: &'static [u8],
    digits: [&'static [u8]; 10],
}

macro_rules! clips {
    ($lang:literal) => {
        Clips {
            intro: include_bytes!(concat!("../prompts/", $lang, "/intro.ulaw")),
            repeat: include_bytes!(concat!("../prompts/", $lang, "/repeat.ulaw")),
            digits: [
                include_bytes!(concat!("../prompts/", $lang, "/0.ulaw")),
                include_bytes!(concat!("../prompts/", $lang, "/1.ulaw")),
                include_bytes!(concat!("../prompts/", $lang, "/2.ulaw")),
                include_bytes!(concat!("../prompts/", $lang, "/3.ulaw")),
                include_bytes!(concat!("../prompts/", $lang, "/4.ulaw")),
                include_bytes!(concat!("../prompts/", $lang, "/5.ulaw")),
                include_bytes!(concat!("../prompts/", $lang, "/6.ulaw")),
                include_bytes!(concat!("../prompts/", $lang, "/7.ulaw")),
                include_bytes!(concat!("../prompts/", $lang, "/8.ulaw")),
                include_bytes!(concat!("../prompts/", $lang, "/9.ulaw")),
            ],
        }
    };
}

static EN: Clips = clips!("en");
static ES: Clips = clips!("es");
static AR: Clips = clips!("ar");

/// A piece of the prompt: a recording or a pause of some frames.
enum Part {
    Clip(&'static [u8]),
    Pause(usize),
}

impl Part {
    fn frames(&self) -> usize {
        match self {
            Part::Clip(clip) => clip.len().div_ceil(SAMPLES_PER_FRAME),
            Part::Pause(frames) => *frames,
        }
    }
}

/// The prompt for `code` in `language`, as a list of parts; characters other than ASCII digits
/// are skipped.
fn parts(code: &str, language: Language) -> Vec<Part> {
    let clips = language.clips();
    let digits: Vec<&'static [u8]> = code
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|d| clips.digits[usize::from(d - b'0')])
        .collect();
    let mut parts = vec![
        Part::Pause(LEAD_FRAMES),
        Part::Clip(clips.intro),
        Part::Pause(PAUSE_FRAMES),
    ];
    for reading in 0..2 {
        if reading == 1 {
            parts.push(Part::Clip(clips.repeat));
            parts.push(Part::Pause(PAUSE_FRAMES));
        }
        for &digit in &digits {
            parts.push(Part::Clip(digit));
            parts.push(Part::Pause(PAUSE_FRAMES));
        }
    }
    parts
}

/// How many 20 ms frames the prompt for `code` in `language` lasts.
pub fn frame_count(code: &str, language: Language) -> usize {
    parts(code, language).iter().map(Part::frames).sum()
}

/// The prompt for `code` in `language` as µ-law frames.
pub fn frames(code: &str, language: Language) -> Vec<Frame> {
    let parts = parts(code, language);
    let mut out = Vec::with_capacity(parts.iter().map(Part::frames).sum());
    for part in parts {
        match part {
            Part::Pause(frames) => out.extend(std::iter::repeat_n([ULAW_SILENCE; SAMPLES_PER_FRAME], frames)),
            Part::Clip(clip) => out.extend(clip.chunks(SAMPLES_PER_FRAME).map(|chunk| {
                let mut frame = [ULAW_SILENCE; SAMPLES_PER_FRAME];
                frame[..chunk.len()].copy_from_slice(chunk);
                frame
            })),
        }
    }
    out
}

/// Reads the digits back out of a bit-exact recording of a prompt (16-bit PCM, as a callee
/// decodes PCMU): the code when `samples` is exactly the prompt for it in `language`, else
/// `None`. Speech recognition for the one speaker we know — tests and simulators use it to
/// prove the right code reached the phone.
pub fn read_back(samples: &[i16], language: Language) -> Option<String> {
    let clips = language.clips();
    let padded = |clip: &[u8]| -> Vec<i16> {
        let mut pcm: Vec<i16> = clip.iter().map(|&u| ulaw_to_linear(u)).collect();
        pcm.resize(clip.len().div_ceil(SAMPLES_PER_FRAME) * SAMPLES_PER_FRAME, 0);
        pcm
    };
    let pause = |frames: usize| vec![0i16; frames * SAMPLES_PER_FRAME];
    let digits: Vec<Vec<i16>> = clips.digits.iter().map(|d| padded(d)).collect();
    let mut rest = samples.strip_prefix(&pause(LEAD_FRAMES)[..])?;
    rest = rest.strip_prefix(&padded(clips.intro)[..])?;
    rest = rest.strip_prefix(&pause(PAUSE_FRAMES)[..])?;
    let repeat = [padded(clips.repeat), pause(PAUSE_FRAMES)].concat();
    let mut readings = vec![String::new()];
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(&repeat[..]) {
            readings.push(String::new());
            rest = after;
            continue;
        }
        let (digit, clip) = digits.iter().enumerate().find(|(_, clip)| rest.starts_with(clip))?;
        rest = rest[clip.len()..].strip_prefix(&pause(PAUSE_FRAMES)[..])?;
        readings.last_mut()?.push(char::from(b'0' + digit as u8));
    }
    match &readings[..] {
        [first, second] if first == second && !first.is_empty() => Some(first.clone()),
        _ => None,
    }
}

/// G.711 µ-law to linear 16-bit PCM (ITU-T G.711 expansion).
pub fn ulaw_to_linear(ulaw: u8) -> i16 {
    let u = !ulaw;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
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

/// µ-law byte → A-law byte, through linear PCM, computed once.
static ULAW_TO_ALAW: std::sync::LazyLock<[u8; 256]> =
    std::sync::LazyLock::new(|| std::array::from_fn(|u| linear_to_alaw(ulaw_to_linear(u as u8))));

/// Encodes one frame for the codec the callee chose: PCMU as recorded, PCMA (`alaw`) transcoded.
pub fn encode(frame: &Frame, alaw: bool) -> Vec<u8> {
    if alaw {
        frame.iter().map(|&u| ULAW_TO_ALAW[usize::from(u)]).collect()
    } else {
        frame.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_expands_to_g711_reference_points() {
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xCE), 988);
    }

    #[test]
    fn alaw_matches_g711_reference_points() {
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-8), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(encode(&[ULAW_SILENCE; SAMPLES_PER_FRAME], true), vec![0xD5; 160]);
    }

    #[test]
    fn locales_pick_the_recorded_language_or_english() {
        assert_eq!(Language::from_locale("es-MX"), Language::Spanish);
        assert_eq!(Language::from_locale("ES"), Language::Spanish);
        assert_eq!(Language::from_locale("ar_EG"), Language::Arabic);
        assert_eq!(Language::from_locale("en_US"), Language::English);
        assert_eq!(Language::from_locale("fr"), Language::English);
        assert_eq!(Language::from_locale(""), Language::English);
    }

    #[test]
    fn every_language_has_audible_recordings() {
        for language in Language::ALL {
            let clips = language.clips();
            for (name, clip) in [("intro", clips.intro), ("repeat", clips.repeat)]
                .into_iter()
                .chain(clips.digits.iter().map(|&d| ("digit", d)))
            {
                // At least 150 ms of audio, and not silence: espeak-ng wrote something.
                assert!(clip.len() >= 1200, "{}/{name}: {} bytes", language.code(), clip.len());
                let loud = clip
                    .iter()
                    .filter(|&&u| ulaw_to_linear(u).unsigned_abs() > 2000)
                    .count();
                assert!(loud > clip.len() / 20, "{}/{name} is nearly silent", language.code());
            }
        }
    }

    #[test]
    fn the_prompt_says_the_intro_the_digits_and_the_digits_again() {
        for language in Language::ALL {
            let clips = language.clips();
            let frames = frames("12-34", language);
            assert_eq!(frames.len(), frame_count("1234", language));
            let flat: Vec<u8> = frames.concat();
            let at = |frame: usize| &flat[frame * SAMPLES_PER_FRAME..];
            assert!(flat[..LEAD_FRAMES * SAMPLES_PER_FRAME]
                .iter()
                .all(|&u| u == ULAW_SILENCE));
            assert!(at(LEAD_FRAMES).starts_with(clips.intro));
            let first_digit = LEAD_FRAMES + Part::Clip(clips.intro).frames() + PAUSE_FRAMES;
            assert!(at(first_digit).starts_with(clips.digits[1]));
            let digit_frames: usize = [1, 2, 3, 4]
                .iter()
                .map(|&d| Part::Clip(clips.digits[d]).frames() + PAUSE_FRAMES)
                .sum();
            let repeat = first_digit + digit_frames;
            assert!(at(repeat).starts_with(clips.repeat));
            let second_reading = repeat + Part::Clip(clips.repeat).frames() + PAUSE_FRAMES;
            assert!(at(second_reading).starts_with(clips.digits[1]));
            assert_eq!(second_reading + digit_frames, frames.len());
        }
        assert_ne!(frames("5", Language::English), frames("5", Language::Spanish));
    }

    #[test]
    fn a_recording_reads_back_to_its_code_and_only_to_it() {
        let pcm = |code: &str, language| -> Vec<i16> {
            frames(code, language)
                .concat()
                .into_iter()
                .map(ulaw_to_linear)
                .collect()
        };
        for language in Language::ALL {
            for code in ["0123456789", "000000", "4711"] {
                assert_eq!(read_back(&pcm(code, language), language).as_deref(), Some(code));
            }
        }
        let heard = pcm("4711", Language::English);
        assert_eq!(read_back(&heard, Language::Spanish), None, "another language");
        assert_eq!(
            read_back(&heard[..heard.len() - 160], Language::English),
            None,
            "cut short"
        );
        let mut altered = heard.clone();
        altered[heard.len() / 2] ^= 0x100;
        assert_eq!(read_back(&altered, Language::English), None, "one sample changed");
    }
}
