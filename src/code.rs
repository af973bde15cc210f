//! One-time codes: generation from a CSPRNG and the keyed hash they are stored as.
//!
//! A code is never stored or logged in clear: the store keeps HMAC-SHA256(server secret,
//! request_id ‖ 0 ‖ code), and checks compare MACs in constant time. On the embedded store the
//! secret lives in the data directory (mode 0600), created on first start. Nodes sharing a
//! PostgreSQL store must all key MACs alike (a code sent on one node is checked on another), so
//! there it lives in the store's settings ([`CodeSecret::load_or_create_shared`]).
use crate::store::{Store, StoreError};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use std::io::Write;
use std::path::Path;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// A code MAC as stored.
pub type CodeMac = [u8; 32];

/// Draws `length` uniform decimal digits. `random_range` samples without modulo bias, and
/// `rand::rng()` is a CSPRNG (ChaCha, reseeded from the OS).
pub fn generate(length: u32) -> String {
    let mut rng = rand::rng();
    (0..length)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// Whether a string could be a code at all (digits, 4..10). Anything else is bad input, not a
/// wrong guess, and does not use up an attempt.
pub fn is_well_formed(code: &str) -> bool {
    (4..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit())
}

/// The settings key of the code secret shared by the nodes of one store.
pub const SHARED_SECRET_SETTING: &str = "code.secret";

/// The server secret that keys code MACs.
#[derive(Clone)]
pub struct CodeSecret {
    // Keyed once; cloning the prepared state skips the key schedule on every MAC.
    keyed: HmacSha256,
}

impl CodeSecret {
    pub fn from_bytes(key: &[u8]) -> Self {
        Self {
            keyed: HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length"),
        }
    }

    /// Loads `secret.key` from `dir`, creating it (32 random bytes, mode 0600) on first start.
    pub fn load_or_create(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join("secret.key");
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() >= 32 => return Ok(Self::from_bytes(&bytes)),
            Ok(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is shorter than 32 bytes", path.display()),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut key = [0u8; 32];
        rand::rng().fill(&mut key);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path)?;
        file.write_all(&key)?;
        file.sync_all()?;
        Ok(Self::from_bytes(&key))
    }

    /// The secret of nodes that share one store: the setting [`SHARED_SECRET_SETTING`] (64 hex
    /// digits), created by whichever node starts first (`put_setting_if_absent` decides a race)
    /// and read by every other. Whoever can read the store's settings can then brute-force the
    /// pending codes' MACs: keep the database as private as the data directory.
    pub async fn load_or_create_shared(store: &dyn Store) -> Result<Self, StoreError> {
        if let Some(stored) = store.get_setting(SHARED_SECRET_SETTING).await? {
            return Self::from_hex(&stored);
        }
        let mut key = [0u8; 32];
        rand::rng().fill(&mut key);
        store
            .put_setting_if_absent(SHARED_SECRET_SETTING, &hex::encode(key))
            .await?;
        // Another node may have won the race: the stored secret is the one every node uses.
        let stored = store
            .get_setting(SHARED_SECRET_SETTING)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("setting {SHARED_SECRET_SETTING} vanished")))?;
        Self::from_hex(&stored)
    }

    fn from_hex(stored: &str) -> Result<Self, StoreError> {
        match hex::decode(stored.trim()) {
            Ok(key) if key.len() >= 32 => Ok(Self::from_bytes(&key)),
            _ => Err(StoreError::Corrupt(format!(
                "setting {SHARED_SECRET_SETTING} is not 32 or more hex-encoded bytes"
            ))),
        }
    }

    pub fn mac(&self, request_id: &str, code: &str) -> CodeMac {
        let mut mac = self.keyed.clone();
        mac.update(request_id.as_bytes());
        mac.update(&[0]);
        mac.update(code.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Constant-time comparison of a candidate code against a stored MAC.
    pub fn verify(&self, request_id: &str, candidate: &str, expected: &CodeMac) -> bool {
        self.mac(request_id, candidate).ct_eq(expected).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_asked_length_and_only_digits() {
        for len in 4..=10 {
            let code = generate(len);
            assert_eq!(code.len(), len as usize);
            assert!(is_well_formed(&code));
        }
    }

    #[test]
    fn digits_are_roughly_uniform() {
        let mut counts = [0u32; 10];
        for _ in 0..10_000 {
            for b in generate(10).bytes() {
                counts[(b - b'0') as usize] += 1;
            }
        }
        // 100k digits: each expected 10k; 5 sigma is about 475.
        for (digit, n) in counts.iter().enumerate() {
            assert!((9_500..=10_500).contains(n), "digit {digit} drawn {n} times");
        }
    }

    #[test]
    fn mac_binds_code_to_request() {
        let s = CodeSecret::from_bytes(b"k");
        let m = s.mac("req-1", "123456");
        assert!(s.verify("req-1", "123456", &m));
        assert!(!s.verify("req-1", "123457", &m));
        assert!(!s.verify("req-2", "123456", &m));
        assert!(!CodeSecret::from_bytes(b"other").verify("req-1", "123456", &m));
    }

    #[test]
    fn secret_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let a = CodeSecret::load_or_create(dir.path()).unwrap().mac("r", "1234");
        let b = CodeSecret::load_or_create(dir.path()).unwrap().mac("r", "1234");
        assert_eq!(a, b);
    }

    #[test]
    fn malformed_codes_are_not_guesses() {
        for bad in ["", "123", "12345678901", "12a456", " 123456", "１２３４５６"] {
            assert!(!is_well_formed(bad), "{bad:?}");
        }
    }
}
