//! Steps 2 and 7: the OpenFrame configuration (Agent Desktop URL with `topDomain`,
//! title, size, order, active) and the tenant origin in the postMessage
//! allow-list property.
//!
//! Users see only the active configuration with the lowest `order` (among those
//! not scoped to a user group they are not in), so a configuration another one
//! shadows is as good as missing: plan warns, and verify proves for every listed
//! user (and one member of each listed group) which configuration that user gets,
//! failing when it is not ours. `order = "first"` places ours ahead of every other
//! active configuration. Verify also GETs the Agent Desktop URL it wrote.

use async_trait::async_trait;
use futures_util::TryStreamExt as _;
use servicenow_client::Result;
use servicenow_client::openframe::{OpenFrameConfiguration, OpenFrameFields};
use servicenow_client::properties::{
    Change as PropertyChange, POST_MESSAGE_ALLOW_LIST, list_entries, list_with,
};
use servicenow_client::query::{Query, lookups};
use servicenow_client::wire::SysId;
use servicenow_openframe::{AgentDesktopUrl, UrlProblem};
use std::collections::{BTreeMap, HashSet};

use brightpattern_client::agent_desktop::PageVerdict;
use servicenow_client::JsonRecord;

use crate::ledger::Adopted;
use crate::ownership::{self, Found, RecordKind, Recorded};
use crate::report::{Check, Removal, RemovalOutcome};
use crate::spec::OrderSetting;
use crate::step::{
    Action, Applied, RoleNeed, StepResult, Upstream, duplicates_check, duplicates_text,
};
use crate::step::{Change, Context, Damaged, FieldChange, Repaired, Step, StepId};

/// Steps 2 and 7.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenFrameStep;

/// Our configuration (by name, or the adopted one), the active ones, and the
/// allow-list value.
#[derive(Debug, Clone)]
pub struct OpenFrameState {
    ours: Option<OpenFrameConfiguration>,
    ownership: Ownership,
    active: Vec<OpenFrameConfiguration>,
    allow_list: Option<String>,
    /// The tenant origin is listed, another integration of this tenant added it,
    /// and this one does not record it yet.
    shares_allow_list_entry: bool,
    /// Other configurations with the same name: reported, never touched.
    duplicates: Vec<SysId>,
}

pub use crate::managed::Ownership;
use crate::managed::{Picked, RecordPlan};

/// The name of the configuration this step manages: the adopted one, or the spec's.
fn managed_name(ctx: &Context) -> &str {
    ctx.spec
        .openframe_adopt
        .as_deref()
        .unwrap_or(&ctx.spec.openframe.name)
}

/// The order ours should have: the spec's number, or with `order = "first"` one
/// below every other active configuration (ours keeps its order when it already
/// comes first).
fn desired_order(ctx: &Context, state: &OpenFrameState) -> i64 {
    match ctx.spec.openframe_order {
        OrderSetting::Fixed(n) => n,
        OrderSetting::First => {
            let name = &ctx.spec.openframe.name;
            let lowest_other = state
                .active
                .iter()
                .filter(|c| &c.fields.name != name)
                .map(|c| c.fields.order)
                .min();
            let current = state.ours.as_ref().map(|c| c.fields.order);
            match (lowest_other, current) {
                (Some(other), Some(ours)) if ours < other => ours,
                (Some(other), _) => other.saturating_sub(1),
                (None, Some(ours)) => ours,
                (None, None) => ctx.spec.openframe.order,
            }
        }
    }
}

fn desired(ctx: &Context, state: &OpenFrameState) -> OpenFrameFields {
    let s = &ctx.spec.openframe;
    OpenFrameFields {
        name: managed_name(ctx).to_owned(),
        title: s.title.clone(),
        subtitle: s.subtitle.clone(),
        url: s.url.as_str().to_owned(),
        width: s.size.width(),
        height: s.size.height(),
        order: desired_order(ctx, state),
        active: s.active,
        default: s.default,
        show_presence_indicator: s.presence_indicator,
        collapsed_view_enabled: s.collapsed_view,
    }
}

/// What the step will do, decided once from what it observed: `change` renders
/// it, `apply` carries it out.
struct OpenFramePlan {
    /// The configuration (the ownership protocol's plan).
    config: RecordPlan<OpenFrameFields>,
    /// The tenant origin in the postMessage allow-list.
    allow_list: AllowListPlan,
}

