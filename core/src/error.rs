//! The one error type of both clients.
//!
//! Every variant that comes from a request carries a [`RequestSummary`]: the method,
//! the path (never the host's credentials, never a body) and how many attempts were
//! made. Bodies are quoted only in bounded snippets, and never for requests marked
//! sensitive (token endpoints), so a secret cannot reach an error message.

use std::fmt;
use std::time::{Duration, SystemTime};

/// A result whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The longest body snippet quoted in an error, in characters.
pub const SNIPPET_CHARS: usize = 256;

/// What was asked, of which host: method, host, path (with query) and the number
/// of attempts made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSummary {
    /// The HTTP method.
    pub method: http::Method,
    /// The host (and port, when not the scheme's default) the request went to;
    /// empty when it is not known.
    pub host: String,
    /// The path and query of the request, relative to the service origin.
    pub path: String,
    /// How many times the request was sent (1 when it was not retried; 0 when
    /// it was refused before being sent).
    pub attempts: u32,
}

impl RequestSummary {
    /// A summary of a request to `origin` not sent through a transport (a
    /// batch item, a step of a longer exchange).
    pub fn new(method: http::Method, origin: &crate::Origin, path: impl Into<String>) -> Self {
        Self {
            method,
            host: host_of(origin),
            path: path.into(),
            attempts: 1,
        }
    }
}

/// `host[:port]` of an origin.
pub(crate) fn host_of(origin: &crate::Origin) -> String {
    let url = origin.url();
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => String::new(),
    }
}

impl RequestSummary {
    /// The request for the end of a message about its host: the method and the
    /// path with its query left out (it can be long and percent-encoded), and
    /// the attempts (`GET /api/now/table/sys_properties?…, 4 attempts`).
    pub fn brief(&self) -> String {
        let path = match self.path.split_once('?') {
            Some((path, _)) => format!("{path}?…"),
            None => self.path.clone(),
        };
        match self.attempts {
            0 | 1 => format!("{} {path}", self.method),
            n => format!("{} {path}, {n} attempts", self.method),
        }
    }
}

impl fmt::Display for RequestSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if !self.host.is_empty() {
            write!(f, " on {}", self.host)?;
        }
        if self.attempts > 1 {
            write!(f, " ({} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

/// The details of an error answer from the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// What was asked.
    pub request: RequestSummary,
    /// The HTTP status.
    pub status: u16,
    /// The service's message (ServiceNow: `error.message`), if it gave one.
    pub message: Option<String>,
    /// The service's detail (ServiceNow: `error.detail`; Bright Pattern: the offending
    /// property when the body names it), if it gave one.
    pub detail: Option<String>,
    /// A bounded snippet of the body when it could not be read as the service's error
    /// format (for example an HTML page from a proxy).
    pub body_snippet: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} answered HTTP {}", self.request, self.status)?;
        // The service's text, scrubbed again of every secret registered since.
        let clean = |t: &str| crate::redact::scrub(t).into_owned();
        match (&self.message, &self.detail) {
            (Some(m), Some(d)) => write!(f, ": {} ({})", clean(m), clean(d))?,
            (Some(m), None) => write!(f, ": {}", clean(m))?,
            (None, Some(d)) => write!(f, ": {}", clean(d))?,
            (None, None) => {}
        }
        if let Some(snippet) = &self.body_snippet {
            write!(f, "; body starts: {:?}", clean(snippet))?;
        }
        Ok(())
    }
}

/// A 429 answer, with what the service said about its rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    /// What was asked.
    pub request: RequestSummary,
    /// `Retry-After`, when given.
    pub retry_after: Option<Duration>,
    /// `X-RateLimit-Limit`, when given.
    pub limit: Option<u64>,
    /// `X-RateLimit-Reset` (UNIX seconds), when given.
    pub reset: Option<SystemTime>,
    /// `X-RateLimit-Rule`, when given.
    pub rule: Option<String>,
    /// The service's message, when it gave one.
    pub message: Option<String>,
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} was rate limited (HTTP 429)", self.request)?;
        if let Some(rule) = &self.rule {
            write!(f, " by rule {rule:?}")?;
        }
        if let Some(limit) = self.limit {
            write!(f, ", limit {limit}")?;
        }
        if let Some(after) = self.retry_after {
            write!(f, ", retry after {}s", after.as_secs())?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {}", crate::redact::scrub(m))?;
        }
        Ok(())
    }
}

/// An authentication failure: a rejected credential or a failed token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationError {
    /// What was asked (the API call, or the token request).
    pub request: RequestSummary,
    /// The HTTP status, when an answer came back.
    pub status: Option<u16>,
    /// The OAuth error code or the service's message.
    pub error: String,
    /// The OAuth `error_description`, when given.
    pub description: Option<String>,
    /// What usually causes this failure, for the person reading the error.
    pub hint: Option<String>,
}

