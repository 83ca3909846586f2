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

/// Percent-encodes one path segment (a login, an account name, a table name,
/// a sys_id), so it cannot add segments, a query or a fragment to the path it
/// is put in — the one function every name that goes into a URL path passes
/// through.
///
/// An empty segment, `.` and `..` are refused with [`Error::InvalidInput`]
/// before any request is made: a URL parser (or a server) collapses them, so
/// `/item/..` would name the collection above the item (a `DELETE` of a
/// whole collection). Percent-encoded forms of them (`%2e`) are encoded
/// again, so they stay literal.
///
/// ```
/// use bpsn_core::transport::path_segment;
/// assert_eq!(path_segment("a b/c?d").unwrap(), "a%20b%2Fc%3Fd");
/// assert_eq!(path_segment("%2e%2e").unwrap(), "%252e%252e");
/// for bad in ["", ".", ".."] {
///     assert!(path_segment(bad).is_err(), "{bad:?}");
/// }
/// ```
pub fn path_segment(segment: &str) -> Result<String> {
    if matches!(segment, "" | "." | "..") {
        return Err(InvalidInput::new(
            "path segment",
            format!(
                "{segment:?} cannot name a record in a URL path (empty, `.` and `..` collapse the path)"
            ),
        )
        .into());
    }
    let mut url = url::Url::parse("http://segment.invalid/").expect("static URL");
    url.path_segments_mut()
        .expect("http URLs have paths")
        .push(segment);
    Ok(url.path()[1..].to_owned())
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
    /// Whether sending it changes nothing on the service.
    read: bool,
    /// How many records it writes (counted in [`TransportStats::writes`]).
    writes: u32,
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
            .field("read", &self.read)
            .field("writes", &self.writes)
            .field("sensitive", &self.sensitive)
            .finish()
    }
}

impl Request {
    /// A request for `path` (which starts with `/` and may carry a query) on the
    /// transport's origin. GET, HEAD, PUT, PATCH, DELETE and OPTIONS are treated as
    /// idempotent (a PATCH here sets fields to values, so repeating it is harmless);
    /// POST is not. GET, HEAD and OPTIONS are reads ([`Request::is_read`]).
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let idempotent = method != Method::POST;
        let read = matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            headers: HeaderMap::new(),
            idempotent,
            read,
            writes: u32::from(!read),
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

    /// Marks a request whose method is not a read as one that changes nothing
    /// on the service (a POST carrying a batch of GETs), so that a
    /// [read-only](Transport::read_only) transport sends it.
    pub fn changes_nothing(mut self) -> Self {
        self.read = true;
        self.writes = 0;
        self
    }

    /// How many records the request writes, when it is not one (a batch of
    /// 100 creates writes 100): what [`TransportStats::writes`] adds when it is
    /// sent. A request that is not a read counts 1 unless told otherwise.
    pub fn counting_writes(mut self, writes: u32) -> Self {
        self.writes = writes;
        self
    }

    /// Whether sending the request changes nothing on the service: a GET, HEAD
    /// or OPTIONS, or a request marked with [`Request::changes_nothing`].
    pub fn is_read(&self) -> bool {
        self.read
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

    /// The values a sensitive request's body carries (JSON strings, form values)
    /// long enough to be secrets: an error that echoes one has it scrubbed.
    fn secrets(&self) -> Arc<[String]> {
        const SHORTEST: usize = 8;
        let Some((body, content_type)) = self.body.as_ref().filter(|_| self.sensitive) else {
            return Arc::from(Vec::new());
        };
        let mut found = Vec::new();
        if *content_type == "application/json" {
            fn walk(value: &serde_json::Value, found: &mut Vec<String>) {
                match value {
                    serde_json::Value::String(s) if s.len() >= SHORTEST => found.push(s.clone()),
                    serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
                    serde_json::Value::Object(map) => map.values().for_each(|v| walk(v, found)),
                    _ => {}
                }
            }
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
                walk(&value, &mut found);
            }
        } else {
            found.extend(
                url::form_urlencoded::parse(body)
                    .map(|(_, v)| v.into_owned())
                    .filter(|v| v.len() >= SHORTEST),
            );
        }
        Arc::from(found)
    }
}

