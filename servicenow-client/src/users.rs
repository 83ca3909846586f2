//! Users (`sys_user`), groups (`sys_user_group`) and group membership
//! (`sys_user_grmember`), looked up by their natural keys.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> servicenow_client::Result<()> {
//! use servicenow_fake::FakeInstance;
//!
//! let sn = FakeInstance::start().await;
//! sn.add_user("agent.1");
//! sn.add_group("Agents");
//! sn.add_group_member("agent.1", "Agents");
//! let client = sn.client_as_admin();
//! let user = client.users().get_by_user_name("agent.1").await?.unwrap();
//! let group = client.groups().get_by_name("Agents").await?.unwrap();
//! assert_eq!(client.groups().groups_of(&user.sys_id).await?, vec![group.sys_id]);
//! # Ok(()) }
//! ```

use futures_util::TryStreamExt as _;
use serde::Deserialize;

use crate::client::Client;
use crate::error::Result;
use crate::query::Query;
use crate::table::{Record, Table};
use crate::wire::{Reference, SysId, string_bool};

/// A row of `sys_user`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    /// The record id.
    pub sys_id: SysId,
    /// The login name (the natural key).
    pub user_name: String,
    /// The full name.
    #[serde(default)]
    pub name: String,
    /// The e-mail address.
    #[serde(default)]
    pub email: String,
    /// Whether the account is active.
    #[serde(with = "string_bool::option", default)]
    pub active: Option<bool>,
}

impl Record for User {
    const TABLE: &'static str = "sys_user";
}

/// A row of `sys_user_group`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Group {
    /// The record id.
    pub sys_id: SysId,
    /// The group name (the natural key).
    pub name: String,
    /// Whether the group is active.
    #[serde(with = "string_bool::option", default)]
    pub active: Option<bool>,
}

impl Record for Group {
    const TABLE: &'static str = "sys_user_group";
}

/// A row of `sys_user_grmember`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupMember {
    /// The record id.
    pub sys_id: SysId,
    /// The user.
    pub user: Reference,
    /// The group.
    pub group: Reference,
}

impl Record for GroupMember {
    const TABLE: &'static str = "sys_user_grmember";
}

/// The users of one instance.
#[derive(Debug, Clone)]
pub struct Users {
    table: Table<User>,
}

/// The groups of one instance.
#[derive(Debug, Clone)]
pub struct Groups {
    table: Table<Group>,
    members: Table<GroupMember>,
}

impl Client {
    /// The users of this instance.
    pub fn users(&self) -> Users {
        Users {
            table: self.table(),
        }
    }

    /// The groups of this instance.
    pub fn groups(&self) -> Groups {
        Groups {
            table: self.table(),
            members: self.table(),
        }
    }
}

impl Users {
    /// The user with this login name, or `None`.
    pub async fn get_by_user_name(&self, user_name: &str) -> Result<Option<User>> {
        self.table
            .one(Query::new().eq("user_name", user_name))
            .await
    }

    /// The users with these login names (in any order; unknown names are left
    /// out), looked up in one Batch API round trip where possible.
    pub async fn get_many(&self, user_names: &[String]) -> Result<Vec<User>> {
        if user_names.is_empty() {
            return Ok(Vec::new());
        }
        self.table
            .list_batched(crate::query::lookups("user_name", user_names, Query::new))
            .await
    }
}

impl Groups {
    /// The group with this name, or `None`.
    pub async fn get_by_name(&self, name: &str) -> Result<Option<Group>> {
        self.table.one(Query::new().eq("name", name)).await
    }

    /// The groups a user is a member of.
    pub async fn groups_of(&self, user: &SysId) -> Result<Vec<SysId>> {
        let rows: Vec<GroupMember> = self
            .members
            .list(Query::new().eq("user", user.as_str()))
            .try_collect()
            .await?;
        Ok(rows
            .iter()
            .filter_map(|m| m.group.sys_id().and_then(|id| SysId::parse(id).ok()))
            .collect())
    }

    /// The members of a group.
    pub async fn members_of(&self, group: &SysId) -> Result<Vec<SysId>> {
        let rows: Vec<GroupMember> = self
            .members
            .list(Query::new().eq("group", group.as_str()))
            .try_collect()
            .await?;
        Ok(rows
            .iter()
            .filter_map(|m| m.user.sys_id().and_then(|id| SysId::parse(id).ok()))
            .collect())
    }
}
