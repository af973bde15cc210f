//! One verification against the engine: send → read the sandbox inbox →
//! check with the code found there.

use std::borrow::Cow;
use std::cell::RefCell;
use std::time::{Duration, Instant};

use awc::http::header::{HeaderValue, CONTENT_TYPE};
use awc::http::Uri;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::stats::{FailKind, Failure, Stats, Step};

/// Subscriber endings used per exchange: `00`..`96`. Endings 97–99 are left out because
/// `+12025550197..99` are the sandbox's disposable, VoIP and high-risk numbers, which do not
/// simply approve.
const ENDINGS: u64 = 97;

/// Size of the sandbox number space used: `+1NXX55501XX`, 800 exchanges × 97 endings.
pub const NUMBER_SPACE: u64 = 800 * ENDINGS;

/// Engine answers are small; anything near this is a bug worth failing on.
const BODY_LIMIT: usize = 256 * 1024;

/// Number `i` as `+1NXX55501XX`, built on the stack so a verification costs
/// no allocation for its phone number.
pub struct Phone([u8; 12]);

impl Phone {
    pub fn new(i: u64) -> Self {
        let nxx = 200 + (i / ENDINGS) % 800;
        let xx = i % ENDINGS;
        let mut b = *b"+1NXX55501XX";
        b[2] = b'0' + (nxx / 100) as u8;
        b[3] = b'0' + (nxx / 10 % 10) as u8;
        b[4] = b'0' + (nxx % 10) as u8;
        b[10] = b'0' + (xx / 10) as u8;
        b[11] = b'0' + (xx % 10) as u8;
        Phone(b)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("phone digits are ASCII")
    }
}

#[derive(Serialize)]
struct SendBody<'a> {
    phone_number: &'a str,
}

#[derive(Serialize)]
struct CheckBody<'a> {
    phone_number: &'a str,
    code: &'a str,
}

// Only the fields the run needs; serde skips the rest without allocating,
// and `Cow` borrows from the body unless a string has escapes.
#[derive(Deserialize)]
struct SendAnswer<'a> {
    #[serde(borrow)]
    request_id: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Inbox<'a> {
    #[serde(borrow)]
    results: Vec<Message<'a>>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    request_id: Cow<'a, str>,
    #[serde(borrow)]
    code: Cow<'a, str>,
}

#[derive(Deserialize)]
struct CheckAnswer<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    code: Option<String>,
}

/// Everything a worker needs; shared by `Rc` on the single runtime thread.
pub struct Verifier {
    pub client: awc::Client,
    pub base: String,
    pub send_uri: Uri,
    pub check_uri: Uri,
    /// Sandbox number index of verification 0 (`--start`).
    pub first_number: u64,
    pub stats: RefCell<Stats>,
}

fn failure(kind: FailKind, detail: String) -> Failure {
    Failure { kind, detail }
}

fn bad_json(step: Step, e: serde_json::Error) -> Failure {
    // Classify only, so the detail does not vary with byte offsets.
    failure(
        FailKind::Status,
        format!("{}: unparseable answer ({:?})", step.name(), e.classify()),
    )
}

impl Verifier {
    pub fn new(client: awc::Client, base: &str, first_number: u64) -> Result<Self, String> {
        let uri = |path: &str| -> Result<Uri, String> {
            format!("{base}{path}")
                .parse()
                .map_err(|e| format!("invalid --url {base:?}: {e}"))
        };
        Ok(Verifier {
            client,
            base: base.to_string(),
            send_uri: uri("/v3/phone/send/")?,
            check_uri: uri("/v3/phone/check/")?,
            first_number,
            stats: RefCell::new(Stats::new()),
        })
    }

    /// Runs one verification for number `i`. Step latencies are recorded
    /// only when `measured`, so the warmup does not skew them.
    pub async fn run(&self, i: u64, measured: bool) -> Result<(), Failure> {
        let phone = Phone::new(i);
        let phone = phone.as_str();

        let body = serde_json::to_vec(&SendBody { phone_number: phone }).expect("serializable");
        let sent = self
            .exchange(Step::Send, measured, || {
                self.client
                    .post(self.send_uri.clone())
                    .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
                    .send_body(body)
            })
            .await?;
        let sent: SendAnswer = serde_json::from_slice(&sent).map_err(|e| bad_json(Step::Send, e))?;
        if sent.status != "Success" {
            return Err(failure(FailKind::Status, format!("send: status {}", sent.status)));
        }

        // `+` must be percent-encoded or the engine reads it as a space.
        let inbox_url = format!("{}/v3/sandbox/messages/?phone_number=%2B{}", self.base, &phone[1..]);
        let inbox = self
            .exchange(Step::Inbox, measured, || self.client.get(inbox_url.as_str()).send())
            .await?;
        let inbox: Inbox = serde_json::from_slice(&inbox).map_err(|e| bad_json(Step::Inbox, e))?;
        let Some(newest) = inbox.results.first() else {
            return Err(failure(FailKind::Status, "inbox: no message".into()));
        };
        // Catches a number reused by an earlier run, whose old code would fail the check.
        if newest.request_id != sent.request_id {
            return Err(failure(
                FailKind::Status,
                "inbox: newest message is from another send".into(),
            ));
        }

        let body = serde_json::to_vec(&CheckBody {
            phone_number: phone,
            code: &newest.code,
        })
        .expect("serializable");
        let checked = self
            .exchange(Step::Check, measured, || {
                self.client
                    .post(self.check_uri.clone())
                    .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
                    .send_body(body)
            })
            .await?;
        let checked: CheckAnswer = serde_json::from_slice(&checked).map_err(|e| bad_json(Step::Check, e))?;
        if checked.status != "Approved" {
            return Err(failure(FailKind::Status, format!("check: status {}", checked.status)));
        }
        Ok(())
    }

    /// Sends one request, reads the whole body and times both. The request
    /// is built inside so its construction is part of the measured time.
    async fn exchange(
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
            let code = serde_json::from_slice::<ErrorAnswer>(&body).ok().and_then(|e| e.code);
            let code = code.map(|c| format!(" ({c})")).unwrap_or_default();
            return Err(failure(
                FailKind::Http,
                format!("{}: HTTP {}{code}", step.name(), status.as_u16()),
            ));
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_follow_the_sandbox_pattern() {
        assert_eq!(Phone::new(0).as_str(), "+12005550100");
        assert_eq!(Phone::new(2 * 97 + 23).as_str(), "+12025550123");
        assert_eq!(Phone::new(NUMBER_SPACE - 1).as_str(), "+19995550196");
    }

    #[test]
    fn the_sandbox_risk_numbers_are_never_used() {
        for i in 0..NUMBER_SPACE {
            let phone = Phone::new(i);
            assert!(
                !["+12025550197", "+12025550198", "+12025550199"].contains(&phone.as_str()),
                "{i}"
            );
        }
    }

    #[test]
    fn phone_numbers_are_distinct_over_the_space() {
        let all: std::collections::HashSet<_> = (0..NUMBER_SPACE).map(|i| Phone::new(i).as_str().to_string()).collect();
        assert_eq!(all.len() as u64, NUMBER_SPACE);
    }
}
