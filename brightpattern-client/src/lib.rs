#![doc = include_str!("../README.md")]
//!
//! # Guide
//!
//! It shares its transport, retry policy, error type, OAuth token cache and secret
//! handling with `servicenow-client`, through `bpsn-core`.
//!
//! | module | what it holds |
//! |---|---|
//! | [`tenant`] | [`TenantUrl`]: a bare tenant name or a full https origin |
//! | [`credentials`] | [`ApiCredentials`]: OAuth 2.0 client credentials against `/configapi/v2/oauth/token` |
//! | [`client`] | [`Client`] and its builder |
//! | [`users`] | Configuration API users (skills as a map, the documented updatable fields), their lockout and unlock |
//! | [`teams`] | Configuration API teams |
//! | [`integration_accounts`] | ServiceNow integration accounts (not in Bright Pattern's published API: call only on purpose): list, create, replace, delete, request refresh token, test connection |
//! | [`agent_desktop`] | whether an Agent Desktop URL exists on the tenant (a GET without credentials) |
//! | [`error`] | [`Error`] and how the tenant's sparse error bodies are read |
//!
//! ```no_run
//! use brightpattern_client::{ApiCredentials, Client, TenantUrl};
//!
//! # async fn run() -> brightpattern_client::Result<()> {
//! let client = Client::new(TenantUrl::parse("example").unwrap(), ApiCredentials::new("api.admin", "api-secret"))?;
//! let accounts = client.integration_accounts().list().await?;
//! println!("{} ServiceNow accounts", accounts.len());
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod agent_desktop;
pub mod client;
pub mod credentials;
pub mod error;
pub mod integration_accounts;
pub mod teams;
pub mod tenant;
pub mod users;

/// The process's one redactor: every secret the clients hold is registered as
/// it is created, and every text a server sent is scrubbed of them
/// ([`redact::scrub`]); register secrets of your own with [`redact::register`].
pub use bpsn_core::redact;
pub use bpsn_core::{
    ClientIdentity, ExposeSecret, Origin, Proxy, Request, Response, RetryPolicy, RootCertificates,
    SecretString, TlsProblem, TransportOptions,
};
pub use client::{Client, ClientBuilder};
pub use credentials::{ApiCredentials, TenantParameter};
pub use error::{Error, Result};
pub use tenant::TenantUrl;
