//! Steps 2 and 7: the OpenFrame configuration (Agent Desktop URL with `topDomain`,
//! title, size, order, active) and the tenant origin in the postMessage
//! allow-list property. Warns when another active configuration comes first.

use async_trait::async_trait;
use futures_util::TryStreamExt as _;
use servicenow_client::Result;
use servicenow_client::openframe::{OpenFrameConfiguration, OpenFrameFields};
use servicenow_client::properties::{
    Change as PropertyChange, POST_MESSAGE_ALLOW_LIST, list_entries, list_with,
};
use servicenow_client::query::Query;
use servicenow_client::wire::SysId;
use servicenow_openframe::AgentDesktopUrl;

use crate::report::{Check, Removal, RemovalOutcome};
use crate::step::{Change, Context, FieldChange, Step, StepId};

/// Steps 2 and 7.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenFrameStep;

/// Our configuration (by name), the active ones, and the allow-list value.
#[derive(Debug, Clone)]
pub struct OpenFrameState {
    ours: Option<OpenFrameConfiguration>,
    active: Vec<OpenFrameConfiguration>,
    allow_list: Option<String>,
}

fn desired(ctx: &Context) -> OpenFrameFields {
    let s = &ctx.spec.openframe;
    OpenFrameFields {
        name: s.name.clone(),
        title: s.title.clone(),
        subtitle: s.subtitle.clone(),
        url: s.url.as_str().to_owned(),
        width: s.size.width(),
        height: s.size.height(),
        order: s.order,
        active: s.active,
        default: s.default,
        show_presence_indicator: s.presence_indicator,
        collapsed_view_enabled: s.collapsed_view,
    }
}

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
        StepId::Openframe
    }

    fn resource(&self, ctx: &Context) -> String {
        format!(
            "OpenFrame configuration {:?} and postMessage allow-list",
            ctx.spec.openframe.name
        )
    }

    async fn observe(&self, ctx: &Context) -> Result<OpenFrameState> {
        let name = &ctx.spec.openframe.name;
        // One read: ours (even when inactive) and every active configuration.
        let rows = ctx
            .servicenow
            .table::<OpenFrameConfiguration>()
            .list(
                Query::new()
                    .eq("name", name.as_str())
                    .or()
                    .eq("active", "true")
                    .order_by("order"),
            )
            .try_collect::<Vec<_>>();
        let (rows, allow_list) = futures_util::join!(rows, ctx.allow_list());
        let rows = match rows {
            Ok(rows) => rows,
            // Before OpenFrame is activated its table may not exist yet.
            Err(e) if ctx.plugins_pending() && matches!(e.status(), Some(400 | 404)) => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(OpenFrameState {
            ours: rows.iter().find(|c| &c.fields.name == name).cloned(),
            active: rows.into_iter().filter(|c| c.fields.active).collect(),
            allow_list: allow_list?,
        })
    }

    fn change(&self, ctx: &Context, state: &OpenFrameState) -> Change {
        let want = desired(ctx);
        let mut changes = field_changes(state.ours.as_ref().map(|c| &c.fields), &want);
        let origin = ctx.spec.openframe.url.tenant().as_str();
        let current = state.allow_list.clone().unwrap_or_default();
        if let Some(new) = list_with(&current, origin) {
            changes.push(FieldChange::new(
                POST_MESSAGE_ALLOW_LIST,
                Some(current),
                new,
            ));
        }
        let mut change = Change::create_or_update(state.ours.is_some(), changes);
        change.warnings = shadowing(state, want.order, &want.name)
            .map(|c| {
                format!(
                    "active OpenFrame configuration {:?} (order {}) comes before ours (order {}): users who have both get it instead; raise its order or deactivate it",
                    c.fields.name, c.fields.order, want.order
                )
            })
            .collect();
        change
    }

    async fn apply(&self, ctx: &Context, state: OpenFrameState, change: &Change) -> Result<String> {
        let configs = ctx.servicenow.openframe_configurations();
        let mut done = Vec::new();
        let config_changes: Vec<&FieldChange> = change
            .changes
            .iter()
            .filter(|c| c.field != POST_MESSAGE_ALLOW_LIST)
            .collect();
        match &state.ours {
            None => {
                let id = SysId::generate();
                ctx.reserve(|l| l.openframe = Some(id.clone())).await?;
                let created = configs.create_with_id(&id, &desired(ctx)).await?;
                ctx.record(|l| l.openframe = Some(created.sys_id.clone()))
                    .await;
                done.push(format!("created configuration {}", created.sys_id));
            }
            Some(ours) if !config_changes.is_empty() => {
                let want = serde_json::to_value(desired(ctx)).unwrap_or_default();
                let patch: serde_json::Map<String, serde_json::Value> = config_changes
                    .iter()
                    .filter_map(|c| want.get(&c.field).map(|v| (c.field.clone(), v.clone())))
                    .collect();
                configs.update(&ours.sys_id, &patch).await?;
                done.push(format!(
                    "updated {}",
                    config_changes
                        .iter()
                        .map(|c| c.field.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            Some(_) => {}
        }
        let origin = ctx.spec.openframe.url.tenant().as_str().to_owned();
        if change
            .changes
            .iter()
            .any(|c| c.field == POST_MESSAGE_ALLOW_LIST)
        {
            let written = ctx
                .servicenow
                .properties()
                .add_list_entry(POST_MESSAGE_ALLOW_LIST, &origin)
                .await?;
            ctx.allow_list.clear().await;
            if written.is_write() {
                ctx.record(|l| l.allow_list_entry = Some(origin.clone()))
                    .await;
                done.push(format!("added {origin} to the postMessage allow-list"));
            }
        }
        Ok(done.join("; "))
    }

    async fn verify(&self, ctx: &Context) -> Result<Vec<Check>> {
        let state = self.observe(ctx).await?;
        let spec = &ctx.spec.openframe;
        let name = format!("OpenFrame configuration {:?}", spec.name);
        let Some(ours) = &state.ours else {
            return Ok(vec![Check::fail(name, "missing", "run apply to create it")]);
        };
        let mut checks = vec![Check::when(
            ours.fields.active,
            format!("{name} active"),
            if ours.fields.active {
                "active"
            } else {
                "inactive: the Agent Desktop widget is not shown"
            },
            "run apply to activate it (also check the OpenFrame plugin is active)",
        )];
        let problems = AgentDesktopUrl::check(
            &ours.fields.url,
            ctx.spec.tenant.origin(),
            ctx.spec.instance.origin(),
        );
        checks.push(if problems.is_empty() {
            Check::pass(format!("{name} URL"), ours.fields.url.clone())
        } else {
            Check::fail(
                format!("{name} URL"),
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                format!("run apply to set it to {}", spec.url),
            )
        });
        let size_ok =
            ours.fields.width == spec.size.width() && ours.fields.height == spec.size.height();
        checks.push(Check::when(
            size_ok,
            format!("{name} size"),
            format!("{} x {}", ours.fields.width, ours.fields.height),
            format!("run apply to resize it to {}", spec.size),
        ));
        let origin = ctx.spec.openframe.url.tenant().as_str();
        let listed = state
            .allow_list
            .as_deref()
            .is_some_and(|v| list_entries(v).contains(&origin));
        checks.push(Check::when(
            listed,
            "postMessage allow-list",
            if listed {
                format!("{origin} listed")
            } else {
                format!("{origin} missing from {POST_MESSAGE_ALLOW_LIST}")
            },
            "run apply to add the tenant origin",
        ));
        let shadows: Vec<String> = shadowing(&state, ours.fields.order, &spec.name)
            .map(|c| format!("{:?} (order {})", c.fields.name, c.fields.order))
            .collect();
        checks.push(Check::when(
            shadows.is_empty(),
            "no OpenFrame configuration shadows ours",
            if shadows.is_empty() {
                "ours comes first".to_owned()
            } else {
                format!("{} come first", shadows.join(", "))
            },
            "raise the other configurations' order above ours, or deactivate them",
        ));
        Ok(checks)
    }

    async fn undo(&self, ctx: &Context) -> Result<Vec<Removal>> {
        let ledger = ctx.ledger().await;
        let configs = ctx.servicenow.openframe_configurations();
        let name = &ctx.spec.openframe.name;
        let resource = format!("OpenFrame configuration {name:?}");
        let mut removals = Vec::new();
        match &ledger.openframe {
            Some(id) => {
                match configs.get(id).await {
                    Ok(_) => {
                        configs.delete(id).await?;
                        removals.push(Removal::new(
                            &resource,
                            RemovalOutcome::Removed,
                            format!("created by bp-servicenow ({id})"),
                        ));
                    }
                    Err(e) if e.is_not_found() => {
                        removals.push(Removal::new(
                            &resource,
                            RemovalOutcome::AlreadyGone,
                            format!("{id} no longer exists"),
                        ));
                    }
                    Err(e) => return Err(e),
                }
                ctx.record(|l| l.openframe = None).await;
            }
            None => {
                if let Some(found) = configs.get_by_name(name).await? {
                    removals.push(Removal::new(
                        &resource,
                        RemovalOutcome::LeftAlone,
                        format!("{} was not created by bp-servicenow", found.sys_id),
                    ));
                }
            }
        }
        let props = ctx.servicenow.properties();
        match &ledger.allow_list_entry {
            Some(origin) => {
                let outcome = match props
                    .remove_list_entry(POST_MESSAGE_ALLOW_LIST, origin)
                    .await?
                {
                    PropertyChange::Unchanged => RemovalOutcome::AlreadyGone,
                    _ => RemovalOutcome::Removed,
                };
                ctx.allow_list.clear().await;
                removals.push(Removal::new(
                    format!("allow-list entry {origin}"),
                    outcome,
                    "added by bp-servicenow",
                ));
                ctx.record(|l| l.allow_list_entry = None).await;
            }
            None => {
                let origin = ctx.spec.openframe.url.tenant().as_str();
                if props
                    .list_entries(POST_MESSAGE_ALLOW_LIST)
                    .await?
                    .iter()
                    .any(|e| e == origin)
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
