//! The HTTP transport: one `reqwest` client, the retry loop, 401 renewal, status
//! mapping and tracing.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use crate::auth::{Anonymous, Authenticator, Credential};
use crate::error::{
    ApiError, AuthenticationError, DecodeError, Error, InvalidInput, RateLimited, RequestSummary,
    Result, snippet,
};
use crate::origin::Origin;
use crate::retry::{RetryPolicy, header_str, rate_limit_reset, retry_after};

mod classify;
mod cookies;
mod options;
mod redirect;
mod request;

use classify::*;
use cookies::*;
pub use options::*;
pub use redirect::MAX_REDIRECTS;
use redirect::*;
pub use request::*;

#[derive(Clone)]
struct Inner {
    http: reqwest::Client,
    origin: Origin,
    authenticator: Arc<dyn Authenticator>,
    retry: RetryPolicy,
    timeout: Duration,
    user_agent: HeaderValue,
    error_parser: ErrorBodyParser,
    service: &'static str,
    counters: Arc<Counters>,
    /// The configured proxy's `host:port`, for errors.
    proxy: Option<String>,
    max_body_bytes: u64,
    /// The session cookies of this transport's credential (none for anonymous
    /// transports, or when switched off).
    cookies: Option<Arc<SessionCookies>>,
    session_cookies: bool,
    /// The requests-per-second budget shared with other clients, if any.
    budget: Option<crate::RequestBudget>,
    /// Refuse every request that is not a read ([`Transport::read_only`]).
    read_only: bool,
}

/// Sends requests to one service origin, with authentication, retries and typed
/// errors. Cheap to clone: clones share the connection pool and token cache.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("service", &self.inner.service)
            .field("origin", &self.inner.origin)
            .field("authenticator", &self.inner.authenticator)
            .field("retry", &self.inner.retry)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

enum Attempt {
    Done(Box<Response>),
    Failed(reqwest::Error),
    /// The body went past the limit (reading stopped there).
    TooLarge {
        status: StatusCode,
        limit: u64,
    },
}

