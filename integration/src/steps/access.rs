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
    Action, Applied, Change, Context, Damaged, FieldChange, Repaired, RoleNeed, Step, StepError,
    StepId, StepResult, Upstream,
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
    /// Grants no ledger names seen while another run holds the instance lock:
    /// perhaps one it is making now, so they are decided under the lock.
    contended: Vec<String>,
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
    existing_grants(state)
        .filter(|(_, id)| !own.contains(id))
        .filter(|(_, id)| {
            ctx.used_by_another_integration(|l| {
                l.user_grants.values().any(|g| *g == **id)
                    || l.group_grants.values().any(|g| *g == **id)
            })
        })
        .map(|(name, id)| (name, id.clone()))
        .collect()
}

/// The existing grants to the listed holders, named `user <name>` and
/// `group <name>`.
fn existing_grants(state: &AccessState) -> impl Iterator<Item = (String, &SysId)> {
    let users = state
        .users
        .iter()
        .filter_map(|(n, _, g)| Some((format!("user {n}"), g.as_ref()?)));
    let groups = state
        .groups
        .iter()
        .filter_map(|(n, _, g)| Some((format!("group {n}"), g.as_ref()?)));
    users.chain(groups)
}

/// The existing grants to listed holders that are neither this
/// integration's nor named by another integration's ledger.
fn unrecorded(state: &AccessState, own: &[SysId]) -> Vec<String> {
    existing_grants(state)
        .filter(|(_, id)| !own.contains(id) && !state.shared.iter().any(|(_, s)| s == *id))
        .map(|(name, _)| name)
        .collect()
}

/// Grants the role to the listed users and groups that lack it, and records
/// the grants another integration made that this one uses too. Every grant is
/// recorded in the ledger, with the sys_id it will get, before it is sent: a
/// grant whose answer is lost is still known as ours. Runs under the instance
/// lock, on what was observed under it.
/// How many user grants are sent between two progress events.
const GRANTS_PER_PROGRESS: usize = 500;

async fn grant(ctx: &Context, state: AccessState) -> StepResult<Applied> {
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
        // In parts, with progress: a bulk grant to thousands of users takes a while.
        let mut created = 0;
        for (part, chunk) in planned.chunks(GRANTS_PER_PROGRESS).enumerate() {
            let report = roles.create_user_grants(&role.sys_id, chunk).await?;
            created += report.created.len();
            ctx.record(|l| {
                for (name, id) in report.created {
                    // The real id, should the instance have ignored the chosen one.
                    l.user_grants.insert(name, id);
                }
            })
            .await;
            if let Some((user, first)) = report.failed.into_iter().next() {
                return Err(StepError::Incomplete {
                    intended: format!("granting {OPENFRAME_ROLE} to {} users", planned.len()),
                    done: format!("{created} granted (recorded in the ledger)"),
                    failed: format!("the grant to {user} failed: {first}"),
                });
            }
            let sent = ((part + 1) * GRANTS_PER_PROGRESS).min(planned.len());
            ctx.emit(crate::events::Event::Progress {
                step: StepId::ACCESS,
                percent: u8::try_from(sent * 100 / planned.len()).unwrap_or(100),
                message: format!(
                    "granting {OPENFRAME_ROLE}: {sent} of {} users",
                    planned.len()
                ),
            });
        }
        done.push(format!("granted to {created} users"));
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

/// What the instance lock is taken for.
const GRANTS_PURPOSE: &str = "the grants of sn_openframe_user";

/// One grant the ledger records, and what the instance shows of it.
struct Recorded<'a> {
    kind: &'static str,
    name: &'a str,
    id: &'a SysId,
    /// The row at the recorded id: its role, its holder, whether inherited.
    row: Option<(Option<String>, Option<String>, bool)>,
    /// The sys_id of the user or group the ledger names, found by name.
    holder: Option<String>,
}

