//! Update sets (`sys_update_set`), the changes they capture (`sys_update_xml`),
//! and the user preference that names a user's current one
//! (`sys_user_preference`).
//!
//! On a change-managed instance, configuration changes to tracked tables are
//! captured in the writing user's *current* update set and move with it to
//! other instances (the reference's "A production instance" section). This
//! module lets a client say which update set its writes should land in, and
//! then check that they did:
//!
//! - [`UpdateSets::named`], [`UpdateSets::create`]: find or make the set;
//! - [`UpdateSets::current`]: the set a user's writes land in, as far as the
//!   instance shows it (the `sys_update_set` preference when it names a set in
//!   progress, otherwise the default set);
//! - [`UpdateSets::choose`] and [`UpdateSets::restore`]: switch a user's
//!   preference for a while, and put back exactly what was there;
//! - [`UpdateSets::captured`]: what a set holds, to prove a write landed.
//!
//! That the platform picks the current update set by the `sys_update_set`
//! preference is **not documented** in what this project could read: prove
//! each switch by reading [`captured`](UpdateSets::captured) after writing,
//! never assume it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> servicenow_client::Result<()> {
//! use servicenow_fake::{ADMIN_USER, FakeInstance};
//!
//! let sn = FakeInstance::start().await;
//! let client = sn.client_as_admin();
//! let sets = client.update_sets();
//! let admin = client.users().get_by_user_name(ADMIN_USER).await?.unwrap();
//!
//! let release = sets.create("BP integration", "Bright Pattern in OpenFrame").await?;
//! let before = sets.current(&admin.sys_id).await?;
//! let chosen = sets.choose(&admin.sys_id, &release.sys_id, before.preference.as_ref()).await?;
//! client.properties().set("x_vendor.flag", "on").await?;
//! sets.restore(&chosen, &before.preference_value()).await?;
//!
//! let captured = sets.captured(&release.sys_id).await?;
//! assert!(captured.iter().any(|c| c.target_name == "x_vendor.flag"));
//! assert_eq!(sets.current(&admin.sys_id).await?.update_set.unwrap().sys_id,
//!            before.update_set.unwrap().sys_id);
//! # Ok(()) }
//! ```

use std::fmt;

use futures_util::TryStreamExt as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::client::Client;
use crate::error::{InvalidInput, Result};
use crate::query::Query;
use crate::table::{ListOptions, Record, Table};
use crate::wire::{Reference, SysId, string_bool, string_number};

/// The user preference naming a user's current update set (its `value` is the
/// set's sys_id). Unverified: see the module documentation.
pub const CURRENT_UPDATE_SET_PREFERENCE: &str = "sys_update_set";

/// The state of an update set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UpdateSetState {
    /// `in progress`: changes are captured in it.
    InProgress,
    /// `complete`: closed; nothing more is captured.
    Complete,
    /// `ignore`: set aside; nothing more is captured.
    Ignore,
    /// A state this version does not know, as the instance sent it.
    Other(String),
}

impl UpdateSetState {
    /// The value the instance stores.
    pub fn as_str(&self) -> &str {
        match self {
            UpdateSetState::InProgress => "in progress",
            UpdateSetState::Complete => "complete",
            UpdateSetState::Ignore => "ignore",
            UpdateSetState::Other(s) => s,
        }
    }

    /// Whether changes are captured in a set in this state.
    pub fn is_in_progress(&self) -> bool {
        *self == UpdateSetState::InProgress
    }

    fn from_wire(value: &str) -> Self {
        match value {
            "in progress" => UpdateSetState::InProgress,
            "complete" => UpdateSetState::Complete,
            "ignore" => UpdateSetState::Ignore,
            other => UpdateSetState::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for UpdateSetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for UpdateSetState {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for UpdateSetState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Self::from_wire(&String::deserialize(d)?))
    }
}

/// A row of `sys_update_set`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UpdateSet {
    /// The record id.
    pub sys_id: SysId,
    /// The name (not unique: several sets may share one).
    pub name: String,
    /// The description.
    #[serde(default)]
    pub description: String,
    /// The state.
    pub state: UpdateSetState,
    /// Whether it is the default set (where changes land when a user has
    /// chosen none).
    #[serde(with = "string_bool", default)]
    pub is_default: bool,
}

impl Record for UpdateSet {
    const TABLE: &'static str = "sys_update_set";
}

