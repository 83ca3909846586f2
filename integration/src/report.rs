//! What plan, apply, verify and teardown return: serialisable to JSON, printable
//! for people, and free of secrets.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::lease::{LeaseHeld, LeaseHolder};
use crate::model::{Action, Change, FieldChange, PreflightProblem, StepId};
pub use crate::model::{MASK, ManualField, ManualStep, ManualValue, UNKNOWN_SECRET};

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlannedStep {
    /// The step.
    pub step: StepId,
    /// What it manages.
    pub resource: String,
    /// What it will do.
    pub action: Action,
    /// The fields that change.
    pub changes: Vec<FieldChange>,
    /// Things a person should know.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// For a manual step: what to do by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual: Option<ManualStep>,
}

impl PlannedStep {
    pub(crate) fn new(step: StepId, resource: String, change: Change) -> Self {
        Self {
            step,
            resource,
            action: change.action,
            changes: change.changes,
            warnings: change.warnings,
            manual: change.manual,
        }
    }
}

/// What a run cost the instance and the tenant: the writes it sent, and what
/// it did to the tool's own bookkeeping. Every report carries one (flattened
/// into its JSON: `writes`, `lease_broken`, `bookkeeping`, `update_set`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Footprint {
    /// Records written to the instance and the tenant: creates, updates and
    /// deletes, the lease and the ledger included (a batch counts each write
    /// it carries; token grants are not writes). Zero for a run with nothing
    /// to do, and for every preview.
    #[serde(default)]
    pub writes: u64,
    /// The leases of other runs this run took over (`--break-lease`): whose,
    /// where, since when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lease_broken: Vec<LeaseHolder>,
    /// What the run did to the tool's own rows: malformed lease rows
    /// cleared, rows of an older version marked `ignore_cache`/`is_private`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bookkeeping: Vec<String>,
    /// The update set the run's configuration writes landed in (or, for a
    /// plan, would land in), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_set: Option<UpdateSetUse>,
}

impl fmt::Display for Footprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for holder in &self.lease_broken {
            writeln!(f, "took over the lease of {holder} (--break-lease)")?;
        }
        for note in &self.bookkeeping {
            writeln!(f, "bookkeeping: {note}")?;
        }
        if let Some(set) = &self.update_set {
            writeln!(f, "{set}")?;
        }
        match self.writes {
            0 => write!(f, "writes: none"),
            1 => write!(
                f,
                "writes: 1 (to the instance and the tenant, the lease and the ledger included)"
            ),
            n => write!(
                f,
                "writes: {n} (to the instance and the tenant, the lease and the ledger included)"
            ),
        }
    }
}

/// Where a run's configuration writes land on a change-managed instance: the
/// update set, and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdateSetUse {
    /// The update set's name.
    pub name: String,
    /// Its sys_id, when it exists (a plan may name one apply will create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sys_id: Option<servicenow_client::wire::SysId>,
    /// How it was chosen: the spec's `update_set`, or the administrator's
    /// current one.
    pub chosen_by: UpdateSetChoice,
    /// Whether the run created it (a plan: would create it), as the spec's
    /// `update_set` asks when no set has the name.
    #[serde(default)]
    pub created: bool,
    /// Whether the run proved its writes landed there (by reading the
    /// captured changes back); `None` when nothing was captured to check, or
    /// for a plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proven: Option<bool>,
}

/// How the update set of a run was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UpdateSetChoice {
    /// `[servicenow] update_set` names it.
    Spec,
    /// The administrator's current update set (the spec names none).
    Current,
    /// The instance's default update set (the administrator has chosen none).
    Default,
}

impl fmt::Display for UpdateSetUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.chosen_by {
            UpdateSetChoice::Spec => "named by the spec",
            UpdateSetChoice::Current => "the administrator's current one",
            UpdateSetChoice::Default => "the instance's default one: the administrator chose none",
        };
        write!(f, "update set: {:?} ({how}", self.name)?;
        if self.created {
            write!(f, "; a new set, made in progress by the writing run")?;
        }
        match self.proven {
            Some(true) => write!(f, "; the captured changes were read back there)"),
            Some(false) => write!(f, "; NOT proven: the changes were not found there)"),
            None => write!(f, ")"),
        }
    }
}

