//! Many integrations at once: one spec template, many (instance, tenant, names)
//! rows, run with bounded concurrency; one report with each row's outcome.
//!
//! Partners and managed service providers set the integration up for many
//! customer instances. An [`Inventory`] names the rows; [`Inventory::row_spec`]
//! turns the template into each row's spec; the caller builds each row's
//! [`Workflow`] (with its credentials, and the instance's shared
//! [`RequestBudget`](servicenow_client::RequestBudget) so that rows on one
//! instance stay under its rate limits) and hands them to [`run_fleet`] as an
//! iterator, which is pulled lazily as slots free up. A row's failure never
//! stops the others.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use brightpattern_servicenow::fleet::{FleetMember, FleetOperation, FleetOptions, run_fleet};
//!
//! // A row that could not be built (say, its credentials are missing) is
//! // reported, not fatal.
//! let members = vec![FleetMember::not_started("acme", "missing ACME_SERVICENOW_PASSWORD")];
//! let report = run_fleet(members, FleetOperation::Verify, &FleetOptions::default()).await;
//! assert_eq!(report.rows.len(), 1);
//! assert_eq!(report.summary(), brightpattern_servicenow::fleet::FleetSummary::AnyFailed);
//! # }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::time::Instant;

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::report::{Removal, RemovalOutcome, Status};
use crate::spec::{IntegrationSpec, ResolvedSpec, SpecError, SpecProblems};
use crate::workflow::{ApplyError, Workflow, WorkflowError};

/// The default number of rows run at once.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// An inventory file: the template, the knobs and the rows.
///
/// ```toml
/// template = "bp-servicenow.toml"   # relative to the inventory file
/// concurrency = 4                   # rows at once (default 4)
/// requests_per_second = 10          # per ServiceNow instance (default 10)
///
/// [[row]]
/// name = "acme"
/// instance = "acme"                 # a name or an https origin
/// tenant = "acme"
/// env_prefix = "ACME_"              # ACME_SERVICENOW_USERNAME, ...
///
/// [[row]]
/// name = "globex"
/// instance = "https://itsm.globex.example"
/// tenant = "globex"
/// credentials_file = "secrets/globex.env"   # KEY=VALUE lines
/// names = { openframe = "Globex Agent Desktop", integration_account = "Globex" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The spec template (a `bp-servicenow.toml`), relative to the inventory.
    pub template: String,
    /// Rows run at once (default [`DEFAULT_CONCURRENCY`]).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Requests per second to each ServiceNow instance, shared by its rows
    /// (default 10).
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: u32,
    /// The rows.
    #[serde(default, rename = "row")]
    pub rows: Vec<InventoryRow>,
}

fn default_concurrency() -> usize {
    DEFAULT_CONCURRENCY
}

fn default_requests_per_second() -> u32 {
    10
}

/// One integration of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryRow {
    /// The row's name in reports (unique; a-z, 0-9, `-`, `_`).
    pub name: String,
    /// The ServiceNow instance (replaces the template's).
    pub instance: String,
    /// The Bright Pattern tenant (replaces the template's).
    pub tenant: String,
    /// The names of what the integration creates, where they differ from the template's.
    #[serde(default)]
    pub names: RowNames,
    /// The prefix of the row's environment variables (`ACME_` reads
    /// `ACME_SERVICENOW_USERNAME`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_prefix: Option<String>,
    /// A file of `KEY=VALUE` lines holding the row's credentials (the same
    /// variable names, without prefix), relative to the inventory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<String>,
}

/// A row's names, each replacing the template's when given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowNames {
    /// `[openframe] name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openframe: Option<String>,
    /// `[cors] name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<String>,
    /// `[oauth] name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<String>,
    /// `[integration_account] name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_account: Option<String>,
}

