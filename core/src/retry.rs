//! When and how long to wait before sending a request again.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use rand::Rng;

/// The retry policy of a client.
///
/// Retried: HTTP 429, 502, 503 and 504, timeouts and broken connections, with
/// exponential backoff and jitter, honouring `Retry-After` (seconds or HTTP date) and
/// `X-RateLimit-Reset` (UNIX seconds). Retries are bounded both by
/// [`max_attempts`](Self::max_attempts) and by [`deadline`](Self::deadline): a wait
/// the deadline cannot afford is not started, and the last error is returned instead.
///
/// Requests that are not idempotent (`POST`) are sent again only when they cannot have
/// been applied: the connection was refused before anything was sent, or the service
/// answered 429 (a rate-limit rejection happens before the request runs). A create
/// that timed out or met a 503 is *not* repeated, since it may have been applied;
/// callers make such a create safe to run again by looking the record up by its
/// natural key first, which is what every resource module of this SDK does.
///
/// ```
/// use std::time::Duration;
/// use bpsn_core::RetryPolicy;
/// let policy = RetryPolicy::default()
///     .with_max_attempts(6)
///     .with_deadline(Duration::from_secs(120));
/// assert_eq!(policy.max_attempts(), 6);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    deadline: Duration,
    jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(20),
            deadline: Duration::from_secs(90),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets how many times one request may be sent in all (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the first backoff delay; each further retry doubles it.
    pub fn with_initial_backoff(mut self, delay: Duration) -> Self {
        self.initial_backoff = delay;
        self
    }

    /// Sets the longest backoff delay computed by the policy (a server's
    /// `Retry-After` may ask for longer, within the deadline).
    pub fn with_max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay;
        self
    }

    /// Sets the total time one request, with all its retries, may take.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Turns jitter on or off (on by default; off makes delays reproducible).
    pub fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// How many times one request may be sent in all.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The total time one request, with all its retries, may take.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The backoff before attempt `attempt + 1`, given that `attempt` attempts failed
    /// (exponential, capped, with "equal jitter": between half and all of the delay).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(16);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        if !self.jitter || base.is_zero() {
            return base;
        }
        let half = base / 2;
        let extra = rand::rng().random_range(0..=half.as_micros() as u64);
        half + Duration::from_micros(extra)
    }

    /// The delay to wait before the next attempt: the server's hint when it gave
    /// one, the backoff otherwise.
    pub fn delay(&self, attempt: u32, headers: Option<&HeaderMap>) -> Duration {
        headers
            .and_then(server_delay)
            .unwrap_or_else(|| self.backoff(attempt))
    }
}

/// The delay a response asks for: `Retry-After` (seconds or HTTP date), else
/// `X-RateLimit-Reset` (UNIX seconds).
pub fn server_delay(headers: &HeaderMap) -> Option<Duration> {
    retry_after(headers).or_else(|| {
        let reset = rate_limit_reset(headers)?;
        Some(
            reset
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    })
}

/// `Retry-After`, as delta-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// `X-RateLimit-Reset`, as UNIX seconds.
pub fn rate_limit_reset(headers: &HeaderMap) -> Option<SystemTime> {
    let secs: u64 = header_str(headers, "x-ratelimit-reset")?.parse().ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

pub(crate) fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn backoff_grows_exponentially_and_is_capped() {
        let p = RetryPolicy::default()
            .with_jitter(false)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_millis(500));
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(400));
        assert_eq!(p.backoff(4), Duration::from_millis(500));
        assert_eq!(p.backoff(40), Duration::from_millis(500));
    }

    #[test]
    fn jitter_stays_between_half_and_full_delay() {
        let p = RetryPolicy::default().with_initial_backoff(Duration::from_millis(400));
        for _ in 0..200 {
            let d = p.backoff(1);
            assert!(
                d >= Duration::from_millis(200) && d <= Duration::from_millis(400),
                "{d:?}"
            );
        }
    }

    #[test]
    fn server_hints_win_over_backoff() {
        let p = RetryPolicy::default().with_jitter(false);
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(p.delay(1, Some(&h)), Duration::from_secs(7));

        let mut h = HeaderMap::new();
        let when = SystemTime::now() + Duration::from_secs(30);
        let secs = when
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        h.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(&secs.to_string()).unwrap(),
        );
        let d = p.delay(1, Some(&h));
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );

        let mut h = HeaderMap::new();
        let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
        h.insert("retry-after", HeaderValue::from_str(&date).unwrap());
        let d = p.delay(1, Some(&h));
        assert!(
            d > Duration::from_secs(55) && d <= Duration::from_secs(60),
            "{d:?}"
        );

        assert_eq!(p.delay(2, Some(&HeaderMap::new())), p.backoff(2));
    }

    #[test]
    fn attempts_are_at_least_one() {
        assert_eq!(
            RetryPolicy::default().with_max_attempts(0).max_attempts(),
            1
        );
        assert_eq!(RetryPolicy::never().max_attempts(), 1);
    }
}
