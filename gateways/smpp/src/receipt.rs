//! Delivery receipts: a `deliver_sm` or `data_sm` whose esm_class says "MC delivery receipt"
//! → (message id, outcome).
//!
//! SMPP 3.4 lets a receipt carry its data in several places, and SMSCs use all of them:
//! - the `receipted_message_id` and `message_state` TLVs (§5.3.2.12, §5.3.2.35) — they win when
//!   present;
//! - the de-facto text of Appendix B,
//!   `id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...`,
//!   in `short_message`, or in the `message_payload` TLV when `short_message` is empty
//!   (§5.2.21) — and data_sm (§4.7.1) has no `short_message` at all.
//!
//! rusmpp decodes the PDUs; nothing parses that text, hence this module.
use otpgate_gateway::Delivery;
use rusmpp::pdus::{DataSm, DeliverSm};
use rusmpp::tlvs::{Tlv, TlvValue};
use rusmpp::values::MessageState;

/// What a receipt says about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The SMSC's id for the message, as the receipt spells it (see [`id_forms`]).
    pub message_id: String,
    /// `DELIVRD`, `UNDELIV`, ... (the text spelling, also derived from `message_state`).
    pub stat: String,
    /// `None` for intermediate states (ENROUTE, ACCEPTD, UNKNOWN): wait for the final one.
    pub outcome: Option<Delivery>,
    pub error: Option<String>,
}

/// esm_class bits 5..2 = 0001: "MC Delivery Receipt" (§5.2.12, the same in deliver_sm and
/// data_sm).
fn is_receipt(esm_class: u8) -> bool {
    esm_class & 0b0011_1100 == 0b0000_0100
}

/// Reads a `deliver_sm`; `None` when it is not a receipt (a mobile-originated message) or
/// carries no message id or state.
pub fn from_deliver_sm(deliver_sm: &DeliverSm) -> Option<Receipt> {
    parse(
        u8::from(deliver_sm.esm_class),
        deliver_sm.short_message().as_ref(),
        deliver_sm.tlvs(),
    )
}

/// Reads a `data_sm` (its text, if any, is in `message_payload`); `None` as for
/// [`from_deliver_sm`].
pub fn from_data_sm(data_sm: &DataSm) -> Option<Receipt> {
    parse(u8::from(data_sm.esm_class), &[], data_sm.tlvs())
}

/// Reads receipt text alone (Appendix B form, as in a `short_message` with esm_class 0x04 and
/// no TLVs): the text decoder's entry, for the fuzz targets and their corpus replay; `None` as
/// for [`from_deliver_sm`].
pub fn from_text(short_message: &[u8]) -> Option<Receipt> {
    parse(0x04, short_message, &[])
}

fn parse(esm_class: u8, short_message: &[u8], tlvs: &[Tlv]) -> Option<Receipt> {
    if !is_receipt(esm_class) {
        return None;
    }
    let mut tlv_id = None;
    let mut tlv_state = None;
    let mut payload: &[u8] = &[];
    for tlv in tlvs {
        match tlv.value() {
            Some(TlvValue::ReceiptedMessageId(id)) => tlv_id = Some(id.as_str().to_owned()),
            Some(TlvValue::MessageState(state)) => tlv_state = Some(*state),
            Some(TlvValue::MessagePayload(p)) => payload = p.value.as_ref(),
            _ => {}
        }
    }
    let bytes = if short_message.is_empty() {
        payload
    } else {
        short_message
    };
    // The text is ASCII in practice; a stray GSM or Latin-1 octet must not hide the fields.
    let text = String::from_utf8_lossy(bytes);
    let fields = TextFields::parse(&text);
    let message_id = tlv_id.filter(|id| !id.is_empty()).or(fields.id.map(str::to_owned))?;
    let stat = match (tlv_state, fields.stat) {
        (Some(state), _) => stat_of_state(state).to_owned(),
        (None, Some(stat)) => stat.to_ascii_uppercase(),
        (None, None) => return None,
    };
    Some(Receipt {
        message_id,
        outcome: outcome_of(&stat),
        stat,
        error: fields
            .err
            .filter(|e| !e.trim_start_matches('0').is_empty())
            .map(str::to_owned),
    })
}

/// DELIVRD → delivered; UNDELIV / REJECTD / EXPIRED / DELETED → failed; anything else is not
/// final.
pub fn outcome_of(stat: &str) -> Option<Delivery> {
    match stat {
        "DELIVRD" => Some(Delivery::Delivered),
        "UNDELIV" | "REJECTD" | "EXPIRED" | "DELETED" => Some(Delivery::Failed),
        _ => None,
    }
}