impl Inventory {
    /// Reads an inventory; an unknown key, no rows, a repeated or odd row name,
    /// a row with both an environment prefix and a credentials file, or a
    /// concurrency of 0 is an error naming every problem.
    pub fn from_toml(text: &str) -> Result<Self, SpecError> {
        let inventory: Inventory = toml::from_str(text)
            .map_err(|e| SpecError::Parse(crate::spec::toml_error(text, &e, "fleet inventory")))?;
        let mut problems = Vec::new();
        if inventory.rows.is_empty() {
            problems.push("the inventory has no [[row]]".to_owned());
        }
        if inventory.concurrency == 0 {
            problems.push("concurrency: must be at least 1".to_owned());
        }
        if inventory.requests_per_second == 0 {
            problems.push("requests_per_second: must be at least 1".to_owned());
        }
        let mut seen = HashSet::new();
        for row in &inventory.rows {
            let valid = !row.name.is_empty()
                && row.name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_')
                });
            if !valid {
                problems.push(format!(
                    "row {:?}: a row name is made of a-z, 0-9, - and _",
                    row.name
                ));
            } else if !seen.insert(row.name.clone()) {
                problems.push(format!("row {:?}: listed twice", row.name));
            }
            if row.env_prefix.is_some() && row.credentials_file.is_some() {
                problems.push(format!(
                    "row {:?}: give env_prefix or credentials_file, not both",
                    row.name
                ));
            }
            if let Some(prefix) = &row.env_prefix
                && !prefix
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            {
                problems.push(format!(
                    "row {:?}: env_prefix {prefix:?} is made of A-Z, 0-9 and _",
                    row.name
                ));
            }
        }
        if problems.is_empty() {
            Ok(inventory)
        } else {
            Err(SpecError::Invalid(SpecProblems(problems)))
        }
    }

    /// The row's spec: the template with the row's instance, tenant and names.
    pub fn row_spec(
        template: &IntegrationSpec,
        row: &InventoryRow,
    ) -> Result<ResolvedSpec, SpecError> {
        let mut spec = template.clone();
        spec.servicenow.instance = row.instance.clone();
        spec.brightpattern.tenant = row.tenant.clone();
        let names = &row.names;
        if let Some(n) = &names.openframe {
            spec.openframe.name = n.clone();
        }
        if let Some(n) = &names.cors {
            spec.cors.name = n.clone();
        }
        if let Some(n) = &names.oauth {
            spec.oauth.name = n.clone();
        }
        if let Some(n) = &names.integration_account {
            spec.integration_account.name = n.clone();
        }
        spec.resolve()
    }
}

/// What the fleet runs on every row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub enum FleetOperation {
    /// Read only: what apply would change.
    Plan,
    /// Make every row match its spec.
    Apply,
    /// Check every row, proving effects.
    Verify,
    /// Read only: what teardown would remove, restore and leave alone.
    TeardownPlan,
    /// Remove what each row's apply created and put adopted records back.
    Teardown,
}

impl FleetOperation {
    /// The `kind` of its JSON documents: `plan`, `apply`, `verify`,
    /// `teardown-plan`, `teardown`.
    pub fn kind(self) -> &'static str {
        match self {
            FleetOperation::Plan => "plan",
            FleetOperation::Apply => "apply",
            FleetOperation::Verify => "verify",
            FleetOperation::TeardownPlan => "teardown-plan",
            FleetOperation::Teardown => "teardown",
        }
    }
}

impl fmt::Display for FleetOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FleetOperation::Plan => "plan",
            FleetOperation::Apply => "apply",
            FleetOperation::Verify => "verify",
            FleetOperation::TeardownPlan => "teardown (dry run)",
            FleetOperation::Teardown => "teardown",
        })
    }
}

/// Called with each row as it finishes (for progress), in finishing order.
pub type RowHandler = std::sync::Arc<dyn Fn(&FleetRow) + Send + Sync>;

/// Knobs of a fleet run: start from [`FleetOptions::default`].
#[derive(Clone)]
#[non_exhaustive]
pub struct FleetOptions {
    /// Rows run at once (default [`DEFAULT_CONCURRENCY`]; at least 1).
    pub concurrency: usize,
    /// Told of each row as it finishes, if set.
    pub on_row: Option<RowHandler>,
}

impl fmt::Debug for FleetOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetOptions")
            .field("concurrency", &self.concurrency)
            .field("on_row", &self.on_row.is_some())
            .finish()
    }
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            on_row: None,
        }
    }
}

impl FleetOptions {
    /// Sets how many rows run at once.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Calls `handler` with each row as it finishes.
    pub fn on_row(mut self, handler: impl Fn(&FleetRow) + Send + Sync + 'static) -> Self {
        self.on_row = Some(std::sync::Arc::new(handler));
        self
    }
}

