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
//! assert!(plugins.activate(ids::OPENFRAME).await?.is_already_active());
//! # Ok(()) }
//! ```
//!
//! There is no REST call to deactivate a plugin; nothing here tries.
//!
//! `v_plugin` can lag behind a finished activation. A second signal is a table the
//! plugin creates appearing in `sys_db_object` (for OpenFrame,
//! `sn_openframe_configuration`): see [`Plugins::table_exists`].

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer};

use crate::client::Client;
use crate::error::{Error, InvalidInput, Result};
use crate::query::Query;
use crate::table::{Record, Table, decode_result};
use crate::{Request, Response};

/// The plugin ids the integration procedure names.
pub mod ids {
    /// OpenFrame (`com.sn_openframe`): the frame Agent Desktop is embedded in. Always needed.
    pub const OPENFRAME: &str = "com.sn_openframe";
    /// CTI Softphone (`com.snc.cti`): softphone functions. Pulls in Notify, Notify-Twilio,
    /// Matching Engine and OpenFrame, and ships an OpenFrame configuration named "CTI".
    /// Hidden on new instances since the Australia release; optional.
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

/// The state of a CI/CD operation (`result.status`, sent as a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressStatus {
    /// `"0"`
    Pending,
    /// `"1"`
    Running,
    /// `"2"`
    Successful,
    /// `"3"`
    Failed,
    /// `"4"`
    Canceled,
}

impl ProgressStatus {
    /// Reads the wire value.
    pub fn from_wire(raw: &str) -> Option<Self> {
        Some(match raw.trim() {
            "0" => Self::Pending,
            "1" => Self::Running,
            "2" => Self::Successful,
            "3" => Self::Failed,
            "4" => Self::Canceled,
            _ => return None,
        })
    }

    /// Whether the operation has ended (successfully or not).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Successful | Self::Failed | Self::Canceled)
    }

    /// Whether it ended successfully.
    pub fn is_successful(self) -> bool {
        self == Self::Successful
    }
}

impl fmt::Display for ProgressStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Successful => "Successful",
            Self::Failed => "Failed",
            Self::Canceled => "Canceled",
        })
    }
}

impl<'de> Deserialize<'de> for ProgressStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = bpsn_core::wire::string_number::deserialize::<u8, D>(d)?;
        Self::from_wire(&raw.to_string()).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown CI/CD status {raw:?} (expected 0 to 4)"))
        })
    }
}

/// One reading of a CI/CD operation's progress.
#[derive(Debug, Clone, Deserialize)]
pub struct Progress {
    /// The state.
    pub status: ProgressStatus,
    /// The state's label (`Running`).
    #[serde(default)]
    pub status_label: String,
    /// The status message.
    #[serde(default)]
    pub status_message: String,
    /// The status detail.
    #[serde(default)]
    pub status_detail: String,
    /// The error text, on failure.
    #[serde(default)]
    pub error: String,
    /// Percent complete, 0 to 100 (0 when the instance did not say).
    #[serde(default, deserialize_with = "percent")]
    pub percent_complete: u8,
}

/// Reads a percentage sent as a number or a string, possibly fractional.
fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let value: Option<f64> = bpsn_core::wire::string_number::option::deserialize(d)?;
    Ok(value.unwrap_or(0.0).clamp(0.0, 100.0).round() as u8)
}

impl Progress {
    fn describe(&self) -> String {
        format!("{} {}%", self.status, self.percent_complete)
    }
}

#[derive(Deserialize)]
struct StartResult {
    #[serde(default)]
    links: Option<StartLinks>,
    #[serde(flatten)]
    progress: Progress,
}

#[derive(Deserialize)]
struct StartLinks {
    progress: ProgressLink,
}

#[derive(Deserialize)]
struct ProgressLink {
    id: String,
}

/// How to wait for an activation: a deadline and a polling backoff. Start from
/// [`WaitOptions::default`] (or [`fast`](WaitOptions::fast)) and set what differs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitOptions {
    /// Give up after this long (default 30 minutes: since Tokyo, activations queue
    /// behind an instance lock).
    pub deadline: Duration,
    /// The first polling interval (default 1 s).
    pub initial_interval: Duration,
    /// The longest polling interval (default 15 s); each poll waits 1.5 times longer.
    pub max_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(30 * 60),
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(15),
        }
    }
}

impl WaitOptions {
    /// Sets the deadline.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sets the first polling interval.
    pub fn initial_interval(mut self, interval: Duration) -> Self {
        self.initial_interval = interval;
        self
    }

    /// Sets the longest polling interval.
    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// Fast polling for tests and local fakes.
    pub fn fast() -> Self {
        Self {
            deadline: Duration::from_secs(10),
            initial_interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(20),
        }
    }
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
    /// no activation request is sent). A plugin the instance does not know is an
    /// error before any activation request.
    pub async fn activate(&self, id: &str) -> Result<Activation> {
        match self.get(id).await? {
            Some(p) if p.active => {
                return Ok(Activation {
                    client: self.client.clone(),
                    plugin_id: id.to_owned(),
                    progress_id: None,
                    started: None,
                });
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
        let response = self
            .client
            .transport()
            .send(Request::post(format!("/api/sn_cicd/plugin/{id}/activate")).api("sn_cicd"))
            .await
            .map_err(cicd_error)?;
        let start: StartResult = decode_result(&response)?;
        let progress_id = start.links.map(|l| l.progress.id).ok_or_else(|| {
            response.protocol_error("the activation answer has no result.links.progress.id")
        })?;
        check_progress_id(&progress_id, &response)?;
        Ok(Activation {
            client: self.client.clone(),
            plugin_id: id.to_owned(),
            progress_id: Some(progress_id),
            started: Some(start.progress),
        })
    }
}

/// What a 405 from any `/api/sn_cicd/` path means.
pub const CICD_INACTIVE_HINT: &str = "the CI/CD API is inactive on this instance: activate the plugin com.glide.continuousdelivery (Continuous Integration and Continuous Delivery), or activate the plugins by hand in System Definition > Plugins";

/// A 405 from the CI/CD API means the feature itself is inactive.
pub(crate) fn cicd_error(error: Error) -> Error {
    match error {
        Error::Api(api) if api.status == 405 => Error::EndpointUnavailable {
            request: api.request,
            status: 405,
            hint: Some(CICD_INACTIVE_HINT.to_owned()),
        },
        other => other,
    }
}

fn check_progress_id(id: &str, response: &Response) -> Result<()> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(response.protocol_error(format!("the progress id {id:?} is not an id")))
    }
}

