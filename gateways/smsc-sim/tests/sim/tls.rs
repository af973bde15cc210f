//! SMPP over TLS: certificates made at test time by rcgen (a CA, and a server certificate for
//! 127.0.0.1 and localhost signed by it), a client trusting that CA, and clients that cannot get
//! through the handshake.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use rusmpp::pdus::BindTransceiver;
use rusmpp::types::COctetString;
use rusmpp::values::InterfaceVersion;
use rusmpp::CommandStatus;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;

use crate::esme::{gsm_submit, message_id, receipt_text, tcp, Bind, Esme};
use crate::sim;

/// A test CA and a server certificate it signed, as PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertificateDer<'static>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "smsc-sim test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).unwrap();

        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "smsc-sim");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();

        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        Pki {
            ca: ca.der().clone(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cert(&self) -> PathBuf {
        self.path("server.pem")
    }

    fn key(&self) -> PathBuf {
        self.path("server.key")
    }

    /// A connector that trusts this CA, or (`trusting: false`) nothing at all.
    fn connector(&self, trusting: bool) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        if trusting {
            roots.add(self.ca.clone()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

async fn tls_sim(pki: &Pki) -> otpgate_smsc_sim::SimHandle {
    sim(|config| {
        config.tls_cert = Some(pki.cert());
        config.tls_key = Some(pki.key());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trusting_the_ca_binds_submits_and_gets_its_receipt_over_tls() {
    let pki = Pki::new();
    let sim = tls_sim(&pki).await;
    let addr = sim.smpp_addr();

    let server_name = ServerName::try_from("127.0.0.1").unwrap();
    let stream = pki.connector(true).connect(server_name, tcp(addr).await).await;
    let mut esme = Esme::over(stream.expect("TLS handshake with the test CA"));
    let bound = esme.bind(Bind::Transceiver, "otpgate", "secret").await;
    assert_eq!(bound.status(), CommandStatus::EsmeRok);

    let response = esme.submit(gsm_submit("15551234567", "Your code is 123456")).await;
    assert_eq!(response.status(), CommandStatus::EsmeRok);
    let id = message_id(&response);
    assert!(receipt_text(&esme.receipt().await).starts_with(&format!("id:{id} ")));
    esme.send(rusmpp::Pdu::Unbind).await;
    assert!(esme.next().await.is_some(), "unbind_resp");
    esme.expect_closed().await;

    let records = sim.records_to("15551234567");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].text.as_deref(), Some("Your code is 123456"));
    let stats = sim.stats();
    assert_eq!(
        (
            stats.binds_ok,
            stats.submit_sm_resp_ok,
            stats.deliver_sm_resp,
            stats.tls_handshake_failed
        ),
        (1, 1, 1, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_fail_the_handshake_are_closed_and_counted_and_the_simulator_goes_on() {
    let pki = Pki::new();
    let sim = tls_sim(&pki).await;
    let addr = sim.smpp_addr();

    // Plain SMPP to a TLS listener: the bind is no ClientHello, so no bind response comes back.
    let mut plain = Esme::connect(addr).await;
    let bind = BindTransceiver::builder()
        .system_id(COctetString::from_string("otpgate".into()).unwrap())
        .password(COctetString::from_string("secret".into()).unwrap())
        .interface_version(InterfaceVersion::Smpp3_4)
        .build();
    plain.send(bind).await;
    plain.expect_closed().await;
    assert_eq!(sim.stats().tls_handshake_failed, 1);

    // A client that does not trust the certificate gives up during the handshake.
    let server_name = ServerName::try_from("localhost").unwrap();
    let refused = pki.connector(false).connect(server_name.clone(), tcp(addr).await).await;
    let error = refused.expect_err("an untrusted certificate fails the handshake");
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");

    // The listener is unharmed; the DNS name in the certificate works as well as the IP.
    let stream = pki.connector(true).connect(server_name, tcp(addr).await).await;
    let mut esme = Esme::over(stream.expect("TLS handshake for localhost"));
    let bound = esme.bind(Bind::Transmitter, "otpgate", "secret").await;
    assert_eq!(bound.status(), CommandStatus::EsmeRok);

    // The client gave up first; the simulator counts once it has read the client's alert.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.stats().tls_handshake_failed < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = sim.stats();
    assert_eq!(
        (
            stats.tls_handshake_failed,
            stats.connections_total,
            stats.binds_ok,
            stats.binds_failed
        ),
        (2, 1, 1, 0),
        "handshake failures are not SMPP connections: {stats:?}"
    );
}

#[tokio::test]
async fn tls_settings_must_come_in_pairs_and_be_readable() {
    let pki = Pki::new();
    let only_cert = otpgate_smsc_sim::start(otpgate_smsc_sim::SimConfig {
        tls_cert: Some(pki.cert()),
        ..otpgate_smsc_sim::SimConfig::ephemeral()
    })
    .await;
    let error = only_cert.expect_err("a certificate without a key");
    assert!(error.to_string().contains("both"), "{error:#}");

    let missing = pki.path("missing.pem");
    let unreadable = otpgate_smsc_sim::start(otpgate_smsc_sim::SimConfig {
        tls_cert: Some(missing.clone()),
        tls_key: Some(pki.key()),
        ..otpgate_smsc_sim::SimConfig::ephemeral()
    })
    .await;
    let error = format!("{:#}", unreadable.expect_err("a missing certificate file"));
    assert!(error.contains(&missing.display().to_string()), "{error}");

    // The binary refuses half a pair before it listens.
    let out = run_binary(&["--listen", "127.0.0.1:0", "--tls-key", path_str(&pki.key())]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no ready line");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-cert"));
}

fn run_binary(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_otpgate-smsc-sim"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}