/// One row handed to [`run_fleet`]: its workflow, or why it could not be built.
#[derive(Debug)]
pub struct FleetMember {
    name: String,
    workflow: Result<Workflow, String>,
}

impl FleetMember {
    /// A row with its workflow.
    pub fn new(name: impl Into<String>, workflow: Workflow) -> Self {
        Self {
            name: name.into(),
            workflow: Ok(workflow),
        }
    }

    /// A row that could not be built (a bad spec, missing credentials): reported
    /// as not started.
    pub fn not_started(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            workflow: Err(reason.into()),
        }
    }
}

/// How a row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub enum RowOutcome {
    /// Nothing to do, or done and proven.
    Ok,
    /// A plan or a teardown preview: running it would change something.
    Changes,
    /// Waits for a person (a manual step, something not provable from here).
    Pending,
    /// Another run holds the integration; nothing was written.
    Locked,
    /// Failed: a step, a proof, the preflight, or a request.
    Failed,
    /// Could not be started (its spec or credentials); nothing was sent.
    NotStarted,
}

impl RowOutcome {
    /// The `status` of the row's report document: `ok` (changes pending
    /// included: the row's outcome says so), `pending`, `held` or `failed`.
    pub fn status(self) -> &'static str {
        match self {
            RowOutcome::Ok | RowOutcome::Changes => "ok",
            RowOutcome::Pending => "pending",
            RowOutcome::Locked => "held",
            RowOutcome::Failed | RowOutcome::NotStarted => "failed",
        }
    }
}

impl fmt::Display for RowOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RowOutcome::Ok => "ok",
            RowOutcome::Changes => "changes",
            RowOutcome::Pending => "pending",
            RowOutcome::Locked => "locked",
            RowOutcome::Failed => "failed",
            RowOutcome::NotStarted => "not started",
        })
    }
}

/// What one row did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct FleetRow {
    /// The row's name.
    pub name: String,
    /// Its instance, when the row was built.
    pub instance: Option<String>,
    /// Its tenant, when the row was built.
    pub tenant: Option<String>,
    /// How it ended.
    pub outcome: RowOutcome,
    /// Why, in words (an error's whole text; the table shows its first line).
    pub summary: String,
    /// When it started, in ms from the fleet's start.
    pub started_ms: u64,
    /// When it ended, in ms from the fleet's start.
    pub finished_ms: u64,
    /// The operation's own report (plan, apply or verify; secrets masked), when
    /// there is one.
    #[serde(default)]
    #[cfg_attr(feature = "json-schema", schemars(schema_with = "row_report_schema"))]
    pub report: Option<serde_json::Value>,
    /// The leases of other runs this row took over (the workflow's
    /// `break_lease` option, `--break-lease`): whose, where, since when. The
    /// summary names them too.
    #[serde(default)]
    pub lease_broken: Vec<crate::lease::LeaseHolder>,
}

/// The schema of a fleet row's `report`: `null`, or the document of the
/// fleet's operation for that row ([`FleetOperation::kind`]), with a row's
/// status ([`RowOutcome::status`]).
#[cfg(feature = "json-schema")]
fn row_report_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    use crate::report::{ApplyReport, Plan, TeardownPlan, TeardownReport, VerifyReport};
    use crate::schema::{inline, with_header};
    let statuses = ["ok", "pending", "held", "failed"];
    let mut documents = vec![schemars::json_schema!({ "type": "null" })];
    for operation in [
        FleetOperation::Plan,
        FleetOperation::Apply,
        FleetOperation::Verify,
        FleetOperation::TeardownPlan,
        FleetOperation::Teardown,
    ] {
        let mut report = match operation {
            FleetOperation::Plan => inline::<Plan>(generator),
            FleetOperation::Apply => inline::<ApplyReport>(generator),
            FleetOperation::Verify => inline::<VerifyReport>(generator),
            FleetOperation::TeardownPlan => inline::<TeardownPlan>(generator),
            FleetOperation::Teardown => inline::<TeardownReport>(generator),
        };
        with_header(&mut report, operation.kind(), &statuses);
        documents.push(report);
    }
    schemars::json_schema!({
        "description": "The operation's own document for the row (secrets masked), when there is one.",
        "anyOf": documents,
    })
}

