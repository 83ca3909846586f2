//! Step 5: the OAuth endpoint for external clients (`oauth_entity`, type `client`)
//! the integration account authenticates with. Its secret is generated here,
//! handed to step 6 in memory, and never stored, printed or read back.

use async_trait::async_trait;
use servicenow_client::OAuthClient;
use servicenow_client::oauth::{NewOAuthApplication, OAuthApplication};
use servicenow_client::wire::SysId;

pub use crate::oauth_secret::SECRET_SHOWN;
use crate::oauth_secret::{GeneratedSecret, known_secret};
use crate::ownership::{self, Found, RecordKind, Recorded};
use crate::report::{Check, Removal};
use crate::step::{
    Action, Applied, Change, Context, Damaged, FieldChange, Named, Repaired, RoleNeed, Step,
    StepError, StepId, StepResult, Upstream, duplicates_check, duplicates_text,
};

/// Step 5.
#[derive(Debug, Clone, Copy, Default)]
pub struct OAuthEndpointStep;

/// The application with the spec's name, when there is one, and whether the
/// ledger says this integration created it.
#[derive(Debug, Clone)]
pub struct OAuthEndpointState {
    application: Option<OAuthApplication>,
    ours: bool,
    /// Other applications with the same name: reported, never touched.
    duplicates: Vec<SysId>,
}

#[async_trait]
impl Step for OAuthEndpointStep {
    type State = OAuthEndpointState;

    fn id(&self) -> StepId {
        StepId::OAUTH_ENDPOINT
    }

    fn identity(&self, spec: &crate::spec::ResolvedSpec) -> Vec<String> {
        vec![spec.oauth.name.clone()]
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
        vec![RoleNeed::any_of(
            &["admin", "oauth_admin"],
            "the OAuth application registry (oauth_entity)",
        )]
    }

    fn resource(&self, ctx: &Context) -> String {
        format!("OAuth application {:?}", ctx.spec.oauth.name)
    }

    async fn observe(&self, ctx: &Context) -> StepResult<OAuthEndpointState> {
        let Named {
            managed: application,
            duplicates,
        } = ctx.oauth_applications().await?;
        let recorded = ctx.ledger().await.oauth_application;
        Ok(OAuthEndpointState {
            ours: application
                .as_ref()
                .is_some_and(|a| recorded.as_ref() == Some(&a.sys_id)),
            application,
            duplicates,
        })
    }

    fn change(&self, ctx: &Context, state: &OAuthEndpointState, _upstream: &Upstream) -> Change {
        let o = &ctx.spec.oauth;
        let lifespans = |old: Option<&OAuthApplication>| {
            let old_value = |l: Option<u32>| l.map(|l| l.to_string()).unwrap_or_default();
            [
                (
                    "access_token_lifespan",
                    old.map(|a| a.access_token_lifespan),
                    o.access_token_lifespan,
                ),
                (
                    "refresh_token_lifespan",
                    old.map(|a| a.refresh_token_lifespan),
                    o.refresh_token_lifespan,
                ),
            ]
            .into_iter()
            .filter_map(move |(field, old, new)| match old {
                None => Some(FieldChange::new(field, None, new.to_string())),
                Some(old) => FieldChange::diff(field, old_value(old), new),
            })
        };
        let mut change = match plan(ctx, state) {
            OAuthPlan::Refuse(why) => {
                return Change::of(Action::Refuse, Vec::new()).with_warning(why);
            }
            OAuthPlan::Create => Change::of(
                Action::Create,
                [
                    FieldChange::new("type", None, "client"),
                    FieldChange::new("client_secret", None, SECRET_SHOWN),
                ]
                .into_iter()
                .chain(lifespans(None))
                .collect(),
            ),
            OAuthPlan::Update {
                app,
                lifespans: changes_lifespans,
                activate,
            } => Change::of(
                Action::Update,
                activate
                    .then(|| FieldChange::new("active", Some("false".into()), "true"))
                    .into_iter()
                    .chain(lifespans(Some(&app)).filter(|_| changes_lifespans))
                    .collect(),
            ),
            OAuthPlan::Unchanged => Change::unchanged(),
        };
        if !state.duplicates.is_empty() {
            change.warnings.push(duplicates_text(
                "OAuth application",
                &o.name,
                &state.duplicates,
            ));
        }
        if let Some(note) = registry_deprecation(&ctx.release()) {
            change.warnings.push(note);
        }
        change
    }

