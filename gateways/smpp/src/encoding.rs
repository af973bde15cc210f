//! Text → `submit_sm` PDUs: alphabet choice, concatenation and addressing.
//!
//! rusmpp-extra does the GSM 03.38 default alphabet and its splitting; this module picks the
//! alphabet and the part sizes the handsets expect, encodes UCS2 itself (see [`utf16_parts`]),
//! builds the concatenation UDH, and sets every field of the `submit_sm` explicitly.
use otpgate_gateway::GatewayError;
use rusmpp::extra::concatenation::{Concatenation, Concatenator};
use rusmpp::extra::encoding::gsm7bit::Gsm7BitUnpacked;
use rusmpp::pdus::SubmitSm;
use rusmpp::types::{COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::udhs::concatenation::ConcatenatedShortMessageType;
use rusmpp::values::{
    DataCoding, EsmClass, Npi, PriorityFlag, RegisteredDelivery, ReplaceIfPresentFlag, ServiceType, Ton,
};

/// One SMS holds 160 GSM characters, sent unpacked as one septet per octet; the SMSC packs them.
const GSM_SINGLE: usize = 160;
/// A concatenated part holds 153: the 6-octet UDH occupies 7 septets once packed. rusmpp-extra's
/// multipart builder would reserve 6 (the UDH's octet length) and cut 154-character parts, which
/// overflow a packed 140-octet SMS; so we call its splitter with the septet size ourselves.
const GSM_UDH_SEPTETS: usize = 7;
/// UCS2: 140 octets = 70 UTF-16 code units, 134 octets = 67 after the 6-octet UDH.
const UCS2_SINGLE_UNITS: usize = 70;
const UCS2_PART_UNITS: usize = 67;

/// esm_class of a plain submit_sm (§5.2.12): default SMSC mode (bits 1-0 = 00), default message
/// type (bits 5-2 = 0000), no GSM features. rusmpp's `EsmClass::default()` sets bit 3 (0x08, in
/// a submit_sm "ESME delivery acknowledgement"), so the value is spelled out here.
pub const ESM_CLASS_DEFAULT: u8 = 0x00;
/// The same with the UDH indicator (bit 6): short_message starts with a user data header.
pub const ESM_CLASS_UDHI: u8 = 0x40;
/// registered_delivery (§5.2.17): an SMSC delivery receipt on final success or failure (bits
/// 1-0 = 01), no SME acknowledgement, no intermediate notification.
pub const REGISTERED_DELIVERY_FINAL: u8 = 0x01;

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
    /// UCS2, data_coding 8: UTF-16BE, characters outside the BMP as surrogate pairs.
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
        Ok((Concatenation::Single(bytes), _)) => (Alphabet::Gsm, vec![bytes]),
        Ok((Concatenation::Concatenated(parts), _)) => (Alphabet::Gsm, parts),
        // Not representable in the GSM alphabet: UCS2.
        Err(_) => (Alphabet::Ucs2, utf16_parts(text)),
    };
    let data_coding = match alphabet {
        // 0: the SMSC default alphabet, GSM 03.38 for every SMSC we know (§5.2.19).
        Alphabet::Gsm => DataCoding::McSpecific,
        Alphabet::Ucs2 => DataCoding::Ucs2,
    };
    // Every field of §4.4.1 in order, none left to a builder default.
    let base = SubmitSm::builder()
        .service_type(ServiceType::default())
        .source_addr_ton(source.ton)
        .source_addr_npi(source.npi)
        .source_addr(source_addr)
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(destination)
        .esm_class(EsmClass::from(ESM_CLASS_DEFAULT))
        .protocol_id(0)
        .priority_flag(PriorityFlag::from(0))
        .schedule_delivery_time(EmptyOrFullCOctetString::empty())
        .validity_period(EmptyOrFullCOctetString::empty())
        .registered_delivery(RegisteredDelivery::from(REGISTERED_DELIVERY_FINAL))
        .replace_if_present_flag(ReplaceIfPresentFlag::DoNotReplace)
        .data_coding(data_coding)
        .sm_default_msg_id(0);

    let parts = if let [single] = &split[..] {
        let short_message = OctetString::from_vec(single.clone()).map_err(|_| invalid("message too long"))?;
        vec![base.short_message(short_message).build()]
    } else {
        let total = u8::try_from(split.len()).map_err(|_| invalid("message needs more than 255 parts"))?;
        let kind = ConcatenatedShortMessageType::u8(reference);
        let mut parts = Vec::with_capacity(split.len());
        for (i, chunk) in split.into_iter().enumerate() {
            let udh = kind.concatenated_short_message_unchecked(total, i as u8 + 1);
            let mut payload = Vec::with_capacity(udh.udh_length() + chunk.len());
            payload.extend_from_slice(udh.udh_bytes().as_bytes());
            payload.extend_from_slice(&chunk);
            let short_message = OctetString::from_vec(payload).map_err(|_| invalid("part too long"))?;
            parts.push(
                base.clone()
                    .esm_class(EsmClass::from(ESM_CLASS_UDHI))
                    .short_message(short_message)
                    .build(),
            );
        }
        parts
    };
    Ok(Encoded { alphabet, parts })
}

