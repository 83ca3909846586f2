//! What the integration should look like: [`IntegrationSpec`], loaded from TOML and
//! validated with every problem reported at once.
//!
//! Credentials are never part of the spec; the caller passes them to the
//! [`Workflow`](crate::Workflow) (the command-line tool reads them from the
//! environment).
//!
//! ```
//! use brightpattern_servicenow::IntegrationSpec;
//!
//! let spec = IntegrationSpec::from_toml(r#"
//!     [servicenow]
//!     instance = "dev12345"
//!
//!     [brightpattern]
//!     tenant = "example"
//!
//!     [openframe]
//!     name = "Bright Pattern"
//!     width = 300
//!     height = 750
//!
//!     [access]
//!     users = ["agent.1"]
//!     groups = ["Agents"]
//! "#).unwrap();
//! let resolved = spec.resolve().unwrap();
//! assert_eq!(resolved.openframe.url.as_str(),
//!     "https://example.brightpattern.com/agentdesktop/?topDomain=https%3A%2F%2Fdev12345.service-now.com");
//! assert_eq!(resolved.plugins, ["com.sn_openframe", "com.snc.platform.security.oauth"]);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use brightpattern_client::TenantUrl;
use serde::{Deserialize, Serialize};
use servicenow_client::InstanceUrl;
use servicenow_client::cors::CorsDomain;
use servicenow_client::plugins::ids;
use servicenow_openframe::{AgentDesktopUrl, OpenFrameSettings, Size};

/// The whole integration, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationSpec {
    /// The ServiceNow instance.
    pub servicenow: ServiceNowSection,
    /// The Bright Pattern tenant.
    pub brightpattern: BrightPatternSection,
    /// Plugins to keep active.
    #[serde(default)]
    pub plugins: PluginsSection,
    /// The OpenFrame configuration.
    #[serde(default)]
    pub openframe: OpenFrameSection,
    /// Who gets `sn_openframe_user`.
    #[serde(default)]
    pub access: AccessSection,
    /// The CORS rule.
    #[serde(default)]
    pub cors: CorsSection,
    /// The OAuth application registry entry.
    #[serde(default)]
    pub oauth: OAuthSection,
    /// The Bright Pattern integration account.
    #[serde(default)]
    pub integration_account: IntegrationAccountSection,
    /// How to reach both platforms (a proxy).
    #[serde(default, skip_serializing_if = "NetworkSection::is_default")]
    pub network: NetworkSection,
    /// Extra system properties to keep (`[[properties]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<PropertyEntry>,
    /// A Store application to install (`[store_app]`, the 5.19 procedure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_app: Option<StoreAppSection>,
    /// The sections of steps of your own (`[steps.<step id>]`), each checked
    /// against its step's type when the step is registered
    /// ([`WorkflowBuilder::step`](crate::WorkflowBuilder::step)); a section no
    /// registered step reads is refused before anything is written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub steps: BTreeMap<String, StepSection>,
}

/// The type of a step's own spec section, as the step declares it
/// ([`Step::section`](crate::Step::section)): the registry checks the spec's
/// `[steps.<step id>]` against it when the step is registered, naming every
/// problem at once.
#[derive(Clone, Copy)]
pub struct SectionSchema {
    check: fn(&StepSection, &str) -> Vec<String>,
    required: bool,
}

impl fmt::Debug for SectionSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SectionSchema")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl SectionSchema {
    /// A section of type `T` (which may be left out of the spec).
    pub fn of<T: serde::de::DeserializeOwned>() -> Self {
        Self {
            check: |section, name| section.parse::<T>(name).err().unwrap_or_default(),
            required: false,
        }
    }

    /// The spec must give the section.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Every problem of `section` (the spec's `[steps.<step>]`, if it has one)
    /// against this type.
    pub fn problems(&self, step: &str, section: Option<&StepSection>) -> Vec<String> {
        let name = format!("steps.{step}");
        match section {
            Some(section) => (self.check)(section, &name),
            None if self.required => vec![format!("[{name}]: the step needs this section")],
            None => Vec::new(),
        }
    }
}

/// A step's own section of the spec (`[steps.<step id>]`), as written: the
/// step reads it typed through [`StepSection::parse`] (or
/// [`Context::section`](crate::Context::section)).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StepSection(toml::Table);

// A spec compares equal to itself (a NaN in a step's section aside, which no
// step's type accepts as a value worth comparing).
impl Eq for StepSection {}

impl StepSection {
    /// A section from its TOML table.
    pub fn new(table: toml::Table) -> Self {
        Self(table)
    }

    /// The section as written.
    pub fn table(&self) -> &toml::Table {
        &self.0
    }

    /// The section as `T`. Every key `T` does not know is named (all of them,
    /// not only the first), and a value of the wrong type is named with its key
    /// and what was expected; `section` is the section's name for the messages
    /// (`steps.agent_group`).
    pub fn parse<T: serde::de::DeserializeOwned>(&self, section: &str) -> Result<T, Vec<String>> {
        // A wrong value stops serde at its key: that key is set aside and the
        // rest read again, so that every problem is named in one go.
        let mut table = self.0.clone();
        let mut set_aside = Vec::new();
        let mut problems = Vec::new();
        let mut unknown = std::collections::BTreeSet::new();
        loop {
            let mut note = |path: serde_ignored::Path<'_>| {
                // (`?` stands for an `Option`'s value in its path.)
                let path = path.to_string();
                let path: Vec<&str> = path.split('.').filter(|p| *p != "?").collect();
                unknown.insert(format!("{section}.{}: unknown key", path.join(".")));
            };
            let value = toml::Value::Table(table.clone());
            let ignored = serde_ignored::Deserializer::new(value, &mut note);
            let error = match serde_path_to_error::deserialize::<_, T>(ignored) {
                Ok(parsed) if problems.is_empty() && unknown.is_empty() => return Ok(parsed),
                Ok(_) => break,
                Err(error) => error,
            };
            let key = match error.path().iter().next() {
                Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
                _ => None,
            };
            let message = error.inner().to_string();
            let message = message.lines().next().unwrap_or_default();
            let at = match key {
                Some(_) => format!("{section}.{}", error.path()),
                None => section.to_owned(),
            };
            if !set_aside
                .iter()
                .any(|k: &String| message == format!("missing field `{k}`"))
            {
                problems.push(format!("{at}: {message}"));
            }
            match key {
                Some(key) if table.remove(&key).is_some() => set_aside.push(key),
                _ => break,
            }
        }
        problems.extend(unknown);
        Err(problems)
    }
}

