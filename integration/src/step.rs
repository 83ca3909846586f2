//! The one trait every step implements, and what steps share.
//!
//! A [`Step`] observes the current state (reads only), computes the change from
//! it, applies that change, verifies the result, and undoes what the workflow
//! created. The workflow runs steps through a type-erased adapter, so each step
//! keeps its own typed state.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Serialize;
use servicenow_client::{Error, Result};
use tokio::sync::Mutex;

use crate::events::{Event, EventHandler};
use crate::ledger::{Ledger, LedgerStore};
use crate::report::{AppliedStep, Check, ManualStep, Outcome, PlannedStep, Removal};
use crate::spec::ResolvedSpec;

/// A step's name, as in JSON output: one of the built-in steps' constants, or a
/// step of the caller's own ([`StepId::custom`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct StepId(Cow<'static, str>);

impl StepId {
    /// 1. The plugins are active.
    pub const PLUGINS: StepId = StepId(Cow::Borrowed("plugins"));
    /// 2 and 7. The OpenFrame configuration (URL, size, title) and the postMessage allow-list.
    pub const OPENFRAME: StepId = StepId(Cow::Borrowed("openframe"));
    /// 3. `sn_openframe_user` for the listed users and groups.
    pub const ACCESS: StepId = StepId(Cow::Borrowed("access"));
    /// 4. The CORS rule for the tenant.
    pub const CORS: StepId = StepId(Cow::Borrowed("cors"));
    /// 5. The OAuth endpoint for the integration account.
    pub const OAUTH_ENDPOINT: StepId = StepId(Cow::Borrowed("oauth_endpoint"));
    /// 6. The Bright Pattern integration account, its refresh token and connection.
    pub const INTEGRATION_ACCOUNT: StepId = StepId(Cow::Borrowed("integration_account"));

    /// The built-in steps, in procedure order.
    pub const BUILT_IN: [StepId; 6] = [
        StepId::PLUGINS,
        StepId::OPENFRAME,
        StepId::ACCESS,
        StepId::CORS,
        StepId::OAUTH_ENDPOINT,
        StepId::INTEGRATION_ACCOUNT,
    ];

    /// The id of a step of the caller's own (`[a-z0-9_]`, not a built-in name;
    /// checked when the step is registered).
    pub fn custom(name: impl Into<Cow<'static, str>>) -> Self {
        StepId(name.into())
    }

    /// The step's name, as in JSON output.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a step will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create what is missing.
    Create,
    /// Change what differs.
    Update,
    /// Take over an existing record the spec names (its previous values are
    /// recorded, and teardown restores them), changing what differs.
    Adopt,
    /// Nothing to do.
    Unchanged,
    /// A person must do it (the values to enter are given).
    Manual,
    /// A record with the configured name exists and was not made by this
    /// integration: apply refuses to touch it unless the spec says to adopt it.
    Refuse,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Adopt => "adopt",
            Action::Unchanged => "unchanged",
            Action::Manual => "manual",
            Action::Refuse => "refuse",
        })
    }
}

/// One field that changes: old value (absent when created) → new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FieldChange {
    /// The field.
    pub field: String,
    /// The value now, when there is one.
    pub old: Option<String>,
    /// The value after the change.
    pub new: String,
}

impl FieldChange {
    /// A change of `field` from `old` to `new`.
    pub fn new(field: impl Into<String>, old: Option<String>, new: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            old,
            new: new.into(),
        }
    }

    /// The change when `old` differs from `new`.
    pub fn diff(field: &str, old: impl ToString, new: impl ToString) -> Option<Self> {
        let (old, new) = (old.to_string(), new.to_string());
        (old != new).then(|| Self::new(field, Some(old), new))
    }
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.old {
            Some(old) => write!(f, "{}: {old:?} → {:?}", self.field, self.new),
            None => write!(f, "{}: {:?}", self.field, self.new),
        }
    }
}

/// The change a step computed from what it observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What will be done.
    pub action: Action,
    /// The fields that change.
    pub changes: Vec<FieldChange>,
    /// Things a person should know (for example a configuration that shadows ours).
    pub warnings: Vec<String>,
    /// For a manual step: what to do by hand.
    pub manual: Option<ManualStep>,
}

impl Change {
    /// Nothing to do.
    pub fn unchanged() -> Self {
        Self::of(Action::Unchanged, Vec::new())
    }

    /// An action with its field changes.
    pub fn of(action: Action, changes: Vec<FieldChange>) -> Self {
        Self {
            action,
            changes,
            warnings: Vec::new(),
            manual: None,
        }
    }

    /// `Create` when nothing exists, `Update` when fields differ, `Unchanged` otherwise.
    pub fn create_or_update(exists: bool, changes: Vec<FieldChange>) -> Self {
        match (exists, changes.is_empty()) {
            (false, _) => Self::of(Action::Create, changes),
            (true, true) => Self::unchanged(),
            (true, false) => Self::of(Action::Update, changes),
        }
    }
}

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

