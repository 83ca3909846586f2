//! Requests and answers: what a client asks ([`Request`]), what comes back
//! ([`Response`]), the service's error body, and path segments made safe.

use super::*;

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

pub(super) fn no_error_body(_: &[u8]) -> ErrorBody {
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
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) body: Option<(Vec<u8>, &'static str)>,
    pub(super) headers: HeaderMap,
    pub(super) idempotent: bool,
    /// Whether sending it changes nothing on the service.
    pub(super) read: bool,
    /// How many records it writes (counted in [`TransportStats::writes`]).
    pub(super) writes: u32,
    pub(super) sensitive: bool,
    pub(super) api: Cow<'static, str>,
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

    pub(super) fn is_sensitive(&self) -> bool {
        self.sensitive
    }

    /// The values a sensitive request's body carries (JSON strings, form values)
    /// long enough to be secrets: an error that echoes one has it scrubbed.
    pub(super) fn secrets(&self) -> Arc<[String]> {
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
pub(super) fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_owned(), |text, secret| {
        text.replace(secret.as_str(), "[redacted]")
    })
}

/// A response with its whole body read.
#[derive(Clone)]
pub struct Response {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
    pub(super) request: RequestSummary,
    pub(super) sensitive: bool,
    /// For a sensitive request: the values its body carried, scrubbed from any
    /// error text the service echoes back.
    pub(super) secrets: Arc<[String]>,
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
