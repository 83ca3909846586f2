//! A step registered from outside the crate: it runs in its wave, keeps its own
//! section of the ledger, and is planned, applied, verified and undone like the
//! built-in ones.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use brightpattern_servicenow::report::{Check, Removal, RemovalOutcome};
use brightpattern_servicenow::step::{Change, Context, FieldChange};
use brightpattern_servicenow::{
    Action, Event, IntegrationSpec, ServiceNowLogin, Step, StepId, Workflow, WorkflowOptions,
};
use common::pair;
use servicenow_client::fake::{ADMIN_PASSWORD, ADMIN_USER};
use servicenow_client::plugins::WaitOptions;
use servicenow_client::wire::SysId;
use servicenow_client::{JsonRecord, Result};

const PROPERTY: &str = "x_bp.agent_desktop.activity_history";

/// Keeps one system property at "true" (as an administrator following the 5.8
/// procedure would add).
struct ActivityHistoryProperty;

#[async_trait]
impl Step for ActivityHistoryProperty {
    type State = Option<JsonRecord>;

    fn id(&self) -> StepId {
        StepId::custom("activity_history")
    }

    fn depends_on(&self) -> Vec<StepId> {
        vec![StepId::PLUGINS]
    }

    fn resource(&self, _ctx: &Context) -> String {
        format!("system property {PROPERTY}")
    }

    async fn observe(&self, ctx: &Context) -> Result<Self::State> {
        ctx.servicenow
            .table_json("sys_properties")?
            .first(servicenow_client::query::Query::new().eq("name", PROPERTY))
            .await
    }

    fn change(&self, _ctx: &Context, state: &Self::State) -> Change {
        match state {
            None => Change::of(
                Action::Create,
                vec![FieldChange::new("value", None, "true")],
            ),
            Some(row) => Change::create_or_update(
                true,
                FieldChange::diff("value", row["value"].as_str().unwrap_or(""), "true")
                    .into_iter()
                    .collect(),
            ),
        }
    }

    async fn apply(&self, ctx: &Context, state: Self::State, _change: &Change) -> Result<String> {
        let table = ctx.servicenow.table_json("sys_properties")?;
        match state {
            None => {
                let id = SysId::generate();
                ctx.reserve_step(&self.id(), serde_json::json!({ "sys_id": id }))
                    .await?;
                table
                    .create_with_id(&id, &serde_json::json!({"name": PROPERTY, "value": "true"}))
                    .await?;
                Ok(format!("created {id}"))
            }
            Some(row) => {
                let id = SysId::parse(row["sys_id"].as_str().unwrap_or("")).map_err(|e| {
                    servicenow_client::Error::from(servicenow_client::error::InvalidInput::new(
                        "sys_id",
                        e.to_string(),
                    ))
                })?;
                table
                    .update(&id, &serde_json::json!({"value": "true"}))
                    .await?;
                Ok("set to true".into())
            }
        }
    }

    async fn verify(&self, ctx: &Context) -> Result<Vec<Check>> {
        let value = self
            .observe(ctx)
            .await?
            .and_then(|r| r["value"].as_str().map(str::to_owned));
        Ok(vec![Check::when(
            value.as_deref() == Some("true"),
            format!("{PROPERTY} is true"),
            value.unwrap_or_else(|| "missing".into()),
            "run apply",
        )])
    }

    async fn undo(&self, ctx: &Context) -> Result<Vec<Removal>> {
        let Some(section) = ctx.step_ledger(&self.id()).await else {
            return Ok(Vec::new());
        };
        let id = SysId::parse(section["sys_id"].as_str().unwrap_or("")).ok();
        let found = self.observe(ctx).await?;
        let removal = match (id, found) {
            // The ledger and the record agree: the recorded id has our name.
            (Some(id), Some(row)) if row["sys_id"] == id.as_str() => {
                ctx.servicenow
                    .table_json("sys_properties")?
                    .delete(&id)
                    .await?;
                Removal::new(
                    self.resource(ctx),
                    RemovalOutcome::Removed,
                    "created by this step",
                )
            }
            _ => Removal::new(self.resource(ctx), RemovalOutcome::AlreadyGone, "not found"),
        };
        ctx.record_step(&self.id(), None).await;
        Ok(vec![removal])
    }
}

fn spec(p: &common::Pair) -> brightpattern_servicenow::ResolvedSpec {
    IntegrationSpec::from_toml(&format!(
        "[servicenow]\ninstance = \"{}\"\n[brightpattern]\ntenant = \"{}\"\n[access]\nusers = [\"agent.1\"]\n",
        p.sn.url(),
        p.bp.url()
    ))
    .unwrap()
    .resolve()
    .unwrap()
}

