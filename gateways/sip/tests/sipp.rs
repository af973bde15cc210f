//! Interoperability with a third-party SIP user agent: SIPp (Debian's `sip-tester`, installed by
//! tests/run.sh) as the callee, with `-rtp_echo` (every RTP packet goes back where it came from),
//! over UDP and over TCP (`-t t1`). Its built-in `uas` scenario answers in the 200 OK;
//! tests/sipp/record_route_uas.xml answers early (SDP in 183, 200 without a body) behind a
//! record-routing proxy and checks that our ACK and BYE follow the route set. SIPp exits 0 only
//! when that one call went as its scenario expects.

use otpgate_sip::call::{self, PlayOutcome, Played};
use otpgate_sip::prompt::{self, Language};
use otpgate_sip::transport::{Hop, Transport};
use std::process::{Command, Stdio};
use std::time::Duration;

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free TCP port")
}

/// Runs SIPp as a UAS (`scenario`: `-sn uas` or `-sf FILE`) over `transport`, calls it with
/// `code`, plays the whole prompt, and asserts that SIPp saw one successful call.
async fn call_sipp(scenario: &[&str], transport: Transport, code: &str) -> Played {
    let sipp = which("sipp").unwrap_or_else(|| {
        panic!("sipp not found: install Debian's sip-tester (tests/run.sh does: apt-get install sip-tester)")
    });
    let (sip_port, media_port) = match transport {
        Transport::Udp => (free_udp_port(), free_udp_port()),
        _ => (free_tcp_port(), free_udp_port()),
    };
    let sipp_transport = if transport == Transport::Udp { "u1" } else { "t1" };
    // SIPp's own account of what went wrong, shown when the call fails.
    let logs = tempfile::tempdir().unwrap();
    let errors = logs.path().join("errors.log");
    let messages = logs.path().join("messages.log");
    let uas = Command::new(sipp)
        .args(scenario)
        .args(["-t", sipp_transport, "-i", "127.0.0.1", "-p", &sip_port.to_string()])
        .args(["-mp", &media_port.to_string(), "-rtp_echo"])
        // One call, then exit; give up (exit 97) if ours never comes.
        .args(["-m", "1", "-timeout", "60", "-nostdin", "-trace_err", "-trace_msg"])
        .arg("-error_file")
        .arg(&errors)
        .arg("-message_file")
        .arg(&messages)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sipp");
    // SIPp binds its port before it reads the scenario; give it a moment to do so.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let plan = call::CallPlan {
        network: call::Network {
            transport,
            ..call::Network::udp(Hop::parse(&format!("127.0.0.1:{sip_port}")).unwrap())
        },
        request_uri: format!("sip:15550100@127.0.0.1:{sip_port}"),
        from_uri: "sip:otp@otpgate.invalid".into(),
        credentials: None,
        ring_timeout: Duration::from_secs(5),
        frames: prompt::frames(code, Language::English),
    };
    let answered = call::place(plan).await.map_err(|f| f.error).expect("SIPp answers");
    let played = answered.play(std::future::pending()).await;

    let output = tokio::task::spawn_blocking(move || uas.wait_with_output())
        .await
        .unwrap()
        .expect("sipp exits");
    assert!(
        output.status.success(),
        "sipp did not see one successful call ({}): {}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(&errors).unwrap_or_default(),
        std::fs::read_to_string(&messages).unwrap_or_default(),
    );
    played
}

/// The whole prompt went out in PCMU and SIPp echoed it (the last few may still be in flight
/// when our BYE goes out).
fn assert_played_and_echoed(played: &Played, code: &str) {
    let frames = prompt::frame_count(code, Language::English);
    assert!(matches!(played.outcome, PlayOutcome::Completed), "{:?}", played.outcome);
    assert_eq!(played.packets_sent, frames);
    assert_eq!(played.payload_type, 0, "SIPp answers PCMU");
    assert!(
        played.packets_received + 5 >= frames && played.packets_received <= frames,
        "{} of {frames} packets echoed",
        played.packets_received
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sipp_uas_answers_and_echoes_the_whole_prompt() {
    let played = call_sipp(&["-sn", "uas"], Transport::Udp, "270518").await;
    assert_played_and_echoed(&played, "270518");
    assert!(!played.latched, "SIPp echoes from the port its SDP names");
}

#[tokio::test(flavor = "multi_thread")]
async fn sipp_uas_over_tcp_answers_and_echoes_the_whole_prompt() {
    let played = call_sipp(&["-sn", "uas"], Transport::Tcp, "5").await;
    assert_played_and_echoed(&played, "5");
}

fn record_route_scenario() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/record_route_uas.xml").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn ack_and_bye_follow_the_record_route_set_and_the_183_answer_is_played() {
    let scenario = record_route_scenario();
    let played = call_sipp(&["-sf", &scenario], Transport::Udp, "5").await;
    assert_played_and_echoed(&played, "5");
}

#[tokio::test(flavor = "multi_thread")]
async fn ack_and_bye_follow_the_record_route_set_over_tcp() {
    let scenario = record_route_scenario();
    let played = call_sipp(&["-sf", &scenario], Transport::Tcp, "5").await;
    assert_played_and_echoed(&played, "5");
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|path| path.is_file())
}
