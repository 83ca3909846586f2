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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
    #[serde(default)]
    pub warnings: Vec<String>,
    /// For a manual step: what to do by hand.
    #[serde(default)]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Footprint {
    /// Records written to the instance and the tenant: creates, updates and
    /// deletes, the lease and the ledger included (a batch counts each write
    /// it carries; token grants are not writes). Zero for a run with nothing
    /// to do, and for every preview.
    #[serde(default)]
    pub writes: u64,
    /// The leases of other runs this run took over (`--break-lease`): whose,
    /// where, since when.
    #[serde(default)]
    pub lease_broken: Vec<LeaseHolder>,
    /// What the run did to the tool's own rows: malformed lease rows
    /// cleared, rows of an older version marked `ignore_cache`/`is_private`.
    #[serde(default)]
    pub bookkeeping: Vec<String>,
    /// The update set the run's configuration writes landed in (or, for a
    /// plan, would land in), when known.
    #[serde(default)]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct UpdateSetUse {
    /// The update set's name.
    pub name: String,
    /// Its sys_id, when it exists (a plan may name one apply will create).
    #[serde(default)]
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
    #[serde(default)]
    pub proven: Option<bool>,
}

/// How the update set of a run was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Plan {
    /// Every step, in procedure order.
    pub steps: Vec<PlannedStep>,
    /// What a person should know about the whole run (a corrupt ledger, another
    /// integration with this tenant).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The instance's release, read at the start of the plan.
    #[serde(default)]
    pub release: servicenow_client::release::Release,
    /// Why apply would refuse to start (the administrator's roles, the
    /// release), as its preflight would find; empty when it would start.
    #[serde(default)]
    pub refusals: Vec<PreflightProblem>,
    /// The run that holds the integration now, if another does: apply would
    /// be refused ([`WorkflowError::Held`](crate::WorkflowError::Held)) until
    /// it ends or its lease expires.
    #[serde(default)]
    pub held_by: Option<LeaseHolder>,
    /// What apply would correct in the tool's own rows (rows an older version
    /// made without `ignore_cache`/`is_private`, an update set choice a
    /// stopped run left switched): writes, though no step's. (The plan's own
    /// `bookkeeping`, of its [`Footprint`], is what the plan did: nothing.)
    #[serde(default)]
    pub corrections: Vec<String>,
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
        !self.corrections.is_empty()
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

    /// What differs between this plan, made now, and `saved`, made earlier
    /// (read back from its JSON): each step's action, field changes,
    /// warnings and checklist, and the corrections of the tool's own rows —
    /// in words, one entry each. Empty when applying now would do exactly what
    /// `saved` says. Secrets are compared as the JSON shows them (masked).
    pub fn moved_from(&self, saved: &Plan) -> Vec<String> {
        moved(saved, &self.steps, &self.corrections)
    }
}

/// What moved between `saved` and the steps and corrections planned now.
pub(crate) fn moved(saved: &Plan, steps: &[PlannedStep], corrections: &[String]) -> Vec<String> {
    let as_json = |s: &PlannedStep| serde_json::to_value(s).unwrap_or_default();
    let mut moved = Vec::new();
    for now in steps {
        let Some(then) = saved.steps.iter().find(|s| s.step == now.step) else {
            moved.push(format!("step {}: not in the saved plan", now.step));
            continue;
        };
        if as_json(then) == as_json(now) {
            continue;
        }
        let what = if then.action != now.action {
            format!("planned {}, now {}", then.action, now.action)
        } else if then.changes != now.changes {
            let list = |c: &[FieldChange]| {
                if c.is_empty() {
                    "none".to_owned()
                } else {
                    changes_text(c)
                }
            };
            format!(
                "planned changes {}, now {}",
                list(&then.changes),
                list(&now.changes)
            )
        } else if then.resource != now.resource {
            format!("planned for {}, now {}", then.resource, now.resource)
        } else if then.warnings != now.warnings {
            "its warnings differ".to_owned()
        } else {
            "its checklist differs".to_owned()
        };
        moved.push(format!("step {}: {what}", now.step));
    }
    for then in &saved.steps {
        if !steps.iter().any(|s| s.step == then.step) {
            moved.push(format!(
                "step {}: in the saved plan, not planned now",
                then.step
            ));
        }
    }
    if saved.corrections != corrections {
        moved.push(format!(
            "the corrections of the tool's own rows: planned {:?}, now {:?}",
            saved.corrections, corrections
        ));
    }
    moved
}

