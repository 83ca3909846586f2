//! CORS rules (`sys_cors_rule`), which let a browser page on another origin (the
//! Bright Pattern tenant) call the instance's REST APIs.
//!
//! Domains are checked as the platform checks them: a scheme is required, at most
//! one `*` may appear and only right after the scheme, and a wildcard domain may
//! not be combined with allowed credentials.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> servicenow_client::Result<()> {
//! use servicenow_fake::FakeInstance;
//! use servicenow_client::cors::{CorsDomain, CorsMethods, CorsRuleSpec};
//!
//! let sn = FakeInstance::start().await;
//! let rules = sn.client_as_admin().cors_rules();
//! let spec = CorsRuleSpec::new("Bright Pattern", CorsDomain::parse("https://example.brightpattern.com")?)
//!     .methods(CorsMethods::POST)
//!     .allow_headers(["Access-Control-Allow-Origin"]);
//! let rule = rules.create(&spec).await?;
//! assert!(rule.post && !rule.get);
//! assert_eq!(rules.get_by_name("Bright Pattern").await?.unwrap().sys_id, rule.sys_id);
//!
//! // Proved by its effect: the browser's preflight from the tenant is allowed.
//! let answer = rules.preflight("/api/now/table/incident", "https://example.brightpattern.com", "POST").await?;
//! assert!(answer.allows("https://example.brightpattern.com", "POST"));
//! # Ok(()) }
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{Error, InvalidInput, Result};
use crate::query::Query;
use crate::table::{Record, Table};
use crate::wire::{Reference, SysId, string_bool, string_number};

/// The documented `base_uri` of the Table API's `sys_ws_definition` row.
pub const TABLE_API_BASE_URI: &str = "/api/now/table";

/// A CORS domain, checked as the platform checks it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CorsDomain(String);

impl CorsDomain {
    /// Checks a domain: `http://` or `https://`, then a host; at most one `*`, right
    /// after the scheme (`https://*.example.com`).
    pub fn parse(domain: &str) -> Result<Self, InvalidInput> {
        let bad = |why: &str| InvalidInput::new("CORS domain", format!("{domain:?}: {why}"));
        let rest = domain
            .strip_prefix("https://")
            .or_else(|| domain.strip_prefix("http://"))
            .ok_or_else(|| bad("must start with http:// or https://"))?;
        if rest.is_empty() {
            return Err(bad("has no host"));
        }
        match rest.matches('*').count() {
            0 => {}
            1 if rest.starts_with('*') => {}
            1 => return Err(bad("a `*` may only come right after the scheme")),
            _ => return Err(bad("holds more than one `*`")),
        }
        if rest.contains(['/', '?', '#', ' ', ',']) {
            return Err(bad(
                "must be an origin (scheme, host, port) with nothing after it",
            ));
        }
        Ok(Self(domain.to_owned()))
    }

    /// The domain as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it holds a wildcard.
    pub fn is_wildcard(&self) -> bool {
        self.0.contains('*')
    }
}

impl fmt::Display for CorsDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CorsDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CorsDomain({})", self.0)
    }
}

/// The HTTP methods a rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CorsMethods {
    /// GET
    pub get: bool,
    /// POST
    pub post: bool,
    /// PUT
    pub put: bool,
    /// PATCH
    pub patch: bool,
    /// DELETE
    pub delete: bool,
}

impl CorsMethods {
    /// POST only (what the integration needs).
    pub const POST: Self = Self {
        get: false,
        post: true,
        put: false,
        patch: false,
        delete: false,
    };

    /// Every method.
    pub const ALL: Self = Self {
        get: true,
        post: true,
        put: true,
        patch: true,
        delete: true,
    };
}

/// What a CORS rule should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsRuleSpec {
    /// A unique name.
    pub name: String,
    /// The allowed origin.
    pub domain: CorsDomain,
    /// The REST API it covers (`sys_ws_definition`); `None` means the Table API.
    pub rest_api: Option<SysId>,
    /// Allowed methods.
    pub methods: CorsMethods,
    /// `Access-Control-Allow-Headers` entries.
    pub allow_headers: Vec<String>,
    /// `Access-Control-Expose-Headers` entries.
    pub exposed_headers: Vec<String>,
    /// `Access-Control-Max-Age` in seconds.
    pub max_age: Option<u32>,
    /// `Access-Control-Allow-Credentials`.
    pub allow_credentials: bool,
    /// Whether the rule is active.
    pub active: bool,
}

