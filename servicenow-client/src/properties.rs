//! System properties (`sys_properties`).
//!
//! Each write of a property flushes caches on every node of the instance, so
//! [`Properties::set`] writes only when the value really changes, and reports what
//! it did. Comma-separated list properties (the postMessage allow-list OpenFrame
//! reads, [`POST_MESSAGE_ALLOW_LIST`]) get entry-wise helpers that keep the other
//! entries and their order.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> servicenow_client::Result<()> {
//! use servicenow_fake::FakeInstance;
//! use servicenow_client::properties::{Change, POST_MESSAGE_ALLOW_LIST};
//!
//! let sn = FakeInstance::start().await;
//! let props = sn.client_as_admin().properties();
//! let origin = "https://example.brightpattern.com";
//! assert!(matches!(props.add_list_entry(POST_MESSAGE_ALLOW_LIST, origin).await?, Change::Updated { .. }));
//! assert_eq!(props.add_list_entry(POST_MESSAGE_ALLOW_LIST, origin).await?, Change::Unchanged);
//! assert_eq!(props.list_entries(POST_MESSAGE_ALLOW_LIST).await?, vec![origin.to_owned()]);
//! # Ok(()) }
//! ```

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{InvalidInput, Result};
use crate::query::Query;
use crate::table::{Record, Table};
use crate::wire::SysId;

/// The property listing the origins OpenFrame accepts postMessage calls from
/// (comma-separated; empty means none).
pub const POST_MESSAGE_ALLOW_LIST: &str =
    "glide.ui.concourse.onmessage_enforce_same_origin_whitelist";

/// A row of `sys_properties`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SystemProperty {
    /// The record id.
    #[serde(skip_serializing)]
    pub sys_id: SysId,
    /// The property name.
    pub name: String,
    /// The value (always a string on the wire).
    #[serde(default)]
    pub value: String,
    /// The type (`string`, `boolean`, `integer`, ...).
    #[serde(default, rename = "type")]
    pub property_type: String,
    /// The description.
    #[serde(default)]
    pub description: String,
    /// For a choice list, its choices as the instance keeps them (read only;
    /// the format is not documented: commonly `a,b` or `Label=value` items).
    #[serde(default, skip_serializing)]
    pub choices: String,
    /// Whether a write of it rebuilds only the property cache (`true`) or
    /// flushes the whole system cache on every node (`false`, the dictionary
    /// default before Rome); `None` when the instance did not say (read only).
    #[serde(
        default,
        skip_serializing,
        with = "bpsn_core::wire::string_bool::option"
    )]
    pub ignore_cache: Option<bool>,
    /// Whether update sets leave it out (`true`); `None` when the instance did
    /// not say (read only).
    #[serde(
        default,
        skip_serializing,
        with = "bpsn_core::wire::string_bool::option"
    )]
    pub is_private: Option<bool>,
}

impl Record for SystemProperty {
    const TABLE: &'static str = "sys_properties";
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The value was already as asked: nothing was written.
    Unchanged,
    /// The property did not exist and was created.
    Created {
        /// The new record.
        sys_id: SysId,
    },
    /// The value was changed.
    Updated {
        /// The value before.
        old: String,
        /// The value after.
        new: String,
    },
}

impl Change {
    /// Whether anything was written.
    pub fn is_write(&self) -> bool {
        !matches!(self, Change::Unchanged)
    }
}

/// The system properties of one instance.
#[derive(Debug, Clone)]
pub struct Properties {
    table: Table<SystemProperty>,
}

impl Client {
    /// The system properties of this instance.
    pub fn properties(&self) -> Properties {
        Properties {
            table: self.table(),
        }
    }
}

fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(InvalidInput::new("property name", format!("{name:?} is not a property name")).into())
    }
}

impl Properties {
    /// The property, or `None`.
    pub async fn get(&self, name: &str) -> Result<Option<SystemProperty>> {
        check_name(name)?;
        self.table.one(Query::new().eq("name", name)).await
    }

    /// The property's value, or `None` when it does not exist.
    pub async fn value(&self, name: &str) -> Result<Option<String>> {
        Ok(self.get(name).await?.map(|p| p.value))
    }

    /// Sets the value, writing only when it differs; creates a `string` property
    /// when none exists.
    pub async fn set(&self, name: &str, value: &str) -> Result<Change> {
        let current = self.get(name).await?;
        self.write(name, current, value.to_owned()).await
    }

    async fn write(
        &self,
        name: &str,
        current: Option<SystemProperty>,
        value: String,
    ) -> Result<Change> {
        match current {
            Some(p) if p.value == value => Ok(Change::Unchanged),
            Some(p) => {
                self.table
                    .update(&p.sys_id, &serde_json::json!({ "value": value }))
                    .await?;
                Ok(Change::Updated {
                    old: p.value,
                    new: value,
                })
            }
            None => {
                let created = self
                    .table
                    .create(&serde_json::json!({ "name": name, "value": value, "type": "string" }))
                    .await?;
                Ok(Change::Created {
                    sys_id: created.sys_id,
                })
            }
        }
    }

