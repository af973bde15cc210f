//! Interoperability with a third-party SIP user agent: SIPp (Debian's `sip-tester`, installed by
//! tests/run.sh), running its built-in `uas` scenario with `-rtp_echo`. SIPp answers our INVITE
//! with its own SDP, echoes every RTP packet back to where it came from, and waits for our BYE;
//! it exits 0 only when that one call completed as its scenario expects.

use otpgate_sip::call::{self, PlayOutcome};
use otpgate_sip::prompt::{self, Language};
use otpgate_sip::transport::Hop;
use std::process::{Command, Stdio};
use std::time::Duration;

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

#[tokio::test(flavor = "multi_thread")]
async fn sipp_uas_answers_and_echoes_the_whole_prompt() {
    let sipp = which("sipp").unwrap_or_else(|| {
        panic!("sipp not found: install Debian's sip-tester (tests/run.sh does: apt-get install sip-tester)")
    });
    let (sip_port, media_port) = (free_udp_port(), free_udp_port());
    let uas = Command::new(sipp)
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &sip_port.to_string()])
        .args(["-mp", &media_port.to_string(), "-rtp_echo"])
        // One call, then exit; give up (exit 97) if ours never comes.
        .args(["-m", "1", "-timeout", "60", "-nostdin"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sipp");
    // SIPp binds its port before it reads the scenario; give it a moment to do so.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let code = "270518";
    let plan = call::CallPlan {
        network: call::Network::udp(Hop::parse(&format!("127.0.0.1:{sip_port}")).unwrap()),
        request_uri: format!("sip:15550100@127.0.0.1:{sip_port}"),
        from_uri: "sip:otp@otpgate.invalid".into(),
        credentials: None,
        ring_timeout: Duration::from_secs(5),
        frames: prompt::frames(code, Language::English),
    };
    let answered = call::place(plan).await.map_err(|f| f.error).expect("SIPp answers");
    let played = answered.play(std::future::pending()).await;

    let frames = prompt::frame_count(code, Language::English);
    assert!(matches!(played.outcome, PlayOutcome::Completed), "{:?}", played.outcome);
    assert_eq!(played.packets_sent, frames);
    assert_eq!(played.payload_type, 0, "SIPp's uas answers PCMU");
    // Audio flowed both ways: SIPp echoed what it received (the last few may still be in
    // flight when our BYE goes out).
    assert!(
        played.packets_received + 5 >= frames && played.packets_received <= frames,
        "{} of {frames} packets echoed",
        played.packets_received
    );

    let output = tokio::task::spawn_blocking(move || uas.wait_with_output())
        .await
        .unwrap()
        .expect("sipp exits");
    assert!(
        output.status.success(),
        "sipp did not see one successful call ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|path| path.is_file())
}
