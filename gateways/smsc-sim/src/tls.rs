//! SMPP over TLS: the rustls server settings from PEM files, and the handshake in front of a
//! session. The session itself is the same code as for plain TCP, monomorphised per stream.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::server::Shared;

/// A client that opens TCP and never finishes the handshake is dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The acceptor for `cert` (a PEM chain, leaf first) and `key` (a PEM private key); `None` when
/// neither is given (plain TCP). One without the other is an error.
pub(crate) fn acceptor(cert: Option<&Path>, key: Option<&Path>) -> anyhow::Result<Option<TlsAcceptor>> {
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => anyhow::bail!("TLS needs both a certificate and a private key (--tls-cert and --tls-key)"),
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("TLS certificate {}", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "TLS certificate {}: no certificate in it",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("TLS private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("TLS certificate and key do not make a server identity")?;
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// Runs the handshake, then the SMPP session over it. A failed handshake only closes this
/// connection (after it is counted, so a client that sees the close finds it in the stats).
pub(crate) async fn serve(acceptor: TlsAcceptor, stream: TcpStream, shared: Arc<Shared>) {
    let peer = stream.peer_addr().ok();
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream).into_fallible());
    let outcome = tokio::select! {
        _ = shared.shutdown.cancelled() => return,
        outcome = handshake => outcome,
    };
    let (error, stream) = match outcome {
        Ok(Ok(stream)) => return crate::session::serve(stream, shared).await,
        Ok(Err((error, stream))) => (error, Some(stream)),
        Err(_) => (
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no handshake in time"),
            None,
        ),
    };
    shared.stats.tls_handshake_failed();
    tracing::warn!(?peer, %error, "TLS handshake failed");
    drop(stream);
}