/// What replaces text a sensitive request's error would otherwise show.
pub const REDACTED: &str = "[redacted: the request carried secrets]";

/// `text` with every one of `secrets` replaced by `[redacted]`.
fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_owned(), |text, secret| {
        text.replace(secret.as_str(), "[redacted]")
    })
}

/// A response with its whole body read.
#[derive(Clone)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    request: RequestSummary,
    sensitive: bool,
    /// For a sensitive request: the values its body carried, scrubbed from any
    /// error text the service echoes back.
    secrets: Arc<[String]>,
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
            reason: crate::redact::scrub_owned(reason.into()),
            body_snippet: (!self.sensitive).then(|| snippet(&self.body)),
        }))
    }

    /// A protocol error about this response.
    pub fn protocol_error(&self, reason: impl Into<String>) -> Error {
        Error::Protocol {
            request: self.request.clone(),
            // It may quote what the service sent.
            reason: crate::redact::scrub_owned(reason.into()),
        }
    }
}

/// The transport settings a client builder exposes: retries, timeouts, the
/// `User-Agent` suffix, the body limit, compression and session cookies.
#[derive(Clone, Debug)]
pub struct TransportOptions {
    retry: RetryPolicy,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent_suffix: Option<String>,
    connection: Connection,
}

/// The default limit of a response body: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// How the connection to the service is made and read: the body limit,
/// compression, session cookies, a proxy, TLS roots and identity. Held by
/// [`TransportOptions`] and [`TransportBuilder`] alike, its defaults set here once.
#[derive(Clone, Debug)]
struct Connection {
    max_body_bytes: u64,
    compression: bool,
    session_cookies: bool,
    proxy: Option<crate::Proxy>,
    tls: crate::tls::TlsSettings,
    budget: Option<crate::RequestBudget>,
}

impl Default for Connection {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            compression: true,
            session_cookies: true,
            proxy: None,
            tls: crate::tls::TlsSettings::default(),
            budget: None,
        }
    }
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            user_agent_suffix: None,
            connection: Connection::default(),
        }
    }
}

impl TransportOptions {
    /// Trusts these root certificates as well as (or instead of) the platform's.
    pub fn root_certificates(mut self, roots: crate::RootCertificates) -> Self {
        self.connection.tls.roots = Some(roots);
        self
    }

    /// Presents this client certificate when the server asks (mutual TLS).
    pub fn client_identity(mut self, identity: crate::ClientIdentity) -> Self {
        self.connection.tls.identity = Some(identity);
        self
    }

    /// Sends every request through `proxy` (instead of what `HTTPS_PROXY`,
    /// `HTTP_PROXY` and `NO_PROXY` say, which are honoured otherwise).
    pub fn proxy(mut self, proxy: crate::Proxy) -> Self {
        self.connection.proxy = Some(proxy);
        self
    }

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

    /// Shares `budget` with every other client holding it: each attempt waits
    /// for its turn (none by default).
    pub fn request_budget(mut self, budget: crate::RequestBudget) -> Self {
        self.connection.budget = Some(budget);
        self
    }

    /// Sets the largest response body read (default [`DEFAULT_MAX_BODY_BYTES`],
    /// 64 MiB, counted after decompression): a longer one stops reading at the
    /// limit with [`Error::BodyTooLarge`].
    pub fn max_body_bytes(mut self, limit: u64) -> Self {
        self.connection.max_body_bytes = limit;
        self
    }

    /// Asks for compressed answers (`Accept-Encoding: gzip, deflate, br`) and
    /// decompresses them (on by default).
    pub fn compression(mut self, on: bool) -> Self {
        self.connection.compression = on;
        self
    }

