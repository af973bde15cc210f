//! The HTTP control endpoint: stats, rules swapped at run time, reset, bad input.

use rusmpp::CommandStatus;
use serde_json::json;

use crate::esme::{gsm_submit, Esme};
use crate::{http, sim};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_put_over_http_apply_to_the_next_submit() {
    let sim = sim(|_| {}).await;
    let url = sim.control_url();
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    assert_eq!(
        esme.submit(gsm_submit("15551234567", "x")).await.status(),
        CommandStatus::EsmeRok
    );
    esme.receipt().await;

    let rules = json!([
        {"pattern": "1555", "action": "refuse", "status": "0x45", "times": 1},
        {"pattern": "*", "action": "throttle", "status": 20}
    ]);
    let (status, body) = http("PUT", &format!("{url}/rules"), Some(&rules.to_string()));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["status"], 0x45);

    let status_of = |r: rusmpp::Command| r.status();
    assert_eq!(
        status_of(esme.submit(gsm_submit("15551234567", "x")).await),
        CommandStatus::EsmeRsubmitfail
    );
    assert_eq!(
        status_of(esme.submit(gsm_submit("15551234567", "x")).await),
        CommandStatus::EsmeRmsgqful
    );
    let (_, rules_now) = http("GET", &format!("{url}/rules"), None);
    assert_eq!(rules_now[0]["times"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rules_are_refused_with_detail_and_change_nothing() {
    let sim = sim(|_| {}).await;
    let url = sim.control_url();
    for body in [
        "not json",
        r#"{"pattern": "1", "action": "accept"}"#,
        r#"[{"pattern": "1", "action": "explode"}]"#,
        r#"[{"pattern": "1", "action": "accept", "colour": "red"}]"#,
        r#"[{"pattern": "*", "action": "accept"}, {"pattern": "1x", "action": "accept"}]"#,
        r#"[{"pattern": "1", "action": "throttle", "status": "fast"}]"#,
    ] {
        let (status, reply) = http("PUT", &format!("{url}/rules"), Some(body));
        assert_eq!(status, 400, "{body}");
        assert!(reply["detail"].as_str().is_some_and(|d| !d.is_empty()), "{reply}");
    }
    let (_, reply) = http(
        "PUT",
        &format!("{url}/rules"),
        Some(r#"[{"pattern": "*", "action": "accept"}, {"pattern": "1x", "action": "accept"}]"#),
    );
    assert!(reply["detail"].as_str().unwrap().contains("rule 1"), "{reply}");
    assert!(sim.rules().is_empty());

    let (status, reply) = http("GET", &format!("{url}/nowhere"), None);
    assert_eq!((status, reply["detail"].as_str()), (404, Some("not found")));
    let (status, _) = http("DELETE", &format!("{url}/stats"), None);
    assert_eq!(status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_and_reset_clears_counters_records_and_times() {
    let sim = sim(|config| {
        config.rules = vec![otpgate_smsc_sim::RuleSpec::new("1555", otpgate_smsc_sim::Action::Throttle).times(1)]
    })
    .await;
    let url = sim.control_url();
    let mut esme = Esme::bound(sim.smpp_addr()).await;
    esme.submit(gsm_submit("15551234567", "x")).await;
    esme.submit(gsm_submit("15551234567", "x")).await;
    esme.receipt().await;
    esme.until_barrier().await;

    let (status, stats) = http("GET", &format!("{url}/stats"), None);
    assert_eq!(status, 200);
    let expected = [
        ("connections_total", 1),
        ("connections_active", 1),
        ("binds_ok", 1),
        ("binds_failed", 0),
        ("submit_sm", 2),
        ("submit_sm_resp_ok", 1),
        ("submit_sm_resp_error", 1),
        ("enquire_link", 1),
        ("unbind", 0),
        ("deliver_sm_sent", 1),
        ("deliver_sm_resp", 1),
        ("dropped_connections", 0),
    ];
    for (key, value) in expected {
        assert_eq!(stats[key], value, "{key} in {stats}");
    }

    let (status, _) = http("POST", &format!("{url}/reset"), None);
    assert_eq!(status, 200);
    let (_, stats) = http("GET", &format!("{url}/stats"), None);
    assert_eq!(
        (stats["submit_sm"].as_u64(), stats["connections_active"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(sim.records().is_empty());
    // The throttle's single use is available again.
    assert_eq!(
        esme.submit(gsm_submit("15551234567", "x")).await.status(),
        CommandStatus::EsmeRthrottled
    );
}
