//! The HTTP control endpoint: inspect what arrived, read counters, swap rules at run time.
//!
//! tiny_http on its own thread, so a large `GET /messages` never stalls the SMPP runtime.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /messages[?destination=N]` | records in arrival order |
//! | `GET /stats` | counters |
//! | `GET /rules` | current rules, `times` showing what is left |
//! | `PUT /rules` | replace the rules (JSON array of rule objects) |
//! | `POST /reset` | clear records and counters, rewind `times` |

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::Serialize;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::rules::RuleSpec;
use crate::server::Shared;

/// The largest rules body accepted.
const MAX_BODY: u64 = 1 << 20;

pub(crate) struct ControlServer {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl ControlServer {
    pub fn start(listen: SocketAddr, shared: Arc<Shared>) -> anyhow::Result<ControlServer> {
        let server = Arc::new(Server::http(listen).map_err(|e| anyhow::anyhow!("control endpoint on {listen}: {e}"))?);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| anyhow::anyhow!("control endpoint is not on an IP address"))?;
        let serving = server.clone();
        let thread = std::thread::Builder::new()
            .name("smsc-sim-control".into())
            .spawn(move || {
                for request in serving.incoming_requests() {
                    handle(request, &shared);
                }
            })?;
        Ok(ControlServer {
            server,
            thread: Some(thread),
            addr,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn handle(mut request: Request, shared: &Shared) {
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let reply = match (request.method(), path) {
        (Method::Get, "/messages") => match query_param(query, "destination") {
            Ok(destination) => json_bytes(200, shared.records.to_json(destination.as_deref())),
            Err(detail) => error(400, &detail),
        },
        (Method::Get, "/stats") => json(200, &shared.stats.snapshot()),
        (Method::Get, "/rules") => json(200, &shared.rules().1.describe()),
        (Method::Put, "/rules") => match read_rules(&mut request) {
            Ok(specs) => match shared.set_rules(specs) {
                Ok(()) => json(200, &shared.rules().1.describe()),
                Err(rule_error) => error(400, &rule_error.to_string()),
            },
            Err(detail) => error(400, &detail),
        },
        (Method::Post, "/reset") => {
            shared.reset();
            json(200, &serde_json::json!({ "reset": true }))
        }
        (_, "/messages" | "/stats" | "/rules" | "/reset") => error(405, "method not allowed"),
        _ => error(404, "not found"),
    };
    // The client may have gone; nothing to do about it.
    let _ = request.respond(reply);
}

fn read_rules(request: &mut Request) -> Result<Vec<RuleSpec>, String> {
    let mut body = String::new();
    request
        .as_reader()
        .take(MAX_BODY)
        .read_to_string(&mut body)
        .map_err(|e| format!("unreadable body: {e}"))?;
    serde_json::from_str(&body).map_err(|e| format!("rules must be a JSON array of rules: {e}"))
}

/// The decoded value of `name` in a query string, if present.
fn query_param(query: &str, name: &str) -> Result<Option<String>, String> {
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == name {
            return percent_decode(value).map(Some);
        }
    }
    Ok(None)
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| format!("bad percent-escape in {text:?}"))?;
                decoded.push(hex);
                i += 3;
            }
            b'+' => {
                // A form-encoded space; in a phone number it can only be a lost '+'.
                decoded.push(b'+');
                i += 1;
            }
            byte => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).map_err(|_| format!("{text:?} is not UTF-8"))
}

type Reply = Response<std::io::Cursor<Vec<u8>>>;

fn json(status: u16, body: &impl Serialize) -> Reply {
    json_bytes(status, serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec()))
}

fn json_bytes(status: u16, body: Vec<u8>) -> Reply {
    let content_type =
        Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..]).expect("static header is valid");
    Response::from_data(body)
        .with_status_code(status)
        .with_header(content_type)
}

fn error(status: u16, detail: &str) -> Reply {
    json(status, &serde_json::json!({ "detail": detail }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_decode() {
        assert_eq!(
            query_param("destination=%2B15551234567&x=1", "destination"),
            Ok(Some("+15551234567".into()))
        );
        assert_eq!(query_param("x=1", "destination"), Ok(None));
        assert!(query_param("destination=%zz", "destination").is_err());
    }
}
