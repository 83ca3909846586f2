//! The workflow: plan, apply, verify and teardown over the steps.
//!
//! Steps run in dependency waves: plugins first; then the OpenFrame
//! configuration, access, the CORS rule and the OAuth endpoint concurrently; then
//! the integration account (it needs the OAuth endpoint). Within a wave, results
//! are reported in procedure order, so the outcome never depends on timing.
//!
//! One file per operation, each an `impl Workflow` block over what this one
//! holds (the builder, the lease, the ledger loads, the update set, the waves):
//! `preflight`, `plan`, `apply`, `verify`, `teardown`, `repair`, `rotate`.

mod apply;
mod confirm;
mod plan;
mod preflight;
mod repair;
mod rotate;
mod teardown;
mod verify;

use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};

use servicenow_client::Error;
use tokio::sync::Mutex;

use crate::events::{Event, EventHandler};
use crate::lease::{Lease, LeaseHeld};
use crate::ledger::{Confirmation, CorruptLedger, Ledger, LedgerKey, LedgerStore, Loaded};
pub use crate::model::PreflightProblem;
use crate::report::{
    AppliedStep, ApplyReport, Check, Footprint, Outcome, Plan, PlannedStep, RemovalOutcome,
    RepairReport, SecretRotation, TeardownPlan, TeardownReport, TeardownStep, UpdateSetUse,
    VerifyReport,
};
use crate::spec::ResolvedSpec;
use crate::step::{
    Action, Change, Context, DynStep, RoleNeed, ServiceNowLogin, Step, StepError, StepFailure,
    StepId, Upstream, WorkflowOptions,
};
use servicenow_client::release::Family;

/// Why a step could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("step {step:?} cannot be registered: {reason}")]
pub struct StepRegistrationError {
    /// The step.
    pub step: String,
    /// Why.
    pub reason: String,
}

/// The waves the steps run in: a step runs in the first wave after every step it
/// depends on; within a wave, steps run concurrently and report in registration
/// order. `steps` are in registration order, dependencies first.
fn waves(steps: &[Arc<dyn DynStep>]) -> Vec<Vec<usize>> {
    let mut level: Vec<usize> = Vec::with_capacity(steps.len());
    for step in steps {
        let l = step
            .depends_on()
            .iter()
            .filter_map(|d| steps.iter().position(|s| &s.id() == d))
            .map(|i| level[i] + 1)
            .max()
            .unwrap_or(0);
        level.push(l);
    }
    let depth = level.iter().copied().max().map_or(0, |m| m + 1);
    (0..depth)
        .map(|l| (0..steps.len()).filter(|&i| level[i] == l).collect())
        .collect()
}

/// What a step gives [`Workflow::by_waves`]: its plan (for the steps after it)
/// and a value.
type StepFuture<'a, T> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(PlannedStep, T), StepError>> + Send + 'a>,
>;

/// A failure of plan, verify or teardown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowError {
    /// A step failed.
    #[error("step {step}: {source}")]
    Step {
        /// The step.
        step: StepId,
        /// Why.
        #[source]
        source: StepError,
    },
    /// The ledger could not be read or written.
    #[error("the integration's ledger (system properties) could not be read or written: {0}")]
    Ledger(#[source] Error),
    /// The ledger cannot be read: writing is refused until it is repaired.
    #[error("{0}")]
    CorruptLedger(#[from] CorruptLedger),
    /// Another run holds the integration.
    #[error("{0}")]
    Held(#[from] LeaseHeld),
    /// Records with the configured names exist and were not made by this
    /// integration: nothing was written.
    #[error("{}", taken_text(.0))]
    Taken(Vec<Taken>),
    /// The administrator lacks roles the steps need, or the instance is too old
    /// for a step: nothing was written (every problem is named).
    #[error("{}", preflight_text(.0))]
    Preflight(Vec<PreflightProblem>),
    /// The preflight's reads (the administrator's roles, the release) failed:
    /// nothing was written.
    #[error(
        "nothing was written: the preflight could not read the administrator's roles or the release: {0}"
    )]
    PreflightRead(#[source] Error),
    /// The update set for the run's configuration writes could not be read,
    /// created or chosen: no configuration was written.
    #[error(
        "no configuration was written: the update set could not be prepared ([servicenow] update_set): {0}"
    )]
    UpdateSet(#[source] Error),
    /// A saved plan ([`Workflow::apply_plan`]) is no longer what apply would
    /// do: the instance, the tenant, the ledger or the spec moved since it was
    /// made. Nothing was written; plan again. Each entry says what moved.
    #[error("{}", moved_text(.0))]
    PlanMoved(Vec<String>),
}

