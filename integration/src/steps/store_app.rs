//! The Store application (`[store_app]`, the vendor's 5.19 procedure starts from
//! one): installed through the CI/CD application repository
//! (`/api/sn_cicd/app_repo/install`) with the same progress, deadline and
//! still-queued handling as plugin activation; nothing is sent when the scope is
//! installed already (at the version, when the spec names one). It needs Tokyo or
//! later: apply refuses before anything is written on an older instance. An
//! instance that is not entitled to the application fails with the instance's
//! own message. Teardown never uninstalls it.

use async_trait::async_trait;
use servicenow_client::Error;
use servicenow_client::applications::InstalledApplication;
use servicenow_client::release::Family;

use crate::events::Event;
use crate::report::{Check, Removal, RemovalOutcome};
use crate::step::{
    Action, Applied, Change, Context, FieldChange, RoleNeed, Step, StepError, StepId, StepResult,
    Upstream,
};

/// The step's id.
pub const ID: &str = "store_app";

/// The oldest release the vendor's Store application supports (its 5.19 guide:
/// "instances before Tokyo must upgrade").
pub const MINIMUM_RELEASE: Family = Family::Tokyo;

/// Installs the spec's Store application.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreAppStep;

/// The application with the spec's scope, as installed (if it is).
#[derive(Debug, Clone)]
pub struct StoreAppState {
    installed: Option<InstalledApplication>,
}

fn request(ctx: &Context) -> &servicenow_client::applications::InstallRequest {
    ctx.spec
        .store_app
        .as_ref()
        .expect("the step is registered only when the spec names a Store application")
}

/// Why the instance's release rules the step out, when it does.
fn too_old(ctx: &Context) -> Option<String> {
    let release = ctx.release();
    (release.at_least(MINIMUM_RELEASE) == Some(false)).then(|| {
        format!(
            "the Store application needs ServiceNow {MINIMUM_RELEASE} or later; the instance runs {release}: upgrade it first"
        )
    })
}

#[async_trait]
impl Step for StoreAppStep {
    type State = StoreAppState;

    fn id(&self) -> StepId {
        StepId::custom(ID)
    }

    /// After the plugins: the instance runs one CI/CD operation at a time anyway.
    fn depends_on(&self) -> Vec<StepId> {
        vec![StepId::PLUGINS]
    }

    fn required_roles(&self, _ctx: &Context) -> Vec<RoleNeed> {
        vec![RoleNeed::any_of(
            &["admin", "sn_cicd.sys_ci_automation"],
            "installing the Store application (CI/CD API)",
        )]
    }

    fn minimum_release(&self, _ctx: &Context) -> Option<(Family, String)> {
        Some((
            MINIMUM_RELEASE,
            "the Bright Pattern Store application supports Tokyo and later".into(),
        ))
    }

    fn resource(&self, ctx: &Context) -> String {
        let request = request(ctx);
        match request.requested_version() {
            Some(v) => format!("Store application {} {v}", request.scope()),
            None => format!("Store application {}", request.scope()),
        }
    }

    async fn observe(&self, ctx: &Context) -> StepResult<StoreAppState> {
        Ok(StoreAppState {
            installed: ctx
                .servicenow
                .applications()
                .installed(request(ctx).scope())
                .await?,
        })
    }

    fn change(&self, ctx: &Context, state: &StoreAppState, _upstream: &Upstream) -> Change {
        let request = request(ctx);
        let wanted = request.requested_version().unwrap_or("latest");
        let mut change = match &state.installed {
            Some(app) if request.is_satisfied_by(app) => Change::unchanged(),
            Some(app) => Change::of(
                Action::Update,
                [
                    FieldChange::diff("active", app.active, true),
                    request
                        .requested_version()
                        .and_then(|v| FieldChange::diff("version", &app.version, v)),
                ]
                .into_iter()
                .flatten()
                .collect(),
            ),
            None => Change::of(
                Action::Create,
                vec![FieldChange::new("version", None, wanted)],
            ),
        };
        if change.action != Action::Unchanged
            && let Some(why) = too_old(ctx)
        {
            change.warnings.push(format!("{why}; apply refuses"));
        }
        if let Some(app) = &state.installed
            && app.source == servicenow_client::applications::ApplicationSource::Custom
        {
            change.warnings.push(format!(
                "{} is an application built on this instance (sys_app), not a Store application",
                app.scope
            ));
        }
        change
    }

    fn findings(&self, ctx: &Context, state: &StoreAppState) -> Vec<Check> {
        match (too_old(ctx), &state.installed) {
            (Some(why), None) => vec![Check::fail(
                self.resource(ctx),
                why,
                "upgrade the instance to Tokyo or later, then apply",
            )],
            _ => Vec::new(),
        }
    }

    async fn apply(
        &self,
        ctx: &Context,
        _state: StoreAppState,
        _change: &Change,
        _upstream: &Upstream,
    ) -> StepResult<Applied> {
        // An instance older than the minimum release was refused by the
        // preflight, before anything was written.
        let request = request(ctx);
        let operation = ctx
            .servicenow
            .applications()
            .start_install(request)
            .await
            .map_err(|e| refused(ctx, self, e))?;
        let message = operation.operation().to_owned();
        let id = StepId::custom(ID);
        let done = operation
            .wait(&ctx.options.plugin_wait, |p| {
                ctx.emit(Event::Progress {
                    step: id.clone(),
                    percent: p.percent_complete,
                    message: message.clone(),
                });
            })
            .await
            .map_err(|e| refused(ctx, self, e))?;
        Ok(Applied::new(format!(
            "installed {} ({})",
            request.scope(),
            if done.status_message.is_empty() {
                done.status.to_string()
            } else {
                done.status_message
            }
        )))
    }

    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>> {
        Ok(vec![Removal::new(
            self.resource(ctx),
            RemovalOutcome::LeftAlone,
            "Store applications are never uninstalled (other features may use them)",
        )])
    }
}

/// An install the instance refused or failed, quoting the instance; a request
/// that failed otherwise (a 405, a deadline, still queued) stays as it is.
fn refused(ctx: &Context, step: &StoreAppStep, error: Error) -> StepError {
    let quoted = match &error {
        Error::OperationFailed {
            message: Some(m), ..
        } => Some(m.clone()),
        Error::Api(api) if (400..500).contains(&api.status) && api.status != 401 => {
            Some(error.to_string())
        }
        _ => None,
    };
    match quoted {
        Some(message) => StepError::Rejected {
            what: step.resource(ctx),
            reason: format!("the instance says: {message}"),
            hint: "check that the instance is entitled to the application (ServiceNow Store > the application > Get, or the company's application repository) and that the scope and version exist; then apply again".into(),
        },
        None => StepError::Request(error),
    }
}
