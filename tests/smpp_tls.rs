//! SMPP over TLS, end to end: the real otpgate binary and the workspace's simulator serving a
//! certificate made at test time (rcgen: a private CA, and a server certificate for 127.0.0.1
//! and localhost signed by it). Nothing is committed: the keys live in each test's temp dir.
mod common;

use common::pki::{write_pki, Pki};
use common::smsc::{eventually, metric, smpp_carrier, Smsc};
use common::{write_config, Server, BIN};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The simulator speaking SMPP over TLS with the test certificate.
fn tls_smsc(dir: &Path, pki: &Pki) -> Smsc {
    Smsc::start(
        dir,
        &[
            "--tls-cert",
            pki.cert.to_str().unwrap(),
            "--tls-key",
            pki.key.to_str().unwrap(),
        ],
    )
}

#[test]
fn an_otp_goes_out_over_tls_to_an_smsc_whose_ca_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_pki(dir.path(), "smsc-sim");
    let smsc = tls_smsc(dir.path(), &pki);
    let tls = format!("tls = true\ntls_ca_file = \"{}\"", pki.ca.display());
    let server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, &tls));

    let sent = server.send("+14155552671");
    assert_eq!(
        (sent["status"].as_str(), sent["channel"].as_str()),
        (Some("Success"), Some("sms")),
        "{sent}"
    );
    // The simulator only speaks SMPP after a TLS handshake, so this submit came over TLS.
    let messages = smsc.messages_to("14155552671");
    assert_eq!(messages.len(), 1, "{messages:?}");
    let text = messages[0]["text"].as_str().unwrap();
    assert!(text.starts_with("Your default verification code is "), "{text}");

    // The receipt comes back over the same TLS session.
    let delivered = || {
        metric(
            &server.metrics(),
            "otpgate_messages_delivered_total",
            &[("carrier", "smsc-a")],
        )
    };
    assert!(
        eventually(Duration::from_secs(5), || delivered() >= 1.0),
        "receipt never counted"
    );
    let (status, body) = server.request("GET", "/readyz", None, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(smsc.stat("tls_handshake_failed"), 0, "{}", smsc.stats());
}

#[test]
fn an_untrusted_smsc_certificate_keeps_the_carrier_down_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_pki(dir.path(), "smsc-sim");
    let smsc = tls_smsc(dir.path(), &pki);
    // Only the webpki roots: the test CA is not among them.
    let server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, "tls = true"));

    let (status, body) = server.request("GET", "/readyz", None, None);
    assert_eq!(status, 503, "{body}");
    let (status, body) = server.post("/v3/phone/send/", &json!({ "phone_number": "+14155552671" }));
    assert_eq!(
        (status, body["code"].as_str()),
        (502, Some("phone_provider_unavailable")),
        "{body}"
    );
    assert!(
        eventually(Duration::from_secs(5), || server
            .stderr()
            .contains("TLS handshake with")),
        "no TLS error in the log:\n{}",
        server.stderr()
    );
    let stderr = server.stderr();
    let line = stderr.lines().find(|l| l.contains("TLS handshake with")).unwrap();
    assert!(
        line.contains(&smsc.smpp) && line.contains("failed") && line.contains("UnknownIssuer"),
        "{line}"
    );
    assert!(
        eventually(Duration::from_secs(5), || smsc.stat("tls_handshake_failed") >= 1),
        "{}",
        smsc.stats()
    );
    assert_eq!(
        (smsc.stat("connections_total"), smsc.stat("binds_ok")),
        (0, 0),
        "no SMPP without a trusted handshake"
    );
    assert!(smsc.messages_to("14155552671").is_empty());
}

#[test]
fn check_config_names_a_missing_or_misplaced_tls_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let check = |extra: &str| {
        let config = write_config(dir.path(), &smpp_carrier("127.0.0.1:2775", extra));
        let out = Command::new(BIN)
            .args(["check-config", "--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };

    let missing = dir.path().join("missing-ca.pem");
    let (code, stderr) = check(&format!("tls = true\ntls_ca_file = \"{}\"", missing.display()));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("tls_ca_file") && stderr.contains(&missing.display().to_string()),
        "{stderr}"
    );

    let pki = write_pki(dir.path(), "smsc-sim");
    let (code, stderr) = check(&format!("tls_ca_file = \"{}\"", pki.ca.display()));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("tls_ca_file: only used with tls = true"), "{stderr}");

    let (code, stderr) = check(&format!("tls = true\ntls_ca_file = \"{}\"", pki.ca.display()));
    assert_eq!(code, Some(0), "{stderr}");
}
