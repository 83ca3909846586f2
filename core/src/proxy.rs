//! An HTTP proxy the transport goes through.
//!
//! By default the transport honours `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`
//! (and `ALL_PROXY`) as most tools do; a [`Proxy`] set on a client builder is
//! used instead. A proxy's own refusal (HTTP 407, or a refused `CONNECT`) is
//! [`Error::ProxyAuthentication`](crate::Error::ProxyAuthentication), naming the
//! proxy rather than the service.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::error::InvalidInput;

/// A proxy URL (`http://proxy.example.com:3128`), with credentials held as a
/// secret.
///
/// ```
/// use bpsn_core::Proxy;
/// let proxy = Proxy::new("http://proxy.example.com:3128")
///     .unwrap()
///     .with_credentials("svc-bp", "s3cret".into());
/// assert_eq!(proxy.host(), "proxy.example.com:3128");
/// assert!(!format!("{proxy:?}").contains("s3cret"));
/// assert!(Proxy::new("http://user:pw@proxy:3128").is_err(), "credentials go in with_credentials");
/// ```
#[derive(Clone)]
pub struct Proxy {
    url: url::Url,
    username: Option<String>,
    password: Option<SecretString>,
}

impl Proxy {
    /// A proxy at `url` (http or https scheme, no credentials in the URL).
    pub fn new(url: &str) -> Result<Self, InvalidInput> {
        let parsed = url::Url::parse(url)
            .map_err(|e| InvalidInput::new("proxy URL", format!("{url:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(InvalidInput::new(
                "proxy URL",
                format!("{url:?} must be http:// or https:// with a host"),
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(InvalidInput::new(
                "proxy URL",
                "carries credentials: give them with Proxy::with_credentials, so that the password is held as a secret",
            ));
        }
        Ok(Self {
            url: parsed,
            username: None,
            password: None,
        })
    }

    /// Authenticates to the proxy with Basic credentials (`Proxy-Authorization`).
    pub fn with_credentials(mut self, username: impl Into<String>, password: SecretString) -> Self {
        let username = username.into();
        crate::redact::register_basic(&username, password.expose_secret());
        self.username = Some(username);
        self.password = Some(password);
        self
    }

    /// The proxy's `host:port`, for people.
    pub fn host(&self) -> String {
        match (self.url.host_str(), self.url.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            _ => String::new(),
        }
    }

    /// The HTTP stack's form of it.
    pub(crate) fn to_reqwest(&self) -> Result<reqwest::Proxy, InvalidInput> {
        let proxy = reqwest::Proxy::all(self.url.as_str())
            .map_err(|e| InvalidInput::new("proxy URL", e.to_string()))?;
        Ok(match (&self.username, &self.password) {
            (Some(user), Some(password)) => proxy.basic_auth(user, password.expose_secret()),
            _ => proxy,
        })
    }
}

impl PartialEq for Proxy {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
            && self.username == other.username
            && self.password.as_ref().map(ExposeSecret::expose_secret)
                == other.password.as_ref().map(ExposeSecret::expose_secret)
    }
}

impl Eq for Proxy {}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &self.url.as_str())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}
