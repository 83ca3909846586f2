//! The one trait every step implements, and what steps share.
//!
//! A [`Step`] observes the current state (reads only), computes the change from
//! it, applies that change, verifies the result, and undoes what the workflow
//! created. The workflow runs steps through a type-erased adapter, so each step
//! keeps its own typed state.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};

use async_trait::async_trait;
use secrecy::SecretString;
use servicenow_client::release::{Family, Release};
use servicenow_client::{Error, Result};
use tokio::sync::Mutex;

use crate::events::{Event, EventHandler};
use crate::ledger::{Ledger, LedgerStore};
pub use crate::managed::pick;
pub(crate) use crate::managed::{duplicates_check, duplicates_text};
pub use crate::model::{Action, Change, FieldChange, ManualStep, RoleNeed, StepId};
use crate::report::{AppliedStep, Check, Outcome, PlannedStep, Removal};
use crate::spec::ResolvedSpec;

/// The ServiceNow user whose refresh token the integration account gets.
#[derive(Clone)]
pub struct ServiceNowLogin {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: SecretString,
}

impl fmt::Debug for ServiceNowLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceNowLogin")
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

/// Knobs of a run: start from [`WorkflowOptions::default`] and set what differs.
///
/// ```
/// use brightpattern_servicenow::WorkflowOptions;
/// use servicenow_client::plugins::WaitOptions;
/// let options = WorkflowOptions::default()
///     .plugin_wait(WaitOptions::fast())
///     .reveal_secrets(true);
/// assert!(options.reveal_secrets);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct WorkflowOptions {
    /// How plugin activations are awaited.
    pub plugin_wait: servicenow_client::plugins::WaitOptions,
    /// Show secrets in manual instructions (off by default).
    pub reveal_secrets: bool,
    /// The OAuth application's client secret, when the caller knows it: verify then
    /// proves the OAuth client end to end (a run that creates or rotates the
    /// secret proves it anyway). Never printed.
    pub oauth_client_secret: Option<SecretString>,
    /// How apply and teardown take the integration's lease.
    pub lease: crate::lease::LeaseOptions,
    /// How the instance lock around shared records (the allow-list, grants)
    /// is taken.
    pub instance_lock: crate::lease::InstanceLockOptions,
}

impl WorkflowOptions {
    /// Sets how plugin activations are awaited.
    pub fn plugin_wait(mut self, wait: servicenow_client::plugins::WaitOptions) -> Self {
        self.plugin_wait = wait;
        self
    }

    /// Shows secrets in manual instructions.
    pub fn reveal_secrets(mut self, reveal: bool) -> Self {
        self.reveal_secrets = reveal;
        self
    }

    /// Gives the OAuth application's client secret, when known (or `None`).
    pub fn oauth_client_secret(mut self, secret: impl Into<Option<SecretString>>) -> Self {
        self.oauth_client_secret = secret.into();
        self
    }

    /// Sets how the lease is taken.
    pub fn lease(mut self, lease: crate::lease::LeaseOptions) -> Self {
        self.lease = lease;
        self
    }

    /// Sets how the instance lock around shared records is taken.
    pub fn instance_lock(mut self, lock: crate::lease::InstanceLockOptions) -> Self {
        self.instance_lock = lock;
        self
    }
}

/// A record read once per run and shared by the steps that observe it (a read
/// cache, cleared at the start of every operation; never a way to pass values
/// between steps — those are [outputs](Applied::with_output)).
pub(crate) struct Memo<T>(Mutex<Option<T>>);

impl<T: Clone> Memo<T> {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(None))
    }

    /// The value, read with `read` the first time (concurrent callers wait for it).
    pub(crate) async fn get_or_read<F>(&self, read: F) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>> + Send,
    {
        let mut slot = self.0.lock().await;
        if let Some(v) = &*slot {
            return Ok(v.clone());
        }
        let v = read.await?;
        *slot = Some(v.clone());
        Ok(v)
    }

    /// Replaces the value (after a step changed the record).
    pub(crate) async fn set(&self, value: T) {
        *self.0.lock().await = Some(value);
    }

    /// A memo holding what this one holds now.
    pub(crate) async fn copied(&self) -> Self {
        Self(Mutex::new(self.0.lock().await.clone()))
    }

    /// Forgets the value (the next reader reads again).
    pub(crate) async fn clear(&self) {
        *self.0.lock().await = None;
    }
}

/// Records that share a configured name: the one this integration manages (the
/// one its ledger records, else the first) and the others, which are reported
/// and never touched.
#[derive(Debug, Clone)]
pub struct Named<R> {
    /// The record managed, when any has the name.
    pub managed: Option<R>,
    /// The other records with the name.
    pub duplicates: Vec<servicenow_client::wire::SysId>,
}