fn moved_text(moved: &[String]) -> String {
    let mut out =
        "nothing was written: the instance moved away from the saved plan since it was made (plan again):"
            .to_owned();
    for m in moved {
        out.push_str(&format!("\n  - {m}"));
    }
    out
}

fn preflight_text(problems: &[PreflightProblem]) -> String {
    let mut out = "nothing was written; before writing, these were found:".to_owned();
    for p in problems {
        out.push_str(&format!("\n  - {p}"));
    }
    out
}

/// A record with a configured name that this integration does not own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// The step that would change it.
    pub step: StepId,
    /// The record.
    pub resource: String,
    /// What was found.
    pub detail: String,
}

fn taken_text(taken: &[Taken]) -> String {
    let mut out = "refused: records with the configured names exist and were not made by bp-servicenow (adopt them in the spec, or choose other names):".to_owned();
    for t in taken {
        out.push_str(&format!(
            "\n  - step {}: {}: {}",
            t.step, t.resource, t.detail
        ));
    }
    out
}

impl WorkflowError {
    /// The step that failed, for a step failure.
    pub fn step(&self) -> Option<StepId> {
        match self {
            WorkflowError::Step { step, .. } => Some(step.clone()),
            _ => None,
        }
    }
}

/// An apply that did not finish.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApplyError {
    /// Steps failed: which, and everything that was done before and around them
    /// (the report says what exists now; running apply again completes the rest).
    Steps(StepsFailed),
    /// Nothing was written: the ledger could not be read, or another run holds
    /// the integration.
    NotStarted(WorkflowError),
}

impl From<WorkflowError> for ApplyError {
    fn from(e: WorkflowError) -> Self {
        ApplyError::NotStarted(e)
    }
}

impl ApplyError {
    /// The failed steps and why (none when apply did not start).
    pub fn failures(&self) -> &[(StepId, StepError)] {
        match self {
            ApplyError::Steps(s) => &s.failures,
            ApplyError::NotStarted(_) => &[],
        }
    }

    /// What every step did, when apply started.
    pub fn report(&self) -> Option<&ApplyReport> {
        match self {
            ApplyError::Steps(s) => Some(&s.report),
            ApplyError::NotStarted(_) => None,
        }
    }

    /// The run that holds the integration, when that is why apply did not start.
    pub fn held(&self) -> Option<&LeaseHeld> {
        match self {
            ApplyError::NotStarted(WorkflowError::Held(h)) => Some(h),
            _ => None,
        }
    }
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Steps(s) => s.fmt(f),
            ApplyError::NotStarted(e) => write!(f, "nothing was written: {e}"),
        }
    }
}

impl std::error::Error for ApplyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApplyError::Steps(s) => s
                .failures
                .first()
                .map(|(_, e)| e as &(dyn std::error::Error + 'static)),
            ApplyError::NotStarted(e) => Some(e),
        }
    }
}

/// Steps of an apply that failed, with the report of the whole run.
#[derive(Debug)]
pub struct StepsFailed {
    /// The failed steps and why.
    pub failures: Vec<(StepId, StepError)>,
    /// What every step did (failed and skipped steps included).
    pub report: ApplyReport,
}

