//! The forms SMPP 3.4 allows and real SMSCs use, each selectable by a rule: error responses as
//! a bare header, and receipts as deliver_sm or data_sm with their data in the TLVs, in
//! short_message or in message_payload, the handset spelled nationally or internationally.

use otpgate_smsc_sim::{Action, AddrPrefix, AddressSpelling, ReceiptPdu, ReceiptText, RuleSpec};
use rusmpp::tlvs::TlvValue;
use rusmpp::values::{MessageState, Npi, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::esme::{gsm_submit, message_id, Bind, Esme};
use crate::sim;

/// The 16 octets of a header-only PDU, read straight off the socket.
async fn raw_header(esme: &mut Esme) -> [u32; 4] {
    let mut bytes = [0u8; 16];
    esme.stream().read_exact(&mut bytes).await.unwrap();
    let word = |i: usize| u32::from_be_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap());
    [word(0), word(1), word(2), word(3)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_only_refusal_is_sixteen_octets_and_others_keep_their_body() {
    let sim = sim(|config| {
        config.rules = vec![
            RuleSpec::new("34600000000", Action::Refuse).status(0x0B).header_only(),
            RuleSpec::new("1666", Action::Throttle).header_only(),
            RuleSpec::new("1777", Action::Refuse).status(0x45),
        ]
    })
    .await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    // The capture: 00000010 80000004 0000000b <seq>.
    let seq = esme.send(gsm_submit("34600000000", "x")).await;
    assert_eq!(raw_header(&mut esme).await, [0x10, 0x8000_0004, 0x0B, seq]);
    let seq = esme.send(gsm_submit("16661234567", "x")).await;
    assert_eq!(raw_header(&mut esme).await, [0x10, 0x8000_0004, 0x58, seq]);
    // Without header_only the refusal carries an empty message_id: 17 octets.
    let response = esme.submit(gsm_submit("17771234567", "x")).await;
    assert_eq!(response.status(), CommandStatus::EsmeRsubmitfail);
    assert_eq!(message_id(&response), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_only_errors_makes_every_refusal_a_bare_header_binds_included() {
    let sim = sim(|config| {
        config.header_only_errors = true;
        config.rules = vec![RuleSpec::new("1555", Action::Refuse)];
    })
    .await;
    let mut esme = Esme::connect(sim.smpp_addr()).await;
    let seq = esme
        .send(
            rusmpp::pdus::BindTransceiver::builder()
                .system_id("otpgate".parse().unwrap())
                .password("wrong".parse().unwrap())
                .build(),
        )
        .await;
    assert_eq!(raw_header(&mut esme).await, [0x10, 0x8000_0009, 0x0E, seq]);
    esme.expect_closed().await;

    let mut esme = Esme::bound(sim.smpp_addr()).await;
    let seq = esme.send(gsm_submit("15551234567", "x")).await;
    assert_eq!(raw_header(&mut esme).await, [0x10, 0x8000_0004, 0x0B, seq]);
}

/// The receipt's (receipted_message_id, message_state, message_payload text) TLVs.
fn tlvs_of(tlvs: &[rusmpp::tlvs::Tlv]) -> (Option<String>, Option<MessageState>, Option<String>) {
    let (mut id, mut state, mut payload) = (None, None, None);
    for tlv in tlvs {
        match tlv.value() {
            Some(TlvValue::ReceiptedMessageId(value)) => id = Some(value.as_str().to_owned()),
            Some(TlvValue::MessageState(value)) => state = Some(*value),
            Some(TlvValue::MessagePayload(value)) => {
                payload = Some(String::from_utf8(value.value.as_ref().to_vec()).unwrap())
            }
            _ => {}
        }
    }
    (id, state, payload)
}

/// What a receipt looked like on the wire, whichever PDU carried it.
#[derive(Debug)]
struct Seen {
    command_id: CommandId,
    source: (Ton, Npi, String),
    short_message: String,
    id: Option<String>,
    state: Option<MessageState>,
    payload: Option<String>,
}

/// Waits for the next receipt, answers it with `status` (a bare header when not OK) and
/// returns what it carried.
async fn receipt(esme: &mut Esme, status: CommandStatus) -> Seen {
    let command = esme.next().await.expect("a receipt");
    let seen = match command.pdu() {
        Some(Pdu::DeliverSm(sm)) => {
            let (id, state, payload) = tlvs_of(sm.tlvs());
            Seen {
                command_id: CommandId::DeliverSm,
                source: (
                    sm.source_addr_ton,
                    sm.source_addr_npi,
                    sm.source_addr.as_str().to_owned(),
                ),
                short_message: String::from_utf8(sm.short_message().as_ref().to_vec()).unwrap(),
                id,
                state,
                payload,
            }
        }
        Some(Pdu::DataSm(sm)) => {
            assert_eq!(u8::from(sm.esm_class), 0x04);
            let (id, state, payload) = tlvs_of(sm.tlvs());
            Seen {
                command_id: CommandId::DataSm,
                source: (
                    sm.source_addr_ton,
                    sm.source_addr_npi,
                    sm.source_addr.as_str().to_owned(),
                ),
                short_message: String::new(),
                id,
                state,
                payload,
            }
        }
        other => panic!("expected a receipt, got {other:?}"),
    };
    let answer: Pdu = if seen.command_id == CommandId::DataSm {
        Pdu::DataSmResp(Default::default())
    } else {
        Pdu::DeliverSmResp(Default::default())
    };
    if status == CommandStatus::EsmeRok {
        esme.send_raw(Command::new(status, command.sequence_number(), answer))
            .await;
    } else {
        let words = [
            16,
            u32::from(answer.command_id()),
            u32::from(status),
            command.sequence_number(),
        ];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        esme.stream().write_all(&bytes).await.unwrap();
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_receipt_form_a_rule_can_ask_for() {
    let national = AddressSpelling {
        strip: 2,
        ton: Some(0),
        npi: Some(0),
        ..AddressSpelling::default()
    };
    let plus = AddressSpelling {
        prefix: AddrPrefix::Plus,
        ton: Some(0),
        ..AddressSpelling::default()
    };
    let sim = sim(|config| {
        config.rules = vec![
            // deliver_sm: text in short_message + TLVs is the default; the others by rule.
            RuleSpec::new("3461", Action::Deliver)
                .receipt_text(ReceiptText::MessagePayload)
                .receipt_tlvs(false),
            RuleSpec::new("3462", Action::Deliver).receipt_text(ReceiptText::None),
            RuleSpec::new("3463", Action::Undeliver).receipt_pdu(ReceiptPdu::DataSm),
            RuleSpec::new("3464", Action::Deliver)
                .receipt_pdu(ReceiptPdu::DataSm)
                .receipt_text(ReceiptText::None),
            RuleSpec::new("3465", Action::Deliver).receipt_source_addr(national),
            RuleSpec::new("3466", Action::Deliver).receipt_source_addr(plus),
        ]
    })
    .await;
    let mut esme = Esme::bound_as(sim.smpp_addr(), Bind::Transceiver).await;
    let submit = |to: &'static str| gsm_submit(to, "Your code is 1234");

    let id = message_id(&esme.submit(submit("34600000000")).await);
    let seen = receipt(&mut esme, CommandStatus::EsmeRok).await;
    assert_eq!(seen.command_id, CommandId::DeliverSm);
    assert!(seen.short_message.starts_with(&format!("id:{id} ")), "{seen:?}");
    assert_eq!(
        (seen.id, seen.state, seen.payload),
        (Some(id), Some(MessageState::Delivered), None)
    );

    let id = message_id(&esme.submit(submit("34610000000")).await);
    let seen = receipt(&mut esme, CommandStatus::EsmeRok).await;
    assert_eq!((seen.short_message.as_str(), seen.id, seen.state), ("", None, None));
    assert!(seen.payload.unwrap().starts_with(&format!("id:{id} ")));

    let id = message_id(&esme.submit(submit("34620000000")).await);
    let seen = receipt(&mut esme, CommandStatus::EsmeRok).await;
    assert_eq!((seen.short_message.as_str(), seen.payload), ("", None));
    assert_eq!((seen.id, seen.state), (Some(id), Some(MessageState::Delivered)));

    let id = message_id(&esme.submit(submit("34630000000")).await);
    let seen = receipt(&mut esme, CommandStatus::EsmeRok).await;
    assert_eq!(seen.command_id, CommandId::DataSm);
    assert_eq!(
        (seen.id.as_deref(), seen.state),
        (Some(id.as_str()), Some(MessageState::Undeliverable))
    );
    assert!(seen.payload.unwrap().contains(" stat:UNDELIV "));

    let id = message_id(&esme.submit(submit("34640000000")).await);
    let seen = receipt(&mut esme, CommandStatus::EsmeRok).await;
    assert_eq!((seen.command_id, seen.payload), (CommandId::DataSm, None));
    assert_eq!(seen.id, Some(id));

    esme.submit(submit("34650002002")).await;
    let seen = receipt(&mut esme, CommandStatus::EsmeRok).await;
    assert_eq!(seen.source, (Ton::Unknown, Npi::Unknown, "650002002".to_owned()));

    esme.submit(submit("34660002002")).await;
    // Refused with a bare header: counted as a refused receipt.
    let seen = receipt(&mut esme, CommandStatus::EsmeRxPAppn).await;
    assert_eq!(seen.source, (Ton::Unknown, Npi::Isdn, "+34660002002".to_owned()));

    esme.until_barrier().await;
    let stats = sim.stats();
    assert_eq!(
        (
            stats.deliver_sm_sent,
            stats.deliver_sm_resp,
            stats.data_sm_sent,
            stats.data_sm_resp
        ),
        (5, 5, 2, 2)
    );
    assert_eq!(stats.receipt_resp_error, 1);
}