/// `[store_app]`: a ServiceNow Store application installed through the CI/CD
/// application repository (never uninstalled). Neither the scope nor the version
/// is built in: take them from the vendor's guide and the Store listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreAppSection {
    /// The application's scope (`x_vendor_app`).
    pub scope: String,
    /// The version to install; without it, any installed version is kept and a
    /// missing application gets the repository's latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One `[[properties]]` entry: a system property kept at `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyEntry {
    /// The property name (`glide.…`, `x_vendor.…`).
    pub name: String,
    /// The value to keep.
    pub value: String,
    /// The type for a property created here (`string`, `true | false`,
    /// `integer`); an existing property's own type is checked instead.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub property_type: Option<String>,
    /// The description for a property created here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `[servicenow]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowSection {
    /// A bare instance name (`dev12345`) or a full https origin.
    pub instance: String,
    /// How the administrator authenticates (`[servicenow.auth]`; basic by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSection>,
    /// TLS settings for the instance (`[servicenow.tls]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSection>,
    /// The update set the configuration writes should be captured in, for
    /// review and promotion: made the administrator's current one for each
    /// writing run (created in progress when no set has the name), the
    /// previous choice put back afterwards. Without it, the writes land in the
    /// administrator's current update set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_set: Option<String>,
}

/// `[servicenow.auth]`: how the administrator who configures authenticates. The
/// secrets never go in the file: they come from the environment (see
/// [`AuthMethod`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// `basic` (the default), `password` (OAuth password grant),
    /// `client_credentials` (OAuth, no user password), `jwt` (OAuth JWT bearer)
    /// or `api_key`.
    pub method: String,
    /// The OAuth application's client id, for `password`, `client_credentials`
    /// and `jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// For `jwt`: the RSA private key file (PEM) that signs assertions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// For `jwt`: the key id the instance's JWT verifier knows the key by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// For `jwt`: the user the tokens act as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// How the administrator authenticates, resolved from `[servicenow.auth]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthMethod {
    /// Basic: `SERVICENOW_USERNAME`, `SERVICENOW_PASSWORD`.
    Basic,
    /// OAuth password grant: the user's name and password as for basic, and
    /// `SERVICENOW_CLIENT_SECRET`.
    Password {
        /// The OAuth client id.
        client_id: String,
    },
    /// OAuth client credentials: `SERVICENOW_CLIENT_SECRET` (the application
    /// acts as its own user).
    ClientCredentials {
        /// The OAuth client id.
        client_id: String,
    },
    /// OAuth refresh-token grant: `SERVICENOW_REFRESH_TOKEN` and
    /// `SERVICENOW_CLIENT_SECRET` (a token issued earlier, to the user it acts as).
    RefreshToken {
        /// The OAuth client id.
        client_id: String,
    },
    /// A REST API key: `SERVICENOW_API_KEY`.
    ApiKey,
    /// OAuth JWT bearer: an assertion signed with the key in `key_file`, and
    /// `SERVICENOW_CLIENT_SECRET`.
    Jwt {
        /// The OAuth client id.
        client_id: String,
        /// The private key file (PEM).
        key_file: String,
        /// The key id.
        key_id: String,
        /// The user the tokens act as.
        subject: String,
    },
}

impl AuthMethod {
    /// For people: `basic`, `OAuth password grant (client id …)`, …
    pub fn describe(&self) -> String {
        match self {
            AuthMethod::Basic => "basic".to_owned(),
            AuthMethod::Password { client_id } => {
                format!("OAuth password grant (client id {client_id})")
            }
            AuthMethod::ClientCredentials { client_id } => {
                format!("OAuth client credentials (client id {client_id})")
            }
            AuthMethod::RefreshToken { client_id } => {
                format!("OAuth refresh token (client id {client_id})")
            }
            AuthMethod::ApiKey => "REST API key".to_owned(),
            AuthMethod::Jwt {
                client_id,
                key_id,
                subject,
                ..
            } => format!("OAuth JWT bearer (client id {client_id}, key {key_id}, as {subject})"),
        }
    }
}

/// `[network]`: how both platforms are reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// A proxy for every request (`http://proxy.example.com:3128`); without it,
    /// `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` are honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// The proxy's user name; its password comes from `PROXY_PASSWORD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_username: Option<String>,
    /// How long one request may take, in seconds, before it counts as failed
    /// (and is retried when that is safe); default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_secs: Option<u64>,
    /// How long a whole command may run, in seconds, before it stops and gives
    /// its lease back; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

impl NetworkSection {
    fn is_default(&self) -> bool {
        self == &NetworkSection::default()
    }
}

/// `[brightpattern]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrightPatternSection {
    /// A bare tenant name (`example`) or a full https origin.
    pub tenant: String,
    /// TLS settings for the tenant (`[brightpattern.tls]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSection>,
}

/// `[servicenow.tls]` / `[brightpattern.tls]`: files the tool reads (paths
/// relative to the working directory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// A PEM bundle of root certificates to trust as well as the platform's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_certificates: Option<String>,
    /// Trust only `root_certificates`, not the platform's roots.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub roots_only: bool,
    /// A client certificate (PEM) for mutual TLS; needs `client_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<String>,
    /// The client certificate's private key (PEM, PKCS#8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
}

/// `[plugins]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsSection {
    /// Plugin ids to keep active. Default: OpenFrame and OAuth 2.0. CTI Softphone
    /// (`com.snc.cti`, deprecated on new instances) and Customer Service
    /// (`com.sn_customerservice`) are opt-in.
    #[serde(default = "default_plugins")]
    pub activate: Vec<String>,
}

fn default_plugins() -> Vec<String> {
    vec![ids::OPENFRAME.to_owned(), ids::OAUTH2.to_owned()]
}

impl Default for PluginsSection {
    fn default() -> Self {
        Self {
            activate: default_plugins(),
        }
    }
}

