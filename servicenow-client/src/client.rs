//! The client and its builder.

use std::fmt;
use std::sync::Arc;

use bpsn_core::{Transport, TransportOptions};

use crate::batch::BatchOptions;
use crate::credentials::Credentials;
use crate::error::{InvalidInput, Result};
use crate::instance::InstanceUrl;
use crate::query::check_table;
use crate::table::{JsonRecord, PagingLimits, Record, Table};

/// The default number of records asked for per page when listing.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

/// A ServiceNow client: one instance, one set of credentials.
///
/// Cheap to clone (clones share the connection pool and the token cache) and safe
/// to use from many tasks at once.
///
/// ```no_run
/// use servicenow_client::{Client, Credentials, InstanceUrl, Record};
/// use servicenow_client::query::Query;
/// use futures_util::TryStreamExt;
/// use serde::Deserialize;
///
/// #[derive(Debug, Deserialize)]
/// struct User {
///     user_name: String,
///     email: String,
/// }
///
/// impl Record for User {
///     const TABLE: &'static str = "sys_user";
/// }
///
/// # async fn run() -> servicenow_client::Result<()> {
/// let client = Client::builder(
///     InstanceUrl::parse("dev12345").unwrap(),
///     Credentials::basic("admin", "s3cret"),
/// )
/// .build()?;
///
/// let agents: Vec<User> = client
///     .table::<User>()
///     .list(Query::new().starts_with("user_name", "agent."))
///     .try_collect()
///     .await?;
/// println!("{} agents", agents.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

#[derive(Clone)]
struct ClientInner {
    transport: Transport,
    instance: InstanceUrl,
    page_size: u32,
    paging: PagingLimits,
    batch: BatchOptions,
    username: Option<String>,
    method: &'static str,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("instance", &self.inner.instance)
            .field("username", &self.inner.username)
            .field("transport", &self.inner.transport)
            .field("page_size", &self.inner.page_size)
            .finish()
    }
}

impl Client {
    /// Starts building a client for `instance`, authenticating with `credentials`.
    pub fn builder(instance: InstanceUrl, credentials: Credentials) -> ClientBuilder {
        ClientBuilder {
            instance,
            credentials,
            options: TransportOptions::default(),
            page_size: DEFAULT_PAGE_SIZE,
            paging: PagingLimits::default(),
            batch: BatchOptions::default(),
        }
    }

    /// A client with default settings.
    pub fn new(instance: InstanceUrl, credentials: Credentials) -> Result<Self> {
        Self::builder(instance, credentials).build()
    }

    /// The instance this client talks to.
    pub fn instance(&self) -> &InstanceUrl {
        &self.inner.instance
    }

    /// What kind of credentials the client uses (`basic`, `OAuth client
    /// credentials`, `API key`, …), for people; never a secret.
    pub fn credentials_method(&self) -> &'static str {
        self.inner.method
    }

    /// The user name of the credentials, when they name one.
    pub fn username(&self) -> Option<&str> {
        self.inner.username.as_deref()
    }

    /// A client for the same instance, sharing this one's connection pool and
    /// settings, that authenticates with other credentials (for example to prove
    /// that a freshly created OAuth client works). Sends no request.
    pub fn with_credentials(&self, credentials: Credentials) -> Result<Client> {
        let anonymous = self.inner.transport.anonymous();
        let authenticator = credentials.authenticator(&anonymous)?;
        Ok(Client {
            inner: Arc::new(ClientInner {
                transport: anonymous.with_authenticator(authenticator),
                instance: self.inner.instance.clone(),
                page_size: self.inner.page_size,
                paging: self.inner.paging,
                batch: self.inner.batch.clone(),
                username: credentials.username().map(str::to_owned),
                method: credentials.method(),
            }),
        })
    }

    /// This client (same credentials, session and settings), refusing to send
    /// anything but reads: a create, update, delete, plugin activation or
    /// batch with a write fails with [`Error::ReadOnly`](crate::Error::ReadOnly)
    /// before it is sent, while GETs and batches of GETs go through. Clients
    /// derived from it ([`with_credentials`](Self::with_credentials)) are
    /// read-only too, their token requests included.
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

    /// The page size used when listing.
    pub fn page_size(&self) -> u32 {
        self.inner.page_size
    }

    /// Where listing stops by itself.
    pub fn paging_limits(&self) -> PagingLimits {
        self.inner.paging
    }

    /// The batch settings.
    pub fn batch_options(&self) -> &BatchOptions {
        &self.inner.batch
    }

    /// The Table API for a typed record.
    pub fn table<R: Record>(&self) -> Table<R> {
        Table::new(self.clone(), R::TABLE.into())
    }

    /// The Table API for any table, reading rows as `R` (for example
    /// [`JsonRecord`]). The name is checked (`[a-z0-9_]`).
    pub fn table_as<R>(&self, name: &str) -> Result<Table<R>> {
        check_table(name)?;
        Ok(Table::new(self.clone(), name.to_owned().into()))
    }

    /// The Table API for any table, as untyped JSON maps.
    pub fn table_json(&self, name: &str) -> Result<Table<JsonRecord>> {
        self.table_as(name)
    }
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    instance: InstanceUrl,
    credentials: Credentials,
    options: TransportOptions,
    page_size: u32,
    paging: PagingLimits,
    batch: BatchOptions,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("instance", &self.instance)
            .field("credentials", &self.credentials)
            .field("options", &self.options)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    bpsn_core::transport_settings!(
        crate: "servicenow_client",
        builder: "servicenow_client::Client::builder(servicenow_client::InstanceUrl::parse(\"dev12345\")?, servicenow_client::Credentials::basic(\"admin\", \"pw\"))"
    );

    /// Sets the number of records asked for per page (1 to 10 000; default 1000).
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }

    /// Sets where listing stops by itself, whatever the server announces
    /// (default [`PagingLimits::default`]).
    pub fn paging_limits(mut self, limits: PagingLimits) -> Self {
        self.paging = limits;
        self
    }

    /// Sets how batches are split and sent.
    pub fn batch_options(mut self, batch: BatchOptions) -> Self {
        self.batch = batch;
        self
    }

    /// Builds the client. Fails on invalid settings; sends no request.
    pub fn build(self) -> Result<Client> {
        if !(1..=10_000).contains(&self.page_size) {
            return Err(InvalidInput::new(
                "page size",
                format!("{} is outside 1..=10000", self.page_size),
            )
            .into());
        }
        self.batch.check()?;
        let anonymous = self
            .options
            .transport_builder(
                self.instance.origin().clone(),
                "servicenow",
                concat!("servicenow-client/", env!("CARGO_PKG_VERSION")),
            )
            .error_parser(crate::error::parse_error_envelope)
            .build()?;
        let authenticator = self.credentials.authenticator(&anonymous)?;
        let transport = anonymous.with_authenticator(authenticator);
        Ok(Client {
            inner: Arc::new(ClientInner {
                transport,
                instance: self.instance,
                page_size: self.page_size,
                paging: self.paging,
                batch: self.batch,
                username: self.credentials.username().map(str::to_owned),
                method: self.credentials.method(),
            }),
        })
    }
}
