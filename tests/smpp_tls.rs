//! SMPP over TLS, end to end: the real otpgate binary and the workspace's simulator serving a
//! certificate made at test time (rcgen: a private CA, and a server certificate for 127.0.0.1
//! and localhost signed by it). Nothing is committed: the keys live in each test's temp dir.
mod common;

use common::smsc::{eventually, metric, smpp_carrier, Smsc};
use common::{write_config, Server, BIN};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// PEM files written by [`write_pki`].
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// Writes ca.pem (a private CA), server.pem and server.key (for IP 127.0.0.1 and DNS localhost,
/// signed by that CA) into `dir`.
fn write_pki(dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "otpgate test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).unwrap();

    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "smsc-sim");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();

    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}

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
    let pki = write_pki(dir.path());
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
    let pki = write_pki(dir.path());
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

    let pki = write_pki(dir.path());
    let (code, stderr) = check(&format!("tls_ca_file = \"{}\"", pki.ca.display()));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("tls_ca_file: only used with tls = true"), "{stderr}");

    let (code, stderr) = check(&format!("tls = true\ntls_ca_file = \"{}\"", pki.ca.display()));
    assert_eq!(code, Some(0), "{stderr}");
}
