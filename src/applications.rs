//! Applications (tenants) and their API keys. Keys are kept only as SHA-256 digests (they are
//! long random strings, so a fast hash is enough) and compared in constant time against every
//! application, so timing reveals neither which application nor how much of a key matched.
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub struct Application {
    pub name: String,
    key_digest: [u8; 32],
}

pub struct Applications(Vec<Application>);

pub fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new API key: `otpg_` and 40 hex digits (160 random bits).
pub fn generate_key() -> String {
    let bytes: [u8; 20] = rand::rng().random();
    format!("otpg_{}", hex::encode(bytes))
}

impl Applications {
    pub fn new(apps: impl IntoIterator<Item = (String, [u8; 32])>) -> Self {
        Self(
            apps.into_iter()
                .map(|(name, key_digest)| Application { name, key_digest })
                .collect(),
        )
    }

    /// The application a key belongs to.
    pub fn authenticate(&self, key: &str) -> Option<&Application> {
        let digest = key_digest(key);
        let mut found = None;
        for app in &self.0 {
            if bool::from(app.key_digest.ct_eq(&digest)) {
                found = Some(app);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_owner_of_a_key() {
        let apps = Applications::new([
            ("a".to_owned(), key_digest("key-a")),
            ("b".to_owned(), key_digest("key-b")),
        ]);
        assert_eq!(apps.authenticate("key-b").map(|a| a.name.as_str()), Some("b"));
        assert!(apps.authenticate("key-c").is_none());
        assert!(apps.authenticate("").is_none());
    }

    #[test]
    fn generated_keys_differ() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert_eq!(a.len(), 45);
    }
}
