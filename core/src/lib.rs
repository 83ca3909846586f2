#![doc = include_str!("../README.md")]
//!
//! # Guide
//!
//! Both clients talk to one origin over HTTPS with JSON, both need the same retry
//! behaviour, the same typed errors and the same care with secrets, and both get
//! OAuth 2.0 tokens from a token endpoint; the OpenFrame model needs the same
//! origin rules without any HTTP. This crate is that one piece. Without the
//! `client` feature it holds only [`origin`] and [`wire`] (no HTTP stack).
//!
//! | module | feature | what it holds |
//! |---|---|---|
//! | [`origin`] | | [`Origin`]: `https://host[:port]`, bare names expanded, http for loopback only |
//! | [`wire`] | | serde helpers for values sent as strings (`"true"`, `"1800"`) |
//! | [`transport`] | `client` | [`Transport`] and [`Request`]: one `reqwest` client, retry loop, 401 renewal, redirects (GET/HEAD, same origin), body limit, compression, session cookies, tracing spans |
//! | [`tls`] | `client` + `rustls` or `native-tls` | the TLS backend, chosen at compile time (none is a compile error) |
//! | [`retry`] | `client` | [`RetryPolicy`]: attempts, exponential backoff with jitter, `Retry-After`, deadline |
//! | [`auth`] | `client` | [`Authenticator`]: basic, bearer, and the OAuth [`TokenCache`] (single-flight renewal) |
//! | [`oauth`] | `client` | [`TokenEndpoint`]: password, refresh-token and client-credentials grants through `oauth2` |
//! | [`error`] | `client` | [`Error`]: what was asked, what came back; helpers such as [`Error::is_retryable`] |
//!
//! Secrets are held in [`SecretString`] and never reach `Debug`, `Display`, logs or
//! errors: credentials become header values marked sensitive, and bodies of
//! requests marked [`Request::sensitive`] are never quoted.
//!
//! ```no_run
//! # #[cfg(feature = "client")]
//! # async fn demo() -> bpsn_core::Result<()> {
//! use bpsn_core::{Origin, Request, Transport};
//! let origin = Origin::parse("https://example.org").unwrap();
//! let transport = Transport::builder(origin).service("example").build()?;
//! let response = transport.send(Request::get("/api/ping").query("verbose", "true")).await?;
//! let value: serde_json::Value = response.json()?;
//! # let _ = value; Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod origin;
pub mod wire;

#[cfg(feature = "client")]
pub mod auth;
#[cfg(feature = "client")]
pub mod budget;
#[cfg(feature = "client")]
pub mod error;
#[cfg(feature = "client")]
pub mod oauth;
#[cfg(feature = "client")]
pub mod proxy;
#[cfg(feature = "client")]
pub mod redact;
#[cfg(feature = "client")]
pub mod retry;

pub mod settings;
#[cfg(feature = "client")]
pub mod tls;
#[cfg(feature = "client")]
pub mod transport;

pub use origin::{BRIGHT_PATTERN_DOMAIN, Origin, OriginError, SERVICE_NOW_DOMAIN};

#[cfg(feature = "client")]
pub use auth::{
    Anonymous, ApiKeyAuth, Authenticator, BasicAuth, BearerAuth, Credential, Token, TokenCache,
    TokenSource,
};
#[cfg(feature = "client")]
pub use budget::{BudgetStats, RequestBudget};
#[cfg(feature = "client")]
pub use error::{
    ApiError, AuthenticationError, DecodeError, Error, InvalidInput, RateLimited, RedirectRefused,
    RequestSummary, Result,
};
#[cfg(feature = "client")]
pub use oauth::{LenientTokenResponse, TokenEndpoint};
#[cfg(feature = "client")]
pub use proxy::Proxy;
#[cfg(feature = "client")]
pub use retry::RetryPolicy;
#[cfg(feature = "client")]
pub use secrecy::{ExposeSecret, SecretString};
#[cfg(feature = "client")]
pub use tls::{ClientIdentity, RootCertificates, TlsProblem};
#[cfg(feature = "client")]
pub use transport::{
    ErrorBody, ErrorBodyParser, Request, Response, Transport, TransportBuilder, TransportOptions,
    TransportStats,
};
