//! Phone numbers at rest (issue 18): sealed with AES-256-GCM and found through a keyed blind index.
//!
//! Every stored value that holds a number goes through one [`Keyring`], in the row-shaping layer
//! of the stores (never per statement):
//! - **Sealed text** ([`Keyring::seal`]): `enc1:{key_id}:{base64(nonce ‖ ciphertext ‖ tag)}`, a
//!   random 96-bit nonce per value, the key id bound in as associated data so a value cannot be
//!   passed off as sealed under another key. [`Keyring::open`] reads any key of the ring (the
//!   current one and the older ones kept for rotation) and passes a value without the `enc1:`
//!   prefix through as it is: rows written before encryption existed still read while the
//!   upgrade pass rewrites them.
//! - **Sealed JSON bodies** ([`Keyring::seal_body`]): `{"version":N,"sealed":"enc1:…"}`. The
//!   record's `version` stays readable because the conditional saves compare it in SQL
//!   (`json_extract(body, '$.version')`, `body::jsonb ->> 'version'`); nothing else is.
//! - **Blind index** ([`Keyring::index`]): `bi1:` + hex of the first 16 bytes of
//!   HMAC-SHA-256(index key, E.164). Equal numbers give equal indexes, so the
//!   `(application, phone, created_at_ms)` index keeps serving lookups, while the column says
//!   nothing about the number without the key (a dictionary of all numbers needs the key too).
//!
//! Both keys are derived from one 32-byte master key: the AES key as HMAC-SHA-256(master,
//! `"otpgate aes-256-gcm v1"`), the index key as HMAC-SHA-256(master, `"otpgate blind index v1"`),
//! so one configured secret (`[store.encryption] key`) covers both and they never coincide.
//! Rotation (SECURITY.md) rewrites every row under the new key at start, since the index of a
//! number changes with the key.
//!
//! Hand-written on top of RustCrypto's `aes-gcm` and `hmac`: the format is three lines of string
//! framing, not worth a dependency of its own.
use super::StoreError;
use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use std::fmt::Write as _;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of a sealed value.
pub const SEALED_PREFIX: &str = "enc1:";
/// Prefix of a blind index value.
pub const INDEX_PREFIX: &str = "bi1:";
/// Length of a master key, bytes.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// AES-GCM's tag, after the ciphertext.
const TAG_LEN: usize = 16;

/// One master key and what is derived from it.
#[derive(Clone)]
struct Key {
    id: String,
    aead: Aes256Gcm,
    index: HmacSha256,
}

impl Key {
    fn new(id: &str, master: &[u8; KEY_LEN]) -> Self {
        let derive = |label: &[u8]| {
            let mut mac = <HmacSha256 as Mac>::new_from_slice(master).expect("HMAC takes any key length");
            mac.update(label);
            mac.finalize().into_bytes()
        };
        let aes = derive(b"otpgate aes-256-gcm v1");
        let index = derive(b"otpgate blind index v1");
        Key {
            id: id.to_owned(),
            aead: Aes256Gcm::new_from_slice(&aes).expect("a 32-byte AES-256 key"),
            index: <HmacSha256 as Mac>::new_from_slice(&index).expect("HMAC takes any key length"),
        }
    }
}

/// The store's keys: the current one (seals and indexes) and older ones (open only).
#[derive(Clone)]
pub struct Keyring {
    current: Key,
    older: Vec<Key>,
    /// Blind indexes of numbers seen lately under `current`: a number's index is wanted on
    /// every write of its records (three or four per verification), and the HMAC costs more
    /// than a lookup here. Numbers are in this process's memory anyway (actors, messages).
    indexes: std::sync::Arc<quick_cache::sync::Cache<String, String>>,
}

/// Blind indexes kept at most ([`Keyring::index`]).
const INDEXES_KEPT: usize = 4096;

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids only: the keys themselves never reach a log.
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field("older", &self.older.iter().map(|k| &k.id).collect::<Vec<_>>())
            .finish()
    }
}

/// A key id: 1 to 32 characters of `[A-Za-z0-9_.-]` (it is written into every sealed value).
pub fn valid_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// A master key from its base64 spelling; the error says what is wrong (never the key).
pub fn decode_key(base64: &str) -> Result<[u8; KEY_LEN], String> {
    let bytes = B64
        .decode(base64.trim())
        .map_err(|_| "is not valid base64".to_owned())?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("decodes to {} bytes, want {KEY_LEN}", b.len()))
}

/// A fresh random master key, base64.
pub fn generate_key() -> String {
    let mut key = [0u8; KEY_LEN];
    rand::rng().fill(&mut key);
    B64.encode(key)
}