/// What every step can reach: the spec, both clients, the ledger, events.
pub struct Context {
    /// The resolved spec.
    pub spec: ResolvedSpec,
    /// The ServiceNow client (an administrator).
    pub servicenow: servicenow_client::Client,
    /// The Bright Pattern client.
    pub brightpattern: brightpattern_client::Client,
    /// The user whose refresh token the integration account gets.
    pub integration_user: ServiceNowLogin,
    /// Knobs.
    pub options: WorkflowOptions,
    pub(crate) ledger: Mutex<Ledger>,
    pub(crate) saved_ledger: Mutex<Ledger>,
    pub(crate) ledger_store: LedgerStore,
    /// The ledgers of the tenant's other integrations, read with ours.
    pub(crate) neighbours: StdMutex<Vec<Ledger>>,
    pub(crate) events: Option<EventHandler>,
    /// The OAuth applications with the spec's name (steps 5 and 6 observe them).
    pub(crate) oauth_applications: Memo<Named<servicenow_client::oauth::OAuthApplication>>,
    /// The postMessage allow-list value (read with the ledger).
    pub(crate) allow_list: Memo<Option<String>>,
    /// The instance's release, read with the ledger at the start of every
    /// operation.
    pub(crate) release: StdMutex<Release>,
    /// Whether this context serves a preview, plan or teardown's ([`Context::write`]).
    pub(crate) preview: bool,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("spec", &self.spec)
            .field("servicenow", &self.servicenow)
            .field("brightpattern", &self.brightpattern)
            .field("integration_user", &self.integration_user)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context for a preview (plan, or teardown's): the same spec, options,
    /// ledger, reads and release, on read-only clients (so that a write that is
    /// not sent through [`Context::write`] fails instead of happening). Its
    /// ledger changes are never saved.
    pub(crate) async fn preview(&self) -> Context {
        let ledger = self.ledger().await;
        let neighbours = self
            .neighbours
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let oauth_applications = self.oauth_applications.copied().await;
        let allow_list = self.allow_list.copied().await;
        Context {
            spec: self.spec.clone(),
            servicenow: self.servicenow.read_only(),
            brightpattern: self.brightpattern.read_only(),
            integration_user: self.integration_user.clone(),
            options: self.options.clone(),
            saved_ledger: Mutex::new(ledger.clone()),
            ledger: Mutex::new(ledger),
            ledger_store: self.ledger_store.read_only(),
            neighbours: StdMutex::new(neighbours),
            events: self.events.clone(),
            oauth_applications,
            allow_list,
            release: StdMutex::new(self.release()),
            preview: true,
        }
    }

    /// Whether this context serves a preview — [`Workflow::plan`](crate::Workflow::plan)
    /// or [`Workflow::teardown_plan`](crate::Workflow::teardown_plan): its
    /// clients refuse every request but reads, and [`Context::write`] sends
    /// nothing.
    pub fn is_preview(&self) -> bool {
        self.preview
    }

    /// Runs `write` — a request that changes something — and gives its result;
    /// in a preview ([`Context::is_preview`]) it is not started and
    /// `Ok(None)` comes back. A step's [`undo`](Step::undo) sends every write
    /// through here, so that one function decides both what teardown does and
    /// what its preview says it would do — for example
    /// `ctx.write(rules.delete(&id)).await?`.
    pub async fn write<T, E>(
        &self,
        write: impl std::future::Future<Output = std::result::Result<T, E>>,
    ) -> std::result::Result<Option<T>, E> {
        if self.preview {
            Ok(None)
        } else {
            write.await.map(Some)
        }
    }

    /// Sends an event to the caller's handler, if any.
    pub fn emit(&self, event: Event) {
        if let Some(handler) = &self.events {
            handler(&event);
        }
    }

    /// Reads the other integrations' ledgers and the allow-list again (under
    /// the instance lock, before a shared record is decided on).
    pub(crate) async fn refresh_shared(&self) -> StepResult<()> {
        use servicenow_client::properties::POST_MESSAGE_ALLOW_LIST;
        let loaded = self
            .ledger_store
            .load_with(&[POST_MESSAGE_ALLOW_LIST])
            .await?;
        *self.neighbours.lock().unwrap_or_else(|p| p.into_inner()) = loaded.neighbours;
        self.allow_list
            .set(
                loaded
                    .properties
                    .into_iter()
                    .find(|p| p.name == POST_MESSAGE_ALLOW_LIST)
                    .map(|p| p.value),
            )
            .await;
        Ok(())
    }

    /// Whether another integration on this instance (of any tenant) records
    /// something — a shared record: the allow-list entry, a grant — so that
    /// teardown must leave it. Read with the ledger, and again under the
    /// instance lock before a shared record changes.
    pub fn used_by_another_integration(&self, holds: impl Fn(&Ledger) -> bool) -> bool {
        self.neighbours
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(holds)
    }

    /// A step's own section of the spec (`[steps.<id>]`) as `T`, when the spec
    /// gives one. The registry has checked it against the type the step
    /// declares ([`Step::section`]); reading it as another type fails.
    pub fn section<T: serde::de::DeserializeOwned>(&self, step: &StepId) -> StepResult<Option<T>> {
        let Some(section) = self.spec.steps.get(step.as_str()) else {
            return Ok(None);
        };
        section
            .parse(&format!("steps.{step}"))
            .map(Some)
            .map_err(|problems| StepError::Rejected {
                what: format!("reading [steps.{step}] of the spec"),
                reason: problems.join("; "),
                hint: "read it as the type the step declares in Step::section".into(),
            })
    }

    /// A person's confirmation of a manual step of `step`, when the ledger
    /// holds one (read without copying the rest of the ledger).
    pub(crate) async fn confirmation(&self, step: &StepId) -> Option<crate::ledger::Confirmation> {
        self.ledger
            .lock()
            .await
            .confirmed
            .get(step.as_str())
            .cloned()
    }

    /// A step's typed record in the ledger (what [`reserve_step_record`](Self::reserve_step_record)
    /// or [`set_step_record`](Self::set_step_record) kept), when it has one. A
    /// record that does not read as `R` fails (run `repair`, or read the old shape).
    pub async fn step_record<R: serde::de::DeserializeOwned>(
        &self,
        step: &StepId,
    ) -> StepResult<Option<R>> {
        let Some(value) = self.step_ledger(step).await else {
            return Ok(None);
        };
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| StepError::Rejected {
                what: format!("reading step {step}'s record in the ledger"),
                reason: e.to_string(),
                hint: "run repair, or read the record's older shape".into(),
            })
    }

