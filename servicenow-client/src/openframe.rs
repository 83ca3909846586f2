//! OpenFrame configurations (`sn_openframe_configuration`).
//!
//! A user with several active configurations gets the one with the lowest `order`,
//! so a configuration shipped by another plugin (CTI's, named "CTI") can shadow
//! ours: [`OpenFrameConfigurations::shadowing`] lists the active configurations
//! that would win over a given one.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> servicenow_client::Result<()> {
//! use servicenow_fake::FakeInstance;
//! use servicenow_client::openframe::OpenFrameFields;
//!
//! let sn = FakeInstance::start().await;
//! sn.set_plugin_active("com.sn_openframe", true); // the plugin brings the table
//! let configs = sn.client_as_admin().openframe_configurations();
//! let mut fields = OpenFrameFields::new("Bright Pattern", "https://example.brightpattern.com/agentdesktop/?topDomain=https%3A%2F%2Fdev1.service-now.com");
//! fields.width = 300;
//! fields.height = 750;
//! let created = configs.create(&fields).await?;
//! let found = configs.get_by_name("Bright Pattern").await?.unwrap();
//! assert_eq!(found.sys_id, created.sys_id);
//! assert_eq!((found.fields.width, found.fields.height), (300, 750));
//! # Ok(()) }
//! ```

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{InvalidInput, Result};
use crate::query::Query;
use crate::table::{Record, Table};
use crate::wire::{Reference, SysId, string_bool, string_number};

/// The settable columns of an OpenFrame configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenFrameFields {
    /// The configuration's name.
    pub name: String,
    /// The title shown in the frame's header.
    #[serde(default)]
    pub title: String,
    /// The subtitle.
    #[serde(default)]
    pub subtitle: String,
    /// The URL loaded in the frame.
    #[serde(default)]
    pub url: String,
    /// Width in pixels.
    #[serde(with = "string_number", default = "default_width")]
    pub width: u32,
    /// Height in pixels.
    #[serde(with = "string_number", default = "default_height")]
    pub height: u32,
    /// The lowest order wins when a user has several configurations.
    #[serde(with = "string_number", default)]
    pub order: i64,
    /// Whether the configuration is active.
    #[serde(with = "string_bool", default)]
    pub active: bool,
    /// Whether it is the default configuration (only one may be).
    #[serde(with = "string_bool", default)]
    pub default: bool,
    /// Whether the presence indicator is shown.
    #[serde(with = "string_bool", default)]
    pub show_presence_indicator: bool,
    /// Whether the collapsed view is enabled.
    #[serde(with = "string_bool", default)]
    pub collapsed_view_enabled: bool,
}

fn default_width() -> u32 {
    373
}

fn default_height() -> u32 {
    300
}

impl OpenFrameFields {
    /// An active configuration with the vendor's default size (373 × 300), order 100.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            title: String::new(),
            subtitle: String::new(),
            url: url.into(),
            width: default_width(),
            height: default_height(),
            order: 100,
            active: true,
            default: false,
            show_presence_indicator: false,
            collapsed_view_enabled: false,
        }
    }
}

/// A row of `sn_openframe_configuration`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OpenFrameConfiguration {
    /// The record id.
    pub sys_id: SysId,
    /// The user group the configuration is scoped to (the form's User Group
    /// field), when the instance has the column and it is set: only members of
    /// that group see it.
    #[serde(default)]
    pub user_group: Reference,
    /// The columns.
    #[serde(flatten)]
    pub fields: OpenFrameFields,
}

impl Record for OpenFrameConfiguration {
    const TABLE: &'static str = "sn_openframe_configuration";
}

/// The OpenFrame configurations of one instance.
#[derive(Debug, Clone)]
pub struct OpenFrameConfigurations {
    table: Table<OpenFrameConfiguration>,
}

impl Client {
    /// The OpenFrame configurations of this instance.
    pub fn openframe_configurations(&self) -> OpenFrameConfigurations {
        OpenFrameConfigurations {
            table: self.table(),
        }
    }
}

impl OpenFrameConfigurations {
    /// The configuration with this name, or `None`.
    pub async fn get_by_name(&self, name: &str) -> Result<Option<OpenFrameConfiguration>> {
        self.table.one(Query::new().eq("name", name)).await
    }

    /// The configuration with this sys_id.
    pub async fn get(&self, sys_id: &SysId) -> Result<OpenFrameConfiguration> {
        self.table.get(sys_id).await
    }

    /// Active configurations, lowest `order` first: the first is what a user with
    /// all of them would get.
    pub async fn active_by_order(&self) -> Result<Vec<OpenFrameConfiguration>> {
        use futures_util::TryStreamExt as _;
        self.table
            .list(
                Query::new()
                    .eq("active", "true")
                    .order_by("order")
                    .order_by("name"),
            )
            .try_collect()
            .await
    }

    /// Active configurations other than `ours` whose order is lower than or equal
    /// to `ours.order`: any of them may be shown instead of ours.
    pub async fn shadowing(
        &self,
        ours: &OpenFrameConfiguration,
    ) -> Result<Vec<OpenFrameConfiguration>> {
        Ok(self
            .active_by_order()
            .await?
            .into_iter()
            .filter(|c| c.sys_id != ours.sys_id && c.fields.order <= ours.fields.order)
            .collect())
    }

    /// Creates a configuration.
    pub async fn create(&self, fields: &OpenFrameFields) -> Result<OpenFrameConfiguration> {
        check_fields(fields)?;
        self.table.create(fields).await
    }

    /// Creates a configuration with a sys_id chosen beforehand (see
    /// [`Table::create_with_id`]).
    pub async fn create_with_id(
        &self,
        sys_id: &SysId,
        fields: &OpenFrameFields,
    ) -> Result<OpenFrameConfiguration> {
        check_fields(fields)?;
        self.table.create_with_id(sys_id, fields).await
    }

    /// Sets some columns (any serialisable patch, for example a JSON object of the
    /// changed columns).
    pub async fn update<P: Serialize + ?Sized>(
        &self,
        sys_id: &SysId,
        patch: &P,
    ) -> Result<OpenFrameConfiguration> {
        self.table.update(sys_id, patch).await
    }

    /// Deletes a configuration.
    pub async fn delete(&self, sys_id: &SysId) -> Result<()> {
        self.table.delete(sys_id).await
    }
}

/// The limits of OpenFrame's client API: width and height above zero, title and
/// subtitle at most 256 characters, URL at most 2083.
fn check_fields(fields: &OpenFrameFields) -> Result<()> {
    let mut problems = Vec::new();
    if fields.name.trim().is_empty() {
        problems.push("name is empty".to_owned());
    }
    if fields.width == 0 || fields.height == 0 {
        problems.push(format!(
            "size {}x{} must be above zero",
            fields.width, fields.height
        ));
    }
    for (what, text) in [("title", &fields.title), ("subtitle", &fields.subtitle)] {
        if text.chars().count() > 256 {
            problems.push(format!("{what} is longer than 256 characters"));
        }
    }
    if fields.url.len() > 2083 {
        problems.push("url is longer than 2083 characters".to_owned());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(InvalidInput::new("OpenFrame configuration", problems.join("; ")).into())
    }
}