/// A started (or unnecessary) plugin activation.
#[derive(Debug, Clone)]
pub struct Activation {
    client: Client,
    plugin_id: String,
    progress_id: Option<String>,
    started: Option<Progress>,
}

impl Activation {
    /// The plugin.
    pub fn plugin_id(&self) -> &str {
        &self.plugin_id
    }

    /// The CI/CD progress id, when an activation was started.
    pub fn progress_id(&self) -> Option<&str> {
        self.progress_id.as_deref()
    }

    /// Whether the plugin was active already, so nothing was started.
    pub fn is_already_active(&self) -> bool {
        self.progress_id.is_none()
    }

    /// The progress the activation request answered with.
    pub fn initial_progress(&self) -> Option<&Progress> {
        self.started.as_ref()
    }

    /// Reads the progress once.
    pub async fn poll(&self) -> Result<Progress> {
        let Some(id) = &self.progress_id else {
            return Ok(already_active());
        };
        let response = self
            .client
            .transport()
            .send(Request::get(format!("/api/sn_cicd/progress/{id}")).api("sn_cicd"))
            .await
            .map_err(cicd_error)?;
        decode_result::<Progress>(&response)
    }

    /// Polls until the activation ends or the deadline passes, calling
    /// `on_progress` with each reading. Succeeds with the final progress;
    /// [`Error::OperationFailed`] on Failed or Canceled (with the server's status
    /// text from `result.error`, else `result.status_message`);
    /// [`Error::StillQueued`] when time runs out while the operation is still
    /// pending (queued behind an instance lock: not failed, it keeps running), and
    /// [`Error::DeadlineExceeded`] when it runs out while the operation runs. A 405
    /// from the CI/CD API is [`Error::EndpointUnavailable`] naming
    /// [`CICD_INACTIVE_HINT`].
    pub async fn wait(
        &self,
        options: &WaitOptions,
        mut on_progress: impl FnMut(&Progress) + Send,
    ) -> Result<Progress> {
        let started = Instant::now();
        let mut interval = options.initial_interval;
        loop {
            let progress = self.poll().await?;
            on_progress(&progress);
            match progress.status {
                ProgressStatus::Successful => return Ok(progress),
                ProgressStatus::Failed | ProgressStatus::Canceled => {
                    // The documented place of a failure's text is `result.error`,
                    // else `result.status_message`.
                    let message = [&progress.error, &progress.status_message]
                        .into_iter()
                        .find(|m| !m.trim().is_empty())
                        .cloned();
                    let detail = Some(progress.status_detail.clone())
                        .filter(|d| !d.trim().is_empty() && Some(d) != message.as_ref());
                    return Err(Error::OperationFailed {
                        operation: format!("activation of {}", self.plugin_id),
                        state: progress.status.to_string(),
                        message,
                        detail,
                    });
                }
                ProgressStatus::Pending | ProgressStatus::Running => {}
            }
            if started.elapsed() + interval > options.deadline {
                if progress.status == ProgressStatus::Pending {
                    return Err(Error::StillQueued {
                        operation: format!("activation of {}", self.plugin_id),
                        progress_id: self.progress_id.clone().unwrap_or_default(),
                        waited: started.elapsed(),
                    });
                }
                return Err(Error::DeadlineExceeded {
                    operation: format!("activation of {}", self.plugin_id),
                    waited: started.elapsed(),
                    last_state: progress.describe(),
                });
            }
            tokio::time::sleep(interval).await;
            interval = interval.mul_f32(1.5).min(options.max_interval);
        }
    }
}

fn already_active() -> Progress {
    Progress {
        status: ProgressStatus::Successful,
        status_label: "Successful".into(),
        status_message: "already active".into(),
        status_detail: String::new(),
        error: String::new(),
        percent_complete: 100,
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
    fn progress_status_reads_strings_and_numbers() {
        let p: Progress = serde_json::from_str(r#"{"status":"1","percent_complete":40}"#).unwrap();
        assert_eq!(
            (p.status, p.percent_complete),
            (ProgressStatus::Running, 40)
        );
        let p: Progress =
            serde_json::from_str(r#"{"status":"1","percent_complete":"33.4"}"#).unwrap();
        assert_eq!(p.percent_complete, 33);
        let p: Progress = serde_json::from_str(r#"{"status":2,"percent_complete":"100"}"#).unwrap();
        assert_eq!(p.status, ProgressStatus::Successful);
        assert!(serde_json::from_str::<Progress>(r#"{"status":"7"}"#).is_err());
    }

    #[test]
    fn plugin_ids_are_checked() {
        assert!(check_plugin_id(ids::OPENFRAME).is_ok());
        assert!(check_plugin_id("com.x/../../etc").is_err());
        assert!(check_plugin_id("").is_err());
    }
}
