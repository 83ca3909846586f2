//! The HTTP layer shared by `servicenow-client` and `brightpattern-client`.
//!
//! Both clients talk to one origin over HTTPS with JSON, both need the same retry
//! behaviour, the same typed errors and the same care with secrets, and both get
//! OAuth 2.0 tokens from a token endpoint. This crate is that one piece:
//!
//! | module | what it holds |
//! |---|---|
//! | [`origin`] | [`Origin`]: `https://host[:port]`, bare names expanded, http for loopback only |
//! | [`transport`] | [`Transport`] and [`Request`]: one `reqwest` client, retry loop, 401 renewal, tracing spans |
//! | [`retry`] | [`RetryPolicy`]: attempts, exponential backoff with jitter, `Retry-After`, deadline |
//! | [`auth`] | [`Authenticator`]: basic, bearer, and the OAuth [`TokenCache`] (single-flight renewal) |
//! | [`oauth`] | [`TokenEndpoint`]: password, refresh-token and client-credentials grants through `oauth2` |
//! | [`error`] | [`Error`]: what was asked, what came back; helpers such as [`Error::is_retryable`] |
//! | [`wire`] | serde helpers for values sent as strings (`"true"`, `"1800"`) |
//!
//! Secrets are held in [`SecretString`] and never reach `Debug`, `Display`, logs or
//! errors: credentials become header values marked sensitive, and bodies of
//! requests marked [`Request::sensitive`] are never quoted.
//!
//! ```no_run
//! # async fn demo() -> bpsn_transport::Result<()> {
//! use bpsn_transport::{Origin, Request, Transport};
//! let origin = Origin::parse("https://example.org").unwrap();
//! let transport = Transport::builder(origin).service("example").build()?;
//! let response = transport.send(Request::get("/api/ping").query("verbose", "true")).await?;
//! let value: serde_json::Value = response.json()?;
//! # let _ = value; Ok(()) }
//! ```

pub mod auth;
pub mod error;
pub mod oauth;
pub mod origin;
pub mod retry;
pub mod transport;
pub mod wire;

pub use auth::{
    Anonymous, Authenticator, BasicAuth, BearerAuth, Credential, Token, TokenCache, TokenSource,
};
pub use error::{
    ApiError, AuthenticationError, DecodeError, Error, InvalidInput, RateLimited, RequestSummary,
    Result,
};
pub use oauth::{LenientTokenResponse, TokenEndpoint};
pub use origin::{Origin, OriginError};
pub use retry::RetryPolicy;
pub use secrecy::{ExposeSecret, SecretString};
pub use transport::{ErrorBody, ErrorBodyParser, Request, Response, Transport, TransportBuilder};
