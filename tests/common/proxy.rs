//! A TCP proxy to put between the engine and a server (PostgreSQL) and break at will:
//! [`Proxy::cut`] closes every proxied connection and refuses new ones (accepted, then closed
//! at once), as a server that went away does; [`Proxy::stall`] keeps every connection open but
//! moves no byte and leaves new ones unanswered, as a network that drops packets does;
//! [`Proxy::restore`] lets traffic through again. Plain threads and blocking sockets (two copy
//! threads per connection): enough for a test.
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const UP: u8 = 0;
const CUT: u8 = 1;
const STALLED: u8 = 2;

pub struct Proxy {
    /// Where clients connect instead of the server.
    pub addr: SocketAddr,
    state: Arc<AtomicU8>,
    /// Both sockets of every proxied connection, and connections held unanswered while stalled.
    open: Arc<Mutex<Vec<TcpStream>>>,
    /// Connections refused or left unanswered while cut or stalled.
    pub refused: Arc<AtomicUsize>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `target` ("host:port").
    pub fn start(target: &str) -> Proxy {
        let target: SocketAddr = target.to_socket_addrs().unwrap().next().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            state: Arc::new(AtomicU8::new(UP)),
            open: Arc::new(Mutex::new(Vec::new())),
            refused: Arc::new(AtomicUsize::new(0)),
        };
        let (state, open, refused) = (proxy.state.clone(), proxy.open.clone(), proxy.refused.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                match state.load(Ordering::SeqCst) {
                    UP => {}
                    CUT => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                    _ => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        open.lock().unwrap().push(client);
                        continue;
                    }
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue; // dropping `client` closes it
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut open = open.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap(), state.clone());
                pipe(server, client, state.clone());
            }
        });
        proxy
    }

    /// Closes every proxied connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        self.state.store(CUT, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Moves no byte on any connection, and answers no new one, until [`Proxy::restore`].
    pub fn stall(&self) {
        self.state.store(STALLED, Ordering::SeqCst);
    }

    /// Lets traffic through again (connections held while stalled are closed).
    pub fn restore(&self) {
        self.state.store(UP, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` on a thread of its own until either side closes, holding each chunk
/// while the proxy is stalled.
fn pipe(mut from: TcpStream, mut to: TcpStream, state: Arc<AtomicU8>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            while state.load(Ordering::SeqCst) == STALLED {
                std::thread::sleep(Duration::from_millis(10));
            }
            if state.load(Ordering::SeqCst) == CUT || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
