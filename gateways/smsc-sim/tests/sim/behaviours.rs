//! Binds, default delivery, receipts and every rule action, as an ESME sees them.

use std::time::{Duration, Instant};

use otpgate_smsc_sim::{Action, IdFormat, RuleSpec};
use rusmpp::values::MessageState;
use rusmpp::{CommandId, CommandStatus, Pdu};

use crate::esme::{gsm_submit, message_id, receipt_text, receipt_tlvs, Bind, Esme};
use crate::sim;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_refused_and_the_connection_closed() {
    let sim = sim(|_| {}).await;

    let mut esme = Esme::connect(sim.smpp_addr()).await;
    let response = esme.bind(Bind::Transceiver, "otpgate", "wrong").await;
    assert_eq!(response.status(), CommandStatus::EsmeRinvpaswd);
    assert_eq!(response.id(), CommandId::BindTransceiverResp);
    esme.expect_closed().await;

    let mut esme = Esme::connect(sim.smpp_addr()).await;
    let response = esme.bind(Bind::Transmitter, "stranger", "secret").await;
    assert_eq!(response.status(), CommandStatus::EsmeRinvsysid);
    assert_eq!(response.id(), CommandId::BindTransmitterResp);
    esme.expect_closed().await;

    let stats = sim.stats();
    assert_eq!((stats.binds_failed, stats.binds_ok), (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_before_bind_is_refused_and_enquire_link_and_unbind_are_answered() {
    let sim = sim(|_| {}).await;
    let mut esme = Esme::connect(sim.smpp_addr()).await;
    let response = esme.submit(gsm_submit("15551234567", "early")).await;
    assert_eq!(response.status(), CommandStatus::EsmeRinvbndsts);
    assert!(esme.until_barrier().await.is_empty());

    let unbind = esme.send(Pdu::Unbind).await;
    let response = esme.next().await.expect("unbind_resp");
    assert_eq!(
        (response.id(), response.sequence_number()),
        (CommandId::UnbindResp, unbind)
    );
    esme.expect_closed().await;
    let stats = sim.stats();
    assert_eq!(
        (stats.enquire_link, stats.unbind, stats.submit_sm_resp_error),
        (1, 1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_submit_gets_an_id_then_a_delivrd_receipt_with_tlvs() {
    let sim = sim(|_| {}).await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;

    let response = esme
        .submit(gsm_submit("15551234567", "Your code is 123456, valid 5 min"))
        .await;
    assert_eq!(response.status(), CommandStatus::EsmeRok);
    let id = message_id(&response);
    assert_eq!(id, "1");

    let receipt = esme.receipt().await;
    assert_eq!(u8::from(receipt.esm_class), 0x04);
    assert_eq!(receipt.source_addr.as_str(), "15551234567");
    assert_eq!(receipt.destination_addr.as_str(), "otpgate");
    let text = receipt_text(&receipt);
    let fields: Vec<&str> = text.split(' ').collect();
    assert_eq!(&fields[..3], ["id:1", "sub:001", "dlvrd:001"]);
    assert!(
        text.contains(" stat:DELIVRD err:000 text:Your code is 123456"),
        "{text}"
    );
    for label in ["submit date:", "done date:"] {
        let date = text.split(label).nth(1).unwrap().split(' ').next().unwrap();
        assert!(date.len() == 10 && date.bytes().all(|b| b.is_ascii_digit()), "{text}");
    }
    assert_eq!(receipt_tlvs(&receipt), (Some(id), Some(MessageState::Delivered)));

    // The deliver_sm_resp is counted.
    esme.until_barrier().await;
    let stats = sim.stats();
    assert_eq!(
        (
            stats.submit_sm,
            stats.submit_sm_resp_ok,
            stats.deliver_sm_sent,
            stats.deliver_sm_resp
        ),
        (1, 1, 1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_id_can_be_in_another_base_and_tlvs_can_be_left_out() {
    let sim = sim(|config| {
        config.message_id_format = IdFormat::Decimal;
        config.receipt_text_id_format = Some(IdFormat::Hex);
        config.receipt_tlvs = false;
    })
    .await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    let mut last = (String::new(), String::new());
    for _ in 0..26 {
        let id = message_id(&esme.submit(gsm_submit("4477009", "x")).await);
        let receipt = esme.receipt().await;
        assert_eq!(receipt_tlvs(&receipt), (None, None));
        last = (id, receipt_text(&receipt));
    }
    assert_eq!(last.0, "26");
    assert!(last.1.starts_with("id:1a "), "{}", last.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_receipt_unless_registered_delivery_asks() {
    let sim = sim(|config| config.message_id_format = IdFormat::Hex).await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    let mut submit = gsm_submit("15551234567", "quiet");
    submit.registered_delivery = 0.into();
    for _ in 0..11 {
        let response = esme.submit(submit.clone()).await;
        assert_eq!(response.status(), CommandStatus::EsmeRok);
    }
    assert!(esme.until_barrier().await.is_empty());
    assert_eq!(sim.records().last().unwrap().message_id, "b");
    assert_eq!(sim.records()[0].action, "accept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_actions_report_their_states() {
    let sim = sim(|config| {
        config.rules = vec![
            RuleSpec::new("1", Action::Undeliver),
            RuleSpec::new("2", Action::Reject).err(42),
            RuleSpec::new("3", Action::Expire),
            RuleSpec::new("4", Action::Accept),
        ]
    })
    .await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    for (destination, stat, state) in [
        ("1999", "stat:UNDELIV err:001", MessageState::Undeliverable),
        ("2999", "stat:REJECTD err:042", MessageState::Rejected),
        ("3999", "stat:EXPIRED err:001", MessageState::Expired),
    ] {
        let id = message_id(&esme.submit(gsm_submit(destination, "x")).await);
        let receipt = esme.receipt().await;
        let text = receipt_text(&receipt);
        assert!(text.contains(stat) && text.contains("dlvrd:000"), "{text}");
        assert_eq!(receipt_tlvs(&receipt), (Some(id), Some(state)));
    }
    let response = esme.submit(gsm_submit("4999", "x")).await;
    assert_eq!(response.status(), CommandStatus::EsmeRok);
    assert!(esme.until_barrier().await.is_empty(), "accept sends no receipt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_and_throttle_answer_errors_without_ids_or_receipts() {
    let sim = sim(|config| {
        config.rules = vec![
            RuleSpec::new("1555", Action::Refuse).status(0x0B),
            RuleSpec::new("1666", Action::Throttle),
            RuleSpec::new("1777", Action::Throttle).status(0x14),
        ]
    })
    .await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    for (destination, status) in [
        ("15551234567", CommandStatus::EsmeRinvdstadr),
        ("16661234567", CommandStatus::EsmeRthrottled),
        ("17771234567", CommandStatus::EsmeRmsgqful),
    ] {
        let response = esme.submit(gsm_submit(destination, "x")).await;
        assert_eq!(response.status(), status);
        assert_eq!(message_id(&response), "");
    }
    assert!(esme.until_barrier().await.is_empty(), "no receipts");
    assert_eq!(sim.stats().submit_sm_resp_error, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_exhausts_across_connections_then_default_delivery() {
    let sim = sim(|config| config.rules = vec![RuleSpec::new("1555", Action::Throttle).times(2)]).await;
    let mut first = Esme::bound(sim.smpp_addr()).await;
    let mut second = Esme::bound(sim.smpp_addr()).await;
    let status = |r: rusmpp::Command| r.status();
    assert_eq!(
        status(first.submit(gsm_submit("15551", "x")).await),
        CommandStatus::EsmeRthrottled
    );
    assert_eq!(
        status(second.submit(gsm_submit("15552", "x")).await),
        CommandStatus::EsmeRthrottled
    );
    assert_eq!(
        status(first.submit(gsm_submit("15553", "x")).await),
        CommandStatus::EsmeRok
    );
    assert!(receipt_text(&first.receipt().await).contains("stat:DELIVRD"));
    assert_eq!(sim.rules()[0].times, Some(0));

    // Replacing the rules starts the count afresh.
    sim.set_rules(vec![RuleSpec::new("1555", Action::Throttle).times(1)])
        .unwrap();
    assert_eq!(
        status(second.submit(gsm_submit("15554", "x")).await),
        CommandStatus::EsmeRthrottled
    );
    assert_eq!(
        status(second.submit(gsm_submit("15555", "x")).await),
        CommandStatus::EsmeRok
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_never_answers_but_the_session_goes_on() {
    let sim = sim(|config| config.rules = vec![RuleSpec::new("1555", Action::Silent)]).await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    let silent = esme.send(gsm_submit("15551234567", "x")).await;
    let answered = esme.submit(gsm_submit("447700900000", "y")).await;
    assert_eq!(answered.status(), CommandStatus::EsmeRok);
    let seen = esme.until_barrier().await;
    assert!(
        seen.iter()
            .all(|c| c.sequence_number() != silent || c.id() != CommandId::SubmitSmResp),
        "{seen:?}"
    );
    assert_eq!(sim.records()[0].action, "silent");
    assert_eq!(sim.stats().connections_active, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_closes_the_connection_without_answering() {
    let sim = sim(|config| config.rules = vec![RuleSpec::new("1555", Action::Drop)]).await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    let before = esme.submit(gsm_submit("447700900000", "x")).await;
    assert_eq!(before.status(), CommandStatus::EsmeRok);
    esme.receipt().await;
    esme.send(gsm_submit("15551234567", "x")).await;
    esme.expect_closed().await;
    let stats = sim.stats();
    assert_eq!(stats.dropped_connections, 1);
    assert_eq!(stats.submit_sm_resp_ok, 1);
    // The simulator keeps accepting.
    Esme::bound(sim.smpp_addr()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_then_drop_closes_once_the_window_is_full() {
    let sim = sim(|config| config.rules = vec![RuleSpec::new("1555", Action::HoldThenDrop).pending(3)]).await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    let mut submit = gsm_submit("15551234567", "x");
    submit.registered_delivery = 0.into();
    esme.send(submit.clone()).await;
    esme.send(submit.clone()).await;
    let mut other = gsm_submit("447700900000", "y");
    other.registered_delivery = 0.into();
    let answered = esme.send(other).await;
    let seen = esme.until_barrier().await;
    assert_eq!(seen.len(), 1, "only the other destination is answered: {seen:?}");
    assert_eq!(seen[0].sequence_number(), answered);

    esme.send(submit).await;
    esme.expect_closed().await;
    assert_eq!(sim.stats().dropped_connections, 1);
    assert_eq!(sim.stats().connections_active, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_receipt_waits_and_goes_to_a_receiver_of_a_transmitter_bind() {
    let sim = sim(|config| config.rules = vec![RuleSpec::new("1555", Action::Deliver).delay_ms(300)]).await;
    let mut transmitter = Esme::bound_as(sim.smpp_addr(), Bind::Transmitter).await;
    let mut receiver = Esme::bound_as(sim.smpp_addr(), Bind::Receiver).await;

    let sent = Instant::now();
    let id = message_id(&transmitter.submit(gsm_submit("15551234567", "x")).await);
    let receipt = receiver.receipt().await;
    assert!(sent.elapsed() >= Duration::from_millis(300), "{:?}", sent.elapsed());
    assert_eq!(receipt_tlvs(&receipt).0, Some(id));
    assert!(transmitter.until_barrier().await.is_empty());

    // A delay-0 receipt of a transmitter bind goes to the receiver too.
    let id = message_id(&transmitter.submit(gsm_submit("447700900000", "x")).await);
    assert_eq!(receipt_tlvs(&receiver.receipt().await).0, Some(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_commands_get_generic_nack() {
    let sim = sim(|_| {}).await;
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    // query_sm is a real command the simulator does not implement.
    let query = esme.send(rusmpp::pdus::QuerySm::default()).await;
    let response = esme.next().await.unwrap();
    assert_eq!(
        (response.id(), response.status(), response.sequence_number()),
        (CommandId::GenericNack, CommandStatus::EsmeRinvcmdid, query)
    );
    // An enquire_link with a body cannot be decoded; the session survives it.
    let raw = [0, 0, 0, 18, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 99, 1, 2];
    use tokio::io::AsyncWriteExt;
    esme.stream().write_all(&raw).await.unwrap();
    let response = esme.next().await.unwrap();
    assert_eq!(
        (response.id(), response.sequence_number()),
        (CommandId::GenericNack, 99)
    );
    let response = esme.submit(gsm_submit("447700900000", "still here")).await;
    assert_eq!(response.status(), CommandStatus::EsmeRok);
}
