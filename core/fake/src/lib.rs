#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! # Guide
//!
//! Each fake names its own endpoints with a small `Copy` enum `E`; everything here
//! is generic over it.

pub mod echo;

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wiremock::ResponseTemplate;

/// A fault to inject.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// HTTP 429 with rate-limit headers, and `Retry-After: n` when given (without it,
    /// the answer a full request queue gives).
    RateLimited {
        /// Seconds for `Retry-After`, or `None` to leave the header out.
        retry_after: Option<u64>,
    },
    /// HTTP 503, before the request is processed.
    Unavailable,
    /// The request is processed, then the answer is delayed by this much more (set
    /// it past the client's timeout: the client cannot know the write happened).
    Timeout(Duration),
    /// The request is processed, then answered with a truncated JSON body.
    MalformedBody,
    /// The bearer token is treated as expired from now on (401); requests without
    /// a bearer token are unaffected.
    ExpiredToken,
}

impl Fault {
    /// Applies the faults that act after the request was processed (a late
    /// answer, a malformed body) to its answer and delay; any other fault, or
    /// none, leaves them as they are.
    pub fn after_processing(
        fault: Option<&Fault>,
        reply: Reply,
        delay: Duration,
    ) -> (Reply, Duration) {
        match fault {
            Some(Fault::Timeout(extra)) => (reply, delay + *extra),
            Some(Fault::MalformedBody) => (reply.malformed(), delay),
            _ => (reply, delay),
        }
    }
}

/// When a fault fires.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum FaultSchedule {
    /// On every n-th matching request.
    EveryNth(u64),
    /// On the n-th matching request only (1-based).
    Nth(u64),
    /// On the first n matching requests.
    FirstN(u64),
    /// Every write request (not GET, HEAD, OPTIONS or a token request) after the
    /// first `n` writes, for ever: a run killed right after its `n`-th write
    /// (reads still answer, so the run notices only when it writes again).
    WritesAfter(u64),
    /// On each matching request with this probability, drawn from a seeded generator.
    Random {
        /// Between 0 and 1.
        probability: f64,
        /// The generator's seed.
        seed: u64,
    },
}

struct Rule<E> {
    fault: Fault,
    schedule: FaultSchedule,
    endpoint: Option<E>,
    seen: u64,
    rng: StdRng,
}

/// The faults a fake injects, and how many it has injected.
pub struct FaultPlan<E> {
    rules: Vec<Rule<E>>,
    fired: u64,
}

impl<E> Default for FaultPlan<E> {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            fired: 0,
        }
    }
}

impl<E: Copy + PartialEq> FaultPlan<E> {
    /// Adds a rule: `fault` on `schedule`, for one endpoint or (with `None`) all.
    pub fn add(&mut self, fault: Fault, schedule: FaultSchedule, endpoint: Option<E>) {
        let seed = match schedule {
            FaultSchedule::Random { seed, .. } => seed,
            _ => 0,
        };
        self.rules.push(Rule {
            fault,
            schedule,
            endpoint,
            seen: 0,
            rng: StdRng::seed_from_u64(seed),
        });
    }

    /// Removes every rule (the count of injected faults stays).
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// How many faults have been injected.
    pub fn fired(&self) -> u64 {
        self.fired
    }

    /// The fault to inject into the next request to `endpoint` (`is_write`: it
    /// changes state), if a rule fires. Every matching rule counts the request
    /// ([`FaultSchedule::WritesAfter`] counts writes only); the first that fires wins.
    pub fn next(&mut self, endpoint: E, is_write: bool) -> Option<Fault> {
        let mut fired = None;
        for rule in &mut self.rules {
            if rule.endpoint.is_some_and(|e| e != endpoint) {
                continue;
            }
            if matches!(rule.schedule, FaultSchedule::WritesAfter(_)) && !is_write {
                continue;
            }
            rule.seen += 1;
            let fire = match rule.schedule {
                FaultSchedule::WritesAfter(n) => rule.seen > n,
                FaultSchedule::EveryNth(n) => n > 0 && rule.seen % n == 0,
                FaultSchedule::Nth(n) => rule.seen == n,
                FaultSchedule::FirstN(n) => rule.seen <= n,
                FaultSchedule::Random { probability, .. } => {
                    rule.rng.random_bool(probability.clamp(0.0, 1.0))
                }
            };
            if fire && fired.is_none() {
                fired = Some(rule.fault.clone());
            }
        }
        if fired.is_some() {
            self.fired += 1;
        }
        fired
    }
}