impl fmt::Display for AuthenticationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "authentication failed for {}", self.request)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        write!(f, ": {}", crate::redact::scrub(&self.error))?;
        if let Some(d) = &self.description {
            write!(f, ": {}", crate::redact::scrub(d))?;
        }
        if let Some(h) = &self.hint {
            write!(f, ". {h}")?;
        }
        Ok(())
    }
}

/// A response that could not be decoded into the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What was asked.
    pub request: RequestSummary,
    /// The HTTP status of the response.
    pub status: u16,
    /// What the decoder said.
    pub reason: String,
    /// A bounded snippet of the body; `None` for sensitive requests.
    pub body_snippet: Option<String>,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not decode the answer to {} (HTTP {}): {}",
            self.request,
            self.status,
            crate::redact::scrub(&self.reason)
        )?;
        match &self.body_snippet {
            Some(s) => write!(f, "; body starts: {:?}", crate::redact::scrub(s)),
            None => write!(f, "; body withheld (sensitive request)"),
        }
    }
}

/// Why a redirect answer was not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectRefused {
    /// The request was not a GET or HEAD: a body is never sent again elsewhere.
    NotGetOrHead,
    /// The location is on another origin.
    OtherOrigin,
    /// More redirects than the transport follows ([`MAX_REDIRECTS`](crate::transport::MAX_REDIRECTS)).
    TooMany,
}

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RedirectRefused::NotGetOrHead => {
                "only GET and HEAD follow redirects, so the body is never sent again"
            }
            RedirectRefused::OtherOrigin => {
                "redirects are followed only within the service's origin"
            }
            RedirectRefused::TooMany => "too many redirects",
        })
    }
}

/// Input rejected before any request was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {reason}")]
pub struct InvalidInput {
    /// What was being checked (`field name`, `query value`, `sys_id`, ...).
    pub what: String,
    /// Why it was rejected, quoting the offending input when it is not secret.
    pub reason: String,
}

