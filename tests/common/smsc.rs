//! The SMSC simulator (`otpgate-smsc-sim`, a binary of this workspace) as a child process, and
//! the npm `smpp` SMSC (tests/peers/smpp/smsc.js) for the third-party check.
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The workspace's binaries sit beside the otpgate binary; tests/run.sh builds them first.
fn workspace_bin(name: &str) -> PathBuf {
    let path = Path::new(super::BIN).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run `bash tests/run.sh` (it builds the workspace binaries first) or `cargo build --workspace --bins`",
        path.display()
    );
    path
}

pub struct Smsc {
    child: Child,
    pub smpp: String,
    pub control: String,
}

/// A workspace binary started with `--listen 127.0.0.1:0` and `args`, its stderr in `log`;
/// returns it with the `name=value` words of the ready line it prints first.
fn start_ready(binary: &str, args: &[&str], log: &Path) -> (Child, Vec<(String, String)>) {
    let mut child = Command::new(workspace_bin(binary))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("start {binary}: {e}"));
    let line = first_line(&mut child, Duration::from_secs(10)).unwrap_or_else(|| panic!("{binary}: no ready line"));
    let fields = line
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (child, fields)
}

fn field(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("ready line without {name}=: {fields:?}"))
}

/// Another workspace binary (a platform fake, the SIP callee), killed on drop.
pub struct Peer {
    child: Child,
    /// The value of the ready line's `field=` word: its address or URL.
    pub address: String,
}

