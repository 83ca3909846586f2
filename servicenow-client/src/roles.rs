//! Roles (`sys_user_role`) and their grants to users (`sys_user_has_role`) and
//! groups (`sys_group_has_role`), idempotently.
//!
//! A direct grant is a `sys_user_has_role` row with `inherited=false`. A role a
//! user holds through a group is reported as such and never "revoked" from the
//! user: remove the group's grant instead. A new role takes effect in the user's
//! next session.
//!
//! Granting to many users ([`Roles::grant_to_users`]) resolves users and existing
//! grants and creates the missing grants through the Batch API, a hundred calls a
//! round trip, so a thousand users cost tens of round trips, not thousands.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> servicenow_client::Result<()> {
//! use servicenow_fake::FakeInstance;
//! use servicenow_client::roles::{GrantOutcome, RevokeOutcome};
//!
//! let sn = FakeInstance::start().await;
//! sn.add_group("Agents");
//! let roles = sn.client_as_admin().roles();
//! assert!(matches!(roles.grant_to_group("Agents", "sn_openframe_user").await?, GrantOutcome::Created(_)));
//! assert!(matches!(roles.grant_to_group("Agents", "sn_openframe_user").await?, GrantOutcome::AlreadyGranted(_)));
//! assert!(matches!(roles.revoke_from_group("Agents", "sn_openframe_user").await?, RevokeOutcome::Revoked(_)));
//! # Ok(()) }
//! ```

use std::collections::{HashMap, HashSet};

use futures_util::TryStreamExt as _;
use serde::Deserialize;

use crate::batch::BatchItem;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::query::{Query, lookups};
use crate::table::{ListOptions, Record, Table};
use crate::users::{Group, User};
use crate::wire::{Reference, SysId, string_bool};

/// A row of `sys_user_role`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Role {
    /// The record id.
    pub sys_id: SysId,
    /// The role name (the natural key).
    pub name: String,
}

impl Record for Role {
    const TABLE: &'static str = "sys_user_role";
}

/// A row of `sys_user_has_role`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserRoleGrant {
    /// The record id.
    pub sys_id: SysId,
    /// The user.
    pub user: Reference,
    /// The role.
    pub role: Reference,
    /// Whether the row comes from a group (maintained by the platform).
    #[serde(with = "string_bool::option", default)]
    pub inherited: Option<bool>,
    /// The grant's state (`active`, ...).
    #[serde(default)]
    pub state: String,
}

impl Record for UserRoleGrant {
    const TABLE: &'static str = "sys_user_has_role";
}

/// A row of `sys_group_has_role`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupRoleGrant {
    /// The record id.
    pub sys_id: SysId,
    /// The group.
    pub group: Reference,
    /// The role.
    pub role: Reference,
}

impl Record for GroupRoleGrant {
    const TABLE: &'static str = "sys_group_has_role";
}

/// What a grant did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrantOutcome {
    /// A grant was created.
    Created(SysId),
    /// A direct grant existed already; nothing was written.
    AlreadyGranted(SysId),
}

impl GrantOutcome {
    /// The grant's record id.
    pub fn sys_id(&self) -> &SysId {
        match self {
            GrantOutcome::Created(id) | GrantOutcome::AlreadyGranted(id) => id,
        }
    }
}

/// What a revocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokeOutcome {
    /// The direct grant was deleted.
    Revoked(SysId),
    /// There was no grant; nothing was written.
    NotGranted,
    /// The user holds the role only through groups: nothing was revoked (revoke it
    /// from the groups instead).
    InheritedOnly {
        /// The groups that grant the role.
        via_groups: Vec<SysId>,
    },
}

/// How a user holds a role.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserRoleStatus {
    /// The direct grant, when there is one.
    pub direct: Option<SysId>,
    /// The user's groups that hold the role.
    pub via_groups: Vec<SysId>,
    /// Whether the platform lists an inherited grant row for the user.
    pub inherited_row: bool,
}

impl UserRoleStatus {
    /// Whether the user holds the role at all.
    pub fn has_role(&self) -> bool {
        self.direct.is_some() || !self.via_groups.is_empty() || self.inherited_row
    }

    /// Whether the user holds the role only through groups.
    pub fn inherited_only(&self) -> bool {
        self.direct.is_none() && self.has_role()
    }
}

