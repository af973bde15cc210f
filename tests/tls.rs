//! HTTPS on the API listener (`[server.tls]`), end to end: the real binary serving a certificate
//! made at test time by a private CA (rcgen), and reqwest (rustls) clients that trust that CA.
//! With `min_version = "1.3"`, a client limited to TLS 1.2 is refused at the handshake.
mod common;

use common::pki::write_pki;
use common::Server;
use std::path::Path;

/// Writes the test PKI ([`write_pki`]) into `dir`; returns the CA's PEM and the `[server.tls]`
/// lines for the server's pair.
fn tls_setup(dir: &Path, min_version: &str) -> (String, String) {
    let pki = write_pki(dir, "otpgate");
    let section = format!(
        "[server.tls]\ncert = \"{}\"\nkey = \"{}\"\nmin_version = \"{min_version}\"\n",
        pki.cert.display(),
        pki.key.display()
    );
    (pki.ca_pem, section)
}

/// A rustls client trusting only `ca`, at most TLS `max` (`None`: 1.3 allowed).
fn client(ca: &str, max: Option<reqwest::tls::Version>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
    if let Some(max) = max {
        builder = builder.max_tls_version(max);
    }
    builder.build().unwrap()
}

/// GET `url` with `key`: the status, or the error's full chain.
fn get(client: &reqwest::Client, url: &str, key: &str) -> Result<u16, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        client
            .get(url)
            .header("x-api-key", key)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| {
                let mut chain = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    chain.push_str(&format!(": {s}"));
                    source = s.source();
                }
                chain
            })
    })
}

#[test]
fn a_tls_1_3_only_listener_serves_1_3_and_refuses_a_tls_1_2_only_client() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, tls) = tls_setup(dir.path(), "1.3");
    let server = Server::with_config(dir.path(), &tls);
    assert!(server.base.starts_with("https://127.0.0.1:"), "{}", server.base);
    let url = format!("{}/v3/workflows/", server.base);

    assert_eq!(get(&client(&ca, None), &url, &server.key), Ok(200));
    let refused = get(&client(&ca, Some(reqwest::tls::Version::TLS_1_2)), &url, &server.key)
        .expect_err("a TLS 1.2-only client must not get an answer");
    // rustls names the failed negotiation (the server offers no version the client allows).
    assert!(
        refused.contains("ProtocolVersion") || refused.to_lowercase().contains("protocol version"),
        "{refused}"
    );
    // Plain HTTP on the TLS port gets no API answer either.
    let plain = format!("{}/healthz", server.base.replace("https://", "http://"));
    assert!(ureq::get(&plain).call().is_err());
}

#[test]
fn the_default_min_version_also_serves_tls_1_2_clients_and_checks_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, tls) = tls_setup(dir.path(), "1.2");
    let server = Server::with_config(dir.path(), &tls);
    let url = format!("{}/v3/workflows/", server.base);
    assert_eq!(
        get(&client(&ca, Some(reqwest::tls::Version::TLS_1_2)), &url, &server.key),
        Ok(200)
    );
    assert_eq!(get(&client(&ca, None), &url, &server.key), Ok(200));
    // A client that does not trust the test CA refuses the server.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (other_ca, _) = tls_setup(&other, "1.2");
    let untrusting = get(&client(&other_ca, None), &url, &server.key).expect_err("unknown issuer");
    assert!(
        untrusting.contains("UnknownIssuer") || untrusting.contains("certificate"),
        "{untrusting}"
    );
}

#[test]
fn a_missing_certificate_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(
        dir.path(),
        "[server.tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
    );
    let out = std::process::Command::new(common::BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.tls.cert /nonexistent/cert.pem"), "{stderr}");
}
