//! Drives the real `otpgate-sip-callee` binary over UDP with a tiny rsip UAC.

use md5::{Digest as _, Md5};
use rsip::prelude::*;
use rsip::{Header, Method, Request, Response, SipMessage};
use sha2::Sha256;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Callee {
    child: Child,
    sip: SocketAddr,
}

impl Callee {
    fn start(args: &[&str]) -> Callee {
        let mut child = Command::new(env!("CARGO_BIN_EXE_otpgate-sip-callee"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn callee");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let sip = line
            .trim()
            .strip_prefix("sip-callee sip=")
            .expect("ready line")
            .parse()
            .unwrap();
        Callee { child, sip }
    }
}

impl Drop for Callee {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal user agent client: one UDP socket, requests built with rsip.
struct Uac {
    socket: UdpSocket,
    target: SocketAddr,
    call_id: String,
    from_tag: String,
    to_tag: Option<String>,
}

const OFFER: &str = "v=0\r\no=uac 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n";

impl Uac {
    fn new(target: SocketAddr, call_id: &str) -> Uac {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Uac {
            socket,
            target,
            call_id: call_id.into(),
            from_tag: "uac1".into(),
            to_tag: None,
        }
    }

    fn request(&self, method: Method, user: &str, branch: &str, cseq: u32, extra: Vec<Header>, body: &str) -> Request {
        let local = self.socket.local_addr().unwrap();
        let to = match &self.to_tag {
            Some(tag) if method != Method::Invite && method != Method::Cancel => {
                format!("<sip:{user}@{}>;tag={tag}", self.target)
            }
            _ => format!("<sip:{user}@{}>", self.target),
        };
        let mut headers: rsip::Headers = Default::default();
        headers.push(rsip::headers::Via::new(format!("SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport")).into());
        headers.push(rsip::headers::MaxForwards::new("70").into());
        headers.push(rsip::headers::From::new(format!("<sip:otp@{local}>;tag={}", self.from_tag)).into());
        headers.push(rsip::headers::To::new(to).into());
        headers.push(rsip::headers::CallId::new(self.call_id.clone()).into());
        headers.push(rsip::headers::CSeq::new(format!("{cseq} {method}")).into());
        headers.push(rsip::headers::Contact::new(format!("<sip:otp@{local}>")).into());
        headers.extend(extra);
        if !body.is_empty() {
            headers.push(rsip::headers::ContentType::new("application/sdp").into());
        }
        headers.push(rsip::headers::ContentLength::new(body.len().to_string()).into());
        Request {
            method,
            uri: rsip::Uri::try_from(format!("sip:{user}@{}", self.target)).unwrap(),
            version: rsip::Version::V2,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn send(&self, request: &Request) {
        self.socket
            .send_to(request.to_string().as_bytes(), self.target)
            .unwrap();
    }

    fn recv(&mut self) -> Response {
        let mut buf = [0u8; 65_535];
        let (len, _) = self.socket.recv_from(&mut buf).expect("a response in time");
        let SipMessage::Response(response) = SipMessage::try_from(&buf[..len]).unwrap() else {
            panic!("expected a response")
        };
        if let Ok(to) = response.to_header() {
            if let Some(tag) = to.value().split(";tag=").nth(1) {
                self.to_tag = Some(tag.to_string());
            }
        }
        response
    }

    /// The next SIP message from anyone within `timeout`, with its source; None on timeout.
    fn recv_message(&self, timeout: Duration) -> Option<(SipMessage, SocketAddr)> {
        self.socket.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 65_535];
        let received = self.socket.recv_from(&mut buf);
        self.socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (len, source) = received.ok()?;
        Some((SipMessage::try_from(&buf[..len]).unwrap(), source))
    }

    /// The next request sent to the UAC (the callee's BYE) within `timeout`.
    fn recv_request(&self, timeout: Duration) -> Option<(Request, SocketAddr)> {
        match self.recv_message(timeout)? {
            (SipMessage::Request(request), source) => Some((request, source)),
            (SipMessage::Response(response), _) => panic!("expected a request, got {response}"),
        }
    }

    /// Answers a request from the callee the way a UAS would: Via/From/To/Call-ID/CSeq copied.
    fn reply(&self, request: &Request, code: u16, to: SocketAddr) {
        let mut headers: rsip::Headers = Default::default();
        for header in request.headers.iter() {
            if matches!(
                header,
                Header::Via(_) | Header::From(_) | Header::To(_) | Header::CallId(_) | Header::CSeq(_)
            ) {
                headers.push(header.clone());
            }
        }
        headers.push(rsip::headers::ContentLength::new("0").into());
        let response = Response {
            status_code: code.into(),
            version: rsip::Version::V2,
            headers,
            body: vec![],
        };
        self.socket.send_to(response.to_string().as_bytes(), to).unwrap();
    }

    /// Receives responses until a final one, returning the provisional codes seen and the final.
    fn recv_final(&mut self) -> (Vec<u16>, Response) {
        let mut provisional = Vec::new();
        loop {
            let response = self.recv();
            let code = response.status_code.code();
            if code >= 200 {
                return (provisional, response);
            }
            provisional.push(code);
        }
    }
}

fn rtp_packet(seq: u16, timestamp: u32, marker: bool) -> Vec<u8> {
    let mut packet = vec![0x80, if marker { 0x80 } else { 0x00 }];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&timestamp.to_be_bytes());
    packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    packet.extend((0..160).map(|i| if i % 2 == 0 { 0x00 } else { 0xff }));
    packet
}

/// The RTP port of the callee's SDP answer.
fn rtp_port_of(ok: &Response) -> u16 {
    let sdp = String::from_utf8(ok.body.clone()).unwrap();
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap()
}

/// INVITE → 100, 180, 200 → ACK; returns the RTP port and when the ACK left.
fn answered_call(uac: &mut Uac, user: &str) -> (u16, Instant) {
    uac.send(&uac.request(Method::Invite, user, "inv1", 1, vec![], OFFER));
    let (provisional, ok) = uac.recv_final();
    assert_eq!(provisional, vec![100, 180]);
    assert_eq!(ok.status_code.code(), 200);
    uac.send(&uac.request(Method::Ack, user, "ack1", 1, vec![], ""));
    (rtp_port_of(&ok), Instant::now())
}

fn header_text(request: &Request, name: &str) -> String {
    let prefix = format!("{name}: ");
    request
        .headers
        .iter()
        .find_map(|h| h.to_string().strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_else(|| panic!("no {name} in {request}"))
}

/// The callee writes its recording and its report line after it answered the BYE: on a busy
/// machine that can be later than our next step, so wait (up to 10 s) for what it writes.
fn written(path: &Path, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if ready(&text) || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = written(path, |text| serde_json::from_str::<serde_json::Value>(text).is_ok());
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text:?}", path.display()))
}

/// The report file once it holds at least one line; the caller asserts how many.
fn report_lines(path: &Path) -> String {
    written(path, |text| text.ends_with('\n'))
}

#[test]
fn answered_call_records_rtp_and_reports_on_bye() {
    let dir = tempfile::tempdir().unwrap();
    let report_file = dir.path().join("calls.jsonl");
    let callee = Callee::start(&[
        "--mode",
        "answer",
        "--record-dir",
        dir.path().to_str().unwrap(),
        "--report-file",
        report_file.to_str().unwrap(),
    ]);
    let mut uac = Uac::new(callee.sip, "answer-1");
    uac.send(&uac.request(Method::Invite, "alice", "inv1", 1, vec![], OFFER));
    let (provisional, ok) = uac.recv_final();
    assert_eq!(provisional, vec![100, 180]);
    assert_eq!(ok.status_code.code(), 200);
    let sdp = String::from_utf8(ok.body.clone()).unwrap();
    assert!(sdp.contains("c=IN IP4 127.0.0.1"), "{sdp}");
    assert!(sdp.contains("a=rtpmap:0 PCMU/8000"), "PCMU preferred: {sdp}");
    let rtp_port: u16 = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    uac.send(&uac.request(Method::Ack, "alice", "ack1", 1, vec![], ""));

    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..50u16 {
        rtp.send_to(
            &rtp_packet(1000 + i, 160 * u32::from(i), i == 0),
            ("127.0.0.1", rtp_port),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    uac.send(&uac.request(Method::Bye, "alice", "bye1", 2, vec![], ""));
    assert_eq!(uac.recv().status_code.code(), 200);

    let report = read_json(&dir.path().join("answer-1.json"));
    assert_eq!(report["call_id"], "answer-1");
    assert_eq!(report["codec"], "PCMU");
    assert_eq!(report["packets"], 50);
    assert_eq!(report["duration_ms"], 1000);
    assert_eq!(report["first_marker_bit"], true);
    assert_eq!(report["sequence_gaps"], 0);
    assert_eq!(report["ssrc_changes"], 0);
    assert_eq!(report["bye_received"], true);
    assert_eq!(report["hung_up_by_callee"], false);
    let wav = std::fs::read(dir.path().join("answer-1.wav")).unwrap();
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 8000);
    assert_eq!((wav.len() - 44) / 2, 8000, "8000 samples of 16-bit PCM");
    // µ-law 0x00 decodes to the most negative level, 0xff to silence.
    assert_eq!(i16::from_le_bytes([wav[44], wav[45]]), -32124);
    assert_eq!(i16::from_le_bytes([wav[46], wav[47]]), 0);

    let log = report_lines(&report_file);
    let line: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(line["outcome"], "answered");
    assert_eq!(line["report"]["packets"], 50);
}

#[test]
fn hangup_after_sends_bye_retransmits_until_answered_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let report_file = dir.path().join("calls.jsonl");
    let callee = Callee::start(&[
        "--mode",
        "hangup-after:300",
        "--record-dir",
        dir.path().to_str().unwrap(),
        "--report-file",
        report_file.to_str().unwrap(),
    ]);
    let mut uac = Uac::new(callee.sip, "hangup-1");
    let (rtp_port, acked) = answered_call(&mut uac, "erin");
    let to_tag = uac.to_tag.clone().expect("To tag in the 200");
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..20u16 {
        rtp.send_to(
            &rtp_packet(1000 + i, 160 * u32::from(i), i == 0),
            ("127.0.0.1", rtp_port),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }

    let (bye, source) = uac.recv_request(Duration::from_secs(3)).expect("the callee's BYE");
    let first_bye = Instant::now();
    let elapsed = first_bye - acked;
    assert!(
        (Duration::from_millis(250)..Duration::from_secs(2)).contains(&elapsed),
        "BYE after {elapsed:?}"
    );
    assert_eq!(source, callee.sip, "sent from the SIP socket");
    let local = uac.socket.local_addr().unwrap();
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.uri.to_string(), format!("sip:otp@{local}"), "the caller's Contact");
    assert_eq!(
        header_text(&bye, "From"),
        format!("<sip:erin@{}>;tag={to_tag}", callee.sip)
    );
    assert_eq!(header_text(&bye, "To"), format!("<sip:otp@{local}>;tag=uac1"));
    assert_eq!(header_text(&bye, "Call-ID"), "hangup-1");
    assert_eq!(header_text(&bye, "CSeq"), "1 BYE");
    assert_eq!(header_text(&bye, "Max-Forwards"), "70");
    assert_eq!(header_text(&bye, "Content-Length"), "0");
    let via = header_text(&bye, "Via");
    assert!(
        via.starts_with(&format!("SIP/2.0/UDP {};branch=z9hG4bK", callee.sip)),
        "{via}"
    );
    assert!(bye.body.is_empty());

    // The files are written before the BYE leaves, with what arrived until then.
    let report = read_json(&dir.path().join("hangup-1.json"));
    assert_eq!(report["hung_up_by_callee"], true);
    assert_eq!(report["bye_received"], false);
    assert_eq!(report["packets"], 20);
    assert_eq!(report["duration_ms"], 400);
    assert!(dir.path().join("hangup-1.wav").exists());

    // Unanswered, the BYE comes again after T1 (500 ms), same transaction.
    let (again, _) = uac.recv_request(Duration::from_secs(3)).expect("a retransmitted BYE");
    let interval = first_bye.elapsed();
    assert!(
        (Duration::from_millis(400)..Duration::from_millis(1500)).contains(&interval),
        "retransmitted after {interval:?}"
    );
    assert_eq!(again.to_string(), bye.to_string());
    uac.reply(&again, 200, source);
    // The next retransmission would have come 1 s later: nothing may arrive now.
    if let Some((message, _)) = uac.recv_message(Duration::from_secs(2)) {
        panic!("nothing expected after the 200 OK, got {message}");
    }

    let log = report_lines(&report_file);
    assert_eq!(log.lines().count(), 1, "{log}");
    let line: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(line["outcome"], "hung_up");
    assert_eq!(line["status"], 200);
    assert_eq!(line["report"]["hung_up_by_callee"], true);
    assert_eq!(line["report"]["packets"], 20);
}

#[test]
fn caller_bye_crossing_the_callee_bye_gets_200_and_one_report() {
    let dir = tempfile::tempdir().unwrap();
    let report_file = dir.path().join("calls.jsonl");
    let callee = Callee::start(&[
        "--mode",
        "hangup-after:50",
        "--record-dir",
        dir.path().to_str().unwrap(),
        "--report-file",
        report_file.to_str().unwrap(),
    ]);
    let mut uac = Uac::new(callee.sip, "crossing-1");
    answered_call(&mut uac, "frank");
    let (bye, source) = uac.recv_request(Duration::from_secs(3)).expect("the callee's BYE");
    // The caller hung up too, before it read ours: its BYE gets the usual 200.
    uac.send(&uac.request(Method::Bye, "frank", "bye1", 2, vec![], ""));
    uac.reply(&bye, 200, source);
    let response = loop {
        match uac.recv_message(Duration::from_secs(3)).expect("the 200 to our BYE") {
            (SipMessage::Response(response), _) => break response,
            // A retransmission of the callee's BYE that crossed our 200.
            (SipMessage::Request(request), _) => assert_eq!(request.method, Method::Bye),
        }
    };
    assert_eq!(response.status_code.code(), 200);
    assert_eq!(response.cseq_header().unwrap().value(), "2 BYE");
    std::thread::sleep(Duration::from_millis(200));
    let log = report_lines(&report_file);
    assert_eq!(log.lines().count(), 1, "one call, one line: {log}");
    assert!(log.contains("\"outcome\":\"hung_up\""), "{log}");
    assert_eq!(
        read_json(&dir.path().join("crossing-1.json"))["hung_up_by_callee"],
        true
    );
}

#[test]
fn busy_answers_486_and_retransmission_is_not_a_new_call() {
    let dir = tempfile::tempdir().unwrap();
    let report_file = dir.path().join("calls.jsonl");
    let callee = Callee::start(&["--mode", "busy", "--report-file", report_file.to_str().unwrap()]);
    let mut uac = Uac::new(callee.sip, "busy-1");
    let invite = uac.request(Method::Invite, "bob", "inv1", 1, vec![], OFFER);
    uac.send(&invite);
    assert_eq!(uac.recv_final().1.status_code.code(), 486);
    uac.send(&invite);
    assert_eq!(uac.recv_final().1.status_code.code(), 486);
    // Let the log settle: one call, one line.
    std::thread::sleep(Duration::from_millis(100));
    let log = report_lines(&report_file);
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(log.contains("\"status\":486"));
}

#[test]
fn rules_file_picks_mode_per_called_user() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "default = \"busy\"\n[users]\nunavailable = \"reject:480\"\ndown = \"reject:503\"\n",
    )
    .unwrap();
    let callee = Callee::start(&["--rules", rules.to_str().unwrap()]);
    for (user, code) in [("unavailable", 480), ("down", 503), ("anyone", 486)] {
        let mut uac = Uac::new(callee.sip, &format!("rules-{user}"));
        uac.send(&uac.request(Method::Invite, user, "inv1", 1, vec![], OFFER));
        assert_eq!(uac.recv_final().1.status_code.code(), code, "{user}");
    }
}

#[test]
fn ring_forever_then_cancel_gives_487() {
    let callee = Callee::start(&["--mode", "ring-forever"]);
    let mut uac = Uac::new(callee.sip, "ring-1");
    uac.send(&uac.request(Method::Invite, "carol", "inv1", 1, vec![], OFFER));
    assert_eq!(uac.recv().status_code.code(), 100);
    assert_eq!(uac.recv().status_code.code(), 180);
    uac.send(&uac.request(Method::Cancel, "carol", "inv1", 1, vec![], ""));
    let mut codes = [uac.recv().status_code.code(), uac.recv().status_code.code()];
    codes.sort();
    assert_eq!(codes, [200, 487]);
}

fn hash(algorithm: &str, input: &str) -> String {
    match algorithm {
        "MD5" => hex::encode(Md5::digest(input.as_bytes())),
        _ => hex::encode(Sha256::digest(input.as_bytes())),
    }
}

fn param<'a>(header: &'a str, name: &str) -> &'a str {
    let start = header.find(&format!("{name}=")).unwrap() + name.len() + 1;
    header[start..].split(',').next().unwrap().trim().trim_matches('"')
}

