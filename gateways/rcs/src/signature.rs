//! Webhook signatures: `X-Goog-Signature` = base64(HMAC-SHA512(key = the agent's client token,
//! data = the base64-decoded bytes of the body's `message.data` field)). Not the raw body: the
//! Pub/Sub envelope around `data` is not covered.
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha512;

pub const SIGNATURE_HEADER: &str = "X-Goog-Signature";

fn mac(client_token: &str, data: &[u8]) -> Hmac<Sha512> {
    let mut mac = Hmac::<Sha512>::new_from_slice(client_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(data);
    mac
}

/// The signature RBM sends for `data` (the fake platform signs its events with this).
pub fn sign(client_token: &str, data: &[u8]) -> String {
    STANDARD.encode(mac(client_token, data).finalize().into_bytes())
}

/// Whether `signature` (standard base64) is right for `data`, compared in constant time.
pub fn verify(client_token: &str, data: &[u8], signature: &str) -> bool {
    let Ok(claimed) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    // `verify_slice` compares in constant time and refuses a truncated tag.
    mac(client_token, data).verify_slice(&claimed).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently with Python's hmac/hashlib/base64.
    const VECTOR: &str = "jbGPc/hMMtmdKA45/2L/It284pk9PGTE14ddfIpLXetYNWoY2IjPpVNxq4g+BWctHG1Zug67ltkW3l4GIpicEw==";
    const DATA: &[u8] = br#"{"eventType":"DELIVERED"}"#;

    #[test]
    fn matches_an_independent_implementation() {
        assert_eq!(sign("client-token", DATA), VECTOR);
        assert!(verify("client-token", DATA, VECTOR));
    }

    #[test]
    fn anything_else_fails() {
        assert!(!verify("other-token", DATA, VECTOR));
        assert!(!verify("client-token", b"{}", VECTOR));
        assert!(!verify("client-token", DATA, "not base64!"));
        assert!(!verify("client-token", DATA, &VECTOR[..44]));
        assert!(!verify("client-token", DATA, ""));
    }
}