/// What a run would change, step by step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Plan {
    /// Every step, in procedure order.
    pub steps: Vec<PlannedStep>,
    /// What a person should know about the whole run (a corrupt ledger, another
    /// integration with this tenant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The instance's release, read at the start of the plan.
    #[serde(default)]
    pub release: servicenow_client::release::Release,
    /// Why apply would refuse to start (the administrator's roles, the
    /// release), as its preflight would find; empty when it would start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<PreflightProblem>,
    /// The run that holds the integration now, if another does: apply would
    /// be refused ([`WorkflowError::Held`](crate::WorkflowError::Held)) until
    /// it ends or its lease expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<LeaseHolder>,
    /// What apply would correct in the tool's own rows (rows an older version
    /// made without `ignore_cache`/`is_private`): writes, though no step's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bookkeeping: Vec<String>,
    /// What the plan cost (no write: `writes` is 0) and where apply's
    /// configuration writes would land (`update_set`).
    #[serde(flatten)]
    pub footprint: Footprint,
}

impl Plan {
    /// Whether applying would write anything (manual steps aside): a step's
    /// change, or a correction of the tool's own rows. Without, apply takes no
    /// lease and sends no write.
    pub fn has_changes(&self) -> bool {
        !self.bookkeeping.is_empty()
            || self
                .steps
                .iter()
                .any(|s| matches!(s.action, Action::Create | Action::Update | Action::Adopt))
    }

    /// Whether apply would refuse: its preflight would fail
    /// ([`refusals`](Self::refusals)), or a step refuses to touch a record it
    /// cannot prove its own ([`Action::Refuse`]).
    pub fn would_refuse(&self) -> bool {
        !self.refusals.is_empty() || self.steps.iter().any(|s| s.action == Action::Refuse)
    }

    /// The step, when planned.
    pub fn step(&self, id: StepId) -> Option<&PlannedStep> {
        self.steps.iter().find(|s| s.step == id)
    }
}

/// How an applied step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Its change was made.
    Done,
    /// Nothing needed doing.
    Unchanged,
    /// It waits for a person.
    Manual,
    /// It failed (see the error).
    Failed,
    /// It did not run because a step it depends on failed.
    Skipped,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Done => "done",
            Outcome::Unchanged => "unchanged",
            Outcome::Manual => "manual",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        })
    }
}

/// One step of an apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppliedStep {
    /// What was planned when the step ran.
    #[serde(flatten)]
    pub planned: PlannedStep,
    /// How it ended.
    pub outcome: Outcome,
    /// What was done, in words.
    pub detail: String,
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApplyReport {
    /// Every step, in procedure order.
    pub steps: Vec<AppliedStep>,
    /// The proofs by effect run for the steps that changed something (the OAuth
    /// round trip, the CORS preflight, the Agent Desktop page, which configuration
    /// each agent gets). Empty when nothing changed.
    #[serde(default)]
    pub proofs: Vec<Check>,
    /// What the apply wrote (`writes`: 0 when there was nothing to do).
    #[serde(flatten)]
    pub footprint: Footprint,
}

impl ApplyReport {
    /// How the run stands: failed when a proof failed (written, but not working),
    /// pending when a step waits for a person or a proof could not be made, ok
    /// otherwise.
    pub fn status(&self) -> Status {
        let manual = self
            .steps
            .iter()
            .any(|s| s.outcome == Outcome::Manual)
            .then_some(Status::Pending);
        Status::worst(self.proofs.iter().map(|c| &c.status).chain(manual.iter()))
    }

    /// The steps that wait for a person.
    pub fn manual_steps(&self) -> impl Iterator<Item = &AppliedStep> {
        self.steps.iter().filter(|s| s.outcome == Outcome::Manual)
    }

    /// Whether any step changed something.
    pub fn changed_anything(&self) -> bool {
        self.steps.iter().any(|s| s.outcome == Outcome::Done)
    }

    /// The step, when it ran.
    pub fn step(&self, id: StepId) -> Option<&AppliedStep> {
        self.steps.iter().find(|s| s.planned.step == id)
    }
}

/// How a check, a step or a whole run stands: three outcomes, not two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// Proven fine.
    Ok,
    /// Waits for a person: a manual step, or something that cannot be proven from
    /// here. Never counted as ok.
    Pending,
    /// Proven wrong.
    Failed,
}

impl Status {
    /// The worst of several statuses (failed over pending over ok); ok for none.
    pub fn worst<'a>(statuses: impl IntoIterator<Item = &'a Status>) -> Status {
        statuses.into_iter().copied().max().unwrap_or(Status::Ok)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Pending => "pending",
            Status::Failed => "failed",
        })
    }
}

