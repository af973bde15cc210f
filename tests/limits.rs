//! Request limits on every endpoint (issue 18): per client address, per API key and on failed
//! authentication, each answered 429 with `Retry-After` and the API's error body, and counted
//! by route template and scope.
mod common;

use common::Server;
use serde_json::Value;
use std::time::Duration;

/// A request's status, `Retry-After` and body.
fn call(server: &Server, method: &str, path: &str, key: Option<&str>) -> (u16, Option<u64>, Value) {
    let mut req = ureq::request(method, &format!("{}{path}", server.base));
    if let Some(key) = key {
        req = req.set("x-api-key", key);
    }
    let response = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = response.status();
    let retry_after = response
        .header("retry-after")
        .map(|v| v.parse().expect("Retry-After in seconds"));
    let text = response.into_string().unwrap();
    (
        status,
        retry_after,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn metric_line(metrics: &str, route: &str, scope: &str) -> Option<String> {
    let wanted = format!("otpgate_http_requests_rate_limited_total{{route=\"{route}\",scope=\"{scope}\"}}");
    metrics.lines().find(|l| l.starts_with(&wanted)).map(str::to_owned)
}

#[test]
fn one_address_past_its_allowance_gets_429_on_every_endpoint_until_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    // 12 a minute: a burst of 12, then one more every 5 s.
    let server = Server::with_config(dir.path(), "[limits]\nrequests_per_minute_per_ip = 12\n");
    let key = server.key.clone();
    let started = std::time::Instant::now();
    let mut statuses = Vec::new();
    for i in 0..20 {
        let (path, key) = match i % 3 {
            0 => ("/healthz", None),
            1 => ("/v3/workflows/", Some(key.as_str())),
            _ => ("/v3/billing/usage/?month=2026-01", Some(key.as_str())),
        };
        statuses.push(call(&server, "GET", path, key).0);
    }
    // The burst, plus at most the tokens refilled while the loop ran (a slow machine gets more).
    let refilled = (started.elapsed().as_secs_f64() / 5.0).ceil() as usize;
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    assert!((12..=12 + refilled).contains(&ok), "{ok} answered: {statuses:?}");
    assert_eq!(ok + statuses.iter().filter(|&&s| s == 429).count(), 20, "{statuses:?}");

    let (status, retry_after, body) = call(&server, "GET", "/v3/workflows/", Some(&key));
    assert_eq!(status, 429);
    let wait = retry_after.expect("Retry-After");
    assert!((1..=5).contains(&wait), "one token every 5 s: {wait}");
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("address"), "{body}");
    // Even an unknown path is limited (and labelled without its path).
    let (status, _, _) = call(&server, "GET", "/no/such/+12025550123", None);
    assert_eq!(status, 429);

    // Retry-After is honest: after it, the address is served again.
    std::thread::sleep(Duration::from_secs(wait) + Duration::from_millis(100));
    let metrics = server.metrics();
    assert!(metric_line(&metrics, "/v3/workflows/", "ip").is_some(), "{metrics}");
    assert!(metric_line(&metrics, "unmatched", "ip").is_some(), "{metrics}");
    assert!(!metrics.contains("12025550123"), "a path leaked into a label");
}

#[test]
fn one_key_past_its_allowance_gets_429_labelled_by_route_template() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "[limits]\nrequests_per_minute_per_key = 3\n");
    let key = server.key.clone();
    let id = "0190e6a0-0000-7000-8000-00000000abcd";
    let path = format!("/v3/workflows/{id}/");
    for _ in 0..3 {
        assert_eq!(call(&server, "GET", &path, Some(&key)).0, 404);
    }
    let (status, retry_after, body) = call(&server, "GET", &path, Some(&key));
    assert_eq!(status, 429, "{body}");
    let wait = retry_after.unwrap();
    assert!((15..=20).contains(&wait), "a token every 20 s: {wait}");
    assert_eq!(body["code"], "rate_limited");
    assert!(body["detail"].as_str().unwrap().contains("API key"), "{body}");
    // Other endpoints with the same key share its allowance; requests without a key do not.
    assert_eq!(call(&server, "POST", "/v3/phone/check/", Some(&key)).0, 429);
    assert_eq!(call(&server, "GET", "/healthz", None).0, 200);

    let metrics = server.metrics();
    let line = metric_line(&metrics, "/v3/workflows/{id}/", "key").expect(&metrics);
    assert!(line.ends_with(" 1"), "{line}");
    assert!(metric_line(&metrics, "/v3/phone/check/", "key").is_some(), "{metrics}");
    assert!(!metrics.contains(id), "an id leaked into a label");
}

#[test]
fn failed_authentications_lock_the_address_out_even_for_the_right_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "[limits]\nfailed_auth_per_minute_per_ip = 3\n");
    let key = server.key.clone();
    let guesses = ["otpg_0000", "otpg_0001", "otpg_0002"];
    for guess in guesses {
        let (status, _, body) = call(&server, "GET", "/v3/workflows/", Some(guess));
        assert_eq!(status, 401, "{body}");
    }
    let (status, retry_after, body) = call(&server, "GET", "/v3/workflows/", Some("otpg_0003"));
    assert_eq!(status, 429, "the fourth failure is over the allowance: {body}");
    assert!(retry_after.unwrap() >= 10);
    assert!(
        body["detail"].as_str().unwrap().contains("failed authentication"),
        "{body}"
    );

    // The right key from the locked-out address learns nothing but when to retry.
    let (status, retry_after, body) = call(&server, "GET", "/v3/workflows/", Some(&key));
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")), "{body}");
    assert!(retry_after.is_some());
    // Requests without a key (health checks, the hosted page) still pass.
    assert_eq!(call(&server, "GET", "/healthz", None).0, 200);
    let metrics = server.metrics();
    assert!(
        metric_line(&metrics, "/v3/workflows/", "failed_auth").is_some(),
        "{metrics}"
    );
}

#[test]
fn the_default_limits_leave_an_ordinary_client_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    for _ in 0..200 {
        assert_eq!(call(&server, "GET", "/v3/workflows/", Some(server.key.as_str())).0, 200);
    }
    // A typo in the key costs nothing.
    assert_eq!(call(&server, "GET", "/v3/workflows/", Some("otpg_typo")).0, 401);
    assert_eq!(call(&server, "GET", "/v3/workflows/", Some(server.key.as_str())).0, 200);
}