/// How an applied step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
    #[serde(default)]
    pub effect: bool,
    /// For a check that waits on a manual step: what to do, with the values.
    #[serde(default)]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct TeardownStep {
    /// The step.
    pub step: StepId,
    /// What happened to each record.
    pub removals: Vec<Removal>,
}

/// What teardown did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct TeardownPlan {
    /// Every step, in reverse procedure order (the order teardown runs).
    pub steps: Vec<TeardownStep>,
    /// Why teardown would refuse to start (the administrator's roles); empty
    /// when it would start.
    #[serde(default)]
    pub refusals: Vec<PreflightProblem>,
    /// The run that holds the integration now, if another does: teardown
    /// would be refused until it ends or its lease expires.
    #[serde(default)]
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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

impl SecretRotation {
    /// What `rotate-secret` did, for people, in `style` (the checklist shows
    /// the new secret only when the style reveals it). Its `Display` is this
    /// in [`Style::plain`].
    pub fn render(&self, style: &Style) -> String {
        format!(
            "rotated the client secret of {} (client id {}); the old secret no longer works\n{}{}",
            self.application,
            self.client_id,
            self.manual.render(style.reveal),
            self.footprint
        )
    }
}

impl fmt::Display for SecretRotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&Style::plain()))
    }
}

/// What `repair` found and rebuilt the ledger from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
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
fn obstacles(
    operation: &str,
    refusals: &[PreflightProblem],
    held_by: Option<&LeaseHolder>,
) -> String {
    let mut out = String::new();
    for refusal in refusals {
        out.push_str(&format!("{operation} would refuse: {refusal}\n"));
    }
    if let Some(holder) = held_by {
        let held = LeaseHeld {
            holder: holder.clone(),
        };
        out.push_str(&format!("note: {held}\n"));
    }
    out
}

impl Plan {
    /// The plan for people, in `style`: the release, notes and obstacles, one
    /// row a step with its changes, warnings and checklist, and what apply
    /// would write. Its `Display` is this in [`Style::plain`].
    pub fn render(&self, style: &Style) -> String {
        let mut out = format!("ServiceNow release: {}\n", self.release);
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out.push_str(&obstacles("apply", &self.refusals, self.held_by.as_ref()));
        let rows = self
            .steps
            .iter()
            .map(|s| {
                let mut cell = s.resource.clone();
                for change in &s.changes {
                    cell.push_str(&format!("\n  {change}"));
                }
                for warning in &s.warnings {
                    cell.push_str(&format!("\n  warning: {warning}"));
                }
                if let Some(manual) = &s.manual {
                    for line in manual.render(style.reveal).lines() {
                        cell.push_str(&format!("\n  {line}"));
                    }
                }
                vec![s.step.as_str().to_owned(), style.action(s.action), cell]
            })
            .collect();
        out.push_str(&crate::table::render(
            &["STEP", "ACTION", "RESOURCE / CHANGES"],
            rows,
            &[],
        ));
        for fix in &self.corrections {
            out.push_str(&format!("bookkeeping: apply would correct {fix}\n"));
        }
        if !self.has_changes() {
            out.push_str(
                &style.bold("Nothing to change: apply would take no lease and write nothing."),
            );
            out.push('\n');
        }
        out.push_str(&self.footprint.to_string());
        out
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&Style::plain()))
    }
}

impl ApplyReport {
    /// What apply did, for people, in `style`: one row a step (with what
    /// changed, or the checklist of a manual step), the proofs by effect, and
    /// what it wrote. Its `Display` is this in [`Style::plain`].
    pub fn render(&self, style: &Style) -> String {
        let rows = self
            .steps
            .iter()
            .map(|s| {
                let mut cell = s.detail.clone();
                if !s.planned.changes.is_empty() && s.outcome == Outcome::Done {
                    cell.push_str(&format!("\n  {}", changes_text(&s.planned.changes)));
                }
                if let Some(manual) = s
                    .planned
                    .manual
                    .as_ref()
                    .filter(|_| s.outcome == Outcome::Manual)
                {
                    for line in manual.render(style.reveal).lines() {
                        cell.push_str(&format!("\n  {line}"));
                    }
                }
                vec![
                    s.planned.step.as_str().to_owned(),
                    style.action(s.planned.action),
                    style.outcome(s.outcome),
                    cell,
                ]
            })
            .collect();
        let mut out = crate::table::render(&["STEP", "ACTION", "OUTCOME", "DETAIL"], rows, &[]);
        if !self.proofs.is_empty() {
            out.push_str(&style.bold("Proved by effect:"));
            out.push('\n');
            out.push_str(&checks_text(&self.proofs, style));
        }
        out.push_str(&self.footprint.to_string());
        out
    }
}