impl fmt::Display for StepsFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (step, error) in &self.failures {
            writeln!(f, "step {step} failed: {error}")?;
        }
        let done: Vec<String> = self
            .report
            .steps
            .iter()
            .filter(|s| {
                matches!(
                    s.outcome,
                    Outcome::Done | Outcome::Unchanged | Outcome::Manual
                )
            })
            .map(|s| {
                format!(
                    "{} ({}{})",
                    s.planned.step,
                    s.outcome,
                    if s.detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", s.detail)
                    }
                )
            })
            .collect();
        let skipped: Vec<&str> = self
            .report
            .steps
            .iter()
            .filter(|s| s.outcome == Outcome::Skipped)
            .map(|s| s.planned.step.as_str())
            .collect();
        write!(
            f,
            "done: {}",
            if done.is_empty() {
                "nothing".to_owned()
            } else {
                done.join("; ")
            }
        )?;
        if !skipped.is_empty() {
            write!(
                f,
                "\nskipped (they depend on a failed step): {}",
                skipped.join(", ")
            )?;
        }
        write!(f, "\nrun apply again to complete the rest")
    }
}

/// Builds a [`Workflow`].
pub struct WorkflowBuilder {
    spec: ResolvedSpec,
    servicenow: servicenow_client::Client,
    brightpattern: brightpattern_client::Client,
    integration_user: ServiceNowLogin,
    options: WorkflowOptions,
    events: Option<EventHandler>,
    steps: Vec<Arc<dyn DynStep>>,
}

impl fmt::Debug for WorkflowBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkflowBuilder")
            .field("spec", &self.spec)
            .field("integration_user", &self.integration_user)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl WorkflowBuilder {
    /// Sets the run's knobs.
    pub fn options(mut self, options: WorkflowOptions) -> Self {
        self.options = options;
        self
    }

    /// Receives progress events.
    pub fn on_event(mut self, handler: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(handler));
        self
    }

    /// Registers a step of the caller's own. It runs in the first wave after the
    /// steps it [depends on](Step::depends_on) (which must be registered already:
    /// the built-in ones are), keeps what it owns in its own section of the ledger
    /// ([`Context::step_ledger`]), and is planned, applied, verified, proven and
    /// undone like the built-in ones.
    pub fn step(mut self, step: impl Step + 'static) -> Result<Self, StepRegistrationError> {
        let id = Step::id(&step);
        let fail = |reason: String| StepRegistrationError {
            step: id.as_str().to_owned(),
            reason,
        };
        let name = id.as_str();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(fail("a step id is made of a-z, 0-9 and _".into()));
        }
        if id == StepId::RUN {
            return Err(fail(
                "\"run\" names the run itself in events and reports: choose another id".into(),
            ));
        }
        if self.steps.iter().any(|s| s.id() == id) {
            return Err(fail("a step with this id is registered already".into()));
        }
        let problems = match Step::section(&step) {
            Some(schema) => schema.problems(name, self.spec.steps.get(name)),
            None => Vec::new(),
        };
        if !problems.is_empty() {
            return Err(fail(format!(
                "its spec section has problems: {}",
                problems.join("; ")
            )));
        }
        for dependency in Step::depends_on(&step) {
            if !self.steps.iter().any(|s| s.id() == dependency) {
                return Err(fail(format!(
                    "it depends on {dependency:?}, which is not registered (register it first)"
                )));
            }
        }
        self.steps.push(Arc::new(step));
        Ok(self)
    }

    /// Builds the workflow (sends nothing).
    pub fn build(self) -> Workflow {
        // The integration is the instance, the tenant and the names its steps
        // say make it (the built-in steps': OpenFrame, CORS, OAuth, account).
        let names: Vec<String> = self
            .steps
            .iter()
            .flat_map(|s| s.identity(&self.spec))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let key = LedgerKey::new(self.spec.instance.as_str(), self.spec.tenant.host(), &names);
        let store = LedgerStore::new(self.servicenow.clone(), key);
        // The spec's own integration-account paths (checked when it was resolved).
        let brightpattern = match &self.spec.integration_account.paths {
            Some(paths) => self
                .brightpattern
                .with_integration_account_paths(paths.to_paths())
                .unwrap_or(self.brightpattern),
            None => self.brightpattern,
        };
        Workflow {
            ctx: Arc::new(Context {
                spec: self.spec,
                servicenow: self.servicenow,
                brightpattern,
                integration_user: self.integration_user,
                options: self.options,
                ledger: Mutex::new(Ledger::default()),
                saved_ledger: Mutex::new(Ledger::default()),
                ledger_store: store,
                neighbours: StdMutex::new(Vec::new()),
                events: self.events,
                oauth_applications: crate::step::Memo::new(),
                allow_list: crate::step::Memo::new(),
                release: StdMutex::new(Default::default()),
                preview: false,
            }),
            waves: waves(&self.steps),
            steps: self.steps,
            handed_on: StdMutex::new(Upstream::default()),
            bookkeeping: StdMutex::new(Vec::new()),
            update_set: StdMutex::new(None),
        }
    }
}

