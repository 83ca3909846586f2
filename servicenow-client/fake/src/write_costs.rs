//! What a write costs on a clustered, change-managed instance, as the
//! reference's "A production instance" section documents it: full cache
//! flushes from `sys_properties` writes, and the capture of configuration
//! changes into the writing user's current update set.
//!
//! # Cache flushes
//!
//! A write (insert or update) to a `sys_properties` row whose `ignore_cache` is
//! false flushes the whole system cache on every node (KB1000746). The fake
//! counts each such write through the Table API ([`CacheFlush`]). What the
//! documentation does not say is counted too, the unfriendly way: an update
//! counts when the flag is false before *or* after it (a write that turns the
//! flag on may still flush), and so does a delete of a row whose flag is false.
//!
//! # Update sets
//!
//! A Table API write to a tracked table ([`TRACKED_TABLES`]: configuration
//! records; not users, memberships or role grants, which are data) is captured
//! as a `sys_update_xml` row (one per record and update set, action
//! `INSERT_OR_UPDATE` or `DELETE`) in the writer's current update set. System
//! properties marked private (`is_private = true`) are never captured.
//!
//! Which update set is "current" is the user's preference `sys_update_set` (a
//! `sys_user_preference` row whose `value` is the update set's sys_id) when it
//! names one that is in progress; otherwise the global default update set (the
//! one with `is_default = true`, made anew as `Default 1`, `Default 2`, … when
//! it is complete or ignored, as the platform documents). That the preference
//! is how the platform records the choice is **not documented** in what this
//! project could read: [`FakeInstance::set_update_set_preference_honoured`]
//! turns it off, so a test can prove that a client notices when its writes did
//! not land where it asked.
//!
//! [`FakeInstance::set_update_set_preference_honoured`]: crate::FakeInstance::set_update_set_preference_honoured

use serde_json::Value;
use servicenow_client::JsonRecord;

use super::state::{Columns, State, field};

/// The tables whose records update sets capture (configuration, not data).
pub const TRACKED_TABLES: [&str; 7] = [
    "sys_properties",
    "sn_openframe_configuration",
    "sys_cors_rule",
    "oauth_entity",
    "sys_ws_definition",
    "sys_db_object",
    "sys_user_role",
];

/// The user preference that names a user's current update set (unverified:
/// see the module documentation).
pub const UPDATE_SET_PREFERENCE: &str = "sys_update_set";

/// A Table API write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteKind {
    /// A create.
    Insert,
    /// A change of fields.
    Update,
    /// A delete.
    Delete,
}

/// A full flush of the system cache on every node, caused by a write to a
/// `sys_properties` row whose `ignore_cache` is false.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheFlush {
    /// The property written.
    pub property: String,
    /// The write.
    pub write: WriteKind,
    /// Who wrote it (a user name).
    pub by: String,
}

fn ignores_cache(row: Option<&JsonRecord>) -> bool {
    row.and_then(|r| field(r, "ignore_cache")) == Some("true")
}

/// Counts the cache flush a Table API write caused, and captures it in the
/// writer's update set, as the platform would. `before` and `after` are the
/// row before and after the write (`None` for an insert's before, a delete's
/// after).
pub(crate) fn after_api_write(
    state: &mut State,
    table: &str,
    caller: &str,
    write: WriteKind,
    before: Option<&JsonRecord>,
    after: Option<&JsonRecord>,
) {
    let row = after.or(before);
    let Some(row) = row else { return };
    if table == "sys_properties" {
        let flushes = match write {
            WriteKind::Insert => !ignores_cache(after),
            WriteKind::Update => !ignores_cache(before) || !ignores_cache(after),
            WriteKind::Delete => !ignores_cache(before),
        };
        if flushes {
            state.cache_flushes.push(CacheFlush {
                property: field(row, "name").unwrap_or_default().to_owned(),
                write,
                by: caller.to_owned(),
            });
        }
        if field(row, "is_private") == Some("true") {
            return;
        }
    }
    if TRACKED_TABLES.contains(&table) {
        capture(state, table, caller, write, row);
    }
}