/// One health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Check {
    /// What was checked.
    pub check: String,
    /// How it stands.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// How to fix it (or what a person must do), when it is not ok.
    pub hint: Option<String>,
    /// Whether the check proves an effect (a request that does what the
    /// integration will do), rather than reading a record back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub effect: bool,
    /// For a check that waits on a manual step: what to do, with the values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<ManualStep>,
}

impl Check {
    fn new(check: String, status: Status, detail: String, hint: Option<String>) -> Self {
        Self {
            check,
            status,
            detail,
            hint,
            effect: false,
            manual: None,
        }
    }

    /// A passing check.
    pub fn pass(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(check.into(), Status::Ok, detail.into(), None)
    }

    /// A failing check with a fix hint.
    pub fn fail(
        check: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(
            check.into(),
            Status::Failed,
            detail.into(),
            Some(hint.into()),
        )
    }

    /// A check that waits for a person, with what they must do.
    pub fn pending(
        check: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(
            check.into(),
            Status::Pending,
            detail.into(),
            Some(hint.into()),
        )
    }

    /// Passing when `ok`, failing with `hint` otherwise.
    pub fn when(
        ok: bool,
        check: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        if ok {
            Self::pass(check, detail)
        } else {
            Self::fail(check, detail, hint)
        }
    }

    /// Attaches the manual step a person must do.
    pub fn with_manual(mut self, manual: ManualStep) -> Self {
        self.manual = Some(manual);
        self
    }

    /// Marks the check as a proof by effect.
    pub fn by_effect(mut self) -> Self {
        self.effect = true;
        self
    }

    /// Whether the check is proven fine.
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }
}

/// The result of verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// The run's outcome: ok only when every check is ok; failed when any failed;
    /// pending when nothing failed but something waits for a person.
    pub status: Status,
    /// Every check (a pending one may carry the manual step's checklist).
    pub checks: Vec<Check>,
    /// What verify cost (it writes nothing: `writes` is 0).
    #[serde(flatten)]
    pub footprint: Footprint,
}

impl VerifyReport {
    /// A report over these checks, its status derived from them.
    pub fn new(checks: Vec<Check>) -> Self {
        Self {
            status: Status::worst(checks.iter().map(|c| &c.status)),
            checks,
            footprint: Footprint::default(),
        }
    }

    /// The manual steps a person still has to do.
    pub fn manual_steps(&self) -> impl Iterator<Item = &ManualStep> {
        self.checks.iter().filter_map(|c| c.manual.as_ref())
    }

    /// Whether every check is ok (nothing failed, nothing pending).
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// The checks that are not ok (failed or pending).
    pub fn problems(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.is_ok())
    }

    /// The checks with this status.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(move |c| c.status == status)
    }
}

/// What teardown did with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RemovalOutcome {
    /// Removed.
    Removed,
    /// Not created by this workflow: left alone.
    LeftAlone,
    /// Already gone.
    AlreadyGone,
    /// Adopted by bp-servicenow: its previous values were put back.
    Restored,
}

impl RemovalOutcome {
    /// As teardown reports it: `removed`, `left alone`, `already gone`,
    /// `restored` (its `Display`).
    pub fn done(self) -> &'static str {
        match self {
            RemovalOutcome::Removed => "removed",
            RemovalOutcome::LeftAlone => "left alone",
            RemovalOutcome::AlreadyGone => "already gone",
            RemovalOutcome::Restored => "restored",
        }
    }

    /// As a teardown preview says it: `remove`, `leave alone`, `already gone`,
    /// `restore`.
    pub fn planned(self) -> &'static str {
        match self {
            RemovalOutcome::Removed => "remove",
            RemovalOutcome::LeftAlone => "leave alone",
            RemovalOutcome::AlreadyGone => "already gone",
            RemovalOutcome::Restored => "restore",
        }
    }
}

impl fmt::Display for RemovalOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.done())
    }
}

/// One record teardown looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Removal {
    /// The record.
    pub resource: String,
    /// What was done.
    pub outcome: RemovalOutcome,
    /// Why.
    pub detail: String,
}

impl Removal {
    /// A record removal outcome.
    pub fn new(
        resource: impl Into<String>,
        outcome: RemovalOutcome,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            resource: resource.into(),
            outcome,
            detail: detail.into(),
        }
    }
}

