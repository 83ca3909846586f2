#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! # Guide
//!
//! | module | what it holds |
//! |---|---|
//! | [`managed`] | the ownership protocol's vocabulary: whose a named record is ([`managed::Ownership`]), which of several with the name is managed, what is said of the others |
//! | [`model`] | the vocabulary the others speak, importing nothing of the crate: [`StepId`], [`Action`], [`Change`], [`ManualStep`], [`RoleNeed`], [`PreflightProblem`] |
//! | [`spec`] | [`IntegrationSpec`]: what should exist, from TOML, validated all at once; a step's own section ([`StepSection`], typed by [`SectionSchema`]) |
//! | [`step`] | the one [`Step`] trait (observe, change, apply, findings, prove, undo, repair; its own spec section and ledger record), [`Upstream`], [`Applied`], [`StepError`] and the shared [`Context`] |
//! | [`steps`] | one module per step: plugins, OpenFrame, access, CORS, OAuth endpoint, integration account; and, when the spec names them, extra system properties and a Store application |
//! | [`workflow`] | [`Workflow`]: registered steps, dependency waves, the preflight of the admin's roles and the instance's release, the lease, ledger saves, failure reports; [`WorkflowBuilder::step`] adds a step of your own |
//! | [`fleet`] | many integrations at once: an [`Inventory`](fleet::Inventory) of rows over one template, [`run_fleet`](fleet::run_fleet) with bounded concurrency, one report |
//! | [`report`] | [`Plan`], [`ApplyReport`], [`VerifyReport`], [`TeardownPlan`], [`TeardownReport`]: JSON and text, no secrets; every check and run is ok, pending or failed ([`Status`]) |
//! | `schema` | with the `json-schema` feature: the JSON Schema of each document a report becomes, derived from the report types |
//! | [`events`] | progress [`Event`]s for a command-line tool to render |
//! | [`ledger`] | what the workflow created or adopted, kept crash-atomically on the instance under the integration's own key |
//! | [`lease`] | one run at a time per integration |
//! | [`shared`] | records several integrations on one instance need (allow-list entries, role grants): reference-counted across their ledgers, changed under the instance lock |
//!
//! The steps, and the crates they use:
//!
//! 1. plugins active — `servicenow_client::plugins` (CI/CD API);
//! 2. OpenFrame configuration with the `topDomain` URL, and the tenant origin in
//!    the postMessage allow-list — `servicenow_openframe`, `servicenow_client::openframe`, `::properties`;
//! 3. `sn_openframe_user` for the listed users and groups — `servicenow_client::roles` (Batch API);
//! 4. CORS rule for the tenant origin — `servicenow_client::cors`;
//! 5. OAuth endpoint with a generated secret — `servicenow_client::oauth`;
//! 6. Bright Pattern integration account, refresh token, connection test — a
//!    manual checklist by default (Bright Pattern documents no API for it), or
//!    `brightpattern_client::integration_accounts` when the spec opts in;
//! 7. the widget size — part of step 2;
//! - extra system properties (`[[properties]]`, the 5.8 procedure) — `servicenow_client::properties`;
//! - a Store application (`[store_app]`, the 5.19 procedure) — `servicenow_client::applications` (CI/CD API).
//!
//! Every operation reads the instance's release (`servicenow_client::release`)
//! with the ledger; steps use it ([`Context::release`]) to warn (CTI Softphone
//! from Zurich, the deprecated OAuth registry type) or to refuse (the Store
//! application before Tokyo, in the [preflight](Workflow::preflight)).
//!
//! # Verify: the plan is empty, then proven by effect
//!
//! [`Workflow::verify`] is not a second copy of each comparison: it observes each
//! step once, computes the step's change exactly as plan does, and reports every
//! field the change would touch (nothing to change is one passing check per
//! step), plus the step's [findings](Step::findings) (records sharing a name, a
//! plugin that is not installed). Then it proves each piece by what it does: the
//! OAuth client by the password grant, refresh grant and Table API read Bright
//! Pattern will make; the CORS rule by a browser's preflight; the Agent Desktop
//! URL by a GET of the page; the OpenFrame configuration by working out, for every
//! listed agent, which configuration that agent gets. Each check is ok, pending (a
//! person must act, or it cannot be proven from here) or failed, and so is the
//! run: pending is never ok. [`Workflow::apply`] runs the same proofs for the
//! steps it changed ([`ApplyReport::proofs`]).
//!
//! # Steps are typed all the way
//!
//! A step's [`Change`] is computed purely from what it observed and from
//! [`Upstream`] — the typed plans of the steps before it and the typed values
//! they handed on with [`Applied::with_output`] (the OAuth client secret step 5
//! generates reaches step 6 that way, never through shared state). Its failures
//! are [`StepError`]s: the failed request, or the workflow's own reason (a record
//! not ours, a record it needs missing, a multi-record write half made).
//!
//! # Previews read only, and the clients enforce it
//!
//! [`Workflow::plan`] and [`Workflow::teardown_plan`] run the steps' own code —
//! observe and change for the one, [`undo`](Step::undo) for the other — on a
//! context whose clients refuse every request but reads
//! (`servicenow_client::Client::read_only`). A step's undo sends its writes
//! through [`Context::write`], which sends nothing in a preview, so the
//! teardown preview says record by record what teardown will do, decided by
//! the same code; a write that bypassed it fails the preview with
//! `Error::ReadOnly` instead of happening.
//!
//! # A reviewed plan is applied exactly
//!
//! A [`Plan`] serialises to JSON and reads back. [`Workflow::apply_plan`]
//! applies a plan kept that way only while it is still what apply would do:
//! it plans again before taking the lease and once more under it, before the
//! first write, and refuses with [`WorkflowError::PlanMoved`] — naming each
//! difference ([`Plan::moved_from`]) and writing nothing — when the instance,
//! the tenant, the ledger or the spec moved since.
//!
//! # Example: plan → apply → verify → teardown, on the built-in fakes
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use brightpattern_fake::FakeTenant;
//! use brightpattern_servicenow::{IntegrationSpec, ServiceNowLogin, Workflow, WorkflowOptions};
//! use servicenow_fake::{FakeInstance, ADMIN_PASSWORD, ADMIN_USER};
//! use servicenow_client::plugins::WaitOptions;
//!
//! let sn = FakeInstance::start().await;
//! let bp = FakeTenant::start().await;
//! sn.add_user("agent.1");
//!
//! let spec = IntegrationSpec::from_toml(&format!(r#"
//!     [servicenow]
//!     instance = "{}"
//!     [brightpattern]
//!     tenant = "{}"
//!     [access]
//!     users = ["agent.1"]
//! "#, sn.url(), bp.url()))?.resolve()?;
//!
//! let workflow = Workflow::builder(
//!     spec,
//!     sn.client_as_admin(),
//!     bp.client(),
//!     ServiceNowLogin { username: ADMIN_USER.into(), password: ADMIN_PASSWORD.into() },
//! )
//! .options(WorkflowOptions::default().plugin_wait(WaitOptions::fast()))
//! .build();
//!
//! let plan = workflow.plan().await?;
//! println!("{plan}");
//! assert!(plan.has_changes());
//!
//! let report = workflow.apply().await?;
//! println!("{report}");
//!
//! let health = workflow.verify().await?;
//! // Every record read back and every effect proven; the integration account is
//! // a manual step (Bright Pattern documents no API for it), so it waits for a person.
//! assert_eq!(health.status, brightpattern_servicenow::Status::Pending, "{health}");
//! assert!(health.problems().all(|c| c.manual.is_some()), "{health}");
//!
//! // A second apply changes nothing.
//! assert!(!workflow.plan().await?.has_changes());
//!
//! // What teardown will do, without doing it; then doing it.
//! let preview = workflow.teardown_plan().await?;
//! assert!(preview.has_changes(), "{preview}");
//! let removed = workflow.teardown().await?;
//! println!("{removed}");
//! # Ok(()) }
//! ```

