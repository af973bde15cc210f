//! Request limits on every endpoint (issue 18): per client address, per API key, and on failed
//! authentication per address (slows guessing of keys and of callback signatures). A refused
//! request gets the API's usual error body with 429 and `Retry-After`, as Twilio answers its
//! rate limits, and counts in `otpgate_http_requests_rate_limited_total{route, scope}` — `route`
//! is the route template (`/v3/workflows/{id}/`), never the path, so ids and numbers stay out
//! of the labels.
//!
//! The client address is the TCP peer's; IPv6 clients are keyed by their /64, the block one
//! subscriber usually holds, so hopping inside it does not multiply the allowance.
//!
//! On a PostgreSQL store every node takes these limits from shared per-minute counters
//! ([`crate::limits`]: batched reservations, so most requests make no round trip), and N nodes
//! behind a load balancer allow what one allows. The in-process buckets below decide on SQLite,
//! and on PostgreSQL whenever the database does not answer in time. A lockout after failed
//! authentications is kept by the node that saw the failure over the limit; the failures
//! themselves count on every node, so key guessing stays bounded by the limit across nodes.
use super::error::ApiError;
use super::EngineData;
use crate::config::RequestLimits;
use crate::limits::window::{Reservations, Take};
use crate::metrics as m;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The window of every request limit.
const MINUTE: Duration = Duration::from_secs(60);

/// The limiters, shared by every worker.
pub struct Limits {
    config: RequestLimits,
    /// The counters shared with the other nodes (PostgreSQL store only).
    shared: Option<Arc<crate::limits::Shared>>,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_key: Option<DefaultKeyedRateLimiter<String>>,
    failed_auth: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Addresses past their failed-authentication allowance, and until when.
    locked_out: DashMap<IpAddr, Instant>,
}

fn per_minute<K: std::hash::Hash + Eq + Clone>(n: Option<NonZeroU32>) -> Option<DefaultKeyedRateLimiter<K>> {
    n.map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

/// Why a request was refused, as the metric's `scope` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Ip,
    Key,
    FailedAuth,
}

impl Scope {
    fn label(self) -> &'static str {
        match self {
            Scope::Ip => "ip",
            Scope::Key => "key",
            Scope::FailedAuth => "failed_auth",
        }
    }

    fn detail(self) -> &'static str {
        match self {
            Scope::Ip => "too many requests from this address; retry later",
            Scope::Key => "too many requests with this API key; retry later",
            Scope::FailedAuth => "too many failed authentication attempts from this address; retry later",
        }
    }
}

/// The key a client address is limited under: IPv4 as is, IPv6 by its /64 (IPv4-mapped IPv6
/// addresses count as the IPv4 address).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

impl Limits {
    /// One node's limits (the SQLite store).
    pub fn new(config: RequestLimits) -> Self {
        Self::with_shared(config, None)
    }

    /// Limits taken from the counters every node on the PostgreSQL store shares, when `shared`
    /// is given; the in-process buckets when it is not, or when it does not answer.
    pub fn with_shared(config: RequestLimits, shared: Option<Arc<crate::limits::Shared>>) -> Self {
        Self {
            config,
            shared,
            per_ip: per_minute(config.per_ip),
            per_key: per_minute(config.per_key),
            failed_auth: per_minute(config.failed_auth_per_ip),
            locked_out: DashMap::new(),
        }
    }

    /// Takes one request from `ip`'s allowance.
    pub fn admit_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        take(self.per_ip.as_ref(), &ip)
    }

    /// Takes one request from `application`'s allowance.
    pub fn admit_key(&self, application: &str) -> Result<(), Duration> {
        take(self.per_key.as_ref(), &application.to_owned())
    }

    /// Takes one token of `limit` under (`scope`, `key`) from the shared counters; `None` when
    /// there are none (or they did not answer): then this node decides.
    async fn take_shared(
        &self,
        scope: &'static str,
        key: &str,
        limit: Option<NonZeroU32>,
    ) -> Option<Result<(), Duration>> {
        let (shared, limit) = (self.shared.as_ref()?, limit?);
        match shared.reservations.take(scope, key, limit, MINUTE).await {
            Take::Admitted => Some(Ok(())),
            Take::Refused(wait) => Some(Err(wait)),
            Take::Unavailable => None,
        }
    }

    /// [`Limits::admit_ip`] across nodes (see the module doc).
    pub async fn admit_ip_across_nodes(&self, ip: IpAddr) -> Result<(), Duration> {
        match self.take_shared("ip", &ip.to_string(), self.config.per_ip).await {
            Some(answer) => answer,
            None => self.admit_ip(ip),
        }
    }

    /// [`Limits::admit_key`] across nodes.
    pub async fn admit_key_across_nodes(&self, application: &str) -> Result<(), Duration> {
        match self.take_shared("key", application, self.config.per_key).await {
            Some(answer) => answer,
            None => self.admit_key(application),
        }
    }

    /// [`Limits::failed_auth`] across nodes: the failures count on the shared counter; the
    /// lockout past it is this node's.
    pub async fn failed_auth_across_nodes(&self, ip: IpAddr) -> Option<Duration> {
        match self
            .take_shared("failed_auth", &ip.to_string(), self.config.failed_auth_per_ip)
            .await
        {
            Some(Ok(())) => None,
            Some(Err(wait)) => {
                self.locked_out.insert(ip, Instant::now() + wait);
                Some(wait)
            }
            None => self.failed_auth(ip),
        }
    }

    /// The batches shared limits keep (for tests).
    pub fn shared_reservations(&self) -> Option<&Reservations> {
        self.shared.as_ref().map(|s| &s.reservations)
    }

    /// How long `ip` is still locked out after too many failed authentications.
    pub fn locked_out(&self, ip: IpAddr) -> Option<Duration> {
        let until = *self.locked_out.get(&ip)?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Counts a failed authentication from `ip`; past the allowance, locks the address out and
    /// says for how long.
    pub fn failed_auth(&self, ip: IpAddr) -> Option<Duration> {
        let wait = take(self.failed_auth.as_ref(), &ip).err()?;
        self.locked_out.insert(ip, Instant::now() + wait);
        Some(wait)
    }

    /// Forgets buckets that are full again and lockouts that ended, so the maps hold only
    /// recent clients (called every minute).
    pub fn housekeeping(&self) {
        for limiter in [&self.per_ip, &self.failed_auth].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_key {
            limiter.retain_recent();
        }
        let now = Instant::now();
        self.locked_out.retain(|_, until| *until > now);
    }
}

