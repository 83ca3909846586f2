//! Step 1: the plugins are active (OpenFrame and OAuth 2.0 by default; CTI
//! Softphone and Customer Service on request). Activation goes through the CI/CD
//! API and is awaited with a deadline, reporting progress. Plugins are never
//! deactivated: there is no REST call for it, and other features may need them.

use async_trait::async_trait;
use futures_util::TryStreamExt as _;
use servicenow_client::plugins::{Plugin, ids};
use servicenow_client::query::Query;
use servicenow_client::release::Family;

use crate::events::Event;
use crate::report::{Check, Removal, RemovalOutcome};
use crate::step::{
    Action, Applied, Change, Context, FieldChange, RoleNeed, Step, StepId, StepResult, Upstream,
};

/// Step 1.
#[derive(Debug, Clone, Copy, Default)]
pub struct PluginsStep;

/// Each wanted plugin and its `v_plugin` row (`None`: not installed).
#[derive(Debug, Clone)]
pub struct PluginsState {
    plugins: Vec<(String, Option<Plugin>)>,
}

impl PluginsState {
    fn inactive(&self) -> impl Iterator<Item = &str> {
        self.plugins
            .iter()
            .filter(|(_, p)| p.as_ref().is_some_and(|p| !p.active))
            .map(|(id, _)| id.as_str())
    }

    fn missing(&self) -> impl Iterator<Item = &str> {
        self.plugins
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(id, _)| id.as_str())
    }
}

#[async_trait]
impl Step for PluginsStep {
    type State = PluginsState;

    fn id(&self) -> StepId {
        StepId::PLUGINS
    }

    fn required_roles(&self, _ctx: &Context) -> Vec<RoleNeed> {
        vec![RoleNeed::any_of(
            &["admin", "sn_cicd.sys_ci_automation"],
            "activating plugins (CI/CD API)",
        )]
    }

    fn resource(&self, ctx: &Context) -> String {
        format!("plugins {}", ctx.spec.plugins.join(", "))
    }

    async fn observe(&self, ctx: &Context) -> StepResult<PluginsState> {
        let wanted = &ctx.spec.plugins;
        let rows: Vec<Plugin> = if wanted.is_empty() {
            Vec::new()
        } else {
            ctx.servicenow
                .table::<Plugin>()
                .list(Query::new().is_in("id", wanted.iter().map(String::as_str)))
                .try_collect()
                .await?
        };
        Ok(PluginsState {
            plugins: wanted
                .iter()
                .map(|id| (id.clone(), rows.iter().find(|p| &p.id == id).cloned()))
                .collect(),
        })
    }

    fn change(&self, ctx: &Context, state: &PluginsState, _upstream: &Upstream) -> Change {
        let changes: Vec<FieldChange> = state
            .inactive()
            .map(|id| FieldChange::new(id, Some("inactive".into()), "active"))
            .collect();
        let mut change = if changes.is_empty() {
            Change::unchanged()
        } else {
            Change::of(Action::Update, changes)
        };
        change.warnings = state
            .missing()
            .map(|id| format!("plugin {id} is not installed on this instance; install it (System Definition > Plugins) and apply again"))
            .collect();
        let release = ctx.release();
        if ctx.spec.plugins.iter().any(|p| p == ids::CTI_SOFTPHONE)
            && release.at_least(Family::Zurich) == Some(true)
        {
            change.warnings.push(format!(
                "CTI Softphone ({}) is no longer deployed on new instances from Zurich (this one runs {release}): an instance set up on Zurich or later may not offer it; Agent Desktop works without it",
                ids::CTI_SOFTPHONE
            ));
        }
        change
    }

    /// A plugin that is not installed cannot be activated by apply: it fails
    /// verify on its own.
    fn findings(&self, _ctx: &Context, state: &PluginsState) -> Vec<Check> {
        state
            .missing()
            .map(|id| {
                Check::fail(
                    format!("plugin {id}"),
                    "not installed on this instance",
                    "install the plugin (System Definition > Plugins), then apply",
                )
            })
            .collect()
    }

    async fn apply(
        &self,
        ctx: &Context,
        state: PluginsState,
        _change: &Change,
        _upstream: &Upstream,
    ) -> StepResult<Applied> {
        let plugins = ctx.servicenow.plugins();
        let mut activated = Vec::new();
        // One at a time: the instance runs CI/CD operations behind one lock anyway.
        for id in state.inactive() {
            let activation = plugins.activate(id).await?;
            let message = format!("activating {id}");
            activation
                .wait(&ctx.options.plugin_wait, |p| {
                    ctx.emit(Event::Progress {
                        step: StepId::PLUGINS,
                        percent: p.percent_complete,
                        message: message.clone(),
                    });
                })
                .await?;
            activated.push(id.to_owned());
        }
        Ok(format!("activated {}", activated.join(", ")).into())
    }

    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>> {
        Ok(vec![Removal::new(
            format!("plugins {}", ctx.spec.plugins.join(", ")),
            RemovalOutcome::LeftAlone,
            "plugins are never deactivated",
        )])
    }
}
