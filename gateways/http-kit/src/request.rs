//! Calling a platform: one client per carrier, answers read whole, and the failures every
//! platform shares classified alike. A platform's own status table ([`Refusal`]s from its
//! error codes) comes first; what it leaves open is decided here by the HTTP status alone.
use bytes::Bytes;
use otpgate_gateway::GatewayError;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Consecutive transport failures (no HTTP answer at all) after which a carrier reports itself
/// down. Any HTTP answer, even a refusal, proves the platform reachable and resets the count.
pub const DOWN_AFTER_FAILURES: u32 = 3;
/// While down, the carrier reports itself up again this long after its last failure, so that
/// the next message routed to it is the probe: an answer brings it back, another transport
/// failure keeps it down for another period.
pub const PROBE_AFTER: Duration = Duration::from_secs(30);
/// The wait when a platform says "too many requests" without saying for how long.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What a platform's status table makes of one of its error codes. The `&'static str` is the
/// reason token: a metrics label, so short and stable (`not_whatsapp_user`, `no_balance`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Slow down, for this long when the platform says so in its body (Telegram's
    /// `FLOOD_WAIT_7`); otherwise for `Retry-After`, or [`DEFAULT_RETRY_AFTER`].
    Throttled(Option<Duration>),
    Transient(&'static str),
    /// The destination cannot get messages on this platform.
    Number(&'static str),
    /// The carrier account is refused (credentials, balance, suspension).
    Carrier(&'static str),
    /// This request alone is refused.
    Message(&'static str),
}

impl Refusal {
    /// What every platform means by a bare HTTP status: 429 slow down, 401/403 our
    /// credentials, 5xx a fault on their side worth another try, 1xx/3xx nothing documented
    /// (another try may get a proper answer), anything else a refusal of this request.
    pub fn of_status(http_status: u16) -> Refusal {
        match http_status {
            429 => Refusal::Throttled(None),
            401 | 403 => Refusal::Carrier("auth_failed"),
            500..=599 => Refusal::Transient("server_error"),
            100..=199 | 300..=399 => Refusal::Transient("bad_response"),
            _ => Refusal::Message("invalid_request"),
        }
    }
}

/// One platform answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The `Retry-After` header, parsed (see [`parse_retry_after`]).
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The classified error this refusal is: the platform's own reading of its error code
    /// (`platform`) when it has one, else [`Refusal::of_status`]. `detail` goes to logs only;
    /// it must not carry the code being sent.
    pub fn refusal(&self, platform: Option<Refusal>, detail: impl Into<String>) -> GatewayError {
        let detail = format!("HTTP {}: {}", self.status, detail.into());
        match platform.unwrap_or_else(|| Refusal::of_status(self.status)) {
            Refusal::Throttled(wait) => {
                GatewayError::throttled(wait.or(self.retry_after).unwrap_or(DEFAULT_RETRY_AFTER), detail)
            }
            Refusal::Transient(reason) => GatewayError::transient(reason, detail),
            Refusal::Number(reason) => GatewayError::number_at_fault(reason, detail),
            Refusal::Carrier(reason) => GatewayError::carrier_at_fault(reason, detail),
            Refusal::Message(reason) => GatewayError::permanent(reason, detail),
        }
    }

    /// A 2xx answer whose body is not what the platform documents.
    pub fn unreadable(&self, why: impl std::fmt::Display) -> GatewayError {
        GatewayError::transient("bad_response", format!("HTTP {}: {why}", self.status))
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date in any of its three forms
/// (IMF-fixdate, RFC 850, asctime; §5.6.7) counted from `now`. A date already past means no
/// wait; anything else is ignored.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// Classifies a request that got no HTTP answer: refused, reset or dropped connection, a body
/// cut short, or a timeout. The platform may come back, so all are transient.
pub fn transport_error(error: &reqwest::Error) -> GatewayError {
    let reason = if error.is_timeout() { "timeout" } else { "connection" };
    GatewayError::transient(reason, error.to_string())
}

/// One carrier's HTTP client, with its platform's base URL and its reachability.
pub struct PlatformClient {
    http: reqwest::Client,
    base_url: String,
    consecutive_failures: AtomicU32,
    /// Milliseconds since `started` of the last transport failure.
    last_failure_ms: AtomicU64,
    started: Instant,
}

impl PlatformClient {
    /// A client of the platform at `base_url` whose every request, connection included, ends
    /// within `timeout`.
    ///
    /// # Panics
    /// If the TLS backend cannot initialise (rustls with bundled roots: it does not fail).
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .expect("a rustls client with default settings builds");
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            consecutive_failures: AtomicU32::new(0),
            last_failure_ms: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// The client to build requests with; send them with [`PlatformClient::send`].
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `path` (starting with `/`) under the platform's base URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends `request` and reads the whole answer. One try: the engine's routing decides what
    /// follows a failure.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, GatewayError> {
        let read = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>(Answer {
                status,
                retry_after,
                body,
            })
        };
        match read.await {
            Ok(answer) => {
                self.consecutive_failures.store(0, Ordering::Release);
                Ok(answer)
            }
            Err(e) => {
                self.transport_failed();
                Err(transport_error(&e))
            }
        }
    }

    fn transport_failed(&self) {
        self.consecutive_failures.fetch_add(1, Ordering::AcqRel);
        self.last_failure_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Release);
    }

    /// False after [`DOWN_AFTER_FAILURES`] transport failures in a row, until [`PROBE_AFTER`].
    pub fn is_up(&self) -> bool {
        if self.consecutive_failures.load(Ordering::Acquire) < DOWN_AFTER_FAILURES {
            return true;
        }
        let last_failure = Duration::from_millis(self.last_failure_ms.load(Ordering::Acquire));
        self.started.elapsed().saturating_sub(last_failure) >= PROBE_AFTER
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otpgate_gateway::{ErrorKind, Fault};

    fn answer(status: u16, retry_after: Option<u64>) -> Answer {
        Answer {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            body: Bytes::new(),
        }
    }

    #[test]
    fn bare_statuses_are_read_alike_for_every_platform() {
        use ErrorKind::*;
        let cases = [
            (429, Throttled, None, "throttled"),
            (401, Permanent, Some(Fault::Carrier), "auth_failed"),
            (403, Permanent, Some(Fault::Carrier), "auth_failed"),
            (500, Transient, None, "server_error"),
            (503, Transient, None, "server_error"),
            (302, Transient, None, "bad_response"),
            (400, Permanent, Some(Fault::Message), "invalid_request"),
            (404, Permanent, Some(Fault::Message), "invalid_request"),
        ];
        for (status, kind, fault, reason) in cases {
            let e = answer(status, None).refusal(None, "");
            assert_eq!((e.kind(), e.fault(), e.reason()), (kind, fault, reason), "{status}");
        }
    }

    #[test]
    fn the_platform_table_comes_first_and_throttling_waits_as_told() {
        let not_a_user = answer(400, None).refusal(Some(Refusal::Number("not_a_user")), "");
        assert_eq!(not_a_user.fault(), Some(Fault::Number));
        let header = answer(429, Some(7)).refusal(None, "");
        assert_eq!(header.retry_after(), Some(Duration::from_secs(7)));
        let body = answer(400, Some(7)).refusal(Some(Refusal::Throttled(Some(Duration::from_secs(3)))), "");
        assert_eq!(body.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(
            answer(429, None).refusal(None, "").retry_after(),
            Some(DEFAULT_RETRY_AFTER)
        );
    }

    #[test]
    fn retry_after_takes_seconds_and_every_http_date_form() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:30 GMT").unwrap();
        let thirty = Some(Duration::from_secs(30));
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:00 GMT", now), thirty);
        assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:50:00 GMT", now), thirty);
        assert_eq!(parse_retry_after("Sun Nov  6 08:50:00 1994", now), thirty);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[tokio::test]
    async fn repeated_transport_failures_take_it_down_and_an_answer_brings_it_back() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = PlatformClient::new(
            &format!("http://{}/", listener.local_addr().unwrap()),
            Duration::from_secs(1),
        );
        drop(listener);
        assert!(client
            .url("/send")
            .ends_with(&format!("{}/send", client.base_url.trim_start_matches("http://"))));
        for _ in 0..DOWN_AFTER_FAILURES {
            assert!(client.is_up());
            let error = client.send(client.http().get(client.url("/send"))).await.unwrap_err();
            assert_eq!((error.kind(), error.reason()), (ErrorKind::Transient, "connection"));
        }
        assert!(!client.is_up());
        client.consecutive_failures.store(0, Ordering::Release);
        assert!(client.is_up());
    }
}