impl CorsRuleSpec {
    /// An active rule for `domain` on the Table API, with no method allowed yet.
    pub fn new(name: impl Into<String>, domain: CorsDomain) -> Self {
        Self {
            name: name.into(),
            domain,
            rest_api: None,
            methods: CorsMethods::default(),
            allow_headers: Vec::new(),
            exposed_headers: Vec::new(),
            max_age: None,
            allow_credentials: false,
            active: true,
        }
    }

    /// Sets the allowed methods.
    pub fn methods(mut self, methods: CorsMethods) -> Self {
        self.methods = methods;
        self
    }

    /// Sets `Access-Control-Allow-Headers`.
    pub fn allow_headers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, headers: I) -> Self {
        self.allow_headers = headers.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `Access-Control-Max-Age`.
    pub fn max_age(mut self, seconds: u32) -> Self {
        self.max_age = Some(seconds);
        self
    }

    /// Allows credentials (refused with a wildcard domain).
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.allow_credentials = allow;
        self
    }

    /// Checks the rule as the platform does.
    pub fn check(&self) -> Result<(), InvalidInput> {
        if self.name.trim().is_empty() {
            return Err(InvalidInput::new("CORS rule", "the name is empty"));
        }
        if self.allow_credentials && self.domain.is_wildcard() {
            return Err(InvalidInput::new(
                "CORS rule",
                format!(
                    "a wildcard domain ({}) cannot allow credentials",
                    self.domain
                ),
            ));
        }
        Ok(())
    }

    /// The rule as the Table API columns of `sys_cors_rule` that create and
    /// update write, with `rest_api` as the REST API definition — for a caller
    /// that writes only some of them (a patch of the columns that differ).
    ///
    /// ```
    /// # use servicenow_client::cors::{CorsDomain, CorsRuleSpec};
    /// # use servicenow_client::wire::SysId;
    /// let spec = CorsRuleSpec::new("Bright Pattern", CorsDomain::parse("https://example.brightpattern.com")?);
    /// let columns = spec.columns(&SysId::parse("0123456789abcdef0123456789abcdef")?);
    /// assert_eq!(columns["domain"], "https://example.brightpattern.com");
    /// assert_eq!(columns["active"], "true");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn columns(&self, rest_api: &SysId) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self.row(rest_api)) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    }

    /// The row to write, with the REST API resolved.
    fn row(&self, rest_api: &SysId) -> CorsRuleRow {
        CorsRuleRow {
            name: self.name.clone(),
            domain: self.domain.0.clone(),
            rest_api: rest_api.as_str().to_owned(),
            get: self.methods.get,
            post: self.methods.post,
            put: self.methods.put,
            patch: self.methods.patch,
            delete: self.methods.delete,
            access_control_allow_headers: self.allow_headers.join(","),
            exposed_headers: self.exposed_headers.join(","),
            max_age: self.max_age,
            access_control_allow_credentials: self.allow_credentials,
            active: self.active,
        }
    }
}

#[derive(Serialize)]
struct CorsRuleRow {
    name: String,
    domain: String,
    rest_api: String,
    #[serde(with = "string_bool")]
    get: bool,
    #[serde(with = "string_bool")]
    post: bool,
    #[serde(with = "string_bool")]
    put: bool,
    #[serde(with = "string_bool")]
    patch: bool,
    #[serde(with = "string_bool")]
    delete: bool,
    access_control_allow_headers: String,
    exposed_headers: String,
    #[serde(with = "string_number::option")]
    max_age: Option<u32>,
    #[serde(with = "string_bool")]
    access_control_allow_credentials: bool,
    #[serde(with = "string_bool")]
    active: bool,
}

