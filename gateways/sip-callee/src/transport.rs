//! The callee's SIP transports: one UDP socket, or a TCP listener (with TLS in front when given a
//! certificate) whose connections are framed by the gateway's own codec (`otpgate_sip::framing`).
//! Every message arrives on one queue with the [`Peer`] it came from; responses, and the
//! callee's own BYE, go back through that peer (on a stream: the same connection, as trunks do).

use anyhow::Context as _;
use otpgate_sip::transport::read_framed;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// A client that opens TCP and never finishes the TLS handshake is dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the callee listens.
pub enum Listener {
    Udp(UdpSocket),
    Tcp(TcpListener),
    Tls(TcpListener, TlsAcceptor),
}

impl Listener {
    /// Binds `address` for `transport` (`udp`, `tcp` or `tls`; tls needs `cert` and `key`, PEM).
    pub async fn bind(
        address: SocketAddr,
        transport: &str,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> anyhow::Result<Listener> {
        Ok(match transport {
            "udp" => Listener::Udp(UdpSocket::bind(address).await?),
            "tcp" => Listener::Tcp(TcpListener::bind(address).await?),
            "tls" => {
                let (Some(cert), Some(key)) = (cert, key) else {
                    anyhow::bail!("--transport tls needs --tls-cert and --tls-key");
                };
                Listener::Tls(TcpListener::bind(address).await?, acceptor(cert, key)?)
            }
            other => anyhow::bail!("--transport {other:?}: one of udp, tcp, tls"),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Listener::Udp(socket) => socket.local_addr(),
            Listener::Tcp(listener) | Listener::Tls(listener, _) => listener.local_addr(),
        }
    }

    /// The protocol in our Via headers: `UDP`, `TCP` or `TLS`.
    pub fn via_name(&self) -> &'static str {
        match self {
            Listener::Udp(_) => "UDP",
            Listener::Tcp(_) => "TCP",
            Listener::Tls(..) => "TLS",
        }
    }

    /// Starts reading: every message received, with its peer, goes to the returned queue.
    pub fn start(self) -> mpsc::UnboundedReceiver<(Vec<u8>, Peer)> {
        let (incoming, queue) = mpsc::unbounded_channel();
        match self {
            Listener::Udp(socket) => {
                tokio::spawn(read_datagrams(Arc::new(socket), incoming));
            }
            Listener::Tcp(listener) => {
                tokio::spawn(accept(listener, None, incoming));
            }
            Listener::Tls(listener, acceptor) => {
                tokio::spawn(accept(listener, Some(acceptor), incoming));
            }
        }
        queue
    }
}

/// The sender of a message, and the way back to it.
#[derive(Clone)]
pub enum Peer {
    Udp {
        socket: Arc<UdpSocket>,
        addr: SocketAddr,
    },
    Stream {
        addr: SocketAddr,
        writer: mpsc::UnboundedSender<Vec<u8>>,
    },
}

impl Peer {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Peer::Udp { addr, .. } | Peer::Stream { addr, .. } => *addr,
        }
    }

    pub async fn send(&self, message: &[u8]) -> std::io::Result<()> {
        match self {
            Peer::Udp { socket, addr } => socket.send_to(message, addr).await.map(drop),
            Peer::Stream { writer, .. } => writer
                .send(message.to_vec())
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "connection closed")),
        }
    }
}

fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("TLS certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("TLS private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("TLS certificate and key do not make a server identity")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn read_datagrams(socket: Arc<UdpSocket>, incoming: mpsc::UnboundedSender<(Vec<u8>, Peer)>) {
    let mut buf = vec![0u8; 65_535];
    while let Ok((len, addr)) = socket.recv_from(&mut buf).await {
        let peer = Peer::Udp {
            socket: socket.clone(),
            addr,
        };
        if incoming.send((buf[..len].to_vec(), peer)).is_err() {
            return;
        }
    }
}

async fn accept(listener: TcpListener, tls: Option<TlsAcceptor>, incoming: mpsc::UnboundedSender<(Vec<u8>, Peer)>) {
    while let Ok((stream, addr)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let (tls, incoming) = (tls.clone(), incoming.clone());
        tokio::spawn(async move {
            match tls {
                None => serve(stream, addr, incoming).await,
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => serve(stream, addr, incoming).await,
                    Ok(Err(error)) => eprintln!("sip-callee: TLS handshake with {addr} failed: {error}"),
                    Err(_) => eprintln!("sip-callee: no TLS handshake from {addr} in time"),
                },
            }
        });
    }
}

/// Reads framed messages from one connection; a writer task sends what the server queues.
async fn serve(
    stream: impl AsyncRead + AsyncWrite + Send + 'static,
    addr: SocketAddr,
    incoming: mpsc::UnboundedSender<(Vec<u8>, Peer)>,
) {
    let (reader, mut writer) = tokio::io::split(stream);
    let (outgoing, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Some(message) = queue.recv().await {
            if writer.write_all(&message).await.is_err() || writer.flush().await.is_err() {
                return;
            }
        }
    });
    let peer = Peer::Stream { addr, writer: outgoing };
    if let Err(why) = read_framed(reader, |message| incoming.send((message, peer.clone())).is_ok()).await {
        eprintln!("sip-callee: closing {addr}: {why}");
    }
}