    async fn apply(
        &self,
        ctx: &Context,
        state: OAuthEndpointState,
        _change: &Change,
        _upstream: &Upstream,
    ) -> StepResult<Applied> {
        let apps = ctx.servicenow.oauth_applications();
        let o = &ctx.spec.oauth;
        match plan(ctx, &state) {
            OAuthPlan::Refuse(_) | OAuthPlan::Unchanged => Ok(Applied::new("nothing to do")),
            OAuthPlan::Create => {
                let id = servicenow_client::wire::SysId::generate();
                ctx.reserve(|l| l.oauth_application = Some(id.clone()))
                    .await?;
                let created = apps
                    .create(
                        &NewOAuthApplication::new(o.name.clone())
                            .with_sys_id(id.clone())
                            .lifespans(o.access_token_lifespan, o.refresh_token_lifespan)
                            .comments(format!(
                                "Created by bp-servicenow for the Bright Pattern integration account. {}",
                                marker(ctx, &id)
                            )),
                    )
                    .await?;
                let sys_id = created.application.sys_id.clone();
                let note = ctx
                    .created("OAuth application", &id, &sys_id, |l, id| {
                        l.oauth_application = Some(id)
                    })
                    .await;
                // The read cache no longer holds what the instance holds: the
                // steps after this one read the application afresh.
                ctx.oauth_applications.clear().await;
                Ok(Applied::new(format!(
                    "created {sys_id} (client id {}){}",
                    created.application.client_id,
                    note.map(|n| format!("; {n}")).unwrap_or_default()
                ))
                .with_output(GeneratedSecret {
                    client_id: created.application.client_id.clone(),
                    secret: created.client_secret.clone(),
                }))
            }
            OAuthPlan::Update {
                app,
                lifespans,
                activate,
            } => {
                let mut done = Vec::new();
                if lifespans {
                    apps.update_lifespans(
                        &app.sys_id,
                        o.access_token_lifespan,
                        o.refresh_token_lifespan,
                    )
                    .await?;
                    done.push("lifespans");
                }
                if activate {
                    apps.set_active(&app.sys_id, true).await?;
                    done.push("active");
                }
                ctx.oauth_applications.clear().await;
                Ok(format!("updated {}", done.join(", ")).into())
            }
        }
    }

    fn findings(&self, ctx: &Context, state: &OAuthEndpointState) -> Vec<Check> {
        duplicates_check(
            &format!("OAuth application {:?}", ctx.spec.oauth.name),
            "OAuth application",
            &ctx.spec.oauth.name,
            &state.duplicates,
        )
        .into_iter()
        .collect()
    }

    /// Runs exactly what Bright Pattern's "Request Refresh Token" and "Test
    /// connection" will do — the password grant as the integration user with this
    /// client, a refresh grant, one Table API read — whenever the client secret is
    /// known (generated or rotated in this run, or supplied by the caller). On
    /// failure, reads what causes ServiceNow's generic `access_denied` and names it.
    async fn prove(
        &self,
        ctx: &Context,
        state: &OAuthEndpointState,
        upstream: &Upstream,
    ) -> StepResult<Vec<Check>> {
        let Some(app) = &state.application else {
            return Ok(Vec::new()); // the plan says it is missing
        };
        let name = format!("OAuth application {:?} works end to end", app.name);
        let secret = known_secret(ctx, app, upstream);
        let Some(secret) = secret else {
            return Ok(vec![Check::pending(
                name,
                "not proven: the client secret is known only to the run that generated it",
                format!(
                    "supply it ({SECRET_VARIABLE} for the command-line tool) so verify can run the password grant, a refresh and a Table API read as Bright Pattern will"
                ),
            )]);
        };
        let user = &ctx.integration_user;
        let client = OAuthClient::new(app.client_id.clone(), secret);
        Ok(vec![match ctx
            .servicenow
            .prove_oauth_round_trip(&client, &user.username, &user.password)
            .await
        {
            Ok(()) => Check::pass(
                name,
                format!(
                    "as {}: password grant, refresh grant and a Table API read with the new token all succeeded",
                    user.username
                ),
            ),
            Err(failure) => {
                let cause = oauth_cause(ctx, app).await;
                Check::fail(name, format!("as {}: {failure}", user.username), cause)
            }
        }])
    }

    /// Rotates the client secret of the application this integration created
    /// (the ledger and the mark in its comments agree); anything else is
    /// refused. The new secret is handed on, as apply hands on a generated one.
    fn rotates_secret(&self) -> bool {
        true
    }

    async fn rotate_secret(&self, ctx: &Context) -> StepResult<Applied> {
        rotate(ctx).await
    }

