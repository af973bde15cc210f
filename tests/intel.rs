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
