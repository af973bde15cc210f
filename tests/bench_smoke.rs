//! The whole-path benchmark, CI-sized (issue 17): the load generator (`otpgate-load`) drives the
//! engine through one SMPP bind to the SMSC simulator for a few seconds, as `benches/kannel.sh`
//! and `benches/volume.sh` do for minutes. It asserts only that the run completed with every
//! unit accepted and every accepted message at the SMSC: a change that breaks the benchmark's
//! path (the load tool's requests, the API it drives, the simulator's control counters) fails
//! here. No timed assertion: the machine is shared.
mod common;

use common::smsc::{carriers_up, smpp_carrier, Smsc};
use common::{Server, BIN};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// One run of the load generator with `args`; its JSON report, after checking it exited 0.
fn load(server: &Server, smsc: &Smsc, args: &[&str]) -> Value {
    let tool = Path::new(BIN).with_file_name("otpgate-load");
    assert!(
        tool.exists(),
        "{} is missing: `cargo build --workspace --bins` (tests/run.sh does)",
        tool.display()
    );
    let output = Command::new(&tool)
        .args(["--url", &server.base, "--api-key", &server.key])
        .args(["--smsc-control", &smsc.control, "--drain-timeout", "20", "--json"])
        .args(["--concurrency", "8", "--warmup", "0.5", "--duration", "3"])
        // A smoke run, not a timed one: CI shares its cores with the build, and a debug engine
        // on a loaded machine may answer one request in seconds. Only a stuck path times out.
        .args(["--timeout", "30"])
        .args(args)
        .output()
        .expect("run otpgate-load");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The report (stdout) says which step failed and how; stderr only warns.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "otpgate-load {args:?} failed ({}): report {stdout}; stderr: {stderr}",
        output.status
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("report: {e}; stderr: {stderr}"))
}

fn engine(dir: &Path) -> (Smsc, Server) {
    let smsc = Smsc::start(dir, &[]);
    // As the benchmarks configure it: one load generator on one address and one key, sends to
    // few prefixes with nobody entering codes (send mode).
    let config = format!(
        "[risk.pumping]\nmin_sends = 0\n[limits]\nrequests_per_minute_per_ip = 0\n\
         requests_per_minute_per_key = 0\n{}",
        smpp_carrier(&smsc.smpp, "window = 10\nmax_tps = 0")
    );
    let server = Server::with_config(dir, &config);
    carriers_up(&server, &["smsc-a"]);
    (smsc, server)
}

#[test]
fn the_whole_path_send_benchmark_runs_clean_for_three_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let (smsc, server) = engine(dir.path());
    let report = load(&server, &smsc, &["--mode", "send", "--rate", "0"]);
    assert_eq!(report["failed"], 0, "{report}");
    assert!(report["succeeded"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["smsc"]["drained"], true, "{report}");
    assert!(report["units_per_s"].as_f64().unwrap() > 0.0, "{report}");
}

#[test]
fn the_verify_benchmark_runs_clean_through_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let (smsc, server) = engine(dir.path());
    // send → the code read back from the simulator → check, open loop.
    let report = load(&server, &smsc, &["--mode", "verify", "--rate", "20"]);
    assert_eq!(report["failed"], 0, "{report}");
    assert!(report["succeeded"].as_u64().unwrap() > 0, "{report}");
    assert!(
        report["latency_ms"]["check"]["p50"].as_f64().is_some(),
        "no check latency in {report}"
    );
}