impl Peer {
    /// Starts `binary` on a free port; `field` names the ready line's address word
    /// (`http` for `fake-rcs http=http://…`, `sip` for `sip-callee sip=…`).
    pub fn start(dir: &Path, binary: &str, args: &[&str], field_name: &str) -> Peer {
        let (child, fields) = start_ready(binary, args, &dir.join(format!("{binary}.log")));
        Peer {
            address: field(&fields, field_name),
            child,
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smsc {
    /// Starts the simulator with `args` (rules file, formats...) on free ports.
    pub fn start(dir: &Path, args: &[&str]) -> Smsc {
        let mut all = vec!["--control", "127.0.0.1:0"];
        all.extend_from_slice(args);
        // smsc-sim smpp=127.0.0.1:PORT control=http://127.0.0.1:PORT
        let (child, fields) = start_ready("otpgate-smsc-sim", &all, &dir.join("smsc-sim.log"));
        Smsc {
            smpp: field(&fields, "smpp"),
            control: field(&fields, "control"),
            child,
        }
    }

    /// Writes `rules` (TOML `[[rules]]` tables) to a file and starts with it.
    pub fn with_rules(dir: &Path, rules: &str, args: &[&str]) -> Smsc {
        let path = dir.join("rules.toml");
        std::fs::write(&path, rules).unwrap();
        let mut all = vec!["--rules", path.to_str().unwrap()];
        all.extend_from_slice(args);
        Smsc::start(dir, &all)
    }

    fn get(&self, path: &str) -> Value {
        ureq::get(&format!("{}{path}", self.control))
            .call()
            .unwrap_or_else(|e| panic!("smsc-sim GET {path}: {e}"))
            .into_json()
            .unwrap()
    }

    /// Every submit_sm received for `destination` (digits, no `+`), in arrival order.
    pub fn messages_to(&self, destination: &str) -> Vec<Value> {
        self.get(&format!("/messages?destination={destination}"))
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn stats(&self) -> Value {
        self.get("/stats")
    }

    pub fn stat(&self, name: &str) -> u64 {
        self.stats()[name].as_u64().unwrap_or_else(|| panic!("no stat {name}"))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Smsc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn first_line(child: &mut Child, timeout: Duration) -> Option<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {} // keep draining so the child never blocks on a full pipe
    });
    rx.recv_timeout(timeout).ok()
}

/// The npm `smpp` package run as an SMSC (tests/peers/smpp/smsc.js); its events are JSON lines.
pub struct NpmSmsc {
    child: Child,
    pub port: u16,
    events: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl NpmSmsc {
    pub fn start(args: &[&str]) -> NpmSmsc {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script = root.join("tests/peers/smpp/smsc.js");
        assert!(
            root.join("tests/peers/smpp/node_modules/smpp").exists(),
            "npm `smpp` is not installed: run `bash tests/run.sh` (it runs npm ci in tests/peers/smpp)"
        );
        let mut child = Command::new("node")
            .arg(&script)
            .args(["--port", "0", "--system-id", "otpgate", "--password", "secret"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node tests/peers/smpp/smsc.js");
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let first = events
            .recv_timeout(Duration::from_secs(15))
            .expect("npm smpp SMSC did not start");
        assert_eq!(first["event"], "listening", "{first}");
        NpmSmsc {
            port: first["port"].as_u64().unwrap() as u16,
            child,
            events,
            seen: Vec::new(),
        }
    }

    /// Waits for an event named `name` (remembering the others).
    pub fn wait_for(&mut self, name: &str, timeout: Duration) -> Value {
        if let Some(i) = self.seen.iter().position(|e| e["event"] == name) {
            return self.seen.remove(i);
        }
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if e["event"] == name => return e,
                Ok(e) => self.seen.push(e),
                Err(_) => panic!(
                    "npm smpp SMSC: no {name:?} event within {timeout:?}; saw {:?}",
                    self.seen
                ),
            }
        }
    }
}

impl NpmSmsc {
    /// Every event named `name` not yet taken by [`NpmSmsc::wait_for`], after waiting `settle`
    /// for stragglers.
    pub fn all(&mut self, name: &str, settle: Duration) -> Vec<Value> {
        let until = Instant::now() + settle;
        while let Ok(e) = self
            .events
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            self.seen.push(e);
        }
        self.seen.iter().filter(|e| e["event"] == name).cloned().collect()
    }
}

impl Drop for NpmSmsc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The config of one SMPP carrier named `smsc-a` pointing at `address`, plus `extra` keys.
pub fn smpp_carrier(address: &str, extra: &str) -> String {
    smpp_carrier_named("smsc-a", address, extra)
}

/// The config of one SMPP carrier named `name` pointing at `address`, plus `extra` keys.
pub fn smpp_carrier_named(name: &str, address: &str, extra: &str) -> String {
    format!(
        "[[carriers]]\nname = \"{name}\"\nprotocol = \"smpp\"\naddress = \"{address}\"\nsystem_id = \"otpgate\"\n\
         password = \"secret\"\nsource_addr = \"OTPGATE\"\n{extra}\n"
    )
}

/// Two SMS carriers on simulators `a` and `b`, `smsc-a` the cheaper (the plan tries it first,
/// so `smsc-b` is the fallback step), with `extra` config before them.
pub fn two_carriers(a: &Smsc, b: &Smsc, extra: &str) -> String {
    let carrier = |name: &str, address: &str, fee: &str| {
        format!(
            "[[carriers]]\nname = \"{name}\"\nprotocol = \"smpp\"\naddress = \"{address}\"\nsystem_id = \"otpgate\"\n\
             password = \"secret\"\nfee_usd = {{ default = {fee} }}\n"
        )
    };
    format!(
        "{extra}\n{}{}",
        carrier("smsc-a", &a.smpp, "0.001"),
        carrier("smsc-b", &b.smpp, "0.002")
    )
}

/// Waits (10 s at most) until both carriers of [`two_carriers`] are bound: a plan made before
/// the second one binds has no step to fall back to.
pub fn both_up(server: &super::Server) {
    carriers_up(server, &["smsc-a", "smsc-b"]);
}

/// Waits (10 s at most) until `otpgate_carrier_up` is 1 for each of `carriers` on `server`:
/// sends made before a bind is up answer 502 or skip that carrier. Panics naming the carriers.
pub fn carriers_up(server: &super::Server, carriers: &[&str]) {
    let up = || {
        let text = server.metrics();
        carriers
            .iter()
            .all(|c| metric(&text, "otpgate_carrier_up", &[("carrier", c)]) == 1.0)
    };
    assert!(
        eventually(Duration::from_secs(10), up),
        "{carriers:?} did not all bind on {}",
        server.base
    );
}

/// The verification code in a message text: its last run of 4 or more digits.
pub fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .rfind(|w| w.len() >= 4)
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_owned()
}

/// The value of one Prometheus sample whose line starts with `prefix` (name and labels), or 0.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| {
            let (series, _) = l.rsplit_once(' ').unwrap();
            series.split(['{', '}']).next() == Some(name)
                && labels.iter().all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum()
}

/// Polls `probe` every 25 ms until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + timeout;
    loop {
        if probe() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}
