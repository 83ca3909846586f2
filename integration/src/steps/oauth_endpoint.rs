//! Step 5: the OAuth endpoint for external clients (`oauth_entity`, type `client`)
//! the integration account authenticates with. Its secret is generated here,
//! handed to step 6 in memory, and never stored, printed or read back.

use async_trait::async_trait;
use secrecy::SecretString;
use servicenow_client::oauth::{NewOAuthApplication, OAuthApplication};
use servicenow_client::{Error, Result};

use crate::report::{Check, Removal, RemovalOutcome, Teardown, teardown_of};
use crate::step::{Change, Context, FieldChange, GeneratedSecret, Step, StepId};

/// Step 5.
#[derive(Debug, Clone, Copy, Default)]
pub struct OAuthEndpointStep;

/// The application with the spec's name, when there is one.
#[derive(Debug, Clone)]
pub struct OAuthEndpointState {
    application: Option<OAuthApplication>,
}

/// What a change of the secret shows.
pub const SECRET_SHOWN: &str = "(generated, hidden)";

#[async_trait]
impl Step for OAuthEndpointStep {
    type State = OAuthEndpointState;

    fn id(&self) -> StepId {
        StepId::OauthEndpoint
    }

    fn resource(&self, ctx: &Context) -> String {
        format!("OAuth application {:?}", ctx.spec.oauth.name)
    }

    async fn observe(&self, ctx: &Context) -> Result<OAuthEndpointState> {
        Ok(OAuthEndpointState {
            application: ctx.oauth_application().await?,
        })
    }

    fn change(&self, ctx: &Context, state: &OAuthEndpointState) -> Change {
        let o = &ctx.spec.oauth;
        let changes = match &state.application {
            None => vec![
                FieldChange::new("type", None, "client"),
                FieldChange::new("client_secret", None, SECRET_SHOWN),
                FieldChange::new(
                    "access_token_lifespan",
                    None,
                    o.access_token_lifespan.to_string(),
                ),
                FieldChange::new(
                    "refresh_token_lifespan",
                    None,
                    o.refresh_token_lifespan.to_string(),
                ),
            ],
            Some(app) => [
                FieldChange::diff("active", app.active, true),
                FieldChange::diff(
                    "access_token_lifespan",
                    app.access_token_lifespan
                        .map(|l| l.to_string())
                        .unwrap_or_default(),
                    o.access_token_lifespan,
                ),
                FieldChange::diff(
                    "refresh_token_lifespan",
                    app.refresh_token_lifespan
                        .map(|l| l.to_string())
                        .unwrap_or_default(),
                    o.refresh_token_lifespan,
                ),
            ]
            .into_iter()
            .flatten()
            .collect(),
        };
        Change::create_or_update(state.application.is_some(), changes)
    }

    async fn apply(
        &self,
        ctx: &Context,
        state: OAuthEndpointState,
        change: &Change,
    ) -> Result<String> {
        let apps = ctx.servicenow.oauth_applications();
        let o = &ctx.spec.oauth;
        match &state.application {
            None => {
                let id = servicenow_client::wire::SysId::generate();
                ctx.reserve(|l| l.oauth_application = Some(id.clone()))
                    .await?;
                let created = apps
                    .create(
                        &NewOAuthApplication::new(o.name.clone())
                            .with_sys_id(id)
                            .lifespans(o.access_token_lifespan, o.refresh_token_lifespan)
                            .comments("Created by bp-servicenow for the Bright Pattern integration account."),
                    )
                    .await?;
                let sys_id = created.application.sys_id.clone();
                ctx.keep_generated_secret(GeneratedSecret {
                    client_id: created.application.client_id.clone(),
                    secret: created.client_secret.clone(),
                });
                ctx.record(|l| l.oauth_application = Some(sys_id.clone()))
                    .await;
                ctx.oauth_application
                    .set(Some(created.application.clone()))
                    .await;
                Ok(format!(
                    "created {sys_id} (client id {})",
                    created.application.client_id
                ))
            }
            Some(app) => {
                let fields: Vec<&str> = change.changes.iter().map(|c| c.field.as_str()).collect();
                let mut latest = app.clone();
                if fields.iter().any(|f| f.ends_with("lifespan")) {
                    latest = apps
                        .update_lifespans(
                            &app.sys_id,
                            o.access_token_lifespan,
                            o.refresh_token_lifespan,
                        )
                        .await?;
                }
                if fields.contains(&"active") {
                    latest = apps.set_active(&app.sys_id, true).await?;
                }
                ctx.oauth_application.set(Some(latest)).await;
                Ok(format!("updated {}", fields.join(", ")))
            }
        }
    }

    async fn verify(&self, ctx: &Context) -> Result<Vec<Check>> {
        let state = self.observe(ctx).await?;
        let name = format!("OAuth application {:?}", ctx.spec.oauth.name);
        Ok(match &state.application {
            None => vec![Check::fail(name, "missing", "run apply to create it")],
            Some(app) => vec![Check::when(
                app.active,
                format!("{name} active"),
                if app.active {
                    "active"
                } else {
                    "inactive: token requests are denied"
                },
                "run apply to activate it",
            )],
        })
    }

    async fn undo(&self, ctx: &Context) -> Result<Vec<Removal>> {
        let ledger = ctx.ledger().await;
        let apps = ctx.servicenow.oauth_applications();
        let resource = format!("OAuth application {:?}", ctx.spec.oauth.name);
        let found = apps.get_by_name(&ctx.spec.oauth.name).await?;
        let removal = match teardown_of(
            &resource,
            ledger.oauth_application.as_ref(),
            found.as_ref().map(|r| &r.sys_id),
        ) {
            Teardown::Delete(id) => {
                apps.delete(&id).await?;
                Removal::new(
                    resource,
                    RemovalOutcome::Removed,
                    format!("created by bp-servicenow ({id})"),
                )
            }
            Teardown::Report(removal) => removal,
            Teardown::Nothing => return Ok(Vec::new()),
        };
        ctx.record(|l| l.oauth_application = None).await;
        ctx.oauth_application.clear().await;
        Ok(vec![removal])
    }
}

/// The client secret for step 6: the one generated in this run, or a new one for
/// an application this workflow created (the old one cannot be read back). An
/// application someone else made keeps its secret: that is an error.
pub(crate) async fn secret_for(ctx: &Context, app: &OAuthApplication) -> Result<SecretString> {
    if let Some(generated) = ctx.take_generated_secret() {
        if generated.client_id == app.client_id {
            return Ok(generated.secret);
        }
    }
    let ours = ctx.ledger().await.oauth_application.as_ref() == Some(&app.sys_id);
    if !ours {
        return Err(Error::OperationFailed {
            operation: format!("reading the client secret of OAuth application {:?}", app.name),
            state: "impossible".into(),
            message: Some("the application was not created by bp-servicenow, and ServiceNow never returns a secret".into()),
            detail: Some("rename [oauth].name so bp-servicenow creates its own, or enter the secret in Contact Center Administrator by hand".into()),
        });
    }
    let secret = ctx
        .servicenow
        .oauth_applications()
        .rotate_secret(&app.sys_id)
        .await?;
    ctx.keep_generated_secret(GeneratedSecret {
        client_id: app.client_id.clone(),
        secret: secret.clone(),
    });
    Ok(secret)
}