/// `[openframe]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenFrameSection {
    /// The configuration's name.
    #[serde(default = "default_openframe_name")]
    pub name: String,
    /// The frame's title.
    #[serde(default = "default_title")]
    pub title: String,
    /// The frame's subtitle.
    #[serde(default)]
    pub subtitle: String,
    /// Width in pixels (default 373).
    #[serde(default = "default_width")]
    pub width: u32,
    /// Height in pixels (default 300).
    #[serde(default = "default_height")]
    pub height: u32,
    /// Order: users see only the active configuration with the lowest order.
    /// A number (default 100), or `"first"`: ahead of every other active
    /// configuration (apply computes the number, plan shows it).
    #[serde(default)]
    pub order: OrderSetting,
    /// The Agent Desktop entry path, when the tenant's release uses another one
    /// than `/agentdesktop/`.
    #[serde(default)]
    pub entry_path: Option<String>,
    /// Adopt the existing configuration with this name (the seed page's step 2
    /// edits CTI's: `adopt = "CTI"`) instead of creating one: apply sets the
    /// fields it manages on it, recording their previous values, and teardown
    /// restores them instead of deleting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt: Option<String>,
}

fn default_openframe_name() -> String {
    "Bright Pattern Agent Desktop".to_owned()
}

fn default_title() -> String {
    "Agent Desktop".to_owned()
}

fn default_width() -> u32 {
    Size::DEFAULT.width()
}

fn default_height() -> u32 {
    Size::DEFAULT.height()
}

/// `[openframe] order`: a number, or `"first"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderSetting {
    /// Exactly this order.
    Fixed(i64),
    /// Lower than every other active configuration.
    First,
}

impl OrderSetting {
    /// The default order of a new configuration.
    pub const DEFAULT: i64 = 100;
}

impl Default for OrderSetting {
    fn default() -> Self {
        OrderSetting::Fixed(Self::DEFAULT)
    }
}

impl Serialize for OrderSetting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OrderSetting::Fixed(n) => s.serialize_i64(*n),
            OrderSetting::First => s.serialize_str("first"),
        }
    }
}

impl<'de> Deserialize<'de> for OrderSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(OrderSetting::Fixed(n)),
            Raw::Word(w) if w == "first" => Ok(OrderSetting::First),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "order must be a number or \"first\", not {w:?}"
            ))),
        }
    }
}

impl Default for OpenFrameSection {
    fn default() -> Self {
        Self {
            name: default_openframe_name(),
            title: default_title(),
            subtitle: String::new(),
            width: default_width(),
            height: default_height(),
            order: OrderSetting::default(),
            entry_path: None,
            adopt: None,
        }
    }
}

/// `[access]`
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSection {
    /// User names (`sys_user.user_name`) that get `sn_openframe_user` directly.
    #[serde(default)]
    pub users: Vec<String>,
    /// Group names (`sys_user_group.name`) that get `sn_openframe_user`.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `[cors]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSection {
    /// The CORS rule's name.
    #[serde(default = "default_cors_name")]
    pub name: String,
    /// Adopt an existing rule with this name that bp-servicenow did not create:
    /// apply changes what the integration needs, recording the previous values,
    /// and teardown restores them. Without it, such a rule is refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
}

fn default_cors_name() -> String {
    "Bright Pattern Agent Desktop".to_owned()
}

impl Default for CorsSection {
    fn default() -> Self {
        Self {
            name: default_cors_name(),
            adopt: false,
        }
    }
}

/// `[oauth]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSection {
    /// The application registry entry's name.
    #[serde(default = "default_oauth_name")]
    pub name: String,
    /// Access-token lifespan in seconds (default 1800).
    #[serde(default = "default_access_lifespan")]
    pub access_token_lifespan: u32,
    /// Refresh-token lifespan in seconds (default 8 640 000, 100 days).
    #[serde(default = "default_refresh_lifespan")]
    pub refresh_token_lifespan: u32,
}

fn default_oauth_name() -> String {
    "Bright Pattern".to_owned()
}

fn default_access_lifespan() -> u32 {
    servicenow_client::oauth::DEFAULT_ACCESS_TOKEN_LIFESPAN
}

fn default_refresh_lifespan() -> u32 {
    servicenow_client::oauth::DEFAULT_REFRESH_TOKEN_LIFESPAN
}

impl Default for OAuthSection {
    fn default() -> Self {
        Self {
            name: default_oauth_name(),
            access_token_lifespan: default_access_lifespan(),
            refresh_token_lifespan: default_refresh_lifespan(),
        }
    }
}

/// `[integration_account]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationAccountSection {
    /// The account's name.
    #[serde(default = "default_account_name")]
    pub name: String,
    /// Whether it is the default ServiceNow account (default true).
    #[serde(default = "yes")]
    pub default: bool,
    /// How the account is made: by a person (`"manual"`, the default, since Bright
    /// Pattern documents no API for it), or through the SDK's assumed endpoints
    /// (`"assumed"`, unverified: a tenant that lacks them turns the step manual).
    #[serde(default)]
    pub api: AccountApi,
    /// With `api = "assumed"`: endpoint paths of this deployment, instead of the
    /// assumed ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<AccountPathsSection>,
}

/// `[integration_account] api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccountApi {
    /// A person creates the account; plan, apply and verify give the checklist.
    #[default]
    Manual,
    /// Call the integration-account endpoints the SDK assumes (or `paths`).
    /// Unverified against Bright Pattern's documentation.
    Assumed,
}

/// `[integration_account.paths]`: `{name}` stands for the account name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPathsSection {
    /// List (GET) and create (POST).
    pub collection: String,
    /// Replace (PUT) and delete (DELETE) one account.
    pub item: String,
    /// Request a refresh token (POST).
    pub request_refresh_token: String,
    /// Test the connection (POST).
    pub test_connection: String,
}

impl AccountPathsSection {
    /// The paths as the Bright Pattern client takes them.
    pub fn to_paths(&self) -> brightpattern_client::integration_accounts::IntegrationAccountPaths {
        brightpattern_client::integration_accounts::IntegrationAccountPaths {
            collection: self.collection.clone(),
            item: self.item.clone(),
            request_refresh_token: self.request_refresh_token.clone(),
            test_connection: self.test_connection.clone(),
        }
    }
}

fn default_account_name() -> String {
    "ServiceNow".to_owned()
}

fn yes() -> bool {
    true
}

impl Default for IntegrationAccountSection {
    fn default() -> Self {
        Self {
            name: default_account_name(),
            default: true,
            api: AccountApi::Manual,
            paths: None,
        }
    }
}

