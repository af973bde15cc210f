//! HTTP Digest authentication (RFC 2617 / RFC 7616) as SIP uses it: the challenge we send in 401
//! and the check of the `Authorization` header on the re-INVITE. MD5 and SHA-256.

use md5::{Digest as _, Md5};
use sha2::Sha256;

pub const REALM: &str = "otpgate-test";

/// The digest hash algorithm the callee challenges with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    pub fn hash(self, input: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(input.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(input.as_bytes())),
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Ok(Algorithm::Md5),
            "SHA-256" | "SHA256" => Ok(Algorithm::Sha256),
            other => Err(format!("unsupported digest algorithm {other:?} (MD5 or SHA-256)")),
        }
    }
}

/// The `WWW-Authenticate` header value for a fresh challenge.
pub fn challenge(algorithm: Algorithm, nonce: &str) -> String {
    format!(
        "Digest realm=\"{REALM}\", nonce=\"{nonce}\", algorithm={}",
        algorithm.name()
    )
}

/// Splits `Digest a="b", c=d` into (name, value) pairs, unquoting values.
pub fn parse_params(header: &str) -> Vec<(String, String)> {
    let rest = header.trim();
    let rest = rest
        .strip_prefix("Digest")
        .or_else(|| rest.strip_prefix("digest"))
        .unwrap_or(rest);
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
        }
        params.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    params
}

/// The response a client with `user`/`password` should have computed (qop "auth" or none).
pub fn expected_response(
    algorithm: Algorithm,
    params: &[(String, String)],
    method: &str,
    password: &str,
) -> Option<String> {
    let get = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let ha1 = algorithm.hash(&format!("{}:{}:{password}", get("username")?, get("realm")?));
    let ha2 = algorithm.hash(&format!("{method}:{}", get("uri")?));
    let nonce = get("nonce")?;
    Some(match get("qop") {
        Some(qop) => algorithm.hash(&format!("{ha1}:{nonce}:{}:{}:{qop}:{ha2}", get("nc")?, get("cnonce")?)),
        None => algorithm.hash(&format!("{ha1}:{nonce}:{ha2}")),
    })
}

/// Checks an `Authorization` header against the expected user, password and one of our nonces.
pub fn verify(
    header: &str,
    algorithm: Algorithm,
    method: &str,
    user: &str,
    password: &str,
    nonce_is_ours: impl Fn(&str) -> bool,
) -> bool {
    let params = parse_params(header);
    let get = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let algorithm_matches = get("algorithm").map_or(algorithm == Algorithm::Md5, |a| a.parse() == Ok(algorithm));
    if !algorithm_matches || get("username") != Some(user) || get("realm") != Some(REALM) {
        return false;
    }
    if !get("nonce").is_some_and(&nonce_is_ours) {
        return false;
    }
    match (expected_response(algorithm, &params, method, password), get("response")) {
        (Some(expected), Some(given)) => expected.eq_ignore_ascii_case(given),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_md5() {
        // RFC 2617 §3.5, with method GET.
        let header = r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let params = parse_params(header);
        assert_eq!(
            expected_response(Algorithm::Md5, &params, "GET", "Circle Of Life").as_deref(),
            Some("6629fae49393a05397450978507c4ef1")
        );
    }

    #[test]
    fn verify_checks_user_nonce_and_password() {
        let alg = Algorithm::Sha256;
        let ha1 = alg.hash(&format!("alice:{REALM}:secret"));
        let ha2 = alg.hash("INVITE:sip:bob@127.0.0.1");
        let response = alg.hash(&format!("{ha1}:n1:{ha2}"));
        let header = format!(
            "Digest username=\"alice\", realm=\"{REALM}\", nonce=\"n1\", uri=\"sip:bob@127.0.0.1\", response=\"{response}\", algorithm=SHA-256"
        );
        assert!(verify(&header, alg, "INVITE", "alice", "secret", |n| n == "n1"));
        assert!(!verify(&header, alg, "INVITE", "alice", "wrong", |n| n == "n1"));
        assert!(!verify(&header, alg, "INVITE", "alice", "secret", |n| n == "n2"));
        assert!(!verify(&header, Algorithm::Md5, "INVITE", "alice", "secret", |n| n == "n1"));
    }
}