fn stat_of_state(state: MessageState) -> &'static str {
    match state {
        MessageState::Delivered => "DELIVRD",
        MessageState::Expired => "EXPIRED",
        MessageState::Deleted => "DELETED",
        MessageState::Undeliverable => "UNDELIV",
        MessageState::Accepted => "ACCEPTD",
        MessageState::Rejected => "REJECTD",
        MessageState::Enroute => "ENROUTE",
        _ => "UNKNOWN",
    }
}

#[derive(Default)]
struct TextFields<'a> {
    id: Option<&'a str>,
    stat: Option<&'a str>,
    err: Option<&'a str>,
}

impl<'a> TextFields<'a> {
    fn parse(text: &'a str) -> Self {
        let mut fields = Self::default();
        // Keys are matched case-insensitively; `text:` ends the parse (free text follows).
        for token in text.split_ascii_whitespace() {
            let Some((key, value)) = token.split_once(':') else {
                continue;
            };
            match key.to_ascii_lowercase().as_str() {
                "id" if fields.id.is_none() && !value.is_empty() => fields.id = Some(value),
                "stat" => fields.stat = Some(value),
                "err" => fields.err = Some(value),
                "text" => break,
                _ => {}
            }
        }
        fields
    }
}

/// Every spelling under which an SMSC may refer to the same message id: the id itself
/// (lower-cased, leading zeros dropped) and, when it reads as a number, its other base. SMSCs
/// answer submit_sm with one base and write receipts in the other often enough that operators
/// keep per-carrier switches for it (Kannel's `msg-id-type`); registering both spares them that.
pub fn id_forms(id: &str) -> Vec<String> {
    let canonical = canonical(id);
    let mut forms = vec![canonical.clone()];
    let digits = canonical.as_str();
    if digits.len() <= 30 {
        if digits.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = digits.parse::<u128>() {
                forms.push(format!("{n:x}"));
            }
        } else if digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Ok(n) = u128::from_str_radix(digits, 16) {
                forms.push(n.to_string());
            }
        }
    }
    forms.dedup();
    forms
}

