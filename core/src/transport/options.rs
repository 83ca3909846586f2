//! The transport's settings ([`TransportOptions`]) and its builder.

use super::*;

/// The setters [`TransportOptions`] and [`TransportBuilder`] share, written
/// once: both hold `retry`, `timeout`, `connect_timeout` and a
/// [`Connection`].
macro_rules! shared_setters {
    () => {
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

        /// Sets the retry policy (see [`RetryPolicy`] for what is retried).
        pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
            self.retry = retry;
            self
        }

        /// Sets the timeout of one attempt, from sending to the end of the
        /// body (default 60 s, ServiceNow's own transaction limit).
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.timeout = timeout;
            self
        }

        /// Sets the connect timeout (default 10 s).
        pub fn connect_timeout(mut self, timeout: Duration) -> Self {
            self.connect_timeout = timeout;
            self
        }

        /// Shares `budget` with every other client holding it: each attempt
        /// waits for its turn (none by default).
        pub fn request_budget(mut self, budget: crate::RequestBudget) -> Self {
            self.connection.budget = Some(budget);
            self
        }

        /// Sets the largest response body read (default
        /// [`DEFAULT_MAX_BODY_BYTES`], 64 MiB, counted after decompression): a
        /// longer one stops reading at the limit with [`Error::BodyTooLarge`].
        pub fn max_body_bytes(mut self, limit: u64) -> Self {
            self.connection.max_body_bytes = limit;
            self
        }

        /// Asks for compressed answers (`Accept-Encoding: gzip, deflate, br`)
        /// and decompresses them (on by default).
        pub fn compression(mut self, on: bool) -> Self {
            self.connection.compression = on;
            self
        }

        /// Keeps the session cookies the service sets and sends them back, per
        /// client and credential, as RFC 6265 says (on by default): ServiceNow
        /// otherwise opens a new session for every Basic-auth request. They are
        /// dropped on a 401, before the credential is renewed, and never sent
        /// by token requests.
        pub fn session_cookies(mut self, on: bool) -> Self {
            self.connection.session_cookies = on;
            self
        }
    };
}

/// The transport settings a client builder exposes: retries, timeouts, the
/// `User-Agent` suffix, the body limit, compression and session cookies.
#[derive(Clone, Debug)]
pub struct TransportOptions {
    pub(super) retry: RetryPolicy,
    pub(super) timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) user_agent_suffix: Option<String>,
    pub(super) connection: Connection,
}

/// The default limit of a response body: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// How the connection to the service is made and read: the body limit,
/// compression, session cookies, a proxy, TLS roots and identity. Held by
/// [`TransportOptions`] and [`TransportBuilder`] alike, its defaults set here once.
#[derive(Clone, Debug)]
pub(super) struct Connection {
    pub(super) max_body_bytes: u64,
    pub(super) compression: bool,
    pub(super) session_cookies: bool,
    pub(super) proxy: Option<crate::Proxy>,
    pub(super) tls: crate::tls::TlsSettings,
    pub(super) budget: Option<crate::RequestBudget>,
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
    shared_setters!();

    /// Sends every request through `proxy` (instead of what `HTTPS_PROXY`,
    /// `HTTP_PROXY` and `NO_PROXY` say, which are honoured otherwise).
    pub fn proxy(mut self, proxy: crate::Proxy) -> Self {
        self.connection.proxy = Some(proxy);
        self
    }

    /// Appends a product token to the `User-Agent` (for example `my-service/1.2`).
    pub fn user_agent_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.user_agent_suffix = Some(suffix.into());
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
pub(super) struct Counters {
    pub(super) attempts: std::sync::atomic::AtomicU64,
    pub(super) retries: std::sync::atomic::AtomicU64,
    pub(super) renewals: std::sync::atomic::AtomicU64,
    pub(super) writes: std::sync::atomic::AtomicU64,
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
    pub(super) origin: Origin,
    pub(super) authenticator: Arc<dyn Authenticator>,
    pub(super) retry: RetryPolicy,
    pub(super) connect_timeout: Duration,
    pub(super) timeout: Duration,
    pub(super) user_agent: String,
    pub(super) error_parser: ErrorBodyParser,
    pub(super) service: &'static str,
    pub(super) connection: Connection,
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
    shared_setters!();

    /// Sets every connection setting at once.
    pub(super) fn connection(mut self, connection: Connection) -> Self {
        self.connection = connection;
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