/// `text` as UCS2 short_message payloads: one of up to 70 UTF-16 code units, or parts of up to
/// 67 behind a concatenation UDH.
///
/// Handsets read data_coding 8 as UTF-16BE (3GPP TS 23.038 §6.2.3 points at ISO/IEC 10646, and
/// every handset since UCS2 was defined decodes surrogate pairs), so a character outside the
/// Basic Multilingual Plane — an emoji in an application's name — goes out as a surrogate pair.
/// rusmpp-extra's `Ucs2` is strict UCS-2 and refuses such characters, hence this function (std's
/// `encode_utf16` does the encoding). A part never ends between the two halves of a pair: a
/// part that would is cut one unit short and the pair starts the next part.
pub fn utf16_parts(text: &str) -> Vec<Vec<u8>> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let to_bytes = |units: &[u16]| units.iter().flat_map(|u| u.to_be_bytes()).collect::<Vec<u8>>();
    if units.len() <= UCS2_SINGLE_UNITS {
        return vec![to_bytes(&units)];
    }
    let mut parts = Vec::new();
    let mut rest = &units[..];
    while !rest.is_empty() {
        let mut end = rest.len().min(UCS2_PART_UNITS);
        if end < rest.len() && is_high_surrogate(rest[end - 1]) {
            end -= 1;
        }
        parts.push(to_bytes(&rest[..end]));
        rest = &rest[end..];
    }
    parts
}

fn is_high_surrogate(unit: u16) -> bool {
    (0xD800..=0xDBFF).contains(&unit)
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

    #[test]
    fn esm_class_is_default_mode_single_and_udhi_only_with_a_udh() {
        let source = Source::parse("OTPGATE").unwrap();
        let single = encode("Your code is 1234", &source, "34600000000", 1).unwrap().parts;
        assert_eq!(u8::from(single[0].esm_class), 0x00);
        let ucs2 = encode("Код 1234", &source, "34600000000", 1).unwrap().parts;
        assert_eq!(u8::from(ucs2[0].esm_class), 0x00);
        for part in encode(&"a".repeat(200), &source, "34600000000", 1).unwrap().parts {
            assert_eq!(u8::from(part.esm_class), 0x40);
        }
    }

    /// UTF-16 code units of a part's user data (after the UDH when `udh`).
    fn units(sm: &SubmitSm, udh: bool) -> Vec<u16> {
        let bytes = text_of(sm);
        let data = if udh { &bytes[6..] } else { &bytes[..] };
        data.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect()
    }

    #[test]
    fn an_emoji_in_the_brand_goes_out_as_a_surrogate_pair() {
        let source = Source::parse("OTPGATE").unwrap();
        let text = "Your Pizza 🍕 verification code is 123456";
        let encoded = encode(text, &source, "34600000000", 1).unwrap();
        assert_eq!((encoded.alphabet, encoded.parts.len()), (Alphabet::Ucs2, 1));
        let units = units(&encoded.parts[0], false);
        assert_eq!(units.len(), text.chars().count() + 1, "🍕 is two code units");
        assert!(
            units.contains(&0xD83C) && units.contains(&0xDF55),
            "U+1F355 = D83C DF55"
        );
        assert_eq!(String::from_utf16(&units).unwrap(), text);
    }

    #[test]
    fn segment_counts_follow_utf16_code_units() {
        let source = Source::parse("OTPGATE").unwrap();
        // 35 emoji = 70 units: one part of 140 octets; 36 = 72 units: two parts.
        let one = encode(&"😀".repeat(35), &source, "34600000000", 1).unwrap().parts;
        assert_eq!((one.len(), one[0].short_message().len()), (1, 140));
        let two = encode(&"😀".repeat(36), &source, "34600000000", 1).unwrap().parts;
        assert_eq!(two.len(), 2);
        // 67 is odd: a part of pairs holds 33 of them (66 units), never half of the 34th.
        assert_eq!(units(&two[0], true).len(), 66);
        assert_eq!(units(&two[1], true).len(), 6);
    }

    #[test]
    fn no_part_ends_inside_a_surrogate_pair() {
        let source = Source::parse("OTPGATE").unwrap();
        // Shifting the pair's position by one unit at a time puts it on every part boundary.
        for lead in 60..70 {
            let text = format!("{}🍕 {}", "ك".repeat(lead), "رمز ".repeat(30));
            let parts = encode(&text, &source, "971501234567", 3).unwrap().parts;
            let mut rebuilt = Vec::new();
            for part in &parts {
                let units = units(part, true);
                assert!(units.len() <= 67);
                assert!(String::from_utf16(&units).is_ok(), "lead {lead}: a part splits a pair");
                rebuilt.extend(units);
            }
            assert_eq!(String::from_utf16(&rebuilt).unwrap(), text);
        }
    }
}