impl fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&Style::plain()))
    }
}

/// The version of the shape of the JSON documents ([`document`]): raised when
/// a key is removed or changes meaning (adding one keeps it).
pub const SCHEMA_VERSION: u32 = 1;

/// A report as one JSON document for machines: the report's own keys and,
/// in every document of every command, `schema_version` ([`SCHEMA_VERSION`]),
/// `kind` (the command: `plan`, `apply`, …) and `status` — `ok`, `pending` (a
/// person must act), `failed`, or `held` (another run holds the integration) —
/// matching the command's exit code. Keys are stable: empty lists are `[]`,
/// missing values `null`.
pub fn document<T: Serialize>(kind: &str, status: &str, report: &T) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    let mut doc = serde_json::Map::new();
    doc.insert("schema_version".into(), SCHEMA_VERSION.into());
    doc.insert("kind".into(), kind.into());
    doc.insert("status".into(), status.into());
    if let Some(map) = value.as_object_mut() {
        for (key, v) in std::mem::take(map) {
            doc.entry(key).or_insert(v);
        }
    } else {
        doc.insert("report".into(), value);
    }
    serde_json::Value::Object(doc)
}

impl Status {
    /// As documents spell it (`ok`, `pending`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Pending => "pending",
            Status::Failed => "failed",
        }
    }
}

/// How a report is written for people: in colour (for a terminal), and with
/// the secrets of manual steps shown or masked. The command-line tool passes
/// one; `Display` is [`Style::plain`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Style {
    /// ANSI colours.
    pub colour: bool,
    /// Secrets in manual steps shown in clear.
    pub reveal: bool,
}

impl Style {
    /// No colour, secrets masked.
    pub fn plain() -> Self {
        Self::default()
    }

    /// With colours (or not).
    pub fn colour(mut self, on: bool) -> Self {
        self.colour = on;
        self
    }

    /// With secrets shown (or masked).
    pub fn reveal(mut self, on: bool) -> Self {
        self.reveal = on;
        self
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Bold text.
    pub fn bold(&self, text: &str) -> String {
        self.paint(text, "1")
    }

    fn action(&self, action: Action) -> String {
        let text = action.to_string();
        match action {
            Action::Create => self.paint(&text, "32"),
            Action::Update | Action::Adopt => self.paint(&text, "33"),
            Action::Manual => self.paint(&text, "35"),
            Action::Unchanged => self.paint(&text, "2"),
            _ => self.paint(&text, "31"),
        }
    }

    fn outcome(&self, outcome: Outcome) -> String {
        let text = outcome.to_string();
        match outcome {
            Outcome::Done => self.paint(&text, "32"),
            Outcome::Failed => self.paint(&text, "31"),
            Outcome::Manual | Outcome::Skipped => self.paint(&text, "35"),
            Outcome::Unchanged => self.paint(&text, "2"),
        }
    }

    fn status(&self, status: Status) -> String {
        let label = status_label(status);
        match status {
            Status::Ok => self.paint(label, "32"),
            Status::Pending => self.paint(label, "35"),
            _ => self.paint(label, "31"),
        }
    }
}

/// Checks, one line each with its status, and a hint under one not ok
/// (`todo:` for a person, `fix:` for a failure).
fn checks_text(checks: &[Check], style: &Style) -> String {
    let mut out = String::new();
    for c in checks {
        out.push_str(&format!(
            "[{}] {}: {}\n",
            style.status(c.status),
            c.check,
            c.detail
        ));
        if let Some(hint) = c.hint.as_ref().filter(|_| !c.is_ok()) {
            let label = if c.status == Status::Pending {
                "todo"
            } else {
                "fix"
            };
            out.push_str(&format!("       {label}: {hint}\n"));
        }
    }
    out
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

impl VerifyReport {
    /// The health check for people, in `style`: every check with its status,
    /// the checklist of each manual step, a summary and what verify cost. Its
    /// `Display` is this in [`Style::plain`].
    pub fn render(&self, style: &Style) -> String {
        let mut out = checks_text(&self.checks, style);
        for manual in self.manual_steps() {
            out.push('\n');
            out.push_str(&manual.render(style.reveal));
        }
        out.push_str(&style.bold(&self.summary()));
        out.push('\n');
        out.push_str(&self.footprint.to_string());
        out
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&Style::plain()))
    }
}