/// What becomes of the tenant origin in the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowListPlan {
    /// Added: the property's value now, and with the origin.
    Add { current: String, new: String },
    /// Listed by another integration of this tenant: recorded as shared.
    Share,
    /// Listed, and nothing to record.
    Listed,
}

fn plan(ctx: &Context, state: &OpenFrameState) -> OpenFramePlan {
    let want = desired(ctx, state);
    let ours = state.ours.as_ref();
    let differing = ours
        .map(|c| field_changes(Some(&c.fields), &want))
        .unwrap_or_default();
    let refusal = |c: &OpenFrameConfiguration| {
        format!(
            "OpenFrame configuration {:?} ({}) exists and was not made by bp-servicenow: exists, not ours; set [openframe] adopt = {:?} to take it over (teardown restores it), or choose another name",
            c.fields.name, c.sys_id, c.fields.name
        )
    };
    let config = RecordPlan::decide(
        ours.map(|c| &c.sys_id),
        state.ownership,
        ctx.spec.openframe_adopt.is_some(),
        || ours.map(refusal).unwrap_or_default(),
        want,
        differing,
    );
    let origin = ctx.spec.openframe.url.tenant().as_str();
    let current = state.allow_list.clone().unwrap_or_default();
    let allow_list = match list_with(&current, origin) {
        Some(new) => AllowListPlan::Add { current, new },
        None if state.shares_allow_list_entry => AllowListPlan::Share,
        None => AllowListPlan::Listed,
    };
    OpenFramePlan { config, allow_list }
}

/// Whether the answer says the configurations' table does not exist: before
/// OpenFrame is activated, the Table API answers 400 "Invalid table" (or 404).
fn table_absent(e: &servicenow_client::Error) -> bool {
    matches!(e.status(), Some(400 | 404))
}

/// OpenFrame configurations, for the ownership protocol's undo.
struct Configurations;