    /// Keeps the session cookies the service sets and sends them back, per client
    /// and credential (on by default): ServiceNow otherwise opens a new session
    /// for every Basic-auth request. They are dropped on a 401, before the
    /// credential is renewed, and never sent by token requests.
    pub fn session_cookies(mut self, on: bool) -> Self {
        self.connection.session_cookies = on;
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
        Transport::builder(origin)
            .service(service)
            .user_agent(user_agent)
            .retry_policy(self.retry.clone())
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .connection(self.connection.clone())
    }
}

/// Counters of a transport and every transport derived from it
/// ([`Transport::anonymous`], [`Transport::with_authenticator`]).
#[derive(Debug, Default)]
struct Counters {
    attempts: std::sync::atomic::AtomicU64,
    retries: std::sync::atomic::AtomicU64,
    renewals: std::sync::atomic::AtomicU64,
    writes: std::sync::atomic::AtomicU64,
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
    /// Records the requests that are not reads set out to write: each such
    /// request counts once however often it is attempted, a batch as many as
    /// it carries writes ([`Request::counting_writes`]). Token requests are
    /// not writes. What a report's `writes` is made of.
    pub writes: u64,
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
    connection: Connection,
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
            .field("connection", &self.connection)
            .finish()
    }
}

impl TransportBuilder {
    /// Sets every connection setting at once.
    fn connection(mut self, connection: Connection) -> Self {
        self.connection = connection;
        self
    }

    /// Trusts these root certificates as well as (or instead of) the platform's.
    pub fn root_certificates(mut self, roots: crate::RootCertificates) -> Self {
        self.connection.tls.roots = Some(roots);
        self
    }

    /// Presents this client certificate when the server asks (mutual TLS).
    pub fn client_identity(mut self, identity: crate::ClientIdentity) -> Self {
        self.connection.tls.identity = Some(identity);
        self
    }

    /// Sends every request through `proxy` (`None`: what the environment's
    /// `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` say).
    pub fn proxy(mut self, proxy: Option<crate::Proxy>) -> Self {
        self.connection.proxy = proxy;
        self
    }

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

    /// Shares `budget` with every other client holding it: each attempt waits
    /// for its turn (none by default).
    pub fn request_budget(mut self, budget: crate::RequestBudget) -> Self {
        self.connection.budget = Some(budget);
        self
    }

    /// Sets the largest response body read (default [`DEFAULT_MAX_BODY_BYTES`]).
    pub fn max_body_bytes(mut self, limit: u64) -> Self {
        self.connection.max_body_bytes = limit;
        self
    }

    /// Asks for and decompresses gzip, deflate and brotli answers (default on).
    pub fn compression(mut self, on: bool) -> Self {
        self.connection.compression = on;
        self
    }

    /// Keeps and sends back the service's session cookies (default on).
    pub fn session_cookies(mut self, on: bool) -> Self {
        self.connection.session_cookies = on;
        self
    }

    /// Builds the transport.
    pub fn build(self) -> Result<Transport> {
        let connection = self.connection;
        let mut http = connection
            .tls
            .apply(crate::tls::select(reqwest::Client::builder()))?;
        if let Some(proxy) = &connection.proxy {
            http = http.proxy(proxy.to_reqwest()?);
        }
        let http = http
            .connect_timeout(self.connect_timeout)
            // Redirects are the transport's own business (see `follow`).
            .redirect(reqwest::redirect::Policy::none())
            .gzip(connection.compression)
            .deflate(connection.compression)
            .brotli(connection.compression)
            .build()
            .map_err(|e| InvalidInput::new("HTTP client configuration", e.to_string()))?;
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
                proxy: connection.proxy.as_ref().map(crate::Proxy::host),
                max_body_bytes: connection.max_body_bytes,
                cookies: connection.session_cookies.then(SessionCookies::new_shared),
                session_cookies: connection.session_cookies,
                budget: connection.budget,
                read_only: false,
            }),
        })
    }
}