/// A row of `sys_cors_rule`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CorsRule {
    /// The record id.
    pub sys_id: SysId,
    /// The name.
    pub name: String,
    /// The allowed origin.
    #[serde(default)]
    pub domain: String,
    /// The REST API covered.
    #[serde(default)]
    pub rest_api: Reference,
    /// GET allowed.
    #[serde(with = "string_bool", default)]
    pub get: bool,
    /// POST allowed.
    #[serde(with = "string_bool", default)]
    pub post: bool,
    /// PUT allowed.
    #[serde(with = "string_bool", default)]
    pub put: bool,
    /// PATCH allowed.
    #[serde(with = "string_bool", default)]
    pub patch: bool,
    /// DELETE allowed.
    #[serde(with = "string_bool", default)]
    pub delete: bool,
    /// `Access-Control-Allow-Headers`, comma-separated.
    #[serde(default)]
    pub access_control_allow_headers: String,
    /// `Access-Control-Expose-Headers`, comma-separated.
    #[serde(default)]
    pub exposed_headers: String,
    /// `Access-Control-Max-Age`.
    #[serde(with = "string_number::option", default)]
    pub max_age: Option<u32>,
    /// `Access-Control-Allow-Credentials`.
    #[serde(with = "string_bool", default)]
    pub access_control_allow_credentials: bool,
    /// Whether the rule is active.
    #[serde(with = "string_bool", default)]
    pub active: bool,
}

impl Record for CorsRule {
    const TABLE: &'static str = "sys_cors_rule";
}

impl CorsRule {
    /// The methods the rule allows.
    pub fn methods(&self) -> CorsMethods {
        CorsMethods {
            get: self.get,
            post: self.post,
            put: self.put,
            patch: self.patch,
            delete: self.delete,
        }
    }