/// What a bulk grant did, user by user.
#[derive(Debug, Default)]
pub struct BulkGrantReport {
    /// Grants created: user name and grant id.
    pub created: Vec<(String, SysId)>,
    /// Users who had a direct grant already.
    pub already_granted: Vec<(String, SysId)>,
    /// User names with no `sys_user` record: nothing was done for them.
    pub unknown_users: Vec<String>,
    /// Users whose grant failed, with why. A [`Error::BatchFailed`] means the grant
    /// may or may not exist: run the grant again to find out.
    pub failed: Vec<(String, Error)>,
}

impl BulkGrantReport {
    /// Whether every known user now has a direct grant.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Roles of one instance.
#[derive(Debug, Clone)]
pub struct Roles {
    client: Client,
    roles: Table<Role>,
    user_grants: Table<UserRoleGrant>,
    group_grants: Table<GroupRoleGrant>,
}

impl Client {
    /// The roles of this instance and their grants.
    pub fn roles(&self) -> Roles {
        Roles {
            client: self.clone(),
            roles: self.table(),
            user_grants: self.table(),
            group_grants: self.table(),
        }
    }
}

use crate::batch::BATCH_ROUNDS;

impl Roles {
    /// The role with this name, or `None`.
    pub async fn get_by_name(&self, name: &str) -> Result<Option<Role>> {
        self.roles.one(Query::new().eq("name", name)).await
    }

    /// The role with this name; [`Error::MissingRecord`] when there is none.
    pub async fn require(&self, name: &str) -> Result<Role> {
        self.get_by_name(name)
            .await?
            .ok_or_else(|| missing("sys_user_role", "name", name))
    }

    async fn require_user(&self, user_name: &str) -> Result<User> {
        self.client
            .users()
            .get_by_user_name(user_name)
            .await?
            .ok_or_else(|| missing("sys_user", "user_name", user_name))
    }

    async fn require_group(&self, name: &str) -> Result<Group> {
        self.client
            .groups()
            .get_by_name(name)
            .await?
            .ok_or_else(|| missing("sys_user_group", "name", name))
    }

    fn direct_grant_query(user: &SysId, role: &SysId) -> Query {
        Query::new()
            .eq("user", user.as_str())
            .eq("role", role.as_str())
            .eq("inherited", "false")
    }