    /// Sets (or, with `None`, clears) a step's typed record in the ledger;
    /// saved after the step.
    pub async fn set_step_record<R: serde::Serialize>(&self, step: &StepId, record: Option<&R>) {
        let value = record.map(|r| serde_json::to_value(r).unwrap_or_default());
        self.record_step(step, value).await;
    }

    /// Sets a step's typed record and saves the ledger before the write it
    /// describes is sent.
    pub async fn reserve_step_record<R: serde::Serialize>(
        &self,
        step: &StepId,
        record: &R,
    ) -> StepResult<()> {
        self.reserve_step(step, serde_json::to_value(record).unwrap_or_default())
            .await
    }

    /// What a step of the caller's own keeps in the ledger: its section, when it
    /// recorded one.
    pub async fn step_ledger(&self, step: &StepId) -> Option<serde_json::Value> {
        self.ledger.lock().await.steps.get(step.as_str()).cloned()
    }

    /// Sets (or, with `None`, clears) a step's section of the ledger; saved after
    /// the step. Record a write before it is sent with [`reserve_step`](Self::reserve_step).
    pub async fn record_step(&self, step: &StepId, section: Option<serde_json::Value>) {
        let name = step.as_str().to_owned();
        self.record(move |l| match section {
            Some(value) => {
                l.steps.insert(name, value);
            }
            None => {
                l.steps.remove(&name);
            }
        })
        .await;
    }

    /// Sets a step's section and saves the ledger before the write it describes
    /// is sent (so a lost answer still leaves it known as ours).
    pub async fn reserve_step(&self, step: &StepId, section: serde_json::Value) -> StepResult<()> {
        self.record_step(step, Some(section)).await;
        self.save_ledger().await.map_err(StepError::Ledger)
    }

    /// The integration's ledger key.
    pub fn ledger_key(&self) -> &crate::ledger::LedgerKey {
        self.ledger_store.key()
    }

    /// A copy of the ledger as it is now.
    pub async fn ledger(&self) -> Ledger {
        self.ledger.lock().await.clone()
    }

    /// Changes the ledger (kept in memory; the workflow saves it after each step).
    pub async fn record(&self, change: impl FnOnce(&mut Ledger) + Send) {
        change(&mut *self.ledger.lock().await);
    }

    /// Records a record about to be created, and saves the ledger before the
    /// create is sent: if the create's answer is lost (a timeout after the
    /// instance applied it), the next run still knows the record is its own.
    pub async fn reserve(&self, change: impl FnOnce(&mut Ledger) + Send) -> StepResult<()> {
        self.record(change).await;
        self.save_ledger().await.map_err(StepError::Ledger)
    }

    /// Saves the ledger when it differs from what was last saved.
    pub(crate) async fn save_ledger(&self) -> Result<()> {
        let mut saved = self.saved_ledger.lock().await;
        let current = self.ledger.lock().await.clone();
        if *saved != current {
            self.ledger_store.save(&current).await?;
            *saved = current;
        }
        Ok(())
    }

    /// The OAuth applications with the spec's name, read once per run. Names are
    /// not unique: when several have it, the one the ledger records is managed
    /// (else the first), and the others are reported, never touched.
    pub async fn oauth_applications(
        &self,
    ) -> Result<Named<servicenow_client::oauth::OAuthApplication>> {
        self.oauth_applications
            .get_or_read(async {
                let all = self
                    .servicenow
                    .oauth_applications()
                    .list_by_name(&self.spec.oauth.name)
                    .await?;
                let recorded = self.ledger().await.oauth_application;
                let (managed, others) = pick(all, |a| Some(&a.sys_id) == recorded.as_ref());
                Ok(Named {
                    managed,
                    duplicates: others.into_iter().map(|a| a.sys_id).collect(),
                })
            })
            .await
    }