impl Keyring {
    /// A ring sealing under `current` and opening also with `older`, as `(key_id, master key)`.
    pub fn new(current: (&str, &[u8; KEY_LEN]), older: &[(&str, &[u8; KEY_LEN])]) -> Self {
        Keyring {
            current: Key::new(current.0, current.1),
            older: older.iter().map(|(id, k)| Key::new(id, k)).collect(),
            indexes: std::sync::Arc::new(quick_cache::sync::Cache::new(INDEXES_KEPT)),
        }
    }

    /// The id of the key that seals.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// `clear` sealed under the current key (format in the module header).
    pub fn seal(&self, clear: &str) -> String {
        let mut out = String::new();
        self.seal_into(clear, &mut out);
        out
    }

    /// [`Self::seal`] appended to `out`: sealed in place in one buffer and base64-encoded
    /// straight into `out` (a record is sealed on every write of it).
    fn seal_into(&self, clear: &str, out: &mut String) {
        let mut bytes = Vec::with_capacity(NONCE_LEN + clear.len() + TAG_LEN);
        bytes.resize(NONCE_LEN, 0);
        rand::rng().fill(&mut bytes[..NONCE_LEN]);
        bytes.extend_from_slice(clear.as_bytes());
        let (nonce, msg) = bytes.split_at_mut(NONCE_LEN);
        let tag = self
            .current
            .aead
            .encrypt_in_place_detached(Nonce::from_slice(nonce), self.current.id.as_bytes(), msg)
            .expect("AES-GCM seals any message under 64 GiB");
        bytes.extend_from_slice(&tag);
        out.reserve(SEALED_PREFIX.len() + self.current.id.len() + 1 + bytes.len().div_ceil(3) * 4);
        out.push_str(SEALED_PREFIX);
        out.push_str(&self.current.id);
        out.push(':');
        B64.encode_string(&bytes, out);
    }

    /// The clear text of a sealed value, or `stored` itself when it was never sealed.
    /// [`StoreError::Corrupt`] when its key is not in the ring or it does not authenticate.
    pub fn open(&self, stored: &str) -> Result<String, StoreError> {
        let Some(rest) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, data) = rest
            .split_once(':')
            .ok_or_else(|| StoreError::Corrupt("sealed value without a key id".into()))?;
        let key = std::iter::once(&self.current)
            .chain(&self.older)
            .find(|k| k.id == id)
            .ok_or_else(|| StoreError::Corrupt(format!("sealed under key {id:?}, which is not configured")))?;
        let bytes = B64
            .decode(data)
            .map_err(|_| StoreError::Corrupt("sealed value is not base64".into()))?;
        if bytes.len() < NONCE_LEN {
            return Err(StoreError::Corrupt("sealed value too short".into()));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let clear = key
            .aead
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Corrupt(format!("sealed value does not authenticate under key {id:?}")))?;
        String::from_utf8(clear).map_err(|_| StoreError::Corrupt("sealed value is not UTF-8".into()))
    }

    /// Whether `stored` is sealed under the current key (else the upgrade pass rewrites it).
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(SEALED_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.current.id)
    }

    /// The blind index of an E.164 number under the current key (format in the module header).
    pub fn index(&self, e164: &str) -> String {
        if let Some(index) = self.indexes.get(e164) {
            return index;
        }
        let mut mac = self.current.index.clone();
        mac.update(e164.as_bytes());
        let digest = mac.finalize().into_bytes();
        let index = format!("{INDEX_PREFIX}{}", hex::encode(&digest[..16]));
        self.indexes.insert(e164.to_owned(), index.clone());
        index
    }

    /// A record's JSON sealed as `{"version":N,"sealed":"enc1:…"}`.
    pub fn seal_body(&self, version: i64, json: &str) -> String {
        // Written by hand, not through serde_json: neither a key id (`valid_key_id`) nor base64
        // has a character JSON escapes, and a record is sealed on every write of it.
        let mut body = String::with_capacity(64 + json.len() * 4 / 3);
        body.push_str("{\"version\":");
        let _ = write!(body, "{version}");
        body.push_str(",\"sealed\":\"");
        self.seal_into(json, &mut body);
        body.push_str("\"}");
        body
    }

    /// The record JSON inside a [`Self::seal_body`] envelope; a body that is not one (written
    /// before encryption) is returned as it is.
    pub fn open_body(&self, body: &str) -> Result<String, StoreError> {
        match envelope(body) {
            Some(sealed) => self.open(&sealed),
            None => Ok(body.to_owned()),
        }
    }

    /// Whether a body is an envelope sealed under the current key.
    pub fn is_current_body(&self, body: &str) -> bool {
        envelope(body).is_some_and(|sealed| self.is_current(&sealed))
    }
}

