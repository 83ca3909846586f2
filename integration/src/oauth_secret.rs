//! The OAuth application's client secret as a run hands it on: generated (or
//! rotated) by the OAuth endpoint step, entered by the integration-account
//! step, shown by rotate-secret. ServiceNow never returns a secret, so a run
//! knows one only when it made it or was given it.

use secrecy::SecretString;
use servicenow_client::oauth::OAuthApplication;

use crate::step::{Context, StepError, StepResult, Upstream};

/// What a change of the secret shows.
pub const SECRET_SHOWN: &str = "(generated, hidden)";

/// A client secret generated (or rotated) in this run, handed from the step that
/// made it to the steps after it as an [output](crate::Applied::with_output).
#[derive(Clone)]
pub(crate) struct GeneratedSecret {
    pub(crate) client_id: String,
    pub(crate) secret: SecretString,
}

/// The client secret of `app` when this run knows it: generated or rotated by
/// an earlier step of this run (an [output](Upstream::output)), or supplied by
/// the caller.
pub(crate) fn known_secret(
    ctx: &Context,
    app: &OAuthApplication,
    upstream: &Upstream,
) -> Option<SecretString> {
    upstream
        .output::<GeneratedSecret>()
        .filter(|g| g.client_id == app.client_id)
        .map(|g| g.secret.clone())
        .or_else(|| ctx.options.oauth_client_secret.clone())
}

/// The client secret for step 6: the one generated in this run, or a new one for
/// an application this workflow created (the old one cannot be read back; the
/// new one is returned as a [`GeneratedSecret`] to hand on). An application
/// someone else made keeps its secret: that is an error.
pub(crate) async fn secret_for(
    ctx: &Context,
    app: &OAuthApplication,
    upstream: &Upstream,
) -> StepResult<(SecretString, Option<GeneratedSecret>)> {
    if let Some(generated) = upstream
        .output::<GeneratedSecret>()
        .filter(|g| g.client_id == app.client_id)
    {
        return Ok((generated.secret.clone(), None));
    }
    let ours = ctx.ledger().await.oauth_application.as_ref() == Some(&app.sys_id);
    if !ours {
        return Err(StepError::Rejected {
            what: format!("reading the client secret of OAuth application {:?}", app.name),
            reason: "the application was not created by bp-servicenow, and ServiceNow never returns a secret".into(),
            hint: "rename [oauth].name so bp-servicenow creates its own, or enter the secret in Contact Center Administrator by hand".into(),
        });
    }
    let secret = ctx
        .servicenow
        .oauth_applications()
        .rotate_secret(&app.sys_id)
        .await?;
    Ok((
        secret.clone(),
        Some(GeneratedSecret {
            client_id: app.client_id.clone(),
            secret,
        }),
    ))
}
