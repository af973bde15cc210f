//! What the simulator records of each submit_sm: addresses, flags, decoded text, UDH.

use otpgate_smsc_sim::{MessageRecord, UdhRecord};
use rusmpp::values::DataCoding;
use rusmpp::CommandStatus;
use rusmpp_extra::encoding::ucs2::Ucs2;

use crate::esme::{gsm_submit, message_id, submit_bytes, Esme};
use crate::{http, sim};

fn only(records: Vec<MessageRecord>) -> MessageRecord {
    assert_eq!(records.len(), 1, "{records:?}");
    records.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gsm_text_and_every_field_are_recorded() {
    let sim = sim(|_| {}).await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    let response = esme.submit(gsm_submit("15551234567", "Your code is 4821")).await;
    let id = message_id(&response);

    let record = only(sim.records());
    assert_eq!(record.text.as_deref(), Some("Your code is 4821"));
    assert_eq!(record.message_id, id);
    assert_eq!(record.system_id, "otpgate");
    assert_eq!(record.source_addr, "otpgate");
    assert_eq!((record.source_addr_ton, record.source_addr_npi), (5, 0));
    assert_eq!(record.destination_addr, "15551234567");
    assert_eq!((record.dest_addr_ton, record.dest_addr_npi), (1, 1));
    assert_eq!(
        (record.esm_class, record.data_coding, record.registered_delivery),
        (0, 0, 1)
    );
    assert_eq!(record.udh, None);
    assert_eq!(record.action, "deliver");
    assert_eq!(record.sequence_number, 2, "bind was 1");
    assert!(record.received_at_ms > 1_600_000_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gsm_extension_characters_decode() {
    let sim = sim(|_| {}).await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    let text = "Code 4821 {€} [ok] ~^|\\ ñ@£";
    esme.submit(gsm_submit("15551234567", text)).await;
    let record = only(sim.records());
    assert_eq!(record.text.as_deref(), Some(text));
    // '€' is escape 0x1B then 0x65 on the wire.
    assert!(
        record.short_message_hex.contains("1b65"),
        "{}",
        record.short_message_hex
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ucs2_and_latin1_decode() {
    let sim = sim(|_| {}).await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    let cyrillic = "Ваш код № 4821";
    let bytes = Ucs2::new().encode_to_vec(cyrillic).unwrap();
    for submit in [
        submit_bytes("79991234567", DataCoding::Ucs2, 0, bytes),
        submit_bytes("33612345678", DataCoding::Latin1, 0, b"caf\xe9 4821".to_vec()),
        submit_bytes("33612345679", DataCoding::OctetUnspecified2, 0, vec![0xde, 0xad]),
    ] {
        esme.submit(submit).await;
        esme.receipt().await;
    }

    let records = sim.records();
    assert_eq!(records[0].text.as_deref(), Some(cyrillic));
    assert_eq!(records[0].data_coding, 8);
    assert_eq!(records[1].text.as_deref(), Some("café 4821"));
    assert_eq!(records[2].text, None);
    assert_eq!(records[2].short_message_hex, "dead");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concatenated_parts_are_recorded_with_their_udh_and_receipts_each() {
    let sim = sim(|_| {}).await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    let part = |header: &[u8], text: &str| {
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(text.as_bytes());
        submit_bytes("15551234567", DataCoding::McSpecific, 0x40, bytes)
    };
    let mut ids = Vec::new();
    for submit in [
        part(&[0x05, 0x00, 0x03, 0x2A, 0x02, 0x01], "first half "),
        part(&[0x05, 0x00, 0x03, 0x2A, 0x02, 0x02], "second half"),
        part(&[0x06, 0x08, 0x04, 0x12, 0x34, 0x03, 0x03], "16-bit ref"),
    ] {
        let response = esme.submit(submit).await;
        assert_eq!(response.status(), CommandStatus::EsmeRok);
        ids.push(message_id(&response));
        esme.receipt().await;
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "each part has its own message_id");

    let records = sim.records();
    let udh: Vec<_> = records.iter().map(|r| r.udh).collect();
    assert_eq!(
        udh,
        [
            Some(UdhRecord {
                reference: 0x2A,
                total: 2,
                part: 1
            }),
            Some(UdhRecord {
                reference: 0x2A,
                total: 2,
                part: 2
            }),
            Some(UdhRecord {
                reference: 0x1234,
                total: 3,
                part: 3
            }),
        ]
    );
    let texts: Vec<_> = records.iter().map(|r| r.text.clone().unwrap()).collect();
    assert_eq!(texts, ["first half ", "second half", "16-bit ref"]);
    assert!(records[0].short_message_hex.starts_with("0500032a0201"));
    assert_eq!(records[0].esm_class, 0x40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_over_http_filter_by_destination_and_no_record_keeps_counters_only() {
    let sim = sim(|_| {}).await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    esme.submit(gsm_submit("15551234567", "one")).await;
    esme.receipt().await;
    esme.submit(gsm_submit("447700900000", "two")).await;
    esme.receipt().await;
    let (status, body) = http(
        "GET",
        &format!("{}/messages?destination=%2B447700900000", sim.control_url()),
        None,
    );
    assert_eq!(status, 200);
    let records = body.as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["text"], "two");
    assert_eq!(records[0]["udh"], serde_json::Value::Null);
    assert_eq!(records[0]["short_message_hex"], "74776f");
    let (_, all) = http("GET", &format!("{}/messages", sim.control_url()), None);
    assert_eq!(all.as_array().unwrap().len(), 2);

    let quiet = crate::sim(|config| config.record = false).await;
    let mut esme = Esme::bound(quiet.smpp_addr()).await;
    esme.submit(gsm_submit("15551234567", "one")).await;
    assert!(quiet.records().is_empty());
    assert_eq!(quiet.stats().submit_sm, 1);
}
