//! The workflow: plan, apply, verify and teardown over the steps.
//!
//! Steps run in dependency waves: plugins first; then the OpenFrame
//! configuration, access, the CORS rule and the OAuth endpoint concurrently; then
//! the integration account (it needs the OAuth endpoint). Within a wave, results
//! are reported in procedure order, so the outcome never depends on timing.

use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};

use servicenow_client::Error;
use tokio::sync::Mutex;

use crate::events::{Event, EventHandler};
use crate::lease::{Lease, LeaseHeld};
use crate::ledger::{CorruptLedger, Ledger, LedgerKey, LedgerStore, Loaded};
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
    #[error("the ledger: {0}")]
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
        if self.steps.iter().any(|s| s.id() == id) {
            return Err(fail("a step with this id is registered already".into()));
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
        let key = LedgerKey::new(
            self.spec.instance.as_str(),
            self.spec.tenant.host(),
            &[
                &self.spec.openframe.name,
                &self.spec.cors_name,
                &self.spec.oauth.name,
                &self.spec.integration_account.name,
            ],
        );
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
        let mut steps = crate::steps::built_in();
        if !spec.properties.is_empty() {
            steps.push(Arc::new(crate::steps::properties::PropertiesStep));
        }
        if spec.store_app.is_some() {
            steps.push(Arc::new(crate::steps::store_app::StoreAppStep));
        }
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

    /// The shared context (the spec, the clients).
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    fn step(&self, id: &StepId) -> Arc<dyn DynStep> {
        self.steps
            .iter()
            .find(|s| &s.id() == id)
            .cloned()
            .expect("every step id has a step")
    }

    /// Starts an operation: reads the ledger (and, in the same request, the
    /// allow-list property and the tenant's other integrations) and forgets what
    /// the last operation read. A corrupt ledger is an error only when `writing`.
    async fn load_ledger(&self, writing: bool) -> Result<Loaded, WorkflowError> {
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

    /// The records with configured names that this integration does not own,
    /// as the steps observe them now.
    async fn taken(&self) -> Result<Vec<Taken>, WorkflowError> {
        let ids = [StepId::OPENFRAME, StepId::CORS, StepId::OAUTH_ENDPOINT];
        let planned = futures_util::future::join_all(ids.iter().map(|id| {
            let step = self.step(id);
            let ctx = self.ctx.clone();
            async move {
                step.plan(&ctx, &Upstream::default())
                    .await
                    .map_err(|source| WorkflowError::Step {
                        step: id.clone(),
                        source,
                    })
            }
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        Ok(taken_in(&planned))
    }

    /// Checks, before anything is written, that the administrator holds what
    /// every step needs (and what the ledger and lease need), and — when
    /// `releases` — that the instance is recent enough for every step. Every
    /// problem is named at once. Credentials that name no user (client
    /// credentials, an API key) cannot be checked: a warning says so.
    pub async fn preflight(&self, releases: bool) -> Result<Vec<PreflightProblem>, WorkflowError> {
        self.preflight_knowing(releases, None).await
    }

    /// [`preflight`](Self::preflight), with the release when this operation has
    /// read it already (plan reads it with the ledger), so it is not read twice.
    async fn preflight_knowing(
        &self,
        releases: bool,
        known: Option<servicenow_client::release::Release>,
    ) -> Result<Vec<PreflightProblem>, WorkflowError> {
        let ctx = &self.ctx;
        let mut problems = Vec::new();
        let mut needs = vec![RoleNeed::admin(
            "the ledger and the lease, kept in system properties",
        )];
        for step in &self.steps {
            for need in step.required_roles(ctx) {
                match needs.iter_mut().find(|n| n.any_of == need.any_of) {
                    Some(n) if !n.purpose.contains(&need.purpose) => {
                        n.purpose = format!("{}, {}", n.purpose, need.purpose);
                    }
                    Some(_) => {}
                    None => needs.push(need),
                }
            }
        }
        let minimums: Vec<(StepId, Family, String)> = if releases {
            self.steps
                .iter()
                .filter_map(|s| s.minimum_release(ctx).map(|(f, why)| (s.id(), f, why)))
                .collect()
        } else {
            Vec::new()
        };
        let user = ctx.servicenow.username().map(str::to_owned);
        let roles: Vec<&str> = {
            let mut all: Vec<&str> = needs
                .iter()
                .flat_map(|n| n.any_of.iter().map(String::as_str))
                .collect();
            all.sort_unstable();
            all.dedup();
            all
        };
        let held = async {
            match &user {
                Some(user) => ctx.servicenow.roles().held_by(user, &roles).await.map(Some),
                None => Ok(None),
            }
        };
        let release = async {
            match known {
                _ if minimums.is_empty() => Ok(None),
                Some(release) => Ok(Some(release)),
                None => ctx.servicenow.release().await.map(Some),
            }
        };
        let (held, release) = futures_util::join!(held, release);
        let release = release.map_err(WorkflowError::PreflightRead)?;
        let held = match (held, &user) {
            (Err(Error::MissingRecord { .. }), Some(user)) => {
                problems.push(PreflightProblem::UnknownUser { user: user.clone() });
                None
            }
            (held, _) => held.map_err(WorkflowError::PreflightRead)?,
        };
        match (user, held) {
            (Some(user), Some(held)) => {
                let unmet: Vec<RoleNeed> = needs
                    .into_iter()
                    .filter(|n| !n.any_of.iter().any(|r| held.contains(r)))
                    .collect();
                if !unmet.is_empty() {
                    problems.push(PreflightProblem::MissingRoles { user, unmet });
                }
            }
            (Some(_), None) => {}
            (None, _) => ctx.emit(Event::Warning {
                step: StepId::PLUGINS,
                message: format!(
                    "the administrator's roles were not checked: {} credentials name no user (the instance's answers will tell)",
                    ctx.servicenow.credentials_method()
                ),
            }),
        }
        problems.extend(
            crate::update_set::preflight(ctx)
                .await
                .map_err(WorkflowError::PreflightRead)?,
        );
        if let Some(release) = release {
            *ctx.release.lock().unwrap_or_else(|p| p.into_inner()) = release.clone();
            for (step, minimum, reason) in minimums {
                if release.at_least(minimum.clone()) == Some(false) {
                    problems.push(PreflightProblem::ReleaseTooOld {
                        step,
                        release: release.to_string(),
                        minimum,
                        reason,
                    });
                }
            }
        }
        Ok(problems)
    }

    /// Runs [`preflight`](Self::preflight) and fails on any problem.
    async fn require_preflight(&self, releases: bool) -> Result<(), WorkflowError> {
        let problems = self.preflight(releases).await?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(WorkflowError::Preflight(problems))
        }
    }

    /// Records written so far through this workflow's clients (both
    /// platforms; the lease's renewals included).
    fn writes_sent(&self) -> u64 {
        self.ctx.servicenow.transport().stats().writes
            + self.ctx.brightpattern.transport().stats().writes
    }

    /// Refuses to start a writing operation that another run holds (read with
    /// the ledger): nothing is written, not even a claim of the lease.
    fn refuse_if_held(&self, loaded: &Loaded) -> Result<(), LeaseHeld> {
        match &loaded.held {
            Some(holder) if !self.ctx.options.lease.break_lease => Err(LeaseHeld {
                holder: holder.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Notes what an operation did to the tool's own rows, for its footprint.
    fn note_bookkeeping(&self, note: String) {
        self.bookkeeping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(note);
    }

    /// Runs a writing operation under the integration's lease, giving it back
    /// at the end whatever the outcome; the footprint says what the operation
    /// wrote, whose lease it broke and what it did to the tool's own rows.
    async fn holding_lease<T>(
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
    async fn lease(&self, operation: &str) -> Result<Lease, WorkflowError> {
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
                        step: StepId::PLUGINS,
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
    async fn load_for_writing(&self, corrupt_ok: bool) -> Result<Loaded, WorkflowError> {
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
        if loaded.ledger.is_ok() {
            if let Some(note) = crate::update_set::recover(&self.ctx)
                .await
                .map_err(WorkflowError::UpdateSet)?
            {
                self.note_bookkeeping(note);
            }
        }
        Ok(loaded)
    }

    /// Prepares the update set of a writing operation's configuration writes
    /// ([`crate::update_set`]).
    async fn begin_update_set(&self) -> Result<Option<crate::update_set::Switch>, WorkflowError> {
        crate::update_set::Switch::begin(&self.ctx)
            .await
            .map_err(WorkflowError::UpdateSet)
    }

    /// Ends the operation's use of its update set: the administrator's choice
    /// put back, the capture proven when `wrote_configuration`; the use is kept
    /// for the footprint, and a failed or pending proof is also a warning.
    async fn finish_update_set(
        &self,
        switch: Option<crate::update_set::Switch>,
        wrote_configuration: bool,
    ) -> Option<Check> {
        let switch = switch?;
        let (used, proof, notes) = switch.finish(&self.ctx, wrote_configuration).await;
        for note in notes {
            self.ctx.emit(Event::Warning {
                step: StepId::PLUGINS,
                message: note.clone(),
            });
            self.note_bookkeeping(note);
        }
        if let Some(check) = proof.as_ref().filter(|c| !c.is_ok()) {
            self.ctx.emit(Event::Warning {
                step: StepId::PLUGINS,
                message: format!("{}: {}", check.check, check.detail),
            });
        }
        *self.update_set.lock().unwrap_or_else(|p| p.into_inner()) = Some(used);
        proof
    }

    /// Whether a step is one whose writes update sets capture.
    fn writes_configuration(&self, id: &StepId) -> bool {
        self.steps
            .iter()
            .any(|s| &s.id() == id && s.writes_configuration())
    }

    /// Runs `run` for every step, wave by wave (the steps of a wave
    /// concurrently), each seeing in its [`Upstream`] the plans of the waves
    /// before it; returns what each gave, in wave order.
    async fn by_waves<T>(
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

    /// Every step's plan, observed through read-only clients, wave by wave.
    async fn planned_steps(&self) -> Result<Vec<PlannedStep>, WorkflowError> {
        let reading = self.ctx.preview().await;
        self.by_waves(&reading, Upstream::default(), |step, ctx, upstream| {
            Box::pin(async move {
                let planned = step.plan(ctx, upstream).await?;
                Ok((planned.clone(), planned))
            })
        })
        .await
    }

    /// What apply would change. Reads only: the steps observe through
    /// read-only clients ([`Context::is_preview`]), so a step that tried to
    /// write while planning would fail the plan instead.
    pub async fn plan(&self) -> Result<Plan, WorkflowError> {
        let start = self.writes_sent();
        let loaded = self.load_ledger(false).await?;
        let steps = self.planned_steps().await?;
        let mut notes = Vec::new();
        if let Err(corrupt) = &loaded.ledger {
            notes.push(format!(
                "{corrupt}; apply and teardown refuse to write until then"
            ));
        }
        for other in &loaded.other_integrations {
            notes.push(format!(
                "another integration with this tenant has a ledger ({other}*): a spec with other names is a new integration, and that one is left as it is"
            ));
        }
        let release = self.ctx.release();
        if !release.is_known() {
            notes.push(format!(
                "the instance's release is unknown (none of {} names it): checks that depend on it are not made",
                servicenow_client::release::BUILD_PROPERTIES.join(", ")
            ));
        }
        let refusals = self.preflight_knowing(true, Some(release.clone())).await?;
        let update_set = match crate::update_set::planned(&self.ctx).await {
            Ok(update_set) => update_set,
            Err(e) => {
                notes.push(format!(
                    "the update set apply's configuration writes would land in could not be read: {e}"
                ));
                None
            }
        };
        let mut bookkeeping = if loaded.unflagged.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "{} of the tool's own rows (made by an older version): mark them ignore_cache and is_private, so that writing them never flushes the cache nor travels in an update set",
                loaded.unflagged.len()
            )]
        };
        if let Ok(Some(switch)) = loaded.ledger.as_ref().map(|l| &l.update_set_switch) {
            notes.push(format!(
                "a stopped run left the administrator's current update set switched to {}: the next writing run puts the previous choice back",
                switch.update_set
            ));
            bookkeeping.push(
                "put back the administrator's update set choice that a stopped run switched"
                    .to_owned(),
            );
        }
        Ok(Plan {
            steps,
            notes,
            release,
            refusals,
            held_by: loaded.held,
            bookkeeping,
            footprint: Footprint {
                writes: self.writes_sent().saturating_sub(start),
                update_set,
                ..Footprint::default()
            },
        })
    }

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
        let start = self.writes_sent();
        self.require_preflight(true).await?;
        let loaded = self.load_ledger(true).await?;
        self.refuse_if_held(&loaded).map_err(WorkflowError::from)?;
        let planned = self.planned_steps().await?;
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
        let (result, footprint) = self.holding_lease("apply", self.apply_holding()).await?;
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

    async fn apply_holding(&self) -> Result<(ApplyReport, Upstream), ApplyError> {
        let mut report = ApplyReport {
            steps: Vec::new(),
            proofs: Vec::new(),
            footprint: Footprint::default(),
        };
        let mut failures: Vec<(StepId, StepError)> = Vec::new();
        let mut upstream = Upstream::default();
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
                        upstream.add_outputs(outputs);
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
            .add_outputs(upstream.outputs_only().into_outputs());
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
    async fn prove_changed(&self, report: &mut ApplyReport, upstream: &Upstream) {
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

    /// Checks every step — its records read back, then its effects proven (the
    /// OAuth round trip, the CORS preflight, the Agent Desktop page, which
    /// configuration each agent gets) — with a fix hint for each problem. Writes
    /// nothing. The report is ok only when every check is; a manual step or an
    /// effect that cannot be proven from here is pending, never ok.
    pub async fn verify(&self) -> Result<VerifyReport, WorkflowError> {
        let start = self.writes_sent();
        let loaded = self.load_ledger(false).await?;
        let mut checks = Vec::new();
        if let Err(corrupt) = &loaded.ledger {
            checks.push(Check::fail(
                "the ledger of what bp-servicenow created",
                corrupt.reason.clone(),
                "run `bp-servicenow repair`",
            ));
        }
        // Wave by wave, as plan: a step's plan may depend on the ones before it;
        // what this workflow's applies handed on (a generated secret) is known.
        let handed_on = self
            .handed_on
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let per_step = self
            .by_waves(&self.ctx, handed_on, |step, ctx, upstream| {
                step.verify(ctx, upstream)
            })
            .await?;
        checks.extend(per_step.into_iter().flatten());
        let mut report = VerifyReport::new(checks);
        report.footprint.writes = self.writes_sent().saturating_sub(start);
        Ok(report)
    }

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

    async fn rotate_secret_holding(&self) -> Result<SecretRotation, WorkflowError> {
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
        upstream.add_outputs(vec![Arc::new(crate::step::GeneratedSecret {
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

    /// Rebuilds the ledger when it cannot be read (or to check it): takes the
    /// lease, salvages what the damaged properties still say, and claims only
    /// what can be proven this integration's — an OAuth application by the mark
    /// in its comments; a configuration, rule or grant when the damaged ledger
    /// still names its sys_id and the record's natural key matches; the
    /// allow-list entry and the integration account when it still names them.
    /// Everything else with the configured names is reported and left out.
    /// Adopted records' previous values cannot be recovered: they are reported.
    pub async fn repair(&self) -> Result<RepairReport, WorkflowError> {
        let loaded = self.load_ledger(false).await?;
        self.refuse_if_held(&loaded)?;
        let (result, footprint) = self.holding_lease("repair", self.repair_holding()).await?;
        result.map(|mut report| {
            report.footprint = footprint;
            report
        })
    }

    async fn repair_holding(&self) -> Result<RepairReport, WorkflowError> {
        let ctx = &self.ctx;
        let raw = ctx
            .ledger_store
            .raw_text()
            .await
            .map_err(WorkflowError::Ledger)?;
        // Work from an empty ledger: nothing is ours until proven.
        let loaded = self.load_for_writing(true).await?;
        let readable = loaded.ledger.as_ref().ok().cloned();
        *ctx.ledger.lock().await = Ledger::default();
        let mut report = RepairReport::default();
        let mut ledger = Ledger::default();
        let sn = &ctx.servicenow;
        let spec = &ctx.spec;
        let fail = |step| {
            move |source| WorkflowError::Step {
                step,
                source: StepError::Request(source),
            }
        };

        let configs = sn
            .openframe_configurations()
            .get_by_name(&spec.openframe.name)
            .await
            .ok()
            .flatten();
        if let Some(c) = configs {
            let what = format!("OpenFrame configuration {:?} ({})", c.fields.name, c.sys_id);
            if raw.contains(c.sys_id.as_str()) && spec.openframe_adopt.is_none() {
                ledger.openframe = Some(c.sys_id);
                report.claimed.push(what);
            } else {
                report.unproven.push(what);
            }
        }
        for rule in sn
            .cors_rules()
            .list_by_name(&spec.cors_name)
            .await
            .map_err(fail(StepId::CORS))?
        {
            let what = format!("CORS rule {:?} ({})", rule.name, rule.sys_id);
            if raw.contains(rule.sys_id.as_str()) && ledger.cors_rule.is_none() {
                ledger.cors_rule = Some(rule.sys_id);
                report.claimed.push(what);
            } else {
                report.unproven.push(what);
            }
        }
        let mark = crate::steps::oauth_endpoint::marker_prefix(ctx);
        for app in sn
            .oauth_applications()
            .list_by_name(&spec.oauth.name)
            .await
            .map_err(fail(StepId::OAUTH_ENDPOINT))?
        {
            let what = format!("OAuth application {:?} ({})", app.name, app.sys_id);
            if app.comments.contains(&mark) && ledger.oauth_application.is_none() {
                ledger.oauth_application = Some(app.sys_id);
                report.claimed.push(format!("{what}, by its mark"));
            } else {
                report.unproven.push(what);
            }
        }
        // Grants: the damaged ledger names the id, and the row is a grant of the
        // role to a listed user or group.
        let roles = sn.roles();
        for user in &spec.access.users {
            if let Ok(status) = roles.user_status(user, crate::spec::OPENFRAME_ROLE).await {
                if let Some(id) = status.direct {
                    let what = format!(
                        "grant of {} to user {user} ({id})",
                        crate::spec::OPENFRAME_ROLE
                    );
                    if raw.contains(id.as_str()) {
                        ledger.user_grants.insert(user.clone(), id);
                        report.claimed.push(what);
                    } else {
                        report.unproven.push(what);
                    }
                }
            }
        }
        for group in &spec.access.groups {
            if let Ok(Some(grant)) = roles.group_grant(group, crate::spec::OPENFRAME_ROLE).await {
                let what = format!(
                    "grant of {} to group {group} ({})",
                    crate::spec::OPENFRAME_ROLE,
                    grant.sys_id
                );
                if raw.contains(grant.sys_id.as_str()) {
                    ledger.group_grants.insert(group.clone(), grant.sys_id);
                    report.claimed.push(what);
                } else {
                    report.unproven.push(what);
                }
            }
        }
        let origin = spec.openframe.url.tenant().as_str();
        if raw.contains(&format!("\"allow_list_entry\":\"{origin}\"")) {
            ledger.allow_list_entry = Some(origin.to_owned());
            report
                .claimed
                .push(format!("postMessage allow-list entry {origin}"));
        }
        let account = &spec.integration_account.name;
        if raw.contains(&format!(
            "\"integration_account\":{}",
            serde_json::json!(account)
        )) {
            ledger.integration_account = Some(account.clone());
            report
                .claimed
                .push(format!("integration account {account:?}"));
        }
        for adopted in ["openframe_adopted", "cors_adopted"] {
            if raw.contains(adopted) {
                report.lost.push(format!(
                    "the previous values of an adopted record ({adopted}): teardown cannot restore them; note them by hand"
                ));
            }
        }
        // Every other step rebuilds its own section (a custom step's too).
        for step in &self.steps {
            let id = step.id();
            if StepId::BUILT_IN.contains(&id) {
                continue;
            }
            let damaged = crate::step::Damaged::for_step(&raw, readable.as_ref(), &id);
            let repaired =
                step.repair(ctx, &damaged)
                    .await
                    .map_err(|source| WorkflowError::Step {
                        step: id.clone(),
                        source,
                    })?;
            if let Some(section) = repaired.section {
                ledger.steps.insert(id.as_str().to_owned(), section);
            }
            report.claimed.extend(repaired.claimed);
            report.unproven.extend(repaired.unproven);
            report.lost.extend(repaired.lost);
        }
        // A switch of the administrator's update set that is not put back yet
        // stays recorded, so that the next writing run puts it back.
        ledger.update_set_switch = match &readable {
            Some(l) => l.update_set_switch.clone(),
            None => crate::step::salvage_value(&raw, "update_set_switch")
                .and_then(|v| serde_json::from_value(v).ok()),
        };
        ctx.ledger_store
            .save(&ledger)
            .await
            .map_err(WorkflowError::Ledger)?;
        *ctx.ledger.lock().await = ledger.clone();
        *ctx.saved_ledger.lock().await = ledger;
        Ok(report)
    }

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
    async fn teardown_preview(&self) -> Result<Vec<TeardownStep>, WorkflowError> {
        let preview = self.ctx.preview().await;
        let mut steps = Vec::new();
        for step in self.steps.iter().rev() {
            let id = step.id();
            let removals = step
                .undo(&preview)
                .await
                .map_err(|source| WorkflowError::Step {
                    step: id.clone(),
                    source,
                })?;
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

    async fn teardown_holding(&self) -> Result<TeardownReport, WorkflowError> {
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
    async fn undo_all(&self) -> Result<Vec<TeardownStep>, WorkflowError> {
        let mut steps = Vec::new();
        for step in self.steps.iter().rev() {
            let id = step.id();
            let removals = step.undo(&self.ctx).await;
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

/// The steps of a plan that refuse a record they cannot prove their own.
fn taken_in(planned: &[PlannedStep]) -> Vec<Taken> {
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