/// Latency added to answers: fixed, or per endpoint.
pub struct Latency<E> {
    fixed: Duration,
    per_endpoint: HashMap<E, Duration>,
}

impl<E> Default for Latency<E> {
    fn default() -> Self {
        Self {
            fixed: Duration::ZERO,
            per_endpoint: HashMap::new(),
        }
    }
}

impl<E: Hash + Eq> Latency<E> {
    /// Sets the latency of every endpoint without its own.
    pub fn set(&mut self, latency: Duration) {
        self.fixed = latency;
    }

    /// Sets one endpoint's latency.
    pub fn set_for(&mut self, endpoint: E, latency: Duration) {
        self.per_endpoint.insert(endpoint, latency);
    }

    /// The latency of an endpoint.
    pub fn of(&self, endpoint: &E) -> Duration {
        self.per_endpoint
            .get(endpoint)
            .copied()
            .unwrap_or(self.fixed)
    }
}

/// One request a fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest<E> {
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The raw query string.
    pub query: Option<String>,
    /// The body as text.
    pub body: String,
    /// Which endpoint it went to.
    pub endpoint: E,
    /// The status answered.
    pub status: u16,
    /// Whether it was an item inside a batch rather than a round trip of its own.
    pub via_batch: bool,
    /// When the fake received it.
    pub received_at: std::time::Instant,
    /// The latency the fake added before answering.
    pub delay: Duration,
}

impl<E> LoggedRequest<E> {
    /// When the answer left (received plus the added latency).
    pub fn answered_at(&self) -> std::time::Instant {
        self.received_at + self.delay
    }

    /// From arrival to answer.
    pub fn interval(&self) -> (std::time::Instant, std::time::Instant) {
        (self.received_at, self.answered_at())
    }

    /// Whether this is an HTTP round trip (not an item inside a batch).
    pub fn is_round_trip(&self) -> bool {
        !self.via_batch
    }

    /// Whether the method writes (anything but GET and HEAD).
    pub fn is_write_method(&self) -> bool {
        self.method != "GET" && self.method != "HEAD"
    }

    /// The value of a query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_deref()?.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// An answer, kept as data until it becomes a wiremock template (so batch items
/// and fault handling can inspect it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }

    /// A JSON answer from any serialisable value (keeps the order a value
    /// serialises its keys in, which a `serde_json::Value` does not).
    pub fn json_of<T: serde::Serialize + ?Sized>(status: u16, body: &T) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }

    /// A plain-text answer.
    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// An answer without a body.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// A 429 with rate-limit headers, built around `body`.
    pub fn rate_limited(body: Reply, retry_after: Option<u64>) -> Self {
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() + retry_after.unwrap_or(1))
            .unwrap_or(0);
        let mut reply = Reply {
            status: 429,
            ..body
        }
        .header("x-ratelimit-limit", "100")
        .header("x-ratelimit-reset", reset.to_string())
        .header("x-ratelimit-rule", "fake-rate-limit");
        if let Some(after) = retry_after {
            reply = reply.header("retry-after", after.to_string());
        }
        reply
    }

    /// The same status and headers with a truncated JSON body.
    pub fn malformed(self) -> Self {
        Self {
            body: b"{\"result\": [{\"sys_id\": \"trunc".to_vec(),
            ..self
        }
    }

    /// The answer gzip-compressed when the request's `Accept-Encoding` allows it
    /// and the body is worth it (1 KiB or more), as the platforms' web servers do.
    pub fn compressed_for(mut self, accept_encoding: Option<&str>) -> Self {
        use std::io::Write as _;
        let accepts = accept_encoding.is_some_and(|a| {
            a.split(',')
                .any(|e| e.trim().split(';').next() == Some("gzip"))
        });
        if !accepts || self.body.len() < 1024 {
            return self;
        }
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if encoder.write_all(&self.body).is_ok()
            && let Ok(packed) = encoder.finish()
        {
            self.body = packed;
            self.headers
                .push(("content-encoding".to_owned(), "gzip".to_owned()));
        }
        self
    }

    /// The wiremock template, delayed by `delay`.
    pub fn into_template(self, delay: Duration) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        let mut content_type = None;
        for (k, v) in &self.headers {
            if k.eq_ignore_ascii_case("content-type") {
                content_type = Some(v.clone());
            } else {
                t = t.insert_header(k.as_str(), v.as_str());
            }
        }
        if !self.body.is_empty() {
            let mime = content_type.unwrap_or_else(|| "application/json".into());
            t = t.set_body_raw(self.body, &mime);
        }
        if !delay.is_zero() {
            t = t.set_delay(delay);
        }
        t
    }
}