/// The integration procedure as a declarative, idempotent workflow.
pub struct Workflow {
    ctx: Arc<Context>,
    /// Every step, in registration order.
    steps: Vec<Arc<dyn DynStep>>,
    /// Indexes into `steps`, wave by wave.
    waves: Vec<Vec<usize>>,
    /// What the last apply's steps handed on (the client secret it generated),
    /// kept in memory only, so that a verify by the same workflow can prove
    /// with it.
    handed_on: StdMutex<Upstream>,
    /// What the current writing operation did to the tool's own rows (for
    /// its footprint).
    bookkeeping: StdMutex<Vec<String>>,
    /// The update set the current writing operation's configuration writes
    /// landed in (for its footprint).
    update_set: StdMutex<Option<UpdateSetUse>>,
}

impl fmt::Debug for Workflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workflow").field("ctx", &self.ctx).finish()
    }
}
impl Workflow {
    /// Starts building a workflow for `spec`, with an administrator's ServiceNow
    /// client, a Bright Pattern client, and the ServiceNow user whose refresh token
    /// the integration account gets.
    pub fn builder(
        spec: ResolvedSpec,
        servicenow: servicenow_client::Client,
        brightpattern: brightpattern_client::Client,
        integration_user: ServiceNowLogin,
    ) -> WorkflowBuilder {
        let steps = crate::steps::for_spec(&spec);
        WorkflowBuilder {
            spec,
            servicenow,
            brightpattern,
            integration_user,
            options: WorkflowOptions::default(),
            events: None,
            steps,
        }
    }

    /// What is wrong with the spec that only the registered steps can tell: a
    /// step's own section (`[steps.<id>]`) that no registered step reads. The
    /// preflight refuses them too; a tool calls this first to fail before any
    /// request.
    pub fn spec_problems(&self) -> Vec<PreflightProblem> {
        self.ctx
            .spec
            .steps
            .keys()
            .filter(|name| {
                !self
                    .steps
                    .iter()
                    .any(|s| s.id().as_str() == name.as_str() && s.section().is_some())
            })
            .map(|name| PreflightProblem::UnknownSection {
                section: name.clone(),
            })
            .collect()
    }

    /// The shared context (the spec, the clients).
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    pub(super) fn step(&self, id: &StepId) -> Arc<dyn DynStep> {
        self.steps
            .iter()
            .find(|s| &s.id() == id)
            .cloned()
            .expect("every step id has a step")
    }

