//! `Workflow::rotate_secret`: a new OAuth client secret for the application
//! this integration made.

use super::*;

impl Workflow {
    /// Replaces the OAuth application's client secret with a new one and returns
    /// it in the manual step that enters it in Bright Pattern — for when the
    /// secret of the run that created the application was never shown or is
    /// lost. Only an application this integration created (its ledger and the
    /// mark in its comments agree) is rotated; anything else is refused. Takes
    /// the lease, as apply does. The integration account keeps the old secret
    /// until a person enters the new one (the checklist says how).
    pub async fn rotate_secret(&self) -> Result<SecretRotation, WorkflowError> {
        self.require_preflight(false).await?;
        let loaded = self.load_ledger(true).await?;
        self.refuse_if_held(&loaded)?;
        let (result, footprint) = self
            .holding_lease("rotate-secret", self.rotate_secret_holding())
            .await?;
        result.map(|mut rotation| {
            rotation.footprint = footprint;
            rotation
        })
    }

    pub(super) async fn rotate_secret_holding(&self) -> Result<SecretRotation, WorkflowError> {
        let ctx = &self.ctx;
        self.load_for_writing(false).await?;
        let step = StepId::OAUTH_ENDPOINT;
        let fail = |source: StepError| WorkflowError::Step {
            step: step.clone(),
            source,
        };
        let app = ctx
            .oauth_applications()
            .await
            .map_err(|e| fail(e.into()))?
            .managed;
        let ledger = ctx.ledger().await;
        let mark = crate::steps::oauth_endpoint::marker_prefix(ctx);
        let app = match app {
            Some(app)
                if ledger.oauth_application.as_ref() == Some(&app.sys_id)
                    && app.comments.contains(&mark) =>
            {
                app
            }
            Some(app) => {
                return Err(fail(StepError::Refused {
                    record: format!("OAuth application {:?} ({})", app.name, app.sys_id),
                    reason: "its secret is rotated only when the ledger and the mark in its comments agree it is this integration's".into(),
                }));
            }
            None => {
                return Err(fail(StepError::Missing {
                    record: format!("OAuth application {:?}", ctx.spec.oauth.name),
                    hint: "run apply to create it (a new secret comes with it)".into(),
                }));
            }
        };
        let update_set = self.begin_update_set().await?;
        let secret = ctx
            .servicenow
            .oauth_applications()
            .rotate_secret(&app.sys_id)
            .await;
        self.finish_update_set(update_set, secret.is_ok()).await;
        let secret = secret.map_err(|e| fail(e.into()))?;
        let mut upstream = Upstream::default();
        upstream.add_outputs(vec![Arc::new(crate::oauth_secret::GeneratedSecret {
            client_id: app.client_id.clone(),
            secret,
        })]);
        let manual = crate::steps::integration_account::manual(ctx, Some(&app), &upstream);
        // Remembered, as an apply's would be, so a verify by this workflow proves it.
        self.handed_on
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add_outputs(upstream.outputs_only().into_outputs());
        Ok(SecretRotation {
            application: format!("OAuth application {:?} ({})", app.name, app.sys_id),
            client_id: app.client_id,
            manual,
            footprint: Footprint::default(),
        })
    }
}
