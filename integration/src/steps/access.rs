//! Step 3: `sn_openframe_user` granted directly to the listed users and to the
//! listed groups. Grants to many users go through the Batch API. Teardown
//! removes only the grants this workflow made; grants that existed before stay.

use async_trait::async_trait;
use servicenow_client::batch::{BatchItem, lookup_rows};
use servicenow_client::query::{Query, lookups};
use servicenow_client::roles::{GroupRoleGrant, PlannedGrant, Role, UserRoleGrant};
use servicenow_client::users::{Group, User};
use servicenow_client::wire::SysId;

use crate::report::{Check, Removal, RemovalOutcome};
use crate::spec::OPENFRAME_ROLE;
use crate::step::{
    Action, Applied, Change, Context, FieldChange, RoleNeed, Step, StepError, StepId, StepResult,
    Upstream,
};

/// Step 3.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessStep;

/// The role, and each listed user and group with its direct grant.
#[derive(Debug, Clone)]
pub struct AccessState {
    role: Option<Role>,
    users: Vec<(String, Option<User>, Option<SysId>)>,
    groups: Vec<(String, Option<Group>, Option<SysId>)>,
    /// Grants another integration of this tenant made that this one uses too.
    shared: Vec<(String, SysId)>,
}

impl AccessState {
    fn missing_users(&self) -> Vec<String> {
        self.users
            .iter()
            .filter(|(_, user, grant)| user.is_some() && grant.is_none())
            .map(|(name, _, _)| name.clone())
            .collect()
    }

    fn missing_groups(&self) -> Vec<String> {
        self.groups
            .iter()
            .filter(|(_, group, grant)| group.is_some() && grant.is_none())
            .map(|(name, _, _)| name.clone())
            .collect()
    }
}

/// Existing grants to the listed users and groups that another integration of
/// this tenant made and this one does not record yet: ("user x" / "group y", id).
fn shared_grants(ctx: &Context, state: &AccessState, own: &[SysId]) -> Vec<(String, SysId)> {
    let users = state
        .users
        .iter()
        .filter_map(|(n, _, g)| Some((format!("user {n}"), g.clone()?)));
    let groups = state
        .groups
        .iter()
        .filter_map(|(n, _, g)| Some((format!("group {n}"), g.clone()?)));
    users
        .chain(groups)
        .filter(|(_, id)| !own.contains(id))
        .filter(|(_, id)| {
            ctx.used_by_another_integration(|l| {
                l.user_grants.values().any(|g| g == id) || l.group_grants.values().any(|g| g == id)
            })
        })
        .collect()
}

/// `1 user`, `3 users`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[async_trait]
impl Step for AccessStep {
    type State = AccessState;

    fn id(&self) -> StepId {
        StepId::ACCESS
    }

    fn depends_on(&self) -> Vec<StepId> {
        vec![StepId::PLUGINS]
    }

    fn required_roles(&self, _ctx: &Context) -> Vec<RoleNeed> {
        vec![RoleNeed::admin(
            "granting sn_openframe_user (sys_user_has_role, sys_group_has_role)",
        )]
    }

    fn resource(&self, ctx: &Context) -> String {
        format!(
            "role {OPENFRAME_ROLE} for {} and {}",
            counted(ctx.spec.access.users.len(), "user"),
            counted(ctx.spec.access.groups.len(), "group")
        )
    }

