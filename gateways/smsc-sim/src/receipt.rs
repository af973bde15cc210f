//! Delivery receipts: the deliver_sm or data_sm (esm_class 0x04) an SMSC sends back once a
//! message reaches its final state, with the conventional text body and, unless disabled, the
//! `receipted_message_id` and `message_state` TLVs.
//!
//! SMSCs differ in every part of that, and SMPP 3.4 allows all of it, so a rule picks the
//! [`ReceiptForm`]: the PDU (deliver_sm §4.6.1 or data_sm §4.7.1), where the text goes
//! (short_message, or message_payload §5.3.2.32 with short_message empty, or nowhere), whether
//! the TLVs come along, and how the handset's address is spelled (national or international,
//! any TON/NPI).

use std::time::{SystemTime, UNIX_EPOCH};

use rusmpp::pdus::{DataSm, DeliverSm};
use rusmpp::tlvs::{MessageDeliveryRequestTlvValue, MessageSubmissionRequestTlvValue, TlvTag};
use rusmpp::types::{AnyOctetString, COctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, MessagePayload, MessageState, Npi, Ton};
use rusmpp::Pdu;
use serde::{Deserialize, Serialize};

use crate::rules::FinalState;

/// esm_class of a receipt (§5.2.12): message type "MC delivery receipt".
const ESM_CLASS_RECEIPT: u8 = 0x04;

/// Which PDU carries a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptPdu {
    #[default]
    DeliverSm,
    DataSm,
}

/// Where the receipt text (`id:... stat:...`) goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptText {
    /// In short_message (deliver_sm only: data_sm has no such field).
    ShortMessage,
    /// In the message_payload TLV, short_message left empty.
    MessagePayload,
    /// No text: the TLVs alone carry the receipt.
    None,
}

/// A prefix some SMSCs put in front of the handset's digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AddrPrefix {
    #[default]
    #[serde(rename = "")]
    None,
    #[serde(rename = "+")]
    Plus,
    /// A national trunk prefix.
    #[serde(rename = "0")]
    Zero,
    /// An international call prefix.
    #[serde(rename = "00")]
    DoubleZero,
}

impl AddrPrefix {
    fn as_str(self) -> &'static str {
        match self {
            AddrPrefix::None => "",
            AddrPrefix::Plus => "+",
            AddrPrefix::Zero => "0",
            AddrPrefix::DoubleZero => "00",
        }
    }
}

/// How a receipt's source_addr spells the handset the message went to: drop `strip` leading
/// digits (a country code), put `prefix` in front, and override TON / NPI. E.g. `34600002002`
/// with `{ strip = 2, ton = 0, npi = 0 }` becomes `600002002`, TON unknown, NPI unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressSpelling {
    #[serde(default)]
    pub strip: u8,
    #[serde(default)]
    pub prefix: AddrPrefix,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ton: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npi: Option<u8>,
}

impl AddressSpelling {
    fn apply(&self, address: &Address) -> Address {
        let digits = address.addr.as_str();
        let kept = digits.get(usize::from(self.strip)..).unwrap_or("");
        let spelled = format!("{}{kept}", self.prefix.as_str());
        Address {
            ton: self.ton.map_or(address.ton, Ton::from),
            npi: self.npi.map_or(address.npi, Npi::from),
            addr: COctetString::from_string(spelled).unwrap_or_else(|_| address.addr.clone()),
        }
    }
}

/// The shape of one receipt, as a rule asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiptForm {
    pub pdu: ReceiptPdu,
    /// `None`: short_message for deliver_sm, message_payload for data_sm.
    pub text: Option<ReceiptText>,
    /// `None`: the simulator's setting (`--no-receipt-tlvs`).
    pub tlvs: Option<bool>,
    /// `None`: the destination exactly as the submit_sm spelled it.
    pub source_addr: Option<AddressSpelling>,
}

impl ReceiptForm {
    fn text(&self) -> ReceiptText {
        self.text.unwrap_or(match self.pdu {
            ReceiptPdu::DeliverSm => ReceiptText::ShortMessage,
            ReceiptPdu::DataSm => ReceiptText::MessagePayload,
        })
    }
}