    /// The instance's release, read from its build properties at the start of
    /// the operation (with the ledger, in the same request). Unknown when no
    /// build property names it: a step that depends on it says so.
    pub fn release(&self) -> Release {
        self.release
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The postMessage allow-list value, read once per run.
    pub async fn allow_list(&self) -> Result<Option<String>> {
        self.allow_list
            .get_or_read(async {
                self.servicenow
                    .properties()
                    .value(servicenow_client::properties::POST_MESSAGE_ALLOW_LIST)
                    .await
            })
            .await
    }

    /// Records the sys_id a create answered with. When the instance ignored the
    /// `sys_id` the workflow supplied (no document promises it keeps one), the
    /// ledger gets the real one at once, and the returned note says so.
    pub async fn created(
        &self,
        what: &str,
        supplied: &servicenow_client::wire::SysId,
        answered: &servicenow_client::wire::SysId,
        record: impl FnOnce(&mut Ledger, servicenow_client::wire::SysId) + Send,
    ) -> Option<String> {
        let answered_id = answered.clone();
        self.record(move |l| record(l, answered_id)).await;
        (supplied != answered).then(|| {
            let note = format!(
                "the instance ignored the supplied sys_id {supplied} of the {what} and made {answered}; the ledger records {answered}"
            );
            tracing::warn!("{note}");
            note
        })
    }
}

/// What a step's work returns.
pub type StepResult<T> = std::result::Result<T, StepError>;

/// Why a step failed: the request that failed, or the workflow's own reason (a
/// record not ours, a record it needs missing, a write half made), never a
/// transport error with a made-up state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// A request to the instance or the tenant failed.
    #[error(transparent)]
    Request(#[from] Error),
    /// The ledger could not be saved before a write, so the write was not sent.
    #[error("the ledger could not be saved, so the write it records was not sent: {0}")]
    Ledger(#[source] Error),
    /// A record with the configured name exists and was not made by this
    /// integration; nothing was changed.
    #[error("{record} exists and was not made by bp-servicenow: {reason}")]
    Refused {
        /// The record.
        record: String,
        /// What was found, and how to go on (adopt it, or choose another name).
        reason: String,
    },
    /// A record the step needs does not exist (a plugin's role, the OAuth
    /// application of an earlier step).
    #[error("{record} does not exist: {hint}")]
    Missing {
        /// The record.
        record: String,
        /// What makes it exist.
        hint: String,
    },
    /// Part of a multi-record write was made: what was intended, what was done,
    /// what failed (the ledger records what was done).
    #[error("{intended}: {done}; then {failed}")]
    Incomplete {
        /// What the step set out to do.
        intended: String,
        /// What was done.
        done: String,
        /// The first failure.
        failed: String,
    },
    /// The platform refused what the step needs, by its rules rather than by an
    /// error (a connection test that says invalid, a secret it never returns).
    #[error("{what}: {reason}; {hint}")]
    Rejected {
        /// What was attempted.
        what: String,
        /// What the platform said, or why it cannot be done.
        reason: String,
        /// How to go on.
        hint: String,
    },
}

impl StepError {
    /// The failed request's error, when a request failed.
    pub fn request(&self) -> Option<&Error> {
        match self {
            StepError::Request(e) | StepError::Ledger(e) => Some(e),
            _ => None,
        }
    }
}

/// What the steps before this one planned and handed on: their typed plans and
/// the typed values they produced ([`Applied::with_output`]) — the OAuth client
/// secret step 5 generated, for step 6. Passed to [`Step::change`],
/// [`Step::apply`] and [`Step::prove`]; steps never share values through the
/// context.
#[derive(Clone, Default)]
pub struct Upstream {
    plans: Vec<PlannedStep>,
    /// Each output with the step that handed it on, oldest first.
    outputs: Vec<(StepId, Arc<dyn Any + Send + Sync>)>,
}

/// The outputs a workflow keeps between operations, each with its step.
pub(crate) type Outputs = Vec<(StepId, Arc<dyn Any + Send + Sync>)>;

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("plans", &self.plans)
            .field("outputs", &self.outputs.len())
            .finish()
    }
}

impl Upstream {
    /// What an earlier step planned (in apply: the change it made), when it ran.
    pub fn planned(&self, step: &StepId) -> Option<&PlannedStep> {
        self.plans.iter().find(|p| &p.step == step)
    }

    /// Whether an earlier step is about to change something (its plan is a
    /// create, update or adopt).
    pub fn changes(&self, step: &StepId) -> bool {
        self.planned(step)
            .is_some_and(|p| matches!(p.action, Action::Create | Action::Update | Action::Adopt))
    }

    /// The latest output of type `T` that `step` handed on
    /// ([`Applied::with_output`]).
    pub fn output_of<T: Any + Send + Sync>(&self, step: &StepId) -> Option<&T> {
        self.outputs
            .iter()
            .rev()
            .filter(|(from, _)| from == step)
            .find_map(|(_, o)| o.downcast_ref::<T>())
    }

    /// The latest output of type `T` any earlier step handed on (for a value
    /// several steps may renew, such as a client secret).
    pub fn output<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.outputs
            .iter()
            .rev()
            .find_map(|(_, o)| o.downcast_ref::<T>())
    }

    pub(crate) fn add_plan(&mut self, planned: PlannedStep) {
        self.plans.retain(|p| p.step != planned.step);
        self.plans.push(planned);
    }

    /// Adds what `step` handed on.
    pub(crate) fn add_outputs(&mut self, step: &StepId, outputs: Vec<Arc<dyn Any + Send + Sync>>) {
        self.outputs
            .extend(outputs.into_iter().map(|o| (step.clone(), o)));
    }

    /// Adds outputs kept from earlier operations.
    pub(crate) fn add_kept(&mut self, outputs: Outputs) {
        self.outputs.extend(outputs);
    }

    /// The outputs alone (no plans): what a workflow remembers of its applies.
    pub(crate) fn outputs_only(&self) -> Upstream {
        Upstream {
            plans: Vec::new(),
            outputs: self.outputs.clone(),
        }
    }

    pub(crate) fn into_outputs(self) -> Outputs {
        self.outputs
    }
}

