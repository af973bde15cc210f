//! Callback signatures. Every platform signs its callbacks with an HMAC; they differ only in
//! the hash, how the tag is written, how the key comes from the shared secret, a prefix, and
//! which bytes are covered. An [`HmacScheme`] names those choices; each channel crate declares
//! its own as a constant beside its wire types.
use crate::callback::CallbackRejection;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha512,
}

/// How the tag is written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Lowercase hex when signing; either case is accepted.
    Hex,
    /// Standard base64 with padding (RFC 4648 §4).
    Base64,
}

/// How the HMAC key comes from the shared secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFrom {
    /// The secret's bytes.
    Secret,
    /// SHA-256 of the secret's bytes (Telegram Gateway).
    Sha256OfSecret,
}

/// One platform's signature: `prefix` + encoding(HMAC-hash(key, message)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HmacScheme {
    pub hash: Hash,
    pub encoding: Encoding,
    pub key: KeyFrom,
    /// Written before the tag (`"sha256="` for WhatsApp); `""` for none.
    pub prefix: &'static str,
}

impl HmacScheme {
    pub const fn new(hash: Hash, encoding: Encoding, key: KeyFrom, prefix: &'static str) -> Self {
        HmacScheme {
            hash,
            encoding,
            key,
            prefix,
        }
    }

    /// The header value for `message`, the concatenation of its parts.
    pub fn sign(&self, secret: &str, message: &[&[u8]]) -> String {
        let key = self.key_bytes(secret);
        let tag = match self.hash {
            Hash::Sha256 => mac::<Hmac<Sha256>>(&key, message).finalize().into_bytes().to_vec(),
            Hash::Sha512 => mac::<Hmac<Sha512>>(&key, message).finalize().into_bytes().to_vec(),
        };
        let written = match self.encoding {
            Encoding::Hex => hex::encode(tag),
            Encoding::Base64 => BASE64.encode(tag),
        };
        format!("{}{written}", self.prefix)
    }

    /// Checks a header value against `message`, comparing the tags in constant time; a
    /// missing header, a missing prefix, an undecodable or a truncated tag all fail.
    pub fn verify(&self, secret: &str, message: &[&[u8]], header: Option<&str>) -> Result<(), CallbackRejection> {
        let written = header
            .map(str::trim)
            .and_then(|h| h.strip_prefix(self.prefix))
            .ok_or(CallbackRejection::BadSignature)?;
        let claimed = match self.encoding {
            Encoding::Hex => hex::decode(written).ok(),
            Encoding::Base64 => BASE64.decode(written).ok(),
        }
        .ok_or(CallbackRejection::BadSignature)?;
        let key = self.key_bytes(secret);
        let matches = match self.hash {
            Hash::Sha256 => mac::<Hmac<Sha256>>(&key, message).verify_slice(&claimed),
            Hash::Sha512 => mac::<Hmac<Sha512>>(&key, message).verify_slice(&claimed),
        };
        matches.map_err(|_| CallbackRejection::BadSignature)
    }

    fn key_bytes(&self, secret: &str) -> Vec<u8> {
        match self.key {
            KeyFrom::Secret => secret.as_bytes().to_vec(),
            KeyFrom::Sha256OfSecret => Sha256::digest(secret.as_bytes()).to_vec(),
        }
    }
}

fn mac<M: Mac + KeyInit>(key: &[u8], message: &[&[u8]]) -> M {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in message {
        mac.update(part);
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: HmacScheme = HmacScheme::new(Hash::Sha256, Encoding::Hex, KeyFrom::Secret, "sha256=");

    #[test]
    fn anything_but_the_same_secret_message_and_tag_fails() {
        let sig = HEX.sign("s3cret", &[b"{}"]);
        assert!(
            HEX.verify("s3cret", &[b"{", b"}"], Some(&sig)).is_ok(),
            "parts concatenate"
        );
        assert!(HEX
            .verify(
                "s3cret",
                &[b"{}"],
                Some(&sig.to_uppercase().replace("SHA256=", "sha256="))
            )
            .is_ok());
        for (secret, message, header) in [
            ("other", b"{}".as_slice(), Some(sig.as_str())),
            ("s3cret", b"{ }", Some(&sig)),
            ("s3cret", b"{}", None),
            ("s3cret", b"{}", Some("sha256=zz")),
            ("s3cret", b"{}", Some(sig.trim_start_matches("sha256="))),
            ("s3cret", b"{}", Some(&sig[..sig.len() - 2])),
        ] {
            assert_eq!(
                HEX.verify(secret, &[message], header),
                Err(CallbackRejection::BadSignature),
                "{header:?}"
            );
        }
    }
}
