//! Delivery-report signatures: hex HMAC-SHA256 with key SHA256(token) over
//! `timestamp + "\n" + body`, sent as `X-Request-Signature` beside `X-Request-Timestamp`.
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const TIMESTAMP_HEADER: &str = "X-Request-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Request-Signature";

fn mac(token: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let key = Sha256::digest(token.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    mac
}

/// The signature Telegram sends (the fake platform uses this to sign its reports).
pub fn sign(token: &str, timestamp: &str, body: &[u8]) -> String {
    hex::encode(mac(token, timestamp, body).finalize().into_bytes())
}

/// Whether `signature` (hex, either case) is right, compared in constant time.
pub fn verify(token: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Ok(claimed) = hex::decode(signature.trim()) else {
        return false;
    };
    mac(token, timestamp, body).verify_slice(&claimed).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently with Python's hmac/hashlib.
    const VECTOR: &str = "91f168791b367b3920fb9b152189c894e6229fe756c2b6eebf37a2b89288681d";

    #[test]
    fn matches_an_independent_implementation() {
        let body = br#"{"request_id":"r1"}"#;
        assert_eq!(sign("123:secret", "1700000000", body), VECTOR);
        assert!(verify("123:secret", "1700000000", body, &VECTOR.to_uppercase()));
    }

    #[test]
    fn anything_else_fails() {
        let body = br#"{"request_id":"r1"}"#;
        assert!(!verify("123:other", "1700000000", body, VECTOR));
        assert!(!verify("123:secret", "1700000001", body, VECTOR));
        assert!(!verify("123:secret", "1700000000", b"{}", VECTOR));
        assert!(!verify("123:secret", "1700000000", body, "not hex"));
        assert!(!verify("123:secret", "1700000000", body, &VECTOR[..32]));
    }
}