/// What a step's apply did: a description for people, and typed values for the
/// steps after it.
#[derive(Clone)]
pub struct Applied {
    /// What was done, in words.
    pub detail: String,
    outputs: Vec<Arc<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applied")
            .field("detail", &self.detail)
            .field("outputs", &self.outputs.len())
            .finish()
    }
}

impl Applied {
    /// What was done.
    pub fn new(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            outputs: Vec::new(),
        }
    }

    /// Hands `value` to the steps after this one ([`Upstream::output`]).
    pub fn with_output<T: Any + Send + Sync>(mut self, value: T) -> Self {
        self.outputs.push(Arc::new(value));
        self
    }
    pub(crate) fn into_outputs(self) -> Vec<Arc<dyn Any + Send + Sync>> {
        self.outputs
    }
}

impl From<String> for Applied {
    fn from(detail: String) -> Self {
        Self::new(detail)
    }
}

/// One step of the procedure.
///
/// A step observes (reads only), computes its typed [`Change`] from what it
/// observed (pure: no request, no shared state), applies that change, proves its
/// effect, and undoes what the ledger says it made. Verify is derived: observe,
/// "the change is empty", the step's [`findings`](Step::findings), and its
/// [proofs by effect](Step::prove) — not a second copy of each comparison.
#[async_trait]
pub trait Step: Send + Sync {
    /// What the step observes.
    type State: Send + Sync;

    /// Which step this is.
    fn id(&self) -> StepId;

    /// The steps that must be applied before this one (they must be registered
    /// first). A step runs in the first wave after all of them.
    fn depends_on(&self) -> Vec<StepId> {
        Vec::new()
    }

    /// What the step manages, for people (`CORS rule "Bright Pattern"`).
    fn resource(&self, ctx: &Context) -> String;

    /// What the ServiceNow administrator must hold for this step to write: each
    /// [`RoleNeed`] is met by any one of its roles. Apply and teardown check every
    /// registered step's needs before anything is written. None by default.
    fn required_roles(&self, _ctx: &Context) -> Vec<RoleNeed> {
        Vec::new()
    }

    /// The oldest release the step works on, and why; apply refuses before
    /// anything is written when the instance is older. None by default.
    fn minimum_release(&self, _ctx: &Context) -> Option<(Family, String)> {
        None
    }

    /// Whether the step's writes are configuration that update sets capture
    /// (OpenFrame configurations, CORS rules, OAuth applications, system
    /// properties), as opposed to data (role grants) or another platform's
    /// records. A run that changed such a step proves its writes landed in the
    /// run's update set. No by default.
    fn writes_configuration(&self) -> bool {
        false
    }

    /// The configured names that make this integration itself (the OpenFrame
    /// configuration's, the CORS rule's, …): they enter the ledger key, in
    /// registration order, so that two integrations that differ in one of them
    /// keep apart ledgers. None by default.
    fn identity(&self, _spec: &ResolvedSpec) -> Vec<String> {
        Vec::new()
    }

    /// Whether the step manages records it finds by a configured name, one of
    /// which may turn out not to be this integration's (its change is then
    /// [`Action::Refuse`]): apply plans every such step under the lease before
    /// anything is written, and refuses the whole run when one is taken
    /// ([`WorkflowError::Taken`](crate::WorkflowError::Taken)). No by default.
    fn finds_by_name(&self) -> bool {
        false
    }

    /// Whether the step keeps a secret that `rotate-secret` can replace
    /// ([`rotate_secret`](Step::rotate_secret)). No by default.
    fn rotates_secret(&self) -> bool {
        false
    }

    /// For `rotate-secret`, when [`rotates_secret`](Step::rotates_secret):
    /// replaces the secret this step made with a new one (refusing, before any
    /// write, a record not proven ours), and hands the new value on as apply
    /// would ([`Applied::with_output`]); its detail names the record.
    async fn rotate_secret(&self, _ctx: &Context) -> StepResult<Applied> {
        Err(StepError::Rejected {
            what: format!("rotating a secret of step {}", self.id()),
            reason: "the step keeps no secret".into(),
            hint: "only a step whose rotates_secret() is true is asked".into(),
        })
    }

    /// After another step's secret was rotated outside apply: what a person must
    /// do with the new value this step uses (`upstream` holds it), if anything.
    /// None by default.
    fn after_rotation(&self, _ctx: &Context, _upstream: &Upstream) -> Option<ManualStep> {
        None
    }

    /// The type of this step's own section of the spec (`[steps.<id>]`), if it
    /// reads one: the registry checks the spec's section against it when the
    /// step is registered (every unknown key and wrong type named at once), and
    /// refuses a `[steps.<id>]` no registered step reads. The step reads it with
    /// [`Context::section`]. None by default.
    fn section(&self) -> Option<crate::spec::SectionSchema> {
        None
    }

    /// Reads the current state. Sends no write.
    async fn observe(&self, ctx: &Context) -> StepResult<Self::State>;

    /// Computes the change from the observed state and what the steps before
    /// this one planned or handed on. Pure.
    fn change(&self, ctx: &Context, state: &Self::State, upstream: &Upstream) -> Change;

    /// Applies the change computed from `state`, returning what was done (and
    /// any values for later steps).
    async fn apply(
        &self,
        ctx: &Context,
        state: Self::State,
        change: &Change,
        upstream: &Upstream,
    ) -> StepResult<Applied>;