/// One line a record: the step, `outcome` of the record, the record, why.
fn write_removals(
    f: &mut fmt::Formatter<'_>,
    steps: &[TeardownStep],
    outcome: impl Fn(RemovalOutcome) -> &'static str,
) -> fmt::Result {
    let rows: Vec<Vec<String>> = steps
        .iter()
        .flat_map(|step| {
            step.removals.iter().map(|r| {
                vec![
                    step.step.as_str().to_owned(),
                    outcome(r.outcome).to_owned(),
                    format!("{} ({})", r.resource, r.detail),
                ]
            })
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    f.write_str(&crate::table::render(
        &["STEP", "OUTCOME", "RECORD (WHY)"],
        rows,
        &[],
    ))
}

impl fmt::Display for TeardownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_removals(f, &self.steps, RemovalOutcome::done)?;
        write!(f, "{}", self.footprint)
    }
}

impl fmt::Display for TeardownPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&obstacles(
            "teardown",
            &self.refusals,
            self.held_by.as_ref(),
        ))?;
        if !self.has_changes() {
            writeln!(f, "teardown would change nothing")?;
        }
        write_removals(f, &self.steps, RemovalOutcome::planned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(step: StepId, action: Action, changes: Vec<FieldChange>) -> PlannedStep {
        PlannedStep::new(step, "r".into(), Change::of(action, changes))
    }

    fn plan_of(steps: Vec<PlannedStep>) -> Plan {
        Plan {
            steps,
            notes: Vec::new(),
            release: Default::default(),
            refusals: Vec::new(),
            held_by: None,
            corrections: Vec::new(),
            footprint: Footprint::default(),
        }
    }

    #[test]
    fn what_moved_since_a_saved_plan_is_named_step_by_step() {
        let change = |new: &str| vec![FieldChange::new("value", Some("a".into()), new)];
        let saved = plan_of(vec![
            planned(StepId::PLUGINS, Action::Update, change("b")),
            planned(StepId::CORS, Action::Create, Vec::new()),
            planned(StepId::ACCESS, Action::Unchanged, Vec::new()),
        ]);
        assert!(saved.moved_from(&saved.clone()).is_empty());
        let mut now = plan_of(vec![
            planned(StepId::PLUGINS, Action::Update, change("c")),
            planned(StepId::CORS, Action::Unchanged, Vec::new()),
            planned(StepId::OPENFRAME, Action::Create, Vec::new()),
        ]);
        now.corrections.push("mark 1 row".into());
        assert_eq!(
            now.moved_from(&saved),
            [
                r#"step plugins: planned changes value: "a" → "b", now value: "a" → "c""#,
                "step cors: planned create, now unchanged",
                "step openframe: not in the saved plan",
                "step access: in the saved plan, not planned now",
                r#"the corrections of the tool's own rows: planned [], now ["mark 1 row"]"#,
            ]
        );
        // Held or not, and what the plan cost, are not what apply would do.
        let mut cheap = saved.clone();
        cheap.footprint.writes = 3;
        cheap.notes.push("a note".into());
        assert!(cheap.moved_from(&saved).is_empty());
    }

    #[test]
    fn a_report_is_rendered_once_in_the_style_asked_and_display_is_plain() {
        let mut report = VerifyReport::new(vec![
            Check::pass("CORS preflight", "allowed"),
            Check::fail("OpenFrame URL", "404", "run apply"),
        ]);
        report.footprint.writes = 0;
        let plain = report.to_string();
        assert_eq!(plain, report.render(&Style::plain()));
        assert!(!plain.contains('\u{1b}'), "{plain}");
        assert!(plain.contains("[ ok ] CORS preflight: allowed"), "{plain}");
        assert!(plain.contains("       fix: run apply"), "{plain}");
        assert!(plain.contains("1 of 2 checks failed"), "{plain}");
        assert!(plain.ends_with("writes: none"), "{plain}");
        let coloured = report.render(&Style::plain().colour(true));
        assert!(coloured.contains("\u{1b}[32m ok \u{1b}[0m"), "{coloured}");
        assert!(coloured.contains("\u{1b}[31mFAIL\u{1b}[0m"), "{coloured}");
        assert!(
            coloured.contains("\u{1b}[1m1 of 2 checks failed\u{1b}[0m"),
            "{coloured}"
        );
    }

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