/// A row of `sys_user_preference`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserPreference {
    /// The record id.
    pub sys_id: SysId,
    /// The preference's name.
    pub name: String,
    /// Its value.
    #[serde(default)]
    pub value: String,
    /// The user it belongs to.
    #[serde(default)]
    pub user: Reference,
}

impl Record for UserPreference {
    const TABLE: &'static str = "sys_user_preference";
}

/// A change an update set captured: a row of `sys_update_xml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CapturedChange {
    /// The record id.
    pub sys_id: SysId,
    /// The captured record's key (`<table>_<sys_id>`).
    pub name: String,
    /// The update set holding it.
    #[serde(default)]
    pub update_set: Reference,
    /// The captured record's table.
    #[serde(rename = "type", default)]
    pub table: String,
    /// The captured record's display value.
    #[serde(default)]
    pub target_name: String,
    /// `INSERT_OR_UPDATE` or `DELETE`.
    #[serde(default)]
    pub action: String,
    /// How often the row was updated since it was made (a change captured
    /// again in the same set updates the row).
    #[serde(with = "string_number", default)]
    pub sys_mod_count: u64,
}

impl Record for CapturedChange {
    const TABLE: &'static str = "sys_update_xml";
}

/// How a user's current update set was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CurrentSource {
    /// The user's `sys_update_set` preference names it (and it is in progress).
    Preference,
    /// The user has chosen none (or chose one that is closed): the default set.
    Default,
}

/// A user's current update set, as far as the instance shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUpdateSet {
    /// The set, when one could be read.
    pub update_set: Option<UpdateSet>,
    /// How it was found.
    pub source: CurrentSource,
    /// The user's preference row, when there is one (whatever it names).
    pub preference: Option<UserPreference>,
}

impl CurrentUpdateSet {
    /// What [`UpdateSets::restore`] must put back after a switch.
    pub fn preference_value(&self) -> PreviousPreference {
        match &self.preference {
            Some(p) => PreviousPreference::Value(p.value.clone()),
            None => PreviousPreference::Absent,
        }
    }
}

/// What a user's `sys_update_set` preference was before a switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "was", content = "value", rename_all = "snake_case")]
pub enum PreviousPreference {
    /// The user had no such preference: restoring deletes the row the switch
    /// made.
    Absent,
    /// The preference held this value.
    Value(String),
}

/// How [`UpdateSets::restore`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Restored {
    /// The previous value is back (or the row the switch made is gone).
    Restored,
    /// The preference no longer names the set the switch chose: someone
    /// changed it since, and their choice is kept.
    ChangedSince {
        /// What it names now (empty when the row is gone).
        now: String,
    },
}

/// The update sets of one instance, and its users' choice of one.
#[derive(Debug, Clone)]
pub struct UpdateSets {
    sets: Table<UpdateSet>,
    preferences: Table<UserPreference>,
    captured: Table<CapturedChange>,
}

impl Client {
    /// The update sets of this instance.
    pub fn update_sets(&self) -> UpdateSets {
        UpdateSets {
            sets: self.table(),
            preferences: self.table(),
            captured: self.table(),
        }
    }
}

fn check_set_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(InvalidInput::new("update set name", "the name is empty").into());
    }
    if name.contains(['\n', '\r']) {
        return Err(InvalidInput::new("update set name", "holds a line break").into());
    }
    Ok(())
}

impl UpdateSets {
    /// Every update set with this name, oldest first (names are not unique).
    pub async fn named(&self, name: &str) -> Result<Vec<UpdateSet>> {
        check_set_name(name)?;
        self.sets
            .list(Query::new().eq("name", name).order_by("sys_created_on"))
            .try_collect()
            .await
    }

    /// The update set with this sys_id, or `None`.
    pub async fn get(&self, sys_id: &SysId) -> Result<Option<UpdateSet>> {
        self.sets.find(sys_id).await
    }

    /// The default update set in progress, or `None` when the instance shows
    /// none.
    pub async fn default_in_progress(&self) -> Result<Option<UpdateSet>> {
        self.sets
            .first(
                Query::new()
                    .eq("is_default", "true")
                    .eq("state", UpdateSetState::InProgress.as_str()),
            )
            .await
    }

    /// Creates an update set in progress.
    pub async fn create(&self, name: &str, description: &str) -> Result<UpdateSet> {
        check_set_name(name)?;
        self.sets
            .create(&serde_json::json!({
                "name": name,
                "description": description,
                "state": UpdateSetState::InProgress.as_str(),
            }))
            .await
    }

