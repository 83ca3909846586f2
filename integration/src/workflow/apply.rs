//! `Workflow::apply`: read first, then under the lease each step observes
//! again and writes; proofs by effect after the lease is given back.

use super::*;

impl Workflow {
    /// Makes the instance and tenant match the spec, step by step. A second
    /// apply makes no write.
    ///
    /// Reads first: the preflight, the ledger (with another run's lease), and
    /// every step's plan. When nothing is to be written, that is all: no lease
    /// is taken and the report's `writes` is 0. Another run holding the
    /// integration is [`ApplyError::NotStarted`] with [`WorkflowError::Held`],
    /// nothing written. Otherwise apply takes the integration's lease, reads
    /// the ledger again, and each step observes again before it writes; the
    /// lease is given back once the last write is made, before the proofs by
    /// effect.
    pub async fn apply(&self) -> Result<ApplyReport, ApplyError> {
        self.apply_checked(None).await
    }

    /// Applies exactly `saved`, a plan made earlier ([`Workflow::plan`],
    /// kept as its JSON and read back): apply as [`apply`](Self::apply)
    /// does, after proving that it would do what `saved` says. It plans
    /// again before taking the lease and once more under it (before the
    /// first write, the tool's own corrections included); when anything
    /// moved since — a step's action, field changes, warnings or checklist,
    /// a correction of the tool's rows — it is [`WorkflowError::PlanMoved`]
    /// naming each difference, and nothing is written ([`Plan::moved_from`]).
    pub async fn apply_plan(&self, saved: &Plan) -> Result<ApplyReport, ApplyError> {
        self.apply_checked(Some(saved)).await
    }

    async fn apply_checked(&self, saved: Option<&Plan>) -> Result<ApplyReport, ApplyError> {
        let start = self.writes_sent();
        self.require_preflight(true).await?;
        let loaded = self.load_ledger(true).await?;
        self.refuse_if_held(&loaded).map_err(WorkflowError::from)?;
        let planned = self.planned_steps().await?;
        if let Some(saved) = saved {
            let moved = moved_since(saved, &loaded, &planned);
            if !moved.is_empty() {
                return Err(ApplyError::NotStarted(WorkflowError::PlanMoved(moved)));
            }
        }
        let taken = taken_in(&planned);
        if !taken.is_empty() {
            return Err(ApplyError::NotStarted(WorkflowError::Taken(taken)));
        }
        let writes = planned
            .iter()
            .any(|p| matches!(p.action, Action::Create | Action::Update | Action::Adopt));
        let switched = loaded
            .ledger
            .as_ref()
            .is_ok_and(|l| l.update_set_switch.is_some());
        if !writes && loaded.unflagged.is_empty() && !switched {
            // Nothing to write: no lease, no write.
            for p in &planned {
                for warning in &p.warnings {
                    self.ctx.emit(Event::Warning {
                        step: p.step.clone(),
                        message: warning.clone(),
                    });
                }
            }
            return Ok(ApplyReport {
                steps: planned.into_iter().map(crate::step::settled).collect(),
                proofs: Vec::new(),
                footprint: Footprint {
                    writes: self.writes_sent().saturating_sub(start),
                    ..Footprint::default()
                },
            });
        }
        let (result, footprint) = self
            .holding_lease("apply", self.apply_holding(saved))
            .await?;
        let (mut report, upstream) = match result {
            Ok(done) => done,
            Err(ApplyError::Steps(mut failed)) => {
                failed.report.footprint = footprint;
                return Err(ApplyError::Steps(failed));
            }
            Err(e) => return Err(e),
        };
        report.footprint = footprint;
        self.prove_changed(&mut report, &upstream).await;
        Ok(report)
    }

