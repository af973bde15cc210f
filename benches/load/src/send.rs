//! Send-only units: one OTP message to a fresh carrier number, through otpgate,
//! through Kannel's smsbox or through Jasmin's HTTP API, with the same numbers
//! and the same text.
//!
//! The answers do not mean the same thing: otpgate answers "Success" once the
//! SMSC returned submit_sm_resp, Kannel answers 202 once the message is in its
//! queue, Jasmin answers `Success "id"` once the message is in its RabbitMQ
//! queue. A run with `--smsc-control` counts what reached the SMSC.

use std::fmt::Write;

use crate::driver::{failure, short_text, Driver};
use crate::numbers::Phone;
use crate::stats::{FailKind, Failure, Step};

/// Kannel's sendsms answers that mean "accepted" (1.4 and older spellings).
const KANNEL_ACCEPTED: [&[u8]; 2] = [b"0: Accepted", b"Sent."];

/// Jasmin's HTTP API answer that means "accepted" (`Success "message id"`).
const JASMIN_ACCEPTED: [&[u8]; 1] = [b"Success"];

/// A prepared `GET` URL of an HTTP-to-SMS gateway: everything but the code and the number.
/// Kannel's `/cgi-bin/sendsms` or Jasmin's `/send` (its HTTP API, same query shape with the text
/// in `content`).
pub struct KannelSend {
    prefix: String,
    accepted: &'static [&'static [u8]],
    target: &'static str,
}

impl KannelSend {
    /// `brand` goes into the text as otpgate's English template writes it:
    /// "Your {brand} verification code is {code}".
    pub fn new(base: &str, username: &str, password: &str, sender: &str, brand: &str) -> Self {
        KannelSend {
            prefix: Self::prefix(base, "/cgi-bin/sendsms", "text", (username, password, sender, brand)),
            accepted: &KANNEL_ACCEPTED,
            target: "kannel",
        }
    }

    /// The same sends through Jasmin's HTTP API (`GET /send`, jasmin 0.11).
    pub fn jasmin(base: &str, username: &str, password: &str, sender: &str, brand: &str) -> Self {
        KannelSend {
            prefix: Self::prefix(base, "/send", "content", (username, password, sender, brand)),
            accepted: &JASMIN_ACCEPTED,
            target: "jasmin",
        }
    }

    fn prefix(
        base: &str,
        path: &str,
        text_param: &str,
        (user, password, sender, brand): (&str, &str, &str, &str),
    ) -> String {
        let text = format!("Your {brand} verification code is ");
        format!(
            "{base}{path}?username={}&password={}&from={}&{text_param}={}",
            encode(user),
            encode(password),
            encode(sender),
            encode(&text)
        )
    }

    /// `kannel` or `jasmin`, for the report.
    pub fn target(&self) -> &'static str {
        self.target
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
        if kannel.accepted.iter().any(|ok| body.starts_with(ok)) {
            Ok(())
        } else {
            Err(failure(
                FailKind::Status,
                format!("send: {} answered {:?}", kannel.target, short_text(&body)),
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
    fn jasmin_url_puts_the_text_in_content() {
        let j = KannelSend::jasmin("http://127.0.0.1:1401", "bench", "bench", "OTPGATE", "default");
        assert_eq!(j.target(), "jasmin");
        assert_eq!(
            j.url(&Numbers::Carrier.phone(0), 1),
            "http://127.0.0.1:1401/send?username=bench&password=bench&from=OTPGATE\
             &content=Your%20default%20verification%20code%20is%20048271&to=%2B12012000000"
        );
    }

    #[test]
    fn codes_have_six_digits() {
        assert_eq!(format!("{:06}", code(0)), "000000");
        assert!((0..10_000).all(|i| code(i) < 1_000_000));
    }
}