impl InvalidInput {
    /// Builds an invalid-input description.
    pub fn new(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// Everything that can go wrong in a call of `servicenow-client` or
/// `brightpattern-client`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller's input was rejected before any request was sent.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The service answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The service answered 429 and retrying was not possible within the policy.
    #[error("{0}")]
    RateLimited(Box<RateLimited>),
    /// Credentials were rejected, or a token could not be obtained.
    #[error("{0}")]
    Authentication(Box<AuthenticationError>),
    /// The service does not offer this endpoint (404, 405 or 501 on a path the
    /// service's public documentation does not list).
    #[error("{request} is not offered by this service (HTTP {status}){}", hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    EndpointUnavailable {
        /// What was asked.
        request: RequestSummary,
        /// The status that said so.
        status: u16,
        /// What the caller can do about it.
        hint: Option<String>,
    },
    /// The service answered with a redirect that was not followed: redirects are
    /// followed only for GET and HEAD, and only within the service origin, so
    /// nothing (no body, no credential) was sent to the location.
    #[error(
        "{request} was answered with a redirect (HTTP {status}) to {location}, which was not followed: {reason}; nothing was sent there"
    )]
    Redirected {
        /// What was asked.
        request: RequestSummary,
        /// The 3xx status.
        status: u16,
        /// The origin of the `Location` (scheme, host and port only: a path or
        /// query may carry tokens), or `(none)`.
        location: String,
        /// Why it was not followed.
        reason: RedirectRefused,
    },
    /// A response body was larger than the client's limit; reading stopped at
    /// the limit.
    #[error(
        "{request}: the answer's body exceeds the limit of {limit} bytes (HTTP {status}); reading stopped there (raise it with the client builder's max_body_bytes)"
    )]
    BodyTooLarge {
        /// What was asked.
        request: RequestSummary,
        /// The HTTP status of the answer.
        status: u16,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The proxy between the client and the service refused the request (HTTP
    /// 407, or a refused `CONNECT`): its credentials are missing or wrong. The
    /// service was not reached.
    #[error(
        "{request}: the proxy {proxy} refused it (proxy authentication required): give the proxy's user name and password, or check them; the service was not reached"
    )]
    ProxyAuthentication {
        /// What was asked.
        request: RequestSummary,
        /// The proxy (`host:port`), or where it came from.
        proxy: String,
    },
    /// The TLS handshake failed for a known reason (an unknown root, an expired
    /// certificate, another name, a client certificate wanted).
    #[error("TLS with {} failed: {problem} ({})", request.host, request.brief())]
    Tls {
        /// What was asked.
        request: RequestSummary,
        /// Why.
        problem: crate::tls::TlsProblem,
        /// What the TLS library said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The connection failed or broke.
    #[error("could not reach {}: connection failed: {source} ({})", request.host, request.brief())]
    Transport {
        /// What was asked.
        request: RequestSummary,
        /// The underlying error (its causes say what broke: a refused
        /// connection, a TLS failure, a reset), kept opaque so that the HTTP stack
        /// is not part of this crate's API.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The request, or the whole retry sequence, ran out of time.
    #[error("{} did not answer in time: timed out after {elapsed:?} ({})", request.host, request.brief())]
    Timeout {
        /// What was asked.
        request: RequestSummary,
        /// How long was spent before giving up.
        elapsed: Duration,
    },
    /// A response could not be decoded.
    #[error("{0}")]
    Decode(Box<DecodeError>),
    /// The service broke its own protocol (a paging loop, a missing field).
    #[error("{request}: {reason}")]
    Protocol {
        /// What was asked.
        request: RequestSummary,
        /// What was wrong.
        reason: String,
    },
    /// A long-running operation (a plugin activation) ended in failure.
    #[error("{operation} ended {state}{}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default(), detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    OperationFailed {
        /// What was being done (`activation of com.sn_openframe`).
        operation: String,
        /// The final state the service reported (`Failed`, `Canceled`).
        state: String,
        /// The service's status message.
        message: Option<String>,
        /// The service's status detail or error text.
        detail: Option<String>,
    },
    /// Waiting for a long-running operation went past its deadline; the operation
    /// may still finish on the service.
    #[error(
        "{operation} was still {last_state} after {waited:?}; it may still finish on the instance"
    )]
    DeadlineExceeded {
        /// What was being waited for.
        operation: String,
        /// How long was waited.
        waited: Duration,
        /// The last state seen (`Pending`, `Running 40%`).
        last_state: String,
    },
    /// Waiting went past its deadline while the operation was still queued on the
    /// service (behind an instance lock, since Tokyo): it has not failed, and it
    /// keeps running there; ServiceNow cancels queued operations only after 48 hours
    /// by default.
    #[error(
        "{operation} is still queued on the instance after {waited:?} (not failed; progress id {progress_id}): it keeps running there; check it later or raise the wait deadline"
    )]
    StillQueued {
        /// What was being waited for.
        operation: String,
        /// The CI/CD progress id to look it up by.
        progress_id: String,
        /// How long was waited.
        waited: Duration,
    },
    /// A record the call needs does not exist (an unknown user, a missing role).
    #[error("no {table} record with {key}")]
    MissingRecord {
        /// The table searched.
        table: String,
        /// The natural key looked for (`user_name=bob`).
        key: String,
    },
    /// A query that must match at most one record matched several.
    #[error("{request}: expected at most one record, found {found} or more")]
    TooManyMatches {
        /// What was asked.
        request: RequestSummary,
        /// How many records were seen (the search stops at 2).
        found: usize,
    },
    /// The batch request carrying this item failed as a whole (a timeout, a broken
    /// connection, an error status): the item may or may not have been applied.
    #[error(
        "batch item `{item_id}`: the batch request failed, so the item may or may not have been applied: {source}"
    )]
    BatchFailed {
        /// The item's id.
        item_id: String,
        /// Why the batch request failed (shared by every item of that batch).
        #[source]
        source: std::sync::Arc<Error>,
    },
    /// A [read-only](crate::Transport::read_only) client was asked to send a
    /// request that would change something; nothing was sent.
    #[error(
        "{request} was not sent: this client only reads (it serves a preview), and the request would change something"
    )]
    ReadOnly {
        /// What was asked (never sent: `attempts` is 0).
        request: RequestSummary,
    },
    /// A read-modify-write of a shared value (a comma-separated list property)
    /// lost its change each time: written, then read back without it, because
    /// another writer changed the value at the same moment.
    #[error(
        "{what}: the change was written and then missing when read back, {attempts} times (another writer changes it at the same moment); it was not tried again"
    )]
    LostUpdate {
        /// What was changed (`the entry https://x of property p`).
        what: String,
        /// How many times it was written.
        attempts: u32,
    },
    /// A batched request was not serviced: the batch stopped before reaching it.
    #[error(
        "batch item `{item_id}` was not serviced (batch `{batch_id}` stopped before it); it was not applied and may be sent again"
    )]
    BatchItemUnserviced {
        /// The batch's id.
        batch_id: String,
        /// The item's id.
        item_id: String,
    },
}