    /// Starts an operation: reads the ledger (and, in the same request, the
    /// allow-list property and the tenant's other integrations) and forgets what
    /// the last operation read. A corrupt ledger is an error only when `writing`.
    pub(super) async fn load_ledger(&self, writing: bool) -> Result<Loaded, WorkflowError> {
        use servicenow_client::properties::POST_MESSAGE_ALLOW_LIST;
        use servicenow_client::release::{BUILD_PROPERTIES, Release};
        let mut also = vec![POST_MESSAGE_ALLOW_LIST];
        also.extend(BUILD_PROPERTIES);
        let loaded = self
            .ctx
            .ledger_store
            .load_with(&also)
            .await
            .map_err(WorkflowError::Ledger)?;
        *self.ctx.release.lock().unwrap_or_else(|p| p.into_inner()) = Release::from_properties(
            loaded
                .properties
                .iter()
                .map(|p| (p.name.as_str(), p.value.as_str())),
        );
        let ledger = match (&loaded.ledger, writing) {
            (Ok(ledger), _) => ledger.clone(),
            (Err(corrupt), true) => return Err(corrupt.clone().into()),
            (Err(_), false) => Ledger::default(),
        };
        let properties = loaded.properties.clone();
        *self
            .ctx
            .neighbours
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = loaded.neighbours.clone();
        self.ctx.oauth_applications.clear().await;
        self.ctx
            .allow_list
            .set(
                properties
                    .into_iter()
                    .find(|p| p.name == POST_MESSAGE_ALLOW_LIST)
                    .map(|p| p.value),
            )
            .await;
        *self.ctx.ledger.lock().await = ledger.clone();
        *self.ctx.saved_ledger.lock().await = ledger;
        Ok(loaded)
    }

    /// Records written so far through this workflow's clients (both
    /// platforms; the lease's renewals included).
    pub(super) fn writes_sent(&self) -> u64 {
        self.ctx.servicenow.transport().stats().writes
            + self.ctx.brightpattern.transport().stats().writes
    }

