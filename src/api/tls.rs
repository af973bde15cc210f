//! Optional TLS for the HTTP listener (`[server.tls]`), with rustls on the ring provider (the
//! same rustls build as the carrier gateways'). `min_version = "1.3"` offers TLS 1.3 alone, so
//! a client that cannot speak it fails the handshake.
use crate::config::{TlsConfig, TlsVersion};
use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// The rustls server settings from the configured PEM files.
///
/// Errors name the file that could not be read, or say that the key does not match the
/// certificate.
pub fn server_config(tls: &TlsConfig) -> anyhow::Result<rustls::ServerConfig> {
    let chain = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("server.tls.cert {}", tls.cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "server.tls.cert {}: no certificate in it",
        tls.cert.display()
    );
    let key =
        PrivateKeyDer::from_pem_file(&tls.key).with_context(|| format!("server.tls.key {}", tls.key.display()))?;
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::V1_2 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::V1_3 => &[&rustls::version::TLS13],
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("server.tls: the key does not match the certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
