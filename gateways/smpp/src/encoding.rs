//! Text → `submit_sm` PDUs: alphabet choice, concatenation and addressing.
//!
//! rusmpp-extra does the alphabets (GSM 03.38 default alphabet, UCS2) and the splitting; this
//! module picks the alphabet and the part sizes the handsets expect, builds the concatenation
//! UDH, and sets the TON/NPI of both addresses.
use otpgate_gateway::GatewayError;
use rusmpp::extra::concatenation::{Concatenation, Concatenator};
use rusmpp::extra::encoding::gsm7bit::Gsm7BitUnpacked;
use rusmpp::extra::encoding::ucs2::Ucs2;
use rusmpp::pdus::SubmitSm;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::udhs::concatenation::ConcatenatedShortMessageType;
use rusmpp::values::{DataCoding, EsmClass, Npi, RegisteredDelivery, Ton};

/// One SMS holds 160 GSM characters, sent unpacked as one septet per octet; the SMSC packs them.
const GSM_SINGLE: usize = 160;
/// A concatenated part holds 153: the 6-octet UDH occupies 7 septets once packed. rusmpp-extra's
/// multipart builder would reserve 6 (the UDH's octet length) and cut 154-character parts, which
/// overflow a packed 140-octet SMS; so we call its splitter with the septet size ourselves.
const GSM_UDH_SEPTETS: usize = 7;
/// UCS2: 140 octets = 70 characters, 134 octets = 67 characters after the 6-octet UDH.
const UCS2_SINGLE_OCTETS: usize = 140;
const UDH_OCTETS: usize = 6;

/// How the sender is addressed (`source_addr` config key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub addr: String,
    pub ton: Ton,
    pub npi: Npi,
}

impl Source {
    /// Alphanumeric senders get TON 5 / NPI 0; international numbers (`+` or 10+ digits) TON 1 /
    /// NPI 1 without the `+`; short codes TON 3 (network specific) / NPI 0.
    pub fn parse(addr: &str) -> Result<Self, String> {
        let digits = addr.strip_prefix('+').unwrap_or(addr);
        if addr.is_empty() {
            return Err("source_addr is empty".into());
        }
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            if digits.len() > 20 {
                return Err(format!("source_addr {addr:?} is longer than 20 digits"));
            }
            let international = addr.starts_with('+') || digits.len() >= 10;
            return Ok(Self {
                addr: digits.to_owned(),
                ton: if international {
                    Ton::International
                } else {
                    Ton::NetworkSpecific
                },
                npi: if international { Npi::Isdn } else { Npi::Unknown },
            });
        }
        // GSM 03.40 allows 11 characters for an alphanumeric originator.
        if addr.chars().count() > 11 || !addr.is_ascii() {
            return Err(format!(
                "source_addr {addr:?}: an alphanumeric sender is at most 11 ASCII characters"
            ));
        }
        Ok(Self {
            addr: addr.to_owned(),
            ton: Ton::Alphanumeric,
            npi: Npi::Unknown,
        })
    }
}

/// Which alphabet a text went out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// GSM 03.38 default alphabet, data_coding 0.
    Gsm,
    /// UCS2 (UTF-16BE, BMP only), data_coding 8.
    Ucs2,
}

/// The PDUs for one message: one `submit_sm`, or several carrying a concatenation UDH.
#[derive(Debug)]
pub struct Encoded {
    pub alphabet: Alphabet,
    pub parts: Vec<SubmitSm>,
}