/// Deletes the recorded grants proven this integration's and needed by no
/// other integration (under the instance lock; writes through
/// [`Context::write`]), and clears them from the ledger.
async fn remove_recorded(ctx: &Context) -> StepResult<Vec<Removal>> {
    let ledger = ctx.ledger().await;
    let sn = &ctx.servicenow;
    let users = sn.table::<UserRoleGrant>();
    let groups = sn.table::<GroupRoleGrant>();
    // One round trip: the role, the rows at the recorded ids, and the holders
    // the ledger names (by name: the spec may no longer list them).
    let user_ids: Vec<&str> = ledger.user_grants.values().map(SysId::as_str).collect();
    let group_ids: Vec<&str> = ledger.group_grants.values().map(SysId::as_str).collect();
    let user_names: Vec<&str> = ledger.user_grants.keys().map(String::as_str).collect();
    let group_names: Vec<&str> = ledger.group_grants.keys().map(String::as_str).collect();
    let mut items = vec![
        sn.table::<Role>()
            .lookup_item("role", Query::new().eq("name", OPENFRAME_ROLE))?,
    ];
    let mut push = |prefix: &str, item: Vec<Query>, table: &str| -> StepResult<()> {
        for (i, q) in item.into_iter().enumerate() {
            items.push(match table {
                "ug" => users.lookup_item(format!("{prefix}{i}"), q)?,
                "gg" => groups.lookup_item(format!("{prefix}{i}"), q)?,
                "u" => sn.table::<User>().lookup_item(format!("{prefix}{i}"), q)?,
                _ => sn.table::<Group>().lookup_item(format!("{prefix}{i}"), q)?,
            });
        }
        Ok(())
    };
    push("ug", lookups("sys_id", &user_ids, Query::new), "ug")?;
    push("gg", lookups("sys_id", &group_ids, Query::new), "gg")?;
    push("u", lookups("user_name", &user_names, Query::new), "u")?;
    push("g", lookups("name", &group_names, Query::new), "g")?;
    let mut role_id = None;
    let (mut user_rows, mut group_rows, mut holders_u, mut holders_g) = (
        Vec::<UserRoleGrant>::new(),
        Vec::<GroupRoleGrant>::new(),
        Vec::<User>::new(),
        Vec::<Group>::new(),
    );
    for response in sn.batch_reads(items).await? {
        let id = response.id();
        if id == "role" {
            role_id = lookup_rows::<Role>(&response)?
                .into_iter()
                .next()
                .map(|r| r.sys_id.as_str().to_owned());
        } else if id.starts_with("ug") {
            user_rows.extend(lookup_rows(&response)?);
        } else if id.starts_with("gg") {
            group_rows.extend(lookup_rows(&response)?);
        } else if id.starts_with('u') {
            holders_u.extend(lookup_rows(&response)?);
        } else {
            holders_g.extend(lookup_rows(&response)?);
        }
    }
    let recorded: Vec<Recorded<'_>> = ledger
        .user_grants
        .iter()
        .map(|(name, id)| Recorded {
            kind: "user",
            name,
            id,
            row: user_rows.iter().find(|r| &r.sys_id == id).map(|r| {
                (
                    r.role.sys_id().map(str::to_owned),
                    r.user.sys_id().map(str::to_owned),
                    r.inherited == Some(true),
                )
            }),
            holder: holders_u
                .iter()
                .find(|u| &u.user_name == name)
                .map(|u| u.sys_id.as_str().to_owned()),
        })
        .chain(ledger.group_grants.iter().map(|(name, id)| {
            Recorded {
                kind: "group",
                name,
                id,
                row: group_rows.iter().find(|r| &r.sys_id == id).map(|r| {
                    (
                        r.role.sys_id().map(str::to_owned),
                        r.group.sys_id().map(str::to_owned),
                        false,
                    )
                }),
                holder: holders_g
                    .iter()
                    .find(|g| &g.name == name)
                    .map(|g| g.sys_id.as_str().to_owned()),
            }
        }))
        .collect();
    let mut removals = Vec::new();
    let mut deletes: Vec<(String, BatchItem)> = Vec::new();
    for r in &recorded {
        let label = format!("grant to {} {}", r.kind, r.name);
        let id = r.id;
        let shared = ctx.used_by_another_integration(|l| {
            l.user_grants.values().any(|g| g == id) || l.group_grants.values().any(|g| g == id)
        });
        match &r.row {
            _ if shared => removals.push(Removal::new(
                label,
                RemovalOutcome::LeftAlone,
                "another integration on this instance still uses it; the last one's teardown removes it",
            )),
            None => removals.push(Removal::new(
                label,
                RemovalOutcome::AlreadyGone,
                "no longer exists",
            )),
            // The natural key agrees: a direct grant of the role to the holder
            // the ledger names.
            Some((role, holder, inherited))
                if role.is_some()
                    && *role == role_id
                    && holder.is_some()
                    && *holder == r.holder
                    && !inherited =>
            {
                let item_id = format!("{}{}", &r.kind[..1], deletes.len());
                let item = if r.kind == "user" {
                    users.delete_item(item_id, id)
                } else {
                    groups.delete_item(item_id, id)
                };
                deletes.push((label, item));
            }
            Some(_) => removals.push(Removal::new(
                label,
                RemovalOutcome::LeftAlone,
                format!(
                    "the ledger names {id}, which is not a direct grant of {OPENFRAME_ROLE} to the {} {}",
                    r.kind, r.name
                ),
            )),
        }
    }
    if !deletes.is_empty() {
        let (labels, batch): (Vec<String>, Vec<BatchItem>) = deletes.into_iter().unzip();
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
    Ok(removals)
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
            contended: Vec::new(),
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
        if !ctx.is_preview() {
            // Before writing: a grant no ledger we read names may be one
            // another integration has just made (its ledger read before it
            // was saved). Read the ledgers again; one still unnamed while
            // another run holds the instance lock is decided under it.
            let mut unnamed = unrecorded(&state, &own);
            if !unnamed.is_empty() {
                ctx.refresh_shared().await?;
                state.shared = shared_grants(ctx, &state, &own);
                unnamed = unrecorded(&state, &own);
            }
            if !unnamed.is_empty() && crate::shared::instance_lock_held(ctx).await? {
                state.contended = unnamed;
            }
        }
        Ok(state)
    }

    fn change(&self, _ctx: &Context, state: &AccessState, upstream: &Upstream) -> Change {
        let mut changes = Vec::new();
        for name in &state.contended {
            changes.push(FieldChange::new(
                format!("ledger: grant to {name}"),
                None,
                "decided under the instance lock (another run is changing grants)",
            ));
        }
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
        _state: AccessState,
        _change: &Change,
        _upstream: &Upstream,
    ) -> StepResult<Applied> {
        crate::shared::under_instance_lock(ctx, GRANTS_PURPOSE, || async {
            // Observed again under the lock: another integration on the
            // instance may have granted (and recorded it) since the plan.
            let state = self.observe(ctx).await?;
            grant(ctx, state).await
        })
        .await
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

    /// Deletes only the grants whose recorded sys_id still is a direct grant
    /// of the role to the recorded user or group (the natural key, read from
    /// the row and the holder it names, whether or not the spec still lists
    /// it), and that no other integration on the instance still records: a
    /// ledger entry pointing at anything else is reported and left alone.
    /// Decided and done under the instance lock.
    /// Claims a direct grant of the role to a listed user or group when the
    /// damaged ledger still names its sys_id.
    async fn repair(&self, ctx: &Context, damaged: &Damaged) -> StepResult<Repaired> {
        let mut out = Repaired::default();
        let roles = ctx.servicenow.roles();
        for user in &ctx.spec.access.users {
            if let Ok(status) = roles.user_status(user, OPENFRAME_ROLE).await
                && let Some(id) = status.direct
            {
                let what = format!("grant of {OPENFRAME_ROLE} to user {user} ({id})");
                if damaged.raw.contains(id.as_str()) {
                    ctx.record(|l| {
                        l.user_grants.insert(user.clone(), id);
                    })
                    .await;
                    out.claimed.push(what);
                } else {
                    out.unproven.push(what);
                }
            }
        }
        for group in &ctx.spec.access.groups {
            if let Ok(Some(grant)) = roles.group_grant(group, OPENFRAME_ROLE).await {
                let what = format!(
                    "grant of {OPENFRAME_ROLE} to group {group} ({})",
                    grant.sys_id
                );
                if damaged.raw.contains(grant.sys_id.as_str()) {
                    ctx.record(|l| {
                        l.group_grants.insert(group.clone(), grant.sys_id);
                    })
                    .await;
                    out.claimed.push(what);
                } else {
                    out.unproven.push(what);
                }
            }
        }
        Ok(out)
    }

    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>> {
        let ledger = ctx.ledger().await;
        let mut removals = if ledger.user_grants.is_empty() && ledger.group_grants.is_empty() {
            Vec::new()
        } else {
            crate::shared::under_instance_lock(ctx, GRANTS_PURPOSE, || remove_recorded(ctx)).await?
        };
        // Grants to the listed users and groups that bp-servicenow did not make stay.
        let state = self.observe(ctx).await?;
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
