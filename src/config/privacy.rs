//! Extension keys for data protection (issue 18; CONTRACT §2 names neither): `[store.encryption]`,
//! the key that seals phone numbers at rest (src/store/crypto.rs), and an application's
//! `retention_days` (src/retention.rs).
use crate::store::crypto::{self, Keyring};
use serde::Deserialize;

/// Shortest retention an application may set, days.
pub const MIN_RETENTION_DAYS: u32 = 30;
/// Longest retention an application may set, days (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;

/// `[store.encryption]`: the master key numbers are sealed and indexed under. Unset, the store
/// uses a generated one (`store.key` beside the SQLite file; the settings table of PostgreSQL).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEncryption {
    /// Written into every sealed value; 1–32 of `[A-Za-z0-9_.-]`.
    #[serde(default = "default_key_id")]
    pub key_id: String,
    /// 32 random bytes, base64 (`openssl rand -base64 32`).
    pub key: String,
    /// Keys of earlier rotations, still opened until every row is sealed under `key` again
    /// (the store does that when it starts).
    #[serde(default)]
    pub previous: Vec<RawPreviousKey>,
}

/// `[[store.encryption.previous]]`: a key that no longer seals but still opens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPreviousKey {
    pub key_id: String,
    pub key: String,
}

fn default_key_id() -> String {
    "k1".into()
}

/// The keyring `[store.encryption]` describes; each problem names its key (never the key's value).
pub(super) fn keyring(raw: &RawEncryption, problems: &mut Vec<String>) -> Option<Keyring> {
    let at = "store.encryption";
    let mut ok = true;
    let mut check_id = |key: &str, id: &str, problems: &mut Vec<String>| {
        if !crypto::valid_key_id(id) {
            problems.push(format!("{key}: {id:?} must be 1 to 32 of A-Z a-z 0-9 _ . -"));
            ok = false;
        }
    };
    check_id(&format!("{at}.key_id"), &raw.key_id, problems);
    for (i, p) in raw.previous.iter().enumerate() {
        check_id(&format!("{at}.previous[{i}].key_id"), &p.key_id, problems);
    }
    let current = crypto::decode_key(&raw.key)
        .map_err(|e| problems.push(format!("{at}.key: {e} (32 random bytes, base64)")))
        .ok();
    let mut older = Vec::new();
    for (i, p) in raw.previous.iter().enumerate() {
        if p.key_id == raw.key_id || raw.previous[..i].iter().any(|q| q.key_id == p.key_id) {
            problems.push(format!("{at}.previous[{i}].key_id: {:?} is used twice", p.key_id));
            ok = false;
        }
        match crypto::decode_key(&p.key) {
            Ok(key) => older.push((p.key_id.as_str(), key)),
            Err(e) => problems.push(format!("{at}.previous[{i}].key: {e} (32 random bytes, base64)")),
        }
    }
    let current = current?;
    if !ok || older.len() != raw.previous.len() {
        return None;
    }
    let older: Vec<(&str, &[u8; crypto::KEY_LEN])> = older.iter().map(|(id, k)| (*id, k)).collect();
    Some(Keyring::new((&raw.key_id, &current), &older))
}

/// `applications[i].retention_days`, checked to lie in 30..=3650.
pub(super) fn retention(at: &str, days: Option<u32>, problems: &mut Vec<String>) -> Option<u32> {
    let days = days?;
    if !(MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS).contains(&days) {
        problems.push(format!(
            "{at}.retention_days: {days} is outside {MIN_RETENTION_DAYS}..{MAX_RETENTION_DAYS} (30 days to 10 years; leave it out to keep everything)"
        ));
        return None;
    }
    Some(days)
}