    /// Which of `roles` the user holds, directly or through a group (the
    /// platform lists both in `sys_user_has_role`; grants in a state other than
    /// `active` do not count), in the order asked. Roles the instance does not
    /// have are not held; an unknown user is [`Error::MissingRecord`]. One round
    /// trip: the user and their grants (walking `user.user_name` and `role.name`)
    /// are read at once, and each grant's user is checked again on this side, so
    /// an instance that ignored the walked term could not make a role look held.
    pub async fn held_by(&self, user_name: &str, roles: &[&str]) -> Result<Vec<String>> {
        let grants = async {
            if roles.is_empty() {
                return Ok(Vec::new());
            }
            self.client
                .table_json(UserRoleGrant::TABLE)?
                .list(
                    ListOptions::new(
                        Query::new()
                            .eq("user.user_name", user_name)
                            .is_in("role.name", roles.iter().copied()),
                    )
                    .fields(["user.user_name", "role.name", "state"]),
                )
                .try_collect::<Vec<_>>()
                .await
        };
        let (_, grants) = futures_util::try_join!(self.require_user(user_name), grants)?;
        let text = |row: &crate::JsonRecord, field: &str| {
            row.get(field)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(roles
            .iter()
            .filter(|name| {
                grants.iter().any(|g| {
                    text(g, "user.user_name").eq_ignore_ascii_case(user_name)
                        && text(g, "role.name") == **name
                        && matches!(text(g, "state").as_str(), "" | "active")
                })
            })
            .map(|name| (*name).to_owned())
            .collect())
    }

    /// How a user holds a role: directly, through groups, or not at all.
    pub async fn user_status(&self, user_name: &str, role: &str) -> Result<UserRoleStatus> {
        let (user, role) =
            futures_util::try_join!(self.require_user(user_name), self.require(role))?;
        self.status_of(&user.sys_id, &role.sys_id).await
    }

    async fn status_of(&self, user: &SysId, role: &SysId) -> Result<UserRoleStatus> {
        let direct = self.user_grants.first(Self::direct_grant_query(user, role));
        let inherited = self.user_grants.first(
            Query::new()
                .eq("user", user.as_str())
                .eq("role", role.as_str())
                .eq("inherited", "true"),
        );
        let group_handle = self.client.groups();
        let groups = group_handle.groups_of(user);
        let (direct, inherited, groups) = futures_util::try_join!(direct, inherited, groups)?;
        let via_groups = if groups.is_empty() {
            Vec::new()
        } else {
            let holding: Vec<GroupRoleGrant> = self
                .group_grants
                .list(
                    Query::new()
                        .eq("role", role.as_str())
                        .is_in("group", groups.iter().map(SysId::as_str)),
                )
                .try_collect()
                .await?;
            holding
                .iter()
                .filter_map(|g| g.group.sys_id().and_then(|id| SysId::parse(id).ok()))
                .collect()
        };
        Ok(UserRoleStatus {
            direct: direct.map(|g| g.sys_id),
            via_groups,
            inherited_row: inherited.is_some(),
        })
    }

    /// Grants a role to a user directly, unless a direct grant exists.
    pub async fn grant_to_user(&self, user_name: &str, role: &str) -> Result<GrantOutcome> {
        let (user, role) =
            futures_util::try_join!(self.require_user(user_name), self.require(role))?;
        if let Some(existing) = self
            .user_grants
            .first(Self::direct_grant_query(&user.sys_id, &role.sys_id))
            .await?
        {
            return Ok(GrantOutcome::AlreadyGranted(existing.sys_id));
        }
        let created = self
            .user_grants
            .create(&serde_json::json!({"user": user.sys_id, "role": role.sys_id}))
            .await?;
        Ok(GrantOutcome::Created(created.sys_id))
    }

    /// Removes a user's direct grant. A role held only through groups is left
    /// alone and reported as [`RevokeOutcome::InheritedOnly`].
    pub async fn revoke_from_user(&self, user_name: &str, role: &str) -> Result<RevokeOutcome> {
        let (user, role) =
            futures_util::try_join!(self.require_user(user_name), self.require(role))?;
        let status = self.status_of(&user.sys_id, &role.sys_id).await?;
        match status.direct {
            Some(id) => {
                self.user_grants.delete(&id).await?;
                Ok(RevokeOutcome::Revoked(id))
            }
            None if status.has_role() => Ok(RevokeOutcome::InheritedOnly {
                via_groups: status.via_groups,
            }),
            None => Ok(RevokeOutcome::NotGranted),
        }
    }

    /// The group's grant of a role, when there is one.
    pub async fn group_grant(&self, group: &str, role: &str) -> Result<Option<GroupRoleGrant>> {
        let (group, role) = futures_util::try_join!(self.require_group(group), self.require(role))?;
        self.group_grants
            .first(
                Query::new()
                    .eq("group", group.sys_id.as_str())
                    .eq("role", role.sys_id.as_str()),
            )
            .await
    }

    /// Grants a role to a group, unless it has it.
    pub async fn grant_to_group(&self, group: &str, role: &str) -> Result<GrantOutcome> {
        let (group, role) = futures_util::try_join!(self.require_group(group), self.require(role))?;
        let query = Query::new()
            .eq("group", group.sys_id.as_str())
            .eq("role", role.sys_id.as_str());
        if let Some(existing) = self.group_grants.first(query).await? {
            return Ok(GrantOutcome::AlreadyGranted(existing.sys_id));
        }
        let created = self
            .group_grants
            .create(&serde_json::json!({"group": group.sys_id, "role": role.sys_id}))
            .await?;
        Ok(GrantOutcome::Created(created.sys_id))
    }

    /// Removes a group's grant of a role.
    pub async fn revoke_from_group(&self, group: &str, role: &str) -> Result<RevokeOutcome> {
        match self.group_grant(group, role).await? {
            Some(grant) => {
                self.group_grants.delete(&grant.sys_id).await?;
                Ok(RevokeOutcome::Revoked(grant.sys_id))
            }
            None => Ok(RevokeOutcome::NotGranted),
        }
    }

    /// Grants a role directly to many users through the Batch API: users and
    /// existing grants are read in batches of `IN` queries, missing grants created
    /// in batches of [`BatchOptions::items_per_batch`](crate::batch::BatchOptions::items_per_batch),
    /// several in flight. Unserviced items are sent again (they were not applied).
    pub async fn grant_to_users(
        &self,
        user_names: &[String],
        role: &str,
    ) -> Result<BulkGrantReport> {
        let mut report = BulkGrantReport::default();
        let role = self.require(role).await?;

        // 1. Resolve the users.
        let unique: Vec<&String> = {
            let mut seen = HashSet::new();
            user_names
                .iter()
                .filter(|n| seen.insert(n.as_str()))
                .collect()
        };
        let user_queries = lookups("user_name", &unique, Query::new);
        let users: Vec<User> = self.client.users_table().list_batched(user_queries).await?;
        let by_name: HashMap<&str, &User> =
            users.iter().map(|u| (u.user_name.as_str(), u)).collect();
        for name in &unique {
            if !by_name.contains_key(name.as_str()) {
                report.unknown_users.push((*name).clone());
            }
        }

        // 2. Existing direct grants.
        let ids: Vec<&str> = users.iter().map(|u| u.sys_id.as_str()).collect();
        let grant_queries = lookups("user", &ids, || {
            Query::new()
                .eq("role", role.sys_id.as_str())
                .eq("inherited", "false")
        });
        let existing: Vec<UserRoleGrant> = self.user_grants.list_batched(grant_queries).await?;
        let granted: HashMap<&str, &SysId> = existing
            .iter()
            .filter_map(|g| Some((g.user.sys_id()?, &g.sys_id)))
            .collect();

        // 3. Create what is missing.
        let mut planned = Vec::new();
        for user in &users {
            match granted.get(user.sys_id.as_str()) {
                Some(id) => report
                    .already_granted
                    .push((user.user_name.clone(), (*id).clone())),
                None => planned.push(PlannedGrant {
                    user_name: user.user_name.clone(),
                    user: user.sys_id.clone(),
                    grant: SysId::generate(),
                }),
            }
        }
        let created = self.create_user_grants(&role.sys_id, &planned).await?;
        report.created = created.created;
        report.failed = created.failed;
        Ok(report)
    }
}

/// A direct grant to create with a sys_id the caller chose (and recorded
/// beforehand, so that a grant whose answer is lost is still known to be its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedGrant {
    /// The user's name (for the report).
    pub user_name: String,
    /// The user's sys_id.
    pub user: SysId,
    /// The sys_id the grant is created with.
    pub grant: SysId,
}

impl Roles {
    /// Creates direct grants of the role `role` (its sys_id) with the sys_ids the
    /// caller chose, through the Batch API (unserviced items are sent again). The
    /// report's `created` holds the sys_id each grant got: when an instance
    /// ignored the chosen one, the real one.
    pub async fn create_user_grants(
        &self,
        role: &SysId,
        grants: &[PlannedGrant],
    ) -> Result<BulkGrantReport> {
        let mut report = BulkGrantReport::default();
        let mut pending: Vec<(String, BatchItem)> = Vec::new();
        for g in grants {
            pending.push((
                g.user_name.clone(),
                self.user_grants.create_item(
                    g.grant.as_str(),
                    &serde_json::json!({"sys_id": g.grant, "user": g.user, "role": role}),
                )?,
            ));
        }
        for round in 0..BATCH_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let (names, items): (Vec<String>, Vec<BatchItem>) = pending.drain(..).unzip();
            let results = self.client.batch(items.clone()).await?;
            for ((name, item), result) in names.into_iter().zip(items).zip(results) {
                match result {
                    Ok(response) => match response.record::<UserRoleGrant>() {
                        Ok(grant) => report.created.push((name, grant.sys_id)),
                        Err(e) => report.failed.push((name, e)),
                    },
                    Err(Error::BatchItemUnserviced { .. }) if round + 1 < BATCH_ROUNDS => {
                        pending.push((name, item))
                    }
                    Err(e) => report.failed.push((name, e)),
                }
            }
        }
        Ok(report)
    }

    /// Grants the role `role` to the group `group` (both sys_ids) with the grant's
    /// sys_id chosen by the caller; returns the sys_id the grant got.
    pub async fn create_group_grant(
        &self,
        group: &SysId,
        role: &SysId,
        grant: &SysId,
    ) -> Result<SysId> {
        let created = self
            .group_grants
            .create_with_id(grant, &serde_json::json!({"group": group, "role": role}))
            .await?;
        Ok(created.sys_id)
    }
}

impl Client {
    fn users_table(&self) -> Table<User> {
        self.table()
    }
}

fn missing(table: &str, column: &str, value: &str) -> Error {
    Error::MissingRecord {
        table: table.to_owned(),
        key: format!("{column}={value}"),
    }
}