fn builder(p: &common::Pair) -> brightpattern_servicenow::workflow::WorkflowBuilder {
    Workflow::builder(
        spec(p),
        p.sn.client_as_admin(),
        p.bp.client(),
        ServiceNowLogin {
            username: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
        },
    )
    .options(WorkflowOptions {
        plugin_wait: WaitOptions::fast(),
        ..WorkflowOptions::default()
    })
}

#[tokio::test]
async fn a_step_registered_from_outside_runs_in_its_wave_and_is_undone() {
    let p = pair().await;
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let seen = events.clone();
    let wf = builder(&p)
        .on_event(move |e| seen.lock().unwrap().push(e.clone()))
        .step(ActivityHistoryProperty)
        .unwrap()
        .build();

    let plan = wf.plan().await.unwrap();
    let ours = plan.step(StepId::custom("activity_history")).unwrap();
    assert_eq!(ours.action, Action::Create);

    let report = wf.apply().await.unwrap();
    assert!(report.step(StepId::custom("activity_history")).is_some());
    let record =
        p.sn.table("sys_properties")
            .into_iter()
            .find(|r| r["name"] == PROPERTY)
            .unwrap();
    assert_eq!(record["value"], "true");
    // Its wave: after the plugins finished, before the integration account.
    let order: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::StepStarted { step, .. } => Some(format!("start {step}")),
            Event::StepFinished { step, .. } => Some(format!("finish {step}")),
            _ => None,
        })
        .collect();
    let at = |s: &str| order.iter().position(|o| o == s).unwrap();
    assert!(
        at("finish plugins") < at("start activity_history"),
        "{order:?}"
    );
    assert!(
        at("start activity_history") < at("start integration_account"),
        "{order:?}"
    );

    let health = wf.verify().await.unwrap();
    assert!(
        health
            .checks
            .iter()
            .any(|c| c.check.contains(PROPERTY) && c.is_ok()),
        "{health}"
    );
    assert!(
        !wf.plan().await.unwrap().has_changes(),
        "a second apply changes nothing"
    );
    let removed = wf.teardown().await.unwrap();
    assert!(
        removed
            .removals()
            .any(|r| r.resource.contains(PROPERTY) && r.outcome == RemovalOutcome::Removed),
        "{removed}"
    );
    assert!(
        !p.sn
            .table("sys_properties")
            .iter()
            .any(|r| r["name"] == PROPERTY)
    );
}

struct Named(&'static str, Vec<StepId>);

#[async_trait]
impl Step for Named {
    type State = ();
    fn id(&self) -> StepId {
        StepId::custom(self.0)
    }
    fn depends_on(&self) -> Vec<StepId> {
        self.1.clone()
    }
    fn resource(&self, _ctx: &Context) -> String {
        self.0.into()
    }
    async fn observe(&self, _ctx: &Context) -> Result<()> {
        Ok(())
    }
    fn change(&self, _ctx: &Context, _state: &()) -> Change {
        Change::unchanged()
    }
    async fn apply(&self, _ctx: &Context, _state: (), _change: &Change) -> Result<String> {
        Ok(String::new())
    }
    async fn verify(&self, _ctx: &Context) -> Result<Vec<Check>> {
        Ok(Vec::new())
    }
    async fn undo(&self, _ctx: &Context) -> Result<Vec<Removal>> {
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn registration_checks_ids_and_dependencies() {
    let p = pair().await;
    let err = builder(&p).step(Named("plugins", vec![])).unwrap_err();
    assert!(err.to_string().contains("registered already"), "{err}");
    let err = builder(&p).step(Named("Bad Name", vec![])).unwrap_err();
    assert!(err.to_string().contains("a-z"), "{err}");
    let err = builder(&p)
        .step(Named("late", vec![StepId::custom("later")]))
        .unwrap_err();
    assert!(err.to_string().contains("not registered"), "{err}");
    // A chain: first after plugins, second after first (a wave of its own).
    let wf = builder(&p)
        .step(Named("first", vec![StepId::PLUGINS]))
        .unwrap()
        .step(Named("second", vec![StepId::custom("first")]))
        .unwrap()
        .build();
    let plan = wf.plan().await.unwrap();
    let names: Vec<&str> = plan.steps.iter().map(|s| s.step.as_str()).collect();
    let at = |s: &str| names.iter().position(|n| *n == s).unwrap();
    assert!(
        at("plugins") < at("first") && at("first") < at("second"),
        "{names:?}"
    );
}
