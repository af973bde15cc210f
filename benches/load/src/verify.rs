//! One verification against the engine: send → read the code (the sandbox
//! inbox, or what reached the SMSC simulator) → check with that code.

use std::borrow::Cow;

use awc::http::header::{HeaderValue, CONTENT_TYPE};
use serde::{Deserialize, Serialize};

use crate::driver::{failure, CodeSource, Driver};
use crate::numbers::Phone;
use crate::stats::{FailKind, Failure, Step};

#[derive(Serialize)]
pub struct SendBody<'a> {
    pub phone_number: &'a str,
}

#[derive(Serialize)]
struct CheckBody<'a> {
    phone_number: &'a str,
    code: &'a str,
}

// Only the fields the run needs; serde skips the rest without allocating,
// and `Cow` borrows from the body unless a string has escapes.
#[derive(Deserialize)]
pub struct SendAnswer<'a> {
    #[serde(borrow)]
    pub request_id: Cow<'a, str>,
    #[serde(borrow)]
    pub status: Cow<'a, str>,
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

/// One record of the SMSC simulator's `GET /messages`.
#[derive(Deserialize)]
struct SmscRecord<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CheckAnswer<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
}

pub fn bad_json(step: Step, e: serde_json::Error) -> Failure {
    // Classify only, so the detail does not vary with byte offsets.
    failure(
        FailKind::Status,
        format!("{}: unparseable answer ({:?})", step.name(), e.classify()),
    )
}

impl Driver {
    /// `POST /v3/phone/send/` for `phone`; the parsed answer must say "Success".
    pub async fn post_send(&self, phone: &str, measured: bool) -> Result<String, Failure> {
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
        Ok(sent.request_id.into_owned())
    }

    /// The full journey for one number: approved, or the first failure.
    pub async fn verify(&self, source: &CodeSource, phone: &Phone, measured: bool) -> Result<(), Failure> {
        let request_id = self.post_send(phone.as_str(), measured).await?;
        let code = match source {
            CodeSource::Sandbox => self.sandbox_code(phone, &request_id, measured).await?,
            CodeSource::Smsc(control) => self.smsc_code(control, phone, measured).await?,
        };

        let body = serde_json::to_vec(&CheckBody {
            phone_number: phone.as_str(),
            code: &code,
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

    async fn sandbox_code(&self, phone: &Phone, request_id: &str, measured: bool) -> Result<String, Failure> {
        // `+` must be percent-encoded or the engine reads it as a space.
        let inbox_url = format!("{}/v3/sandbox/messages/?phone_number=%2B{}", self.base, phone.digits());
        let inbox = self
            .exchange(Step::Inbox, measured, || self.client.get(inbox_url.as_str()).send())
            .await?;
        let inbox: Inbox = serde_json::from_slice(&inbox).map_err(|e| bad_json(Step::Inbox, e))?;
        let Some(newest) = inbox.results.first() else {
            return Err(failure(FailKind::Status, "inbox: no message".into()));
        };
        // Catches a number reused by an earlier run, whose old code would fail the check.
        if newest.request_id != request_id {
            return Err(failure(
                FailKind::Status,
                "inbox: newest message is from another send".into(),
            ));
        }
        Ok(newest.code.clone().into_owned())
    }

    /// The code in the newest message the SMSC simulator recorded for `phone`: the last run of
    /// digits in its text ("Your default verification code is 482913"). The simulator records a
    /// submit_sm before it answers it, and the engine answers the send after the answer, so the
    /// message is there by now.
    async fn smsc_code(&self, control: &str, phone: &Phone, measured: bool) -> Result<String, Failure> {
        let url = format!("{control}/messages?destination={}", phone.digits());
        let records = self
            .exchange(Step::Inbox, measured, || self.client.get(url.as_str()).send())
            .await?;
        let records: Vec<SmscRecord> = serde_json::from_slice(&records).map_err(|e| bad_json(Step::Inbox, e))?;
        if records.len() > 1 {
            return Err(failure(
                FailKind::Status,
                "smsc: several messages to one number (a number reused by an earlier run?)".into(),
            ));
        }
        let text = records
            .last()
            .and_then(|r| r.text.as_deref())
            .ok_or_else(|| failure(FailKind::Status, "smsc: no message".into()))?;
        last_digits(text)
            .map(str::to_owned)
            .ok_or_else(|| failure(FailKind::Status, "smsc: no code in the message".into()))
    }
}

/// The last maximal run of ASCII digits in `text`.
fn last_digits(text: &str) -> Option<&str> {
    let end = text.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = text[..end].rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
    Some(&text[start..end])
}

#[cfg(test)]
mod tests {
    use super::last_digits;

    #[test]
    fn the_code_is_the_last_run_of_digits() {
        assert_eq!(last_digits("Your default verification code is 482913"), Some("482913"));
        assert_eq!(last_digits("Acme 2 code: 0042."), Some("0042"));
        assert_eq!(last_digits("123"), Some("123"));
        assert_eq!(last_digits("no code"), None);
    }
}