    /// Whether `header` is among the allowed headers (case-insensitive).
    pub fn allows_header(&self, header: &str) -> bool {
        self.access_control_allow_headers
            .split(',')
            .any(|h| h.trim().eq_ignore_ascii_case(header))
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RestApiDefinition {
    sys_id: SysId,
}

impl Record for RestApiDefinition {
    const TABLE: &'static str = "sys_ws_definition";
}

/// The CORS rules of one instance.
#[derive(Debug, Clone)]
pub struct CorsRules {
    client: Client,
    table: Table<CorsRule>,
    definitions: Table<RestApiDefinition>,
}

impl Client {
    /// The CORS rules of this instance.
    pub fn cors_rules(&self) -> CorsRules {
        CorsRules {
            client: self.clone(),
            table: self.table(),
            definitions: self.table(),
        }
    }
}

/// What an instance answered to a browser's CORS preflight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightAnswer {
    /// The HTTP status.
    pub status: u16,
    /// `Access-Control-Allow-Origin`, when sent.
    pub allow_origin: Option<String>,
    /// `Access-Control-Allow-Methods`, split at commas.
    pub allow_methods: Vec<String>,
    /// `Access-Control-Allow-Headers`, split at commas.
    pub allow_headers: Vec<String>,
}

impl PreflightAnswer {
    /// Whether a browser on `origin` may send `method` after this answer.
    pub fn allows(&self, origin: &str, method: &str) -> bool {
        let origin_ok = self
            .allow_origin
            .as_deref()
            .is_some_and(|o| o == "*" || o.eq_ignore_ascii_case(origin.trim_end_matches('/')));
        let method_ok = self
            .allow_methods
            .iter()
            .any(|m| m == "*" || m.eq_ignore_ascii_case(method));
        (200..300).contains(&self.status) && origin_ok && method_ok
    }
}

fn header_list(response: &bpsn_core::Response, name: &str) -> Vec<String> {
    response
        .header(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl CorsRules {
    /// The rule with this name, or `None` (an error when several have it).
    pub async fn get_by_name(&self, name: &str) -> Result<Option<CorsRule>> {
        self.table.one(Query::new().eq("name", name)).await
    }

    /// Every rule with this name (names are not unique on the platform).
    pub async fn list_by_name(&self, name: &str) -> Result<Vec<CorsRule>> {
        use futures_util::TryStreamExt as _;
        self.table
            .list(Query::new().eq("name", name))
            .try_collect()
            .await
    }

    /// Sends the preflight a browser on `origin` sends before a cross-origin
    /// `method` request to `path` (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`, without credentials, as a browser does)
    /// and returns what the instance answered. This tests the CORS rules by their
    /// effect.
    pub async fn preflight(
        &self,
        path: &str,
        origin: &str,
        method: &str,
    ) -> Result<PreflightAnswer> {
        use http::header::{HeaderName, HeaderValue};
        let value = |what: &str, v: &str| {
            HeaderValue::from_str(v)
                .map_err(|_| InvalidInput::new(what, format!("{v:?} cannot be sent as a header")))
        };
        let request = bpsn_core::Request::new(http::Method::OPTIONS, path)
            .header(http::header::ORIGIN, value("origin", origin)?)
            .header(
                HeaderName::from_static("access-control-request-method"),
                value("method", method)?,
            )
            .api("cors preflight");
        let response = self
            .client
            .transport()
            .anonymous()
            .send_raw(request)
            .await?;
        Ok(PreflightAnswer {
            status: response.status().as_u16(),
            allow_origin: response
                .header("access-control-allow-origin")
                .map(str::to_owned),
            allow_methods: header_list(&response, "access-control-allow-methods"),
            allow_headers: header_list(&response, "access-control-allow-headers"),
        })
    }

    /// The Table API's `sys_ws_definition` record, found by its documented
    /// `base_uri` ([`TABLE_API_BASE_URI`]).
    pub async fn table_api(&self) -> Result<SysId> {
        let found = self
            .definitions
            .one(Query::new().eq("base_uri", TABLE_API_BASE_URI))
            .await?;
        found.map(|d| d.sys_id).ok_or_else(|| Error::MissingRecord {
            table: "sys_ws_definition".into(),
            key: format!("base_uri={TABLE_API_BASE_URI} (the Table API)"),
        })
    }

    /// Creates a rule (checked first; the REST API defaults to the Table API).
    pub async fn create(&self, spec: &CorsRuleSpec) -> Result<CorsRule> {
        spec.check()?;
        let rest_api = match &spec.rest_api {
            Some(id) => id.clone(),
            None => self.table_api().await?,
        };
        self.table.create(&spec.row(&rest_api)).await
    }

    /// Creates a rule with a sys_id chosen beforehand (see
    /// [`Table::create_with_id`](crate::Table::create_with_id)).
    pub async fn create_with_id(&self, sys_id: &SysId, spec: &CorsRuleSpec) -> Result<CorsRule> {
        spec.check()?;
        let rest_api = match &spec.rest_api {
            Some(id) => id.clone(),
            None => self.table_api().await?,
        };
        self.table
            .create_with_id(sys_id, &spec.row(&rest_api))
            .await
    }

    /// Rewrites a rule to match `spec`.
    pub async fn update(&self, sys_id: &SysId, spec: &CorsRuleSpec) -> Result<CorsRule> {
        spec.check()?;
        let rest_api = match &spec.rest_api {
            Some(id) => id.clone(),
            None => self.table_api().await?,
        };
        self.table.update(sys_id, &spec.row(&rest_api)).await
    }

    /// Sets some columns.
    pub async fn patch<P: Serialize + ?Sized>(
        &self,
        sys_id: &SysId,
        patch: &P,
    ) -> Result<CorsRule> {
        self.table.update(sys_id, patch).await
    }

    /// Deletes a rule.
    pub async fn delete(&self, sys_id: &SysId) -> Result<()> {
        self.table.delete(sys_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked_as_the_platform_does() {
        for ok in [
            "https://example.brightpattern.com",
            "http://localhost:8080",
            "https://*.brightpattern.com",
        ] {
            assert!(CorsDomain::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "example.brightpattern.com",
            "ftp://x.com",
            "https://",
            "https://a.*.com",
            "https://*.*.com",
            "https://x.com/path",
        ] {
            assert!(CorsDomain::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_wildcard_cannot_allow_credentials() {
        let spec = CorsRuleSpec::new("x", CorsDomain::parse("https://*.example.com").unwrap())
            .allow_credentials(true);
        assert!(spec.check().is_err());
        let spec = CorsRuleSpec::new("x", CorsDomain::parse("https://a.example.com").unwrap())
            .allow_credentials(true);
        assert!(spec.check().is_ok());
    }
}
