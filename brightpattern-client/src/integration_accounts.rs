//! ServiceNow integration accounts, and the two actions of the administrator UI:
//! "Request Refresh Token" and "Test connection".
//!
//! # Unverified endpoints: call them only on purpose
//!
//! Bright Pattern's public API documentation does not list integration-account
//! endpoints; its published Configuration API collection has users, teams, phones,
//! lists, campaigns, SCIM — and no integration accounts. Everything this module
//! assumes about them is in one place, [`IntegrationAccountPaths`] (paths,
//! overridable per deployment) and the wire format below, and every assumption
//! fails loudly when wrong: a tenant that does not offer an endpoint gives
//! [`Error::EndpointUnavailable`], which a caller turns into a manual step, and an
//! account body of another shape is a decode error naming the missing field.
//!
//! "Not offered" is what the documentation says an unknown endpoint answers:
//! **500** ("incorrect endpoint specification"), usually with an empty body. So a
//! 500 with an empty or non-JSON body on the read of the collection
//! ([`list`](IntegrationAccounts::list), [`get`](IntegrationAccounts::get)) means
//! "not offered", as do 404, 405 and 501; a 500 on any other call, or one with a
//! JSON error body, stays a server error. The workflow in
//! `brightpattern-servicenow` calls these endpoints only when its spec opts in.
//!
//! The account body assumed, as JSON:
//!
//! ```json
//! {
//!   "type": "ServiceNow",
//!   "name": "ServiceNow",
//!   "default": true,
//!   "url": "https://dev12345.service-now.com",
//!   "clientId": "08942j33191d72005a08cb62d2583d6e",
//!   "clientSecret": "(sent on create and replace, never read back)",
//!   "refreshTokenPresent": false
//! }
//! ```
//!
//! The refresh-token action posts `{"username": ..., "password": ...}` (the
//! tenant performs the OAuth password grant against the instance and keeps the
//! token); the test action answers `{"valid": bool, "message": ...}`.
//!
//! ```no_run
//! # async fn run(client: brightpattern_client::Client) -> brightpattern_client::Result<()> {
//! use brightpattern_client::integration_accounts::ServiceNowAccountSpec;
//! use brightpattern_client::{Origin, SecretString};
//!
//! let accounts = client.integration_accounts();
//! let spec = ServiceNowAccountSpec {
//!     name: "ServiceNow".into(),
//!     default: true,
//!     instance_url: Origin::parse("https://dev12345.service-now.com").unwrap(),
//!     client_id: "08942j33191d72005a08cb62d2583d6e".into(),
//!     client_secret: SecretString::from("from the OAuth endpoint"),
//! };
//! match accounts.create(&spec).await {
//!     Err(e) if e.is_endpoint_unavailable() => println!("create it by hand in Contact Center Administrator"),
//!     other => other?,
//! }
//! accounts.request_refresh_token("ServiceNow", "admin", &SecretString::from("password")).await?;
//! assert!(accounts.test_connection("ServiceNow").await?.valid);
//! # Ok(()) }
//! ```

use std::fmt;

use bpsn_core::transport::path_segment;
use bpsn_core::{Origin, Request, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{Error, InvalidInput, Result};

/// The integration-account type this module handles.
pub const SERVICENOW_TYPE: &str = "ServiceNow";

/// What to tell a caller whose tenant lacks the endpoints.
pub const UNAVAILABLE_HINT: &str = "this tenant does not offer integration accounts through its API; create the account in Contact Center Administrator (Configuration > Integration Accounts > Add > ServiceNow), or set IntegrationAccountPaths for this deployment";

/// Where the integration-account endpoints live. `{name}` stands for the
/// (percent-encoded) account name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationAccountPaths {
    /// List (GET) and create (POST).
    pub collection: String,
    /// Replace (PUT) and delete (DELETE) one account.
    pub item: String,
    /// Request a refresh token (POST).
    pub request_refresh_token: String,
    /// Test the connection (POST).
    pub test_connection: String,
}

impl Default for IntegrationAccountPaths {
    fn default() -> Self {
        Self {
            collection: "/configapi/v2/integrationaccount".into(),
            item: "/configapi/v2/integrationaccount/{name}".into(),
            request_refresh_token: "/configapi/v2/integrationaccount/{name}/refreshtoken".into(),
            test_connection: "/configapi/v2/integrationaccount/{name}/test".into(),
        }
    }
}

impl IntegrationAccountPaths {
    /// Checks that every path starts with `/` and the per-account ones hold `{name}`.
    pub fn check(&self) -> Result<()> {
        let paths = [
            ("collection", &self.collection, false),
            ("item", &self.item, true),
            ("request_refresh_token", &self.request_refresh_token, true),
            ("test_connection", &self.test_connection, true),
        ];
        for (what, path, needs_name) in paths {
            if !path.starts_with('/') || (needs_name && !path.contains("{name}")) {
                return Err(InvalidInput::new(
                    "integration account path",
                    format!(
                        "{what} path {path:?} must start with `/`{}",
                        if needs_name { " and hold `{name}`" } else { "" }
                    ),
                )
                .into());
            }
        }
        Ok(())
    }