/// The sys_id of `user_name`'s current update set (made when there is none).
pub(crate) fn current_update_set(state: &mut State, user_name: &str) -> String {
    let in_progress = |state: &State, id: &str| {
        state
            .find("sys_update_set", id)
            .is_some_and(|s| field(s, "state") == Some("in progress"))
    };
    if state.config.honour_update_set_preference {
        let user = state
            .find_by("sys_user", "user_name", user_name)
            .and_then(|u| field(u, "sys_id"))
            .map(str::to_owned);
        let preferred = state
            .rows("sys_user_preference")
            .iter()
            .find(|p| {
                field(p, "name") == Some(UPDATE_SET_PREFERENCE)
                    && user.is_some()
                    && field(p, "user") == user.as_deref()
            })
            .and_then(|p| field(p, "value"))
            .map(str::to_owned);
        if let Some(id) = preferred.filter(|id| in_progress(state, id)) {
            return id;
        }
    }
    default_update_set(state)
}

/// The global default update set, made anew (`Default 1`, …) when the
/// default one is complete or ignored, as the platform documents.
pub(crate) fn default_update_set(state: &mut State) -> String {
    let defaults: Vec<(String, String, String)> = state
        .rows("sys_update_set")
        .iter()
        .filter(|s| field(s, "is_default") == Some("true"))
        .map(|s| {
            (
                field(s, "sys_id").unwrap_or_default().to_owned(),
                field(s, "state").unwrap_or_default().to_owned(),
                field(s, "name").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    if let Some((id, _, _)) = defaults.iter().find(|(_, st, _)| st == "in progress") {
        return id.clone();
    }
    let name = match defaults.len() {
        0 => "Default".to_owned(),
        n => format!("Default {n}"),
    };
    for (id, _, _) in &defaults {
        let mut off = JsonRecord::new();
        off.insert("is_default".into(), Value::String("false".into()));
        state.update("sys_update_set", id, &off, "system");
    }
    let mut fields = JsonRecord::new();
    for (k, v) in [
        ("name", name.as_str()),
        ("state", "in progress"),
        ("is_default", "true"),
        ("application", "global"),
    ] {
        fields.insert(k.into(), Value::String(v.to_owned()));
    }
    state.ensure_table("sys_update_set");
    let row = state.insert_row("sys_update_set", &fields, "system", Columns::Strict);
    field(&row, "sys_id").unwrap_or_default().to_owned()
}

/// Records the write in the caller's current update set: one
/// `sys_update_xml` row per record and update set, the latest action.
fn capture(state: &mut State, table: &str, caller: &str, write: WriteKind, row: &JsonRecord) {
    let set = current_update_set(state, caller);
    let sys_id = field(row, "sys_id").unwrap_or_default();
    let name = format!("{table}_{sys_id}");
    let action = if write == WriteKind::Delete {
        "DELETE"
    } else {
        "INSERT_OR_UPDATE"
    };
    let target = state.display_value(table, sys_id);
    let target = if target.is_empty() || target == sys_id {
        field(row, "name").unwrap_or(sys_id).to_owned()
    } else {
        target
    };
    let mut fields = JsonRecord::new();
    for (k, v) in [
        ("name", name.as_str()),
        ("update_set", set.as_str()),
        ("type", table),
        ("target_name", target.as_str()),
        ("action", action),
    ] {
        fields.insert(k.into(), Value::String(v.to_owned()));
    }
    fields.insert(
        "payload".into(),
        Value::String(serde_json::to_string(row).unwrap_or_default()),
    );
    let existing = state
        .rows("sys_update_xml")
        .iter()
        .find(|x| field(x, "name") == Some(name.as_str()) && field(x, "update_set") == Some(&set))
        .and_then(|x| field(x, "sys_id"))
        .map(str::to_owned);
    match existing {
        Some(id) => {
            state.update("sys_update_xml", &id, &fields, caller);
        }
        None => {
            state.insert_row("sys_update_xml", &fields, caller, Columns::Strict);
        }
    }
}
