//! The SMPP gateway against the SMSC simulator over TCP (the simulator runs in this process,
//! on its own runtime thread, but speaks to the gateway only through a loopback socket).
use otpgate_gateway::{report_channel, Channel, Coverage, Delivery, Gateway, OutboundMessage};
use otpgate_smpp::{SmppConfig, SmppGateway, Source};
use otpgate_smsc_sim::{Action, RuleSpec, SimConfig, SimHandle};
use std::time::Duration;

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
        assert_eq!(record.esm_class & 0x40, 0x40);
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
