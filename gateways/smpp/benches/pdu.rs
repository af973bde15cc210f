//! Hot functions of the SMPP path: building and framing a submit_sm, decoding what comes back
//! (submit_sm_resp, a receipt deliver_sm), and reading the receipt.
//!
//! Run: `cargo bench -p otpgate-smpp --bench pdu`
use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use otpgate_smpp::codec::FrameCodec;
use otpgate_smpp::{encoding, receipt, Source};
use rusmpp::pdus::{DeliverSm, SubmitSmResp};
use rusmpp::tlvs::MessageDeliveryRequestTlvValue;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{EsmClass, MessageState};
use rusmpp::{Command, CommandStatus, Pdu};
use tokio_util::codec::{Decoder, Encoder};

fn framed(command: Command) -> BytesMut {
    let mut buf = BytesMut::new();
    FrameCodec::default().encode(command, &mut buf).unwrap();
    buf
}

fn receipt_pdu(with_tlvs: bool) -> DeliverSm {
    let text = "id:1234567 sub:001 dlvrd:001 submit date:2611260910 done date:2611260911 stat:DELIVRD err:000 text:Your Acme verif";
    let mut builder = DeliverSm::builder()
        .source_addr("14155552671".parse().unwrap())
        .esm_class(EsmClass::from(0x04))
        .short_message(OctetString::from_vec(text.as_bytes().to_vec()).unwrap());
    if with_tlvs {
        builder = builder.tlvs(vec![
            MessageDeliveryRequestTlvValue::ReceiptedMessageId("1234567".parse::<COctetString<1, 65>>().unwrap()),
            MessageDeliveryRequestTlvValue::MessageState(MessageState::Delivered),
        ]);
    }
    builder.build()
}

fn bench(c: &mut Criterion) {
    let source = Source::parse("OTPGATE").unwrap();
    let otp = "Your Acme verification code is 482915";
    let arabic = "رمز التحقق الخاص بك في Acme هو 482915";

    c.bench_function("encode_otp_gsm", |b| {
        b.iter(|| encoding::encode(black_box(otp), &source, "+14155552671", 1).unwrap())
    });
    c.bench_function("encode_otp_ucs2", |b| {
        b.iter(|| encoding::encode(black_box(arabic), &source, "+971501234567", 1).unwrap())
    });
    let sm = encoding::encode(otp, &source, "+14155552671", 1)
        .unwrap()
        .parts
        .remove(0);
    c.bench_function("frame_submit_sm", |b| {
        let mut buf = BytesMut::with_capacity(4096);
        let mut codec = FrameCodec::default();
        b.iter(|| {
            buf.clear();
            codec
                .encode(
                    Command::new(CommandStatus::EsmeRok, 7, Pdu::SubmitSm(sm.clone())),
                    &mut buf,
                )
                .unwrap();
        })
    });

    let resp = framed(Command::new(
        CommandStatus::EsmeRok,
        7,
        Pdu::SubmitSmResp(SubmitSmResp::new("1234567".parse().unwrap(), Vec::new())),
    ));
    c.bench_function("decode_submit_sm_resp", |b| {
        let mut codec = FrameCodec::default();
        b.iter(|| {
            let mut buf = resp.clone();
            codec.decode(&mut buf).unwrap().unwrap()
        })
    });
    let deliver = framed(Command::new(
        CommandStatus::EsmeRok,
        9,
        Pdu::DeliverSm(receipt_pdu(true)),
    ));
    c.bench_function("decode_receipt_deliver_sm", |b| {
        let mut codec = FrameCodec::default();
        b.iter(|| {
            let mut buf = deliver.clone();
            codec.decode(&mut buf).unwrap().unwrap()
        })
    });
    let with_tlvs = receipt_pdu(true);
    let text_only = receipt_pdu(false);
    c.bench_function("parse_receipt_tlvs", |b| {
        b.iter(|| receipt::from_deliver_sm(black_box(&with_tlvs)).unwrap())
    });
    c.bench_function("parse_receipt_text", |b| {
        b.iter(|| receipt::from_deliver_sm(black_box(&text_only)).unwrap())
    });
    c.bench_function("receipt_id_forms", |b| {
        b.iter(|| receipt::id_forms(black_box("0000001A")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
