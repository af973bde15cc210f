//! Issue 14, limits across nodes: two engine processes on one fresh PostgreSQL schema, as two
//! nodes behind a load balancer. A per-key limit split across both admits its total once; a
//! prefix blocked for SMS pumping on node A is refused on node B; one SMPP carrier with
//! `max_tps = M` bound from both nodes sees at most M submit_sm per second in total. Needs
//! `TEST_DATABASE_URL` (skipped, saying so, without it).
mod common;
#[path = "store_suite/pg.rs"]
mod pg;

use common::smsc::{carriers_up, eventually, metric, smpp_carrier, Smsc};
use common::Server;
use pg::Schema;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const KEY: &str = "acme-key-0123456789";

fn schema() -> Option<Schema> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(Schema::create())
}

/// Two nodes on `schema` sharing one directory (so one code secret) and one config.
fn two_nodes(dir: &Path, schema: &Schema, extra: &str) -> (Server, Server) {
    let config = dir.join("otpgate.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{}\"\n\
             [[applications]]\nname = \"acme\"\napi_key = \"{KEY}\"\n{extra}",
            schema.url()
        ),
    )
    .unwrap();
    let args = ["serve", "--config", config.to_str().unwrap()];
    let a = Server::start(dir, &args, Some(KEY));
    let b = Server::start(dir, &args, Some(KEY));
    (a, b)
}

/// GET `path` with the key: the status and the `Retry-After` header.
fn get(node: &Server, path: &str) -> (u16, Option<u64>) {
    let response = match ureq::get(&format!("{}{path}", node.base)).set("x-api-key", KEY).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {path}: {e}"),
    };
    let retry_after = response.header("retry-after").map(|v| v.parse().unwrap());
    (response.status(), retry_after)
}

/// Waits, if needed, until a fresh minute has 40 s left: the limits are per-minute windows
/// on the database clock, and a test that crossed a window's end would get a second allowance.
fn early_in_a_window() {
    let in_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 60_000;
    if in_minute > 20_000 {
        std::thread::sleep(Duration::from_millis(60_000 - in_minute as u64 + 200));
    }
}

#[test]
fn a_per_key_limit_split_across_two_nodes_admits_its_total_once() {
    let Some(schema) = schema() else { return };
    let dir = tempfile::tempdir().unwrap();
    let limits = "[limits]\nrequests_per_minute_per_key = 10\nrequests_per_minute_per_ip = 0\n";
    let (a, b) = two_nodes(dir.path(), &schema, limits);
    early_in_a_window();
    let (mut admitted, mut refused) = ([0; 2], 0);
    for i in 0..30 {
        match get([&a, &b][i % 2], "/v3/workflows/") {
            (200, _) => admitted[i % 2] += 1,
            (429, Some(wait)) => {
                assert!((1..=60).contains(&wait), "Retry-After: {wait}");
                refused += 1;
            }
            other => panic!("request {i}: {other:?}"),
        }
    }
    assert_eq!(admitted[0] + admitted[1], 10, "admitted per node: {admitted:?}");
    assert!(admitted[0] > 0 && admitted[1] > 0, "both nodes served: {admitted:?}");
    assert_eq!(refused, 20);
    let limited = |node: &Server| {
        metric(
            &node.metrics(),
            "otpgate_http_requests_rate_limited_total",
            &[("scope", "key")],
        )
    };
    assert_eq!(limited(&a) + limited(&b), 20.0);
}

