//! How the client authenticates ([`Credentials`]): basic credentials; OAuth
//! grants — password, refresh token, client credentials, JWT bearer (a key of
//! yours signs, [`JwtSigningKey`]); a REST API key (`x-sn-apikey`); or a bearer
//! token obtained elsewhere.
//!
//! OAuth tokens come from `POST /oauth_token.do` (form-encoded; ServiceNow rejects
//! JSON there) through the `oauth2` crate, and are cached and renewed shortly before
//! they expire. After a password grant the client renews with the refresh token it
//! was given, and falls back to the password only when that refresh is refused.
//!
//! All secrets are [`SecretString`]s: `Debug` prints `[REDACTED]`.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bpsn_core::{
    ApiKeyAuth, Authenticator, BasicAuth, BearerAuth, Token, TokenCache, TokenEndpoint,
    TokenSource, Transport,
};
use secrecy::SecretString;

use crate::error::{Error, Result};

/// The path of ServiceNow's OAuth token endpoint.
pub const TOKEN_PATH: &str = "/oauth_token.do";

/// What ServiceNow's generic `access_denied` answer usually means.
pub const ACCESS_DENIED_HINT: &str = "ServiceNow answers `access_denied` to every bad token request; the usual causes are a wrong client secret or client id, a wrong user name or password, an inactive OAuth application, or the password grant being disabled (glide.oauth.inbound.ropc.grant_type.disabled)";

/// An OAuth client registered in the instance's application registry
/// (`oauth_entity`).
#[derive(Clone)]
pub struct OAuthClient {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: SecretString,
}

impl OAuthClient {
    /// A client id and secret.
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
        }
    }
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

/// The credentials a [`Client`](crate::Client) authenticates with.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Credentials {
    /// HTTP basic authentication.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// OAuth resource-owner password grant; the refresh token it returns is used
    /// for later renewals.
    OAuthPassword {
        /// The registered OAuth client.
        client: OAuthClient,
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// OAuth refresh-token grant with a refresh token obtained earlier.
    OAuthRefreshToken {
        /// The registered OAuth client.
        client: OAuthClient,
        /// The refresh token.
        refresh_token: SecretString,
    },
    /// A bearer token obtained elsewhere (never renewed).
    Bearer(SecretString),
    /// OAuth client-credentials grant: the application acts as its own user,
    /// with no user's password (Washington DC and later, when the instance sets
    /// [`CLIENT_CREDENTIALS_PROPERTY`] to true). Tokens are cached and a new one
    /// is asked for when they expire or are refused.
    OAuthClientCredentials {
        /// The registered OAuth client.
        client: OAuthClient,
    },
    /// OAuth JWT bearer grant (`urn:ietf:params:oauth:grant-type:jwt-bearer`):
    /// the client signs a short-lived assertion (RS256, its key id in the
    /// header; issuer and audience the client id, subject the user) with a
    /// private key whose public half the instance's JWT verifier holds. A new
    /// assertion is signed for every token.
    OAuthJwtBearer {
        /// The registered OAuth client.
        client: OAuthClient,
        /// The signing key.
        key: JwtSigningKey,
        /// The user the tokens act as (`sub`).
        subject: String,
    },
    /// A REST API key (Washington and later, plugin `com.glide.tokenbased_auth`),
    /// sent in the [`API_KEY_HEADER`] header; the key's record names the user it
    /// acts as. Never renewed.
    ApiKey(SecretString),
}

/// The grant type of the JWT bearer grant.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How long a signed assertion is valid.
pub const JWT_ASSERTION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(300);

/// An RSA private key (PEM) that signs JWT assertions, with the key id the
/// instance's verifier knows it by. The key never reaches `Debug`, logs or
/// errors.
#[derive(Clone)]
pub struct JwtSigningKey {
    pem: SecretString,
    key_id: String,
}

impl JwtSigningKey {
    /// A PEM RSA private key (PKCS#1 or PKCS#8) and its key id; checked here.
    pub fn from_pem(pem: SecretString, key_id: impl Into<String>) -> Result<Self> {
        use secrecy::ExposeSecret as _;
        jsonwebtoken::EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes()).map_err(|_| {
            crate::error::InvalidInput::new("JWT signing key", "needs an RSA private key in PEM")
        })?;
        Ok(Self {
            pem,
            key_id: key_id.into(),
        })
    }

    /// The key id (`kid`).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Signs an assertion for `client_id` acting as `subject`, valid for
    /// [`JWT_ASSERTION_LIFETIME`].
    fn sign(&self, client_id: &str, subject: &str) -> Result<SecretString> {
        use secrecy::ExposeSecret as _;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": subject,
            "aud": client_id,
            "iat": now,
            "exp": now + JWT_ASSERTION_LIFETIME.as_secs(),
            "jti": format!("{:032x}", rand::random::<u128>()),
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(self.key_id.clone());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(self.pem.expose_secret().as_bytes())
            .map_err(|_| {
                crate::error::InvalidInput::new(
                    "JWT signing key",
                    "needs an RSA private key in PEM",
                )
            })?;
        jsonwebtoken::encode(&header, &claims, &key)
            .map(SecretString::from)
            .map_err(|e| {
                crate::error::InvalidInput::new("JWT assertion", format!("cannot be signed: {e}"))
                    .into()
            })
    }
}