    async fn observe(&self, ctx: &Context) -> StepResult<AccessState> {
        let access = &ctx.spec.access;
        let sn = &ctx.servicenow;
        // One round trip: the role, the users, the groups, and their grants found
        // by dot-walking to the names, all as items of one batch.
        let mut items = vec![
            sn.table::<Role>()
                .lookup_item("role", Query::new().eq("name", OPENFRAME_ROLE))?,
        ];
        let grants = || Query::new().eq("role.name", OPENFRAME_ROLE);
        for (i, q) in lookups("user_name", &access.users, Query::new)
            .into_iter()
            .enumerate()
        {
            items.push(sn.table::<User>().lookup_item(format!("user{i}"), q)?);
        }
        for (i, q) in lookups("user.user_name", &access.users, || {
            grants().eq("inherited", "false")
        })
        .into_iter()
        .enumerate()
        {
            items.push(
                sn.table::<UserRoleGrant>()
                    .lookup_item(format!("user_grant{i}"), q)?,
            );
        }
        for (i, q) in lookups("name", &access.groups, Query::new)
            .into_iter()
            .enumerate()
        {
            items.push(sn.table::<Group>().lookup_item(format!("group{i}"), q)?);
        }
        for (i, q) in lookups("group.name", &access.groups, grants)
            .into_iter()
            .enumerate()
        {
            items.push(
                sn.table::<GroupRoleGrant>()
                    .lookup_item(format!("group_grant{i}"), q)?,
            );
        }
        let mut role = None;
        let (mut users, mut user_grants, mut groups, mut group_grants) = (
            Vec::<User>::new(),
            Vec::<UserRoleGrant>::new(),
            Vec::<Group>::new(),
            Vec::<GroupRoleGrant>::new(),
        );
        for response in sn.batch_reads(items).await? {
            let id = response.id();
            if id == "role" {
                role = lookup_rows::<Role>(&response)?.into_iter().next();
            } else if id.starts_with("user_grant") {
                user_grants.extend(lookup_rows(&response)?);
            } else if id.starts_with("user") {
                users.extend(lookup_rows(&response)?);
            } else if id.starts_with("group_grant") {
                group_grants.extend(lookup_rows(&response)?);
            } else {
                groups.extend(lookup_rows(&response)?);
            }
        }
        // Grants of another role cannot match: the queries name the role.
        let mut state = AccessState {
            shared: Vec::new(),
            role,
            users: access
                .users
                .iter()
                .map(|name| {
                    let user = users.iter().find(|u| &u.user_name == name).cloned();
                    let grant = user.as_ref().and_then(|u| {
                        user_grants
                            .iter()
                            .find(|g| g.user.sys_id() == Some(u.sys_id.as_str()))
                            .map(|g| g.sys_id.clone())
                    });
                    (name.clone(), user, grant)
                })
                .collect(),
            groups: access
                .groups
                .iter()
                .map(|name| {
                    let group = groups.iter().find(|g| &g.name == name).cloned();
                    let grant = group.as_ref().and_then(|g| {
                        group_grants
                            .iter()
                            .find(|gr| gr.group.sys_id() == Some(g.sys_id.as_str()))
                            .map(|gr| gr.sys_id.clone())
                    });
                    (name.clone(), group, grant)
                })
                .collect(),
        };
        let ledger = ctx.ledger().await;
        let own: Vec<SysId> = ledger
            .user_grants
            .values()
            .chain(ledger.group_grants.values())
            .cloned()
            .collect();
        state.shared = shared_grants(ctx, &state, &own);
        Ok(state)
    }

    fn change(&self, _ctx: &Context, state: &AccessState, upstream: &Upstream) -> Change {
        let mut changes = Vec::new();
        for (name, _) in &state.shared {
            changes.push(FieldChange::new(
                format!("ledger: shared grant to {name}"),
                None,
                "used by this integration too",
            ));
        }
        for name in state.missing_users() {
            changes.push(FieldChange::new(
                format!("user {name}"),
                Some("not granted".into()),
                "granted",
            ));
        }
        for name in state.missing_groups() {
            changes.push(FieldChange::new(
                format!("group {name}"),
                Some("not granted".into()),
                "granted",
            ));
        }
        let existing = state.users.iter().filter(|(_, _, g)| g.is_some()).count()
            + state.groups.iter().filter(|(_, _, g)| g.is_some()).count();
        let mut change = match (changes.is_empty(), existing) {
            (true, _) => Change::unchanged(),
            (false, 0) => Change::of(Action::Create, changes),
            (false, _) => Change::of(Action::Update, changes),
        };
        if state.role.is_none() {
            change.warnings.push(if upstream.changes(&StepId::PLUGINS) {
                format!("role {OPENFRAME_ROLE} appears when OpenFrame is activated")
            } else {
                format!("role {OPENFRAME_ROLE} does not exist: is the OpenFrame plugin active?")
            });
        }
        for (name, user, _) in &state.users {
            if user.is_none() {
                change
                    .warnings
                    .push(format!("user {name:?} does not exist; it is skipped"));
            }
        }
        for (name, group, _) in &state.groups {
            if group.is_none() {
                change
                    .warnings
                    .push(format!("group {name:?} does not exist; it is skipped"));
            }
        }
        change
    }

