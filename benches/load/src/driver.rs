//! What one unit of work is, and the one place its HTTP exchanges are made
//! and timed. The units themselves are in `verify.rs` (otpgate's whole
//! verification) and `send.rs` (one message, to otpgate or to Kannel).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use awc::http::Uri;
use bytes::Bytes;
use serde::Deserialize;

use crate::numbers::Numbers;
use crate::send::KannelSend;
use crate::stats::{FailKind, Failure, Stats, Step};

/// Engine answers are small; anything near this is a bug worth failing on.
const BODY_LIMIT: usize = 256 * 1024;

/// Where a verification run reads the code the engine sent.
pub enum CodeSource {
    /// The engine's sandbox inbox (`GET /v3/sandbox/messages/`): sandbox numbers, no carrier,
    /// nothing charged.
    Sandbox,
    /// The SMSC simulator's records (`GET {control}/messages?destination=`): carrier numbers sent
    /// over SMPP and charged, the production path.
    Smsc(String),
}

/// The unit of work a run repeats.
pub enum Work {
    /// otpgate: send → read the code → check, approved or failed.
    Verify(CodeSource),
    /// otpgate: one `POST /v3/phone/send/` to a carrier number, "Success" or failed.
    SendOtpgate,
    /// Kannel (`GET /cgi-bin/sendsms`) or Jasmin (`GET /send`): the same numbers and text.
    SendKannel(KannelSend),
}

impl Work {
    /// `otpgate`, `kannel` or `jasmin`, for the report.
    pub fn target(&self) -> &'static str {
        match self {
            Work::Verify(_) | Work::SendOtpgate => "otpgate",
            Work::SendKannel(gateway) => gateway.target(),
        }
    }

    /// `verification` or `send`, for the report.
    pub fn unit(&self) -> &'static str {
        match self {
            Work::Verify(_) => "verification",
            Work::SendOtpgate | Work::SendKannel(_) => "send",
        }
    }

    /// The report's name for the whole unit's latency, and the calls it is made of.
    pub fn latency_names(&self) -> (&'static str, &'static [Step]) {
        match self {
            Work::Verify(_) => ("verification", &[Step::Send, Step::Inbox, Step::Check]),
            Work::SendOtpgate | Work::SendKannel(_) => ("message", &[Step::Send]),
        }
    }

    /// The number sequence this work needs.
    pub fn numbers(&self) -> Numbers {
        match self {
            Work::Verify(CodeSource::Sandbox) => Numbers::Sandbox,
            Work::Verify(CodeSource::Smsc(_)) | Work::SendOtpgate | Work::SendKannel(_) => Numbers::Carrier,
        }
    }
}

/// Everything a worker needs; shared by `Rc` on the single runtime thread.
pub struct Driver {
    pub client: awc::Client,
    pub base: String,
    pub work: Work,
    pub send_uri: Uri,
    pub check_uri: Uri,
    /// Index of the number used by unit 0 (`--start`).
    pub first_number: u64,
    pub stats: RefCell<Stats>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    code: Option<String>,
}

pub fn failure(kind: FailKind, detail: String) -> Failure {
    Failure { kind, detail }
}

impl Driver {
    pub fn new(client: awc::Client, base: &str, work: Work, first_number: u64) -> Result<Self, String> {
        let uri = |path: &str| -> Result<Uri, String> {
            format!("{base}{path}")
                .parse()
                .map_err(|e| format!("invalid --url {base:?}: {e}"))
        };
        let numbers = work.numbers();
        Ok(Driver {
            client,
            base: base.to_string(),
            work,
            send_uri: uri("/v3/phone/send/")?,
            check_uri: uri("/v3/phone/check/")?,
            first_number,
            stats: RefCell::new(Stats::new(numbers)),
        })
    }

    pub fn numbers(&self) -> Numbers {
        self.work.numbers()
    }

    /// Runs one unit of work with number `i`. Step latencies are recorded
    /// only when `measured`, so the warmup does not skew them.
    pub async fn run(&self, i: u64, measured: bool) -> Result<(), Failure> {
        let phone = self.numbers().phone(i);
        match &self.work {
            Work::Verify(source) => self.verify(source, &phone, measured).await,
            Work::SendOtpgate => self.send_otpgate(&phone, measured).await,
            Work::SendKannel(kannel) => self.send_kannel(kannel, &phone, i, measured).await,
        }
    }

    /// Sends one request, reads the whole body and times both. The request
    /// is built inside so its construction is part of the measured time.
    pub async fn exchange(
        &self,
        step: Step,
        measured: bool,
        request: impl FnOnce() -> awc::SendClientRequest,
    ) -> Result<Bytes, Failure> {
        let started = Instant::now();
        let answer = async {
            let mut resp = request().await.map_err(|e| e.to_string())?;
            let body = resp.body().limit(BODY_LIMIT).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((resp.status(), body))
        }
        .await;
        let latency: Option<Duration> = answer.as_ref().ok().map(|_| started.elapsed());
        if measured {
            self.stats.borrow_mut().record_step(step, latency);
        }
        let (status, body) = answer.map_err(|e| failure(FailKind::Transport, format!("{}: {e}", step.name())))?;
        if !status.is_success() {
            // otpgate says why in a JSON `code`; Kannel in a short fixed text.
            let why = match serde_json::from_slice::<ErrorAnswer>(&body) {
                Ok(ErrorAnswer { code: Some(c) }) => format!(" ({c})"),
                Ok(_) => String::new(),
                Err(_) => format!(" ({})", short_text(&body)),
            };
            return Err(failure(
                FailKind::Http,
                format!("{}: HTTP {}{why}", step.name(), status.as_u16()),
            ));
        }
        Ok(body)
    }
}

/// The first line of a text answer, capped, for failure details.
pub fn short_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(60).collect()
}
