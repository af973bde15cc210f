//! schemathesis (PyPI) against the live engine and its own `/v3/openapi.json`, with the checks
//! not_a_server_error, response_schema_conformance, status_code_conformance and
//! content_type_conformance. Any failure fails the test with schemathesis' report.
//!
//! Two runs on one engine. First the stateful phase alone on the standalone and sandbox
//! operations, following the document's links send → sandbox inbox → check; sends draw their
//! number from the sandbox numbers (`+1NXX55501XX`) most of the time, so the chain reaches
//! `Approved` — the test asserts it did. Then every operation through every phase (examples,
//! coverage, fuzzing, stateful with all links: workflow → session → decision, …).
//!
//! Bounded for CI: 20 examples per operation and a fixed seed (about 45 s in all on a 2-core
//! machine), each run killed after 3 minutes. Skipped, saying so, only when python3 is missing.
mod common;
mod openapi_support;

use common::Server;
use openapi_support::{fuzzable_server, tools};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHECKS: &str = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance";
const LIMIT: Duration = Duration::from_secs(180);

/// schemathesis' configuration: a dictionary of sandbox numbers for the sends' `phone_number`
/// (random E.164 strings are nearly never valid numbers, so the send → check chain would stop
/// at 400s).
fn config(dir: &Path) -> std::path::PathBuf {
    let numbers: Vec<String> = [202, 310, 415]
        .iter()
        .flat_map(|area| (0..97).map(move |i| format!("\"+1{area}55501{i:02}\"")))
        .collect();
    let text = format!(
        "[dictionaries.sandbox-numbers]\nvalues = [{}]\n\n[[operations]]\ninclude-operation-id = \"phone_send\"\n\
         parameters = {{ \"body.phone_number\" = {{ dictionary = \"sandbox-numbers\", probability = 0.8 }} }}\n",
        numbers.join(", ")
    );
    let path = dir.join("schemathesis.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `schemathesis run` with `args` against `s`; its exit status and report.
fn schemathesis(bin: &Path, dir: &Path, s: &Server, args: &[&str]) -> (bool, String) {
    let key_header = format!("x-api-key: {}", s.key);
    let mut child = Command::new(bin.join("schemathesis"))
        .arg("--config-file")
        .arg(config(dir))
        .arg("run")
        .arg(format!("{}/v3/openapi.json", s.base))
        .args(["--header", &key_header])
        .args(["--checks", CHECKS])
        .args(["--max-examples", "20", "--seed", "1", "--workers", "2"])
        .args(["--request-timeout", "20", "--no-color"])
        .args(args)
        .arg("--report-dir")
        .arg(dir.join("report"))
        .current_dir(dir)
        // No telemetry, no writes outside the temporary directory.
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .env("HYPOTHESIS_STORAGE_DIRECTORY", dir.join(".hypothesis"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run schemathesis");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("schemathesis ran past {LIMIT:?}:\n{}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut report = reader.join().unwrap();
    child.stderr.take().unwrap().read_to_string(&mut report).unwrap();
    println!("{report}\nschemathesis {args:?} ran {:.0?}", started.elapsed());
    (status.success(), report)
}

/// `otpgate_verifications_total{status="approved"}`.
fn approved(s: &Server) -> u64 {
    s.metrics()
        .lines()
        .find_map(|l| l.strip_prefix("otpgate_verifications_total{status=\"approved\"} "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let Some(bin) = tools() else {
        eprintln!("SKIPPED: python3 is not installed, so schemathesis cannot run");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = fuzzable_server(dir.path());

    let chain = [
        "--phases",
        "stateful",
        "--include-tag",
        "standalone",
        "--include-tag",
        "sandbox",
    ];
    let (ok, report) = schemathesis(&bin, dir.path(), &s, &chain);
    assert!(ok, "schemathesis (stateful, send → check) found failures:\n{report}");
    assert!(report.contains("Scenarios:"), "no stateful scenario ran:\n{report}");
    assert!(
        approved(&s) > 0,
        "following the links send → sandbox inbox → check approved nothing:\n{report}"
    );

    let (ok, report) = schemathesis(
        &bin,
        dir.path(),
        &s,
        &["--phases", "examples,coverage,fuzzing,stateful"],
    );
    assert!(ok, "schemathesis found failures:\n{report}");
    for phase in ["Examples", "Coverage", "Fuzzing", "Stateful"] {
        assert!(
            report.contains(&format!("✅ {phase}")),
            "the {phase} phase did not pass:\n{report}"
        );
    }
    let count = |label: &str| {
        let line = report
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_default();
        line.trim()
            .split('/')
            .next()
            .unwrap_or_default()
            .parse::<u32>()
            .unwrap_or(0)
    };
    let (selected, tested) = (count("Selected:"), count("Tested:"));
    assert!(
        selected >= 29 && tested == selected,
        "{tested} of {selected} operations tested:\n{report}"
    );

    let engine_log = s.stderr();
    assert!(!engine_log.contains("panicked"), "the engine panicked:\n{engine_log}");
    let (health, _) = s.request("GET", "/healthz", None, None);
    assert_eq!(health, 200, "the engine still answers after the runs");
}