impl Removal {
    /// An adopted record whose previous values of `restored` teardown put
    /// back; `refused` names fields the ledger recorded that the step does not
    /// set (not restored).
    pub fn restored(
        resource: impl Into<String>,
        restored: &std::collections::BTreeMap<String, String>,
        refused: &[String],
    ) -> Self {
        let mut detail = format!(
            "adopted by bp-servicenow: {} put back",
            restored.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        if !refused.is_empty() {
            detail.push_str(&format!(
                "; the ledger also names {}, which bp-servicenow never sets: not restored",
                refused.join(", ")
            ));
        }
        Self::new(resource, RemovalOutcome::Restored, detail)
    }
}

/// One step of a teardown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TeardownStep {
    /// The step.
    pub step: StepId,
    /// What happened to each record.
    pub removals: Vec<Removal>,
}

/// What teardown did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TeardownReport {
    /// Every step, in reverse procedure order.
    pub steps: Vec<TeardownStep>,
    /// What teardown wrote (0 when there was nothing to remove).
    #[serde(flatten)]
    pub footprint: Footprint,
}

impl TeardownReport {
    /// Every record teardown looked at.
    pub fn removals(&self) -> impl Iterator<Item = &Removal> {
        self.steps.iter().flat_map(|s| s.removals.iter())
    }
}

/// What a teardown would do, record by record, as the instance and tenant are
/// now ([`Workflow::teardown_plan`](crate::Workflow::teardown_plan)); nothing
/// was written to find out. Each [`Removal`]'s outcome is what teardown would
/// report: [`Removed`](RemovalOutcome::Removed) reads "would be removed".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TeardownPlan {
    /// Every step, in reverse procedure order (the order teardown runs).
    pub steps: Vec<TeardownStep>,
    /// Why teardown would refuse to start (the administrator's roles); empty
    /// when it would start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<PreflightProblem>,
    /// The run that holds the integration now, if another does: teardown
    /// would be refused until it ends or its lease expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<LeaseHolder>,
    /// What the preview cost (no write: `writes` is 0).
    #[serde(flatten)]
    pub footprint: Footprint,
}

impl TeardownPlan {
    /// Every record teardown would look at.
    pub fn removals(&self) -> impl Iterator<Item = &Removal> {
        self.steps.iter().flat_map(|s| s.removals.iter())
    }

    /// Whether teardown would change anything: remove a record or put an
    /// adopted one's values back.
    pub fn has_changes(&self) -> bool {
        self.removals().any(|r| {
            matches!(
                r.outcome,
                RemovalOutcome::Removed | RemovalOutcome::Restored
            )
        })
    }

    /// Whether teardown would refuse to start.
    pub fn would_refuse(&self) -> bool {
        !self.refusals.is_empty()
    }
}

/// Reports whose manual steps may hold a secret this run knows.
pub trait RevealSecrets {
    /// Turns those secrets into plain text (see [`ManualStep::reveal_secrets`]).
    fn reveal_secrets(&mut self);
}

impl RevealSecrets for Plan {
    fn reveal_secrets(&mut self) {
        self.steps
            .iter_mut()
            .filter_map(|s| s.manual.as_mut())
            .for_each(ManualStep::reveal_secrets);
    }
}

impl RevealSecrets for ApplyReport {
    fn reveal_secrets(&mut self) {
        self.steps
            .iter_mut()
            .filter_map(|s| s.planned.manual.as_mut())
            .chain(self.proofs.iter_mut().filter_map(|c| c.manual.as_mut()))
            .for_each(ManualStep::reveal_secrets);
    }
}

impl RevealSecrets for VerifyReport {
    fn reveal_secrets(&mut self) {
        self.checks
            .iter_mut()
            .filter_map(|c| c.manual.as_mut())
            .for_each(ManualStep::reveal_secrets);
    }
}

impl RevealSecrets for SecretRotation {
    fn reveal_secrets(&mut self) {
        self.manual.reveal_secrets();
    }
}

/// What `rotate-secret` did: the OAuth application whose secret was replaced,
/// and the manual step that enters the new secret in Bright Pattern (the secret
/// is in it, masked unless revealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SecretRotation {
    /// The OAuth application.
    pub application: String,
    /// Its client id (unchanged).
    pub client_id: String,
    /// Enter the new secret in the integration account (the old one stopped
    /// working).
    pub manual: ManualStep,
    /// What the rotation wrote.
    #[serde(flatten)]
    pub footprint: Footprint,
}

