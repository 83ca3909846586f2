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

/// The message and detail a service put in an error body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// The main message.
    pub message: Option<String>,
    /// Further detail.
    pub detail: Option<String>,
}

/// Reads a service's error body. Each service has its own format; the parser
/// returns an empty [`ErrorBody`] when the body is not in it.
pub type ErrorBodyParser = fn(&[u8]) -> ErrorBody;

fn no_error_body(_: &[u8]) -> ErrorBody {
    ErrorBody::default()
}

/// Percent-encodes one path segment (a login, an account name), so it cannot
/// add segments, a query or a fragment to the path it is put in.
///
/// ```
/// assert_eq!(bpsn_core::transport::path_segment("a b/c?d"), "a%20b%2Fc%3Fd");
/// ```
pub fn path_segment(segment: &str) -> String {
    let mut url = url::Url::parse("http://segment.invalid/").expect("static URL");
    url.path_segments_mut()
        .expect("http URLs have paths")
        .push(segment);
    url.path()[1..].to_owned()
}

/// One request, described before it is sent (so it can be sent again).
#[derive(Clone)]
pub struct Request {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<(Vec<u8>, &'static str)>,
    headers: HeaderMap,
    idempotent: bool,
    sensitive: bool,
    api: Cow<'static, str>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("body_len", &self.body.as_ref().map(|(b, _)| b.len()))
            .field("idempotent", &self.idempotent)
            .field("sensitive", &self.sensitive)
            .finish()
    }
}

impl Request {
    /// A request for `path` (which starts with `/` and may carry a query) on the
    /// transport's origin. GET, HEAD, PUT, PATCH, DELETE and OPTIONS are treated as
    /// idempotent (a PATCH here sets fields to values, so repeating it is harmless);
    /// POST is not.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let idempotent = method != Method::POST;
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            headers: HeaderMap::new(),
            idempotent,
            sensitive: false,
            api: Cow::Borrowed(""),
        }
    }

    /// A GET request.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// A POST request.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    /// A PATCH request.
    pub fn patch(path: impl Into<String>) -> Self {
        Self::new(Method::PATCH, path)
    }

    /// A PUT request.
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::PUT, path)
    }

    /// A DELETE request.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// Appends a query parameter (encoded when sent).
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Sets a JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| InvalidInput::new("request body", format!("cannot be serialised: {e}")))?;
        self.body = Some((bytes, "application/json"));
        Ok(self)
    }

    /// Sets a raw body with its content type.
    pub fn body(mut self, body: Vec<u8>, content_type: &'static str) -> Self {
        self.body = Some((body, content_type));
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Overrides whether the request may be sent again after a failure that may have
    /// applied it (a timeout, a 503). A batch of reads is idempotent even though it
    /// is a POST.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Marks the request as carrying or returning secrets (token endpoints): bodies
    /// are never quoted in its errors or logs.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Names the API or table the request belongs to, for tracing spans.
    pub fn api(mut self, api: impl Into<Cow<'static, str>>) -> Self {
        self.api = api.into();
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path as given (without the added query parameters).
    pub fn path(&self) -> &str {
        &self.path
    }

    fn is_sensitive(&self) -> bool {
        self.sensitive
    }
}

/// A response with its whole body read.
#[derive(Clone)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    request: RequestSummary,
    sensitive: bool,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("request", &self.request)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Response {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header as text, when present and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_str(&self.headers, name)
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the body.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// What was asked.
    pub fn request(&self) -> &RequestSummary {
        &self.request
    }

    /// Decodes the body as JSON into `T`; a failure quotes a bounded snippet of the
    /// body (never for sensitive requests).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| self.decode_error(e.to_string()))
    }

    /// A decode error about this response.
    pub fn decode_error(&self, reason: impl Into<String>) -> Error {
        Error::Decode(Box::new(DecodeError {
            request: self.request.clone(),
            status: self.status.as_u16(),
            reason: reason.into(),
            body_snippet: (!self.sensitive).then(|| snippet(&self.body)),
        }))
    }

    /// A protocol error about this response.
    pub fn protocol_error(&self, reason: impl Into<String>) -> Error {
        Error::Protocol {
            request: self.request.clone(),
            reason: reason.into(),
        }
    }
}