/// The sealed value of a [`Keyring::seal_body`] envelope: its top-level `sealed` string. A
/// record written in clear has no such field, though a nested object of its own (a session's or
/// a verification's `metadata`, chosen by the application) may: only the top level counts, so
/// such a record is neither taken for an envelope nor left unsealed by the upgrade pass.
fn envelope(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        sealed: Option<serde_json::Value>,
    }
    // The cheap test first: most clear records never spell the marker anywhere.
    if !body.contains("\"sealed\":\"enc1:") {
        return None;
    }
    match serde_json::from_str::<Envelope>(body).ok()?.sealed? {
        serde_json::Value::String(sealed) if sealed.starts_with(SEALED_PREFIX) => Some(sealed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(id: &str, byte: u8) -> Keyring {
        Keyring::new((id, &[byte; KEY_LEN]), &[])
    }

    #[test]
    fn seal_opens_and_hides_the_number() {
        let keys = ring("k1", 7);
        let sealed = keys.seal("+34600111222");
        assert!(sealed.starts_with("enc1:k1:"));
        assert!(!sealed.contains("600111222"));
        assert_ne!(sealed, keys.seal("+34600111222"), "a fresh nonce per value");
        assert_eq!(keys.open(&sealed).unwrap(), "+34600111222");
        assert_eq!(keys.open("+34600111222").unwrap(), "+34600111222", "clear text passes");
    }

    #[test]
    fn rotation_opens_old_values_and_refuses_unknown_or_tampered_ones() {
        let old = ring("k1", 1);
        let sealed = old.seal("+14155550100");
        let rotated = Keyring::new(("k2", &[2; KEY_LEN]), &[("k1", &[1; KEY_LEN])]);
        assert_eq!(rotated.open(&sealed).unwrap(), "+14155550100");
        assert!(!rotated.is_current(&sealed));
        assert!(rotated.is_current(&rotated.seal("x")));
        assert!(ring("k2", 2).open(&sealed).is_err(), "key k1 not in the ring");
        // Same id, wrong key: the tag does not verify.
        assert!(ring("k1", 9).open(&sealed).is_err());
        let mut tampered = sealed.clone();
        let at = tampered.len() - 3;
        let flipped = if &tampered[at..at + 1] == "A" { "B" } else { "A" };
        tampered.replace_range(at..at + 1, flipped);
        assert!(old.open(&tampered).is_err(), "a changed byte does not authenticate");
    }

    #[test]
    fn index_is_stable_keyed_and_opaque() {
        let keys = ring("k1", 3);
        let a = keys.index("+34600111222");
        assert_eq!(a, keys.index("+34600111222"));
        assert_ne!(a, keys.index("+34600111223"));
        assert_ne!(a, ring("k1", 4).index("+34600111222"));
        assert!(a.starts_with("bi1:") && a.len() == 4 + 32);
    }

    #[test]
    fn body_envelope_keeps_only_the_version_readable() {
        let keys = ring("k1", 5);
        let body = keys.seal_body(3, r#"{"number":"+34600111222","version":3}"#);
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["version"], 3);
        assert!(!body.contains("600111222"));
        assert!(keys.is_current_body(&body));
        assert_eq!(
            keys.open_body(&body).unwrap(),
            r#"{"number":"+34600111222","version":3}"#
        );
        assert_eq!(keys.open_body(r#"{"version":1}"#).unwrap(), r#"{"version":1}"#);
    }

    #[test]
    fn a_clear_record_quoting_an_envelope_in_its_metadata_is_still_clear() {
        let keys = ring("k1", 5);
        let marker = keys.seal("x");
        let clear = format!(r#"{{"number":"+34600111222","metadata":{{"sealed":"{marker}"}},"version":1}}"#);
        assert!(!keys.is_current_body(&clear), "the upgrade pass seals it");
        assert_eq!(keys.open_body(&clear).unwrap(), clear, "read as the clear record it is");
    }

    #[test]
    fn keys_decode_from_base64() {
        let key = generate_key();
        assert_eq!(decode_key(&key).unwrap().len(), KEY_LEN);
        assert!(decode_key("not base64!").is_err());
        assert!(decode_key("AAAA").unwrap_err().contains("3 bytes"));
        assert!(valid_key_id("k-2026.1") && !valid_key_id("") && !valid_key_id("a:b"));
    }
}