/// Whether a connection failed because the proxy refused the tunnel for want of
/// credentials (a 407 answer to `CONNECT`, which the HTTP stack reports as
/// "proxy authorization required"). Only that phrase counts: the chain's texts
/// also carry the URL, whose port or path may hold any digits (a port 40755
/// once made an expired certificate look like a proxy refusal).
fn refused_by_proxy(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if says_proxy_wants_credentials(&e.to_string()) {
            return true;
        }
        source = e.source();
    }
    false
}

fn says_proxy_wants_credentials(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("proxy authorization required") || text.contains("proxy authentication required")
}

/// The most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 10;

/// Where a redirect answer may be followed: for GET and HEAD only, to a
/// `Location` within the same origin. Anything else comes back as the answer
/// (and [`Transport::send`] turns it into [`Error::Redirected`]), so neither a
/// body nor a credential is ever sent elsewhere. (The platforms do not redirect
/// API calls; a 3xx comes from something in between, such as an SSO proxy.)
fn follow(
    method: &Method,
    from: &url::Url,
    status: StatusCode,
    headers: &HeaderMap,
) -> Option<url::Url> {
    if !status.is_redirection() || !(method == Method::GET || method == Method::HEAD) {
        return None;
    }
    let target = from.join(header_str(headers, "location")?).ok()?;
    (target.origin() == from.origin()).then_some(target)
}

/// The origin (scheme, host, port) of a redirect's `Location`, for errors: a path
/// or query may carry a token.
fn location_origin(origin: &Origin, headers: &HeaderMap) -> String {
    match header_str(headers, "location").map(|l| origin.url().join(l)) {
        Some(Ok(url)) => url.origin().ascii_serialization(),
        Some(Err(_)) => "an unreadable location".to_owned(),
        None => "(no Location header)".to_owned(),
    }
}

/// A client's session cookies (name → value), kept per credential.
#[derive(Debug, Default)]
struct SessionCookies(std::sync::Mutex<Vec<(String, String)>>);

impl SessionCookies {
    fn new_shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, String)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `Cookie` header to send, when there are cookies.
    fn header(&self) -> Option<HeaderValue> {
        let jar = self.lock();
        if jar.is_empty() {
            return None;
        }
        let text = jar
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::from_str(&text).ok()
    }

    /// Takes in the answer's `Set-Cookie` headers: a cookie set to an empty
    /// value or with `Max-Age` ≤ 0 is removed.
    fn store(&self, headers: &HeaderMap) {
        let mut jar = self.lock();
        for value in headers.get_all(http::header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let mut parts = text.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() {
                continue;
            }
            let expired = value.is_empty()
                || parts.any(|a| {
                    a.trim().split_once('=').is_some_and(|(k, v)| {
                        k.trim().eq_ignore_ascii_case("max-age")
                            && v.trim().parse::<i64>().is_ok_and(|n| n <= 0)
                    })
                });
            jar.retain(|(n, _)| n != name);
            if !expired {
                jar.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn clear(&self) {
        self.lock().clear();
    }
}

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
            if let Some(cookie) = self.inner.cookies.as_ref().and_then(|c| c.header()) {
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
                cookies.store(response.headers());
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

/// Reads an OAuth error body (`{"error": ..., "error_description": ...}`).
fn parse_oauth_error(body: &[u8]) -> Option<ErrorBody> {
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: String,
        error_description: Option<String>,
    }
    let parsed: OAuthError = serde_json::from_slice(body).ok()?;
    Some(ErrorBody {
        message: Some(crate::redact::scrub_owned(parsed.error)),
        detail: parsed.error_description.map(crate::redact::scrub_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::says_proxy_wants_credentials;

    #[test]
    fn only_the_proxy_s_refusal_counts_not_digits_in_the_url() {
        assert!(says_proxy_wants_credentials(
            "client error (Connect): proxy authorization required"
        ));
        assert!(!says_proxy_wants_credentials(
            "error sending request for url (https://localhost:40755/api): invalid peer certificate: Expired"
        ));
    }
}