impl fmt::Debug for JwtSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSigningKey")
            .field("key_id", &self.key_id)
            .field("pem", &"[REDACTED]")
            .finish()
    }
}

/// The header a REST API key travels in.
pub const API_KEY_HEADER: &str = "x-sn-apikey";

/// The system property that must be true for the client-credentials grant.
pub const CLIENT_CREDENTIALS_PROPERTY: &str =
    "glide.oauth.inbound.client.credential.grant_type.enabled";

/// What a refused client-credentials grant usually means.
pub const CLIENT_CREDENTIALS_HINT: &str = "the instance refuses the client-credentials grant unless the system property glide.oauth.inbound.client.credential.grant_type.enabled is true (Washington DC and later) and the OAuth application names the user it acts as; also check the client id and secret and that the application is active";

impl Credentials {
    /// Basic authentication.
    pub fn basic(username: impl Into<String>, password: impl Into<SecretString>) -> Self {
        Credentials::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// OAuth password grant.
    pub fn oauth_password(
        client: OAuthClient,
        username: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> Self {
        Credentials::OAuthPassword {
            client,
            username: username.into(),
            password: password.into(),
        }
    }

    /// OAuth refresh-token grant.
    pub fn oauth_refresh_token(
        client: OAuthClient,
        refresh_token: impl Into<SecretString>,
    ) -> Self {
        Credentials::OAuthRefreshToken {
            client,
            refresh_token: refresh_token.into(),
        }
    }

    /// A static bearer token.
    pub fn bearer(token: impl Into<SecretString>) -> Self {
        Credentials::Bearer(token.into())
    }

    /// OAuth client-credentials grant.
    pub fn oauth_client_credentials(client: OAuthClient) -> Self {
        Credentials::OAuthClientCredentials { client }
    }

    /// OAuth JWT bearer grant, acting as `subject`.
    pub fn oauth_jwt_bearer(
        client: OAuthClient,
        key: JwtSigningKey,
        subject: impl Into<String>,
    ) -> Self {
        Credentials::OAuthJwtBearer {
            client,
            key,
            subject: subject.into(),
        }
    }

    /// A REST API key.
    pub fn api_key(key: impl Into<SecretString>) -> Self {
        Credentials::ApiKey(key.into())
    }

    /// What kind of credential this is, for people (`basic`, `oauth password
    /// grant`, …); never a secret.
    pub fn method(&self) -> &'static str {
        match self {
            Credentials::Basic { .. } => "basic",
            Credentials::OAuthPassword { .. } => "OAuth password grant",
            Credentials::OAuthRefreshToken { .. } => "OAuth refresh token",
            Credentials::Bearer(_) => "bearer token",
            Credentials::OAuthClientCredentials { .. } => "OAuth client credentials",
            Credentials::ApiKey(_) => "API key",
            Credentials::OAuthJwtBearer { .. } => "OAuth JWT bearer",
        }
    }

    /// The user name, for credentials that name one.
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Basic { username, .. } | Credentials::OAuthPassword { username, .. } => {
                Some(username)
            }
            _ => None,
        }
    }

    pub(crate) fn authenticator(&self, transport: &Transport) -> Result<Arc<dyn Authenticator>> {
        Ok(match self {
            Credentials::Basic { username, password } => {
                Arc::new(BasicAuth::new(username, password)?)
            }
            Credentials::Bearer(token) => Arc::new(BearerAuth::new(token)?),
            Credentials::ApiKey(key) => Arc::new(ApiKeyAuth::new(
                http::HeaderName::from_static(API_KEY_HEADER),
                key,
            )?),
            Credentials::OAuthJwtBearer {
                client,
                key,
                subject,
            } => Arc::new(TokenCache::new(JwtBearerGrant {
                endpoint: token_endpoint(transport, client)?,
                client_id: client.client_id.clone(),
                key: key.clone(),
                subject: subject.clone(),
            })),
            Credentials::OAuthClientCredentials { client } => {
                Arc::new(TokenCache::new(ClientCredentialsGrant {
                    endpoint: token_endpoint(transport, client)?,
                }))
            }
            Credentials::OAuthPassword {
                client,
                username,
                password,
            } => Arc::new(TokenCache::new(OAuthGrant {
                endpoint: token_endpoint(transport, client)?,
                username: Some(username.clone()),
                password: Some(password.clone()),
                refresh_token: Mutex::new(None),
            })),
            Credentials::OAuthRefreshToken {
                client,
                refresh_token,
            } => Arc::new(TokenCache::new(OAuthGrant {
                endpoint: token_endpoint(transport, client)?,
                username: None,
                password: None,
                refresh_token: Mutex::new(Some(refresh_token.clone())),
            })),
        })
    }
}

