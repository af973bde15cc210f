//! Every PDU the gateway writes, read back octet by octet against SMPP 3.4 (section numbers
//! below are the v3.4 specification's, issue 2). The PDUs come from the same functions the
//! session uses (`encoding::encode`, `pdu::*`) and the same codec that frames them on the wire;
//! each field is read by name, in the spec's order, and the frame must end exactly after the
//! last one.
use bytes::BytesMut;
use otpgate_smpp::codec::FrameCodec;
use otpgate_smpp::{encoding, pdu, Source};
use rusmpp::{Command, CommandStatus, Pdu};
use tokio_util::codec::Encoder;

fn wire(command: Command) -> Vec<u8> {
    let mut out = BytesMut::new();
    FrameCodec::default().encode(command, &mut out).unwrap();
    out.to_vec()
}

/// Reads a PDU field by field; each read names the field so a mismatch says which one.
struct Octets<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Octets<'a> {
    /// Checks the 16-octet header (§3.2) and returns a reader positioned on the body.
    fn header(bytes: &'a [u8], command_id: u32, command_status: u32, sequence_number: u32) -> Self {
        let mut octets = Octets { bytes, at: 0 };
        assert_eq!(octets.u32("command_length"), bytes.len() as u32);
        assert_eq!(octets.u32("command_id"), command_id, "command_id");
        assert_eq!(octets.u32("command_status"), command_status, "command_status");
        assert_eq!(octets.u32("sequence_number"), sequence_number, "sequence_number");
        octets
    }

    fn take(&mut self, n: usize, field: &str) -> &'a [u8] {
        assert!(self.at + n <= self.bytes.len(), "{field}: PDU ends early");
        let taken = &self.bytes[self.at..self.at + n];
        self.at += n;
        taken
    }

    fn u32(&mut self, field: &str) -> u32 {
        u32::from_be_bytes(self.take(4, field).try_into().unwrap())
    }

    /// An Integer(1) field with its expected value.
    fn u8(&mut self, field: &str, expected: u8) {
        assert_eq!(self.take(1, field)[0], expected, "{field}");
    }

    /// A C-Octet String (§3.1): the text, then one NUL; an empty one is the NUL alone.
    fn c_octet_string(&mut self, field: &str, expected: &str) {
        let rest = &self.bytes[self.at..];
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .unwrap_or_else(|| panic!("{field}: no NUL"));
        assert_eq!(std::str::from_utf8(&rest[..nul]).unwrap(), expected, "{field}");
        self.at += nul + 1;
    }

    fn end(self) {
        assert_eq!(self.at, self.bytes.len(), "octets after the last field");
    }
}

/// The submit_sm body (§4.4.1) up to sm_length; returns the short_message octets.
fn submit_sm_fields<'a>(o: &mut Octets<'a>, to: &str, esm_class: u8, data_coding: u8) -> &'a [u8] {
    o.c_octet_string("service_type", ""); // NULL: the SMSC's default service
    o.u8("source_addr_ton", 0x05); // alphanumeric (§5.2.5)
    o.u8("source_addr_npi", 0x00); // unknown (§5.2.6)
    o.c_octet_string("source_addr", "OTPGATE");
    o.u8("dest_addr_ton", 0x01); // international
    o.u8("dest_addr_npi", 0x01); // ISDN (E.163/E.164)
    o.c_octet_string("destination_addr", to); // digits, no '+'
    o.u8("esm_class", esm_class);
    o.u8("protocol_id", 0x00);
    o.u8("priority_flag", 0x00); // level 0, lowest
    o.c_octet_string("schedule_delivery_time", ""); // NULL: deliver immediately
    o.c_octet_string("validity_period", ""); // NULL: the SMSC's default validity
    o.u8("registered_delivery", 0x01); // receipt on final success or failure (§5.2.17)
    o.u8("replace_if_present_flag", 0x00);
    o.u8("data_coding", data_coding);
    o.u8("sm_default_msg_id", 0x00); // not a canned message
    let sm_length = o.take(1, "sm_length")[0] as usize;
    o.take(sm_length, "short_message")
}

#[test]
fn submit_sm_single_gsm_part() {
    let source = Source::parse("OTPGATE").unwrap();
    let text = "Your Acme verification code is 123456";
    let encoded = encoding::encode(text, &source, "+14155550100", 1).unwrap();
    assert_eq!(encoded.parts.len(), 1);
    let sm = encoded.parts.into_iter().next().unwrap();
    let bytes = wire(Command::new(CommandStatus::EsmeRok, 7, Pdu::SubmitSm(sm)));
    let mut o = Octets::header(&bytes, 0x0000_0004, 0, 7);
    // esm_class 0x00: default SMSC mode, default message type (0x08 would be an ESME delivery
    // acknowledgement); data_coding 0x00: SMSC default alphabet, GSM 03.38 unpacked.
    let short_message = submit_sm_fields(&mut o, "14155550100", 0x00, 0x00);
    assert_eq!(short_message, text.as_bytes(), "GSM 03.38 = ASCII for these characters");
    o.end();
}