/// The primary spelling of an id, used for exact matches.
pub fn canonical(id: &str) -> String {
    let lower = id.trim().to_ascii_lowercase();
    let trimmed = lower.trim_start_matches('0');
    if trimmed.is_empty() && !lower.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusmpp::tlvs::{MessageDeliveryRequestTlvValue, MessageSubmissionRequestTlvValue, TlvTag};
    use rusmpp::types::{AnyOctetString, COctetString, OctetString};
    use rusmpp::values::{EsmClass, MessagePayload};

    fn deliver_sm(esm: u8, text: &str, tlvs: Vec<MessageDeliveryRequestTlvValue>) -> DeliverSm {
        DeliverSm::builder()
            .esm_class(EsmClass::from(esm))
            .short_message(OctetString::from_vec(text.as_bytes().to_vec()).unwrap())
            .tlvs(tlvs)
            .build()
    }

    const TEXT: &str =
        "id:0000001A sub:001 dlvrd:001 submit date:2611260910 done date:2611260911 stat:UNDELIV err:034 text:Your code";

    #[test]
    fn text_receipt_gives_id_stat_and_error() {
        let r = from_deliver_sm(&deliver_sm(0x04, TEXT, vec![])).unwrap();
        assert_eq!(r.message_id, "0000001A");
        assert_eq!((r.stat.as_str(), r.outcome), ("UNDELIV", Some(Delivery::Failed)));
        assert_eq!(r.error.as_deref(), Some("034"));
    }

    #[test]
    fn text_alone_reads_as_a_deliver_sm_receipt_would() {
        let r = from_text(TEXT.as_bytes()).unwrap();
        assert_eq!(Some(r), from_deliver_sm(&deliver_sm(0x04, TEXT, vec![])));
        assert_eq!(from_text(b"stat:DELIVRD text:id:9"), None, "no id before text:");
    }

    #[test]
    fn tlvs_win_over_the_text() {
        let tlvs = vec![
            MessageDeliveryRequestTlvValue::ReceiptedMessageId("26".parse::<COctetString<1, 65>>().unwrap()),
            MessageDeliveryRequestTlvValue::MessageState(MessageState::Delivered),
        ];
        let r = from_deliver_sm(&deliver_sm(0x04, TEXT, tlvs)).unwrap();
        assert_eq!((r.message_id.as_str(), r.stat.as_str()), ("26", "DELIVRD"));
        assert_eq!(r.outcome, Some(Delivery::Delivered));
    }

    #[test]
    fn final_and_intermediate_states() {
        for (stat, outcome) in [
            ("DELIVRD", Some(Delivery::Delivered)),
            ("UNDELIV", Some(Delivery::Failed)),
            ("REJECTD", Some(Delivery::Failed)),
            ("EXPIRED", Some(Delivery::Failed)),
            ("DELETED", Some(Delivery::Failed)),
            ("ENROUTE", None),
            ("ACCEPTD", None),
            ("UNKNOWN", None),
        ] {
            let text =
                format!("id:7 sub:001 dlvrd:000 submit date:2611260910 done date:2611260911 stat:{stat} err:000 text:");
            let r = from_deliver_sm(&deliver_sm(0x04, &text, vec![])).unwrap();
            assert_eq!(r.outcome, outcome, "{stat}");
            assert_eq!(r.error, None);
        }
    }

    #[test]
    fn a_mobile_originated_message_is_not_a_receipt() {
        assert_eq!(from_deliver_sm(&deliver_sm(0x00, "id:1 stat:DELIVRD", vec![])), None);
        assert_eq!(from_deliver_sm(&deliver_sm(0x04, "hello there", vec![])), None);
    }

    fn payload(text: &str) -> MessagePayload {
        MessagePayload::new(AnyOctetString::from_vec(text.as_bytes().to_vec()))
    }

    /// A data_sm as it arrives: built, written to bytes and decoded again, so TLVs written as
    /// raw tag/value pairs come back as rusmpp reads them off the wire.
    fn data_sm(esm: u8, tlvs: Vec<MessageSubmissionRequestTlvValue>) -> DataSm {
        use tokio_util::codec::{Decoder, Encoder};
        let sm = DataSm::builder().esm_class(EsmClass::from(esm)).tlvs(tlvs).build();
        let mut codec = crate::codec::FrameCodec::default();
        let mut bytes = bytes::BytesMut::new();
        codec
            .encode(rusmpp::Command::new(rusmpp::CommandStatus::EsmeRok, 1, sm), &mut bytes)
            .unwrap();
        match codec.decode(&mut bytes).unwrap() {
            Some(crate::codec::Frame::Decoded(command)) => match command.pdu() {
                Some(rusmpp::Pdu::DataSm(sm)) => sm.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_empty_short_message_leaves_the_text_to_message_payload() {
        let tlvs = vec![MessageDeliveryRequestTlvValue::MessagePayload(payload(TEXT))];
        let r = from_deliver_sm(&deliver_sm(0x04, "", tlvs)).unwrap();
        assert_eq!((r.message_id.as_str(), r.stat.as_str()), ("0000001A", "UNDELIV"));
        assert_eq!(r.error.as_deref(), Some("034"));
    }

    #[test]
    fn a_data_sm_receipt_is_read_from_its_tlvs_or_its_message_payload() {
        // data_sm has no short_message; receipted_message_id and message_state are not in
        // rusmpp's submission TLV set, so they go in as raw tag/value pairs (§5.3.2.12, .35).
        let tlvs = vec![
            MessageSubmissionRequestTlvValue::Other {
                tag: TlvTag::ReceiptedMessageId,
                value: AnyOctetString::from_vec(b"9f3\0".to_vec()),
            },
            MessageSubmissionRequestTlvValue::Other {
                tag: TlvTag::MessageState,
                value: AnyOctetString::from_vec(vec![2]),
            },
        ];
        let r = from_data_sm(&data_sm(0x04, tlvs)).unwrap();
        assert_eq!((r.message_id.as_str(), r.outcome), ("9f3", Some(Delivery::Delivered)));

        let text = vec![MessageSubmissionRequestTlvValue::MessagePayload(payload(TEXT))];
        let r = from_data_sm(&data_sm(0x04, text.clone())).unwrap();
        assert_eq!((r.message_id.as_str(), r.outcome), ("0000001A", Some(Delivery::Failed)));
        assert_eq!(from_data_sm(&data_sm(0x00, text)), None, "esm_class 0: not a receipt");
    }

    #[test]
    fn ids_match_across_hex_and_decimal_spellings() {
        assert_eq!(id_forms("26"), vec!["26", "1a"]);
        assert_eq!(id_forms("0000001A"), vec!["1a", "26"]);
        assert_eq!(id_forms("msg-abc"), vec!["msg-abc"]);
        assert_eq!(canonical("000"), "0");
        // decimal 26 in the resp, hex 1A in the receipt text: the forms intersect.
        assert!(id_forms("26").contains(&canonical("1A")));
    }
}
