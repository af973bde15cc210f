//! Opening one bind: TCP (TCP_NODELAY), optional TLS through rustls, and the bind_transceiver
//! handshake. Kept out of the actor so the handshake is a plain sequential future.
use crate::codec::FrameCodec;
use crate::pdu::{self, Event};
use crate::status;
use crate::SmppConfig;
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use rusmpp::CommandId;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
pub type BoxedIo = Box<dyn Io>;

/// The sequence_number of bind_transceiver, the first PDU of every connection.
const BIND_SEQUENCE: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to {address}: {source}")]
    Connect { address: String, source: std::io::Error },
    #[error("TLS handshake with {address} failed: {source}")]
    Tls { address: String, source: std::io::Error },
    #[error("no answer to bind_transceiver within {0:?}")]
    Timeout(std::time::Duration),
    #[error("connection closed during bind: {0}")]
    Closed(String),
    #[error("SMSC refused the bind with command_status 0x{status:08X}")]
    Refused { status: u32, permanent: bool },
}

/// Connects and binds. Returns the stream and any bytes the SMSC sent right behind its
/// bind_transceiver_resp (they belong to the bound session).
pub async fn open_and_bind(config: &SmppConfig) -> Result<(BoxedIo, BytesMut), ConnectError> {
    let timeout = config.response_timeout;
    let io = tokio::time::timeout(timeout, open(config))
        .await
        .map_err(|_| ConnectError::Timeout(timeout))??;
    let mut framed = Framed::new(io, FrameCodec::default());
    let bind = pdu::bind_transceiver(
        BIND_SEQUENCE,
        config.system_id.clone(),
        config.password.clone(),
        config.system_type.clone(),
    );
    let handshake = async {
        framed
            .send(bind)
            .await
            .map_err(|e| ConnectError::Closed(e.to_string()))?;
        loop {
            let frame = framed
                .next()
                .await
                .ok_or_else(|| ConnectError::Closed("end of stream".into()))?
                .map_err(|e| ConnectError::Closed(e.to_string()))?;
            let inbound = pdu::read(frame);
            // An SMSC may probe with enquire_link before answering: answer what asks for it.
            if let Some(reply) = inbound.reply {
                framed
                    .send(reply)
                    .await
                    .map_err(|e| ConnectError::Closed(e.to_string()))?;
            }
            // The answer to our bind: bind_transceiver_resp or generic_nack, with or without
            // a body (a refusal is often the bare header, and the SMSC closes right after).
            let Event::Response(response) = inbound.event else {
                continue;
            };
            if response.sequence_number != BIND_SEQUENCE
                || !matches!(
                    response.command_id,
                    CommandId::BindTransceiverResp | CommandId::GenericNack
                )
            {
                continue;
            }
            let status = response.command_status;
            return if status == 0 {
                Ok(())
            } else {
                Err(ConnectError::Refused {
                    status,
                    permanent: status::bind_failure_is_permanent(status),
                })
            };
        }
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| ConnectError::Timeout(timeout))??;
    let parts = framed.into_parts();
    Ok((parts.io, parts.read_buf))
}

async fn open(config: &SmppConfig) -> Result<BoxedIo, ConnectError> {
    let address = config.address.clone();
    let tcp = TcpStream::connect(&address)
        .await
        .map_err(|source| ConnectError::Connect {
            address: address.clone(),
            source,
        })?;
    // Small PDUs must not wait for the peer's delayed ACK (FIELD-NOTES: Kannel's ceiling).
    tcp.set_nodelay(true).map_err(|source| ConnectError::Connect {
        address: address.clone(),
        source,
    })?;
    let Some(tls) = &config.tls else {
        return Ok(Box::new(tcp));
    };
    let connector = tokio_rustls::TlsConnector::from(tls.client.clone());
    let stream = connector
        .connect(tls.server_name.clone(), tcp)
        .await
        .map_err(|source| ConnectError::Tls { address, source })?;
    Ok(Box::new(stream))
}

/// rustls settings for one carrier.
#[derive(Clone)]
pub struct Tls {
    pub client: Arc<rustls::ClientConfig>,
    pub server_name: rustls::pki_types::ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("server_name", &self.server_name).finish()
    }
}

impl Tls {
    /// Trusts the Mozilla roots (webpki-roots) plus, when given, the PEM certificates in
    /// `ca_file` (a carrier's private CA). The server name is the host part of `address`.
    pub fn new(address: &str, ca_file: Option<&std::path::Path>) -> Result<Self, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName};
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            let certs =
                CertificateDer::pem_file_iter(path).map_err(|e| format!("tls_ca_file {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("tls_ca_file {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("tls_ca_file {}: {e}", path.display()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let host = address
            .rsplit_once(':')
            .map_or(address, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let server_name = ServerName::try_from(host.to_owned()).map_err(|e| format!("address {address:?}: {e}"))?;
        Ok(Self {
            client: Arc::new(client),
            server_name,
        })
    }
}
