//! `Workflow::confirm`: a person's word that a manual step is done, recorded
//! in the ledger (who and when) and bound to the values the step asks for.

use super::*;

impl Workflow {
    /// Records that `by` did the manual step `step` (the integration account,
    /// in its default manual mode): from then on plan shows it unchanged,
    /// apply settles it, and verify counts it ok ("confirmed by … on …") — as
    /// long as the step asks for the same values (a new OAuth application
    /// makes it pending again). Teardown forgets it. Only a step whose plan is
    /// manual can be confirmed; confirming one already confirmed writes nothing
    /// and gives the confirmation on record. Takes the lease, as apply does.
    pub async fn confirm(&self, step: &StepId, by: &str) -> Result<Confirmation, WorkflowError> {
        let fail = |source: StepError| WorkflowError::Step {
            step: step.clone(),
            source,
        };
        let by = by.trim();
        if by.is_empty() || by.chars().any(char::is_control) {
            return Err(fail(StepError::Rejected {
                what: format!("confirming step {step}"),
                reason: "who confirms it must be named (no control characters)".into(),
                hint: "pass who did it".into(),
            }));
        }
        let registered = self.steps.iter().find(|s| &s.id() == step).cloned();
        let Some(registered) = registered else {
            return Err(fail(StepError::Missing {
                record: format!("step {step}"),
                hint: "no registered step has this id".into(),
            }));
        };
        let loaded = self.load_ledger(true).await?;
        if let Some(on_record) = self.ctx.confirmation(step).await {
            let planned = registered
                .plan(&self.ctx, &Upstream::default())
                .await
                .map_err(fail)?;
            if planned.action == Action::Unchanged {
                return Ok(on_record); // nothing to write
            }
        }
        self.refuse_if_held(&loaded)?;
        let by = by.to_owned();
        let (result, _footprint) = self
            .holding_lease("confirm", async {
                self.load_for_writing(false).await?;
                let planned = registered
                    .plan(&self.ctx, &Upstream::default())
                    .await
                    .map_err(fail)?;
                let manual = match (&planned.action, &planned.manual) {
                    (Action::Manual, Some(manual)) => manual,
                    _ => {
                        return Err(fail(StepError::Rejected {
                            what: format!("confirming step {step}"),
                            reason: format!(
                                "its plan is {}, not a manual step waiting for a person",
                                planned.action
                            ),
                            hint: "only a step that waits for a person is confirmed".into(),
                        }));
                    }
                };
                let confirmation = Confirmation {
                    by: by.chars().take(120).collect(),
                    at_ms: crate::lease::now_ms(),
                    values: Confirmation::values_of(manual),
                };
                let (name, kept) = (step.as_str().to_owned(), confirmation.clone());
                self.ctx
                    .record(move |l| {
                        l.confirmed.insert(name, kept);
                    })
                    .await;
                self.ctx
                    .save_ledger()
                    .await
                    .map_err(WorkflowError::Ledger)?;
                Ok(confirmation)
            })
            .await?;
        result
    }
}
