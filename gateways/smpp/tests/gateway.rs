//! The SMPP gateway against the SMSC simulator over TCP (the simulator runs in this process,
//! on its own runtime thread, but speaks to the gateway only through a loopback socket).
use otpgate_gateway::{report_channel, Channel, Coverage, Delivery, Gateway, OutboundMessage};
use otpgate_smpp::{SmppConfig, SmppGateway, Source};
use otpgate_smsc_sim::{Action, AddressSpelling, ReceiptPdu, ReceiptText, RuleSpec, SimConfig, SimHandle};
use std::time::{Duration, Instant};

/// Starts the simulator on a runtime of its own, so the test's actix system only runs the gateway.
fn simulator(rules: Vec<RuleSpec>) -> (SimHandle, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = runtime
        .block_on(otpgate_smsc_sim::start(SimConfig {
            rules,
            ..SimConfig::ephemeral()
        }))
        .unwrap();
    (sim, runtime)
}

fn config(address: String) -> SmppConfig {
    SmppConfig {
        name: "smsc-a".into(),
        address,
        system_id: "otpgate".parse().unwrap(),
        password: "secret".parse().unwrap(),
        system_type: "".parse().unwrap(),
        source: Source::parse("OTPGATE").unwrap(),
        binds: 2,
        window: 10,
        max_tps: 0,
        tps_share: Default::default(),
        tls: None,
        enquire_link: Duration::from_secs(30),
        response_timeout: Duration::from_secs(5),
        coverage: Coverage::default(),
    }
}

fn message(to: &str, text: &str) -> OutboundMessage {
    OutboundMessage {
        request_id: "req-1".into(),
        application: "app".into(),
        to: to.into(),
        channel: Channel::Sms,
        code: "123456".into(),
        text: text.into(),
        locale: "ar".into(),
    }
}

#[test]
fn a_200_character_ucs2_text_arrives_as_numbered_parts_and_is_delivered_once_all_are() {
    let (sim, _runtime) = simulator(Vec::new());
    let text: String = "رمز التحقق الخاص بك هو ٤٨٢٩١٥ ".chars().cycle().take(200).collect();
    actix_rt::System::new().block_on(async {
        let (reports, mut receipts) = report_channel();
        let gateway = SmppGateway::start(config(sim.smpp_addr().to_string()), reports);
        assert!(
            gateway.wait_bound(Duration::from_secs(5)).await,
            "binds did not come up"
        );

        let accepted = gateway.send(&message("+971501234567", &text)).await.unwrap();
        assert_eq!(accepted.parts, 3);

        let report = tokio::time::timeout(Duration::from_secs(5), receipts.recv())
            .await
            .expect("no delivery report")
            .unwrap();
        assert_eq!(
            (report.request_id.as_str(), report.delivery),
            ("req-1", Delivery::Delivered)
        );
        assert_eq!(report.carrier, "smsc-a");
        assert_eq!(gateway.awaiting_receipts(), 0);
        gateway.shutdown().await;
    });

    let records = sim.records_to("971501234567");
    assert_eq!(records.len(), 3);
    let reference = records[0].udh.expect("UDH on part 1").reference;
    let mut rebuilt = String::new();
    for (i, record) in records.iter().enumerate() {
        let udh = record.udh.unwrap_or_else(|| panic!("part {i} has no UDH"));
        assert_eq!((udh.reference, udh.total, udh.part), (reference, 3, i as u8 + 1));
        assert_eq!(record.data_coding, 8);
        assert_eq!(record.esm_class, 0x40, "UDH indicator, default mode and type");
        rebuilt.push_str(record.text.as_deref().unwrap());
    }
    assert_eq!(rebuilt, text);
    assert_eq!(sim.stats().unbind, 2);
}