impl fmt::Display for SecretRotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rotated the client secret of {} (client id {}); the old secret no longer works",
            self.application, self.client_id
        )?;
        write!(f, "{}", self.manual.render(false))?;
        write!(f, "{}", self.footprint)
    }
}

/// What `repair` found and rebuilt the ledger from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RepairReport {
    /// Records proven to be this integration's (by their mark, or by the damaged
    /// ledger still naming them with a matching natural key): in the new ledger.
    pub claimed: Vec<String>,
    /// Records with the configured names that could not be proven ours: left out
    /// (teardown leaves them; delete them by hand if they are).
    pub unproven: Vec<String>,
    /// What could not be recovered.
    pub lost: Vec<String>,
    /// What the repair wrote.
    #[serde(flatten)]
    pub footprint: Footprint,
}

impl fmt::Display for RepairReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.claimed {
            writeln!(f, "claimed   {c}")?;
        }
        for u in &self.unproven {
            writeln!(f, "unproven  {u}")?;
        }
        for l in &self.lost {
            writeln!(f, "lost      {l}")?;
        }
        writeln!(
            f,
            "ledger rebuilt: {} claimed, {} not proven ours (left out), {} lost",
            self.claimed.len(),
            self.unproven.len(),
            self.lost.len()
        )?;
        write!(f, "{}", self.footprint)
    }
}

fn changes_text(changes: &[FieldChange]) -> String {
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What would stop `operation` before it writes: its preflight's refusals,
/// and another run's lease.
fn write_obstacles(
    f: &mut fmt::Formatter<'_>,
    operation: &str,
    refusals: &[PreflightProblem],
    held_by: Option<&LeaseHolder>,
) -> fmt::Result {
    for refusal in refusals {
        writeln!(f, "{operation} would refuse: {refusal}")?;
    }
    if let Some(holder) = held_by {
        let held = LeaseHeld {
            holder: holder.clone(),
        };
        writeln!(f, "{held}")?;
    }
    Ok(())
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ServiceNow release: {}", self.release)?;
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        write_obstacles(f, "apply", &self.refusals, self.held_by.as_ref())?;
        writeln!(f, "{:<20} {:<10} RESOURCE / CHANGES", "STEP", "ACTION")?;
        for s in &self.steps {
            writeln!(
                f,
                "{:<20} {:<10} {}",
                s.step.as_str(),
                s.action.to_string(),
                s.resource
            )?;
            for change in &s.changes {
                writeln!(f, "{:<31}   {change}", "")?;
            }
            for warning in &s.warnings {
                writeln!(f, "{:<31}   warning: {warning}", "")?;
            }
            if let Some(manual) = &s.manual {
                for line in manual.render(false).lines() {
                    writeln!(f, "{:<31}   {line}", "")?;
                }
            }
        }
        for fix in &self.bookkeeping {
            writeln!(f, "bookkeeping: apply would correct {fix}")?;
        }
        if let Some(set) = &self.footprint.update_set {
            writeln!(f, "{set}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<20} {:<10} {:<10} DETAIL",
            "STEP", "ACTION", "OUTCOME"
        )?;
        for s in &self.steps {
            writeln!(
                f,
                "{:<20} {:<10} {:<10} {}",
                s.planned.step.as_str(),
                s.planned.action.to_string(),
                s.outcome.to_string(),
                s.detail
            )?;
            if !s.planned.changes.is_empty() && s.outcome == Outcome::Done {
                writeln!(f, "{:<42}   {}", "", changes_text(&s.planned.changes))?;
            }
        }
        if !self.proofs.is_empty() {
            writeln!(f, "proved by effect:")?;
            for c in &self.proofs {
                writeln!(f, "[{}] {}: {}", status_label(c.status), c.check, c.detail)?;
                if let Some(hint) = c.hint.as_ref().filter(|_| !c.is_ok()) {
                    writeln!(f, "       fix: {hint}")?;
                }
            }
        }
        write!(f, "{}", self.footprint)
    }
}

/// The label of a check's status in text output.
pub fn status_label(status: Status) -> &'static str {
    match status {
        Status::Ok => " ok ",
        Status::Pending => "WAIT",
        Status::Failed => "FAIL",
    }
}

