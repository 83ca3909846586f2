//! The client and its builder.

use std::fmt;
use std::sync::Arc;

use bpsn_core::{TokenCache, Transport, TransportOptions};

use crate::credentials::{ApiCredentials, ClientCredentialsGrant, TenantParameter};
use crate::error::Result;
use crate::integration_accounts::IntegrationAccountPaths;
use crate::tenant::TenantUrl;

/// A Bright Pattern tenant client: one tenant, one API user.
///
/// Cheap to clone; clones share the connection pool and token cache.
///
/// ```no_run
/// use brightpattern_client::{ApiCredentials, Client, TenantUrl};
///
/// # async fn run() -> brightpattern_client::Result<()> {
/// let client = Client::new(
///     TenantUrl::parse("example").unwrap(),
///     ApiCredentials::new("api.admin", "api-secret"),
/// )?;
/// for team in client.teams().list().await? {
///     println!("{}", team.name);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

#[derive(Clone)]
struct ClientInner {
    transport: Transport,
    tenant: TenantUrl,
    login: String,
    paths: IntegrationAccountPaths,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("tenant", &self.inner.tenant)
            .field("login", &self.inner.login)
            .field("transport", &self.inner.transport)
            .finish()
    }
}

impl Client {
    /// Starts building a client for `tenant`.
    pub fn builder(tenant: TenantUrl, credentials: ApiCredentials) -> ClientBuilder {
        ClientBuilder {
            tenant,
            credentials,
            options: TransportOptions::default(),
            tenant_parameter: TenantParameter::default(),
            paths: IntegrationAccountPaths::default(),
        }
    }

    /// A client with default settings.
    pub fn new(tenant: TenantUrl, credentials: ApiCredentials) -> Result<Self> {
        Self::builder(tenant, credentials).build()
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantUrl {
        &self.inner.tenant
    }

    /// The API user's login.
    pub fn login(&self) -> &str {
        &self.inner.login
    }

    /// This client (same login, token cache and settings), refusing to send
    /// anything but reads: a create, update or delete fails with
    /// [`Error::ReadOnly`](crate::Error::ReadOnly) before it is sent.
    pub fn read_only(&self) -> Client {
        let mut inner = (*self.inner).clone();
        inner.transport = inner.transport.read_only();
        Client {
            inner: Arc::new(inner),
        }
    }

    /// Whether this client refuses everything but reads ([`Client::read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.inner.transport.is_read_only()
    }

    /// The transport, for calls this crate does not model.
    pub fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The integration-account paths in use.
    pub fn integration_account_paths(&self) -> &IntegrationAccountPaths {
        &self.inner.paths
    }

    /// The same client (sharing its connection pool and token cache) with other
    /// integration-account paths; the paths are checked first.
    pub fn with_integration_account_paths(&self, paths: IntegrationAccountPaths) -> Result<Self> {
        paths.check()?;
        let mut inner = (*self.inner).clone();
        inner.paths = paths;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    tenant: TenantUrl,
    credentials: ApiCredentials,
    options: TransportOptions,
    tenant_parameter: TenantParameter,
    paths: IntegrationAccountPaths,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("tenant", &self.tenant)
            .field("credentials", &self.credentials)
            .field("options", &self.options)
            .field("tenant_parameter", &self.tenant_parameter)
            .field("paths", &self.paths)
            .finish()
    }
}

impl ClientBuilder {
    bpsn_core::transport_settings!(
        crate: "brightpattern_client",
        builder: "brightpattern_client::Client::builder(brightpattern_client::TenantUrl::parse(\"example\")?, brightpattern_client::ApiCredentials::new(\"api.admin\", \"secret\"))"
    );

    /// Sets how the token request names the tenant (`scope` by default).
    pub fn tenant_parameter(mut self, parameter: TenantParameter) -> Self {
        self.tenant_parameter = parameter;
        self
    }

    /// Overrides where the integration-account endpoints live on this deployment.
    pub fn integration_account_paths(mut self, paths: IntegrationAccountPaths) -> Self {
        self.paths = paths;
        self
    }

    /// Builds the client. Sends no request.
    pub fn build(self) -> Result<Client> {
        self.paths.check()?;
        let anonymous = self
            .options
            .transport_builder(
                self.tenant.origin().clone(),
                "brightpattern",
                concat!("brightpattern-client/", env!("CARGO_PKG_VERSION")),
            )
            .error_parser(crate::error::parse_error_body)
            .build()?;
        let grant = ClientCredentialsGrant::new(
            &anonymous,
            &self.credentials,
            self.tenant.host(),
            self.tenant_parameter,
        )?;
        let transport = anonymous.with_authenticator(Arc::new(TokenCache::new(grant)));
        Ok(Client {
            inner: Arc::new(ClientInner {
                transport,
                tenant: self.tenant,
                login: self.credentials.login,
                paths: self.paths,
            }),
        })
    }
}