/// INVITE → 401 → ACK → INVITE with Authorization; returns the final status of the second INVITE.
fn challenged_call(callee: &Callee, call_id: &str, algorithm: &str, password: &str) -> u16 {
    let mut uac = Uac::new(callee.sip, call_id);
    uac.send(&uac.request(Method::Invite, "dave", "inv1", 1, vec![], OFFER));
    let (_, challenge) = uac.recv_final();
    assert_eq!(challenge.status_code.code(), 401);
    let www = challenge
        .headers
        .iter()
        .find_map(|h| match h {
            Header::WwwAuthenticate(w) => Some(w.value().to_string()),
            _ => None,
        })
        .expect("WWW-Authenticate");
    assert_eq!(param(&www, "realm"), "otpgate-test");
    assert_eq!(param(&www, "algorithm"), algorithm);
    uac.send(&uac.request(Method::Ack, "dave", "inv1", 1, vec![], ""));
    uac.to_tag = None;

    let nonce = param(&www, "nonce");
    let uri = format!("sip:dave@{}", callee.sip);
    let ha1 = hash(algorithm, &format!("otp:otpgate-test:{password}"));
    let ha2 = hash(algorithm, &format!("INVITE:{uri}"));
    let response = hash(algorithm, &format!("{ha1}:{nonce}:{ha2}"));
    let authorization = format!(
        "Digest username=\"otp\", realm=\"otpgate-test\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm={algorithm}"
    );
    let extra = vec![rsip::headers::Authorization::new(authorization).into()];
    uac.send(&uac.request(Method::Invite, "dave", "inv2", 2, extra, OFFER));
    let (_, last) = uac.recv_final();
    last.status_code.code()
}

