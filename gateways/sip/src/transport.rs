//! How SIP messages travel (RFC 3261 §18): UDP datagrams, or a TCP / TLS (rustls) stream framed
//! by [`crate::framing`]. One [`SipSocket`] per call sends each request to its next hop and
//! gathers every message that comes back, from any hop, into one queue.
//!
//! Next hops are `host:port` resolved with the system resolver (A/AAAA); RFC 3263 NAPTR/SRV
//! look-ups are not done, so a trunk is configured by host and port. On a stream transport the
//! connection to a hop is opened on first use and kept for the call: responses come back on the
//! connection the request went out on (§18.2.2), and so do the callee's own requests when it
//! reuses the connection, as trunks do since we do not listen for new ones.

use crate::framing::{self, Frame};
use otpgate_gateway::GatewayError;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The transport of a SIP carrier (`transport = "udp" | "tcp" | "tls"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// The protocol in a Via header (`SIP/2.0/UDP`, RFC 3261 §20.42).
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// The `transport=` URI parameter we put in our Contact (none for UDP, the default).
    pub fn uri_param(self) -> &'static str {
        match self {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        }
    }

    /// The port a URI without one means (RFC 3261 §19.1.2: 5061 for SIP over TLS).
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            _ => 5060,
        }
    }
}

impl std::str::FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "udp" => Ok(Transport::Udp),
            "tcp" => Ok(Transport::Tcp),
            "tls" => Ok(Transport::Tls),
            other => Err(format!("{other:?} is not one of udp, tcp, tls")),
        }
    }
}

/// Where a request goes next: a host (name or IP literal, which TLS also verifies) and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hop {
    pub host: String,
    pub port: u16,
}

impl Hop {
    /// `host:port` (IPv6 in brackets) as configured.
    pub fn parse(address: &str) -> Result<Hop, String> {
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| format!("{address:?} is not host:port"))?;
        let port = port.parse().map_err(|_| format!("{address:?} is not host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{address:?} is not host:port"));
        }
        Ok(Hop {
            host: host.to_owned(),
            port,
        })
    }

    /// The host and port of a SIP URI, the transport's default port when it has none.
    pub fn of_uri(uri: &rsip::Uri, transport: Transport) -> Hop {
        let host = match uri.host() {
            rsip::Host::IpAddr(ip) => ip.to_string(),
            rsip::Host::Domain(domain) => domain
                .to_string()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        };
        let port = uri.port().map_or(transport.default_port(), |p| *p.value());
        Hop { host, port }
    }
}

impl std::fmt::Display for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// rustls client settings for SIP over TLS: the Mozilla roots (webpki-roots) plus, when given,
/// the PEM certificates of `tls_ca_file` (a carrier's private CA).
#[derive(Clone)]
pub struct TlsClient(Arc<rustls::ClientConfig>);

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsClient")
    }
}

impl TlsClient {
    /// Errors name the file and what is wrong with it.
    pub fn new(ca_file: Option<&Path>) -> Result<TlsClient, String> {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            let problem = |e: &dyn std::fmt::Display| format!("tls_ca_file {}: {e}", path.display());
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| problem(&e))? {
                roots.add(cert.map_err(|e| problem(&e))?).map_err(|e| problem(&e))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClient(Arc::new(config)))
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Stream = Box<dyn Io>;

/// The SIP socket(s) of one call.
pub struct SipSocket {
    transport: Transport,
    tls: Option<TlsClient>,
    udp: Option<Arc<UdpSocket>>,
    /// Stream transports: the write half of the connection to each hop.
    streams: HashMap<SocketAddr, WriteHalf<Stream>>,
    resolved: HashMap<Hop, SocketAddr>,
    /// Our end of the first connection (or the UDP socket): the sent-by of our Via.
    local: SocketAddr,
    incoming_tx: mpsc::UnboundedSender<(Vec<u8>, SocketAddr)>,
    incoming: mpsc::UnboundedReceiver<(Vec<u8>, SocketAddr)>,
    readers: Vec<JoinHandle<()>>,
}

/// How long a call's TCP / TLS connections stay open after the call is done, unless the peer
/// closes them first: 64·T1, the longest a peer's transaction may still use them. Peers that
/// keep a transaction in "timewait" after our BYE (SIPp's uas does, 4 s) count a connection
/// closed under it as a failed call.
const STREAM_LINGER: std::time::Duration = std::time::Duration::from_secs(32);

impl Drop for SipSocket {
    fn drop(&mut self) {
        let readers = std::mem::take(&mut self.readers);
        let streams = std::mem::take(&mut self.streams);
        let runtime = tokio::runtime::Handle::try_current();
        match runtime {
            Ok(runtime) if !streams.is_empty() => {
                // The peer closes first (its readers end), or we do after the linger.
                runtime.spawn(async move {
                    let all_closed = futures_join(readers);
                    if tokio::time::timeout(STREAM_LINGER, all_closed).await.is_err() {
                        tracing::debug!(connections = streams.len(), "closing idle SIP connections");
                    }
                    drop(streams);
                });
            }
            _ => readers.iter().for_each(JoinHandle::abort),
        }
    }
}

/// Waits for every reader task to end; aborts whichever are left when dropped.
async fn futures_join(readers: Vec<JoinHandle<()>>) {
    struct AbortOnDrop(Vec<JoinHandle<()>>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.iter().for_each(JoinHandle::abort);
        }
    }
    let mut readers = AbortOnDrop(readers);
    for reader in readers.0.iter_mut() {
        let _ = reader.await;
    }
}

impl SipSocket {
    /// Opens the call's socket towards `first_hop`: a UDP socket bound on the interface that
    /// reaches it, or a connection to it. DNS, connect and TLS failures are transient.
    pub async fn open(
        transport: Transport,
        tls: Option<TlsClient>,
        first_hop: &Hop,
    ) -> Result<SipSocket, GatewayError> {
        let (incoming_tx, incoming) = mpsc::unbounded_channel();
        let mut socket = SipSocket {
            transport,
            tls,
            udp: None,
            streams: HashMap::new(),
            resolved: HashMap::new(),
            local: SocketAddr::from(([0, 0, 0, 0], 0)),
            incoming_tx,
            incoming,
            readers: Vec::new(),
        };
        let peer = socket.resolve(first_hop).await?;
        socket.local = match transport {
            Transport::Udp => {
                // The interface the kernel routes `peer` through; an unconnected socket on it
                // hears every hop of the call (route-set proxies, the callee's Contact).
                let probe = UdpSocket::bind(unspecified(peer)).await.map_err(io)?;
                probe.connect(peer).await.map_err(io)?;
                let udp = Arc::new(
                    UdpSocket::bind((probe.local_addr().map_err(io)?.ip(), 0))
                        .await
                        .map_err(io)?,
                );
                let local = udp.local_addr().map_err(io)?;
                socket
                    .readers
                    .push(tokio::spawn(read_datagrams(udp.clone(), socket.incoming_tx.clone())));
                socket.udp = Some(udp);
                local
            }
            Transport::Tcp | Transport::Tls => socket.connect(first_hop, peer).await?,
        };
        Ok(socket)
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Our address as the peer of the first hop sees it before any NAT.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Sends one message to `hop`. A lost UDP datagram is for the caller's timers; a stream
    /// that cannot be opened or written is an error.
    pub async fn send(&mut self, hop: &Hop, message: &[u8]) -> Result<(), GatewayError> {
        let peer = self.resolve(hop).await?;
        if let Some(udp) = &self.udp {
            if let Err(error) = udp.send_to(message, peer).await {
                tracing::debug!(%error, %peer, "SIP datagram not sent");
            }
            return Ok(());
        }
        if !self.streams.contains_key(&peer) {
            self.connect(hop, peer).await?;
        }
        self.reply(peer, message).await
    }

    /// Sends one message back where `source` (from [`SipSocket::recv`]) sent one: a response
    /// to the callee's request goes back the way the request came (RFC 3261 §18.2.2, RFC 3581).
    pub async fn reply(&mut self, source: SocketAddr, message: &[u8]) -> Result<(), GatewayError> {
        if let Some(udp) = &self.udp {
            if let Err(error) = udp.send_to(message, source).await {
                tracing::debug!(%error, peer = %source, "SIP datagram not sent");
            }
            return Ok(());
        }
        let lost =
            |error: &dyn std::fmt::Display| GatewayError::transient("connection_lost", format!("{source}: {error}"));
        let stream = self.streams.get_mut(&source).ok_or_else(|| lost(&"not connected"))?;
        let written = async {
            stream.write_all(message).await?;
            stream.flush().await
        };
        if let Err(error) = written.await {
            self.streams.remove(&source);
            return Err(lost(&error));
        }
        Ok(())
    }

    /// The next message from any hop, with where it came from; `None` once every reader has
    /// stopped (all connections closed).
    pub async fn recv(&mut self) -> Option<(Vec<u8>, SocketAddr)> {
        self.incoming.recv().await
    }

    /// True on TCP and TLS: no retransmissions (RFC 3261 §17.1.1.2, §17.1.2.2).
    pub fn is_reliable(&self) -> bool {
        self.transport != Transport::Udp
    }

    async fn resolve(&mut self, hop: &Hop) -> Result<SocketAddr, GatewayError> {
        if let Some(addr) = self.resolved.get(hop) {
            return Ok(*addr);
        }
        let addr = tokio::net::lookup_host((hop.host.as_str(), hop.port))
            .await
            .map_err(|e| GatewayError::transient("dns", format!("{hop}: {e}")))?
            .next()
            .ok_or_else(|| GatewayError::transient("dns", format!("{hop}: no address")))?;
        self.resolved.insert(hop.clone(), addr);
        Ok(addr)
    }

    /// Opens a TCP (and TLS) connection to `hop` and starts reading it; returns our end.
    async fn connect(&mut self, hop: &Hop, peer: SocketAddr) -> Result<SocketAddr, GatewayError> {
        let tcp = TcpStream::connect(peer)
            .await
            .map_err(|e| GatewayError::transient("connect", format!("{hop}: {e}")))?;
        // Small SIP messages must not wait for the peer's delayed ACK (FIELD-NOTES: Nagle).
        tcp.set_nodelay(true).map_err(io)?;
        let local = tcp.local_addr().map_err(io)?;
        let stream: Stream = match (self.transport, &self.tls) {
            (Transport::Tls, Some(TlsClient(config))) => {
                let name = match hop.host.parse::<IpAddr>() {
                    Ok(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
                    Err(_) => rustls::pki_types::ServerName::try_from(hop.host.clone())
                        .map_err(|e| GatewayError::permanent("tls", format!("{hop}: {e}")))?,
                };
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| GatewayError::transient("tls", format!("TLS handshake with {hop} failed: {e}")))?;
                Box::new(tls)
            }
            (Transport::Tls, None) => return Err(GatewayError::permanent("tls", "TLS transport without TLS settings")),
            _ => Box::new(tcp),
        };
        let (reader, writer) = tokio::io::split(stream);
        self.readers
            .push(tokio::spawn(read_stream(reader, self.incoming_tx.clone(), peer)));
        self.streams.insert(peer, writer);
        Ok(local)
    }
}

fn unspecified(peer: SocketAddr) -> SocketAddr {
    if peer.is_ipv6() {
        SocketAddr::from(([0u16; 8], 0))
    } else {
        SocketAddr::from(([0, 0, 0, 0], 0))
    }
}

fn io(error: std::io::Error) -> GatewayError {
    crate::status::io(error)
}

async fn read_datagrams(udp: Arc<UdpSocket>, incoming: mpsc::UnboundedSender<(Vec<u8>, SocketAddr)>) {
    let mut buf = vec![0u8; 65_535];
    loop {
        match udp.recv_from(&mut buf).await {
            Ok((len, from)) => {
                if incoming.send((buf[..len].to_vec(), from)).is_err() {
                    return;
                }
            }
            // Transient socket errors (e.g. ICMP reports) must not spin the loop.
            Err(error) => {
                tracing::debug!(%error, "SIP receive failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

async fn read_stream(
    reader: tokio::io::ReadHalf<Stream>,
    incoming: mpsc::UnboundedSender<(Vec<u8>, SocketAddr)>,
    peer: SocketAddr,
) {
    if let Err(why) = read_framed(reader, |message| incoming.send((message, peer)).is_ok()).await {
        tracing::warn!(%peer, why, "closing a SIP connection that cannot be framed");
    }
}

/// Reads SIP messages off a stream until it ends or `deliver` returns false; an error when the
/// peer sent something [`framing::frame`] refuses (the caller then drops the connection).
pub async fn read_framed(
    mut reader: impl AsyncRead + Unpin,
    mut deliver: impl FnMut(Vec<u8>) -> bool,
) -> Result<(), &'static str> {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match framing::frame(&buffer) {
            Frame::Message { skip, len } => {
                let message = buffer[skip..skip + len].to_vec();
                buffer.drain(..skip + len);
                if !deliver(message) {
                    return Ok(());
                }
                continue;
            }
            Frame::Incomplete { skip } => {
                buffer.drain(..skip);
            }
            Frame::Invalid(why) => return Err(why),
        }
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(()),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_parse_from_config_and_uris() {
        assert_eq!(
            Hop::parse("sip.example.net:5080").unwrap(),
            Hop {
                host: "sip.example.net".into(),
                port: 5080
            }
        );
        assert_eq!(Hop::parse("[::1]:5060").unwrap().host, "::1");
        assert_eq!(Hop::parse("[::1]:5060").unwrap().to_string(), "[::1]:5060");
        assert!(Hop::parse("nohost").is_err());
        assert!(Hop::parse(":5060").is_err());
        let uri = rsip::Uri::try_from("sip:proxy.example.net;lr").unwrap();
        assert_eq!(Hop::of_uri(&uri, Transport::Tls).port, 5061);
        assert_eq!(Hop::of_uri(&uri, Transport::Udp).port, 5060);
        let uri = rsip::Uri::try_from("sip:10.0.0.1:5070;lr").unwrap();
        assert_eq!(Hop::of_uri(&uri, Transport::Udp).to_string(), "10.0.0.1:5070");
        assert_eq!("tls".parse(), Ok(Transport::Tls));
        assert!("sctp".parse::<Transport>().is_err());
    }
}
