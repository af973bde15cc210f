//! Send-only units: one OTP message to a fresh carrier number, through otpgate
//! or through Kannel's smsbox, with the same numbers and the same text.
//!
//! The two answers do not mean the same thing: otpgate answers "Success" once
//! the SMSC returned submit_sm_resp, Kannel answers 202 once the message is in
//! its queue. A run with `--smsc-control` counts what reached the SMSC.

use std::fmt::Write;

use crate::driver::{failure, short_text, Driver};
use crate::numbers::Phone;
use crate::stats::{FailKind, Failure, Step};

/// Kannel's sendsms answers that mean "accepted" (1.4 and older spellings).
const KANNEL_ACCEPTED: [&[u8]; 2] = [b"0: Accepted", b"Sent."];

/// A prepared `GET /cgi-bin/sendsms` URL: everything but the code and the number.
pub struct KannelSend {
    prefix: String,
}

impl KannelSend {
    /// `brand` goes into the text as otpgate's English template writes it:
    /// "Your {brand} verification code is {code}".
    pub fn new(base: &str, username: &str, password: &str, sender: &str, brand: &str) -> Self {
        let text = format!("Your {brand} verification code is ");
        let prefix = format!(
            "{base}/cgi-bin/sendsms?username={}&password={}&from={}&text={}",
            encode(username),
            encode(password),
            encode(sender),
            encode(&text)
        );
        KannelSend { prefix }
    }

    /// The URL for unit `i` (its code) to `phone`.
    fn url(&self, phone: &Phone, i: u64) -> String {
        let mut url = String::with_capacity(self.prefix.len() + 24);
        url.push_str(&self.prefix);
        write!(url, "{:06}&to=%2B{}", code(i), phone.digits()).expect("writing to a String");
        url
    }
}

/// A six-digit code that varies with the unit, so the texts are not all identical.
fn code(i: u64) -> u64 {
    i.wrapping_mul(48_271) % 1_000_000
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").expect("writing to a String");
        }
    }
    out
}

impl Driver {
    /// One send through otpgate: "Success" means the SMSC accepted the message.
    pub async fn send_otpgate(&self, phone: &Phone, measured: bool) -> Result<(), Failure> {
        self.post_send(phone.as_str(), measured).await.map(drop)
    }

    /// One send through Kannel: "accepted" means it is in Kannel's queue.
    pub async fn send_kannel(&self, kannel: &KannelSend, phone: &Phone, i: u64, measured: bool) -> Result<(), Failure> {
        let url = kannel.url(phone, i);
        let body = self
            .exchange(Step::Send, measured, || self.client.get(url.as_str()).send())
            .await?;
        if KANNEL_ACCEPTED.iter().any(|ok| body.starts_with(ok)) {
            Ok(())
        } else {
            Err(failure(
                FailKind::Status,
                format!("send: kannel answered {:?}", short_text(&body)),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbers::Numbers;

    #[test]
    fn kannel_url_carries_the_otp_text_and_an_encoded_plus() {
        let k = KannelSend::new("http://127.0.0.1:13013", "otpgate", "s&cret", "OTPGATE", "default");
        assert_eq!(
            k.url(&Numbers::Carrier.phone(0), 1),
            "http://127.0.0.1:13013/cgi-bin/sendsms?username=otpgate&password=s%26cret&from=OTPGATE\
             &text=Your%20default%20verification%20code%20is%20048271&to=%2B12012000000"
        );
    }

    #[test]
    fn codes_have_six_digits() {
        assert_eq!(format!("{:06}", code(0)), "000000");
        assert!((0..10_000).all(|i| code(i) < 1_000_000));
    }
}
