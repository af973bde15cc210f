//! Webhook signatures (CONTRACT §3, after Didit's webhook docs).
//!
//! - `X-Signature-V2`: hex HMAC-SHA256(secret, canonical JSON of the payload) — see
//!   [`super::canonical`]. We send the canonical text itself as the body, so the raw body, a
//!   re-serialised body and V2 all verify alike.
//! - `X-Signature-Simple`: hex HMAC-SHA256(secret, `"{X-Timestamp}:{session_id}:{status}:{webhook_type}"`),
//!   for receivers whose framework re-encodes the body before they see it.
//! - `X-Signature`: hex HMAC-SHA256(secret, raw body), Didit's original header (here equal to V2).
//!
//! `X-Timestamp` is the unix second of each attempt, so receivers can refuse stale replays.
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Lowercase hex HMAC-SHA256 of `message` under `secret`.
pub fn hmac_hex(secret: &str, message: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// The signature headers of one delivery attempt, in the order they are sent.
pub fn headers(
    secret: &str,
    canonical_body: &str,
    timestamp: i64,
    session_id: &str,
    status: &str,
    webhook_type: &str,
) -> [(&'static str, String); 4] {
    let body_signature = hmac_hex(secret, canonical_body.as_bytes());
    let simple = format!("{timestamp}:{session_id}:{status}:{webhook_type}");
    [
        ("X-Timestamp", timestamp.to_string()),
        ("X-Signature", body_signature.clone()),
        ("X-Signature-V2", body_signature),
        ("X-Signature-Simple", hmac_hex(secret, simple.as_bytes())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            hmac_hex("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn simple_signature_covers_timestamp_session_status_and_type() {
        let [ts, raw, v2, simple] = headers("k", "{}", 1_700_000_000, "s-1", "In Review", "status.updated");
        assert_eq!(ts, ("X-Timestamp", "1700000000".to_owned()));
        assert_eq!(raw.1, v2.1);
        assert_eq!(v2.1, hmac_hex("k", b"{}"));
        assert_eq!(simple.1, hmac_hex("k", b"1700000000:s-1:In Review:status.updated"));
    }
}