    /// Every grant is recorded in the ledger, with the sys_id it will get,
    /// before it is sent: a grant whose answer is lost is still known as ours.
    async fn apply(
        &self,
        ctx: &Context,
        state: AccessState,
        _change: &Change,
        _upstream: &Upstream,
    ) -> StepResult<Applied> {
        let roles = ctx.servicenow.roles();
        let shared = state.shared.clone();
        if !shared.is_empty() {
            ctx.record(|l| {
                for (name, id) in &shared {
                    match name.strip_prefix("group ") {
                        Some(group) => l.group_grants.insert(group.to_owned(), id.clone()),
                        None => l
                            .user_grants
                            .insert(name.trim_start_matches("user ").to_owned(), id.clone()),
                    };
                }
            })
            .await;
        }
        let Some(role) = &state.role else {
            return Err(StepError::Missing {
                record: format!("role {OPENFRAME_ROLE} (sys_user_role)"),
                hint: "it comes with the OpenFrame plugin: activate it (the plugins step), then apply again".into(),
            });
        };
        let mut done = Vec::new();
        let planned: Vec<PlannedGrant> = state
            .users
            .iter()
            .filter(|(_, user, grant)| user.is_some() && grant.is_none())
            .filter_map(|(name, user, _)| {
                Some(PlannedGrant {
                    user_name: name.clone(),
                    user: user.as_ref()?.sys_id.clone(),
                    grant: SysId::generate(),
                })
            })
            .collect();
        if !planned.is_empty() {
            ctx.reserve(|l| {
                for g in &planned {
                    l.user_grants.insert(g.user_name.clone(), g.grant.clone());
                }
            })
            .await?;
            let report = roles.create_user_grants(&role.sys_id, &planned).await?;
            let created = report.created.len();
            ctx.record(|l| {
                for (name, id) in report.created {
                    // The real id, should the instance have ignored the chosen one.
                    l.user_grants.insert(name, id);
                }
            })
            .await;
            done.push(format!("granted to {created} users"));
            if let Some((user, first)) = report.failed.into_iter().next() {
                return Err(StepError::Incomplete {
                    intended: format!("granting {OPENFRAME_ROLE} to {} users", planned.len()),
                    done: format!("{created} granted (recorded in the ledger)"),
                    failed: format!("the grant to {user} failed: {first}"),
                });
            }
        }
        for (name, group, grant) in &state.groups {
            let (Some(group), None) = (group, grant) else {
                continue;
            };
            let id = SysId::generate();
            ctx.reserve(|l| {
                l.group_grants.insert(name.clone(), id.clone());
            })
            .await?;
            let got = roles
                .create_group_grant(&group.sys_id, &role.sys_id, &id)
                .await?;
            ctx.record(|l| {
                l.group_grants.insert(name.clone(), got);
            })
            .await;
            done.push(format!("granted to group {name}"));
        }
        Ok(done.join("; ").into())
    }

    /// What apply cannot fix: the role missing, listed users and groups that do
    /// not exist.
    fn findings(&self, _ctx: &Context, state: &AccessState) -> Vec<Check> {
        let mut checks = Vec::new();
        if state.role.is_none() {
            checks.push(Check::fail(
                format!("role {OPENFRAME_ROLE}"),
                "the role does not exist",
                "activate the OpenFrame plugin (apply)",
            ));
        }
        let unknown: Vec<&str> = state
            .users
            .iter()
            .filter(|(_, u, _)| u.is_none())
            .map(|(n, _, _)| n.as_str())
            .chain(
                state
                    .groups
                    .iter()
                    .filter(|(_, g, _)| g.is_none())
                    .map(|(n, _, _)| n.as_str()),
            )
            .collect();
        if !unknown.is_empty() {
            checks.push(Check::fail(
                "listed users and groups exist",
                format!("not found: {}", unknown.join(", ")),
                "fix the names in [access], or create the users and groups",
            ));
        }
        checks
    }