#[async_trait]
impl RecordKind for Configurations {
    fn kind(&self) -> &'static str {
        "OpenFrame configuration"
    }

    async fn read(&self, ctx: &Context, id: &SysId) -> Result<Option<Found>> {
        match ctx.servicenow.openframe_configurations().get(id).await {
            Ok(found) => Ok(Some(Found {
                name: found.fields.name,
                unproven: None,
            })),
            Err(e) if e.is_not_found() || table_absent(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn find(&self, ctx: &Context, name: &str) -> Result<Option<SysId>> {
        match ctx
            .servicenow
            .openframe_configurations()
            .get_by_name(name)
            .await
        {
            Ok(found) => Ok(found.map(|c| c.sys_id)),
            Err(e) if table_absent(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, ctx: &Context, id: &SysId) -> Result<()> {
        ctx.servicenow.openframe_configurations().delete(id).await
    }

    async fn restore(
        &self,
        ctx: &Context,
        id: &SysId,
        previous: &BTreeMap<String, String>,
    ) -> Result<()> {
        let configs = ctx.servicenow.openframe_configurations();
        configs.update(id, previous).await.map(drop)
    }
}

/// The columns this step sets: the only ones teardown puts back on an adopted
/// configuration.
const MANAGED_FIELDS: [&str; 10] = [
    "url",
    "title",
    "subtitle",
    "width",
    "height",
    "order",
    "active",
    "default",
    "show_presence_indicator",
    "collapsed_view_enabled",
];

/// The columns of `want` that differ from `have` (all of them when `have` is `None`).
fn field_changes(have: Option<&OpenFrameFields>, want: &OpenFrameFields) -> Vec<FieldChange> {
    let pairs: Vec<(&str, Option<String>, String)> = vec![
        ("url", have.map(|h| h.url.clone()), want.url.clone()),
        ("title", have.map(|h| h.title.clone()), want.title.clone()),
        (
            "subtitle",
            have.map(|h| h.subtitle.clone()),
            want.subtitle.clone(),
        ),
        (
            "width",
            have.map(|h| h.width.to_string()),
            want.width.to_string(),
        ),
        (
            "height",
            have.map(|h| h.height.to_string()),
            want.height.to_string(),
        ),
        (
            "order",
            have.map(|h| h.order.to_string()),
            want.order.to_string(),
        ),
        (
            "active",
            have.map(|h| h.active.to_string()),
            want.active.to_string(),
        ),
        (
            "default",
            have.map(|h| h.default.to_string()),
            want.default.to_string(),
        ),
        (
            "show_presence_indicator",
            have.map(|h| h.show_presence_indicator.to_string()),
            want.show_presence_indicator.to_string(),
        ),
        (
            "collapsed_view_enabled",
            have.map(|h| h.collapsed_view_enabled.to_string()),
            want.collapsed_view_enabled.to_string(),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, old, new)| old.as_ref() != Some(new))
        .map(|(field, old, new)| FieldChange::new(field, old, new))
        .collect()
}

fn shadowing<'a>(
    state: &'a OpenFrameState,
    order: i64,
    name: &'a str,
) -> impl Iterator<Item = &'a OpenFrameConfiguration> {
    state
        .active
        .iter()
        .filter(move |c| c.fields.name != name && c.fields.order <= order)
}

#[async_trait]
impl Step for OpenFrameStep {
    type State = OpenFrameState;

    fn id(&self) -> StepId {
        StepId::OPENFRAME
    }

    fn identity(&self, spec: &crate::spec::ResolvedSpec) -> Vec<String> {
        vec![spec.openframe.name.clone()]
    }

    fn writes_configuration(&self) -> bool {
        true
    }

    fn finds_by_name(&self) -> bool {
        true
    }

    fn depends_on(&self) -> Vec<StepId> {
        vec![StepId::PLUGINS]
    }

    fn required_roles(&self, _ctx: &Context) -> Vec<RoleNeed> {
        vec![RoleNeed::admin(
            "the OpenFrame configuration and the postMessage allow-list",
        )]
    }

    fn resource(&self, ctx: &Context) -> String {
        format!(
            "OpenFrame configuration {:?} and postMessage allow-list",
            ctx.spec.openframe.name
        )
    }

    async fn observe(&self, ctx: &Context) -> StepResult<OpenFrameState> {
        let name = managed_name(ctx);
        // One read: ours (even when inactive) and every active configuration.
        let rows = ctx
            .servicenow
            .table::<OpenFrameConfiguration>()
            .list(
                Query::new()
                    .eq("name", name)
                    .or()
                    .eq("active", "true")
                    .order_by("order"),
            )
            .try_collect::<Vec<_>>();
        let (rows, allow_list) = futures_util::join!(rows, ctx.allow_list());
        let rows = match rows {
            Ok(rows) => rows,
            // Before OpenFrame is activated its table does not exist; the
            // plugins step says so.
            Err(e) if table_absent(&e) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let ledger = ctx.ledger().await;
        let named: Vec<OpenFrameConfiguration> = rows
            .iter()
            .filter(|c| c.fields.name == name)
            .cloned()
            .collect();
        let picked = Picked::among(
            named,
            |c| &c.sys_id,
            ledger.openframe.as_ref(),
            ledger.openframe_adopted.as_ref().map(|a| &a.sys_id),
        );
        let allow_list = allow_list?;
        let origin = ctx.spec.openframe.url.tenant().as_str().to_owned();
        let listed = allow_list
            .as_deref()
            .is_some_and(|v| list_entries(v).contains(&origin.as_str()));
        let shares_allow_list_entry = listed
            && ledger.allow_list_entry.as_deref() != Some(origin.as_str())
            && ctx.used_by_another_integration(|l| {
                l.allow_list_entry.as_deref() == Some(origin.as_str())
            });
        Ok(OpenFrameState {
            ownership: picked.ownership,
            ours: picked.record,
            active: rows.into_iter().filter(|c| c.fields.active).collect(),
            allow_list,
            shares_allow_list_entry,
            duplicates: picked.duplicates,
        })
    }

    fn change(&self, ctx: &Context, state: &OpenFrameState, _upstream: &Upstream) -> Change {
        let OpenFramePlan { config, allow_list } = plan(ctx, state);
        let want = desired(ctx, state);
        let mut change = config.change("OpenFrame configuration", &want.name, |want| {
            field_changes(None, want)
        });
        if change.action == Action::Refuse {
            return change;
        }
        let origin = ctx.spec.openframe.url.tenant().as_str();
        let entry = match allow_list {
            AllowListPlan::Add { current, new } => Some(FieldChange::new(
                POST_MESSAGE_ALLOW_LIST,
                Some(current),
                new,
            )),
            // Another integration with this tenant added it: this one uses it
            // too, so that teardown of either leaves it to the other.
            AllowListPlan::Share => Some(FieldChange::new(SHARED_ENTRY, None, origin)),
            AllowListPlan::Listed => None,
        };
        if let Some(entry) = entry {
            change.changes.push(entry);
            if change.action == Action::Unchanged {
                change.action = Action::Update;
            }
        }
        if !state.duplicates.is_empty() {
            change.warnings.insert(
                0,
                duplicates_text("OpenFrame configuration", &want.name, &state.duplicates),
            );
        }
        change.warnings.extend(shadowing(state, want.order, &want.name)
            .map(|c| {
                format!(
                    "active OpenFrame configuration {:?} (order {}) comes before ours (order {}){}: users who see both get it instead; set [openframe] order = \"first\", raise its order or deactivate it",
                    c.fields.name,
                    c.fields.order,
                    want.order,
                    if c.user_group.is_empty() { "" } else { " for the members of its user group" }
                )
            }));
        change
    }

    async fn apply(
        &self,
        ctx: &Context,
        state: OpenFrameState,
        _change: &Change,
        _upstream: &Upstream,
    ) -> StepResult<Applied> {
        let configs = ctx.servicenow.openframe_configurations();
        let mut done = Vec::new();
        let OpenFramePlan { config, allow_list } = plan(ctx, &state);
        let adopts = config.adopts();
        match config {
            RecordPlan::Refuse(_) => return Ok(Applied::new("nothing to do")),
            RecordPlan::Unchanged => {}
            RecordPlan::Create(want) => {
                let id = SysId::generate();
                ctx.reserve(|l| l.openframe = Some(id.clone())).await?;
                let created = configs.create_with_id(&id, &want).await?;
                let note = ctx
                    .created("OpenFrame configuration", &id, &created.sys_id, |l, id| {
                        l.openframe = Some(id)
                    })
                    .await;
                done.push(format!("created configuration {}", created.sys_id));
                done.extend(note);
            }
            RecordPlan::Update {
                sys_id,
                want,
                differing,
                ..
            } => {
                let want = serde_json::to_value(want).unwrap_or_default();
                let patch: serde_json::Map<String, serde_json::Value> = differing
                    .iter()
                    .filter_map(|c| want.get(&c.field).map(|v| (c.field.clone(), v.clone())))
                    .collect();
                if adopts {
                    // Adopting (or changing what was adopted): every previous value
                    // is recorded before the record is touched.
                    let adopted = Adopted::remember(
                        ctx.ledger().await.openframe_adopted.as_ref(),
                        &sys_id,
                        differing
                            .iter()
                            .map(|c| (c.field.as_str(), c.old.as_deref().unwrap_or(""))),
                    );
                    ctx.reserve(|l| l.openframe_adopted = Some(adopted)).await?;
                    done.push(format!("adopted {sys_id}"));
                }
                configs.update(&sys_id, &patch).await?;
                let fields: Vec<&str> = differing.iter().map(|c| c.field.as_str()).collect();
                done.push(format!("updated {}", fields.join(", ")));
            }
        }
        if allow_list != AllowListPlan::Listed {
            let note = crate::shared::under_instance_lock(ctx, ALLOW_LIST_PURPOSE, || {
                add_allow_list_entry(ctx)
            })
            .await?;
            done.extend(note);
        }
        Ok(done.join("; ").into())
    }

    /// Besides records sharing the name: a URL that leaves the tenant (another
    /// origin, or not https) fails on its own, whatever else the plan says —
    /// agents' browsers would load it with the instance's context.
    fn findings(&self, ctx: &Context, state: &OpenFrameState) -> Vec<Check> {
        let name = format!("OpenFrame configuration {:?}", managed_name(ctx));
        let mut checks: Vec<Check> = duplicates_check(
            &name,
            "OpenFrame configuration",
            managed_name(ctx),
            &state.duplicates,
        )
        .into_iter()
        .collect();
        if let Some(ours) = &state.ours {
            let leaves: Vec<String> = AgentDesktopUrl::check(
                &ours.fields.url,
                ctx.spec.tenant.origin(),
                ctx.spec.instance.origin(),
            )
            .into_iter()
            .filter(|p| {
                matches!(
                    p,
                    UrlProblem::HostNotTenant { .. }
                        | UrlProblem::NotHttps { .. }
                        | UrlProblem::Unparsable { .. }
                )
            })
            .map(|p| p.to_string())
            .collect();
            if !leaves.is_empty() {
                checks.push(Check::fail(
                    format!("{name} URL stays on the tenant"),
                    format!("{}: {}", ours.fields.url, leaves.join("; ")),
                    format!("run apply to set it to {}", ctx.spec.openframe.url),
                ));
            }
        }
        checks
    }

    async fn prove(
        &self,
        ctx: &Context,
        state: &OpenFrameState,
        _upstream: &Upstream,
    ) -> StepResult<Vec<Check>> {
        let Some(ours) = &state.ours else {
            return Ok(Vec::new()); // the plan says it is missing
        };
        let (page, agents) =
            futures_util::join!(page_check(ctx, ours), agents_check(ctx, state, ours));
        Ok(vec![page?, agents?])
    }

    /// Claims the configuration with the spec's name when the damaged ledger
    /// still names its sys_id (an adopted one's previous values are lost), and
    /// the allow-list entry when it still names the spec's origin.
    async fn repair(&self, ctx: &Context, damaged: &Damaged) -> StepResult<Repaired> {
        let mut out = Repaired::default();
        let found = ctx
            .servicenow
            .openframe_configurations()
            .get_by_name(&ctx.spec.openframe.name)
            .await
            .ok()
            .flatten();
        if let Some(c) = found {
            let what = format!("OpenFrame configuration {:?} ({})", c.fields.name, c.sys_id);
            if damaged.raw.contains(c.sys_id.as_str()) && ctx.spec.openframe_adopt.is_none() {
                ctx.record(|l| l.openframe = Some(c.sys_id)).await;
                out.claimed.push(what);
            } else {
                out.unproven.push(what);
            }
        }
        let origin = ctx.spec.openframe.url.tenant().as_str();
        if damaged
            .raw
            .contains(&format!("\"allow_list_entry\":\"{origin}\""))
        {
            ctx.record(|l| l.allow_list_entry = Some(origin.to_owned()))
                .await;
            out.claimed
                .push(format!("postMessage allow-list entry {origin}"));
        }
        if damaged.raw.contains("openframe_adopted") {
            out.lost.push(
                "the previous values of the adopted OpenFrame configuration: teardown cannot restore them; note them by hand".to_owned(),
            );
        }
        Ok(out)
    }

    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>> {
        let ledger = ctx.ledger().await;
        let mut removals = ownership::undo(
            &Configurations,
            ctx,
            &ctx.spec.openframe.name,
            Recorded {
                created: ledger.openframe.as_ref(),
                adopted: ledger.openframe_adopted.as_ref(),
                adopted_as: managed_name(ctx),
                managed_fields: &MANAGED_FIELDS,
            },
        )
        .await?;
        ctx.record(|l| {
            l.openframe = None;
            l.openframe_adopted = None;
        })
        .await;
        let origin = ctx.spec.openframe.url.tenant().as_str();
        match &ledger.allow_list_entry {
            // The entry removed is the one the spec proves this integration's,
            // and only when the ledger agrees.
            Some(recorded) if recorded != origin => {
                removals.push(Removal::new(
                    format!("allow-list entry {recorded}"),
                    RemovalOutcome::LeftAlone,
                    format!(
                        "the ledger names {recorded}, but this integration's tenant origin is {origin}: the ledger and the spec disagree, so no entry is removed"
                    ),
                ));
                ctx.record(|l| l.allow_list_entry = None).await;
            }
            Some(_) => {
                let removal = crate::shared::under_instance_lock(ctx, ALLOW_LIST_PURPOSE, || {
                    remove_allow_list_entry(ctx)
                })
                .await?;
                removals.push(removal);
            }
            None => {
                if ctx
                    .allow_list()
                    .await?
                    .is_some_and(|v| list_entries(&v).contains(&origin))
                {
                    removals.push(Removal::new(
                        format!("allow-list entry {origin}"),
                        RemovalOutcome::LeftAlone,
                        "it was listed before bp-servicenow ran",
                    ));
                }
            }
        }
        Ok(removals)
    }
}

/// The plan's field for an allow-list entry another integration added and
/// this one uses too (recorded in the ledger; nothing else is written).
const SHARED_ENTRY: &str = "ledger: shared allow-list entry";

/// What the instance lock is taken for.
const ALLOW_LIST_PURPOSE: &str = "the postMessage allow-list";

/// Under the instance lock: the tenant origin in the allow-list, added by this
/// integration (recorded first) or, when another integration's ledger records
/// it, shared with it. An entry no ledger records was listed by a person: it is
/// used, and never recorded as ours.
async fn add_allow_list_entry(ctx: &Context) -> StepResult<Option<String>> {
    let origin = ctx.spec.openframe.url.tenant().as_str().to_owned();
    let listed = ctx
        .allow_list()
        .await?
        .is_some_and(|v| list_entries(&v).contains(&origin.as_str()));
    let ours = ctx.ledger().await.allow_list_entry.as_deref() == Some(origin.as_str());
    if listed {
        let shared = !ours
            && ctx.used_by_another_integration(|l| {
                l.allow_list_entry.as_deref() == Some(origin.as_str())
            });
        if !shared {
            return Ok(None);
        }
        ctx.record(|l| l.allow_list_entry = Some(origin.clone()))
            .await;
        return Ok(Some(format!(
            "shares the allow-list entry {origin} with another integration"
        )));
    }
    // Recorded before the property is written: a write whose answer is lost
    // still leaves the entry known as this integration's.
    ctx.reserve(|l| l.allow_list_entry = Some(origin.clone()))
        .await?;
    let written = ctx
        .servicenow
        .properties()
        .add_list_entry(POST_MESSAGE_ALLOW_LIST, &origin)
        .await?;
    ctx.allow_list.clear().await;
    Ok(written
        .is_write()
        .then(|| format!("added {origin} to the postMessage allow-list")))
}

/// Under the instance lock: removes the tenant origin from the allow-list
/// unless another integration on the instance still records it (then only this
/// ledger lets it go). Sends the write through [`Context::write`].
async fn remove_allow_list_entry(ctx: &Context) -> StepResult<Removal> {
    let origin = ctx.spec.openframe.url.tenant().as_str().to_owned();
    let resource = format!("allow-list entry {origin}");
    let removal = if ctx
        .used_by_another_integration(|l| l.allow_list_entry.as_deref() == Some(origin.as_str()))
    {
        Removal::new(
            resource,
            RemovalOutcome::LeftAlone,
            "another integration on this instance still uses it; the last one's teardown removes it",
        )
    } else {
        let props = ctx.servicenow.properties();
        let outcome = match ctx
            .write(props.remove_list_entry(POST_MESSAGE_ALLOW_LIST, &origin))
            .await?
        {
            Some(PropertyChange::Unchanged) => RemovalOutcome::AlreadyGone,
            Some(_) => RemovalOutcome::Removed,
            // A preview: what the removal would find.
            None if ctx
                .allow_list()
                .await?
                .is_some_and(|v| list_entries(&v).contains(&origin.as_str())) =>
            {
                RemovalOutcome::Removed
            }
            None => RemovalOutcome::AlreadyGone,
        };
        ctx.allow_list.clear().await;
        Removal::new(resource, outcome, "added by bp-servicenow")
    };
    ctx.record(|l| l.allow_list_entry = None).await;
    Ok(removal)
}

/// GETs the exact URL written into OpenFrame, as an agent's browser would first
/// load it: 2xx (after redirects within the tenant) proves the page is there, 404
/// a wrong entry path, anything else cannot be confirmed from here.
async fn page_check(ctx: &Context, ours: &OpenFrameConfiguration) -> Result<Check> {
    let url = &ours.fields.url;
    let name = "the Agent Desktop page exists at the OpenFrame URL";
    let answer = match ctx.brightpattern.agent_desktop().probe(url).await {
        Ok(answer) => answer,
        Err(brightpattern_client::Error::InvalidInput(e)) => {
            return Ok(Check::fail(
                name,
                format!("{url}: {}", e.reason),
                format!("run apply to set it to {}", ctx.spec.openframe.url),
            ));
        }
        Err(e) if e.is_retryable() => {
            return Ok(Check::pending(
                name,
                format!("could not confirm: {e}"),
                "run verify again when the tenant answers",
            ));
        }
        Err(e) => return Err(e),
    };
    Ok(match answer.verdict() {
        PageVerdict::Exists => {
            Check::pass(name, format!("GET {url} answered HTTP {}", answer.status))
        }
        PageVerdict::Missing => Check::fail(
            name,
            format!("GET {url} answered HTTP 404: wrong entry path"),
            "set [openframe] entry_path to the tenant's Agent Desktop path (/agentdesktop/ classic, /agent/ for Agent Desktop 2.0), then run apply",
        ),
        PageVerdict::Unconfirmed(why) => Check::pending(
            name,
            format!("could not confirm: GET {url}: {why}"),
            "open the URL in a browser: it should show the Agent Desktop login page",
        ),
        _ => Check::pending(
            name,
            format!("could not confirm: GET {url}"),
            "open the URL in a browser",
        ),
    })
}

/// Every row of the queries (chunks of one `IN` lookup), one after another.
async fn list_all(
    table: &servicenow_client::Table<JsonRecord>,
    queries: Vec<Query>,
) -> Result<Vec<JsonRecord>> {
    let mut rows = Vec::new();
    for query in queries {
        rows.extend(table.list(query).try_collect::<Vec<_>>().await?);
    }
    Ok(rows)
}

/// A user to check, and the groups the user is in.
struct Agent {
    label: String,
    groups: HashSet<String>,
}

/// The configuration a user gets: among the active ones the user may see (not
/// scoped, or scoped to one of the user's groups), the lowest order. `Err` holds
/// the configurations that tie for it.
fn winner<'a>(
    active: &'a [OpenFrameConfiguration],
    groups: &HashSet<String>,
) -> std::result::Result<Option<&'a OpenFrameConfiguration>, Vec<&'a OpenFrameConfiguration>> {
    let visible: Vec<&OpenFrameConfiguration> = active
        .iter()
        .filter(|c| c.user_group.sys_id().is_none_or(|g| groups.contains(g)))
        .collect();
    let Some(lowest) = visible.iter().map(|c| c.fields.order).min() else {
        return Ok(None);
    };
    let first: Vec<&OpenFrameConfiguration> = visible
        .into_iter()
        .filter(|c| c.fields.order == lowest)
        .collect();
    if first.len() > 1 {
        Err(first)
    } else {
        Ok(first.first().copied())
    }
}

fn sys_ids(rows: &[JsonRecord], column: &str) -> Vec<(String, String)> {
    rows.iter()
        .filter_map(|r| {
            let id = r.get("sys_id")?.as_str()?.to_owned();
            let value = match r.get(column)? {
                serde_json::Value::String(s) => s.clone(),
                other => other.get("value")?.as_str()?.to_owned(),
            };
            Some((id, value))
        })
        .collect()
}

/// For every listed user and one member of each listed group: which configuration
/// that user will see. Fails naming each user for whom another one wins.
async fn agents_check(
    ctx: &Context,
    state: &OpenFrameState,
    ours: &OpenFrameConfiguration,
) -> Result<Check> {
    let access = &ctx.spec.access;
    let name = "every listed agent gets our OpenFrame configuration";
    let sn = &ctx.servicenow;
    let scoped = state.active.iter().any(|c| !c.user_group.is_empty());
    let mut agents: Vec<(String, Option<String>)> =
        access.users.iter().map(|u| (u.clone(), None)).collect();
    let mut notes = Vec::new();
    let mut user_ids: BTreeMap<String, String> = BTreeMap::new(); // user_name -> sys_id
    if !access.groups.is_empty() || scoped {
        let users = sn.table_json("sys_user")?;
        let listed: Vec<JsonRecord> = if access.users.is_empty() {
            Vec::new()
        } else {
            list_all(&users, lookups("user_name", &access.users, Query::new)).await?
        };
        for (id, user_name) in sys_ids(&listed, "user_name") {
            user_ids.insert(user_name, id);
        }
        if !access.groups.is_empty() {
            let groups: Vec<JsonRecord> = list_all(
                &sn.table_json("sys_user_group")?,
                lookups("name", &access.groups, Query::new),
            )
            .await?;
            let group_ids = sys_ids(&groups, "name");
            let members: Vec<JsonRecord> = if group_ids.is_empty() {
                Vec::new()
            } else {
                sn.table_json("sys_user_grmember")?
                    .list(
                        Query::new()
                            .is_in("group", group_ids.iter().map(|(id, _)| id.clone()))
                            .order_by("sys_id"),
                    )
                    .try_collect()
                    .await?
            };
            let membership: Vec<(String, String)> = members
                .iter()
                .filter_map(|m| {
                    let user = reference_value(m.get("user")?)?;
                    let group = reference_value(m.get("group")?)?;
                    Some((group, user))
                })
                .collect();
            let mut samples = Vec::new();
            for (group_id, group_name) in &group_ids {
                match membership.iter().find(|(g, _)| g == group_id) {
                    Some((_, user)) => samples.push((group_name.clone(), user.clone())),
                    None => notes.push(format!("group {group_name:?} has no member to check")),
                }
            }
            if !samples.is_empty() {
                let sample_ids: Vec<&str> = samples.iter().map(|(_, u)| u.as_str()).collect();
                let rows: Vec<JsonRecord> =
                    list_all(&users, lookups("sys_id", &sample_ids, Query::new)).await?;
                let names: BTreeMap<String, String> =
                    sys_ids(&rows, "user_name").into_iter().collect();
                for (group, user_id) in samples {
                    let user_name = names
                        .get(&user_id)
                        .cloned()
                        .unwrap_or_else(|| user_id.clone());
                    user_ids.insert(user_name.clone(), user_id);
                    agents.push((user_name, Some(group)));
                }
            }
        }
    }
    // Group memberships matter only when some active configuration is scoped.
    let mut groups_of: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    if scoped && !user_ids.is_empty() {
        let ids: Vec<&str> = user_ids.values().map(String::as_str).collect();
        let rows: Vec<JsonRecord> = list_all(
            &sn.table_json("sys_user_grmember")?,
            lookups("user", &ids, || Query::new().order_by("sys_id")),
        )
        .await?;
        for row in rows {
            if let (Some(user), Some(group)) = (
                row.get("user").and_then(reference_value),
                row.get("group").and_then(reference_value),
            ) {
                groups_of.entry(user).or_default().insert(group);
            }
        }
    }
    let agents: Vec<Agent> = agents
        .into_iter()
        .map(|(user, group)| Agent {
            groups: user_ids
                .get(&user)
                .and_then(|id| groups_of.get(id))
                .cloned()
                .unwrap_or_default(),
            label: match group {
                Some(g) => format!("{user} (member of {g:?})"),
                None => user,
            },
        })
        .collect();
    let mut wrong = Vec::new();
    for agent in &agents {
        match winner(&state.active, &agent.groups) {
            Ok(Some(c)) if c.sys_id == ours.sys_id => {}
            Ok(Some(c)) => wrong.push(format!(
                "{} gets {:?} (order {}), not ours (order {})",
                agent.label, c.fields.name, c.fields.order, ours.fields.order
            )),
            Ok(None) => wrong.push(format!(
                "{} gets no configuration (ours is inactive or scoped to a group the user is not in)",
                agent.label
            )),
            Err(tied) => wrong.push(format!(
                "{} sees {} at the same order {}: which one wins is not documented",
                agent.label,
                tied.iter().map(|c| format!("{:?}", c.fields.name)).collect::<Vec<_>>().join(" and "),
                tied[0].fields.order
            )),
        }
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!("; {}", notes.join("; "))
    };
    Ok(if wrong.is_empty() {
        Check::pass(
            name,
            format!(
                "{} checked, ours (order {}) wins for each{notes}",
                counted_agents(agents.len()),
                ours.fields.order
            ),
        )
    } else {
        Check::fail(
            name,
            format!("{}{notes}", wrong.join("; ")),
            "set [openframe] order = \"first\" and run apply, or raise the other configuration's order, deactivate it, or narrow its user group",
        )
    })
}

fn counted_agents(n: usize) -> String {
    if n == 1 {
        "1 agent".to_owned()
    } else {
        format!("{n} agents")
    }
}

/// A reference column's sys_id, whatever shape it came in.
fn reference_value(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Object(o) => o
            .get("value")?
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        _ => None,
    }
}