/// What the whole fleet comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FleetSummary {
    /// Every row is ok (or, for plan, has changes to make).
    AllOk,
    /// A row failed or could not start.
    AnyFailed,
    /// No row failed, and another run holds a row's integration.
    AnyLocked,
    /// No row failed or is locked, and a row waits for a person.
    AnyPending,
}

/// The fleet's report: every row, in inventory order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct FleetReport {
    /// What was run.
    pub operation: FleetOperation,
    /// Rows run at once.
    pub concurrency: usize,
    /// The whole run's wall time, in ms.
    pub wall_ms: u64,
    /// Every row, in the order given.
    pub rows: Vec<FleetRow>,
}

impl FleetReport {
    /// What the fleet comes to: failed (or not started) over locked over
    /// pending over ok.
    pub fn summary(&self) -> FleetSummary {
        let any = |o: &[RowOutcome]| self.rows.iter().any(|r| o.contains(&r.outcome));
        if any(&[RowOutcome::Failed, RowOutcome::NotStarted]) {
            FleetSummary::AnyFailed
        } else if any(&[RowOutcome::Locked]) {
            FleetSummary::AnyLocked
        } else if any(&[RowOutcome::Pending]) {
            FleetSummary::AnyPending
        } else {
            FleetSummary::AllOk
        }
    }

    /// How many rows ended each way.
    pub fn count(&self, outcome: RowOutcome) -> usize {
        self.rows.iter().filter(|r| r.outcome == outcome).count()
    }

    /// The most rows that were running at the same moment.
    pub fn max_in_flight(&self) -> usize {
        let mut edges: Vec<(u64, i32)> = self
            .rows
            .iter()
            .filter(|r| r.outcome != RowOutcome::NotStarted)
            .flat_map(|r| [(r.started_ms, 1), (r.finished_ms, -1)])
            .collect();
        // Ends before starts at the same instant.
        edges.sort();
        let (mut now, mut most) = (0i32, 0i32);
        for (_, step) in edges {
            now += step;
            most = most.max(now);
        }
        most as usize
    }
}

impl fmt::Display for FleetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let mut lines = r.summary.lines();
                let first = lines.next().unwrap_or_default();
                vec![
                    r.name.clone(),
                    r.outcome.to_string(),
                    format!(
                        "{:.1}",
                        (r.finished_ms.saturating_sub(r.started_ms)) as f64 / 1000.0
                    ),
                    r.instance.as_deref().unwrap_or("-").to_owned(),
                    format!(
                        "{first}{}",
                        if lines.next().is_some() { " (…)" } else { "" }
                    ),
                ]
            })
            .collect();
        f.write_str(&crate::table::render(
            &["ROW", "OUTCOME", "SECONDS", "INSTANCE", "SUMMARY"],
            rows,
            &[2],
        ))?;
        let counts: Vec<String> = [
            RowOutcome::Ok,
            RowOutcome::Changes,
            RowOutcome::Pending,
            RowOutcome::Locked,
            RowOutcome::Failed,
            RowOutcome::NotStarted,
        ]
        .into_iter()
        .filter(|o| self.count(*o) > 0)
        .map(|o| format!("{} {o}", self.count(o)))
        .collect();
        write!(
            f,
            "{} {} rows in {:.1} s, {} at once: {}",
            self.operation,
            self.rows.len(),
            self.wall_ms as f64 / 1000.0,
            self.concurrency,
            counts.join(", ")
        )
    }
}