impl Error {
    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::RateLimited(_) => Some(429),
            Error::Authentication(e) => e.status,
            Error::EndpointUnavailable { status, .. }
            | Error::Redirected { status, .. }
            | Error::BodyTooLarge { status, .. } => Some(*status),
            Error::Decode(e) => Some(e.status),
            _ => None,
        }
    }

    /// What was asked, when the error comes from a request.
    pub fn request(&self) -> Option<&RequestSummary> {
        match self {
            Error::Api(e) => Some(&e.request),
            Error::RateLimited(e) => Some(&e.request),
            Error::Authentication(e) => Some(&e.request),
            Error::Decode(e) => Some(&e.request),
            Error::EndpointUnavailable { request, .. }
            | Error::Redirected { request, .. }
            | Error::BodyTooLarge { request, .. }
            | Error::ProxyAuthentication { request, .. }
            | Error::Tls { request, .. }
            | Error::Transport { request, .. }
            | Error::Timeout { request, .. }
            | Error::Protocol { request, .. }
            | Error::ReadOnly { request }
            | Error::TooManyMatches { request, .. } => Some(request),
            Error::BatchFailed { source, .. } => source.request(),
            Error::InvalidInput(_)
            | Error::BatchItemUnserviced { .. }
            | Error::OperationFailed { .. }
            | Error::DeadlineExceeded { .. }
            | Error::StillQueued { .. }
            | Error::MissingRecord { .. }
            | Error::LostUpdate { .. } => None,
        }
    }

    /// Whether trying the same call again later may succeed (rate limits, overload,
    /// timeouts, broken connections, unserviced batch items).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::RateLimited(_)
            | Error::Timeout { .. }
            | Error::Transport { .. }
            | Error::BatchItemUnserviced { .. } => true,
            Error::Api(e) => matches!(e.status, 502..=504),
            Error::BatchFailed { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// Whether the service said the object does not exist (HTTP 404; on ServiceNow a
    /// 404 also means "hidden from you by an ACL"), or a record the call needed was
    /// missing ([`Error::MissingRecord`]).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api(e) if e.status == 404)
            || matches!(self, Error::MissingRecord { .. })
    }

    /// Whether the service reported a conflict (HTTP 409, a duplicate).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Api(e) if e.status == 409)
    }

    /// Whether the service refused the caller's rights (HTTP 403).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Error::Api(e) if e.status == 403)
    }

    /// Whether credentials were rejected or a token could not be obtained.
    pub fn is_authentication(&self) -> bool {
        matches!(self, Error::Authentication(_))
    }

    /// Whether the service does not offer the endpoint at all.
    pub fn is_endpoint_unavailable(&self) -> bool {
        matches!(self, Error::EndpointUnavailable { .. })
    }

    /// The delay the service asked for, on a rate-limited answer.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited(e) => e.retry_after,
            _ => None,
        }
    }
}

/// Cuts `body` to at most [`SNIPPET_CHARS`] characters of (lossy) UTF-8,
/// scrubbed of every registered secret first ([`crate::redact`]), so that a
/// cut never leaves part of one.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = crate::redact::scrub(&text);
    let mut out: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().nth(SNIPPET_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> RequestSummary {
        RequestSummary {
            method: http::Method::GET,
            host: "dev12345.service-now.com".into(),
            path: "/api/now/table/sys_user".into(),
            attempts: 3,
        }
    }

    #[test]
    fn api_error_says_what_was_asked_and_what_came_back() {
        let e = Error::Api(Box::new(ApiError {
            request: summary(),
            status: 403,
            message: Some("User Not Authorized".into()),
            detail: Some("Required to provide Auth information".into()),
            body_snippet: None,
        }));
        assert_eq!(
            e.to_string(),
            "GET /api/now/table/sys_user on dev12345.service-now.com (3 attempts) answered HTTP 403: User Not Authorized (Required to provide Auth information)"
        );
        assert!(e.is_forbidden());
        assert!(!e.is_retryable());
        assert_eq!(e.status(), Some(403));
    }

    #[test]
    fn snippet_is_bounded() {
        let body = "x".repeat(10_000);
        let s = snippet(body.as_bytes());
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 1);
        assert_eq!(snippet(b"short"), "short");
    }

    #[test]
    fn helpers_classify() {
        let rl = Error::RateLimited(Box::new(RateLimited {
            request: summary(),
            retry_after: Some(Duration::from_secs(7)),
            limit: Some(100),
            reset: None,
            rule: Some("per-user".into()),
            message: None,
        }));
        assert!(rl.is_retryable());
        assert_eq!(rl.retry_after(), Some(Duration::from_secs(7)));
        assert!(rl.to_string().contains("rule \"per-user\""));
        let nf = Error::Api(Box::new(ApiError {
            request: summary(),
            status: 404,
            message: None,
            detail: None,
            body_snippet: None,
        }));
        assert!(nf.is_not_found());
        assert!(!nf.is_conflict());
    }
}
