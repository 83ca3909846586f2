#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! # Guide
//!
//! Built for services that automate instance configuration: every value ServiceNow
//! sends as a string is decoded, every query is checked before it is sent, every
//! failure is a typed [`Error`] saying what was asked and what came back, and no
//! secret reaches `Debug`, `Display`, logs or errors.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`instance`] | [`InstanceUrl`]: a bare name (`dev12345`) or a full https origin |
//! | [`credentials`] | [`Credentials`]: basic; OAuth password, refresh-token, client-credentials and JWT-bearer grants; REST API key; bearer |
//! | [`client`] | [`Client`] and its builder: timeouts, retries, page size, batch settings |
//! | [`table`] | the Table API over any table: [`Record`], [`Table`], paging [`Stream`](futures_util::Stream)s |
//! | [`query`] | the encoded-query builder, [`Query`](query::Query) |
//! | [`batch`] | the Batch API: many calls in one round trip |
//! | [`cicd`] | CI/CD operations and waiting for them: [`CicdOperation`](cicd::CicdOperation), [`WaitOptions`](cicd::WaitOptions) |
//! | [`wire`] | string booleans and numbers, [`Reference`](wire::Reference), [`SysId`](wire::SysId) |
//! | [`error`] | [`Error`] and ServiceNow's error envelope |
//!
//! Typed resources, one module each, reached from the [`Client`]:
//!
//! | module | table | reached by |
//! |---|---|---|
//! | [`plugins`] | `v_plugin`, CI/CD API | [`Client::plugins`] |
//! | [`applications`] | `sys_store_app`, `sys_app`, CI/CD application install | [`Client::applications`] |
//! | [`release`] | the build properties naming the release | [`Client::release`] |
//! | [`properties`] | `sys_properties` | [`Client::properties`] |
//! | [`openframe`] | `sn_openframe_configuration` | [`Client::openframe_configurations`] |
//! | [`users`] | `sys_user`, `sys_user_group`, `sys_user_grmember` | [`Client::users`], [`Client::groups`] |
//! | [`roles`] | `sys_user_role`, `sys_user_has_role`, `sys_group_has_role` | [`Client::roles`] |
//! | [`cors`] | `sys_cors_rule`, `sys_ws_definition` | [`Client::cors_rules`] |
//! | [`oauth`] | `oauth_entity`, `/oauth_token.do` | [`Client::oauth_applications`], [`Client::oauth_tokens`] |
//! | [`update_sets`] | `sys_update_set`, `sys_update_xml`, `sys_user_preference` | [`Client::update_sets`] |
//!
//! # Retries and safe creates
//!
//! Reads, updates and deletes are retried on HTTP 429, 502, 503, 504, timeouts and
//! broken connections, with exponential backoff and jitter, honouring
//! `Retry-After` and `X-RateLimit-Reset`, within a total deadline
//! ([`RetryPolicy`]). A create (`POST`) is sent again only when it cannot have been
//! applied: the connection was refused, or a rate limit rejected it. To make a
//! create safe to run again after any other failure, look the record up by its
//! natural key first ([`Table::one`]) and create only when it is absent.
//!
//! # Example
//!
//! ```no_run
//! use servicenow_client::{Client, Credentials, InstanceUrl, OAuthClient};
//! use servicenow_client::query::Query;
//!
//! # async fn run() -> servicenow_client::Result<()> {
//! let client = Client::new(
//!     InstanceUrl::parse("dev12345").unwrap(),
//!     Credentials::oauth_password(
//!         OAuthClient::new("3f1c...", "client-secret".into()),
//!         "admin",
//!         "password",
//!     ),
//! )?;
//! let role = client
//!     .table_json("sys_user_role")?
//!     .one(Query::new().eq("name", "sn_openframe_user"))
//!     .await?;
//! println!("role present: {}", role.is_some());
//! # Ok(()) }
//! ```

pub mod applications;
pub mod batch;
pub mod cicd;
pub mod client;
pub mod cors;
pub mod credentials;
pub mod error;
pub mod instance;
pub mod oauth;
pub mod openframe;
pub mod plugins;
pub mod properties;
pub mod query;
pub mod release;
pub mod roles;
pub mod table;
pub mod update_sets;
pub mod users;
pub mod wire;

/// The process's one redactor: every secret the clients hold is registered as
/// it is created, and every text a server sent is scrubbed of them
/// ([`redact::scrub`]); register secrets of your own with [`redact::register`].
pub use bpsn_core::redact;
pub use bpsn_core::{
    ClientIdentity, ExposeSecret, Proxy, Request, RequestBudget, Response, RetryPolicy,
    RootCertificates, SecretString, TlsProblem, Token, Transport, TransportOptions,
};
pub use client::{Client, ClientBuilder};
pub use credentials::{
    API_KEY_HEADER, CLIENT_CREDENTIALS_PROPERTY, Credentials, JWT_BEARER_GRANT, JwtSigningKey,
    OAuthClient,
};
pub use error::{Error, Result};
pub use instance::InstanceUrl;
pub use table::{JsonRecord, PagingLimits, Record, Table};