/// How a numeric message id is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdFormat {
    #[default]
    Decimal,
    /// Lowercase hexadecimal, no prefix.
    Hex,
}

impl IdFormat {
    pub fn format(self, id: u64) -> String {
        match self {
            IdFormat::Decimal => id.to_string(),
            IdFormat::Hex => format!("{id:x}"),
        }
    }
}

impl std::str::FromStr for IdFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "decimal" => Ok(IdFormat::Decimal),
            "hex" => Ok(IdFormat::Hex),
            other => Err(format!("{other:?} is not hex or decimal")),
        }
    }
}

/// An SMPP address: TON, NPI and the digits (as received, so no copy).
#[derive(Debug, Clone, Default)]
pub struct Address {
    pub ton: Ton,
    pub npi: Npi,
    pub addr: COctetString<1, 21>,
}

/// Everything needed to write one receipt, captured when the submit_sm was answered.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The connection that submitted the message; receipts go back there while it lives.
    pub origin_connection: u64,
    /// The bind's system_id, for re-routing to another bind of the same ESME.
    pub system_id: std::sync::Arc<str>,
    /// The message_id exactly as returned in submit_sm_resp.
    pub message_id: String,
    /// The id as written in the receipt text (may differ in base from `message_id`).
    pub text_id: String,
    /// The original destination, now the receipt's source.
    pub from: Address,
    /// The original source, now the receipt's destination.
    pub to: Address,
    pub state: FinalState,
    pub err: u16,
    pub submitted_at_secs: u64,
    /// The first 20 characters of the message, ASCII only.
    pub text: String,
    pub form: ReceiptForm,
}

/// The fields deliver_sm and data_sm share, set on either's builder (rusmpp gives the two
/// builders the same setters but no common trait): the handset as source, the ESME's address
/// as destination, esm_class "MC delivery receipt", data_coding 0.
macro_rules! receipt_envelope {
    ($builder:expr, $from:expr, $to:expr) => {
        $builder
            .source_addr_ton($from.ton)
            .source_addr_npi($from.npi)
            .source_addr($from.addr)
            .dest_addr_ton($to.ton)
            .dest_addr_npi($to.npi)
            .destination_addr($to.addr.clone())
            .esm_class(EsmClass::from(ESM_CLASS_RECEIPT))
            .data_coding(DataCoding::McSpecific)
    };
}

impl Receipt {
    /// The conventional receipt body (SMPP 3.4 Appendix B).
    pub fn body(&self, done_at_secs: u64) -> String {
        let delivered = if self.state.is_success() { 1 } else { 0 };
        format!(
            "id:{} sub:001 dlvrd:{:03} submit date:{} done date:{} stat:{} err:{:03} text:{}",
            self.text_id,
            delivered,
            smpp_date(self.submitted_at_secs),
            smpp_date(done_at_secs),
            self.state.stat(),
            self.err,
            self.text,
        )
    }