/// The most round trips among `trips` (start, end) that did not overlap: a chain
/// where each starts after the one before it was answered. Multiplied by the
/// added latency, it is the least time the run could have taken. Feed it
/// [`LoggedRequest::interval`] of the round trips of one or several fakes.
pub fn sequential_round_trips(
    trips: impl IntoIterator<Item = (std::time::Instant, std::time::Instant)>,
) -> usize {
    let mut trips: Vec<(std::time::Instant, std::time::Instant)> = trips.into_iter().collect();
    // Interval scheduling: the most pairwise non-overlapping intervals, greedily by end.
    trips.sort_by_key(|&(_, end)| end);
    let mut count = 0;
    let mut free_from = None;
    for (start, end) in trips {
        if free_from.is_none_or(|f| start >= f) {
            count += 1;
            free_from = Some(end);
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    enum Ep {
        A,
        B,
    }

    #[test]
    fn schedules_fire_when_they_say() {
        let mut plan = FaultPlan::default();
        plan.add(Fault::Unavailable, FaultSchedule::EveryNth(3), Some(Ep::A));
        let fired: Vec<bool> = (0..6).map(|_| plan.next(Ep::A, false).is_some()).collect();
        assert_eq!(fired, [false, false, true, false, false, true]);
        assert!(plan.next(Ep::B, false).is_none());
        assert_eq!(plan.fired(), 2);

        let mut plan = FaultPlan::default();
        plan.add(Fault::MalformedBody, FaultSchedule::FirstN(2), None);
        plan.add(Fault::Unavailable, FaultSchedule::Nth(2), None);
        assert_eq!(plan.next(Ep::B, false), Some(Fault::MalformedBody));
        assert_eq!(
            plan.next(Ep::A, false),
            Some(Fault::MalformedBody),
            "the first firing rule wins"
        );
        assert_eq!(plan.next(Ep::A, false), None);

        // A run killed after its second write: reads go on, writes are refused.
        let mut plan = FaultPlan::default();
        plan.add(Fault::Unavailable, FaultSchedule::WritesAfter(2), None);
        let fired: Vec<bool> = [true, false, true, false, true, true]
            .into_iter()
            .map(|write| plan.next(Ep::A, write).is_some())
            .collect();
        assert_eq!(fired, [false, false, false, false, true, true]);
    }

    #[test]
    fn random_schedules_repeat_with_their_seed() {
        let draw = |seed| {
            let mut plan = FaultPlan::default();
            plan.add(
                Fault::Unavailable,
                FaultSchedule::Random {
                    probability: 0.5,
                    seed,
                },
                None,
            );
            (0..32)
                .map(|_| plan.next(Ep::A, false).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(9), draw(9));
        assert_ne!(draw(9), draw(10));
    }

    #[test]
    fn latency_per_endpoint_overrides_the_fixed_one() {
        let mut l = Latency::default();
        l.set(Duration::from_millis(20));
        l.set_for(Ep::B, Duration::ZERO);
        assert_eq!(l.of(&Ep::A), Duration::from_millis(20));
        assert_eq!(l.of(&Ep::B), Duration::ZERO);
    }

    #[test]
    fn sequential_round_trips_count_the_longest_non_overlapping_chain() {
        let t0 = std::time::Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // Two overlapping trips, then one after both: a chain of two.
        assert_eq!(
            sequential_round_trips([(ms(0), ms(20)), (ms(5), ms(25)), (ms(30), ms(50))]),
            2
        );
        assert_eq!(
            sequential_round_trips([(ms(0), ms(20)), (ms(20), ms(40)), (ms(40), ms(60))]),
            3
        );
        assert_eq!(sequential_round_trips(Vec::new()), 0);
    }

    #[test]
    fn rate_limited_replies_carry_the_headers() {
        let r = Reply::rate_limited(Reply::text(500, "slow down"), Some(3));
        assert_eq!(r.status, 429);
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "retry-after" && v == "3")
        );
        let r = Reply::rate_limited(Reply::empty(500), None);
        assert!(!r.headers.iter().any(|(k, _)| k == "retry-after"));
    }
}
