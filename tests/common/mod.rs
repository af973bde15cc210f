//! Test harness: runs the real `otpgate` binary in a temporary directory and talks to it over
//! HTTP, the way a user does.
#![allow(dead_code)]

pub mod hosted;
pub mod pki;
pub mod platforms;
pub mod proxy;
pub mod smsc;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_otpgate");

pub struct Server {
    pub child: Child,
    pub base: String,
    pub key: String,
    pub dir: PathBuf,
    stderr_path: PathBuf,
}

/// A config that listens on a free port and keeps its data under `dir`.
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    write_config_on(dir, &format!("sqlite://{}/data/otpgate.db", dir.display()), extra)
}

/// `dir/otpgate.toml`: listens on a free port, stores at `store_url` (a `postgres://` URL of a
/// test schema, say), then `extra`.
pub fn write_config_on(dir: &Path, store_url: &str, extra: &str) -> PathBuf {
    let path = dir.join("otpgate.toml");
    let text = format!("[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{store_url}\"\n{extra}");
    std::fs::write(&path, text).unwrap();
    path
}

impl Server {
    /// Starts the binary with `args` in `dir` and waits for its "listening" line. `key` is the
    /// generated key if this start printed one, else `known_key`.
    pub fn start(dir: &Path, args: &[&str], known_key: Option<&str>) -> Server {
        Server::start_logging(dir, args, known_key, "info")
    }

    /// [`Server::start`] with `RUST_LOG` set to `filter` (the log-scan test runs at trace).
    pub fn start_logging(dir: &Path, args: &[&str], known_key: Option<&str>, filter: &str) -> Server {
        let stderr_path = dir.join(format!(
            "stderr-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(dir)
            .env_remove("OTPGATE_CONFIG")
            .env("RUST_LOG", filter)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("start otpgate");
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let mut key = known_key.map(str::to_owned);
        loop {
            let line = match lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "otpgate did not start; stderr:\n{}",
                        std::fs::read_to_string(&stderr_path).unwrap_or_default()
                    )
                }
            };
            if let Some(k) = line.split("stored hashed): ").nth(1) {
                key = Some(k.trim().to_owned());
            }
            if let Some(addr) = line.strip_prefix("otpgate listening on ") {
                return Server {
                    child,
                    base: addr.trim().to_owned(),
                    key: key.expect("no API key printed and none known"),
                    dir: dir.to_owned(),
                    stderr_path,
                };
            }
        }
    }

    /// Starts with a config from [`write_config`].
    /// `serve` on the store at `store_url` with `extra` config ([`write_config_on`]); `key` as
    /// for [`Server::start`].
    pub fn on_store(dir: &Path, store_url: &str, extra: &str, key: Option<&str>) -> Server {
        let config = write_config_on(dir, store_url, extra);
        Server::start(dir, &["serve", "--config", config.to_str().unwrap()], key)
    }

    pub fn with_config(dir: &Path, extra: &str) -> Server {
        let config = write_config(dir, extra);
        Server::start(dir, &["serve", "--config", config.to_str().unwrap()], None)
    }

    pub fn restart_after_kill(mut self) -> Server {
        self.child.kill().unwrap(); // SIGKILL: no drain, no flush
        self.child.wait().unwrap();
        let config = self.dir.join("otpgate.toml");
        Server::start(
            &self.dir,
            &["serve", "--config", config.to_str().unwrap()],
            Some(&self.key),
        )
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn request(&self, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> (u16, Value) {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
        let mut req = agent.request(method, &format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.set("x-api-key", key);
        }
        let result = match body {
            Some(body) => req.set("content-type", "application/json").send_string(body),
            None => req.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let text = response.into_string().unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.request("POST", path, Some(&self.key), Some(&body.to_string()))
    }

    pub fn send(&self, phone: &str) -> Value {
        let (status, body) = self.post("/v3/phone/send/", &serde_json::json!({ "phone_number": phone }));
        assert_eq!(status, 200, "{body}");
        body
    }

    pub fn check(&self, phone: &str, code: &str) -> Value {
        let (status, body) = self.post(
            "/v3/phone/check/",
            &serde_json::json!({ "phone_number": phone, "code": code }),
        );
        assert_eq!(status, 200, "{body}");
        body
    }

    pub fn inbox(&self, phone: &str) -> Vec<Value> {
        let path = format!("/v3/sandbox/messages/?phone_number={}", phone.replace('+', "%2B"));
        let (status, body) = self.request("GET", &path, Some(&self.key), None);
        assert_eq!(status, 200, "{body}");
        body["results"].as_array().unwrap().clone()
    }

    pub fn latest_code(&self, phone: &str) -> String {
        self.inbox(phone).first().expect("no message in the sandbox inbox")["code"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Rows in the verifications table, read straight from the database file.
    pub fn stored_verifications(&self) -> i64 {
        let db = rusqlite::Connection::open_with_flags(
            self.dir.join("data/otpgate.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        db.query_row("SELECT count(*) FROM verifications", [], |r| r.get(0))
            .unwrap()
    }

    pub fn metrics(&self) -> String {
        match self.request("GET", "/metrics", None, None) {
            (200, Value::String(text)) => text,
            other => panic!("metrics: {other:?}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A code that is not `code` (same length).
pub fn wrong(code: &str) -> String {
    code.chars().map(|c| if c == '0' { '1' } else { '0' }).collect()
}

/// How many entries of lifecycle type `kind` (`PHONE_DELIVERY_DELIVERED`, ...) a check's or a
/// report's `phone` object holds.
pub fn lifecycle_count(phone: &Value, kind: &str) -> usize {
    phone["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .count()
}
