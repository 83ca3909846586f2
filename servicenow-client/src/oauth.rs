//! The OAuth application registry (`oauth_entity`) and tokens for a registered client.
//!
//! An "OAuth API endpoint for external clients" is an `oauth_entity` row of type
//! `client`. Its `client_secret` column is a password field: this module treats it
//! as write-only. [`OAuthApplications::create`] generates the client id and a
//! cryptographically random secret on this side, writes them, and returns the
//! secret to the caller once, as a [`SecretString`]; no code path reads a secret
//! back from the instance and trusts it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> servicenow_client::Result<()> {
//! use servicenow_fake::{FakeInstance, ADMIN_USER, ADMIN_PASSWORD};
//! use servicenow_client::oauth::NewOAuthApplication;
//!
//! let sn = FakeInstance::start().await;
//! let client = sn.client_as_admin();
//! let created = client.oauth_applications().create(&NewOAuthApplication::new("Bright Pattern")).await?;
//!
//! let tokens = client.oauth_tokens(&created.credentials())?;
//! let token = tokens.password(ADMIN_USER, &ADMIN_PASSWORD.into()).await?;
//! assert!(token.refresh_token.is_some());
//! # Ok(()) }
//! ```

use std::fmt;

use bpsn_core::{Token, TokenEndpoint};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::credentials::{OAuthClient, explain_token_error, token_endpoint};
use crate::error::{InvalidInput, Result};
use crate::query::Query;
use crate::table::{Record, Table};
use crate::wire::{SysId, string_bool, string_number};

/// The default access-token lifespan, in seconds.
pub const DEFAULT_ACCESS_TOKEN_LIFESPAN: u32 = 1800;
/// The default refresh-token lifespan, in seconds (100 days).
pub const DEFAULT_REFRESH_TOKEN_LIFESPAN: u32 = 8_640_000;

/// A row of `oauth_entity`, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OAuthApplication {
    /// The record id.
    pub sys_id: SysId,
    /// The name (the natural key).
    pub name: String,
    /// The client id.
    #[serde(default)]
    pub client_id: String,
    /// The application type (`client` for an API endpoint for external clients).
    #[serde(default, rename = "type")]
    pub application_type: String,
    /// The redirect URL.
    #[serde(default)]
    pub redirect_url: String,
    /// Whether it is active.
    #[serde(with = "string_bool", default)]
    pub active: bool,
    /// Access-token lifespan in seconds.
    #[serde(with = "string_number::option", default)]
    pub access_token_lifespan: Option<u32>,
    /// Refresh-token lifespan in seconds.
    #[serde(with = "string_number::option", default)]
    pub refresh_token_lifespan: Option<u32>,
    /// Comments.
    #[serde(default)]
    pub comments: String,
}

impl Record for OAuthApplication {
    const TABLE: &'static str = "oauth_entity";
}

/// An OAuth application to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOAuthApplication {
    /// The name.
    pub name: String,
    /// The redirect URL (empty when unused).
    pub redirect_url: String,
    /// Access-token lifespan in seconds.
    pub access_token_lifespan: u32,
    /// Refresh-token lifespan in seconds.
    pub refresh_token_lifespan: u32,
    /// Comments (for example a marker saying who created it).
    pub comments: String,
    /// The record's sys_id, when chosen beforehand (see
    /// [`Table::create_with_id`](crate::Table::create_with_id)).
    pub sys_id: Option<SysId>,
}

impl NewOAuthApplication {
    /// An application with the platform's default lifespans.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            redirect_url: String::new(),
            access_token_lifespan: DEFAULT_ACCESS_TOKEN_LIFESPAN,
            refresh_token_lifespan: DEFAULT_REFRESH_TOKEN_LIFESPAN,
            comments: String::new(),
            sys_id: None,
        }
    }

    /// Creates the record with this sys_id.
    pub fn with_sys_id(mut self, sys_id: SysId) -> Self {
        self.sys_id = Some(sys_id);
        self
    }

    /// Sets both lifespans, in seconds.
    pub fn lifespans(mut self, access: u32, refresh: u32) -> Self {
        self.access_token_lifespan = access;
        self.refresh_token_lifespan = refresh;
        self
    }

    /// Sets the comments.
    pub fn comments(mut self, comments: impl Into<String>) -> Self {
        self.comments = comments.into();
        self
    }

    fn check(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(InvalidInput::new("OAuth application", "the name is empty").into());
        }
        if self.access_token_lifespan == 0 || self.refresh_token_lifespan == 0 {
            return Err(InvalidInput::new(
                "OAuth application",
                "token lifespans must be above zero",
            )
            .into());
        }
        Ok(())
    }
}

/// A freshly created application and its secret (shown once).
pub struct CreatedOAuthApplication {
    /// The record as stored.
    pub application: OAuthApplication,
    /// The client secret generated for it.
    pub client_secret: SecretString,
}