/// Reads a body chunk by chunk into one buffer (sized from `Content-Length` when
/// it is given), stopping as soon as it passes `limit`: `Ok(Err(limit))`.
async fn read_body(
    mut response: reqwest::Response,
    limit: u64,
) -> std::result::Result<std::result::Result<Vec<u8>, u64>, reqwest::Error> {
    let announced = response.content_length().unwrap_or(0);
    if announced > limit {
        return Ok(Err(limit));
    }
    let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    while let Some(chunk) = response.chunk().await? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Ok(Err(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Ok(body))
}

impl Transport {
    /// Starts building a transport for `origin`.
    pub fn builder(origin: Origin) -> TransportBuilder {
        TransportBuilder {
            origin,
            authenticator: Arc::new(Anonymous),
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            user_agent: concat!("bpsn-core/", env!("CARGO_PKG_VERSION")).to_owned(),
            error_parser: no_error_body,
            service: "http",
            connection: Connection::default(),
        }
    }

    /// The service origin.
    pub fn origin(&self) -> &Origin {
        &self.inner.origin
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// A transport to the same origin, sharing the connection pool and settings, but
    /// sending no `Authorization` header and no session cookie (for token
    /// endpoints).
    pub fn anonymous(&self) -> Transport {
        self.derive(Arc::new(Anonymous), None)
    }

    /// A transport to the same origin, sharing the connection pool and settings,
    /// authenticated by `authenticator` (with session cookies of its own).
    pub fn with_authenticator(&self, authenticator: Arc<dyn Authenticator>) -> Transport {
        let cookies = self.inner.session_cookies.then(SessionCookies::new_shared);
        self.derive(authenticator, cookies)
    }

    /// The same transport (credential, session, pool, budget, counters), but
    /// refusing to send any request that is not a [read](Request::is_read):
    /// such a request fails with [`Error::ReadOnly`] before anything leaves the
    /// process. What a preview runs on, so that a code path that would write
    /// cannot.
    pub fn read_only(&self) -> Transport {
        let mut inner = (*self.inner).clone();
        inner.read_only = true;
        Transport {
            inner: Arc::new(inner),
        }
    }

    /// Whether this transport refuses every request but reads.
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    fn derive(
        &self,
        authenticator: Arc<dyn Authenticator>,
        cookies: Option<Arc<SessionCookies>>,
    ) -> Transport {
        let mut inner = (*self.inner).clone();
        inner.authenticator = authenticator;
        inner.cookies = cookies;
        Transport {
            inner: Arc::new(inner),
        }
    }

    /// What this transport (and those derived from it) has done so far.
    pub fn stats(&self) -> TransportStats {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.inner.counters;
        TransportStats {
            attempts: c.attempts.load(Relaxed),
            retries: c.retries.load(Relaxed),
            renewals: c.renewals.load(Relaxed),
            writes: c.writes.load(Relaxed),
        }
    }

    /// Sends the request and returns its response when the status is a success;
    /// any other status becomes an [`Error`].
    pub async fn send(&self, request: Request) -> Result<Response> {
        let response = self.send_raw(request).await?;
        if response.status.is_success() {
            Ok(response)
        } else {
            Err(self.status_error(&response))
        }
    }

    /// Sends the request, retrying as the policy allows, and returns the final
    /// response whatever its status.
    pub async fn send_raw(&self, request: Request) -> Result<Response> {
        let url = self.url_for(&request)?;
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let summary = |attempts| RequestSummary {
            method: request.method.clone(),
            host: crate::error::host_of(&self.inner.origin),
            path: path.clone(),
            attempts,
        };
        if self.inner.read_only && !request.read {
            return Err(Error::ReadOnly {
                request: summary(0),
            });
        }
        if !request.read {
            self.inner.counters.writes.fetch_add(
                u64::from(request.writes),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        let started = Instant::now();
        let policy = &self.inner.retry;
        let mut attempt: u32 = 0;
        let mut renewed = false;
        loop {
            attempt += 1;
            let summary = summary(attempt);
            let credential = self.inner.authenticator.credential().await?;
            let span = tracing::debug_span!(
                "http_request",
                service = self.inner.service,
                api = %request.api,
                method = %request.method,
                path = %url.path(),
                attempt,
                status = tracing::field::Empty,
            );
            self.inner
                .counters
                .attempts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let outcome = self
                .attempt(&request, &url, credential.as_ref(), summary.clone())
                .instrument(span.clone())
                .await;
            let retry_reason = match outcome {
                Attempt::Done(response) => {
                    span.record("status", response.status.as_u16());
                    let status = response.status;
                    if status == StatusCode::UNAUTHORIZED {
                        // The session is no longer good: never send it again.
                        if let Some(cookies) = &self.inner.cookies {
                            cookies.clear();
                        }
                    }
                    if status == StatusCode::UNAUTHORIZED
                        && !renewed
                        && let Some(sent) = &credential
                        && self.inner.authenticator.rejected(sent).await
                    {
                        renewed = true;
                        self.inner
                            .counters
                            .renewals
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::debug!(parent: &span, "401: renewing the token and retrying once");
                        continue;
                    }
                    let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
                    let allowed = request.idempotent || status == StatusCode::TOO_MANY_REQUESTS;
                    if !(retryable && allowed) {
                        return Ok(*response);
                    }
                    let delay = policy.delay(attempt, Some(&response.headers));
                    if !self.can_retry(attempt, started, delay) {
                        return Ok(*response);
                    }
                    tracing::warn!(parent: &span, status = status.as_u16(), ?delay, "retrying");
                    delay
                }
                Attempt::TooLarge { status, limit } => {
                    return Err(Error::BodyTooLarge {
                        request: summary,
                        status: status.as_u16(),
                        limit,
                    });
                }
                Attempt::Failed(error) if refused_by_proxy(&error) => {
                    // The proxy wants credentials: asking again will not help.
                    return Err(Error::ProxyAuthentication {
                        request: summary,
                        proxy: self.proxy_name(),
                    });
                }
                Attempt::Failed(error) if crate::tls::problem_of(&error).is_some() => {
                    // A handshake failure does not heal by asking again.
                    return Err(Error::Tls {
                        request: summary,
                        problem: crate::tls::problem_of(&error).unwrap_or(crate::TlsProblem::Other),
                        source: Box::new(error.without_url()),
                    });
                }
                Attempt::Failed(error) => {
                    // A refused connection never reached the service: safe for any
                    // method. Anything later may have been applied.
                    let allowed = error.is_connect() || request.idempotent;
                    let delay = policy.backoff(attempt);
                    if !(allowed && self.can_retry(attempt, started, delay)) {
                        return Err(if error.is_timeout() {
                            Error::Timeout {
                                request: summary,
                                elapsed: started.elapsed(),
                            }
                        } else {
                            Error::Transport {
                                request: summary,
                                source: Box::new(error.without_url()),
                            }
                        });
                    }
                    tracing::warn!(parent: &span, error = %error.without_url(), ?delay, "retrying");
                    delay
                }
            };
            self.inner
                .counters
                .retries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(retry_reason).await;
        }
    }

    /// The proxy in use, for errors: the configured one, or the environment's.
    fn proxy_name(&self) -> String {
        self.inner
            .proxy
            .clone()
            .unwrap_or_else(|| "named by HTTPS_PROXY / HTTP_PROXY / ALL_PROXY".to_owned())
    }

    fn can_retry(&self, attempt: u32, started: Instant, delay: Duration) -> bool {
        attempt < self.inner.retry.max_attempts()
            && started.elapsed() + delay < self.inner.retry.deadline()
    }

    async fn attempt(
        &self,
        request: &Request,
        url: &url::Url,
        credential: Option<&Credential>,
        summary: RequestSummary,
    ) -> Attempt {
        let mut url = url.clone();
        let mut hops = 0;
        let response = loop {
            if let Some(budget) = &self.inner.budget {
                budget.acquire().await;
            }
            let mut builder = self
                .inner
                .http
                .request(request.method.clone(), url.clone())
                .timeout(self.inner.timeout)
                .header(USER_AGENT, self.inner.user_agent.clone())
                .header(ACCEPT, HeaderValue::from_static("application/json"));
            for (name, value) in &request.headers {
                builder = builder.header(name, value.clone());
            }
            if let Some(credential) = credential {
                builder = builder.header(
                    credential.header_name().clone(),
                    credential.header_value().clone(),
                );
            }
            if let Some(cookie) = self.inner.cookies.as_ref().and_then(|c| c.header(&url)) {
                builder = builder.header(http::header::COOKIE, cookie);
            }
            if let Some((body, content_type)) = &request.body {
                builder = builder
                    .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
                    .body(body.clone());
            }
            let response = match builder.send().await {
                Ok(r) => r,
                Err(e) => return Attempt::Failed(e),
            };
            if let Some(cookies) = &self.inner.cookies {
                cookies.store(response.headers(), &url);
            }
            match follow(&request.method, &url, response.status(), response.headers()) {
                Some(next) if hops < MAX_REDIRECTS => {
                    hops += 1;
                    tracing::debug!(
                        status = response.status().as_u16(),
                        path = next.path(),
                        "following a redirect within the origin"
                    );
                    url = next;
                }
                _ => break response,
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        match read_body(response, self.inner.max_body_bytes).await {
            Ok(Ok(body)) => {
                tracing::debug!(status = status.as_u16(), bytes = body.len(), "response");
                Attempt::Done(Box::new(Response {
                    status,
                    headers,
                    body,
                    request: summary,
                    sensitive: request.is_sensitive(),
                    secrets: request.secrets(),
                }))
            }
            Ok(Err(limit)) => Attempt::TooLarge { status, limit },
            Err(e) => Attempt::Failed(e),
        }
    }

    fn url_for(&self, request: &Request) -> Result<url::Url> {
        let path = &request.path;
        if !path.starts_with('/') || path.starts_with("//") {
            return Err(InvalidInput::new(
                "request path",
                format!("`{path}` must start with a single `/`"),
            )
            .into());
        }
        let mut url = self.inner.origin.join(path).map_err(|e| {
            InvalidInput::new("request path", format!("`{path}` is not a valid path: {e}"))
        })?;
        if url.origin() != self.inner.origin.url().origin() {
            return Err(InvalidInput::new(
                "request path",
                format!("`{path}` leaves the service origin"),
            )
            .into());
        }
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        Ok(url)
    }

    /// Turns a non-success response into the matching [`Error`].
    pub fn status_error(&self, response: &Response) -> Error {
        if response.status.is_redirection() {
            return Error::Redirected {
                request: response.request.clone(),
                status: response.status.as_u16(),
                location: location_origin(&self.inner.origin, &response.headers),
                reason: if response.request.method != Method::GET
                    && response.request.method != Method::HEAD
                {
                    crate::error::RedirectRefused::NotGetOrHead
                } else if follow(
                    &response.request.method,
                    self.inner.origin.url(),
                    response.status,
                    &response.headers,
                )
                .is_some()
                {
                    crate::error::RedirectRefused::TooMany
                } else {
                    crate::error::RedirectRefused::OtherOrigin
                },
            };
        }
        if response.status == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
            return Error::ProxyAuthentication {
                request: response.request.clone(),
                proxy: self.proxy_name(),
            };
        }
        let mut parsed = (self.inner.error_parser)(&response.body);
        // A server may echo the request it got: no secret of the process
        // survives in what it says.
        parsed.message = parsed.message.map(crate::redact::scrub_owned);
        parsed.detail = parsed.detail.map(crate::redact::scrub_owned);
        if response.sensitive {
            // The service may echo the request (a generated secret) in its error:
            // keep the message with any secret scrubbed, never the detail.
            parsed.message = parsed.message.map(|m| scrub(&m, &response.secrets));
            parsed.detail = parsed.detail.map(|_| REDACTED.to_owned());
        }
        let oauth = parse_oauth_error(&response.body);
        let status = response.status.as_u16();
        let snippet_if_unparsed = |parsed: &ErrorBody| {
            (parsed.message.is_none()
                && parsed.detail.is_none()
                && !response.body.is_empty()
                && !response.sensitive)
                .then(|| snippet(&response.body))
        };
        match status {
            429 => Error::RateLimited(Box::new(RateLimited {
                request: response.request.clone(),
                retry_after: retry_after(&response.headers),
                limit: header_str(&response.headers, "x-ratelimit-limit")
                    .and_then(|v| v.parse().ok()),
                reset: rate_limit_reset(&response.headers),
                rule: header_str(&response.headers, "x-ratelimit-rule").map(str::to_owned),
                message: parsed.message,
            })),
            401 => Error::Authentication(Box::new(AuthenticationError {
                request: response.request.clone(),
                status: Some(status),
                error: oauth
                    .as_ref()
                    .map(|o| o.message.clone().unwrap_or_default())
                    .or(parsed.message)
                    .unwrap_or_else(|| "credentials rejected".to_owned()),
                description: oauth.and_then(|o| o.detail).or(parsed.detail),
                hint: None,
            })),
            400 if response.sensitive && oauth.is_some() => {
                let oauth = oauth.unwrap_or_default();
                Error::Authentication(Box::new(AuthenticationError {
                    request: response.request.clone(),
                    status: Some(status),
                    error: oauth.message.unwrap_or_default(),
                    description: oauth.detail,
                    hint: None,
                }))
            }
            _ => {
                let body_snippet = snippet_if_unparsed(&parsed);
                Error::Api(Box::new(ApiError {
                    request: response.request.clone(),
                    status,
                    message: parsed.message,
                    detail: parsed.detail,
                    body_snippet,
                }))
            }
        }
    }
}