pub(crate) fn token_endpoint(transport: &Transport, client: &OAuthClient) -> Result<TokenEndpoint> {
    TokenEndpoint::new(
        transport,
        TOKEN_PATH,
        &client.client_id,
        Some(&client.client_secret),
    )
}

/// Adds [`ACCESS_DENIED_HINT`] to ServiceNow's generic token failure.
pub(crate) fn explain_token_error(error: Error) -> Error {
    match error {
        Error::Authentication(mut e) if e.hint.is_none() => {
            e.hint = Some(ACCESS_DENIED_HINT.to_owned());
            Error::Authentication(e)
        }
        other => other,
    }
}

/// The JWT bearer grant against `/oauth_token.do`: a fresh assertion for every
/// token.
struct JwtBearerGrant {
    endpoint: TokenEndpoint,
    client_id: String,
    key: JwtSigningKey,
    subject: String,
}

impl fmt::Debug for JwtBearerGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBearerGrant")
            .field("endpoint", &self.endpoint)
            .field("key", &self.key)
            .field("subject", &self.subject)
            .finish()
    }
}

#[async_trait]
impl TokenSource for JwtBearerGrant {
    async fn fetch_token(&self) -> Result<Token> {
        let assertion = self.key.sign(&self.client_id, &self.subject)?;
        self.endpoint
            .assertion(JWT_BEARER_GRANT, &assertion)
            .await
            .map_err(|error| match error {
                Error::Authentication(mut e) if e.hint.is_none() => {
                    e.hint = Some(format!(
                        "the instance refused the JWT bearer grant: check that its JWT verifier for this OAuth application holds the public key with id {:?}, that the user {:?} exists and is active, and the client secret",
                        self.key.key_id, self.subject
                    ));
                    Error::Authentication(e)
                }
                other => other,
            })
    }
}

/// The client-credentials grant against `/oauth_token.do`.
struct ClientCredentialsGrant {
    endpoint: TokenEndpoint,
}

impl fmt::Debug for ClientCredentialsGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsGrant")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

#[async_trait]
impl TokenSource for ClientCredentialsGrant {
    async fn fetch_token(&self) -> Result<Token> {
        self.endpoint
            .client_credentials(&[], &[])
            .await
            .map_err(|error| match error {
                Error::Authentication(mut e) if e.hint.is_none() => {
                    e.hint = Some(CLIENT_CREDENTIALS_HINT.to_owned());
                    Error::Authentication(e)
                }
                other => other,
            })
    }
}

/// Password and/or refresh-token grants against `/oauth_token.do`.
struct OAuthGrant {
    endpoint: TokenEndpoint,
    username: Option<String>,
    password: Option<SecretString>,
    refresh_token: Mutex<Option<SecretString>>,
}

impl fmt::Debug for OAuthGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthGrant")
            .field("endpoint", &self.endpoint)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl OAuthGrant {
    fn current_refresh_token(&self) -> Option<SecretString> {
        self.refresh_token
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn keep_refresh_token(&self, token: &Token) {
        if let Some(refresh) = &token.refresh_token {
            *self
                .refresh_token
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(refresh.clone());
        }
    }
}

#[async_trait]
impl TokenSource for OAuthGrant {
    async fn fetch_token(&self) -> Result<Token> {
        if let Some(refresh) = self.current_refresh_token() {
            match self.endpoint.refresh(&refresh).await {
                Ok(token) => {
                    self.keep_refresh_token(&token);
                    return Ok(token);
                }
                // With a password at hand, a refused refresh token (expired,
                // revoked) is replaced by a new password grant.
                Err(e) if e.is_authentication() && self.password.is_some() => {
                    tracing::debug!("refresh token refused; falling back to the password grant");
                }
                Err(e) => return Err(explain_token_error(e)),
            }
        }
        match (&self.username, &self.password) {
            (Some(user), Some(password)) => {
                let token = self
                    .endpoint
                    .password(user, password)
                    .await
                    .map_err(explain_token_error)?;
                self.keep_refresh_token(&token);
                Ok(token)
            }
            _ => Err(crate::error::InvalidInput::new(
                "credentials",
                "an OAuth grant needs a refresh token or a password",
            )
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let client = OAuthClient::new("cid", SecretString::from("client-secret-value"));
        let all = [
            Credentials::basic("admin", "basic-password"),
            Credentials::oauth_password(client.clone(), "admin", "grant-password"),
            Credentials::oauth_refresh_token(client, "refresh-token-value"),
            Credentials::bearer("bearer-token-value"),
        ];
        let text = format!("{all:?}");
        for secret in [
            "client-secret-value",
            "basic-password",
            "grant-password",
            "refresh-token-value",
            "bearer-token-value",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("cid") && text.contains("admin"));
    }
}