/// Builds the `submit_sm`(s) for `text` to `to` (E.164, with or without `+`). `reference` tells
/// the handset which parts belong together; it only needs to differ between recent long
/// messages to the same number.
pub fn encode(text: &str, source: &Source, to: &str, reference: u8) -> Result<Encoded, GatewayError> {
    let to = to.strip_prefix('+').unwrap_or(to);
    let invalid = |what: &str| GatewayError::permanent("invalid_message", what.to_owned());
    let destination = to
        .parse::<COctetString<1, 21>>()
        .map_err(|_| invalid("destination is not a valid address"))?;
    let source_addr = source
        .addr
        .parse::<COctetString<1, 21>>()
        .map_err(|_| invalid("source_addr is not valid"))?;

    let gsm = Gsm7BitUnpacked::new();
    let (alphabet, split) = match gsm.concatenate(text, GSM_SINGLE, GSM_UDH_SEPTETS) {
        Ok(split) => (Alphabet::Gsm, split),
        // Not representable in the GSM alphabet (or split would break an escape): UCS2.
        Err(_) => {
            let split = Ucs2::new()
                .concatenate(text, UCS2_SINGLE_OCTETS, UDH_OCTETS)
                .map_err(|e| invalid(&format!("text cannot be encoded as UCS2: {e}")))?;
            (Alphabet::Ucs2, split)
        }
    };
    let data_coding = match alphabet {
        Alphabet::Gsm => DataCoding::McSpecific,
        Alphabet::Ucs2 => DataCoding::Ucs2,
    };
    let base = SubmitSm::builder()
        .source_addr_ton(source.ton)
        .source_addr_npi(source.npi)
        .source_addr(source_addr)
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(destination)
        .esm_class(EsmClass::default())
        // 0x01: a receipt on final success or failure, nothing intermediate.
        .registered_delivery(RegisteredDelivery::from(0x01))
        .data_coding(data_coding);

    let parts = match split.0 {
        Concatenation::Single(bytes) => {
            let short_message = OctetString::from_vec(bytes).map_err(|_| invalid("message too long"))?;
            vec![base.short_message(short_message).build()]
        }
        Concatenation::Concatenated(chunks) => {
            let total = u8::try_from(chunks.len()).map_err(|_| invalid("message needs more than 255 parts"))?;
            let kind = ConcatenatedShortMessageType::u8(reference);
            let mut parts = Vec::with_capacity(chunks.len());
            for (i, chunk) in chunks.into_iter().enumerate() {
                let udh = kind.concatenated_short_message_unchecked(total, i as u8 + 1);
                let mut payload = Vec::with_capacity(udh.udh_length() + chunk.len());
                payload.extend_from_slice(udh.udh_bytes().as_bytes());
                payload.extend_from_slice(&chunk);
                let short_message = OctetString::from_vec(payload).map_err(|_| invalid("part too long"))?;
                parts.push(
                    base.clone()
                        .esm_class(EsmClass::default().with_udhi_indicator())
                        .short_message(short_message)
                        .build(),
                );
            }
            parts
        }
    };
    Ok(Encoded { alphabet, parts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(sm: &SubmitSm) -> Vec<u8> {
        sm.short_message().as_ref().to_vec()
    }

    #[test]
    fn senders_get_the_right_ton_and_npi() {
        assert_eq!(Source::parse("OTPGATE").unwrap().ton, Ton::Alphanumeric);
        let intl = Source::parse("+14155550100").unwrap();
        assert_eq!(
            (intl.addr.as_str(), intl.ton, intl.npi),
            ("14155550100", Ton::International, Npi::Isdn)
        );
        let short = Source::parse("12345").unwrap();
        assert_eq!((short.ton, short.npi), (Ton::NetworkSpecific, Npi::Unknown));
        assert!(Source::parse("TWELVE-CHARS").is_err());
        assert!(Source::parse("").is_err());
    }

    #[test]
    fn an_otp_in_gsm_is_one_unpacked_part_with_data_coding_0() {
        let source = Source::parse("OTPGATE").unwrap();
        let encoded = encode("Your Acme verification code is 123456", &source, "+14155550100", 1).unwrap();
        assert_eq!(encoded.alphabet, Alphabet::Gsm);
        assert_eq!(encoded.parts.len(), 1);
        let sm = &encoded.parts[0];
        assert_eq!(sm.data_coding, DataCoding::McSpecific);
        assert_eq!(text_of(sm), b"Your Acme verification code is 123456");
        assert_eq!(sm.destination_addr.as_str(), "14155550100");
        assert_eq!((sm.dest_addr_ton, sm.dest_addr_npi), (Ton::International, Npi::Isdn));
        assert_eq!(u8::from(sm.registered_delivery) & 0x03, 1);
    }

    #[test]
    fn gsm_fits_160_in_one_and_splits_161_into_153_plus_8() {
        let source = Source::parse("OTPGATE").unwrap();
        assert_eq!(
            encode(&"a".repeat(160), &source, "14155550100", 1).unwrap().parts.len(),
            1
        );
        let parts = encode(&"a".repeat(161), &source, "14155550100", 9).unwrap().parts;
        assert_eq!(parts.len(), 2);
        assert_eq!(
            text_of(&parts[0]),
            [&[5u8, 0, 3, 9, 2, 1][..], &[b'a'; 153][..]].concat()
        );
        assert_eq!(text_of(&parts[1]), [&[5u8, 0, 3, 9, 2, 2][..], &[b'a'; 8][..]].concat());
        assert_eq!(u8::from(parts[0].esm_class) & 0x40, 0x40);
    }

    #[test]
    fn arabic_goes_out_as_ucs2_in_67_character_parts() {
        let source = Source::parse("OTPGATE").unwrap();
        let text: String = "رمز التحقق الخاص بك هو ".chars().cycle().take(200).collect();
        let encoded = encode(&text, &source, "971501234567", 7).unwrap();
        assert_eq!(encoded.alphabet, Alphabet::Ucs2);
        assert_eq!(encoded.parts.len(), 3); // 67 + 67 + 66
        let mut rebuilt = Vec::new();
        for (i, sm) in encoded.parts.iter().enumerate() {
            assert_eq!(sm.data_coding, DataCoding::Ucs2);
            let bytes = text_of(sm);
            assert_eq!(&bytes[..6], &[5, 0, 3, 7, 3, i as u8 + 1]);
            if i < 2 {
                assert_eq!(bytes.len() - 6, 134);
            }
            rebuilt.extend(bytes[6..].chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])));
        }
        assert_eq!(String::from_utf16(&rebuilt).unwrap(), text);
    }

    #[test]
    fn a_short_ucs2_text_is_one_part_of_70_characters_at_most() {
        let source = Source::parse("OTPGATE").unwrap();
        let text: String = "ك".repeat(70);
        let encoded = encode(&text, &source, "971501234567", 1).unwrap();
        assert_eq!((encoded.alphabet, encoded.parts.len()), (Alphabet::Ucs2, 1));
        assert_eq!(encoded.parts[0].short_message().len(), 140);
    }
}