fn take<K: std::hash::Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), Duration> {
    let Some(limiter) = limiter else { return Ok(()) };
    limiter
        .check_key(key)
        .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
}

fn refuse(route: &str, scope: Scope, wait: Duration) -> ApiError {
    metrics::counter!(m::HTTP_RATE_LIMITED, "route" => route.to_owned(), "scope" => scope.label()).increment(1);
    tracing::debug!(
        route,
        scope = scope.label(),
        wait_ms = wait.as_millis() as u64,
        "request refused by a limit"
    );
    ApiError::rate_limited(wait, scope.detail())
}

/// The middleware (`actix_web::middleware::from_fn`) that applies [`Limits`] to every request.
pub async fn enforce(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limits = req.app_data::<web::Data<Limits>>().cloned();
    let (Some(limits), Some(peer)) = (limits, req.peer_addr()) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let ip = client_key(peer.ip());
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let key = req
        .headers()
        .get("x-api-key")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let refusal = if let Some(wait) = key.as_ref().and_then(|_| limits.locked_out(ip)) {
        Some(refuse(&route, Scope::FailedAuth, wait))
    } else if let Err(wait) = limits.admit_ip_across_nodes(ip).await {
        Some(refuse(&route, Scope::Ip, wait))
    } else {
        let application = key.as_deref().and_then(|key| {
            let engine = req.app_data::<EngineData>()?;
            engine.applications.authenticate(key).map(|a| a.name.clone())
        });
        match application {
            Some(a) => limits
                .admit_key_across_nodes(&a)
                .await
                .err()
                .map(|wait| refuse(&route, Scope::Key, wait)),
            None => None,
        }
    };
    if let Some(refusal) = refusal {
        return Ok(req.into_response(refusal.error_response()).map_into_right_body());
    }
    let response = next.call(req).await?;
    if response.status() == StatusCode::UNAUTHORIZED {
        if let Some(wait) = limits.failed_auth_across_nodes(ip).await {
            // This attempt already used up the allowance: it learns nothing but when to retry.
            let refusal = refuse(&route, Scope::FailedAuth, wait);
            return Ok(response.into_response(refusal.error_response()).map_into_right_body());
        }
    }
    Ok(response.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_ip: u32, per_key: u32, failed: u32) -> Limits {
        Limits::new(RequestLimits {
            per_ip: NonZeroU32::new(per_ip),
            per_key: NonZeroU32::new(per_key),
            failed_auth_per_ip: NonZeroU32::new(failed),
        })
    }

    #[test]
    fn ipv6_clients_share_their_64_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(client_key(mapped), "203.0.113.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn each_address_and_key_has_its_own_allowance() {
        let l = limits(2, 3, 0);
        let one: IpAddr = "203.0.113.1".parse().unwrap();
        let two: IpAddr = "203.0.113.2".parse().unwrap();
        assert!(l.admit_ip(one).is_ok() && l.admit_ip(one).is_ok());
        let wait = l.admit_ip(one).unwrap_err();
        assert!(
            wait > Duration::from_secs(20) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(l.admit_ip(two).is_ok());
        for _ in 0..3 {
            l.admit_key("a").unwrap();
        }
        assert!(l.admit_key("a").is_err());
        assert!(l.admit_key("b").is_ok());
    }

    #[test]
    fn failed_authentication_locks_the_address_out_after_the_allowance() {
        let l = limits(0, 0, 3);
        let ip: IpAddr = "198.51.100.4".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(l.failed_auth(ip), None);
            assert_eq!(l.locked_out(ip), None);
        }
        let wait = l.failed_auth(ip).expect("the fourth failure is over the allowance");
        assert!(wait > Duration::from_secs(10), "{wait:?}");
        assert!(l.locked_out(ip).is_some());
        assert!(l.locked_out("198.51.100.5".parse().unwrap()).is_none());
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let l = limits(0, 0, 0);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        for _ in 0..10_000 {
            assert!(l.admit_ip(ip).is_ok() && l.admit_key("a").is_ok());
            assert_eq!(l.failed_auth(ip), None);
        }
    }
}