    /// The receipt PDU in its [`ReceiptForm`]; `default_tlvs` applies when the form does not
    /// say whether the TLVs come along.
    pub fn to_pdu(&self, done_at_secs: u64, default_tlvs: bool) -> Pdu {
        let body = self.body(done_at_secs).into_bytes();
        let with_tlvs = self.form.tlvs.unwrap_or(default_tlvs);
        let text = self.form.text();
        let from = match &self.form.source_addr {
            Some(spelling) => spelling.apply(&self.from),
            None => self.from.clone(),
        };
        let state = MessageState::from(self.state.message_state());
        let id = COctetString::<1, 65>::from_string(self.message_id.clone()).ok();
        match self.form.pdu {
            ReceiptPdu::DeliverSm => {
                let mut tlvs = Vec::new();
                if with_tlvs {
                    tlvs.extend(id.map(MessageDeliveryRequestTlvValue::ReceiptedMessageId));
                    tlvs.push(MessageDeliveryRequestTlvValue::MessageState(state));
                }
                let mut short_message = OctetString::empty();
                match text {
                    ReceiptText::ShortMessage => {
                        short_message = OctetString::from_vec(body).unwrap_or_else(|_| OctetString::empty())
                    }
                    ReceiptText::MessagePayload => tlvs.push(MessageDeliveryRequestTlvValue::MessagePayload(
                        MessagePayload::new(AnyOctetString::from_vec(body)),
                    )),
                    ReceiptText::None => {}
                }
                receipt_envelope!(DeliverSm::builder(), from, self.to)
                    .short_message(short_message)
                    .tlvs(tlvs)
                    .build()
                    .into()
            }
            ReceiptPdu::DataSm => {
                // rusmpp's data_sm TLV set is the submission one (ESME → SMSC), which lacks
                // receipted_message_id and message_state; §4.7.1 allows both SMSC → ESME, so
                // they go in as raw tag/value pairs, exactly as they appear on the wire.
                let mut tlvs = Vec::new();
                if with_tlvs {
                    if let Some(id) = id {
                        let mut value = id.as_str().as_bytes().to_vec();
                        value.push(0);
                        tlvs.push(MessageSubmissionRequestTlvValue::Other {
                            tag: TlvTag::ReceiptedMessageId,
                            value: AnyOctetString::from_vec(value),
                        });
                    }
                    tlvs.push(MessageSubmissionRequestTlvValue::Other {
                        tag: TlvTag::MessageState,
                        value: AnyOctetString::from_vec(vec![self.state.message_state()]),
                    });
                }
                if text != ReceiptText::None {
                    tlvs.push(MessageSubmissionRequestTlvValue::MessagePayload(MessagePayload::new(
                        AnyOctetString::from_vec(body),
                    )));
                }
                receipt_envelope!(DataSm::builder(), from, self.to)
                    .tlvs(tlvs)
                    .build()
                    .into()
            }
        }
    }
}

/// The first 20 characters of `text` for the receipt's `text:` field. The receipt goes out as
/// data_coding 0 (GSM 03.38) but is written as ASCII bytes, so only characters whose byte is
/// the same in both alphabets survive: letters, digits, space and the punctuation GSM puts at
/// its ASCII positions. Everything else (`$ @ _ { } [ ] ~ ^ | \ \``, accents, non-Latin) is '?'.
/// Found by running the npm `smpp` client against the simulator.
pub fn receipt_excerpt(text: &str) -> String {
    const SAME_IN_GSM: &str = " !\"#%&'()*+,-./:;<=>?";
    text.chars()
        .take(20)
        .map(|c| {
            if c.is_ascii_alphanumeric() || SAME_IN_GSM.contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect()
}

pub fn unix_now() -> std::time::Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// `YYMMDDhhmm` in UTC.
pub fn smpp_date(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let seconds_of_day = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        year.rem_euclid(100),
        month,
        day,
        seconds_of_day / 3600,
        seconds_of_day % 3600 / 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_yymmddhhmm() {
        assert_eq!(smpp_date(0), "7001010000");
        // 2024-02-29 23:59:59 UTC
        assert_eq!(smpp_date(1_709_251_199), "2402292359");
        // 2031-12-31 08:05:00 UTC
        assert_eq!(smpp_date(1_956_470_700), "3112310805");
    }

    #[test]
    fn id_formats() {
        assert_eq!(IdFormat::Decimal.format(26), "26");
        assert_eq!(IdFormat::Hex.format(26), "1a");
        assert_eq!("hex".parse::<IdFormat>(), Ok(IdFormat::Hex));
        assert!("octal".parse::<IdFormat>().is_err());
    }

    #[test]
    fn body_matches_the_conventional_format() {
        let receipt = Receipt {
            origin_connection: 1,
            system_id: "otpgate".into(),
            message_id: "26".into(),
            text_id: "1a".into(),
            from: Address::default(),
            to: Address::default(),
            state: FinalState::Undeliverable,
            err: 1,
            submitted_at_secs: 1_709_251_199,
            text: receipt_excerpt("Your code is 123456. Do not share it"),
            form: ReceiptForm::default(),
        };
        assert_eq!(
            receipt.body(1_709_251_260),
            "id:1a sub:001 dlvrd:000 submit date:2402292359 done date:2403010001 \
             stat:UNDELIV err:001 text:Your code is 123456."
        );
    }

    #[test]
    fn excerpt_is_ascii() {
        assert_eq!(receipt_excerpt("Код: 42"), "???: 42");
        assert_eq!(receipt_excerpt("Code $@_ {x} #1"), "Code ??? ?x? #1");
    }
}
