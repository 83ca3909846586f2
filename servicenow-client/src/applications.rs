//! Applications: which are installed (`sys_store_app` for Store applications,
//! `sys_app` for the instance's own), and installing one from the application
//! repository through the CI/CD API.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> servicenow_client::Result<()> {
//! use servicenow_fake::FakeInstance;
//! use servicenow_client::applications::InstallRequest;
//! use servicenow_client::plugins::WaitOptions;
//!
//! let sn = FakeInstance::start().await;
//! sn.offer_application("x_bp_omni", "Omnichannel", "2.1.0");
//! let apps = sn.client_as_admin().applications();
//! assert!(apps.installed("x_bp_omni").await?.is_none());
//!
//! let request = InstallRequest::new("x_bp_omni")?.version("2.1.0")?;
//! apps.install(&request).await?.wait(&WaitOptions::fast(), |_| {}).await?;
//! let installed = apps.installed("x_bp_omni").await?.expect("installed");
//! assert_eq!(installed.version, "2.1.0");
//!
//! // Installed at that version: nothing is started.
//! assert!(apps.install(&request).await?.is_unnecessary());
//! # Ok(()) }
//! ```
//!
//! Installing a Store application needs the instance to be entitled to it; the
//! instance's refusal comes back as [`Error::OperationFailed`](crate::Error::OperationFailed) (or, when the
//! start itself is refused, [`Error::Api`](crate::Error::Api)) quoting its message. There is no
//! uninstall here.

use serde::Deserialize;

use crate::Request;
use crate::cicd::CicdOperation;
use crate::client::Client;
use crate::error::{InvalidInput, Result};
use crate::query::Query;
use crate::table::{Record, Table};
use crate::wire::SysId;

/// Where an installed application is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplicationSource {
    /// `sys_store_app`: installed from the ServiceNow Store (or the company's
    /// application repository).
    Store,
    /// `sys_app`: built on this instance.
    Custom,
}

impl ApplicationSource {
    /// The table the application is recorded in.
    pub fn table(self) -> &'static str {
        match self {
            Self::Store => StoreApp::TABLE,
            Self::Custom => CustomApp::TABLE,
        }
    }
}

/// The columns `sys_store_app` and `sys_app` share.
#[derive(Debug, Clone, Deserialize)]
struct AppRow {
    sys_id: SysId,
    scope: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default = "active_default", with = "bpsn_core::wire::string_bool")]
    active: bool,
}

fn active_default() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
struct StoreApp(AppRow);

impl Record for StoreApp {
    const TABLE: &'static str = "sys_store_app";
}

#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
struct CustomApp(AppRow);

impl Record for CustomApp {
    const TABLE: &'static str = "sys_app";
}

/// An application installed on the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledApplication {
    /// Its record id (in [`source`](Self::source)'s table).
    pub sys_id: SysId,
    /// Its scope (`x_vendor_app`).
    pub scope: String,
    /// Its name.
    pub name: String,
    /// Its installed version.
    pub version: String,
    /// Whether it is active.
    pub active: bool,
    /// Where it is recorded.
    pub source: ApplicationSource,
}

impl InstalledApplication {
    fn from_row(row: AppRow, source: ApplicationSource) -> Self {
        Self {
            sys_id: row.sys_id,
            scope: row.scope,
            name: row.name,
            version: row.version,
            active: row.active,
            source,
        }
    }
}

/// What to install: an application scope and, optionally, the version (without
/// one, the repository's latest). Both are checked when set, so nothing odd
/// reaches the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallRequest {
    scope: String,
    version: Option<String>,
}

impl InstallRequest {
    /// An install of `scope` (lower-case letters, digits and `_`, starting with a
    /// letter, at most 40 characters).
    pub fn new(scope: &str) -> Result<Self, InvalidInput> {
        check_scope(scope)?;
        Ok(Self {
            scope: scope.to_owned(),
            version: None,
        })
    }