    fn for_account(template: &str, name: &str) -> Result<String> {
        Ok(template.replace("{name}", &path_segment(name)?))
    }
}

/// Whether the account holds a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshTokenState {
    /// None was requested yet (or it was cleared).
    Missing,
    /// The tenant holds one.
    Present,
}

/// A ServiceNow integration account as the tenant reports it (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNowIntegrationAccount {
    /// The unique name.
    pub name: String,
    /// Whether it is the default ServiceNow account.
    pub default: bool,
    /// The ServiceNow instance it talks to.
    pub instance_url: Origin,
    /// The OAuth client id.
    pub client_id: String,
    /// Whether a refresh token is held.
    pub refresh_token: RefreshTokenState,
}

/// What a ServiceNow integration account should be (for create and replace).
#[derive(Clone)]
pub struct ServiceNowAccountSpec {
    /// The unique name.
    pub name: String,
    /// Whether it is the default ServiceNow account.
    pub default: bool,
    /// The ServiceNow instance origin.
    pub instance_url: Origin,
    /// The OAuth client id of the instance's OAuth endpoint.
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: SecretString,
}

impl fmt::Debug for ServiceNowAccountSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceNowAccountSpec")
            .field("name", &self.name)
            .field("default", &self.default)
            .field("instance_url", &self.instance_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

impl ServiceNowAccountSpec {
    fn check(&self) -> Result<()> {
        if self.name.trim().is_empty()
            || self.client_id.trim().is_empty()
            || self.client_secret.expose_secret().is_empty()
        {
            return Err(InvalidInput::new(
                "integration account",
                "name, client id and client secret must not be empty",
            )
            .into());
        }
        // The name addresses the account in every later path: one that cannot
        // (`.`, `..`) is refused before the account is made.
        path_segment(&self.name)?;
        Ok(())
    }
}

/// The tenant's verdict on an account's connection.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConnectionTest {
    /// Whether the connection works ("Connection is valid").
    #[serde(with = "bpsn_core::wire::string_bool")]
    pub valid: bool,
    /// The tenant's message.
    #[serde(default)]
    pub message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAccount {
    #[serde(rename = "type")]
    account_type: String,
    name: String,
    #[serde(default, with = "bpsn_core::wire::string_bool::option")]
    default: Option<bool>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default, with = "bpsn_core::wire::string_bool::option")]
    refresh_token_present: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireSpec<'a> {
    #[serde(rename = "type")]
    account_type: &'static str,
    name: &'a str,
    default: bool,
    url: &'a str,
    client_id: &'a str,
    client_secret: &'a str,
}

impl WireAccount {
    fn typed(self, response: &Response) -> Result<ServiceNowIntegrationAccount> {
        let missing = |field: &str| {
            response.decode_error(format!(
                "ServiceNow account {:?} has no `{field}`",
                self.name
            ))
        };
        let url = self.url.as_deref().ok_or_else(|| missing("url"))?;
        let instance_url = Origin::parse(url).map_err(|e| {
            response.decode_error(format!("account {:?} has an invalid url: {e}", self.name))
        })?;
        Ok(ServiceNowIntegrationAccount {
            client_id: self.client_id.clone().ok_or_else(|| missing("clientId"))?,
            default: self.default.unwrap_or(false),
            refresh_token: match self.refresh_token_present {
                Some(true) => RefreshTokenState::Present,
                _ => RefreshTokenState::Missing,
            },
            instance_url,
            name: self.name,
        })
    }
}

/// The integration accounts of one tenant.
#[derive(Debug, Clone)]
pub struct IntegrationAccounts {
    client: Client,
}

impl Client {
    /// The integration accounts of this tenant.
    pub fn integration_accounts(&self) -> IntegrationAccounts {
        IntegrationAccounts {
            client: self.clone(),
        }
    }
}

/// Checks an account name before any request: not empty, and usable as one
/// URL path segment (`.` and `..` would collapse the account's URL to the
/// collection's, so a delete of the account would address every account).
///
/// ```
/// use brightpattern_client::integration_accounts::check_account_name;
/// assert!(check_account_name("ServiceNow").is_ok());
/// for bad in ["", " ", ".", ".."] {
///     assert!(check_account_name(bad).is_err(), "{bad:?}");
/// }
/// ```
pub fn check_account_name(name: &str) -> Result<()> {
    check_name(name)
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(InvalidInput::new("integration account name", "the name is empty").into());
    }
    path_segment(name).map(drop)
}

