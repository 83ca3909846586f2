//! `Workflow::teardown` and its preview: every step's undo, newest first.

use super::*;
use crate::report::Removal;

impl Workflow {
    /// Removes what apply created, newest first; leaves alone what it did not
    /// create, and never deactivates plugins. Removes the ledger at the end.
    ///
    /// Reads first, as apply does: when there is nothing to remove or restore
    /// and no ledger to delete, no lease is taken and nothing is written.
    /// Otherwise it takes the integration's lease and runs each step's undo.
    pub async fn teardown(&self) -> Result<TeardownReport, WorkflowError> {
        let start = self.writes_sent();
        self.require_preflight(false).await?;
        let loaded = self.load_ledger(true).await?;
        self.refuse_if_held(&loaded)?;
        let steps = self.teardown_preview().await?;
        let ledger_empty = loaded.ledger.as_ref().is_ok_and(Ledger::is_empty);
        let changes = steps.iter().flat_map(|s| s.removals.iter()).any(|r| {
            matches!(
                r.outcome,
                RemovalOutcome::Removed | RemovalOutcome::Restored
            )
        });
        if !changes && ledger_empty && loaded.unflagged.is_empty() {
            return Ok(TeardownReport {
                steps,
                footprint: Footprint {
                    writes: self.writes_sent().saturating_sub(start),
                    ..Footprint::default()
                },
            });
        }
        let (result, footprint) = self
            .holding_lease("teardown", self.teardown_holding())
            .await?;
        result.map(|mut report| {
            report.footprint = footprint;
            report
        })
    }

    /// Every step's undo on a preview context (reads only), newest first.
    pub(super) async fn teardown_preview(&self) -> Result<Vec<TeardownStep>, WorkflowError> {
        let preview = self.ctx.preview().await;
        let mut steps = Vec::new();
        for step in self.steps.iter().rev() {
            let id = step.id();
            let mut removals = step
                .undo(&preview)
                .await
                .map_err(|source| WorkflowError::Step {
                    step: id.clone(),
                    source,
                })?;
            removals.extend(forget_confirmation(&preview, &id).await);
            steps.push(TeardownStep { step: id, removals });
        }
        Ok(steps)
    }

    /// What [`teardown`](Self::teardown) would do now, record by record —
    /// remove, restore, leave alone, already gone — and what its preflight
    /// would refuse. Reads only: every step's [`undo`](crate::Step::undo) runs
    /// on a preview context whose clients refuse writes, deciding exactly as
    /// teardown decides; no lease is taken and the ledger is not saved. A
    /// corrupt ledger is an error, as it is for teardown.
    pub async fn teardown_plan(&self) -> Result<TeardownPlan, WorkflowError> {
        let start = self.writes_sent();
        let loaded = self.load_ledger(true).await?;
        let steps = self.teardown_preview().await?;
        let refusals = self.preflight_knowing(false, None).await?;
        Ok(TeardownPlan {
            steps,
            refusals,
            held_by: loaded.held,
            footprint: Footprint {
                writes: self.writes_sent().saturating_sub(start),
                ..Footprint::default()
            },
        })
    }

    pub(super) async fn teardown_holding(&self) -> Result<TeardownReport, WorkflowError> {
        self.load_for_writing(false).await?;
        let update_set = self.begin_update_set().await?;
        let undone = self.undo_all().await;
        let wrote_configuration = undone.as_ref().is_ok_and(|steps| {
            steps.iter().any(|s| {
                self.writes_configuration(&s.step)
                    && s.removals.iter().any(|r| {
                        matches!(
                            r.outcome,
                            RemovalOutcome::Removed | RemovalOutcome::Restored
                        )
                    })
            })
        });
        self.finish_update_set(update_set, wrote_configuration)
            .await;
        // The ledger is deleted once nothing is left in it (the update set
        // switch included).
        self.ctx
            .save_ledger()
            .await
            .map_err(WorkflowError::Ledger)?;
        Ok(TeardownReport {
            steps: undone?,
            footprint: Footprint::default(),
        })
    }

    /// Every step's undo, newest first, the ledger saved after each.
    pub(super) async fn undo_all(&self) -> Result<Vec<TeardownStep>, WorkflowError> {
        let mut steps = Vec::new();
        for step in self.steps.iter().rev() {
            let id = step.id();
            let removals = match step.undo(&self.ctx).await {
                Ok(mut removals) => {
                    removals.extend(forget_confirmation(&self.ctx, &id).await);
                    Ok(removals)
                }
                Err(e) => Err(e),
            };
            self.ctx
                .save_ledger()
                .await
                .map_err(|source| WorkflowError::Step {
                    step: id.clone(),
                    source: StepError::Ledger(source),
                })?;
            steps.push(TeardownStep {
                step: id.clone(),
                removals: removals.map_err(|source| WorkflowError::Step {
                    step: id.clone(),
                    source,
                })?,
            });
        }
        Ok(steps)
    }
}

/// A person's confirmation of a manual step of `step` is forgotten with the
/// step (what the person did is theirs to undo; the report says so).
async fn forget_confirmation(ctx: &Context, step: &StepId) -> Option<Removal> {
    let confirmation = ctx.confirmation(step).await?;
    let name = step.as_str().to_owned();
    ctx.record(move |l| {
        l.confirmed.remove(&name);
    })
    .await;
    Some(Removal::new(
        format!("the confirmation that a person did step {step}"),
        RemovalOutcome::Removed,
        format!(
            "confirmed by {}: the ledger forgets it (undo by hand what the person did)",
            confirmation.by
        ),
    ))
}