    pub(super) async fn apply_holding(
        &self,
        saved: Option<&Plan>,
    ) -> Result<(ApplyReport, Upstream), ApplyError> {
        let mut report = ApplyReport {
            steps: Vec::new(),
            proofs: Vec::new(),
            footprint: Footprint::default(),
        };
        let mut failures: Vec<(StepId, StepError)> = Vec::new();
        let mut upstream = Upstream::default();
        if let Some(saved) = saved {
            // Under the lease, before the first write (the corrections of the
            // tool's own rows included): still what was saved?
            let loaded = self
                .load_ledger(true)
                .await
                .map_err(ApplyError::NotStarted)?;
            let planned = self.planned_steps().await.map_err(ApplyError::NotStarted)?;
            let moved = moved_since(saved, &loaded, &planned);
            if !moved.is_empty() {
                return Err(ApplyError::NotStarted(WorkflowError::PlanMoved(moved)));
            }
        }
        self.load_for_writing(false)
            .await
            .map_err(ApplyError::NotStarted)?;
        // Before anything is written: no record with a configured name may be
        // someone else's (unless the spec adopts it).
        let taken = self.taken().await.map_err(ApplyError::NotStarted)?;
        if !taken.is_empty() {
            return Err(ApplyError::NotStarted(WorkflowError::Taken(taken)));
        }
        let update_set = self
            .begin_update_set()
            .await
            .map_err(ApplyError::NotStarted)?;
        for wave in &self.waves {
            let runs = futures_util::future::join_all(wave.iter().map(|&i| {
                let step = self.steps[i].clone();
                let id = step.id();
                let blocked = step
                    .depends_on()
                    .iter()
                    .any(|d| failures.iter().any(|(f, _)| f == d) || skipped(&report, d));
                let ctx = self.ctx.clone();
                let upstream = &upstream;
                async move {
                    if blocked {
                        return (id, step.resource(&ctx), Ok(None));
                    }
                    ctx.emit(Event::StepStarted {
                        step: id.clone(),
                        resource: step.resource(&ctx),
                    });
                    let result = step.apply(&ctx, upstream).await;
                    // Whatever the step recorded is saved, even when it failed midway.
                    let saved = ctx.save_ledger().await;
                    let result = match (result, saved) {
                        (Ok(applied), Ok(())) => Ok(Some(applied)),
                        (Ok((applied, _)), Err(error)) => Err(StepFailure {
                            planned: Some(applied.planned),
                            error: StepError::Ledger(error),
                        }),
                        (Err(failure), _) => Err(failure),
                    };
                    let outcome = match &result {
                        Ok(Some((a, _))) => a.outcome,
                        _ => Outcome::Failed,
                    };
                    ctx.emit(Event::StepFinished {
                        step: id.clone(),
                        outcome,
                    });
                    (id, step.resource(&ctx), result)
                }
            }))
            .await;
            for (id, resource, result) in runs {
                match result {
                    Ok(Some((applied, outputs))) => {
                        upstream.add_plan(applied.planned.clone());
                        upstream.add_outputs(&id, outputs);
                        report.steps.push(applied);
                    }
                    Ok(None) => report.steps.push(placeholder(
                        id,
                        resource,
                        Outcome::Skipped,
                        "not run: a step it depends on failed",
                    )),
                    Err(StepFailure { planned, error }) => {
                        let detail = error.to_string();
                        report.steps.push(match planned {
                            Some(planned) => AppliedStep {
                                planned,
                                outcome: Outcome::Failed,
                                detail,
                            },
                            None => placeholder(id.clone(), resource, Outcome::Failed, &detail),
                        });
                        failures.push((id, error));
                    }
                }
            }
        }
        // Added to what earlier applies handed on (the newest wins): an apply
        // that changed nothing does not forget the secret an earlier one made.
        self.handed_on
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add_kept(upstream.outputs_only().into_outputs());
        let wrote_configuration = report
            .steps
            .iter()
            .any(|s| s.outcome == Outcome::Done && self.writes_configuration(&s.planned.step));
        report.proofs.extend(
            self.finish_update_set(update_set, wrote_configuration)
                .await,
        );
        if !failures.is_empty() {
            return Err(ApplyError::Steps(StepsFailed { failures, report }));
        }
        Ok((report, upstream))
    }

    /// Proves by effect what an apply changed (nothing changed: nothing to
    /// prove). Reads only.
    pub(super) async fn prove_changed(&self, report: &mut ApplyReport, upstream: &Upstream) {
        let changed: Vec<StepId> = report
            .steps
            .iter()
            .filter(|s| s.outcome == Outcome::Done)
            .map(|s| s.planned.step.clone())
            .collect();
        let proofs =
            futures_util::future::join_all(changed.iter().map(|id| async move {
                (id.clone(), self.step(id).prove(&self.ctx, upstream).await)
            }))
            .await;
        for (id, proof) in proofs {
            match proof {
                Ok(checks) => report.proofs.extend(checks),
                Err(error) => report.proofs.push(
                    Check::pending(
                        format!("step {id}: proof by effect"),
                        format!("could not be made: {error}"),
                        "run verify once the instance and tenant answer",
                    )
                    .by_effect(),
                ),
            }
        }
    }
}

fn skipped(report: &ApplyReport, id: &StepId) -> bool {
    report
        .steps
        .iter()
        .any(|s| &s.planned.step == id && s.outcome == Outcome::Skipped)
}

fn placeholder(id: StepId, resource: String, outcome: Outcome, detail: &str) -> AppliedStep {
    AppliedStep {
        planned: PlannedStep::new(id, resource, Change::of(Action::Unchanged, Vec::new())),
        outcome,
        detail: detail.to_owned(),
    }
}

/// What moved between `saved` and what is planned now (nothing when apply
/// would do exactly what `saved` says): [`WorkflowError::PlanMoved`] then.
fn moved_since(saved: &Plan, loaded: &Loaded, planned: &[PlannedStep]) -> Vec<String> {
    crate::report::moved(saved, planned, &super::plan::corrections(loaded))
}