impl IntegrationAccounts {
    fn paths(&self) -> &IntegrationAccountPaths {
        self.client.integration_account_paths()
    }

    /// Sends a request, turning "not offered" statuses into
    /// [`Error::EndpointUnavailable`]. `missing_means_unavailable` says whether a
    /// 404 means the endpoint (true) or the account (false) is missing.
    async fn send(&self, request: Request, missing_means_unavailable: bool) -> Result<Response> {
        match self
            .client
            .transport()
            .send(request.api("integrationaccount"))
            .await
        {
            Err(Error::Api(api))
                if matches!(api.status, 405 | 501)
                    || (api.status == 404 && missing_means_unavailable) =>
            {
                Err(Error::EndpointUnavailable {
                    request: api.request,
                    status: api.status,
                    hint: Some(UNAVAILABLE_HINT.to_owned()),
                })
            }
            other => other,
        }
    }

    /// Every ServiceNow account (accounts of other types are left out).
    ///
    /// A 500 with an empty or non-JSON body is how the Configuration API answers an
    /// endpoint it does not have: it gives [`Error::EndpointUnavailable`], quoting
    /// the status.
    pub async fn list(&self) -> Result<Vec<ServiceNowIntegrationAccount>> {
        let request = Request::get(self.paths().collection.clone()).api("integrationaccount");
        let response = self.client.transport().send_raw(request).await?;
        let status = response.status().as_u16();
        let not_json = serde_json::from_slice::<serde_json::Value>(response.body()).is_err();
        if matches!(status, 404 | 405 | 501) || (status == 500 && not_json) {
            return Err(Error::EndpointUnavailable {
                request: response.request().clone(),
                status,
                hint: Some(UNAVAILABLE_HINT.to_owned()),
            });
        }
        if !response.status().is_success() {
            return Err(self.client.transport().status_error(&response));
        }
        let all: Vec<WireAccount> = response.json()?;
        all.into_iter()
            .filter(|a| a.account_type.eq_ignore_ascii_case(SERVICENOW_TYPE))
            .map(|a| a.typed(&response))
            .collect()
    }

    /// The ServiceNow account with this name, or `None`.
    pub async fn get(&self, name: &str) -> Result<Option<ServiceNowIntegrationAccount>> {
        check_name(name)?;
        Ok(self.list().await?.into_iter().find(|a| a.name == name))
    }

    fn request(
        spec: &ServiceNowAccountSpec,
        method: http::Method,
        path: String,
    ) -> Result<Request> {
        spec.check()?;
        // The tenant may echo what it was sent.
        crate::redact::register(spec.client_secret.expose_secret());
        let wire = WireSpec {
            account_type: SERVICENOW_TYPE,
            name: &spec.name,
            default: spec.default,
            url: spec.instance_url.as_str(),
            client_id: &spec.client_id,
            client_secret: spec.client_secret.expose_secret(),
        };
        Ok(Request::new(method, path).json(&wire)?.sensitive())
    }

    /// Creates an account (409 when the name is taken).
    pub async fn create(&self, spec: &ServiceNowAccountSpec) -> Result<()> {
        let request = Self::request(spec, http::Method::POST, self.paths().collection.clone())?;
        self.send(request, true).await?;
        Ok(())
    }

    /// Replaces an account's properties (the secret is sent again).
    pub async fn replace(&self, spec: &ServiceNowAccountSpec) -> Result<()> {
        let path = IntegrationAccountPaths::for_account(&self.paths().item, &spec.name)?;
        self.send(Self::request(spec, http::Method::PUT, path)?, false)
            .await?;
        Ok(())
    }

    /// Deletes an account.
    pub async fn delete(&self, name: &str) -> Result<()> {
        check_name(name)?;
        let path = IntegrationAccountPaths::for_account(&self.paths().item, name)?;
        self.send(Request::delete(path), false).await?;
        Ok(())
    }

    /// "Request Refresh Token": the tenant performs the OAuth password grant
    /// against the instance with these ServiceNow credentials and keeps the token.
    pub async fn request_refresh_token(
        &self,
        name: &str,
        username: &str,
        password: &SecretString,
    ) -> Result<()> {
        check_name(name)?;
        let path = IntegrationAccountPaths::for_account(&self.paths().request_refresh_token, name)?;
        let request = Request::post(path)
            .json(&serde_json::json!({"username": username, "password": password.expose_secret()}))?
            .sensitive();
        self.send(request, true).await?;
        Ok(())
    }

    /// "Test connection": the tenant's verdict.
    pub async fn test_connection(&self, name: &str) -> Result<ConnectionTest> {
        check_name(name)?;
        let path = IntegrationAccountPaths::for_account(&self.paths().test_connection, name)?;
        self.send(Request::post(path), true).await?.json()
    }
}