    /// What verify reports from the observed state beyond "the change is empty":
    /// records that share a configured name, things the spec names that do not
    /// exist. None by default.
    fn findings(&self, _ctx: &Context, _state: &Self::State) -> Vec<Check> {
        Vec::new()
    }

    /// Proves by effect that what the step set up works — a request that does
    /// what the integration will do (a token grant, a CORS preflight, a GET of the
    /// page) — rather than reading records back. Run by verify, and by apply for
    /// the steps it changed (with a fresh observation). None by default.
    async fn prove(
        &self,
        _ctx: &Context,
        _state: &Self::State,
        _upstream: &Upstream,
    ) -> StepResult<Vec<Check>> {
        Ok(Vec::new())
    }

    /// Removes what the ledger says the workflow created (and puts adopted
    /// records' previous values back), saying what it did with each record.
    ///
    /// Teardown and its preview ([`Workflow::teardown_plan`](crate::Workflow::teardown_plan))
    /// both run this: send every write through [`Context::write`], which
    /// sends nothing in a preview, and report what the write would do. In a
    /// preview the clients refuse writes, so a write sent around
    /// [`Context::write`] fails the preview rather than happening.
    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>>;

    /// Rebuilds the step's section of the ledger when `repair` rebuilds a
    /// damaged one: `damaged` is what it still says (its raw text, and the
    /// step's own section when that part could be read back). Claim only what
    /// can be proven this integration's, and say what was claimed, left out
    /// and lost — never drop a section silently.
    ///
    /// By default the section is kept when it could be read back (the step's
    /// [`undo`](Step::undo) proves each record before it removes or restores
    /// it), and reported lost when the damaged ledger names the step but its
    /// section cannot be read.
    async fn repair(&self, ctx: &Context, damaged: &Damaged) -> StepResult<Repaired> {
        let _ = ctx;
        let id = self.id();
        Ok(match &damaged.section {
            Some(section) => Repaired {
                section: Some(section.clone()),
                claimed: vec![format!(
                    "step {id}'s ledger section, as the damaged ledger still holds it (its undo proves each record before it removes or restores it)"
                )],
                ..Repaired::default()
            },
            None if damaged.raw.contains(&format!("\"{id}\"")) => Repaired {
                lost: vec![format!(
                    "step {id}'s ledger section could not be read back: what it made is no longer recorded; remove it by hand"
                )],
                ..Repaired::default()
            },
            None => Repaired::default(),
        })
    }
}

/// What [`Step::repair`] knows of a damaged ledger.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Damaged {
    /// The raw text of every property of the damaged ledger.
    pub raw: String,
    /// The step's own section, when it could still be read back.
    pub section: Option<serde_json::Value>,
}

impl Damaged {
    /// What a damaged ledger says, for the step `id`: the section is read from
    /// the ledger when it parses, else salvaged from its raw text (the
    /// `"steps"` object's entry for `id`, when that part is intact).
    pub fn for_step(raw: &str, readable: Option<&Ledger>, id: &StepId) -> Self {
        let section = match readable {
            Some(ledger) => ledger.steps.get(id.as_str()).cloned(),
            None => salvage_value(raw, "steps").and_then(|steps| match steps {
                serde_json::Value::Object(map) => map.get(id.as_str()).cloned(),
                _ => None,
            }),
        };
        Self {
            raw: raw.to_owned(),
            section,
        }
    }
}

/// The first JSON value under `"key":` in `raw` that still parses whole
/// (the rest of the text may be torn).
pub(crate) fn salvage_value(raw: &str, key: &str) -> Option<serde_json::Value> {
    let needle = format!("\"{key}\":");
    let mut from = 0;
    while let Some(at) = raw[from..].find(&needle) {
        let start = from + at + needle.len();
        let mut values =
            serde_json::Deserializer::from_str(&raw[start..]).into_iter::<serde_json::Value>();
        if let Some(Ok(value)) = values.next() {
            return Some(value);
        }
        from = start;
    }
    None
}

/// A step's part of a repair: its rebuilt section, and what it claimed, left
/// out and lost (the repair report lists them).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Repaired {
    /// The section of the rebuilt ledger (`None`: the step keeps nothing).
    pub section: Option<serde_json::Value>,
    /// Records proven this integration's.
    pub claimed: Vec<String>,
    /// Records with configured names not proven ours: left out.
    pub unproven: Vec<String>,
    /// What could not be recovered.
    pub lost: Vec<String>,
}