/// The transport settings a client builder exposes: retries, timeouts, the
/// `User-Agent` suffix, and an optional `reqwest` client of the caller's.
#[derive(Clone, Debug)]
pub struct TransportOptions {
    retry: RetryPolicy,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent_suffix: Option<String>,
    http: Option<reqwest::Client>,
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            user_agent_suffix: None,
            http: None,
        }
    }
}

impl TransportOptions {
    /// Sets the retry policy (see [`RetryPolicy`] for what is retried).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the timeout of one attempt (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the connect timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Appends a product token to the `User-Agent` (for example `my-service/1.2`).
    pub fn user_agent_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.user_agent_suffix = Some(suffix.into());
        self
    }

    /// Uses an existing `reqwest` client (for a custom proxy or root certificates).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// A transport builder for `origin` with these settings; `product` starts the
    /// `User-Agent` (`servicenow-client/0.1.0`).
    pub fn transport_builder(
        &self,
        origin: Origin,
        service: &'static str,
        product: &str,
    ) -> TransportBuilder {
        let user_agent = match &self.user_agent_suffix {
            Some(suffix) => format!("{product} {suffix}"),
            None => product.to_owned(),
        };
        let mut builder = Transport::builder(origin)
            .service(service)
            .user_agent(user_agent)
            .retry_policy(self.retry.clone())
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout);
        if let Some(http) = &self.http {
            builder = builder.http_client(http.clone());
        }
        builder
    }
}

/// Counters of a transport and every transport derived from it
/// ([`Transport::anonymous`], [`Transport::with_authenticator`]).
#[derive(Debug, Default)]
struct Counters {
    attempts: std::sync::atomic::AtomicU64,
    retries: std::sync::atomic::AtomicU64,
    renewals: std::sync::atomic::AtomicU64,
}

/// What a transport has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// HTTP requests sent (every attempt counts).
    pub attempts: u64,
    /// Attempts that were retries after a retryable failure.
    pub retries: u64,
    /// Renewals after a 401 (each followed by one more attempt).
    pub renewals: u64,
}

/// Builds a [`Transport`].
pub struct TransportBuilder {
    origin: Origin,
    authenticator: Arc<dyn Authenticator>,
    retry: RetryPolicy,
    connect_timeout: Duration,
    timeout: Duration,
    user_agent: String,
    error_parser: ErrorBodyParser,
    service: &'static str,
    http: Option<reqwest::Client>,
}

impl fmt::Debug for TransportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportBuilder")
            .field("origin", &self.origin)
            .field("authenticator", &self.authenticator)
            .field("retry", &self.retry)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("service", &self.service)
            .finish()
    }
}

impl TransportBuilder {
    /// Sets how requests are authenticated (anonymous by default).
    pub fn authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.authenticator = authenticator;
        self
    }

    /// Sets the retry policy.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the connect timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the timeout of one attempt, from sending to the end of the body (default
    /// 60 s, ServiceNow's own transaction limit).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Sets how error bodies are read.
    pub fn error_parser(mut self, parser: ErrorBodyParser) -> Self {
        self.error_parser = parser;
        self
    }

    /// Names the service in tracing spans (`servicenow`, `brightpattern`).
    pub fn service(mut self, service: &'static str) -> Self {
        self.service = service;
        self
    }

    /// Uses an existing `reqwest` client (its own timeouts then apply, and
    /// [`connect_timeout`](Self::connect_timeout) is ignored).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the transport.
    pub fn build(self) -> Result<Transport> {
        let http = match self.http {
            Some(client) => client,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .redirect(same_origin_redirects())
                .build()
                .map_err(|e| InvalidInput::new("HTTP client configuration", e.to_string()))?,
        };
        let user_agent = HeaderValue::from_str(&self.user_agent).map_err(|_| {
            InvalidInput::new("user agent", "holds characters a header cannot carry")
        })?;
        Ok(Transport {
            inner: Arc::new(Inner {
                http,
                origin: self.origin,
                authenticator: self.authenticator,
                retry: self.retry,
                timeout: self.timeout,
                user_agent,
                error_parser: self.error_parser,
                service: self.service,
                counters: Arc::new(Counters::default()),
            }),
        })
    }
}

