//! `Workflow::rotate_secret`: a new secret for the record a step keeps one for
//! (the OAuth application's client secret): the step that keeps it replaces it
//! ([`Step::rotate_secret`](crate::Step::rotate_secret)), the steps that use it
//! say what a person does with the new one ([`Step::after_rotation`](crate::Step::after_rotation)).

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
        // The first step that keeps a secret rotates it.
        let Some(step) = self.steps.iter().find(|s| s.rotates_secret()).cloned() else {
            return Err(WorkflowError::Step {
                step: StepId::custom("rotate_secret"),
                source: StepError::Missing {
                    record: "a step that keeps a secret".into(),
                    hint: "no registered step rotates one".into(),
                },
            });
        };
        let update_set = self.begin_update_set().await?;
        let result = step.rotate_secret(ctx).await;
        self.finish_update_set(update_set, result.is_ok()).await;
        let applied = result.map_err(|source| WorkflowError::Step {
            step: step.id(),
            source,
        })?;
        let application = format!("{} ({})", step.resource(ctx), applied.detail);
        let mut upstream = Upstream::default();
        upstream.add_outputs(&step.id(), applied.into_outputs());
        let client_id = upstream
            .output_of::<crate::oauth_secret::GeneratedSecret>(&step.id())
            .map(|g| g.client_id.clone())
            .unwrap_or_default();
        // What a person does with the new secret, as the steps that use it say.
        let manual = self
            .steps
            .iter()
            .filter(|s| s.depends_on().contains(&step.id()))
            .find_map(|s| s.after_rotation(ctx, &upstream))
            .unwrap_or_else(|| {
                crate::model::ManualStep::new("Enter the new secret where the old one was used")
            });
        // Remembered, as an apply's would be, so a verify by this workflow proves it.
        self.handed_on
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add_kept(upstream.outputs_only().into_outputs());
        Ok(SecretRotation {
            application,
            client_id,
            manual,
            footprint: Footprint::default(),
        })
    }
}
