//! Shared by the integration tests: a gateway config for a fake, outbound messages, a webhook
//! receiver on a real socket, and polling instead of sleeps.
#![allow(dead_code)]
use otpgate_gateway::{Channel, Coverage, OutboundMessage};
use otpgate_whatsapp::WhatsAppConfig;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const TOKEN: &str = "test-token";
pub const APP_SECRET: &str = "test-app-secret";

pub fn config(base_url: &str) -> WhatsAppConfig {
    WhatsAppConfig {
        name: "wa".into(),
        base_url: base_url.into(),
        phone_number_id: "1234".into(),
        access_token: TOKEN.into(),
        template: "otp_code".into(),
        language: "pt_BR".into(),
        app_secret: APP_SECRET.into(),
        verify_token: None,
        coverage: Coverage::new(vec!["BR".into()], 0, Default::default()),
        timeout: Duration::from_secs(5),
    }
}

pub fn message(to: &str, code: &str) -> OutboundMessage {
    OutboundMessage {
        request_id: format!("req-{to}"),
        application: "app".into(),
        to: to.into(),
        channel: Channel::Whatsapp,
        code: code.into(),
        text: format!("Your code is {code}"),
        locale: "pt".into(),
    }
}

/// One webhook request as received: its `X-Hub-Signature-256` header and raw body.
#[derive(Debug, Clone)]
pub struct Received {
    pub signature: Option<String>,
    pub body: Vec<u8>,
}

/// A minimal HTTP/1.1 endpoint that answers 200 to every request and keeps what it got.
pub struct WebhookReceiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/whatsapp", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    if let Some(request) = read_request(&mut socket).await {
                        sink.lock().unwrap().push(request);
                    }
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                });
            }
        });
        WebhookReceiver { url, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` webhooks have arrived, and returns them in arrival order.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        eventually(|| async { self.received.lock().unwrap().len() >= n }).await;
        self.received()
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
        })
    };
    let length: usize = header("content-length")?.parse().ok()?;
    while buffer.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        signature: header("x-hub-signature-256"),
        body: buffer[head_end..head_end + length].to_vec(),
    })
}

/// Polls `condition` every 10 ms for up to 5 s; panics if it never holds.
pub async fn eventually<F, Fut>(mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "condition not met within 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
