//! Authentication: OAuth 2.0 client credentials against
//! `POST /configapi/v2/oauth/token`.
//!
//! The client id is a Bright Pattern user's login and the secret the API secret
//! generated for that user in the administrator application; what the API lets the
//! caller do follows that user's privileges. The request names the tenant host as
//! its `scope` (some versions want a `tenant` parameter instead: see
//! [`TenantParameter`]). The answer's `expires_in` arrives as a string, which the
//! shared lenient token response accepts. Tokens are cached and renewed before
//! they expire; a 401 renews once and retries once.

use std::fmt;

use async_trait::async_trait;
use bpsn_core::{Result, Token, TokenEndpoint, TokenSource, Transport};
use secrecy::SecretString;

/// The path of the token endpoint.
pub const TOKEN_PATH: &str = "/configapi/v2/oauth/token";

/// The credentials of an API user: login and API secret.
#[derive(Clone)]
pub struct ApiCredentials {
    /// The user's login (sent as `client_id`).
    pub login: String,
    /// The user's API secret (sent as `client_secret`).
    pub secret: SecretString,
}

impl ApiCredentials {
    /// A login and API secret.
    pub fn new(login: impl Into<String>, secret: impl Into<SecretString>) -> Self {
        Self {
            login: login.into(),
            secret: secret.into(),
        }
    }
}

impl fmt::Debug for ApiCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiCredentials")
            .field("login", &self.login)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// How the token request names the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TenantParameter {
    /// `scope=<tenant host>` (the current documentation; the default).
    #[default]
    Scope,
    /// `tenant=<tenant host>` (some older versions).
    Tenant,
    /// Both, for deployments that are not sure.
    Both,
}

/// The client-credentials grant, as a token source for the shared token cache.
pub(crate) struct ClientCredentialsGrant {
    pub(crate) endpoint: TokenEndpoint,
    pub(crate) host: String,
    pub(crate) parameter: TenantParameter,
}

impl ClientCredentialsGrant {
    pub(crate) fn new(
        transport: &Transport,
        credentials: &ApiCredentials,
        host: &str,
        parameter: TenantParameter,
    ) -> Result<Self> {
        Ok(Self {
            endpoint: TokenEndpoint::new(
                transport,
                TOKEN_PATH,
                &credentials.login,
                Some(&credentials.secret),
            )?,
            host: host.to_owned(),
            parameter,
        })
    }
}

impl fmt::Debug for ClientCredentialsGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsGrant")
            .field("endpoint", &self.endpoint)
            .field("host", &self.host)
            .field("parameter", &self.parameter)
            .finish()
    }
}

#[async_trait]
impl TokenSource for ClientCredentialsGrant {
    async fn fetch_token(&self) -> Result<Token> {
        let host = self.host.as_str();
        match self.parameter {
            TenantParameter::Scope => self.endpoint.client_credentials(&[host], &[]).await,
            TenantParameter::Tenant => {
                self.endpoint
                    .client_credentials(&[], &[("tenant", host)])
                    .await
            }
            TenantParameter::Both => {
                self.endpoint
                    .client_credentials(&[host], &[("tenant", host)])
                    .await
            }
        }
    }
}
