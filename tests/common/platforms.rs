//! The platform fakes of the workspace (`otpgate-fake-*`, the SIP callee simulator) as child
//! processes, and an engine whose public URL is known before it starts, so fakes can call it back.
use super::{Server, BIN};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A fake platform binary of the workspace, killed on drop.
pub struct Fake {
    child: Child,
    pub url: String,
}

impl Fake {
    pub fn start(name: &str, args: &[&str]) -> Fake {
        Fake::start_ready(name, args, "http=")
    }

    /// Starts a workspace binary and reads the address after `field` from its ready line.
    pub fn start_ready(name: &str, args: &[&str], field: &str) -> Fake {
        let bin = Path::new(BIN).with_file_name(name);
        assert!(bin.exists(), "{} missing: run bash tests/run.sh", bin.display());
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix(field))
            .unwrap_or_else(|| panic!("no ready line from {name}: {line:?}"))
            .to_owned();
        Fake { child, url }
    }

    pub fn messages(&self) -> Vec<Value> {
        ureq::get(&format!("{}/_control/messages", self.url))
            .call()
            .unwrap()
            .into_json::<Value>()
            .map(|v| {
                v.as_array()
                    .cloned()
                    .or_else(|| v["messages"].as_array().cloned())
                    .unwrap_or_default()
            })
            .unwrap()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port, so the engine's public_url is known before it starts (the fakes call
/// it back).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn engine(dir: &Path, port: u16, carriers: &str) -> Server {
    let path = dir.join("otpgate.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
         [store]\nurl = \"sqlite://{}/data/otpgate.db\"\n{carriers}",
        dir.display()
    );
    std::fs::write(&path, text).unwrap();
    Server::start(dir, &["serve", "--config", path.to_str().unwrap()], None)
}
