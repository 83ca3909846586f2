//! OAuth 2.0 token requests through the `oauth2` crate, sent on this crate's own
//! transport (so the tree holds one HTTP stack, and token requests get the same
//! retries, timeouts and typed errors as API calls).
//!
//! The `oauth2` crate builds each grant's form body and parses successful answers;
//! error statuses are turned into [`Error`]s by the transport before `oauth2` sees
//! them, so the status is never lost. Token bodies are never quoted in errors.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AccessToken, AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RefreshToken,
    RequestTokenError, ResourceOwnerPassword, ResourceOwnerUsername, Scope, StandardRevocableToken,
    TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};

use crate::auth::Token;
use crate::error::{DecodeError, Error, InvalidInput, RequestSummary, Result};
use crate::transport::{Request, Transport};

/// A token response that accepts `expires_in` as a number or as a string (Bright
/// Pattern sends `"3600"`), and any capitalisation of `token_type`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LenientTokenResponse {
    access_token: AccessToken,
    #[serde(deserialize_with = "token_type_any_case")]
    token_type: BasicTokenType,
    #[serde(
        default,
        deserialize_with = "crate::wire::option_u64_from_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    expires_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<RefreshToken>,
    #[serde(
        default,
        deserialize_with = "space_separated_scopes",
        skip_serializing_if = "Option::is_none"
    )]
    scope: Option<Vec<Scope>>,
}

fn token_type_any_case<'de, D: Deserializer<'de>>(d: D) -> Result<BasicTokenType, D::Error> {
    let raw = String::deserialize(d)?;
    Ok(match raw.to_ascii_lowercase().as_str() {
        "bearer" => BasicTokenType::Bearer,
        "mac" => BasicTokenType::Mac,
        _ => BasicTokenType::Extension(raw),
    })
}

fn space_separated_scopes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Scope>>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    Ok(raw.map(|s| {
        s.split_whitespace()
            .map(|p| Scope::new(p.to_owned()))
            .collect()
    }))
}

impl oauth2::TokenResponse for LenientTokenResponse {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scope.as_ref()
    }
}

/// The token a grant issued; its access and refresh tokens are registered
/// with the [redactor](crate::redact) before anyone can send them.
fn issued(response: &LenientTokenResponse) -> Token {
    use oauth2::TokenResponse as _;
    let access = response.access_token().secret();
    crate::redact::register(access);
    let refresh = response.refresh_token().map(|r| {
        crate::redact::register(r.secret());
        SecretString::from(r.secret().to_owned())
    });
    Token {
        access_token: SecretString::from(access.to_owned()),
        expires_in: response.expires_in(),
        refresh_token: refresh,
    }
}

type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    LenientTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Adapts a [`Transport`] to `oauth2`'s [`AsyncHttpClient`](oauth2::AsyncHttpClient).
struct OAuthHttp<'t> {
    transport: &'t Transport,
}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp<'_> {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let path = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "/".to_owned());
            let content_type = match parts.headers.get(http::header::CONTENT_TYPE) {
                Some(v) if v.as_bytes().starts_with(b"application/json") => "application/json",
                _ => "application/x-www-form-urlencoded",
            };
            // A repeated grant is harmless (it only issues another token), so token
            // requests are retried like reads.
            let mut req = Request::new(parts.method, path)
                .body(body, content_type)
                .idempotent(true)
                // A grant issues a token; it changes no record of the
                // service's configuration, so it is not counted as a write.
                .changes_nothing()
                .sensitive()
                .api("oauth_token");
            for (name, value) in &parts.headers {
                if name != http::header::CONTENT_TYPE && name != http::header::ACCEPT {
                    req = req.header(name.clone(), value.clone());
                }
            }
            let response = self.transport.send(req).await?;
            let mut out = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                out = out.header(name, value);
            }
            out.body(response.into_body())
                .map_err(|e| InvalidInput::new("token response", e.to_string()).into())
        })
    }
}

/// An OAuth 2.0 token endpoint and the client registered with it.
///
/// Client credentials are sent in the form body (`client_id`, `client_secret`), as
/// both ServiceNow and Bright Pattern expect.
pub struct TokenEndpoint {
    transport: Transport,
    client: OAuthClient,
    path: String,
    secret: Option<SecretString>,
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("origin", self.transport.origin())
            .field("path", &self.path)
            .field("client_id", self.client.client_id())
            .finish_non_exhaustive()
    }
}