pub mod events;
pub mod fleet;
pub mod lease;
pub mod ledger;
pub mod managed;
pub mod model;
mod oauth_secret;
mod ownership;
pub mod report;
#[cfg(feature = "json-schema")]
#[cfg_attr(docsrs, doc(cfg(feature = "json-schema")))]
pub mod schema;
pub mod shared;
pub mod spec;
pub mod step;
pub mod steps;
mod table;
mod update_set;
pub mod workflow;

pub use events::{Event, EventHandler};
pub use lease::{LeaseHeld, LeaseOptions};
pub use report::{
    ApplyReport, Check, ManualStep, Outcome, Plan, Status, TeardownPlan, TeardownReport,
    VerifyReport,
};
pub use spec::{IntegrationSpec, ResolvedSpec, SectionSchema, SpecError, StepSection};
pub use step::{
    Action, Applied, Change, Context, Damaged, FieldChange, Named, Repaired, RoleNeed,
    ServiceNowLogin, Step, StepError, StepId, StepResult, Upstream, WorkflowOptions,
};
pub use workflow::{
    ApplyError, PreflightProblem, StepRegistrationError, StepsFailed, Taken, Workflow,
    WorkflowBuilder, WorkflowError,
};

/// The workspace README's Rust examples, compiled and run as doctests so the
/// README cannot drift from the API.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