    /// Deletes only the grants whose recorded sys_id still is a grant of the role
    /// to the recorded user or group (the natural key): a ledger entry pointing at
    /// anything else is reported and left alone.
    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>> {
        let ledger = ctx.ledger().await;
        let mut removals = Vec::new();
        let users = ctx.servicenow.table::<UserRoleGrant>();
        let groups = ctx.servicenow.table::<GroupRoleGrant>();
        let state = self.observe(ctx).await?;
        let role_id = state.role.as_ref().map(|r| r.sys_id.as_str().to_owned());
        // The rows the ledger names, read by sys_id.
        let user_ids: Vec<&str> = ledger.user_grants.values().map(SysId::as_str).collect();
        let group_ids: Vec<&str> = ledger.group_grants.values().map(SysId::as_str).collect();
        let user_rows: Vec<UserRoleGrant> = if user_ids.is_empty() {
            Vec::new()
        } else {
            users
                .list_batched(lookups("sys_id", &user_ids, Query::new))
                .await?
        };
        let group_rows: Vec<GroupRoleGrant> = if group_ids.is_empty() {
            Vec::new()
        } else {
            groups
                .list_batched(lookups("sys_id", &group_ids, Query::new))
                .await?
        };
        // Each recorded grant with the row at its id (role, holder) and the
        // holder's sys_id by name: users first, then groups.
        let holder_of = |name: &str, users: bool| -> Option<String> {
            if users {
                state
                    .users
                    .iter()
                    .find(|(n, _, _)| n == name)
                    .and_then(|(_, u, _)| u.as_ref())
                    .map(|u| u.sys_id.as_str().to_owned())
            } else {
                state
                    .groups
                    .iter()
                    .find(|(n, _, _)| n == name)
                    .and_then(|(_, g, _)| g.as_ref())
                    .map(|g| g.sys_id.as_str().to_owned())
            }
        };
        let recorded = ledger
            .user_grants
            .iter()
            .map(|(name, id)| {
                let row = user_rows
                    .iter()
                    .find(|r| &r.sys_id == id)
                    .map(|r| (r.role.sys_id(), r.user.sys_id()));
                ("user", name, id, row, holder_of(name, true))
            })
            .chain(ledger.group_grants.iter().map(|(name, id)| {
                let row = group_rows
                    .iter()
                    .find(|r| &r.sys_id == id)
                    .map(|r| (r.role.sys_id(), r.group.sys_id()));
                ("group", name, id, row, holder_of(name, false))
            }));
        let mut items: Vec<(String, BatchItem)> = Vec::new();
        for (kind, name, id, row, holder) in recorded {
            let label = format!("grant to {kind} {name}");
            let shared = ctx.used_by_another_integration(|l| {
                l.user_grants.values().any(|g| g == id) || l.group_grants.values().any(|g| g == id)
            });
            match row {
                _ if shared => removals.push(Removal::new(
                    label,
                    RemovalOutcome::LeftAlone,
                    "another integration with this tenant still uses it",
                )),
                None => removals.push(Removal::new(
                    label,
                    RemovalOutcome::AlreadyGone,
                    "no longer exists",
                )),
                // The natural key agrees: the role, to the recorded holder (when the
                // holder still exists to compare with).
                Some((role, row_holder))
                    if role == role_id.as_deref()
                        && (holder.is_none() || row_holder == holder.as_deref()) =>
                {
                    let item_id = format!("{}{}", &kind[..1], items.len());
                    let item = if kind == "user" {
                        users.delete_item(item_id, id)
                    } else {
                        groups.delete_item(item_id, id)
                    };
                    items.push((label, item));
                }
                Some(_) => removals.push(Removal::new(
                    label,
                    RemovalOutcome::LeftAlone,
                    format!(
                        "the ledger names {id}, which is not a grant of {OPENFRAME_ROLE} to {}",
                        if kind == "user" {
                            name.clone()
                        } else {
                            format!("group {name}")
                        }
                    ),
                )),
            }
        }
        if !items.is_empty() {
            let (labels, batch): (Vec<String>, Vec<BatchItem>) = items.into_iter().unzip();
            let results: Vec<servicenow_client::Result<()>> =
                match ctx.write(ctx.servicenow.batch(batch)).await? {
                    Some(results) => results.into_iter().map(|r| r.map(|_| ())).collect(),
                    // A preview: each grant read above as ours would be deleted.
                    None => (0..labels.len()).map(|_| Ok(())).collect(),
                };
            let mut failure = None;
            for (label, result) in labels.into_iter().zip(results) {
                match result {
                    Ok(()) => removals.push(Removal::new(
                        label,
                        RemovalOutcome::Removed,
                        "made by bp-servicenow",
                    )),
                    Err(e) if e.is_not_found() => removals.push(Removal::new(
                        label,
                        RemovalOutcome::AlreadyGone,
                        "no longer exists",
                    )),
                    Err(e) => failure = Some(e),
                }
            }
            if let Some(e) = failure {
                return Err(e.into());
            }
        }
        ctx.record(|l| {
            l.user_grants.clear();
            l.group_grants.clear();
        })
        .await;
        // Grants to the listed users and groups that bp-servicenow did not make stay.
        let ours: Vec<&SysId> = ledger
            .user_grants
            .values()
            .chain(ledger.group_grants.values())
            .collect();
        let kept = state
            .users
            .iter()
            .filter_map(|(_, _, g)| g.as_ref())
            .chain(state.groups.iter().filter_map(|(_, _, g)| g.as_ref()))
            .filter(|g| !ours.contains(g))
            .count();
        if kept > 0 {
            removals.push(Removal::new(
                format!("{kept} grants of {OPENFRAME_ROLE}"),
                RemovalOutcome::LeftAlone,
                "they existed before bp-servicenow ran",
            ));
        }
        Ok(removals)
    }
}
