//! Number intelligence through the engine: carrier names from libphonenumber's carrier mapping,
//! and a disposable-number file that is re-read while the engine runs.
mod common;

use common::smsc::eventually;
use common::Server;
use serde_json::json;
use std::time::Duration;

#[test]
fn the_report_names_the_mobile_carrier_from_the_carrier_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    // A real Spanish Vodafone number, blocklisted so that nothing is sent: its report still
    // carries everything the engine knows about the number.
    let phone = "+34610123456";
    let (status, _) = server.post("/v3/blocklist/phone/", &json!({ "phone_number": phone }));
    assert_eq!(status, 201);
    assert_eq!(server.send(phone)["status"], "Blocked");
    let checked = server.check(phone, "000000");
    assert_eq!(
        checked["phone"]["carrier"],
        json!({ "name": "Vodafone", "type": "mobile" }),
        "{checked}"
    );
    assert_eq!(checked["phone"]["country_code"], "ES");
    assert_eq!(checked["phone"]["is_disposable"], false);
}

#[test]
fn a_disposable_list_is_applied_and_reloaded_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("disposable.txt");
    std::fs::write(&list, "# ours\n+12025550150\n").unwrap();
    let server = Server::with_config(
        dir.path(),
        &format!(
            "[intel]\ndisposable_file = \"{}\"\nreload_seconds = 1\n",
            list.display()
        ),
    );
    let declined_as_disposable = |phone: &str| {
        assert_eq!(server.send(phone)["status"], "Success");
        let code = server.latest_code(phone);
        let (_, checked) = server.post(
            "/v3/phone/check/",
            &json!({ "phone_number": phone, "code": code, "disposable_number_action": "DECLINE" }),
        );
        checked
    };
    let checked = declined_as_disposable("+12025550150");
    assert_eq!(checked["status"], "Declined", "{checked}");
    assert_eq!(checked["phone"]["is_disposable"], true);
    assert_eq!(checked["phone"]["warnings"][0]["risk"], "DISPOSABLE_NUMBER_DETECTED");
    assert_eq!(checked["phone"]["warnings"][0]["log_type"], "error");
    assert_eq!(
        declined_as_disposable("+12025550151")["status"],
        "Approved",
        "not listed yet"
    );

    // A range added to the file takes effect within the reload interval.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&list, "+12025550150\n+1202555016*\n").unwrap();
    assert!(
        eventually(Duration::from_secs(5), || {
            let metrics = server.metrics();
            common::smsc::metric(
                &metrics,
                "otpgate_intel_reloads_total",
                &[("file", "disposable"), ("result", "ok")],
            ) >= 2.0
        }),
        "the changed file was not re-read"
    );
    let checked = declined_as_disposable("+12025550163");
    assert_eq!(checked["status"], "Declined", "{checked}");
    assert_eq!(checked["phone"]["is_disposable"], true);

    // A broken file is refused and the list in use stays.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&list, "+1202555016*\nnot a number\n").unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        common::smsc::metric(
            &server.metrics(),
            "otpgate_intel_reloads_total",
            &[("file", "disposable"), ("result", "error")],
        ) >= 1.0
    }));
    assert_eq!(declined_as_disposable("+12025550164")["status"], "Declined");
}

#[test]
fn a_missing_or_broken_intel_file_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), "[intel]\ncarriers_file = \"/nonexistent/carriers.tsv\"\n");
    let output = std::process::Command::new(common::BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("carriers file /nonexistent/carriers.tsv"), "{stderr}");
}

/// A number-lookup provider on loopback: answers every request with `status` and `body`, and
/// records the request lines and Authorization headers it got.
/// Request line and Authorization header of each request.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>;

struct Provider {
    url: String,
    seen: Seen,
}

impl Provider {
    fn start(status: u16, body: &'static str) -> Provider {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hlr?number={{number}}", listener.local_addr().unwrap());
        let seen = Seen::default();
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut authorization = None;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap() == 0 || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        if name.eq_ignore_ascii_case("authorization") {
                            authorization = Some(value.trim().to_owned());
                        }
                    }
                }
                record
                    .lock()
                    .unwrap()
                    .push((request_line.trim().to_owned(), authorization));
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Provider { url, seen }
    }
}

/// A blocked send creates a verification (and so a report) without any carrier.
fn blocked_report(server: &Server, phone: &str) -> serde_json::Value {
    let (status, _) = server.post("/v3/blocklist/phone/", &json!({ "phone_number": phone }));
    assert!(status == 201 || status == 200);
    assert_eq!(server.send(phone)["status"], "Blocked");
    server.check(phone, "000000")
}

#[test]
fn a_lookup_provider_names_the_current_carrier_of_a_ported_number_and_is_cached() {
    let provider = Provider::start(200, r#"{"carrier":"Movistar","type":"mobile","ported":true}"#);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(
        dir.path(),
        &format!(
            "[intel.lookup]\nurl = \"{}\"\ntoken = \"lookup-s3cret\"\n",
            provider.url
        ),
    );
    let phone = "+34610123456";
    let first = blocked_report(&server, phone);
    assert_eq!(
        first["phone"]["carrier"],
        json!({ "name": "Movistar", "type": "mobile" }),
        "{first}"
    );
    let again = blocked_report(&server, phone);
    assert_eq!(again["phone"]["carrier"]["name"], "Movistar");
    let seen = provider.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "the second send used the cache: {seen:?}");
    assert_eq!(seen[0].0, "GET /hlr?number=%2B34610123456 HTTP/1.1");
    assert_eq!(seen[0].1.as_deref(), Some("Bearer lookup-s3cret"));
    assert!(!server.stderr().contains("lookup-s3cret"), "the token reached the logs");
    let metrics = server.metrics();
    for (result, expected) in [("found", 1.0), ("cached", 1.0)] {
        let value = common::smsc::metric(&metrics, "otpgate_intel_lookups_total", &[("result", result)]);
        assert_eq!(value, expected, "{result}");
    }
}

#[test]
fn a_failing_lookup_provider_falls_back_to_the_prefix_data() {
    let provider = Provider::start(503, r#"{"error":"down"}"#);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), &format!("[intel.lookup]\nurl = \"{}\"\n", provider.url));
    let report = blocked_report(&server, "+34610123456");
    assert_eq!(report["phone"]["carrier"]["name"], "Vodafone", "{report}");
    assert_eq!(
        provider.seen.lock().unwrap()[0].1,
        None,
        "no token configured, none sent"
    );
    assert_eq!(
        common::smsc::metric(&server.metrics(), "otpgate_intel_lookups_total", &[("result", "error")]),
        1.0
    );
}

#[test]
fn a_rate_limited_send_costs_no_lookup() {
    let provider = Provider::start(200, r#"{"carrier":"Movistar"}"#);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(
        dir.path(),
        &format!(
            "[risk]\nsends_per_minute_per_application = 1\n[intel.lookup]\nurl = \"{}\"\n",
            provider.url
        ),
    );
    // With no carrier configured the sandbox takes every number.
    assert_eq!(server.send("+34610123456")["status"], "Success");
    let (status, body) = server.post("/v3/phone/send/", &json!({ "phone_number": "+34610123457" }));
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        provider.seen.lock().unwrap().len(),
        1,
        "only the admitted send was looked up"
    );
}