#[test]
fn a_failed_part_fails_the_message_and_a_refusal_is_permanent() {
    let (sim, _runtime) = simulator(vec![
        RuleSpec::new("4477009", Action::Refuse).status(0x0B),
        RuleSpec::new("4477008", Action::Undeliver),
    ]);
    actix_rt::System::new().block_on(async {
        let (reports, mut receipts) = report_channel();
        let gateway = SmppGateway::start(config(sim.smpp_addr().to_string()), reports);
        assert!(gateway.wait_bound(Duration::from_secs(5)).await);

        let refused = gateway.send(&message("+447700900123", "hi")).await.unwrap_err();
        assert!(refused.is_permanent(), "{refused}");
        assert_eq!(refused.reason(), "invalid_destination");

        gateway.send(&message("+447700800123", "hi")).await.unwrap();
        let report = tokio::time::timeout(Duration::from_secs(5), receipts.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((report.delivery, report.status.as_str()), (Delivery::Failed, "UNDELIV"));
    });
    assert_eq!(
        sim.records_to("447700900123").len(),
        1,
        "a permanent refusal is not retried"
    );
}

#[test]
fn header_only_refusals_are_classified_at_once_and_sent_once() {
    let (sim, _runtime) = simulator(vec![
        RuleSpec::new("34600000000", Action::Refuse).status(0x0B).header_only(),
        RuleSpec::new("34600000001", Action::Refuse).status(0x45).header_only(),
    ]);
    actix_rt::System::new().block_on(async {
        let (reports, _receipts) = report_channel();
        let gateway = SmppGateway::start(config(sim.smpp_addr().to_string()), reports);
        assert!(gateway.wait_bound(Duration::from_secs(5)).await);
        for (to, reason) in [
            ("+34600000000", "invalid_destination"), // ESME_RINVDSTADR
            ("+34600000001", "submit_failed"),       // ESME_RSUBMITFAIL
        ] {
            let started = Instant::now();
            let refused = gateway.send(&message(to, "hi")).await.unwrap_err();
            // The response timeout is 5 s: an unmatched refusal would take that long, twice.
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{to}: {:?}",
                started.elapsed()
            );
            assert!(refused.is_permanent(), "{refused}");
            assert_eq!(refused.reason(), reason);
        }
        gateway.shutdown().await;
    });
    for to in ["34600000000", "34600000001"] {
        assert_eq!(sim.records_to(to).len(), 1, "{to}: refused once, never retried");
    }
    assert_eq!(sim.stats().submit_sm_resp_error, 2);
}

#[test]
fn emoji_are_never_split_across_parts() {
    let (sim, _runtime) = simulator(Vec::new());
    // Emoji at every offset around the 67-unit part boundary.
    let text: String = (0..40)
        .map(|i| if i % 3 == 0 { "🍕" } else { "ك" })
        .collect::<String>()
        .repeat(3);
    actix_rt::System::new().block_on(async {
        let (reports, _receipts) = report_channel();
        let gateway = SmppGateway::start(config(sim.smpp_addr().to_string()), reports);
        assert!(gateway.wait_bound(Duration::from_secs(5)).await);
        let accepted = gateway.send(&message("+971501234567", &text)).await.unwrap();
        let units = text.encode_utf16().count();
        assert!(
            accepted.parts as usize >= units.div_ceil(67),
            "{} parts for {units} units",
            accepted.parts
        );
        gateway.shutdown().await;
    });
    let records = sim.records_to("971501234567");
    let rebuilt: String = records
        .iter()
        .map(|r| {
            let part = r.text.clone().unwrap();
            assert!(!part.contains('\u{FFFD}'), "part {:?} splits a surrogate pair", r.udh);
            part
        })
        .collect();
    assert_eq!(rebuilt, text);
}

/// Receipts in the forms real SMSCs send, through the gateway's binds: each is matched by its
/// id whatever PDU carries it, where its text sits, and how the handset is spelled.
#[test]
fn receipts_in_every_form_are_applied() {
    let national = AddressSpelling {
        strip: 2,
        ton: Some(0),
        npi: Some(0),
        ..AddressSpelling::default()
    };
    let (sim, _runtime) = simulator(vec![
        RuleSpec::new("34600002001", Action::Deliver)
            .receipt_text(ReceiptText::MessagePayload)
            .receipt_tlvs(false),
        RuleSpec::new("34600002002", Action::Deliver)
            .receipt_source_addr(national)
            .receipt_tlvs(false),
        RuleSpec::new("34600002003", Action::Undeliver)
            .receipt_pdu(ReceiptPdu::DataSm)
            .receipt_text(ReceiptText::None),
        RuleSpec::new("34600002004", Action::Deliver)
            .receipt_pdu(ReceiptPdu::DataSm)
            .receipt_tlvs(false)
            .receipt_source_addr(national),
    ]);
    actix_rt::System::new().block_on(async {
        let (reports, mut receipts) = report_channel();
        let gateway = SmppGateway::start(config(sim.smpp_addr().to_string()), reports);
        assert!(gateway.wait_bound(Duration::from_secs(5)).await);
        for n in 1..=4 {
            let mut m = message(&format!("+3460000200{n}"), "Your code is 1234");
            m.request_id = format!("req-{n}");
            gateway.send(&m).await.unwrap();
            let report = tokio::time::timeout(Duration::from_secs(5), receipts.recv())
                .await
                .unwrap_or_else(|_| panic!("no report for form {n}"))
                .unwrap();
            let expected = if n == 3 { Delivery::Failed } else { Delivery::Delivered };
            assert_eq!((report.request_id, report.delivery), (m.request_id, expected));
        }
        assert_eq!(gateway.awaiting_receipts(), 0);
        gateway.shutdown().await;
    });
    let stats = sim.stats();
    assert_eq!((stats.deliver_sm_resp, stats.data_sm_resp), (2, 2));
    assert_eq!(stats.receipt_resp_error, 0, "every receipt answered OK");
}