impl TokenEndpoint {
    /// A token endpoint at `path` on the transport's origin. The transport is used
    /// without authentication.
    pub fn new(
        transport: &Transport,
        path: &str,
        client_id: &str,
        client_secret: Option<&SecretString>,
    ) -> Result<Self> {
        let url = transport
            .origin()
            .join(path)
            .map_err(|e| InvalidInput::new("token endpoint path", format!("`{path}`: {e}")))?;
        let mut client = oauth2::Client::new(ClientId::new(client_id.to_owned()))
            .set_token_uri(TokenUrl::from_url(url))
            .set_auth_type(AuthType::RequestBody);
        if let Some(secret) = client_secret {
            crate::redact::register(secret.expose_secret());
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        Ok(Self {
            transport: transport.anonymous(),
            client,
            path: path.to_owned(),
            secret: client_secret.cloned(),
        })
    }

    /// An assertion grant (RFC 7521; for a JWT, `grant_type` is
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer`), form-encoded with the
    /// client's id and secret in the body.
    pub async fn assertion(&self, grant_type: &str, assertion: &SecretString) -> Result<Token> {
        crate::redact::register(assertion.expose_secret());
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", grant_type)
                .append_pair("assertion", assertion.expose_secret())
                .append_pair("client_id", self.client_id());
            if let Some(secret) = &self.secret {
                form.append_pair("client_secret", secret.expose_secret());
            }
            form.finish().into_bytes()
        };
        let request = Request::post(self.path.clone())
            .body(body, "application/x-www-form-urlencoded")
            // A repeated grant only issues another token.
            .idempotent(true)
            .changes_nothing()
            .sensitive()
            .api("oauth_token");
        let response = self.transport.send(request).await?;
        let parsed: LenientTokenResponse = response.json()?;
        Ok(issued(&parsed))
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        self.client.client_id().as_str()
    }

    /// Resource-owner password grant.
    pub async fn password(&self, username: &str, password: &SecretString) -> Result<Token> {
        crate::redact::register(password.expose_secret());
        let user = ResourceOwnerUsername::new(username.to_owned());
        let pass = ResourceOwnerPassword::new(password.expose_secret().to_owned());
        let http = OAuthHttp {
            transport: &self.transport,
        };
        let result = self
            .client
            .exchange_password(&user, &pass)
            .request_async(&http)
            .await;
        self.finish(result)
    }

    /// Refresh-token grant.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<Token> {
        crate::redact::register(refresh_token.expose_secret());
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let http = OAuthHttp {
            transport: &self.transport,
        };
        let result = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&http)
            .await;
        self.finish(result)
    }

    /// Client-credentials grant, asking for `scopes`, with extra form parameters
    /// (for services that name the tenant in a parameter of their own).
    pub async fn client_credentials(
        &self,
        scopes: &[&str],
        extra_params: &[(&str, &str)],
    ) -> Result<Token> {
        let http = OAuthHttp {
            transport: &self.transport,
        };
        let mut exchange = self.client.exchange_client_credentials();
        for scope in scopes {
            exchange = exchange.add_scope(Scope::new((*scope).to_owned()));
        }
        for (name, value) in extra_params {
            exchange = exchange.add_extra_param(*name, *value);
        }
        let result = exchange.request_async(&http).await;
        self.finish(result)
    }

    fn summary(&self) -> RequestSummary {
        RequestSummary::new(
            http::Method::POST,
            self.transport.origin(),
            self.path.clone(),
        )
    }

    fn finish(
        &self,
        result: Result<LenientTokenResponse, RequestTokenError<Error, BasicErrorResponse>>,
    ) -> Result<Token> {
        match result {
            Ok(response) => Ok(issued(&response)),
            Err(RequestTokenError::Request(e)) => Err(e),
            Err(RequestTokenError::ServerResponse(e)) => Err(Error::Authentication(Box::new(
                crate::error::AuthenticationError {
                    request: self.summary(),
                    status: None,
                    error: e.error().to_string(),
                    description: e.error_description().cloned(),
                    hint: None,
                },
            ))),
            // The body may hold a token: never quote it, name only where it broke.
            Err(RequestTokenError::Parse(e, _body)) => Err(Error::Decode(Box::new(DecodeError {
                request: self.summary(),
                status: 200,
                reason: format!(
                    "the token response does not have the expected shape (at `{}`)",
                    e.path()
                ),
                body_snippet: None,
            }))),
            Err(RequestTokenError::Other(reason)) => Err(Error::Protocol {
                request: self.summary(),
                reason,
            }),
        }
    }
}
