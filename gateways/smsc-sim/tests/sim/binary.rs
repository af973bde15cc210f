//! The shipped binary: ready line, rules file, control endpoint, clean exit on SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusmpp::CommandStatus;

use crate::esme::{gsm_submit, message_id, receipt_text, Esme};
use crate::http;

struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> (Running, SocketAddr, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_otpgate-smsc-sim"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let running = Running { child };
    let line = line.trim_end();
    let rest = line
        .strip_prefix("smsc-sim smpp=")
        .unwrap_or_else(|| panic!("unexpected ready line {line:?}"));
    let (smpp, control) = rest.split_once(" control=").expect("control= in the ready line");
    assert!(control.starts_with("http://127.0.0.1:"), "{line}");
    (running, smpp.parse().expect("an SMPP address"), control.to_owned())
}

fn terminate(running: &mut Running) -> std::process::ExitStatus {
    let pid = running.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "no exit within 5 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_one_ready_line_applies_its_rules_file_and_stops_on_sigterm() {
    let rules = std::env::temp_dir().join(format!("smsc-sim-rules-{}.toml", std::process::id()));
    std::fs::write(
        &rules,
        "[[rules]]\npattern = \"1555\"\naction = \"refuse\"\nstatus = 0x0B\n",
    )
    .unwrap();
    let (mut running, smpp, control) = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--rules",
        rules.to_str().unwrap(),
        "--message-id-format",
        "hex",
        "--system-id",
        "bench",
        "--password",
        "pw",
    ]);
    std::fs::remove_file(&rules).unwrap();

    let mut esme = Esme::connect(smpp).await;
    let bound = esme.bind(crate::esme::Bind::Transceiver, "bench", "pw").await;
    assert_eq!(bound.status(), CommandStatus::EsmeRok);
    let refused = esme.submit(gsm_submit("15551234567", "x")).await;
    assert_eq!(refused.status(), CommandStatus::EsmeRinvdstadr);
    let accepted = esme.submit(gsm_submit("447700900000", "x")).await;
    assert_eq!(message_id(&accepted), "1");
    assert!(receipt_text(&esme.receipt().await).starts_with("id:1 "));

    let (status, stats) = http("GET", &format!("{control}/stats"), None);
    assert_eq!((status, stats["submit_sm"].as_u64()), (200, Some(2)));

    let exit = terminate(&mut running);
    assert!(exit.success(), "{exit:?}");
    esme.expect_closed().await;
}

#[test]
fn binary_refuses_a_bad_rules_file() {
    let rules = std::env::temp_dir().join(format!("smsc-sim-bad-{}.toml", std::process::id()));
    std::fs::write(&rules, "[[rules]]\npattern = \"1x\"\naction = \"accept\"\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_otpgate-smsc-sim"))
        .args(["--listen", "127.0.0.1:0", "--rules", rules.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    std::fs::remove_file(&rules).unwrap();
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(!status.success());
    assert!(stdout.is_empty(), "no ready line: {stdout:?}");
    assert!(stderr.contains("digit prefix"), "{stderr}");
}