/// Redirects are followed only within the origin of the first request (at most
/// ten): a 3xx towards another origin comes back as the answer, so neither a body
/// nor a credential is ever sent there. (The platforms do not redirect API calls;
/// a 3xx comes from something in between, such as an SSO proxy.)
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(url::Url::origin);
        if attempt.previous().len() > 10 {
            attempt.error("more than ten redirects")
        } else if first.is_some_and(|o| o == attempt.url().origin()) {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

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
    Done(Response),
    Failed(reqwest::Error),
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
            http: None,
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
    /// sending no `Authorization` header (for token endpoints).
    pub fn anonymous(&self) -> Transport {
        self.with_authenticator(Arc::new(Anonymous))
    }

    /// A transport to the same origin, sharing the connection pool and settings,
    /// authenticated by `authenticator`.
    pub fn with_authenticator(&self, authenticator: Arc<dyn Authenticator>) -> Transport {
        Transport {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                origin: self.inner.origin.clone(),
                authenticator,
                retry: self.inner.retry.clone(),
                timeout: self.inner.timeout,
                user_agent: self.inner.user_agent.clone(),
                error_parser: self.inner.error_parser,
                service: self.inner.service,
                counters: self.inner.counters.clone(),
            }),
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
        let started = Instant::now();
        let policy = &self.inner.retry;
        let mut attempt: u32 = 0;
        let mut renewed = false;
        loop {
            attempt += 1;
            let summary = RequestSummary {
                method: request.method.clone(),
                path: path.clone(),
                attempts: attempt,
            };
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
                    if status == StatusCode::UNAUTHORIZED && !renewed {
                        if let Some(sent) = &credential {
                            if self.inner.authenticator.rejected(sent).await {
                                renewed = true;
                                self.inner
                                    .counters
                                    .renewals
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                tracing::debug!(parent: &span, "401: renewing the token and retrying once");
                                continue;
                            }
                        }
                    }
                    let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
                    let allowed = request.idempotent || status == StatusCode::TOO_MANY_REQUESTS;
                    if !(retryable && allowed) {
                        return Ok(response);
                    }
                    let delay = policy.delay(attempt, Some(&response.headers));
                    if !self.can_retry(attempt, started, delay) {
                        return Ok(response);
                    }
                    tracing::warn!(parent: &span, status = status.as_u16(), ?delay, "retrying");
                    delay
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
                                source: error.without_url(),
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
                http::header::AUTHORIZATION,
                credential.header_value().clone(),
            );
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
        let status = response.status();
        let headers = response.headers().clone();
        match response.bytes().await {
            Ok(body) => {
                tracing::debug!(status = status.as_u16(), bytes = body.len(), "response");
                Attempt::Done(Response {
                    status,
                    headers,
                    body: body.to_vec(),
                    request: summary,
                    sensitive: request.is_sensitive(),
                })
            }
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
        let parsed = (self.inner.error_parser)(&response.body);
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

/// Reads an OAuth error body (`{"error": ..., "error_description": ...}`).
fn parse_oauth_error(body: &[u8]) -> Option<ErrorBody> {
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: String,
        error_description: Option<String>,
    }
    let parsed: OAuthError = serde_json::from_slice(body).ok()?;
    Some(ErrorBody {
        message: Some(parsed.error),
        detail: parsed.error_description,
    })
}