/// The checks "the change is empty" gives: one passing check when nothing is to
/// be done; otherwise one per field that differs (or one saying the record is
/// missing, not ours, or waits for a person).
pub(crate) fn plan_checks(planned: &PlannedStep) -> Vec<Check> {
    let resource = &planned.resource;
    let notes = if planned.warnings.is_empty() {
        String::new()
    } else {
        format!(" ({})", planned.warnings.join("; "))
    };
    match planned.action {
        Action::Unchanged => vec![Check::pass(
            resource.clone(),
            format!("as the spec says{notes}"),
        )],
        Action::Create => vec![Check::fail(
            resource.clone(),
            format!(
                "missing: apply would create it ({}){notes}",
                planned
                    .changes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "run apply to create it",
        )],
        Action::Update | Action::Adopt => planned
            .changes
            .iter()
            .map(|c| {
                Check::fail(
                    format!("{resource}: {}", c.field),
                    match &c.old {
                        Some(old) => format!("is {old:?}, the spec wants {:?}", c.new),
                        None => format!("the spec wants {:?}", c.new),
                    },
                    if planned.action == Action::Adopt {
                        "run apply to adopt it (its previous values are recorded)"
                    } else {
                        "run apply to change it"
                    },
                )
            })
            .collect(),
        Action::Manual => {
            let check = Check::pending(
                resource.clone(),
                format!("waits for a person{notes}"),
                planned
                    .manual
                    .as_ref()
                    .map(|m| format!("{} (the checklist follows)", m.title))
                    .unwrap_or_else(|| "see the instructions".to_owned()),
            );
            match &planned.manual {
                Some(m) => vec![check.with_manual(m.clone())],
                None => vec![check],
            }
        }
        Action::Refuse => vec![Check::fail(
            resource.clone(),
            format!("exists, not ours{notes}"),
            "adopt it in the spec (teardown restores it), or choose another name",
        )],
    }
}

/// The person's confirmation of a manual `change` of `step`, when the ledger
/// holds one for the values the step asks for now.
async fn confirmed(
    ctx: &Context,
    step: &StepId,
    change: &Change,
) -> Option<crate::ledger::Confirmation> {
    let manual = change
        .manual
        .as_ref()
        .filter(|_| change.action == Action::Manual)?;
    let confirmation = ctx.confirmation(step).await?;
    (confirmation.values == crate::ledger::Confirmation::values_of(manual)).then_some(confirmation)
}

/// The object-safe face of a [`Step`], used by the workflow.
#[async_trait]
pub(crate) trait DynStep: Send + Sync {
    fn id(&self) -> StepId;
    fn depends_on(&self) -> Vec<StepId>;
    fn resource(&self, ctx: &Context) -> String;
    fn required_roles(&self, ctx: &Context) -> Vec<RoleNeed>;
    fn minimum_release(&self, ctx: &Context) -> Option<(Family, String)>;
    fn writes_configuration(&self) -> bool;
    fn finds_by_name(&self) -> bool;
    fn identity(&self, spec: &ResolvedSpec) -> Vec<String>;
    fn rotates_secret(&self) -> bool;
    async fn rotate_secret(&self, ctx: &Context) -> StepResult<Applied>;
    fn after_rotation(&self, ctx: &Context, upstream: &Upstream) -> Option<ManualStep>;
    fn section(&self) -> Option<crate::spec::SectionSchema>;
    async fn plan(&self, ctx: &Context, upstream: &Upstream) -> StepResult<PlannedStep>;
    /// Applies the step; a failure keeps the change it was making, when known.
    async fn apply(
        &self,
        ctx: &Context,
        upstream: &Upstream,
    ) -> std::result::Result<(AppliedStep, Vec<Arc<dyn Any + Send + Sync>>), StepFailure>;
    /// Observes once: the plan, and the checks verify reports (plan checks,
    /// findings, proofs by effect).
    async fn verify(
        &self,
        ctx: &Context,
        upstream: &Upstream,
    ) -> StepResult<(PlannedStep, Vec<Check>)>;
    /// Observes afresh and proves the step's effect (after apply).
    async fn prove(&self, ctx: &Context, upstream: &Upstream) -> StepResult<Vec<Check>>;
    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>>;
    async fn repair(&self, ctx: &Context, damaged: &Damaged) -> StepResult<Repaired>;
}

#[async_trait]
impl<S: Step> DynStep for S {
    fn id(&self) -> StepId {
        Step::id(self)
    }

    fn depends_on(&self) -> Vec<StepId> {
        Step::depends_on(self)
    }

    fn resource(&self, ctx: &Context) -> String {
        Step::resource(self, ctx)
    }

    fn required_roles(&self, ctx: &Context) -> Vec<RoleNeed> {
        Step::required_roles(self, ctx)
    }

    fn minimum_release(&self, ctx: &Context) -> Option<(Family, String)> {
        Step::minimum_release(self, ctx)
    }

    fn writes_configuration(&self) -> bool {
        Step::writes_configuration(self)
    }

    fn section(&self) -> Option<crate::spec::SectionSchema> {
        Step::section(self)
    }

    fn finds_by_name(&self) -> bool {
        Step::finds_by_name(self)
    }

    fn identity(&self, spec: &ResolvedSpec) -> Vec<String> {
        Step::identity(self, spec)
    }

    fn rotates_secret(&self) -> bool {
        Step::rotates_secret(self)
    }

    async fn rotate_secret(&self, ctx: &Context) -> StepResult<Applied> {
        Step::rotate_secret(self, ctx).await
    }

    fn after_rotation(&self, ctx: &Context, upstream: &Upstream) -> Option<ManualStep> {
        Step::after_rotation(self, ctx, upstream)
    }

    async fn plan(&self, ctx: &Context, upstream: &Upstream) -> StepResult<PlannedStep> {
        let state = self.observe(ctx).await?;
        let mut change = self.change(ctx, &state, upstream);
        if confirmed(ctx, &Step::id(self), &change).await.is_some() {
            change = Change::unchanged();
        }
        Ok(PlannedStep::new(Step::id(self), self.resource(ctx), change))
    }

    async fn apply(
        &self,
        ctx: &Context,
        upstream: &Upstream,
    ) -> std::result::Result<(AppliedStep, Vec<Arc<dyn Any + Send + Sync>>), StepFailure> {
        // Observe again: the plan may be stale, and applying must not depend on it.
        let state = self.observe(ctx).await.map_err(|error| StepFailure {
            planned: None,
            error,
        })?;
        let mut change = self.change(ctx, &state, upstream);
        if confirmed(ctx, &Step::id(self), &change).await.is_some() {
            change = Change::unchanged();
        }
        let planned = PlannedStep::new(Step::id(self), self.resource(ctx), change.clone());
        for warning in &change.warnings {
            ctx.emit(Event::Warning {
                step: Step::id(self),
                message: warning.clone(),
            });
        }
        let (outcome, detail, outputs) = match change.action {
            Action::Unchanged | Action::Manual => {
                return Ok((settled(planned), Vec::new()));
            }
            Action::Refuse => {
                return Err(StepFailure {
                    error: StepError::Refused {
                        record: planned.resource.clone(),
                        reason: format!(
                            "{}; adopt it in the spec, or choose another name",
                            change.warnings.join("; ")
                        ),
                    },
                    planned: Some(planned),
                });
            }
            Action::Create | Action::Update | Action::Adopt => {
                match Step::apply(self, ctx, state, &change, upstream).await {
                    Ok(applied) => (Outcome::Done, applied.detail, applied.outputs),
                    Err(error) => {
                        return Err(StepFailure {
                            planned: Some(planned),
                            error,
                        });
                    }
                }
            }
        };
        Ok((
            AppliedStep {
                planned,
                outcome,
                detail,
            },
            outputs,
        ))
    }

    async fn verify(
        &self,
        ctx: &Context,
        upstream: &Upstream,
    ) -> StepResult<(PlannedStep, Vec<Check>)> {
        let state = self.observe(ctx).await?;
        let change = self.change(ctx, &state, upstream);
        let confirmation = confirmed(ctx, &Step::id(self), &change).await;
        let change = match confirmation {
            Some(_) => Change::unchanged(),
            None => change,
        };
        let planned = PlannedStep::new(Step::id(self), self.resource(ctx), change);
        let mut checks = self.findings(ctx, &state);
        match confirmation {
            // A person said it is done, and it still asks for the same values.
            Some(confirmation) => {
                checks.push(Check::pass(
                    planned.resource.clone(),
                    format!(
                        "done by a person: confirmed by {} on {}",
                        confirmation.by,
                        crate::lease::utc(confirmation.at_ms)
                    ),
                ));
            }
            None => checks.extend(plan_checks(&planned)),
        }
        // A record that is missing or not ours has no effect to prove.
        if !matches!(planned.action, Action::Create | Action::Refuse) {
            let proofs = Step::prove(self, ctx, &state, upstream).await?;
            checks.extend(proofs.into_iter().map(Check::by_effect));
        }
        Ok((planned, checks))
    }

    async fn prove(&self, ctx: &Context, upstream: &Upstream) -> StepResult<Vec<Check>> {
        let state = self.observe(ctx).await?;
        let checks = Step::prove(self, ctx, &state, upstream).await?;
        Ok(checks.into_iter().map(Check::by_effect).collect())
    }

    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>> {
        Step::undo(self, ctx).await
    }

    async fn repair(&self, ctx: &Context, damaged: &Damaged) -> StepResult<Repaired> {
        Step::repair(self, ctx, damaged).await
    }
}

/// What apply reports for a step with nothing to write: unchanged, or
/// waiting for a person (a step that would write is never settled).
pub(crate) fn settled(planned: PlannedStep) -> AppliedStep {
    let (outcome, detail) = match planned.action {
        Action::Manual if planned.warnings.is_empty() => (
            Outcome::Manual,
            "waiting for a person: see the instructions".to_owned(),
        ),
        Action::Manual => (
            Outcome::Manual,
            format!(
                "waiting for a person ({}): see the instructions",
                planned.warnings.join("; ")
            ),
        ),
        _ => (Outcome::Unchanged, "already as specified".to_owned()),
    };
    AppliedStep {
        planned,
        outcome,
        detail,
    }
}

/// A step that failed: the change it was making (when it got that far) and why.
#[derive(Debug)]
pub(crate) struct StepFailure {
    pub(crate) planned: Option<PlannedStep>,
    pub(crate) error: StepError,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_is_found_by_the_step_that_handed_it_on() {
        let (oauth, account) = (StepId::OAUTH_ENDPOINT, StepId::INTEGRATION_ACCOUNT);
        let mut upstream = Upstream::default();
        upstream.add_outputs(&oauth, Applied::new("").with_output(1_u32).into_outputs());
        upstream.add_outputs(&account, Applied::new("").with_output(2_u32).into_outputs());
        assert_eq!(upstream.output_of::<u32>(&oauth), Some(&1));
        assert_eq!(upstream.output_of::<u32>(&account), Some(&2));
        assert_eq!(upstream.output::<u32>(), Some(&2), "the newest of any step");
        assert_eq!(upstream.output_of::<u64>(&oauth), None, "by type too");
        assert_eq!(upstream.output_of::<u32>(&StepId::CORS), None);
        let kept = upstream.outputs_only();
        assert_eq!(kept.output_of::<u32>(&oauth), Some(&1));
    }
}