/// Runs `operation` on every member, `options.concurrency` at a time, pulling
/// members from the iterator only as slots free up (so workflows can be built
/// lazily). Never fails: each row's failure is in its row.
pub async fn run_fleet<I>(
    members: I,
    operation: FleetOperation,
    options: &FleetOptions,
) -> FleetReport
where
    I: IntoIterator<Item = FleetMember>,
{
    let started = Instant::now();
    let concurrency = options.concurrency.max(1);
    let on_row = options.on_row.clone();
    let mut rows: Vec<(usize, FleetRow)> =
        futures_util::stream::iter(members.into_iter().enumerate())
            .map(|(index, member)| {
                let on_row = on_row.clone();
                async move {
                    let row = run_member(member, operation, started).await;
                    if let Some(handler) = &on_row {
                        handler(&row);
                    }
                    (index, row)
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    rows.sort_by_key(|(i, _)| *i);
    FleetReport {
        operation,
        concurrency,
        wall_ms: started.elapsed().as_millis() as u64,
        rows: rows.into_iter().map(|(_, r)| r).collect(),
    }
}

fn ms_since(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

async fn run_member(member: FleetMember, operation: FleetOperation, fleet: Instant) -> FleetRow {
    let started_ms = ms_since(fleet);
    let workflow = match member.workflow {
        Ok(w) => w,
        Err(reason) => {
            return FleetRow {
                name: member.name,
                instance: None,
                tenant: None,
                outcome: RowOutcome::NotStarted,
                summary: reason,
                started_ms,
                finished_ms: started_ms,
                report: None,
                lease_broken: Vec::new(),
            };
        }
    };
    let spec = &workflow.context().spec;
    let (instance, tenant) = (
        spec.instance.as_str().to_owned(),
        spec.tenant.as_str().to_owned(),
    );
    let mut lease_broken = Vec::new();
    let (outcome, mut summary, report) = match operation {
        FleetOperation::Plan => match workflow.plan().await {
            Ok(plan) => {
                let changing = plan
                    .steps
                    .iter()
                    .filter(|s| {
                        matches!(
                            s.action,
                            crate::Action::Create | crate::Action::Update | crate::Action::Adopt
                        )
                    })
                    .map(|s| s.step.to_string())
                    .collect::<Vec<_>>();
                let (outcome, summary) = if plan.would_refuse() {
                    // The preflight's problem, or the steps that refuse a
                    // record, each with why, on the row's one line.
                    let why = match plan.refusals.first() {
                        Some(problem) => problem.to_string(),
                        None => plan
                            .steps
                            .iter()
                            .filter(|s| s.action == crate::Action::Refuse)
                            .map(|s| format!("step {}: {}", s.step, s.warnings.join("; ")))
                            .collect::<Vec<_>>()
                            .join(" | "),
                    };
                    (RowOutcome::Failed, format!("apply would refuse: {why}"))
                } else if let Some(holder) = &plan.held_by {
                    (RowOutcome::Locked, format!("held by {holder}"))
                } else if changing.is_empty() {
                    (RowOutcome::Ok, format!("no changes ({})", plan.release))
                } else {
                    (
                        RowOutcome::Changes,
                        format!("would change {} ({})", changing.join(", "), plan.release),
                    )
                };
                (outcome, summary, serde_json::to_value(&plan).ok())
            }
            Err(e) => (RowOutcome::Failed, e.to_string(), None),
        },
        FleetOperation::Apply => match workflow.apply().await {
            Ok(report) => {
                lease_broken.clone_from(&report.footprint.lease_broken);
                let status = report.status();
                let done = report
                    .steps
                    .iter()
                    .filter(|s| s.outcome == crate::Outcome::Done)
                    .count();
                (
                    status_outcome(status),
                    match status {
                        Status::Ok => format!("applied: {done} step(s) changed"),
                        Status::Pending => {
                            format!("applied ({done} changed); waits for a person")
                        }
                        _ => "written, but a proof failed".to_owned(),
                    },
                    serde_json::to_value(&report).ok(),
                )
            }
            Err(e) => {
                if let Some(report) = e.report() {
                    lease_broken.clone_from(&report.footprint.lease_broken);
                }
                let outcome = if e.held().is_some() {
                    RowOutcome::Locked
                } else {
                    RowOutcome::Failed
                };
                let summary = match &e {
                    ApplyError::NotStarted(WorkflowError::Preflight(_)) => {
                        format!("preflight: {e}")
                    }
                    _ => e.to_string(),
                };
                (
                    outcome,
                    summary,
                    e.report().and_then(|r| serde_json::to_value(r).ok()),
                )
            }
        },
        FleetOperation::Verify => match workflow.verify().await {
            Ok(report) => (
                status_outcome(report.status),
                report.summary(),
                serde_json::to_value(&report).ok(),
            ),
            Err(e) => (RowOutcome::Failed, e.to_string(), None),
        },
        FleetOperation::TeardownPlan => match workflow.teardown_plan().await {
            Ok(preview) => {
                let (outcome, summary) = if let Some(problem) = preview.refusals.first() {
                    (
                        RowOutcome::Failed,
                        format!("teardown would refuse: {problem}"),
                    )
                } else if let Some(holder) = &preview.held_by {
                    (RowOutcome::Locked, format!("held by {holder}"))
                } else if preview.has_changes() {
                    (
                        RowOutcome::Changes,
                        format!("would {}", removal_counts(preview.removals(), false)),
                    )
                } else {
                    (RowOutcome::Ok, "nothing to remove or restore".to_owned())
                };
                (outcome, summary, serde_json::to_value(&preview).ok())
            }
            Err(e) => (RowOutcome::Failed, e.to_string(), None),
        },
        FleetOperation::Teardown => match workflow.teardown().await {
            Ok(report) => {
                lease_broken.clone_from(&report.footprint.lease_broken);
                (
                    RowOutcome::Ok,
                    removal_counts(report.removals(), true),
                    serde_json::to_value(&report).ok(),
                )
            }
            Err(e) => {
                let outcome = match e {
                    WorkflowError::Held(_) => RowOutcome::Locked,
                    _ => RowOutcome::Failed,
                };
                (outcome, e.to_string(), None)
            }
        },
    };
    // Each row's own report is a document as the single command's would be.
    let report = report.map(|r| crate::report::document(operation.kind(), outcome.status(), &r));
    if !lease_broken.is_empty() {
        let took: Vec<String> = lease_broken.iter().map(ToString::to_string).collect();
        // On the first line, which the table shows.
        let (first, rest) = summary.split_once('\n').unwrap_or((&summary, ""));
        let mut line = format!("{first}; took over the lease of {}", took.join(", "));
        if !rest.is_empty() {
            line = format!("{line}\n{rest}");
        }
        summary = line;
    }
    FleetRow {
        name: member.name,
        instance: Some(instance),
        tenant: Some(tenant),
        outcome,
        summary,
        started_ms,
        finished_ms: ms_since(fleet),
        report,
        lease_broken,
    }
}

/// `removed 3, restored 1, left 2 alone` (`remove 3, …` when not `done`).
fn removal_counts<'a>(removals: impl Iterator<Item = &'a Removal>, done: bool) -> String {
    let mut counts = [0usize; 4];
    for r in removals {
        counts[match r.outcome {
            RemovalOutcome::Removed => 0,
            RemovalOutcome::Restored => 1,
            RemovalOutcome::LeftAlone => 2,
            RemovalOutcome::AlreadyGone => 3,
        }] += 1;
    }
    let words = if done {
        ["removed", "restored", "left", "already gone"]
    } else {
        ["remove", "restore", "leave", "already gone"]
    };
    let parts: Vec<String> = counts
        .iter()
        .zip(words)
        .enumerate()
        .filter(|(_, (n, _))| **n > 0)
        .map(|(i, (n, word))| match i {
            2 => format!("{word} {n} alone"),
            3 => format!("{n} {word}"),
            _ => format!("{word} {n}"),
        })
        .collect();
    if parts.is_empty() {
        if done {
            "nothing to remove".to_owned()
        } else {
            "change nothing".to_owned()
        }
    } else {
        parts.join(", ")
    }
}

fn status_outcome(status: Status) -> RowOutcome {
    match status {
        Status::Ok => RowOutcome::Ok,
        Status::Pending => RowOutcome::Pending,
        _ => RowOutcome::Failed,
    }
}

#[cfg(all(test, feature = "json-schema"))]
mod tests {
    use super::*;

    #[test]
    fn a_row_report_is_one_of_the_operations_documents() {
        let mut generator = crate::schema::generator();
        let schema = row_report_schema(&mut generator);
        let kinds: Vec<&serde_json::Value> = schema.as_value()["anyOf"]
            .as_array()
            .unwrap()
            .iter()
            .skip(1)
            .map(|d| &d["properties"]["kind"]["const"])
            .collect();
        assert_eq!(
            kinds,
            ["plan", "apply", "verify", "teardown-plan", "teardown"]
        );
        assert!(generator.definitions().contains_key("PlannedStep"));
        let fleet = crate::schema::document::<FleetReport>("fleet", &["ok"]);
        assert_eq!(
            crate::schema::keys_written_twice(&fleet),
            Vec::<String>::new()
        );
    }
}