impl CreatedOAuthApplication {
    /// The client id and secret, for token requests.
    pub fn credentials(&self) -> OAuthClient {
        OAuthClient::new(
            self.application.client_id.clone(),
            self.client_secret.clone(),
        )
    }
}

impl fmt::Debug for CreatedOAuthApplication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedOAuthApplication")
            .field("application", &self.application)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

#[derive(Serialize)]
struct NewRow<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sys_id: Option<&'a str>,
    name: &'a str,
    #[serde(rename = "type")]
    application_type: &'static str,
    client_id: &'a str,
    client_secret: &'a str,
    redirect_url: &'a str,
    #[serde(with = "string_bool")]
    active: bool,
    #[serde(with = "string_number")]
    access_token_lifespan: u32,
    #[serde(with = "string_number")]
    refresh_token_lifespan: u32,
    comments: &'a str,
}

/// Generates a client id: 32 lower-case hex digits, like the platform's.
pub fn generate_client_id() -> String {
    let mut rng = rand::rng();
    format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>())
}

/// Generates a client secret: 40 characters from `[A-Za-z0-9_-]` (238 bits), from
/// the thread's cryptographically secure generator. It is registered with the
/// redactor (`bpsn_core::redact`), so that no error text shows it.
pub fn generate_client_secret() -> SecretString {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    let secret: String = (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    // A server that echoes the request it got must not show it.
    bpsn_core::redact::register(&secret);
    SecretString::from(secret)
}

/// The OAuth application registry of one instance.
#[derive(Debug, Clone)]
pub struct OAuthApplications {
    client: Client,
    table: Table<OAuthApplication>,
}

impl Client {
    /// The OAuth application registry (`oauth_entity`) of this instance.
    pub fn oauth_applications(&self) -> OAuthApplications {
        OAuthApplications {
            client: self.clone(),
            table: self.table(),
        }
    }

    /// Token requests for a registered OAuth client, against this instance.
    pub fn oauth_tokens(&self, client: &OAuthClient) -> Result<OAuthTokens> {
        Ok(OAuthTokens {
            endpoint: token_endpoint(self.transport(), client)?,
        })
    }
}

impl OAuthApplications {
    /// Every application with this name (names are not unique on the platform).
    pub async fn list_by_name(&self, name: &str) -> Result<Vec<OAuthApplication>> {
        use futures_util::TryStreamExt as _;
        self.table
            .list(Query::new().eq("name", name))
            .try_collect()
            .await
    }

    /// The application with this name, or `None`.
    pub async fn get_by_name(&self, name: &str) -> Result<Option<OAuthApplication>> {
        self.table.one(Query::new().eq("name", name)).await
    }

    /// The application with this client id, or `None`.
    pub async fn get_by_client_id(&self, client_id: &str) -> Result<Option<OAuthApplication>> {
        self.table
            .one(Query::new().eq("client_id", client_id))
            .await
    }

    /// Creates an API endpoint for external clients (`type=client`) with a client id
    /// and secret generated here. The secret is returned once and never logged.
    pub async fn create(&self, new: &NewOAuthApplication) -> Result<CreatedOAuthApplication> {
        new.check()?;
        let client_id = generate_client_id();
        let client_secret = generate_client_secret();
        let row = NewRow {
            sys_id: new.sys_id.as_ref().map(SysId::as_str),
            name: &new.name,
            application_type: "client",
            client_id: &client_id,
            client_secret: client_secret.expose_secret(),
            redirect_url: &new.redirect_url,
            active: true,
            access_token_lifespan: new.access_token_lifespan,
            refresh_token_lifespan: new.refresh_token_lifespan,
            comments: &new.comments,
        };
        let request = crate::Request::post(self.table.path())
            .json(&row)?
            .sensitive()
            .api("oauth_entity");
        let response = self.client.transport().send(request).await?;
        let application: OAuthApplication = crate::table::decode_result(&response)?;
        Ok(CreatedOAuthApplication {
            application,
            client_secret,
        })
    }

    /// Replaces the client secret with a new one generated here, and returns it
    /// (once). Clients using the old secret stop working.
    pub async fn rotate_secret(&self, sys_id: &SysId) -> Result<SecretString> {
        let secret = generate_client_secret();
        let request = crate::Request::patch(format!("{}/{sys_id}", self.table.path()))
            .json(&serde_json::json!({ "client_secret": secret.expose_secret() }))?
            .sensitive()
            .api("oauth_entity");
        self.client.transport().send(request).await?;
        Ok(secret)
    }

    /// Sets the token lifespans, in seconds.
    pub async fn update_lifespans(
        &self,
        sys_id: &SysId,
        access: u32,
        refresh: u32,
    ) -> Result<OAuthApplication> {
        if access == 0 || refresh == 0 {
            return Err(InvalidInput::new(
                "OAuth application",
                "token lifespans must be above zero",
            )
            .into());
        }
        self.table
            .update(
                sys_id,
                &serde_json::json!({
                    "access_token_lifespan": access.to_string(),
                    "refresh_token_lifespan": refresh.to_string(),
                }),
            )
            .await
    }

    /// Sets the redirect URL.
    pub async fn update_redirect_url(
        &self,
        sys_id: &SysId,
        redirect_url: &str,
    ) -> Result<OAuthApplication> {
        self.table
            .update(sys_id, &serde_json::json!({ "redirect_url": redirect_url }))
            .await
    }

    /// Sets whether the application is active.
    pub async fn set_active(&self, sys_id: &SysId, active: bool) -> Result<OAuthApplication> {
        self.table
            .update(sys_id, &serde_json::json!({ "active": active.to_string() }))
            .await
    }

    /// Deletes the application (its tokens stop working).
    pub async fn delete(&self, sys_id: &SysId) -> Result<()> {
        self.table.delete(sys_id).await
    }
}

/// Token requests for one registered client (`/oauth_token.do`, through `oauth2`).
///
/// ServiceNow answers every bad token request with the same 401 `access_denied`;
/// the error this returns lists the usual causes
/// ([`ACCESS_DENIED_HINT`](crate::credentials::ACCESS_DENIED_HINT)).
#[derive(Debug)]
pub struct OAuthTokens {
    endpoint: TokenEndpoint,
}

impl OAuthTokens {
    /// Password grant: an access token and a refresh token for `username`.
    pub async fn password(&self, username: &str, password: &SecretString) -> Result<Token> {
        self.endpoint
            .password(username, password)
            .await
            .map_err(explain_token_error)
    }

    /// Refresh-token grant: a new access token.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<Token> {
        self.endpoint
            .refresh(refresh_token)
            .await
            .map_err(explain_token_error)
    }
}

