//! HTTP digest authentication as SIP uses it (RFC 3261 §22, RFC 7616 for SHA-256): parse a
//! `WWW-Authenticate` / `Proxy-Authenticate` challenge, compute the credentials answering it.

use md5::{Digest as _, Md5};
use sha2::Sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash(self, input: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(input.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(input.as_bytes())),
        }
    }
}

/// The parts of a digest challenge we answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The server offered `qop=auth` (we do not do `auth-int`).
    pub qop_auth: bool,
}

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("not a Digest challenge")]
    NotDigest,
    #[error("challenge without {0}")]
    Missing(&'static str),
    #[error("unsupported digest algorithm {0}")]
    Algorithm(String),
}

/// `key=value` / `key="value"` pairs after the scheme, commas inside quotes kept.
fn params(rest: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        let value: String = if chars.peek() == Some(&'"') {
            chars.next();
            let v = chars.by_ref().take_while(|c| *c != '"').collect();
            v
        } else {
            chars.by_ref().take_while(|c| *c != ',').collect()
        };
        out.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
}

pub fn parse_challenge(header: &str) -> Result<Challenge, ChallengeError> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .ok_or(ChallengeError::NotDigest)?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return Err(ChallengeError::NotDigest);
    }
    let params = params(rest);
    let get = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let algorithm = match get("algorithm") {
        None => Algorithm::Md5,
        Some(a) if a.eq_ignore_ascii_case("MD5") => Algorithm::Md5,
        Some(a) if a.eq_ignore_ascii_case("SHA-256") => Algorithm::Sha256,
        Some(other) => return Err(ChallengeError::Algorithm(other)),
    };
    Ok(Challenge {
        realm: get("realm").ok_or(ChallengeError::Missing("realm"))?,
        nonce: get("nonce").ok_or(ChallengeError::Missing("nonce"))?,
        opaque: get("opaque"),
        algorithm,
        qop_auth: get("qop").is_some_and(|q| q.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth"))),
    })
}

/// The `Authorization` / `Proxy-Authorization` value answering `challenge` for one request.
/// `cnonce` is only used with `qop=auth` (nonce count 1: we answer each challenge once).
pub fn credentials(
    challenge: &Challenge,
    username: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
) -> String {
    let algorithm = challenge.algorithm;
    let ha1 = algorithm.hash(&format!("{username}:{}:{password}", challenge.realm));
    let ha2 = algorithm.hash(&format!("{method}:{uri}"));
    let nonce = &challenge.nonce;
    let mut value = format!(
        "Digest username=\"{username}\", realm=\"{}\", nonce=\"{nonce}\", uri=\"{uri}\"",
        challenge.realm
    );
    let response = if challenge.qop_auth {
        const NC: &str = "00000001";
        value.push_str(&format!(", qop=auth, nc={NC}, cnonce=\"{cnonce}\""));
        algorithm.hash(&format!("{ha1}:{nonce}:{NC}:{cnonce}:auth:{ha2}"))
    } else {
        algorithm.hash(&format!("{ha1}:{nonce}:{ha2}"))
    };
    value.push_str(&format!(", response=\"{response}\", algorithm={}", algorithm.name()));
    if let Some(opaque) = &challenge.opaque {
        value.push_str(&format!(", opaque=\"{opaque}\""));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_example_with_qop_auth() {
        let challenge = parse_challenge(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        assert!(challenge.qop_auth);
        assert_eq!(challenge.algorithm, Algorithm::Md5);
        let value = credentials(
            &challenge,
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
        );
        assert!(
            value.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{value}"
        );
        assert!(value.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    }

    #[test]
    fn sha_256_without_qop() {
        let challenge = parse_challenge(r#"Digest realm="r", nonce="n", algorithm=SHA-256"#).unwrap();
        assert_eq!(challenge.algorithm, Algorithm::Sha256);
        let value = credentials(&challenge, "u", "p", "INVITE", "sip:1@h", "c");
        let ha1 = Algorithm::Sha256.hash("u:r:p");
        let ha2 = Algorithm::Sha256.hash("INVITE:sip:1@h");
        let expected = Algorithm::Sha256.hash(&format!("{ha1}:n:{ha2}"));
        assert!(value.contains(&format!("response=\"{expected}\"")), "{value}");
        assert!(!value.contains("qop"));
    }

    #[test]
    fn refuses_other_schemes_and_algorithms() {
        assert_eq!(parse_challenge("Basic realm=\"x\""), Err(ChallengeError::NotDigest));
        assert!(matches!(
            parse_challenge("Digest realm=\"x\", nonce=\"y\", algorithm=SHA-512-256"),
            Err(ChallengeError::Algorithm(_))
        ));
    }
}