    /// Refuses to start a writing operation that another run holds (read with
    /// the ledger): nothing is written, not even a claim of the lease.
    pub(super) fn refuse_if_held(&self, loaded: &Loaded) -> Result<(), LeaseHeld> {
        match &loaded.held {
            Some(holder) if !self.ctx.options.lease.break_lease => Err(LeaseHeld {
                holder: holder.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Notes what an operation did to the tool's own rows, for its footprint.
    pub(super) fn note_bookkeeping(&self, note: String) {
        self.bookkeeping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(note);
    }

    /// Runs a writing operation under the integration's lease, giving it back
    /// at the end whatever the outcome; the footprint says what the operation
    /// wrote, whose lease it broke and what it did to the tool's own rows.
    pub(super) async fn holding_lease<T>(
        &self,
        operation: &str,
        run: impl std::future::Future<Output = T>,
    ) -> Result<(T, Footprint), WorkflowError> {
        let start = self.writes_sent();
        self.bookkeeping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        *self.update_set.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let lease = self.lease(operation).await?;
        let lease_broken = lease.broken().to_vec();
        for cleared in lease.cleared() {
            self.note_bookkeeping(cleared.to_string());
        }
        let result = run.await;
        if let Err(e) = lease.release().await {
            tracing::warn!(error = %e, "could not release the lease; it expires by itself");
        }
        let bookkeeping =
            std::mem::take(&mut *self.bookkeeping.lock().unwrap_or_else(|p| p.into_inner()));
        let update_set = self
            .update_set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let footprint = Footprint {
            writes: self.writes_sent().saturating_sub(start),
            lease_broken,
            bookkeeping,
            update_set,
        };
        Ok((result, footprint))
    }

    /// Takes the integration's lease for a writing operation.
    pub(super) async fn lease(&self, operation: &str) -> Result<Lease, WorkflowError> {
        match Lease::acquire(
            &self.ctx.servicenow,
            &self.ctx.ledger_store.prefix(),
            operation,
            &self.ctx.options.lease,
        )
        .await
        .map_err(WorkflowError::Ledger)?
        {
            Ok(lease) => {
                for broken in lease.broken() {
                    self.ctx.emit(Event::Warning {
                        step: StepId::RUN,
                        message: format!("took over the lease of {broken} (--break-lease)"),
                    });
                }
                Ok(lease)
            }
            Err(held) => Err(held.into()),
        }
    }

    /// Starts writing, under the lease: reads the ledger again (another run
    /// may have changed it since the plan) and marks the tool's own rows that
    /// an older version made without `ignore_cache`/`is_private`, before any
    /// of them is written again. A corrupt ledger is an error unless
    /// `corrupt_ok` (repair).
    pub(super) async fn load_for_writing(&self, corrupt_ok: bool) -> Result<Loaded, WorkflowError> {
        let loaded = self.load_ledger(!corrupt_ok).await?;
        if !loaded.unflagged.is_empty() {
            self.ctx
                .ledger_store
                .flag(&loaded.unflagged)
                .await
                .map_err(WorkflowError::Ledger)?;
            self.note_bookkeeping(format!(
                "marked {} of its own rows (made by an older version) ignore_cache and is_private",
                loaded.unflagged.len()
            ));
        }
        if loaded.ledger.is_ok()
            && let Some(note) = crate::update_set::recover(&self.ctx)
                .await
                .map_err(WorkflowError::UpdateSet)?
        {
            self.note_bookkeeping(note);
        }
        Ok(loaded)
    }

    /// Prepares the update set of a writing operation's configuration writes
    /// ([`crate::update_set`]).
    pub(super) async fn begin_update_set(
        &self,
    ) -> Result<Option<crate::update_set::Switch>, WorkflowError> {
        crate::update_set::Switch::begin(&self.ctx)
            .await
            .map_err(WorkflowError::UpdateSet)
    }

    /// Ends the operation's use of its update set: the administrator's choice
    /// put back, the capture proven when `wrote_configuration`; the use is kept
    /// for the footprint, and a failed or pending proof is also a warning.
    pub(super) async fn finish_update_set(
        &self,
        switch: Option<crate::update_set::Switch>,
        wrote_configuration: bool,
    ) -> Option<Check> {
        let switch = switch?;
        let (used, proof, notes) = switch.finish(&self.ctx, wrote_configuration).await;
        for note in notes {
            self.ctx.emit(Event::Warning {
                step: StepId::RUN,
                message: note.clone(),
            });
            self.note_bookkeeping(note);
        }
        if let Some(check) = proof.as_ref().filter(|c| !c.is_ok()) {
            self.ctx.emit(Event::Warning {
                step: StepId::RUN,
                message: format!("{}: {}", check.check, check.detail),
            });
        }
        *self.update_set.lock().unwrap_or_else(|p| p.into_inner()) = Some(used);
        proof
    }

    /// Whether a step is one whose writes update sets capture.
    pub(super) fn writes_configuration(&self, id: &StepId) -> bool {
        self.steps
            .iter()
            .any(|s| &s.id() == id && s.writes_configuration())
    }

    /// Runs `run` for every step, wave by wave (the steps of a wave
    /// concurrently), each seeing in its [`Upstream`] the plans of the waves
    /// before it; returns what each gave, in wave order.
    pub(super) async fn by_waves<T>(
        &self,
        ctx: &Context,
        mut upstream: Upstream,
        run: impl for<'a> Fn(&'a dyn DynStep, &'a Context, &'a Upstream) -> StepFuture<'a, T>,
    ) -> Result<Vec<T>, WorkflowError> {
        let mut out = Vec::new();
        for wave in &self.waves {
            let results = futures_util::future::join_all(wave.iter().map(|&i| {
                let step = &self.steps[i];
                let running = run(step.as_ref(), ctx, &upstream);
                async move {
                    running.await.map_err(|source| WorkflowError::Step {
                        step: step.id(),
                        source,
                    })
                }
            }))
            .await;
            for result in results {
                let (planned, value) = result?;
                upstream.add_plan(planned);
                out.push(value);
            }
        }
        Ok(out)
    }
}

/// The steps of a plan that refuse a record they cannot prove their own.
pub(super) fn taken_in(planned: &[PlannedStep]) -> Vec<Taken> {
    planned
        .iter()
        .filter(|p| p.action == Action::Refuse)
        .map(|p| Taken {
            step: p.step.clone(),
            resource: p.resource.clone(),
            detail: p.warnings.join("; "),
        })
        .collect()
}