/// A client secret generated in this run (step 5), for step 6.
#[derive(Clone)]
pub(crate) struct GeneratedSecret {
    pub(crate) client_id: String,
    pub(crate) secret: SecretString,
}

/// Knobs of a run.
#[derive(Debug, Clone, Default)]
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
}

/// A value read once per run and shared by the steps that need it.
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

    /// Replaces the value (after a step changed it).
    pub(crate) async fn set(&self, value: T) {
        *self.0.lock().await = Some(value);
    }

    /// Forgets the value (the next reader reads again).
    pub(crate) async fn clear(&self) {
        *self.0.lock().await = None;
    }
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
    pub(crate) generated_secret: StdMutex<Option<GeneratedSecret>>,
    pub(crate) events: Option<EventHandler>,
    pub(crate) plugins_pending: StdMutex<bool>,
    /// The OAuth application with the spec's name (steps 5 and 6 share it).
    pub(crate) oauth_application: Memo<Option<servicenow_client::oauth::OAuthApplication>>,
    /// The postMessage allow-list value (read with the ledger).
    pub(crate) allow_list: Memo<Option<String>>,
    /// Other OAuth applications with the spec's name.
    pub(crate) oauth_duplicates: StdMutex<Vec<servicenow_client::wire::SysId>>,
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
    /// Sends an event to the caller's handler, if any.
    pub fn emit(&self, event: Event) {
        if let Some(handler) = &self.events {
            handler(&event);
        }
    }

    /// Whether another integration with this tenant records something (a shared
    /// record: the allow-list entry, a grant), so that teardown must leave it.
    pub fn used_by_another_integration(&self, holds: impl Fn(&Ledger) -> bool) -> bool {
        self.neighbours
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(holds)
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
    pub async fn reserve_step(&self, step: &StepId, section: serde_json::Value) -> Result<()> {
        self.record_step(step, Some(section)).await;
        self.save_ledger().await
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
    pub async fn reserve(&self, change: impl FnOnce(&mut Ledger) + Send) -> Result<()> {
        self.record(change).await;
        self.save_ledger().await
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

    /// Whether plugins are about to be activated (tables they create may not
    /// exist yet while planning).
    pub fn plugins_pending(&self) -> bool {
        *self
            .plugins_pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_plugins_pending(&self, pending: bool) {
        *self
            .plugins_pending
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = pending;
    }

    /// The OAuth application with the spec's name, read once per run. Names are
    /// not unique: when several have it, the one the ledger records is taken (else
    /// the first), and the others are in [`oauth_duplicates`](Self::oauth_duplicates).
    pub async fn oauth_application(
        &self,
    ) -> Result<Option<servicenow_client::oauth::OAuthApplication>> {
        self.oauth_application
            .get_or_read(async {
                let all = self
                    .servicenow
                    .oauth_applications()
                    .list_by_name(&self.spec.oauth.name)
                    .await?;
                let recorded = self.ledger().await.oauth_application;
                let (picked, others) = pick(all, |a| Some(&a.sys_id) == recorded.as_ref());
                *self
                    .oauth_duplicates
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) =
                    others.into_iter().map(|a| a.sys_id).collect();
                Ok(picked)
            })
            .await
    }

    /// Other OAuth applications with the spec's name (made by hand, or by a run
    /// before this tool kept a lease): reported, never touched.
    pub fn oauth_duplicates(&self) -> Vec<servicenow_client::wire::SysId> {
        self.oauth_duplicates
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

    pub(crate) fn take_generated_secret(&self) -> Option<GeneratedSecret> {
        self.generated_secret
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn keep_generated_secret(&self, secret: GeneratedSecret) {
        *self
            .generated_secret
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(secret);
    }
}

/// What plan and verify say of other records that share a configured name.
pub(crate) fn duplicates_text(
    kind: &str,
    name: &str,
    others: &[servicenow_client::wire::SysId],
) -> String {
    format!(
        "{} more {kind}(s) named {name:?} ({}): bp-servicenow manages the one its ledger records and leaves these alone",
        others.len(),
        others
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The failing check verify gives for records that share a configured name.
pub(crate) fn duplicates_check(
    check: &str,
    kind: &str,
    name: &str,
    others: &[servicenow_client::wire::SysId],
) -> Option<Check> {
    (!others.is_empty()).then(|| {
        Check::fail(
            format!("{check} is the only one with its name"),
            duplicates_text(kind, name, others),
            "delete the extra ones by hand: bp-servicenow never deletes what it cannot prove it made",
        )
    })
}

/// Splits records that share a name into the one to manage — the one `ours`
/// says is recorded, else the first — and the others.
pub fn pick<R>(mut all: Vec<R>, ours: impl Fn(&R) -> bool) -> (Option<R>, Vec<R>) {
    let at = all.iter().position(&ours).unwrap_or(0);
    if all.is_empty() {
        return (None, all);
    }
    let picked = all.remove(at);
    (Some(picked), all)
}

/// One step of the procedure.
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

    /// Reads the current state. Sends no write.
    async fn observe(&self, ctx: &Context) -> Result<Self::State>;

    /// Computes the change from the observed state.
    fn change(&self, ctx: &Context, state: &Self::State) -> Change;

    /// Applies the change computed from `state`, returning what was done.
    async fn apply(&self, ctx: &Context, state: Self::State, change: &Change) -> Result<String>;

    /// Checks the result, one [`Check`] per thing a user would look for.
    async fn verify(&self, ctx: &Context) -> Result<Vec<Check>>;

    /// Proves by effect that what the step set up works — a request that does
    /// what the integration will do (a token grant, a CORS preflight, a GET of the
    /// page) — rather than reading records back. Run by verify, and by apply for
    /// the steps it changed. None by default.
    async fn prove(&self, _ctx: &Context) -> Result<Vec<Check>> {
        Ok(Vec::new())
    }

    /// Removes what the ledger says the workflow created.
    async fn undo(&self, ctx: &Context) -> Result<Vec<Removal>>;
}

/// The object-safe face of a [`Step`], used by the workflow.
#[async_trait]
pub(crate) trait DynStep: Send + Sync {
    fn id(&self) -> StepId;
    fn depends_on(&self) -> Vec<StepId>;
    fn resource(&self, ctx: &Context) -> String;
    async fn plan(&self, ctx: &Context) -> Result<PlannedStep>;
    /// Applies the step; a failure keeps the change it was making, when known.
    async fn apply(&self, ctx: &Context) -> std::result::Result<AppliedStep, StepFailure>;
    async fn verify(&self, ctx: &Context) -> Result<Vec<Check>>;
    async fn prove(&self, ctx: &Context) -> Result<Vec<Check>>;
    async fn undo(&self, ctx: &Context) -> Result<Vec<Removal>>;
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

    async fn plan(&self, ctx: &Context) -> Result<PlannedStep> {
        let state = self.observe(ctx).await?;
        let change = self.change(ctx, &state);
        Ok(PlannedStep::new(Step::id(self), self.resource(ctx), change))
    }

    async fn apply(&self, ctx: &Context) -> std::result::Result<AppliedStep, StepFailure> {
        // Observe again: the plan may be stale, and applying must not depend on it.
        let state = self.observe(ctx).await.map_err(|error| StepFailure {
            planned: None,
            error,
        })?;
        let change = self.change(ctx, &state);
        let planned = PlannedStep::new(Step::id(self), self.resource(ctx), change.clone());
        for warning in &change.warnings {
            ctx.emit(Event::Warning {
                step: Step::id(self),
                message: warning.clone(),
            });
        }
        let (outcome, detail) = match change.action {
            Action::Unchanged => (Outcome::Unchanged, "already as specified".to_owned()),
            Action::Manual => (
                Outcome::Manual,
                if change.warnings.is_empty() {
                    "waiting for a person: see the instructions".to_owned()
                } else {
                    format!(
                        "waiting for a person ({}): see the instructions",
                        change.warnings.join("; ")
                    )
                },
            ),
            Action::Refuse => {
                return Err(StepFailure {
                    error: Error::OperationFailed {
                        operation: format!("step {}", Step::id(self)),
                        state: "refused".into(),
                        message: Some(change.warnings.join("; ")),
                        detail: Some("the record exists and was not made by bp-servicenow; adopt it in the spec, or choose another name".into()),
                    },
                    planned: Some(planned),
                });
            }
            Action::Create | Action::Update | Action::Adopt => {
                match Step::apply(self, ctx, state, &change).await {
                    Ok(detail) => (Outcome::Done, detail),
                    Err(error) => {
                        return Err(StepFailure {
                            planned: Some(planned),
                            error,
                        });
                    }
                }
            }
        };
        Ok(AppliedStep {
            planned,
            outcome,
            detail,
        })
    }

    async fn verify(&self, ctx: &Context) -> Result<Vec<Check>> {
        Step::verify(self, ctx).await
    }

    async fn prove(&self, ctx: &Context) -> Result<Vec<Check>> {
        let checks = Step::prove(self, ctx).await?;
        Ok(checks.into_iter().map(Check::by_effect).collect())
    }

    async fn undo(&self, ctx: &Context) -> Result<Vec<Removal>> {
        Step::undo(self, ctx).await
    }
}

/// A step that failed: the change it was making (when it got that far) and why.
#[derive(Debug)]
pub(crate) struct StepFailure {
    pub(crate) planned: Option<PlannedStep>,
    pub(crate) error: servicenow_client::Error,
}

/// The steps, in procedure order.
pub(crate) fn all_steps() -> Vec<Arc<dyn DynStep>> {
    use crate::steps::*;
    vec![
        Arc::new(plugins::PluginsStep),
        Arc::new(openframe::OpenFrameStep),
        Arc::new(access::AccessStep),
        Arc::new(cors::CorsStep),
        Arc::new(oauth_endpoint::OAuthEndpointStep),
        Arc::new(integration_account::IntegrationAccountStep),
    ]
}