/// The three requests that prove an OAuth client works the way a partner's
/// integration will use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RoundTripStage {
    /// The password grant as the integration user (Bright Pattern's "Request
    /// Refresh Token").
    PasswordGrant,
    /// The refresh grant with the refresh token it returned (what the partner does
    /// on every renewal, and Bright Pattern's "Test connection").
    RefreshGrant,
    /// One Table API read with the renewed access token.
    TableRead,
}

impl fmt::Display for RoundTripStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RoundTripStage::PasswordGrant => "the password grant",
            RoundTripStage::RefreshGrant => "the refresh grant",
            RoundTripStage::TableRead => "a Table API read with the new access token",
        })
    }
}

/// An OAuth round trip that failed: at which request, and why.
#[derive(Debug, thiserror::Error)]
#[error("{stage} failed: {source}")]
pub struct RoundTripError {
    /// The request that failed.
    pub stage: RoundTripStage,
    /// Why.
    #[source]
    pub source: crate::Error,
}

impl Client {
    /// Proves that an OAuth client works end to end for `username`: a password
    /// grant, a refresh grant with the refresh token it returned, and one Table API
    /// read (`sys_user`, the user's own row) with the new access token. Three
    /// requests; the tokens are dropped when it returns and never logged.
    pub async fn prove_oauth_round_trip(
        &self,
        client: &OAuthClient,
        username: &str,
        password: &SecretString,
    ) -> std::result::Result<(), RoundTripError> {
        let fail = |stage| move |source| RoundTripError { stage, source };
        let tokens = self
            .oauth_tokens(client)
            .map_err(fail(RoundTripStage::PasswordGrant))?;
        let first = tokens
            .password(username, password)
            .await
            .map_err(fail(RoundTripStage::PasswordGrant))?;
        let refresh_token = first.refresh_token.ok_or_else(|| RoundTripError {
            stage: RoundTripStage::PasswordGrant,
            source: crate::Error::Protocol {
                request: bpsn_core::RequestSummary::new(
                    http::Method::POST,
                    self.instance().origin(),
                    crate::credentials::TOKEN_PATH,
                ),
                reason: "the password grant returned no refresh token".to_owned(),
            },
        })?;
        let renewed = tokens
            .refresh(&refresh_token)
            .await
            .map_err(fail(RoundTripStage::RefreshGrant))?;
        let as_user = self
            .with_credentials(crate::Credentials::bearer(renewed.access_token))
            .map_err(fail(RoundTripStage::TableRead))?;
        as_user
            .table_json("sys_user")
            .map_err(fail(RoundTripStage::TableRead))?
            .first(Query::new().eq("user_name", username))
            .await
            .map_err(fail(RoundTripStage::TableRead))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_and_secrets_look_right_and_differ() {
        let id = generate_client_id();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        let a = generate_client_secret();
        let b = generate_client_secret();
        assert_eq!(a.expose_secret().len(), 40);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(!format!("{a:?}").contains(a.expose_secret()));
    }
}
