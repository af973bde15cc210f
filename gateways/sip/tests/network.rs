//! SIP trunks as operators run them, against the `otpgate-sip-callee` simulator over real
//! sockets: SIP over TLS (rustls; the certificate is made at test time with rcgen: a private CA
//! and a server certificate for 127.0.0.1 signed by it, nothing committed), and behind a NAT
//! (a configured public address in Via, Contact and SDP; RTP latching onto the port the
//! callee's own RTP comes from). SIPp covers TCP and Record-Route (tests/sipp.rs).
mod common;

use common::*;
use otpgate_gateway::Delivery;
use otpgate_sip::prompt::{self, Language};
use otpgate_sip::transport::{TlsClient, Transport};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use std::path::{Path, PathBuf};

const CODE: &str = "5";

/// ca.pem (a private CA), server.pem and server.key (for IP 127.0.0.1, signed by the CA).
fn write_pki(dir: &Path) -> [PathBuf; 3] {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "otpgate SIP test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "sip-callee");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let paths = [dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key")];
    std::fs::write(&paths[0], ca.pem()).unwrap();
    std::fs::write(&paths[1], cert.pem()).unwrap();
    std::fs::write(&paths[2], key.serialize_pem()).unwrap();
    paths
}

fn tls_callee(pki: &[PathBuf; 3]) -> Callee {
    let [_, cert, key] = pki;
    Callee::start(&[
        "--mode",
        "answer",
        "--transport",
        "tls",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_over_tls_to_a_trunk_whose_ca_is_configured_plays_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_pki(dir.path());
    let callee = tls_callee(&pki);
    let mut trunk = trunk(otpgate_sip::SipConfig {
        transport: Transport::Tls,
        tls: Some(TlsClient::new(Some(&pki[0])).unwrap()),
        ..config(&callee.address)
    });
    let accepted = trunk.send(&message(CODE)).await.expect("answered over TLS");
    assert_eq!(trunk.outcome().await.delivery, Delivery::Delivered);
    let report = callee.report(&accepted.carrier_message_id);
    // The simulator only reads SIP after a TLS handshake; our Via and Contact say TLS.
    let via = report["invite_via"].as_str().unwrap();
    assert!(via.starts_with("SIP/2.0/TLS 127.0.0.1:"), "{report}");
    assert!(
        report["invite_contact"].as_str().unwrap().contains(";transport=tls"),
        "{report}"
    );
    assert_eq!(report["bye_received"], true, "our BYE came over the TLS connection");
    assert_heard_prompt(&callee, &accepted.carrier_message_id, CODE, Language::English);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_trunk_with_an_unknown_ca_is_a_transient_tls_failure() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_pki(dir.path());
    let callee = tls_callee(&pki);
    let trunk = trunk(otpgate_sip::SipConfig {
        transport: Transport::Tls,
        // The public roots only: the test CA is not among them.
        tls: Some(TlsClient::new(None).unwrap()),
        ..config(&callee.address)
    });
    let error = trunk.send(&message(CODE)).await.expect_err("certificate not trusted");
    assert_eq!(error.reason(), "tls", "{error}");
    assert!(error.is_transient());
    assert!(callee.outcomes().is_empty(), "no INVITE got through");
}

/// Behind a NAT: the configured public address (a documentation address, RFC 5737, that no
/// packet is ever sent to here) is what the trunk sees in Via sent-by, Contact and SDP.
#[tokio::test(flavor = "multi_thread")]
async fn the_public_address_is_in_via_contact_and_sdp() {
    let callee = Callee::start(&["--mode", "answer"]);
    let mut trunk = trunk(otpgate_sip::SipConfig {
        public_address: Some("203.0.113.7".parse().unwrap()),
        ..config(&callee.address)
    });
    let accepted = trunk.send(&message(CODE)).await.unwrap();
    assert_eq!(trunk.outcome().await.delivery, Delivery::Delivered);
    let report = callee.report(&accepted.carrier_message_id);
    let via = report["invite_via"].as_str().unwrap();
    assert!(via.starts_with("SIP/2.0/UDP 203.0.113.7:"), "{report}");
    assert!(via.contains(";rport"), "RFC 3581: {via}");
    assert!(
        report["invite_contact"]
            .as_str()
            .unwrap()
            .starts_with("<sip:otpgate@203.0.113.7:"),
        "{report}"
    );
    assert_eq!(report["offer_connection"], "IN IP4 203.0.113.7", "{report}");
}

/// Symmetric RTP: the callee's SDP names one port, its own RTP leaves from another (what its
/// NAT maps). Once that RTP arrives, ours goes there: nearly the whole prompt reaches the port
/// the callee sends from.
#[tokio::test(flavor = "multi_thread")]
async fn rtp_latches_onto_the_address_the_callees_rtp_comes_from() {
    let callee = Callee::start(&["--mode", "answer", "--nat-media"]);
    let mut trunk = trunk(config(&callee.address));
    let accepted = trunk.send(&message(CODE)).await.unwrap();
    assert_eq!(trunk.outcome().await.delivery, Delivery::Delivered);
    let report = callee.report(&accepted.carrier_message_id);
    let frames = prompt::frame_count(CODE, Language::English) as u64;
    let latched = report["packets_at_media_source"].as_u64().unwrap();
    assert_eq!(report["packets"], frames, "{report}");
    // The callee's first packet leaves within 20 ms of its 200 OK: a handful of ours may reach
    // the SDP port before it arrives, never more than a second's worth.
    assert!(
        latched > 0 && latched + 50 >= frames,
        "{latched} of {frames} latched: {report}"
    );
    assert_eq!(report["sequence_gaps"], 0, "one stream, moved: {report}");
    assert_heard_prompt(&callee, &accepted.carrier_message_id, CODE, Language::English);
}

/// An outbound proxy (here the simulator itself) gets the INVITE with the preloaded
/// `Route: <sip:proxy;lr>`, while the Request-URI names the trunk, a discard-port address no
/// request may reach directly: the call completes only through the proxy.
#[tokio::test(flavor = "multi_thread")]
async fn an_outbound_proxy_gets_the_invite_with_a_preloaded_route() {
    let proxy = Callee::start(&["--mode", "answer"]);
    let mut trunk = trunk(otpgate_sip::SipConfig {
        outbound_proxy: Some(proxy.address.clone()),
        ..config("127.0.0.1:9")
    });
    let accepted = trunk.send(&message(CODE)).await.expect("answered through the proxy");
    assert_eq!(trunk.outcome().await.delivery, Delivery::Delivered);
    let report = proxy.report(&accepted.carrier_message_id);
    assert_eq!(
        report["invite_route"],
        format!("<sip:{};lr>", proxy.address),
        "{report}"
    );
    assert!(report["to"].as_str().unwrap().contains("@127.0.0.1:9>"), "{report}");
    assert_eq!(report["bye_received"], true);
}

/// Over TCP the callee's own BYE comes back on our connection (we do not listen for new ones),
/// and ends the call as hung up.
#[tokio::test(flavor = "multi_thread")]
async fn a_callee_hanging_up_over_tcp_is_heard_on_our_connection() {
    let callee = Callee::start(&["--mode", "hangup-after:500", "--transport", "tcp"]);
    let mut trunk = trunk(otpgate_sip::SipConfig {
        transport: Transport::Tcp,
        ..config(&callee.address)
    });
    let accepted = trunk.send(&message("123456")).await.unwrap();
    let outcome = trunk.outcome().await;
    assert_eq!(
        (outcome.delivery, outcome.status.as_str()),
        (Delivery::Failed, "hung_up")
    );
    let report = callee.report(&accepted.carrier_message_id);
    assert_eq!(report["hung_up_by_callee"], true, "{report}");
    assert!(
        report["invite_via"].as_str().unwrap().starts_with("SIP/2.0/TCP "),
        "{report}"
    );
}