    /// At this version (digits, letters, `.` and `-`, starting with a digit).
    pub fn version(mut self, version: &str) -> Result<Self, InvalidInput> {
        let valid = version.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && version.len() <= 40
            && version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
        if !valid {
            return Err(InvalidInput::new(
                "application version",
                format!("{version:?} is not a version (2.0.4)"),
            ));
        }
        self.version = Some(version.to_owned());
        Ok(self)
    }

    /// The scope.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The version asked for, if any.
    pub fn requested_version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Whether `installed` satisfies this request: active, and at the version
    /// when one is asked for.
    pub fn is_satisfied_by(&self, installed: &InstalledApplication) -> bool {
        installed.active
            && self
                .version
                .as_deref()
                .is_none_or(|v| v == installed.version)
    }
}

/// Checks an application scope.
pub fn check_scope(scope: &str) -> Result<(), InvalidInput> {
    // A table name's characters, starting with a letter.
    let valid = crate::query::check_table(scope).is_ok()
        && scope.as_bytes()[0].is_ascii_lowercase()
        && scope.len() <= 40;
    if valid {
        Ok(())
    } else {
        Err(InvalidInput::new(
            "application scope",
            format!("{scope:?} is not an application scope (x_vendor_app: a-z, 0-9, _)"),
        ))
    }
}

/// The applications of one instance.
#[derive(Debug, Clone)]
pub struct Applications {
    client: Client,
    store: Table<StoreApp>,
    custom: Table<CustomApp>,
}

impl Client {
    /// The applications of this instance.
    pub fn applications(&self) -> Applications {
        Applications {
            client: self.clone(),
            store: self.table(),
            custom: self.table(),
        }
    }
}

impl Applications {
    /// The application with this scope, from `sys_store_app` or else `sys_app`
    /// (both read at once), or `None` when neither has it.
    pub async fn installed(&self, scope: &str) -> Result<Option<InstalledApplication>> {
        check_scope(scope)?;
        let query = || Query::new().eq("scope", scope);
        let (store, custom) =
            futures_util::try_join!(self.store.one(query()), self.custom.one(query()))?;
        Ok(match (store, custom) {
            (Some(StoreApp(row)), _) => Some(InstalledApplication::from_row(
                row,
                ApplicationSource::Store,
            )),
            (None, Some(CustomApp(row))) => Some(InstalledApplication::from_row(
                row,
                ApplicationSource::Custom,
            )),
            (None, None) => None,
        })
    }

    /// Starts installing the application from the repository
    /// (`POST /api/sn_cicd/app_repo/install?scope=…&version=…`), unless it is
    /// installed already and [satisfies](InstallRequest::is_satisfied_by) the
    /// request (then nothing is sent: [`CicdOperation::is_unnecessary`]).
    pub async fn install(&self, request: &InstallRequest) -> Result<CicdOperation> {
        if let Some(installed) = self.installed(&request.scope).await?
            && request.is_satisfied_by(&installed)
        {
            return Ok(CicdOperation::unnecessary(&self.client, operation(request)));
        }
        self.start_install(request).await
    }

    /// Starts installing without looking first.
    pub async fn start_install(&self, request: &InstallRequest) -> Result<CicdOperation> {
        let mut http =
            Request::post("/api/sn_cicd/app_repo/install").query("scope", &request.scope);
        if let Some(version) = &request.version {
            http = http.query("version", version);
        }
        crate::cicd::start(&self.client, http, operation(request)).await
    }
}

fn operation(request: &InstallRequest) -> String {
    match &request.version {
        Some(v) => format!("install of application {} {v}", request.scope),
        None => format!("install of application {}", request.scope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_versions_are_checked() {
        assert!(InstallRequest::new("x_bp_omni").is_ok());
        for bad in ["", "X_bp", "x bp", "x_bp&version=1", "1x", "sn/../x"] {
            assert!(InstallRequest::new(bad).is_err(), "{bad}");
        }
        let request = InstallRequest::new("x_bp").unwrap();
        assert!(request.clone().version("2.0.4").is_ok());
        for bad in ["", "v2", "2.0&x=1", "2 0"] {
            assert!(request.clone().version(bad).is_err(), "{bad}");
        }
    }
}
