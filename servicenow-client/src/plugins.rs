//! Plugins: their state in `v_plugin`, and activation through the CI/CD API.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> servicenow_client::Result<()> {
//! use servicenow_fake::FakeInstance;
//! use servicenow_client::plugins::{ids, PluginState, WaitOptions};
//!
//! let sn = FakeInstance::start().await;
//! let plugins = sn.client_as_admin().plugins();
//! assert_eq!(plugins.state(ids::OPENFRAME).await?, PluginState::Inactive);
//!
//! let activation = plugins.activate(ids::OPENFRAME).await?;
//! let done = activation
//!     .wait(&WaitOptions::default(), |p| println!("{}%", p.percent_complete))
//!     .await?;
//! assert!(done.status.is_successful());
//! assert_eq!(plugins.state(ids::OPENFRAME).await?, PluginState::Active);
//!
//! // Activating an active plugin sends no activation request.
//! assert!(plugins.activate(ids::OPENFRAME).await?.is_unnecessary());
//! # Ok(()) }
//! ```
//!
//! There is no REST call to deactivate a plugin; nothing here tries.
//!
//! `v_plugin` can lag behind a finished activation. A second signal is a table the
//! plugin creates appearing in `sys_db_object` (for OpenFrame,
//! `sn_openframe_configuration`): see [`Plugins::table_exists`].

use serde::{Deserialize, Deserializer};

use crate::Request;
use crate::client::Client;
use crate::error::{InvalidInput, Result};
use crate::query::Query;
use crate::table::{Record, Table};

pub use crate::cicd::{CICD_INACTIVE_HINT, CicdOperation, Progress, ProgressStatus, WaitOptions};

/// A plugin's activation: a [`CicdOperation`].
pub type Activation = CicdOperation;

/// The plugin ids the integration procedure names.
pub mod ids {
    /// OpenFrame (`com.sn_openframe`): the frame Agent Desktop is embedded in. Always needed.
    pub const OPENFRAME: &str = "com.sn_openframe";
    /// CTI Softphone (`com.snc.cti`): softphone functions. Pulls in Notify, Notify-Twilio,
    /// Matching Engine and OpenFrame, and ships an OpenFrame configuration named "CTI".
    /// No longer deployed on new instances from the Zurich release; optional.
    pub const CTI_SOFTPHONE: &str = "com.snc.cti";
    /// Customer Service (`com.sn_customerservice`), which the vendor page calls
    /// "Customer Service Management Demo Data"; optional. (ServiceNow's own CSM demo
    /// data plugin is `com.snc.customerservice.demo`.)
    pub const CUSTOMER_SERVICE: &str = "com.sn_customerservice";
    /// OAuth 2.0 (`com.snc.platform.security.oauth`): needed for the OAuth endpoint
    /// of the integration account. Active by default on instances.
    pub const OAUTH2: &str = "com.snc.platform.security.oauth";
}

/// A row of `v_plugin`.
#[derive(Debug, Clone, Deserialize)]
pub struct Plugin {
    /// The plugin id (`com.sn_openframe`).
    pub id: String,
    /// The display name.
    #[serde(default)]
    pub name: String,
    /// Whether it is active.
    #[serde(deserialize_with = "active_flag")]
    pub active: bool,
    /// The version, when the instance says.
    #[serde(default)]
    pub version: Option<String>,
}

impl Record for Plugin {
    const TABLE: &'static str = "v_plugin";
}

/// Reads `v_plugin.active`: `"active"`, `"true"` and `"1"` (and their negatives)
/// have all been seen; anything else is an error, never "inactive".
fn active_flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let raw = String::deserialize(d)?;
    parse_active(&raw).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "unknown v_plugin.active value {raw:?} (expected active/inactive, true/false or 1/0)"
        ))
    })
}

/// Reads a `v_plugin.active` value.
pub fn parse_active(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "active" | "true" | "1" => Some(true),
        "inactive" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// A plugin's state on the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PluginState {
    /// Installed and active.
    Active,
    /// Installed, not active.
    Inactive,
    /// Not known to this instance.
    NotInstalled,
}

/// Plugins of one instance.
#[derive(Debug, Clone)]
pub struct Plugins {
    client: Client,
    table: Table<Plugin>,
}

impl Client {
    /// The plugins of this instance.
    pub fn plugins(&self) -> Plugins {
        Plugins {
            client: self.clone(),
            table: self.table(),
        }
    }
}

/// Checks a plugin id: letters, digits, `.`, `_` and `-`, not empty (so it can go
/// into a path and an `IN` list).
pub fn check_plugin_id(id: &str) -> Result<(), InvalidInput> {
    let valid = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(InvalidInput::new(
            "plugin id",
            format!("{id:?} is not a plugin id (letters, digits, `.`, `_`, `-`)"),
        ))
    }
}

impl Plugins {
    /// The plugin's `v_plugin` row, or `None` when the instance does not know it.
    pub async fn get(&self, id: &str) -> Result<Option<Plugin>> {
        check_plugin_id(id)?;
        self.table.one(Query::new().eq("id", id)).await
    }

    /// The plugin's state according to `v_plugin`.
    pub async fn state(&self, id: &str) -> Result<PluginState> {
        Ok(match self.get(id).await? {
            Some(p) if p.active => PluginState::Active,
            Some(_) => PluginState::Inactive,
            None => PluginState::NotInstalled,
        })
    }

    /// Whether a table exists in `sys_db_object` (a plugin's second sign of life).
    pub async fn table_exists(&self, table: &str) -> Result<bool> {
        crate::query::check_table(table)?;
        let found = self
            .client
            .table_json("sys_db_object")?
            .first(Query::new().eq("name", table))
            .await?;
        Ok(found.is_some())
    }

    /// Starts activating a plugin, unless `v_plugin` says it is active already (then
    /// no activation request is sent: [`CicdOperation::is_unnecessary`]). A plugin
    /// the instance does not know is an error before any activation request.
    pub async fn activate(&self, id: &str) -> Result<Activation> {
        let operation = format!("activation of {id}");
        match self.get(id).await? {
            Some(p) if p.active => {
                return Ok(CicdOperation::unnecessary(&self.client, operation));
            }
            Some(_) => {}
            None => {
                return Err(InvalidInput::new(
                    "plugin id",
                    format!("{id} is not installed on this instance (no v_plugin row)"),
                )
                .into());
            }
        }
        crate::cicd::start(
            &self.client,
            Request::post(format!(
                "/api/sn_cicd/plugin/{}/activate",
                bpsn_core::transport::path_segment(id)?
            )),
            operation,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_active_form_is_read_and_unknown_forms_are_errors() {
        for (raw, want) in [
            ("active", true),
            ("true", true),
            ("1", true),
            ("inactive", false),
            ("false", false),
            ("0", false),
        ] {
            assert_eq!(parse_active(raw), Some(want), "{raw}");
        }
        let err = serde_json::from_str::<Plugin>(r#"{"id":"x","active":"enabled"}"#).unwrap_err();
        assert!(err.to_string().contains("\"enabled\""), "{err}");
    }

    #[test]
    fn plugin_ids_are_checked() {
        assert!(check_plugin_id(ids::OPENFRAME).is_ok());
        assert!(check_plugin_id("com.x/../../etc").is_err());
        assert!(check_plugin_id("").is_err());
    }
}