    /// The entries of a comma-separated list property (empty when absent).
    pub async fn list_entries(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .value(name)
            .await?
            .map(|v| list_entries(&v).into_iter().map(str::to_owned).collect())
            .unwrap_or_default())
    }

    /// Adds `entry` to a comma-separated list property, keeping the other entries
    /// and their order; writes nothing when it is there already.
    ///
    /// The value is shared (several integrations keep entries in one
    /// property), and the Table API offers no conditional update: after
    /// writing, the property is read back, and an entry another writer's
    /// update lost is written again (up to [`LIST_WRITES`] times, then
    /// [`Error::LostUpdate`](crate::Error::LostUpdate)).
    pub async fn add_list_entry(&self, name: &str, entry: &str) -> Result<Change> {
        check_entry(entry)?;
        self.change_list(name, entry, true).await
    }

    /// Removes `entry` from a comma-separated list property, keeping the others and
    /// their order; writes nothing when it is absent. Read back after writing,
    /// as [`add_list_entry`](Self::add_list_entry) is.
    pub async fn remove_list_entry(&self, name: &str, entry: &str) -> Result<Change> {
        check_entry(entry)?;
        self.change_list(name, entry, false).await
    }

    /// Makes `entry` present (or absent) in the list, verifying each write by
    /// reading it back.
    async fn change_list(&self, name: &str, entry: &str, present: bool) -> Result<Change> {
        let mut made: Option<Change> = None;
        for attempt in 1..=LIST_WRITES {
            let current = self.get(name).await?;
            let old = current.as_ref().map(|p| p.value.as_str()).unwrap_or("");
            let new = if present {
                list_with(old, entry)
            } else if current.is_none() {
                None
            } else {
                list_without(old, entry)
            };
            let Some(new) = new else {
                // As asked: by now, or by an earlier write of this call.
                return Ok(made.unwrap_or(Change::Unchanged));
            };
            let change = self.write(name, current, new).await?;
            made.get_or_insert(change);
            let back = self.list_entries(name).await?;
            if back.iter().any(|e| e == entry.trim()) == present {
                return Ok(made.unwrap_or(Change::Unchanged));
            }
            tracing::warn!(
                property = name,
                attempt,
                "another writer's update lost the change to the list property; writing it again"
            );
            tokio::time::sleep(std::time::Duration::from_millis(
                20 * u64::from(attempt) + rand::random::<u64>() % 50,
            ))
            .await;
        }
        Err(crate::Error::LostUpdate {
            what: format!(
                "{} the entry {entry} of the property {name}",
                if present { "adding" } else { "removing" }
            ),
            attempts: LIST_WRITES,
        })
    }
}

/// How many times a list property's change is written when another writer's
/// update keeps losing it.
pub const LIST_WRITES: u32 = 4;

fn check_entry(entry: &str) -> Result<()> {
    if entry.trim().is_empty() || entry.contains(',') {
        return Err(InvalidInput::new(
            "list entry",
            format!("{entry:?} must be non-empty and hold no `,`"),
        )
        .into());
    }
    Ok(())
}

/// The entries of a comma-separated list (trimmed, empty ones skipped).
pub fn list_entries(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect()
}

/// The list with `entry` appended, or `None` when it is there already.
pub fn list_with(value: &str, entry: &str) -> Option<String> {
    let entry = entry.trim();
    let mut entries = list_entries(value);
    if entries.contains(&entry) {
        return None;
    }
    entries.push(entry);
    Some(entries.join(","))
}

/// The list without `entry`, or `None` when it was absent.
pub fn list_without(value: &str, entry: &str) -> Option<String> {
    let entry = entry.trim();
    let entries = list_entries(value);
    if !entries.contains(&entry) {
        return None;
    }
    Some(
        entries
            .into_iter()
            .filter(|e| *e != entry)
            .collect::<Vec<_>>()
            .join(","),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_helpers_keep_order_and_other_entries() {
        assert_eq!(list_with("", "https://a").as_deref(), Some("https://a"));
        assert_eq!(
            list_with("https://a, https://b", "https://c").as_deref(),
            Some("https://a,https://b,https://c")
        );
        assert_eq!(list_with("https://a,https://b", " https://b "), None);
        assert_eq!(
            list_without("https://a,https://b,https://c", "https://b").as_deref(),
            Some("https://a,https://c")
        );
        assert_eq!(list_without("https://a", "https://z"), None);
        assert_eq!(list_without("https://a", "https://a").as_deref(), Some(""));
        assert_eq!(list_entries(" a ,, b,"), vec!["a", "b"]);
    }
}