/// A spec that could not be read or is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The TOML could not be parsed, or holds an unknown key (named in the message).
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// The values are not valid: every problem found.
    #[error("{0}")]
    Invalid(SpecProblems),
}

/// Whether a TOML key names something secret (a password, a secret, a token,
/// a key, a credential): a line holding its value is never quoted.
fn secret_key(key: &str) -> bool {
    let key = key
        .trim()
        .trim_start_matches("export ")
        .to_ascii_lowercase();
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "credential",
        "auth",
        "cookie",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// Whether a line is a credentials file's `KEY=VALUE` (upper-case name).
fn environment_line(line: &str) -> bool {
    let line = line.trim().trim_start_matches("export ");
    line.split_once('=').is_some_and(|(key, _)| {
        let key = key.trim();
        !key.is_empty()
            && key.starts_with(|c: char| c.is_ascii_uppercase())
            && key
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

/// A TOML error, for people, that never quotes a secret: a file that is a
/// credentials file (`KEY=VALUE` lines) is named as one without quoting any
/// line; otherwise the offending line is quoted only when it holds no value
/// of a secret-looking key. `role` names what the file should be.
pub(crate) fn toml_error(text: &str, error: &toml::de::Error, role: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let env_lines = lines.iter().filter(|l| environment_line(l)).count();
    if env_lines > 0 && env_lines * 2 >= lines.len() {
        return format!(
            "this is not a {role} (TOML): it holds KEY=VALUE lines, as a credentials file does ({env_lines} of {} lines); its lines are not shown, as they may hold secrets",
            lines.len()
        );
    }
    let Some(span) = error.span() else {
        return in_words(error.message().trim());
    };
    let start = span.start.min(text.len());
    let before = &text[..start];
    let line_number = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let line = text.lines().nth(line_number - 1).unwrap_or_default();
    let risky = environment_line(line)
        || line.split_once('=').is_some_and(|(key, _)| secret_key(key))
        || line.split_once(':').is_some_and(|(key, _)| secret_key(key));
    if risky {
        format!(
            "line {line_number}, column {column}: {} (the line is not shown: it may hold a secret)",
            in_words(error.message().trim())
        )
    } else {
        in_words(error.to_string().trim())
    }
}

/// A parser's message with its Rust type names said in words (`expected
/// u32` → `expected a whole number from 0 to 4294967295`).
fn in_words(message: &str) -> String {
    let mut out = message.to_owned();
    for (rust, words) in [
        ("expected u64", "expected a whole number of 0 or more"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected i64", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected a string", "expected text in quotes"),
    ] {
        out = out.replace(rust, words);
    }
    out
}

/// Every problem of a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblems(pub Vec<String>);

impl SpecProblems {
    /// The problems with the line of `text` (the spec's TOML) each one's key
    /// stands on, where it can be found (`line 12: openframe.width: …`).
    pub fn with_lines(self, text: &str) -> Self {
        SpecProblems(
            self.0
                .into_iter()
                .map(|problem| {
                    let key = problem.split([':', ' ']).next().unwrap_or_default();
                    match line_of(text, key.trim()) {
                        Some(line) => format!("line {line}: {problem}"),
                        None => problem,
                    }
                })
                .collect(),
        )
    }
}

/// The 1-based line a dotted key (`openframe.width`, `servicenow.auth.client_id`)
/// stands on in `text`: the key's own line under its table's header, else the
/// header's line. Array tables and inline tables are not searched.
fn line_of(text: &str, key: &str) -> Option<usize> {
    if key.is_empty() || key.contains(char::is_whitespace) {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let header = |table: &str| lines.iter().position(|l| l.trim() == format!("[{table}]"));
    // The longest table the key's prefix names, then the key in it.
    let parts: Vec<&str> = key.split('.').collect();
    for cut in (1..parts.len()).rev() {
        let (table, rest) = (parts[..cut].join("."), parts[cut..].join("."));
        let Some(at) = header(&table) else { continue };
        let key_line = lines[at + 1..]
            .iter()
            .take_while(|l| !l.trim_start().starts_with('['))
            .position(|l| {
                l.split_once('=')
                    .is_some_and(|(k, _)| k.trim().trim_matches('"') == rest)
            });
        return Some(match key_line {
            Some(offset) => at + 2 + offset,
            None => at + 1,
        });
    }
    header(key).map(|at| at + 1)
}

impl fmt::Display for SpecProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            1 => write!(f, "invalid configuration (1 problem):")?,
            n => write!(f, "invalid configuration ({n} problems):")?,
        }
        for p in &self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// A validated spec with every value resolved (URLs parsed, the Agent Desktop
/// URL built).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSpec {
    /// The instance.
    pub instance: InstanceUrl,
    /// The tenant.
    pub tenant: TenantUrl,
    /// Plugin ids to keep active.
    pub plugins: Vec<String>,
    /// The OpenFrame settings (with the Agent Desktop URL built; with `order =
    /// "first"`, `order` holds the default and [`openframe_order`](Self::openframe_order)
    /// says to compute it).
    pub openframe: OpenFrameSettings,
    /// The configured order.
    pub openframe_order: OrderSetting,
    /// Users and groups to get `sn_openframe_user`.
    pub access: AccessSection,
    /// The CORS rule's name.
    pub cors_name: String,
    /// Whether an existing CORS rule with that name may be adopted.
    pub cors_adopt: bool,
    /// The name of an existing OpenFrame configuration to adopt, if any.
    pub openframe_adopt: Option<String>,
    /// The CORS rule's domain: the tenant origin.
    pub cors_domain: CorsDomain,
    /// The OAuth application settings.
    pub oauth: OAuthSection,
    /// The integration account settings.
    pub integration_account: IntegrationAccountSection,
    /// How the administrator authenticates to ServiceNow.
    pub auth: AuthMethod,
    /// The proxy, when the spec names one (checked).
    pub proxy: Option<servicenow_client::Proxy>,
    /// The proxy's user name, when given.
    pub proxy_username: Option<String>,
    /// How long one request may take (`[network] request_timeout_secs`).
    pub request_timeout: Option<Duration>,
    /// How long a whole command may run (`[network] timeout_secs`).
    pub timeout: Option<Duration>,
    /// TLS files for the instance.
    pub servicenow_tls: TlsSection,
    /// TLS files for the tenant.
    pub brightpattern_tls: TlsSection,
    /// Extra system properties to keep.
    pub properties: Vec<PropertyEntry>,
    /// The Store application to install, checked.
    pub store_app: Option<servicenow_client::applications::InstallRequest>,
    /// The update set the configuration writes are captured in
    /// (`[servicenow] update_set`), when the spec names one.
    pub update_set: Option<String>,
    /// The sections of steps of your own (`[steps.<step id>]`), as written.
    pub steps: BTreeMap<String, StepSection>,
}

/// Why `value` does not fit the property's type on the instance (and, for a
/// choice list, its choices), if it does not.
pub(crate) fn property_misfit(property_type: &str, choices: &str, value: &str) -> Option<String> {
    match property_type.trim() {
        "true | false" | "boolean" if !matches!(value, "true" | "false") => {
            Some(format!("{value:?} is not true or false"))
        }
        "integer" if value.trim().parse::<i64>().is_err() => {
            Some(format!("{value:?} is not an integer"))
        }
        "choicelist" | "choice list" => {
            // The choices' format is not documented: items split by commas or
            // lines, each a value or `Label=value`; either side is accepted.
            let items: Vec<&str> = choices
                .split([',', '\n'])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            let allowed = items.is_empty()
                || items
                    .iter()
                    .any(|item| item.split('=').any(|side| side.trim() == value));
            (!allowed).then(|| format!("{value:?} is not one of its choices ({choices})"))
        }
        _ => None,
    }
}

/// The most users `[access] users` may list.
pub const MAX_USERS: usize = 100_000;

/// The most groups `[access] groups` may list.
pub const MAX_GROUPS: usize = 10_000;

/// The most `[[properties]]` a spec may hold.
pub const MAX_PROPERTIES: usize = 1_000;

/// The role the integration grants.
pub const OPENFRAME_ROLE: &str = "sn_openframe_user";

impl IntegrationSpec {
    /// Reads a spec from TOML; an unknown key is an error naming it.
    pub fn from_toml(text: &str) -> Result<Self, SpecError> {
        toml::from_str(text).map_err(|e| SpecError::Parse(toml_error(text, &e, "configuration")))
    }

    /// Writes the spec as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks every value and resolves the spec; reports every problem at once.
    pub fn resolve(&self) -> Result<ResolvedSpec, SpecError> {
        let mut problems = Vec::new();
        let auth = match &self.servicenow.auth {
            None => Some(AuthMethod::Basic),
            Some(a) => {
                let mut client_id = || match &a.client_id {
                    Some(id) if !id.trim().is_empty() => Some(id.trim().to_owned()),
                    _ => {
                        problems.push(format!(
                            "servicenow.auth.client_id: method {:?} needs the OAuth application's client id",
                            a.method
                        ));
                        None
                    }
                };
                match a.method.as_str() {
                    "basic" => Some(AuthMethod::Basic),
                    "password" => client_id().map(|client_id| AuthMethod::Password { client_id }),
                    "client_credentials" => {
                        client_id().map(|client_id| AuthMethod::ClientCredentials { client_id })
                    }
                    "api_key" => Some(AuthMethod::ApiKey),
                    "refresh_token" => {
                        client_id().map(|client_id| AuthMethod::RefreshToken { client_id })
                    }
                    "jwt" => {
                        let client_id = client_id();
                        let mut field = |name: &str, value: &Option<String>| match value {
                            Some(v) if !v.trim().is_empty() => Some(v.trim().to_owned()),
                            _ => {
                                problems.push(format!(
                                    "servicenow.auth.{name}: method \"jwt\" needs it"
                                ));
                                None
                            }
                        };
                        let key_file = field("key_file", &a.key_file);
                        let key_id = field("key_id", &a.key_id);
                        let subject = field("subject", &a.subject);
                        match (client_id, key_file, key_id, subject) {
                            (Some(client_id), Some(key_file), Some(key_id), Some(subject)) => {
                                Some(AuthMethod::Jwt {
                                    client_id,
                                    key_file,
                                    key_id,
                                    subject,
                                })
                            }
                            _ => None,
                        }
                    }
                    other => {
                        problems.push(format!(
                            "servicenow.auth.method: {other:?} is not one of \"basic\", \"password\", \"refresh_token\", \"client_credentials\", \"jwt\", \"api_key\""
                        ));
                        None
                    }
                }
            }
        };
        for (key, value) in [
            (
                "network.request_timeout_secs",
                self.network.request_timeout_secs,
            ),
            ("network.timeout_secs", self.network.timeout_secs),
        ] {
            if value == Some(0) {
                problems.push(format!(
                    "{key}: 0 would fail every request; leave it out for the default"
                ));
            }
        }
        for (section, tls) in [
            ("servicenow.tls", &self.servicenow.tls),
            ("brightpattern.tls", &self.brightpattern.tls),
        ] {
            let Some(tls) = tls else { continue };
            if tls.client_cert.is_some() != tls.client_key.is_some() {
                problems.push(format!(
                    "{section}: client_cert and client_key go together (a certificate and its key)"
                ));
            }
            if tls.roots_only && tls.root_certificates.is_none() {
                problems.push(format!(
                    "{section}: roots_only needs root_certificates (otherwise nothing would be trusted)"
                ));
            }
        }
        let mut seen_properties = std::collections::HashSet::new();
        for p in &self.properties {
            let valid_name = !p.name.is_empty()
                && p.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !valid_name {
                problems.push(format!("properties: {:?} is not a property name", p.name));
            } else if !seen_properties.insert(p.name.clone()) {
                problems.push(format!("properties: {:?} is listed twice", p.name));
            }
            if let Some(kind) = &p.property_type {
                match kind.as_str() {
                    "string" | "true | false" | "integer" => {}
                    other => problems.push(format!(
                        "properties: {}: type {other:?} is not \"string\", \"true | false\" or \"integer\"",
                        p.name
                    )),
                }
                if let Some(why) = property_misfit(kind, "", &p.value) {
                    problems.push(format!("properties: {}: {why}", p.name));
                }
            }
        }
        let store_app = self.store_app.as_ref().and_then(|app| {
            let request = servicenow_client::applications::InstallRequest::new(&app.scope)
                .map_err(|e| problems.push(format!("store_app.scope: {}", e.reason)))
                .ok()?;
            match &app.version {
                Some(v) => request
                    .version(v)
                    .map_err(|e| problems.push(format!("store_app.version: {}", e.reason)))
                    .ok(),
                None => Some(request),
            }
        });
        let proxy = match &self.network.proxy {
            None => None,
            Some(url) => servicenow_client::Proxy::new(url)
                .map_err(|e| problems.push(format!("network.proxy: {}", e.reason)))
                .ok(),
        };

        let instance = InstanceUrl::parse(&self.servicenow.instance)
            .map_err(|e| problems.push(format!("servicenow.instance: {e}")))
            .ok();
        let tenant = TenantUrl::parse(&self.brightpattern.tenant)
            .map_err(|e| problems.push(format!("brightpattern.tenant: {e}")))
            .ok();
        let mut plugins = Vec::new();
        for id in &self.plugins.activate {
            if let Err(e) = servicenow_client::plugins::check_plugin_id(id) {
                problems.push(format!("plugins.activate: {}", e.reason));
            } else if !plugins.contains(id) {
                plugins.push(id.clone());
            }
        }
        let of = &self.openframe;
        let size = match Size::new(of.width, of.height) {
            Ok(size) => Some(size),
            Err(_) => {
                for p in Size::problems(of.width, of.height) {
                    problems.push(format!("openframe.{p}"));
                }
                None
            }
        };
        let url = match (&tenant, &instance) {
            (Some(t), Some(i)) => {
                let built = match &of.entry_path {
                    Some(path) => AgentDesktopUrl::with_entry_path(t.origin(), i.origin(), path),
                    None => AgentDesktopUrl::new(t.origin(), i.origin()),
                };
                built
                    .map_err(|e| problems.push(format!("openframe.entry_path: {e}")))
                    .ok()
            }
            _ => None,
        };
        let cors_domain = tenant.as_ref().and_then(|t| {
            CorsDomain::parse(t.as_str())
                .map_err(|e| problems.push(format!("brightpattern.tenant: {e}")))
                .ok()
        });
        for (what, count, most) in [
            ("access.users", self.access.users.len(), MAX_USERS),
            ("access.groups", self.access.groups.len(), MAX_GROUPS),
            ("properties", self.properties.len(), MAX_PROPERTIES),
        ] {
            if count > most {
                problems.push(format!(
                    "{what}: {count} entries; at most {most} (split the integration, or grant through groups)"
                ));
            }
        }
        check_names(&mut problems, "access.users", &self.access.users);
        check_names(&mut problems, "access.groups", &self.access.groups);
        if let Some(adopt) = &self.openframe.adopt {
            check_name(&mut problems, "openframe.adopt", adopt);
        }
        for (what, name) in [
            ("cors.name", &self.cors.name),
            ("oauth.name", &self.oauth.name),
            ("integration_account.name", &self.integration_account.name),
        ] {
            check_name(&mut problems, what, name);
        }
        if let Some(set) = &self.servicenow.update_set {
            check_name(&mut problems, "servicenow.update_set", set);
        }
        if let Err(brightpattern_client::Error::InvalidInput(e)) =
            brightpattern_client::integration_accounts::check_account_name(
                &self.integration_account.name,
            )
            && !self.integration_account.name.trim().is_empty()
        {
            problems.push(format!("integration_account.name: {}", e.reason));
        }
        match (
            &self.integration_account.api,
            &self.integration_account.paths,
        ) {
            (AccountApi::Manual, Some(_)) => problems
                .push("integration_account.paths: only used with api = \"assumed\"".to_owned()),
            (AccountApi::Assumed, Some(paths)) => {
                if let Err(e) = paths.to_paths().check() {
                    problems.push(format!("integration_account.paths: {e}"));
                }
            }
            _ => {}
        }
        if self.oauth.access_token_lifespan == 0 || self.oauth.refresh_token_lifespan == 0 {
            problems.push("oauth: token lifespans must be above zero".to_owned());
        }
        let settings = url.map(|url| {
            let mut s = OpenFrameSettings::new(of.name.clone(), url);
            s.title = of.title.clone();
            s.subtitle = of.subtitle.clone();
            s.size = size.unwrap_or_default();
            s.order = match of.order {
                OrderSetting::Fixed(n) => n,
                OrderSetting::First => OrderSetting::DEFAULT,
            };
            if let Err(e) = s.validate() {
                problems.extend(e.0.iter().map(|p| format!("openframe: {p}")));
            }
            s
        });
        match (instance, tenant, settings, cors_domain, auth) {
            (Some(instance), Some(tenant), Some(openframe), Some(cors_domain), Some(auth))
                if problems.is_empty() =>
            {
                Ok(ResolvedSpec {
                    instance,
                    tenant,
                    plugins,
                    openframe,
                    openframe_order: self.openframe.order,
                    access: self.access.clone(),
                    cors_name: self.cors.name.clone(),
                    cors_adopt: self.cors.adopt,
                    openframe_adopt: self.openframe.adopt.clone(),
                    cors_domain,
                    oauth: self.oauth.clone(),
                    integration_account: self.integration_account.clone(),
                    auth,
                    proxy,
                    proxy_username: self.network.proxy_username.clone(),
                    request_timeout: self.network.request_timeout_secs.map(Duration::from_secs),
                    timeout: self.network.timeout_secs.map(Duration::from_secs),
                    servicenow_tls: self.servicenow.tls.clone().unwrap_or_default(),
                    brightpattern_tls: self.brightpattern.tls.clone().unwrap_or_default(),
                    properties: self.properties.clone(),
                    store_app,
                    update_set: self.servicenow.update_set.clone(),
                    steps: self.steps.clone(),
                })
            }
            _ => Err(SpecError::Invalid(SpecProblems(problems))),
        }
    }
}

fn check_name(problems: &mut Vec<String>, what: &str, name: &str) {
    if name.trim().is_empty() {
        problems.push(format!("{what}: must not be empty"));
    } else if name.contains(['^', '\n', '\r']) {
        problems.push(format!(
            "{what}: {name:?} holds `^` or a line break, which ServiceNow queries cannot carry"
        ));
    } else if name.chars().any(char::is_control) {
        problems.push(format!(
            "{what}: {name:?} holds a control character (NUL, ESC, BEL, a tab…), which no ServiceNow name holds"
        ));
    }
}

fn check_names(problems: &mut Vec<String>, what: &str, names: &[String]) {
    let mut seen = std::collections::HashSet::new();
    for name in names {
        check_name(problems, what, name);
        if !seen.insert(name) {
            problems.push(format!("{what}: {name:?} is listed twice"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "[servicenow]\ninstance = \"dev1\"\n[brightpattern]\ntenant = \"example\"\n";

    #[test]
    fn defaults_fill_everything_but_the_two_origins() {
        let spec = IntegrationSpec::from_toml(MINIMAL).unwrap();
        let r = spec.resolve().unwrap();
        assert_eq!(r.openframe.size, Size::DEFAULT);
        assert_eq!(r.cors_domain.as_str(), "https://example.brightpattern.com");
        assert_eq!(r.integration_account.name, "ServiceNow");
        assert!(r.integration_account.default);
        assert_eq!(
            r.integration_account.api,
            AccountApi::Manual,
            "manual unless opted in"
        );
        assert_eq!(r.openframe_order, OrderSetting::Fixed(100));
        let again = IntegrationSpec::from_toml(&spec.to_toml()).unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn order_first_and_the_account_api_opt_in_are_read_and_checked() {
        let spec = IntegrationSpec::from_toml(&format!(
            "{MINIMAL}[openframe]\norder = \"first\"\n[integration_account]\napi = \"assumed\"\n"
        ))
        .unwrap();
        let r = spec.resolve().unwrap();
        assert_eq!(r.openframe_order, OrderSetting::First);
        assert_eq!(r.integration_account.api, AccountApi::Assumed);
        assert_eq!(IntegrationSpec::from_toml(&spec.to_toml()).unwrap(), spec);
        let err = IntegrationSpec::from_toml(&format!("{MINIMAL}[openframe]\norder = \"last\"\n"))
            .unwrap_err();
        assert!(err.to_string().contains("first"), "{err}");
        let paths = "[integration_account.paths]\ncollection = \"/x\"\nitem = \"/x/{name}\"\nrequest_refresh_token = \"/x/{name}/r\"\ntest_connection = \"x\"\n";
        let err = IntegrationSpec::from_toml(&format!("{MINIMAL}{paths}"))
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("only used with api"), "{err}");
        let err = IntegrationSpec::from_toml(&format!(
            "{MINIMAL}[integration_account]\napi = \"assumed\"\n{paths}"
        ))
        .unwrap()
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("test_connection"), "{err}");
    }

    #[test]
    fn an_entry_path_that_could_leave_the_tenant_is_refused_before_any_request() {
        for path in [
            r#""/\\evil.example.com/""#,
            r#""//evil.example.com/""#,
            r#""/https://evil.example.com/""#,
        ] {
            let err =
                IntegrationSpec::from_toml(&format!("{MINIMAL}[openframe]\nentry_path = {path}\n"))
                    .unwrap()
                    .resolve()
                    .unwrap_err();
            assert!(
                err.to_string().contains("openframe.entry_path")
                    && err.to_string().contains("must be a path on the tenant"),
                "{path}: {err}"
            );
        }
    }

    #[test]
    fn the_auth_method_and_the_proxy_are_read_and_checked() {
        let r = IntegrationSpec::from_toml(MINIMAL)
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(r.auth, AuthMethod::Basic);
        let spec = IntegrationSpec::from_toml(
            "[servicenow]\ninstance = \"dev1\"\n[servicenow.auth]\nmethod = \"client_credentials\"\nclient_id = \"abc\"\n[brightpattern]\ntenant = \"example\"\n[network]\nproxy = \"http://proxy.corp:3128\"\nproxy_username = \"svc\"\n",
        )
        .unwrap();
        let r = spec.resolve().unwrap();
        assert_eq!(
            r.auth,
            AuthMethod::ClientCredentials {
                client_id: "abc".into()
            }
        );
        assert_eq!(r.proxy.unwrap().host(), "proxy.corp:3128");
        assert_eq!(IntegrationSpec::from_toml(&spec.to_toml()).unwrap(), spec);
        for (auth, problem) in [
            (
                "method = \"password\"",
                "needs the OAuth application's client id",
            ),
            (
                "method = \"jwt\"\nclient_id = \"a\"",
                "servicenow.auth.key_file: method \"jwt\" needs it",
            ),
            ("method = \"kerberos\"", "is not one of"),
        ] {
            let err = IntegrationSpec::from_toml(&format!(
                "[servicenow]\ninstance = \"dev1\"\n[servicenow.auth]\n{auth}\n[brightpattern]\ntenant = \"example\"\n"
            ))
            .unwrap()
            .resolve()
            .unwrap_err();
            assert!(err.to_string().contains(problem), "{auth}: {err}");
        }
        let err = IntegrationSpec::from_toml(&format!(
            "{MINIMAL}[network]\nproxy = \"http://u:p@proxy:3128\"\n"
        ))
        .unwrap()
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("network.proxy"), "{err}");
    }

    #[test]
    fn tls_files_are_named_in_pairs() {
        let spec = IntegrationSpec::from_toml(
            "[servicenow]\ninstance = \"dev1\"\n[servicenow.tls]\nroot_certificates = \"corp.pem\"\nclient_cert = \"me.pem\"\nclient_key = \"me.key\"\n[brightpattern]\ntenant = \"example\"\n[brightpattern.tls]\nroot_certificates = \"corp.pem\"\nroots_only = true\n",
        )
        .unwrap();
        let r = spec.resolve().unwrap();
        assert_eq!(r.servicenow_tls.client_key.as_deref(), Some("me.key"));
        assert!(r.brightpattern_tls.roots_only);
        assert_eq!(IntegrationSpec::from_toml(&spec.to_toml()).unwrap(), spec);
        let err = IntegrationSpec::from_toml(
            "[servicenow]\ninstance = \"dev1\"\n[servicenow.tls]\nclient_cert = \"me.pem\"\n[brightpattern]\ntenant = \"example\"\n[brightpattern.tls]\nroots_only = true\n",
        )
        .unwrap()
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("client_cert and client_key go together"),
            "{err}"
        );
        assert!(err.contains("roots_only needs root_certificates"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_named() {
        let err =
            IntegrationSpec::from_toml(&format!("{MINIMAL}[cors]\nnmae = \"x\"\n")).unwrap_err();
        assert!(err.to_string().contains("nmae"), "{err}");
        let err = IntegrationSpec::from_toml(&format!("{MINIMAL}[extra]\n")).unwrap_err();
        assert!(err.to_string().contains("extra"), "{err}");
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Banner {
        text: String,
        #[serde(default)]
        width: u32,
        #[serde(default)]
        colours: Option<Colours>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Colours {
        fg: String,
    }

    fn step_section(toml_text: &str) -> StepSection {
        let spec = IntegrationSpec::from_toml(&format!("{MINIMAL}{toml_text}")).unwrap();
        spec.steps["banner"].clone()
    }

    #[test]
    fn a_step_s_section_reads_typed_and_round_trips() {
        let section = step_section("[steps.banner]\ntext = \"hi\"\nwidth = 3\n");
        assert_eq!(
            section.parse::<Banner>("steps.banner"),
            Ok(Banner {
                text: "hi".into(),
                width: 3,
                colours: None
            })
        );
        let spec = IntegrationSpec::from_toml(&format!("{MINIMAL}[steps.banner]\ntext = \"hi\"\n"))
            .unwrap();
        let again = IntegrationSpec::from_toml(&spec.to_toml()).unwrap();
        assert_eq!(again, spec);
        assert_eq!(
            spec.resolve().unwrap().steps["banner"],
            spec.steps["banner"]
        );
    }

    #[test]
    fn every_problem_of_a_step_s_section_is_named_with_its_key() {
        let section = step_section(
            "[steps.banner]\nwidth = \"wide\"\ntxet = \"hi\"\nzzz = 1\n[steps.banner.colours]\nfg = 7\nbg = \"red\"\n",
        );
        let problems = section.parse::<Banner>("steps.banner").unwrap_err();
        assert_eq!(
            problems,
            [
                "steps.banner.colours.fg: invalid type: integer `7`, expected a string",
                "steps.banner.width: invalid type: string \"wide\", expected u32",
                "steps.banner: missing field `text`",
                "steps.banner.colours.bg: unknown key",
                "steps.banner.txet: unknown key",
                "steps.banner.zzz: unknown key",
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
            [servicenow]
            instance = "http://dev1.service-now.com"
            [brightpattern]
            tenant = "example"
            [plugins]
            activate = ["com.sn_openframe", "bad id"]
            [openframe]
            width = 0
            title = "x"
            [access]
            users = ["a", "a", "b^c"]
            [cors]
            name = ""
        "#;
        let err = IntegrationSpec::from_toml(text)
            .unwrap()
            .resolve()
            .unwrap_err();
        let SpecError::Invalid(problems) = &err else {
            panic!("{err:?}")
        };
        let text = problems.0.join("\n");
        for expected in [
            "servicenow.instance",
            "bad id",
            "openframe.width",
            "listed twice",
            "`^`",
            "cors.name",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert_eq!(problems.0.len(), 6, "{text}");
    }

    #[test]
    fn a_spec_holds_at_most_the_documented_number_of_entries() {
        let mut spec = IntegrationSpec::from_toml(MINIMAL).unwrap();
        spec.access.users = (0..=MAX_USERS).map(|i| format!("agent.{i}")).collect();
        let err = spec.resolve().unwrap_err().to_string();
        assert!(
            err.contains("access.users: 100001 entries; at most 100000"),
            "{err}"
        );
    }

    #[test]
    fn toml_errors_never_quote_a_secret() {
        // A credentials file given as the configuration.
        let creds = "# row b\nSERVICENOW_USERNAME=admin\nSERVICENOW_PASSWORD=hunter2-never-shown\nexport BRIGHTPATTERN_CLIENT_SECRET=\"x\"\n";
        let err = IntegrationSpec::from_toml(creds).unwrap_err().to_string();
        assert!(err.contains("credentials file"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        // A bad value on a secret-looking key: the line is not quoted.
        let text = format!("{MINIMAL}[network]\nproxy_password = hunter2-never-shown\n");
        let err = IntegrationSpec::from_toml(&text).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("line 6") && err.contains("not shown"), "{err}");
        // Other lines are quoted, to help.
        let text = format!("{MINIMAL}[openframe]\nwidth = wide\n");
        let err = IntegrationSpec::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("width = wide"), "{err}");
    }

    #[test]
    fn what_a_platform_would_refuse_is_refused_naming_the_field() {
        for (section, problem) in [
            (
                "[access]\nusers = [\"a\\u0000b\", \"c\\u001bd\", \"e\\u0007f\"]\n",
                "access.users",
            ),
            ("[openframe]\ntitle = \"<b>Agent</b>\"\n", "plain text"),
            ("[openframe]\nsubtitle = \"two\\nlines\"\n", "plain text"),
            ("[openframe]\norder = 9223372036854775807\n", "outside"),
            ("[openframe]\norder = -9223372036854775808\n", "outside"),
        ] {
            let err = IntegrationSpec::from_toml(&format!("{MINIMAL}{section}"))
                .unwrap()
                .resolve()
                .unwrap_err();
            assert!(err.to_string().contains(problem), "{section}: {err}");
        }
        let err = IntegrationSpec::from_toml(
            "[servicenow]\ninstance = \"dev1\"\n[brightpattern]\ntenant = \"https://example.brightpattern.com:0\"\n",
        )
        .unwrap()
        .resolve()
        .unwrap_err();
        assert!(
            err.to_string().contains("brightpattern.tenant") && err.to_string().contains("port 0"),
            "{err}"
        );
    }

    #[test]
    fn an_account_name_that_would_collapse_its_url_is_refused() {
        for name in [".", ".."] {
            let text =
                format!("{MINIMAL}[integration_account]\nname = \"{name}\"\napi = \"assumed\"\n");
            let err = IntegrationSpec::from_toml(&text)
                .unwrap()
                .resolve()
                .unwrap_err();
            let SpecError::Invalid(problems) = &err else {
                panic!("{err:?}")
            };
            assert_eq!(problems.0.len(), 1, "{err}");
            assert!(
                problems.0[0].starts_with("integration_account.name:")
                    && problems.0[0].contains("collapse"),
                "{err}"
            );
        }
        let err =
            IntegrationSpec::from_toml(&format!("{MINIMAL}[integration_account]\nname = \"\"\n"))
                .unwrap()
                .resolve()
                .unwrap_err();
        let SpecError::Invalid(problems) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(problems.0.len(), 1, "the empty name is named once: {err}");
    }
}