    /// The user's `sys_update_set` preference row, or `None`.
    pub async fn preference(&self, user: &SysId) -> Result<Option<UserPreference>> {
        self.preferences
            .one(
                Query::new()
                    .eq("user", user.as_str())
                    .eq("name", CURRENT_UPDATE_SET_PREFERENCE),
            )
            .await
    }

    /// The update set the user's configuration writes land in, as far as the
    /// instance shows it: the set the preference names when it is in
    /// progress, otherwise the default one.
    pub async fn current(&self, user: &SysId) -> Result<CurrentUpdateSet> {
        let preference = self.preference(user).await?;
        let named = match preference.as_ref().map(|p| SysId::parse(&p.value)) {
            Some(Ok(id)) => self.get(&id).await?,
            _ => None,
        };
        if let Some(set) = named.filter(|s| s.state.is_in_progress()) {
            return Ok(CurrentUpdateSet {
                update_set: Some(set),
                source: CurrentSource::Preference,
                preference,
            });
        }
        Ok(CurrentUpdateSet {
            update_set: self.default_in_progress().await?,
            source: CurrentSource::Default,
            preference,
        })
    }

    /// Makes `set` the user's current update set (the preference's row is
    /// updated when `existing` is given, made otherwise), and returns the row.
    /// Keep [`CurrentUpdateSet::preference_value`] from before, to
    /// [`restore`](Self::restore) it.
    pub async fn choose(
        &self,
        user: &SysId,
        set: &SysId,
        existing: Option<&UserPreference>,
    ) -> Result<UserPreference> {
        match existing {
            Some(row) => {
                self.preferences
                    .update(&row.sys_id, &serde_json::json!({"value": set.as_str()}))
                    .await
            }
            None => {
                self.preferences
                    .create(&serde_json::json!({
                        "user": user.as_str(),
                        "name": CURRENT_UPDATE_SET_PREFERENCE,
                        "value": set.as_str(),
                    }))
                    .await
            }
        }
    }

    /// Puts back what the preference was before [`choose`](Self::choose) made
    /// `chosen` — only when the row still names the set chosen (someone who
    /// changed it since keeps their choice).
    pub async fn restore(
        &self,
        chosen: &UserPreference,
        previous: &PreviousPreference,
    ) -> Result<Restored> {
        let Some(now) = self.preferences.find(&chosen.sys_id).await? else {
            return Ok(Restored::ChangedSince { now: String::new() });
        };
        if now.value != chosen.value || now.name != CURRENT_UPDATE_SET_PREFERENCE {
            return Ok(Restored::ChangedSince { now: now.value });
        }
        match previous {
            PreviousPreference::Absent => self.preferences.delete(&chosen.sys_id).await?,
            PreviousPreference::Value(value) => {
                self.preferences
                    .update(&chosen.sys_id, &serde_json::json!({"value": value}))
                    .await?;
            }
        }
        Ok(Restored::Restored)
    }

    /// Every change the update set has captured (a busy set holds
    /// thousands: prefer [`recently_captured`](Self::recently_captured) to
    /// check a run's own writes).
    pub async fn captured(&self, set: &SysId) -> Result<Vec<CapturedChange>> {
        self.captured
            .list(
                ListOptions::new(
                    Query::new()
                        .eq("update_set", set.as_str())
                        .order_by("sys_id"),
                )
                .fields(CAPTURED_FIELDS),
            )
            .try_collect()
            .await
    }

    /// The `limit` changes of the update set that `user_name` made last,
    /// newest first: read before and after a run, they show what the run's
    /// writes added or changed, in one bounded request each.
    pub async fn recently_captured(
        &self,
        set: &SysId,
        user_name: &str,
        limit: u32,
    ) -> Result<Vec<CapturedChange>> {
        if limit == 0 {
            return Err(InvalidInput::new("limit", "must be at least 1").into());
        }
        self.captured
            .first_page(
                ListOptions::new(
                    Query::new()
                        .eq("update_set", set.as_str())
                        .eq("sys_updated_by", user_name)
                        .order_by_desc("sys_updated_on"),
                )
                .fields(CAPTURED_FIELDS)
                .page_size(limit),
            )
            .await
    }
}

const CAPTURED_FIELDS: [&str; 7] = [
    "sys_id",
    "name",
    "update_set",
    "type",
    "target_name",
    "action",
    "sys_mod_count",
];
