//! Callback signatures: hex HMAC-SHA256 with key = the account token over the raw body, sent as
//! `X-Viber-Content-Signature`. Requests to the platform carry the token as `X-Viber-Auth-Token`.
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const AUTH_HEADER: &str = "X-Viber-Auth-Token";
pub const SIGNATURE_HEADER: &str = "X-Viber-Content-Signature";

fn mac(token: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac
}

/// The signature the platform sends (the fake platform uses this to sign its callbacks).
pub fn sign(token: &str, body: &[u8]) -> String {
    hex::encode(mac(token, body).finalize().into_bytes())
}

/// Whether `signature` (hex, either case) is right, compared in constant time.
pub fn verify(token: &str, body: &[u8], signature: &str) -> bool {
    let Ok(claimed) = hex::decode(signature.trim()) else {
        return false;
    };
    mac(token, body).verify_slice(&claimed).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently with Python's hmac/hashlib.
    const VECTOR: &str = "6334de2d89835854cb8bf87031018f52283d34996c1c08e48b51af88ec83ced7";

    #[test]
    fn matches_an_independent_implementation() {
        let body = br#"{"event":"delivered","message_token":1}"#;
        assert_eq!(sign("viber-secret", body), VECTOR);
        assert!(verify("viber-secret", body, &VECTOR.to_uppercase()));
    }

    #[test]
    fn anything_else_fails() {
        let body = br#"{"event":"delivered","message_token":1}"#;
        assert!(!verify("viber-other", body, VECTOR));
        assert!(!verify("viber-secret", b"{}", VECTOR));
        assert!(!verify("viber-secret", body, "not hex"));
        assert!(!verify("viber-secret", body, &VECTOR[..32]));
        assert!(!verify("viber-secret", body, ""));
    }
}