#[test]
fn submit_sm_ucs2_parts_with_a_surrogate_pair_and_a_udh() {
    let source = Source::parse("OTPGATE").unwrap();
    // 81 UTF-16 units: two parts (67 + 14). The pizza is U+1F355, D83C DF55 in UTF-16.
    let text = format!("Pizza 🍕 {}", "ك".repeat(72));
    let parts = encoding::encode(&text, &source, "34600000000", 0x2A).unwrap().parts;
    assert_eq!(parts.len(), 2);
    let mut rebuilt = Vec::new();
    for (i, sm) in parts.into_iter().enumerate() {
        let bytes = wire(Command::new(CommandStatus::EsmeRok, 10 + i as u32, Pdu::SubmitSm(sm)));
        let mut o = Octets::header(&bytes, 0x0000_0004, 0, 10 + i as u32);
        // esm_class 0x40: UDH indicator, otherwise default; data_coding 0x08: UCS2.
        let short_message = submit_sm_fields(&mut o, "34600000000", 0x40, 0x08);
        o.end();
        // UDH (3GPP TS 23.040 §9.2.3.24.1): UDHL 5, IEI 0x00 (8-bit reference), IEDL 3,
        // reference, total parts, this part.
        assert_eq!(&short_message[..6], &[0x05, 0x00, 0x03, 0x2A, 0x02, i as u8 + 1]);
        let units = &short_message[6..];
        assert!(
            units.len() <= 134 && units.len() % 2 == 0,
            "part {i}: {} octets",
            units.len()
        );
        if i == 0 {
            assert_eq!(&units[12..16], &[0xD8, 0x3C, 0xDF, 0x55], "the pair, big-endian");
        }
        rebuilt.extend(units.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])));
    }
    assert_eq!(String::from_utf16(&rebuilt).unwrap(), text);
}

#[test]
fn bind_transceiver() {
    let bytes = wire(pdu::bind_transceiver(
        1,
        "otpgate".parse().unwrap(),
        "secret".parse().unwrap(),
        "".parse().unwrap(),
    ));
    // §4.1.5
    let mut o = Octets::header(&bytes, 0x0000_0009, 0, 1);
    o.c_octet_string("system_id", "otpgate");
    o.c_octet_string("password", "secret");
    o.c_octet_string("system_type", "");
    o.u8("interface_version", 0x34); // SMPP 3.4 (§5.2.4)
    o.u8("addr_ton", 0x00);
    o.u8("addr_npi", 0x00);
    o.c_octet_string("address_range", ""); // NULL: no routing restriction asked
    o.end();
    assert_eq!(bytes.len(), 16 + 8 + 7 + 1 + 1 + 1 + 1 + 1);
}

#[test]
fn header_only_pdus() {
    // §4.11.1, §4.11.2, §4.2.1, §4.2.2, §4.3.1: no body at all.
    for (command, id, status, seq) in [
        (pdu::enquire_link(3), 0x0000_0015, 0, 3),
        (pdu::enquire_link_resp(4), 0x8000_0015, 0, 4),
        (pdu::unbind(5), 0x0000_0006, 0, 5),
        (pdu::unbind_resp(6), 0x8000_0006, 0, 6),
        (pdu::generic_nack(8, CommandStatus::EsmeRinvcmdid), 0x8000_0000, 0x03, 8),
    ] {
        let bytes = wire(command);
        assert_eq!(bytes.len(), 16, "{id:#x}");
        Octets::header(&bytes, id, status, seq).end();
    }
}

#[test]
fn deliver_sm_resp_and_data_sm_resp() {
    // §4.6.2: message_id "unused and set to NULL". §4.7.2: message_id, here NULL too (an ESME
    // has no id for a receipt), no TLVs.
    for (command, id) in [
        (pdu::deliver_sm_resp(9, CommandStatus::EsmeRok), 0x8000_0005),
        (pdu::data_sm_resp(9, CommandStatus::EsmeRok), 0x8000_0103),
    ] {
        let bytes = wire(command);
        let mut o = Octets::header(&bytes, id, 0, 9);
        o.c_octet_string("message_id", "");
        o.end();
    }
}