#[test]
fn a_prefix_blocked_for_pumping_on_node_a_is_refused_on_node_b() {
    let Some(schema) = schema() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pumping = "[risk.pumping]\nmin_sends = 3\nmin_completion = 0.5\ngrace_seconds = 0\n\
                   window_seconds = 60\nblock_seconds = 600\n";
    let (a, b) = two_nodes(dir.path(), &schema, pumping);
    let send = |node: &Server, phone: &str| -> Value {
        let (status, body) = node.post("/v3/phone/send/", &json!({ "phone_number": phone }));
        assert_eq!(status, 200, "{body}");
        body
    };
    // Three sends on node A nobody completes.
    for phone in ["+12025550101", "+12025550102", "+12025550103"] {
        assert_eq!(send(&a, phone)["status"], "Success");
    }
    // Node B has seen none of them, yet refuses the prefix once A's sends are shared.
    std::thread::sleep(Duration::from_millis(300));
    let on_a = send(&a, "+12025550104");
    assert_eq!(
        (&on_a["status"], &on_a["reason"]),
        (&json!("Blocked"), &json!("suspicious")),
        "{on_a}"
    );
    let on_b = send(&b, "+12025550105");
    assert_eq!(
        (&on_b["status"], &on_b["reason"]),
        (&json!("Blocked"), &json!("suspicious")),
        "{on_b}"
    );
    // Another prefix is not blocked, on either node.
    assert_eq!(send(&b, "+13105550131")["status"], "Success");
}

/// Timestamps (ms) of every submit_sm the simulator received.
fn submit_times(smsc: &Smsc) -> Vec<i64> {
    let all: Value = ureq::get(&format!("{}/messages", smsc.control))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let mut times: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["received_at_ms"].as_i64().unwrap())
        .collect();
    times.sort_unstable();
    times
}

#[test]
fn one_carrier_bound_from_two_nodes_sees_at_most_max_tps_in_total() {
    let Some(schema) = schema() else { return };
    const MAX_TPS: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let smsc = Smsc::start(dir.path(), &[]);
    let carrier = smpp_carrier(&smsc.smpp, &format!("max_tps = {MAX_TPS}\nwindow = 10\n"));
    let (a, b) = two_nodes(dir.path(), &schema, &carrier);
    for node in [&a, &b] {
        carriers_up(node, &["smsc-a"]);
    }
    // Both nodes have counted each other (a heartbeat a second).
    assert!(eventually(Duration::from_secs(5), || {
        [&a, &b]
            .iter()
            .all(|n| metric(&n.metrics(), "otpgate_live_nodes", &[]) == 2.0)
    }));

    // Six clients per node, each sending to numbers of its own, for eight seconds: far more than
    // the carrier takes, so both nodes' buckets stay empty and throttle. (A node's first sends
    // take a few seconds on a loaded machine: actors, pools and statements warm up.)
    let load_for = Duration::from_secs(8);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for client in 0..12usize {
            let node = if client % 2 == 0 { &a } else { &b };
            scope.spawn(move || {
                let mut i = 0;
                while started.elapsed() < load_for {
                    let phone = format!("+1415555{:04}", 2000 + client * 100 + i);
                    let (status, body) = node.post("/v3/phone/send/", &json!({ "phone_number": phone }));
                    assert_eq!(status, 200, "{body}");
                    i += 1;
                }
            });
        }
    });
    let times = submit_times(&smsc);
    assert!(
        times.len() >= 2 * MAX_TPS,
        "only {} submit_sm: too few to measure",
        times.len()
    );
    // Any one-second span holds at most a bucket's burst (max_tps in all) plus a second's rate.
    let busiest = times
        .iter()
        .map(|&t| times.iter().filter(|&&u| u >= t && u < t + 1_000).count())
        .max()
        .unwrap();
    assert!(busiest <= 2 * MAX_TPS, "{busiest} submit_sm in one second");
    // Over the run the rate is max_tps, not the 2 × max_tps two unshared nodes would allow.
    let span_s = (times[times.len() - 1] - times[0]) as f64 / 1_000.0;
    let rate = (times.len() - 1) as f64 / span_s;
    eprintln!(
        "max_tps {MAX_TPS} on two nodes: {} submit_sm over {span_s:.2} s = {rate:.1}/s, busiest second {busiest}",
        times.len()
    );
    assert!(rate <= MAX_TPS as f64 * 1.2, "{rate:.1} submit_sm/s");
    assert!(rate >= MAX_TPS as f64 * 0.5, "{rate:.1} submit_sm/s: the share starves");
}
