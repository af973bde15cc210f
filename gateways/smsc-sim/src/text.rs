//! Reading what an ESME submitted: the user data header of concatenated parts and the text after
//! it, decoded by data_coding (GSM 03.38 unpacked, UCS-2 big-endian, Latin-1).
//!
//! Pure functions over byte slices; malformed input never panics, it degrades to `None` or to
//! U+FFFD so a record can still show what arrived.

use serde::Serialize;

/// The concatenation information element of a user data header (IEI 0x00 or 0x08).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Udh {
    /// Concatenated-message reference: 8-bit for IEI 0x00, 16-bit for IEI 0x08.
    pub reference: u16,
    /// Number of parts in the whole message.
    pub total: u8,
    /// This part's 1-based sequence number.
    pub part: u8,
}

/// Splits `short_message` into its header (when esm_class has UDHI set) and the user data that
/// follows it. A header that claims more bytes than exist yields `(None, whole message)`.
pub fn split_udh(short_message: &[u8], udhi: bool) -> (Option<Udh>, &[u8]) {
    if !udhi {
        return (None, short_message);
    }
    let Some((&header_length, rest)) = short_message.split_first() else {
        return (None, short_message);
    };
    let header_length = usize::from(header_length);
    if rest.len() < header_length {
        return (None, short_message);
    }
    let (header, payload) = rest.split_at(header_length);
    (concatenation_element(header), payload)
}

/// Walks the information elements of a header and returns the first concatenation element.
fn concatenation_element(mut header: &[u8]) -> Option<Udh> {
    while let [iei, length, rest @ ..] = header {
        let length = usize::from(*length);
        if rest.len() < length {
            return None;
        }
        let (data, next) = rest.split_at(length);
        match (iei, data) {
            (0x00, &[reference, total, part]) => {
                return Some(Udh {
                    reference: u16::from(reference),
                    total,
                    part,
                })
            }
            (0x08, &[high, low, total, part]) => {
                return Some(Udh {
                    reference: u16::from_be_bytes([high, low]),
                    total,
                    part,
                })
            }
            _ => header = next,
        }
    }
    None
}

/// Decodes user data by data_coding: 0 and 1 as GSM 03.38 unpacked (one septet per octet),
/// 3 as Latin-1, 8 as UCS-2 big-endian. Other codings are binary: `None`.
pub fn decode(data_coding: u8, user_data: &[u8]) -> Option<String> {
    match data_coding {
        0x00 | 0x01 => Some(decode_gsm7_unpacked(user_data)),
        0x03 => Some(user_data.iter().map(|&byte| char::from(byte)).collect()),
        0x08 => Some(decode_ucs2(user_data)),
        _ => None,
    }
}

/// UTF-16BE, so surrogate pairs (emoji) survive too; an odd trailing byte becomes U+FFFD.
fn decode_ucs2(bytes: &[u8]) -> String {
    let units = bytes.chunks(2).map(|pair| match pair {
        [high, low] => u16::from_be_bytes([*high, *low]),
        _ => 0xFFFD,
    });
    char::decode_utf16(units)
        .map(|unit| unit.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

const ESCAPE: u8 = 0x1B;

/// GSM 03.38 basic character set, indexed by septet.
const GSM_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{A0}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// GSM 03.38 extension table (the septet after 0x1B).
fn gsm_extension(septet: u8) -> Option<char> {
    Some(match septet {
        0x0A => '\u{0C}',
        0x14 => '^',
        0x28 => '{',
        0x29 => '}',
        0x2F => '\\',
        0x3C => '[',
        0x3D => '~',
        0x3E => ']',
        0x40 => '|',
        0x65 => '€',
        _ => return None,
    })
}

fn decode_gsm7_unpacked(septets: &[u8]) -> String {
    let mut text = String::with_capacity(septets.len());
    let mut bytes = septets.iter().map(|byte| byte & 0x7F);
    while let Some(septet) = bytes.next() {
        if septet != ESCAPE {
            text.push(GSM_BASIC[usize::from(septet)]);
            continue;
        }
        // 03.38: an unknown extension shows as the basic character; a trailing escape as a space.
        match bytes.next() {
            Some(extended) => text.push(gsm_extension(extended).unwrap_or(GSM_BASIC[usize::from(extended)])),
            None => text.push(' '),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm_basic_and_extension_characters() {
        let bytes = [0x48, 0x69, 0x20, 0x00, 0x1B, 0x65, 0x1B, 0x28, 0x11, 0x7D];
        assert_eq!(decode(0, &bytes).unwrap(), "Hi @€{_ñ");
        assert_eq!(decode(1, b"Code 1234").unwrap(), "Code 1234");
    }

    #[test]
    fn gsm_trailing_escape_is_a_space() {
        assert_eq!(decode(0, &[0x41, 0x1B]).unwrap(), "A ");
    }

    #[test]
    fn ucs2_with_surrogate_pair_and_odd_byte() {
        let bytes = [0x04, 0x1A, 0xD8, 0x3D, 0xDE, 0x00, 0x00];
        assert_eq!(decode(8, &bytes).unwrap(), "К😀\u{FFFD}");
    }

    #[test]
    fn latin1_and_binary() {
        assert_eq!(decode(3, &[0x63, 0x61, 0x66, 0xE9]).unwrap(), "café");
        assert_eq!(decode(4, &[1, 2, 3]), None);
    }

    #[test]
    fn udh_8bit_reference() {
        let message = [0x05, 0x00, 0x03, 0xAB, 0x03, 0x02, b'h', b'i'];
        let (udh, rest) = split_udh(&message, true);
        assert_eq!(
            udh,
            Some(Udh {
                reference: 0xAB,
                total: 3,
                part: 2
            })
        );
        assert_eq!(rest, b"hi");
    }

    #[test]
    fn udh_16bit_reference_after_another_element() {
        // A port-addressing element (IEI 0x05) first, then the 16-bit concatenation element.
        let message = [
            0x0C, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x08, 0x04, 0x12, 0x34, 0x02, 0x01, b'x',
        ];
        let (udh, rest) = split_udh(&message, true);
        assert_eq!(
            udh,
            Some(Udh {
                reference: 0x1234,
                total: 2,
                part: 1
            })
        );
        assert_eq!(rest, b"x");
    }

    #[test]
    fn udh_ignored_without_udhi_and_tolerated_when_truncated() {
        let message = [0x05, 0x00, 0x03, 0x01];
        assert_eq!(split_udh(&message, false), (None, &message[..]));
        assert_eq!(split_udh(&message, true), (None, &message[..]));
        assert_eq!(split_udh(&[], true), (None, &[][..]));
    }
}