impl VerifyReport {
    /// One line that sums the report up (`2 of 20 checks failed, 1 pending`).
    pub fn summary(&self) -> String {
        let total = self.checks.len();
        let failed = self.with_status(Status::Failed).count();
        let pending = self.with_status(Status::Pending).count();
        match (failed, pending) {
            (0, 0) => format!("all {total} checks passed"),
            (0, p) => {
                format!("no check failed; {p} of {total} wait for a person (pending is not ok)")
            }
            (f, 0) => format!("{f} of {total} checks failed"),
            (f, p) => format!("{f} of {total} checks failed, {p} wait for a person"),
        }
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            writeln!(f, "[{}] {}: {}", status_label(c.status), c.check, c.detail)?;
            if let Some(hint) = c.hint.as_ref().filter(|_| !c.is_ok()) {
                let label = if c.status == Status::Pending {
                    "todo"
                } else {
                    "fix"
                };
                writeln!(f, "       {label}: {hint}")?;
            }
        }
        for manual in self.manual_steps() {
            writeln!(f)?;
            write!(f, "{}", manual.render(false))?;
        }
        write!(f, "{}", self.summary())
    }
}

/// One line a record: the step, `outcome` of the record, the record, why.
fn write_removals(
    f: &mut fmt::Formatter<'_>,
    steps: &[TeardownStep],
    outcome: impl Fn(RemovalOutcome) -> &'static str,
) -> fmt::Result {
    for step in steps {
        for r in &step.removals {
            writeln!(
                f,
                "{:<20} {:<13} {} ({})",
                step.step.as_str(),
                outcome(r.outcome),
                r.resource,
                r.detail
            )?;
        }
    }
    Ok(())
}

impl fmt::Display for TeardownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_removals(f, &self.steps, RemovalOutcome::done)?;
        write!(f, "{}", self.footprint)
    }
}

impl fmt::Display for TeardownPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_obstacles(f, "teardown", &self.refusals, self.held_by.as_ref())?;
        if !self.has_changes() {
            writeln!(f, "teardown would change nothing")?;
        }
        write_removals(f, &self.steps, RemovalOutcome::planned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_footprint_says_whose_lease_it_took_where_it_landed_and_what_it_wrote() {
        let footprint = Footprint {
            writes: 0,
            lease_broken: vec![crate::lease::LeaseHolder {
                id: "dead".into(),
                holder: "ops (pid 41)\u{1b}[2J".into(),
                host: "jump-1".into(),
                operation: "apply".into(),
                since_ms: 0,
                expires_ms: 600_000,
            }],
            bookkeeping: vec!["cleared 1 malformed lease row".into()],
            update_set: Some(UpdateSetUse {
                name: "BP release".into(),
                sys_id: None,
                chosen_by: UpdateSetChoice::Spec,
                created: false,
                proven: Some(false),
            }),
        };
        let text = footprint.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with(
                "took over the lease of ops (pid 41)\\u{1b}[2J (apply) on jump-1 since "
            ),
            "{text}"
        );
        assert_eq!(lines[1], "bookkeeping: cleared 1 malformed lease row");
        assert_eq!(
            lines[2],
            "update set: \"BP release\" (named by the spec; NOT proven: the changes were not found there)"
        );
        assert_eq!(lines[3], "writes: none");
        let json = serde_json::to_value(&footprint).unwrap();
        assert_eq!(json["writes"], 0);
        assert_eq!(json["update_set"]["chosen_by"], "spec");
        assert_eq!(json["lease_broken"][0]["host"], "jump-1");
    }

    #[test]
    fn a_manual_step_shows_its_values_under_the_instruction_that_asks_for_them() {
        let step = ManualStep::new("Do it")
            .instruction("Open it.")
            .field("Name", ManualValue::Text("ServiceNow".into()))
            .instruction("Enter these values:")
            .field(
                "Secret",
                ManualValue::Secret(Some("s3cret".to_owned().into())),
            )
            .instruction("Save.");
        assert_eq!(step.instructions.len(), 3);
        assert_eq!(step.fields[1].label, "Secret");
        let text = step.render(false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2], "  2. Enter these values:");
        assert!(lines[3].contains("Name") && lines[3].contains("ServiceNow"));
        assert!(lines[4].contains(MASK), "{text}");
        assert_eq!(lines[5], "  3. Save.");
        assert!(step.render(true).contains("s3cret"));
        assert!(!text.contains("s3cret"));
    }
}
