//! A step registered from outside the crate: it runs in its wave, keeps its own
//! section of the ledger, and is planned, applied, verified and undone like the
//! built-in ones.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use brightpattern_servicenow::report::{Removal, RemovalOutcome};
use brightpattern_servicenow::step::{Change, Context, FieldChange};
use brightpattern_servicenow::{
    Action, Applied, Event, IntegrationSpec, ServiceNowLogin, Step, StepError, StepId, StepResult,
    Upstream, Workflow, WorkflowError, WorkflowOptions,
};
use common::pair;
use servicenow_client::JsonRecord;
use servicenow_client::plugins::WaitOptions;
use servicenow_client::wire::SysId;
use servicenow_fake::{ADMIN_PASSWORD, ADMIN_USER};

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

    async fn observe(&self, ctx: &Context) -> StepResult<Self::State> {
        Ok(ctx
            .servicenow
            .table_json("sys_properties")?
            .first(servicenow_client::query::Query::new().eq("name", PROPERTY))
            .await?)
    }

    fn change(&self, _ctx: &Context, state: &Self::State, _upstream: &Upstream) -> Change {
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

    async fn apply(
        &self,
        ctx: &Context,
        state: Self::State,
        _change: &Change,
        _upstream: &Upstream,
    ) -> StepResult<Applied> {
        let table = ctx.servicenow.table_json("sys_properties")?;
        match state {
            None => {
                let id = SysId::generate();
                ctx.reserve_step(&self.id(), serde_json::json!({ "sys_id": id }))
                    .await?;
                table
                    .create_with_id(&id, &serde_json::json!({"name": PROPERTY, "value": "true"}))
                    .await?;
                Ok(format!("created {id}").into())
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
                Ok(Applied::new("set to true"))
            }
        }
    }

    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>> {
        let Some(section) = ctx.step_ledger(&self.id()).await else {
            return Ok(Vec::new());
        };
        let id = SysId::parse(section["sys_id"].as_str().unwrap_or("")).ok();
        let found = self.observe(ctx).await?;
        let removal = match (id, found) {
            // The ledger and the record agree: the recorded id has our name.
            (Some(id), Some(row)) if row["sys_id"] == id.as_str() => {
                let table = ctx.servicenow.table_json("sys_properties")?;
                ctx.write(table.delete(&id)).await?;
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
    .options(WorkflowOptions::default().plugin_wait(WaitOptions::fast()))
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
    // The preview says what teardown will do, and writes nothing.
    let writes = p.sn.write_count();
    let preview = wf.teardown_plan().await.unwrap();
    assert_eq!(p.sn.write_count(), writes, "{preview}");
    assert!(
        preview
            .removals()
            .any(|r| r.resource.contains(PROPERTY) && r.outcome == RemovalOutcome::Removed),
        "{preview}"
    );
    assert!(
        p.sn.table("sys_properties")
            .iter()
            .any(|r| r["name"] == PROPERTY)
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

/// A value one step hands to the next.
#[derive(Debug, Clone, PartialEq)]
struct Token(String);

/// A step that does nothing but, when asked to, plans a change and hands on a
/// [`Token`]; and records which token it saw from upstream.
struct Named {
    name: &'static str,
    after: Vec<StepId>,
    hands_on: Option<&'static str>,
    saw: Arc<Mutex<Option<Token>>>,
    /// Its undo creates a property without going through `Context::write`.
    careless_undo: bool,
    /// Its observe creates a property (no step may write while observing).
    writes_while_observing: bool,
}

impl Named {
    fn new(name: &'static str, after: Vec<StepId>) -> Self {
        Self {
            name,
            after,
            hands_on: None,
            saw: Arc::default(),
            careless_undo: false,
            writes_while_observing: false,
        }
    }
}

#[async_trait]
impl Step for Named {
    type State = ();
    fn id(&self) -> StepId {
        StepId::custom(self.name)
    }
    fn depends_on(&self) -> Vec<StepId> {
        self.after.clone()
    }
    fn resource(&self, _ctx: &Context) -> String {
        self.name.into()
    }
    async fn observe(&self, ctx: &Context) -> StepResult<()> {
        if self.writes_while_observing {
            ctx.servicenow
                .table_json("sys_properties")?
                .create(&serde_json::json!({"name": "x_bp.observed", "value": "1"}))
                .await?;
        }
        Ok(())
    }
    fn change(&self, _ctx: &Context, _state: &(), upstream: &Upstream) -> Change {
        *self.saw.lock().unwrap() = upstream.output::<Token>().cloned();
        match self.hands_on {
            Some(_) => Change::of(Action::Update, vec![FieldChange::new("token", None, "new")])
                .with_warning("a new token is handed on"),
            None => Change::unchanged(),
        }
    }
    async fn apply(
        &self,
        _ctx: &Context,
        _state: (),
        _change: &Change,
        _upstream: &Upstream,
    ) -> StepResult<Applied> {
        let applied = Applied::new("handed on a token");
        Ok(match self.hands_on {
            Some(token) => applied.with_output(Token(token.to_owned())),
            None => applied,
        })
    }
    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>> {
        if self.careless_undo {
            ctx.servicenow
                .table_json("sys_properties")?
                .create(&serde_json::json!({"name": "x_bp.careless", "value": "1"}))
                .await?;
        }
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn a_step_that_writes_while_planning_fails_the_plan_and_sends_nothing() {
    let p = pair().await;
    let writer = Named {
        writes_while_observing: true,
        ..Named::new("writer", vec![StepId::PLUGINS])
    };
    let wf = builder(&p).step(writer).unwrap().build();
    let writes = p.sn.write_count();
    let err = wf.plan().await.unwrap_err();
    assert!(
        matches!(
            &err,
            WorkflowError::Step { step, source: StepError::Request(servicenow_client::Error::ReadOnly { .. }) }
                if step.as_str() == "writer"
        ),
        "{err:?}"
    );
    assert_eq!(p.sn.write_count(), writes);
}

#[tokio::test]
async fn an_undo_that_writes_around_context_write_fails_the_preview_and_sends_nothing() {
    let p = pair().await;
    let careless = Named {
        careless_undo: true,
        ..Named::new("careless", vec![StepId::PLUGINS])
    };
    let wf = builder(&p).step(careless).unwrap().build();
    p.sn.clear_requests();
    let err = wf.teardown_plan().await.unwrap_err();
    let WorkflowError::Step {
        step,
        source: StepError::Request(servicenow_client::Error::ReadOnly { request }),
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(step.as_str(), "careless");
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/api/now/table/sys_properties");
    assert_eq!(request.attempts, 0);
    assert!(err.to_string().contains("was not sent"), "{err}");
    let posts: Vec<_> =
        p.sn.requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect();
    assert!(posts.is_empty(), "{posts:?}");
    assert!(
        !p.sn
            .table("sys_properties")
            .iter()
            .any(|r| r["name"] == "x_bp.careless")
    );
}

#[tokio::test]
async fn a_typed_output_reaches_the_steps_after_it_and_only_in_apply() {
    let p = pair().await;
    let first = Named {
        hands_on: Some("tok-1"),
        ..Named::new("first", vec![StepId::PLUGINS])
    };
    let second = Named::new("second", vec![StepId::custom("first")]);
    let saw = second.saw.clone();
    let wf = builder(&p)
        .step(first)
        .unwrap()
        .step(second)
        .unwrap()
        .build();
    let plan = wf.plan().await.unwrap();
    assert_eq!(*saw.lock().unwrap(), None, "plan hands nothing on");
    assert_eq!(
        plan.step(StepId::custom("first")).unwrap().warnings,
        ["a new token is handed on"]
    );
    assert!(
        plan.to_string()
            .contains("warning: a new token is handed on"),
        "{plan}"
    );
    wf.apply().await.unwrap();
    assert_eq!(
        *saw.lock().unwrap(),
        Some(Token("tok-1".into())),
        "apply hands the first step's output to the second"
    );
}

#[tokio::test]
async fn registration_checks_ids_and_dependencies() {
    let p = pair().await;
    let err = builder(&p).step(Named::new("plugins", vec![])).unwrap_err();
    assert!(err.to_string().contains("registered already"), "{err}");
    let err = builder(&p).step(Named::new("run", vec![])).unwrap_err();
    assert!(err.to_string().contains("names the run itself"), "{err}");
    let err = builder(&p)
        .step(Named::new("Bad Name", vec![]))
        .unwrap_err();
    assert!(err.to_string().contains("a-z"), "{err}");
    let err = builder(&p)
        .step(Named::new("late", vec![StepId::custom("later")]))
        .unwrap_err();
    assert!(err.to_string().contains("not registered"), "{err}");
    // A chain: first after plugins, second after first (a wave of its own).
    let wf = builder(&p)
        .step(Named::new("first", vec![StepId::PLUGINS]))
        .unwrap()
        .step(Named::new("second", vec![StepId::custom("first")]))
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

/// The spec with two `[[properties]]`: one created, one adopted.
fn spec_with_properties(p: &common::Pair) -> brightpattern_servicenow::ResolvedSpec {
    IntegrationSpec::from_toml(&format!(
        "[servicenow]\ninstance = \"{}\"\n[brightpattern]\ntenant = \"{}\"\n[access]\nusers = [\"agent.1\"]\n[[properties]]\nname = \"x_vendor.created\"\nvalue = \"on\"\n[[properties]]\nname = \"x_vendor.adopted\"\nvalue = \"on\"\n",
        p.sn.url(),
        p.bp.url()
    ))
    .unwrap()
    .resolve()
    .unwrap()
}

fn value_of(p: &common::Pair, name: &str) -> Option<String> {
    p.sn.table("sys_properties")
        .into_iter()
        .find(|r| r["name"] == name)
        .map(|r| r["value"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn repair_keeps_every_step_s_section_and_teardown_then_does_what_it_would_have() {
    // damage: none (repair run to check), a torn head, a head replaced by junk.
    for damage in ["none", "torn", "junk"] {
        let p = pair().await;
        p.sn.set_property("x_vendor.adopted", "off");
        let wf = Workflow::builder(
            spec_with_properties(&p),
            p.sn.client_as_admin(),
            p.bp.client(),
            ServiceNowLogin {
                username: ADMIN_USER.into(),
                password: ADMIN_PASSWORD.into(),
            },
        )
        .options(WorkflowOptions::default().plugin_wait(WaitOptions::fast()))
        .step(ActivityHistoryProperty)
        .unwrap()
        .build();
        wf.apply().await.unwrap();
        assert_eq!(value_of(&p, "x_vendor.adopted").as_deref(), Some("on"));
        assert!(value_of(&p, PROPERTY).is_some());

        let head = format!("{}head", wf.context().ledger_key().prefix());
        let text =
            p.sn.table("sys_properties")
                .into_iter()
                .find(|r| r["name"] == head.as_str())
                .unwrap()["value"]
                .as_str()
                .unwrap()
                .to_owned();
        match damage {
            "torn" => p.sn.set_property(&head, &text[..text.len() - 2]),
            "junk" => p.sn.set_property(&head, "{junk"),
            _ => {}
        }
        let report = wf.repair().await.unwrap();
        if damage == "junk" {
            // Nothing of the sections can be read: each is said to be lost.
            assert!(
                !report.claimed.iter().any(|c| c.contains("x_vendor")),
                "{report}"
            );
            continue;
        }
        for what in [
            "x_vendor.created",
            "x_vendor.adopted",
            "step activity_history's ledger section",
        ] {
            assert!(
                report.claimed.iter().any(|c| c.contains(what)),
                "{damage}: {what}: {report}"
            );
        }
        let ledger = wf.context().ledger().await;
        assert!(ledger.steps.contains_key("properties"), "{damage}");
        assert!(ledger.steps.contains_key("activity_history"), "{damage}");

        // Teardown removes and restores exactly what it would have without the damage.
        wf.teardown().await.unwrap();
        assert_eq!(value_of(&p, "x_vendor.created"), None, "{damage}");
        assert_eq!(
            value_of(&p, "x_vendor.adopted").as_deref(),
            Some("off"),
            "{damage}: the adopted value is put back"
        );
        assert_eq!(value_of(&p, PROPERTY), None, "{damage}");
    }
}

/// A step that names part of the integration: its names enter the ledger key.
struct Identified(&'static str);

#[async_trait]
impl Step for Identified {
    type State = ();

    fn id(&self) -> StepId {
        StepId::custom("identified")
    }

    fn identity(&self, _spec: &brightpattern_servicenow::ResolvedSpec) -> Vec<String> {
        vec![self.0.to_owned()]
    }

    fn resource(&self, _ctx: &Context) -> String {
        "nothing".into()
    }

    async fn observe(&self, _ctx: &Context) -> StepResult<()> {
        Ok(())
    }

    fn change(&self, _ctx: &Context, _state: &(), _upstream: &Upstream) -> Change {
        Change::unchanged()
    }

    async fn apply(
        &self,
        _ctx: &Context,
        _state: (),
        _change: &Change,
        _upstream: &Upstream,
    ) -> StepResult<Applied> {
        Ok(Applied::new("nothing"))
    }

    async fn undo(&self, _ctx: &Context) -> StepResult<Vec<Removal>> {
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn the_ledger_key_is_made_of_the_steps_identities() {
    let p = pair().await;
    let key = |wf: &Workflow| wf.context().ledger_key().prefix();
    let built_in = builder(&p).build();
    // The built-in steps' names, as every earlier version keyed the ledger.
    let spec = spec(&p);
    let expected = brightpattern_servicenow::ledger::LedgerKey::new(
        spec.instance.as_str(),
        spec.tenant.host(),
        &[
            &spec.openframe.name,
            &spec.cors_name,
            &spec.oauth.name,
            &spec.integration_account.name,
        ],
    );
    assert_eq!(key(&built_in), expected.prefix());
    // A step without identity leaves it; one with a name makes another integration.
    let plain = builder(&p).step(ActivityHistoryProperty).unwrap().build();
    assert_eq!(key(&plain), key(&built_in));
    let a = builder(&p).step(Identified("a")).unwrap().build();
    let b = builder(&p).step(Identified("b")).unwrap().build();
    assert_ne!(key(&a), key(&built_in));
    assert_ne!(key(&a), key(&b));
}