    /// Claims the first application with the spec's name that carries this
    /// integration's mark in its comments (the ledger is not needed for it).
    async fn repair(&self, ctx: &Context, _damaged: &Damaged) -> StepResult<Repaired> {
        let mut out = Repaired::default();
        let mark = marker_prefix(ctx);
        let mut claimed = false;
        for app in ctx
            .servicenow
            .oauth_applications()
            .list_by_name(&ctx.spec.oauth.name)
            .await?
        {
            let what = format!("OAuth application {:?} ({})", app.name, app.sys_id);
            if app.comments.contains(&mark) && !claimed {
                claimed = true;
                ctx.record(|l| l.oauth_application = Some(app.sys_id)).await;
                out.claimed.push(format!("{what}, by its mark"));
            } else {
                out.unproven.push(what);
            }
        }
        Ok(out)
    }

    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>> {
        let ledger = ctx.ledger().await;
        let removals = ownership::undo(
            &Applications,
            ctx,
            &ctx.spec.oauth.name,
            Recorded {
                created: ledger.oauth_application.as_ref(),
                adopted: None, // a secret cannot be read back: never adopted
                adopted_as: &ctx.spec.oauth.name,
                managed_fields: &[],
            },
        )
        .await?;
        ctx.record(|l| l.oauth_application = None).await;
        ctx.oauth_applications.clear().await;
        Ok(removals)
    }
}

/// What the step will do to the application, decided once from what it
/// observed: `change` renders it, `apply` carries it out.
enum OAuthPlan {
    /// An application with the name is someone else's (a secret cannot be read
    /// back, so it cannot be adopted).
    Refuse(String),
    /// None has the name: create it, with a generated secret.
    Create,
    /// Ours, and its token lifespans differ from the spec (`lifespans`) or it is
    /// inactive (`activate`).
    Update {
        app: OAuthApplication,
        lifespans: bool,
        activate: bool,
    },
    /// Ours, and as it should be.
    Unchanged,
}

fn plan(ctx: &Context, state: &OAuthEndpointState) -> OAuthPlan {
    let o = &ctx.spec.oauth;
    match (&state.application, state.ours) {
        (None, _) => OAuthPlan::Create,
        (Some(app), false) => OAuthPlan::Refuse(format!(
            "OAuth application {:?} ({}) exists and was not made by bp-servicenow: exists, not ours; its secret cannot be read back, so it cannot be adopted: choose another [oauth] name",
            app.name, app.sys_id
        )),
        (Some(app), true) => {
            let lifespans = app.access_token_lifespan != Some(o.access_token_lifespan)
                || app.refresh_token_lifespan != Some(o.refresh_token_lifespan);
            match (lifespans, !app.active) {
                (false, false) => OAuthPlan::Unchanged,
                (lifespans, activate) => OAuthPlan::Update {
                    app: app.clone(),
                    lifespans,
                    activate,
                },
            }
        }
    }
}

async fn rotate(ctx: &Context) -> StepResult<Applied> {
    let app = ctx.oauth_applications().await?.managed;
    let ledger = ctx.ledger().await;
    let app = match app {
        Some(app)
            if ledger.oauth_application.as_ref() == Some(&app.sys_id)
                && app.comments.contains(&marker_prefix(ctx)) =>
        {
            app
        }
        Some(app) => {
            return Err(StepError::Refused {
                record: format!("OAuth application {:?} ({})", app.name, app.sys_id),
                reason: "its secret is rotated only when the ledger and the mark in its comments agree it is this integration's".into(),
            });
        }
        None => {
            return Err(StepError::Missing {
                record: format!("OAuth application {:?}", ctx.spec.oauth.name),
                hint: "run apply to create it (a new secret comes with it)".into(),
            });
        }
    };
    let secret = ctx
        .servicenow
        .oauth_applications()
        .rotate_secret(&app.sys_id)
        .await?;
    Ok(
        Applied::new(app.sys_id.to_string()).with_output(GeneratedSecret {
            client_id: app.client_id.clone(),
            secret,
        }),
    )
}

/// OAuth applications, for the ownership protocol's undo: the ledger and the
/// mark in the application's comments must agree.
struct Applications;