#[test]
fn challenge_md5_accepts_right_digest_and_refuses_wrong_one() {
    let callee = Callee::start(&["--mode", "challenge", "--user", "otp", "--password", "s3cret"]);
    assert_eq!(challenged_call(&callee, "auth-md5-ok", "MD5", "s3cret"), 200);
    assert_eq!(challenged_call(&callee, "auth-md5-bad", "MD5", "wrong"), 403);
}

#[test]
fn challenge_sha256() {
    let callee = Callee::start(&[
        "--mode",
        "challenge",
        "--user",
        "otp",
        "--password",
        "s3cret",
        "--digest-algorithm",
        "SHA-256",
    ]);
    assert_eq!(challenged_call(&callee, "auth-sha-ok", "SHA-256", "s3cret"), 200);
    assert_eq!(challenged_call(&callee, "auth-sha-bad", "SHA-256", "nope"), 403);
}

/// Third-party check: SIPp's built-in `uac` scenario (INVITE, ACK, BYE) against the callee.
/// Needs `sipp` on PATH (Debian: `apt-get install -y sip-tester`; tests/run.sh installs it).
#[test]
fn sipp_builtin_uac_call_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let report_file = dir.path().join("calls.jsonl");
    let callee = Callee::start(&["--report-file", report_file.to_str().unwrap()]);
    let status = Command::new("sipp")
        .args([
            "-sn",
            "uac",
            &callee.sip.to_string(),
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
        ])
        .args(["-timeout", "20s", "-timeout_error", "-nostdin"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .status()
        .expect("run sipp");
    assert!(status.success(), "sipp reported a failed call: {status}");
    std::thread::sleep(Duration::from_millis(200));
    let log = report_lines(&report_file);
    assert!(log.contains("\"outcome\":\"answered\""), "{log}");
    assert!(log.contains("\"bye_received\":true"), "{log}");
}

/// reliable-early (RFC 3262): an INVITE that does not support 100rel gets 420 naming it; one that
/// does gets a 183 with the SDP answer, `Require: 100rel` and `RSeq: 1`, and the 200 (without a
/// body) only after its PRACK, which is answered 200.
#[test]
fn reliable_early_answer_needs_100rel_and_waits_for_the_prack() {
    let callee = Callee::start(&["--mode", "answer", "--answer-shape", "reliable-early"]);
    let mut plain = Uac::new(callee.sip, "rel-0");
    plain.send(&plain.request(Method::Invite, "bob", "rel0", 1, vec![], OFFER));
    let (_, refused) = plain.recv_final();
    assert_eq!(refused.status_code.code(), 420, "{refused}");
    assert!(refused.to_string().contains("Unsupported: 100rel"), "{refused}");

    let mut uac = Uac::new(callee.sip, "rel-1");
    let supported = vec![rsip::headers::Supported::new("100rel").into()];
    uac.send(&uac.request(Method::Invite, "bob", "rel1", 1, supported, OFFER));
    assert_eq!(uac.recv().status_code.code(), 100);
    let progress = uac.recv();
    assert_eq!(progress.status_code.code(), 183);
    let text = progress.to_string();
    assert!(text.contains("Require: 100rel") && text.contains("RSeq: 1"), "{text}");
    assert!(rtp_port_of(&progress) > 0, "the answer is in the 183");
    // No 200 before the PRACK.
    assert!(uac.recv_message(Duration::from_millis(300)).is_none());
    let rack = vec![Header::Other("RAck".into(), "1 1 INVITE".into())];
    uac.send(&uac.request(Method::PRack, "bob", "prack1", 2, rack, ""));
    let mut finals: Vec<(u16, String)> = (0..2)
        .map(|_| {
            let response = uac.recv();
            let cseq = response.cseq_header().unwrap().value().to_string();
            (response.status_code.code(), cseq)
        })
        .collect();
    finals.sort();
    assert_eq!(finals, [(200, "1 INVITE".to_owned()), (200, "2 PRACK".to_owned())]);
}