#[async_trait]
impl RecordKind for Applications {
    fn kind(&self) -> &'static str {
        "OAuth application"
    }

    async fn read(&self, ctx: &Context, id: &SysId) -> servicenow_client::Result<Option<Found>> {
        let apps = ctx.servicenow.table_json("oauth_entity")?;
        Ok(apps.find(id).await?.map(|app| {
            let comments = app["comments"].as_str().unwrap_or_default();
            Found {
                name: app["name"].as_str().unwrap_or_default().to_owned(),
                unproven: (!comments.contains(&marker_prefix(ctx)))
                    .then(|| "does not carry this integration's mark in its comments".to_owned()),
            }
        }))
    }

    async fn find(&self, ctx: &Context, name: &str) -> servicenow_client::Result<Option<SysId>> {
        let apps = ctx.servicenow.oauth_applications();
        Ok(apps.get_by_name(name).await?.map(|a| a.sys_id))
    }

    async fn delete(&self, ctx: &Context, id: &SysId) -> servicenow_client::Result<()> {
        ctx.servicenow.oauth_applications().delete(id).await
    }

    async fn restore(
        &self,
        _ctx: &Context,
        _id: &SysId,
        _previous: &std::collections::BTreeMap<String, String>,
    ) -> servicenow_client::Result<()> {
        Err(servicenow_client::error::InvalidInput::new(
            "OAuth application",
            "an OAuth application is never adopted, so nothing is restored",
        )
        .into())
    }
}

/// The mark an application this integration created carries in its comments:
/// the ledger key and a per-record token (the sys_id it was created with).
fn marker(ctx: &Context, token: &servicenow_client::wire::SysId) -> String {
    format!("{}{token}]", marker_prefix(ctx))
}

/// What every mark of this integration starts with.
fn marker_prefix(ctx: &Context) -> String {
    format!("[bp-servicenow:{}:", ctx.ledger_key().short())
}

/// The environment variable the command-line tool reads the client secret from.
pub const SECRET_VARIABLE: &str = "SERVICENOW_OAUTH_CLIENT_SECRET";

/// The property without which the instance refuses all inbound OAuth.
pub const OAUTH_ACTIVE_PROPERTY: &str = "com.snc.platform.security.oauth.is.active";
/// The property that, when true, refuses the password grant.
pub const ROPC_DISABLED_PROPERTY: &str = "glide.oauth.inbound.ropc.grant_type.disabled";

/// Which of the causes of a generic `access_denied` holds, read from the
/// instance: inbound OAuth off, the password grant disabled, the client inactive.
async fn oauth_cause(ctx: &Context, app: &OAuthApplication) -> String {
    let props = ctx.servicenow.properties();
    let apps = ctx.servicenow.oauth_applications();
    let (active, ropc, fresh) = futures_util::join!(
        props.value(OAUTH_ACTIVE_PROPERTY),
        props.value(ROPC_DISABLED_PROPERTY),
        apps.get_by_name(&app.name),
    );
    let mut causes = Vec::new();
    if matches!(&active, Ok(Some(v)) if v.trim() == "false") {
        causes.push(format!(
            "inbound OAuth is off: set the system property {OAUTH_ACTIVE_PROPERTY} to true"
        ));
    }
    if matches!(&ropc, Ok(Some(v)) if v.trim() == "true") {
        causes.push(format!(
            "the password grant is disabled: {ROPC_DISABLED_PROPERTY} is true, and Bright Pattern's Request Refresh Token needs it (set it to false, or accept that the integration cannot work)"
        ));
    }
    match &fresh {
        Ok(Some(app)) if !app.active => causes.push(format!(
            "the OAuth application {:?} is inactive: run apply to activate it",
            app.name
        )),
        Ok(None) => causes.push("the OAuth application is gone: run apply".to_owned()),
        _ => {}
    }
    let unread: Vec<&str> = [
        (active.is_err(), OAUTH_ACTIVE_PROPERTY),
        (ropc.is_err(), ROPC_DISABLED_PROPERTY),
        (fresh.is_err(), "the OAuth application"),
    ]
    .into_iter()
    .filter_map(|(failed, what)| failed.then_some(what))
    .collect();
    if causes.is_empty() {
        causes.push(format!(
            "none of the known causes holds (inbound OAuth on, password grant allowed, client active){}: check the integration user's password and that the user is active and not locked out",
            if unread.is_empty() {
                String::new()
            } else {
                format!("; could not read {}", unread.join(", "))
            }
        ));
    }
    causes.join("; ")
}

/// What plan says when the release deprecates the registry type the procedure
/// uses (`oauth_entity` with `type=client`, deprecated from Zurich in favour of
/// the Machine Identity Console).
pub fn registry_deprecation(release: &servicenow_client::release::Release) -> Option<String> {
    use servicenow_client::release::Family;
    (release.at_least(Family::Zurich) == Some(true)).then(|| {
        format!(
            "the OAuth registry type used here (\"OAuth API endpoint for external clients\", type=client) is deprecated on {release} in favour of the Machine Identity Console; whether the password grant keeps working on it is not documented, so verify proves it with a token grant"
        )
    })
}
