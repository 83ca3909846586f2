//! A step of your own, added touching nothing else: one file (the step, between
//! the `step:` markers, word for word the README's "Steps of your own"
//! example), one registry line (`.step(AgentGroup)?`), and this test file. The
//! step has the powers of a built-in one: a typed spec section checked by the
//! registry, a typed ledger record, an undo decided from the spec and the
//! record, and repair keeping its record.

mod common;

use brightpattern_servicenow::report::RemovalOutcome;
use brightpattern_servicenow::{ApplyError, PreflightProblem, Status, WorkflowError};
use common::{Pair, builder, pair};

// step: begin
use async_trait::async_trait;
use brightpattern_servicenow::report::{Removal, RemovalOutcome as Outcome};
use brightpattern_servicenow::{
    Action, Applied, Change, Context, FieldChange, SectionSchema, Step, StepError, StepId,
    StepResult, Upstream,
};
use serde::{Deserialize, Serialize};
use servicenow_client::JsonRecord;
use servicenow_client::query::Query;
use servicenow_client::wire::SysId;

/// `[steps.agent_group]` of the spec: the group the agents are put in.
#[derive(Deserialize)]
struct AgentGroupSection {
    name: String,
    #[serde(default)]
    description: String,
}

/// What the step keeps in the ledger: the group it created.
#[derive(Serialize, Deserialize)]
struct AgentGroupRecord {
    sys_id: SysId,
}

/// What the step observed.
struct Observed {
    section: AgentGroupSection,
    /// The group with the configured name, if one exists.
    found: Option<JsonRecord>,
    /// The ledger's record, when this step created a group.
    record: Option<AgentGroupRecord>,
}

impl Observed {
    /// Ours: the group with the configured name is the one the ledger names.
    fn ours(&self) -> Option<&SysId> {
        let (row, record) = (self.found.as_ref()?, self.record.as_ref()?);
        (row["sys_id"] == record.sys_id.as_str()).then_some(&record.sys_id)
    }
}

/// Keeps a `sys_user_group` for the agents; teardown deletes it only when this
/// step created it and it still has the configured name.
struct AgentGroup;

#[async_trait]
impl Step for AgentGroup {
    type State = Observed;

    fn id(&self) -> StepId {
        StepId::custom("agent_group")
    }

    fn section(&self) -> Option<SectionSchema> {
        Some(SectionSchema::of::<AgentGroupSection>().required())
    }

    fn finds_by_name(&self) -> bool {
        true // a group with the name may be someone else's: apply checks first
    }

    fn resource(&self, ctx: &Context) -> String {
        match ctx.section::<AgentGroupSection>(&self.id()) {
            Ok(Some(section)) => format!("group {:?}", section.name),
            _ => "the agents' group".into(),
        }
    }

    async fn observe(&self, ctx: &Context) -> StepResult<Observed> {
        let section = ctx
            .section::<AgentGroupSection>(&self.id())?
            .ok_or_else(|| StepError::Missing {
                record: "[steps.agent_group]".into(),
                hint: "name the group in the spec".into(),
            })?;
        let found = ctx
            .servicenow
            .table_json("sys_user_group")?
            .first(Query::new().eq("name", &section.name))
            .await?;
        let record = ctx.step_record(&self.id()).await?;
        Ok(Observed {
            section,
            found,
            record,
        })
    }

    fn change(&self, _ctx: &Context, state: &Observed, _upstream: &Upstream) -> Change {
        let wanted = &state.section.description;
        match &state.found {
            None => Change::of(
                Action::Create,
                vec![FieldChange::new("description", None, wanted.clone())],
            ),
            Some(_) if state.ours().is_none() => Change::of(Action::Refuse, Vec::new())
                .with_warning("a group with this name exists and was not made by this step"),
            Some(row) => Change::create_or_update(
                true,
                FieldChange::diff(
                    "description",
                    row["description"].as_str().unwrap_or(""),
                    wanted,
                )
                .into_iter()
                .collect(),
            ),
        }
    }

    async fn apply(
        &self,
        ctx: &Context,
        state: Observed,
        _change: &Change,
        _upstream: &Upstream,
    ) -> StepResult<Applied> {
        let groups = ctx.servicenow.table_json("sys_user_group")?;
        let fields = serde_json::json!({
            "name": state.section.name, "description": state.section.description,
        });
        if let Some(sys_id) = state.ours() {
            groups.update(sys_id, &fields).await?;
            return Ok(Applied::new(format!("updated {sys_id}")));
        }
        // Recorded before the create is sent: a lost answer still leaves the
        // group known as ours.
        let sys_id = SysId::generate();
        let record = AgentGroupRecord {
            sys_id: sys_id.clone(),
        };
        ctx.reserve_step_record(&self.id(), &record).await?;
        groups.create_with_id(&sys_id, &fields).await?;
        Ok(Applied::new(format!("created {sys_id}")))
    }

    async fn undo(&self, ctx: &Context) -> StepResult<Vec<Removal>> {
        let state = self.observe(ctx).await?;
        if state.record.is_none() {
            return Ok(Vec::new());
        }
        let removal = match state.ours() {
            Some(sys_id) => {
                let groups = ctx.servicenow.table_json("sys_user_group")?;
                ctx.write(groups.delete(sys_id)).await?;
                Removal::new(self.resource(ctx), Outcome::Removed, "created by this step")
            }
            None => Removal::new(
                self.resource(ctx),
                Outcome::AlreadyGone,
                "no group with the recorded sys_id has the configured name",
            ),
        };
        ctx.set_step_record::<AgentGroupRecord>(&self.id(), None)
            .await;
        Ok(vec![removal])
    }
}
// step: end

const SECTION: &str = "[steps.agent_group]\nname = \"Bright Pattern Agents\"\ndescription = \"Agent Desktop users\"\n";

fn group(p: &Pair, name: &str) -> Option<JsonRecord> {
    p.sn.table("sys_user_group")
        .into_iter()
        .find(|g| g["name"] == name)
}

#[tokio::test]
async fn the_step_creates_keeps_and_undoes_its_group() {
    let p = pair().await;
    let wf = builder(&p, SECTION).step(AgentGroup).unwrap().build();
    assert!(wf.spec_problems().is_empty());

    let plan = wf.plan().await.unwrap();
    let ours = plan.step(StepId::custom("agent_group")).unwrap();
    assert_eq!(ours.action, Action::Create);
    assert_eq!(ours.resource, "group \"Bright Pattern Agents\"");

    wf.apply().await.unwrap();
    let made = group(&p, "Bright Pattern Agents").expect("created");
    assert_eq!(made["description"], "Agent Desktop users");
    let ledger = wf.context().ledger().await;
    assert_eq!(ledger.steps["agent_group"]["sys_id"], made["sys_id"]);

    // A second run changes nothing, and verify proves it.
    assert!(!wf.plan().await.unwrap().has_changes());
    let writes = p.sn.write_count();
    wf.apply().await.unwrap();
    assert_eq!(
        p.sn.write_count(),
        writes,
        "a run with nothing to do writes nothing"
    );
    // (Verify as a whole waits on the manual integration-account step.)
    let verified = wf.verify().await.unwrap();
    let ours: Vec<_> = verified
        .checks
        .iter()
        .filter(|c| c.check.contains("Bright Pattern Agents"))
        .collect();
    assert!(!ours.is_empty(), "{verified}");
    assert!(ours.iter().all(|c| c.status == Status::Ok), "{verified}");

    let report = wf.teardown().await.unwrap();
    let removal = report
        .removals()
        .find(|r| r.resource == "group \"Bright Pattern Agents\"")
        .unwrap();
    assert_eq!(removal.outcome, RemovalOutcome::Removed);
    assert!(group(&p, "Bright Pattern Agents").is_none());
    assert!(
        group(&p, "Agents").is_some(),
        "others' groups are untouched"
    );
    assert!(
        !wf.context()
            .ledger()
            .await
            .steps
            .contains_key("agent_group")
    );
}

#[tokio::test]
async fn a_changed_description_is_updated_in_place() {
    let p = pair().await;
    builder(&p, SECTION)
        .step(AgentGroup)
        .unwrap()
        .build()
        .apply()
        .await
        .unwrap();
    let made = group(&p, "Bright Pattern Agents").unwrap();
    let changed = SECTION.replace("Agent Desktop users", "Contact centre agents");
    let wf = builder(&p, &changed).step(AgentGroup).unwrap().build();
    let plan = wf.plan().await.unwrap();
    let ours = plan.step(StepId::custom("agent_group")).unwrap();
    assert_eq!(ours.action, Action::Update);
    wf.apply().await.unwrap();
    let now = group(&p, "Bright Pattern Agents").unwrap();
    assert_eq!(now["sys_id"], made["sys_id"]);
    assert_eq!(now["description"], "Contact centre agents");
}

#[tokio::test]
async fn the_registry_checks_the_section_and_names_every_problem() {
    let p = pair().await;
    let wrong = "[steps.agent_group]\nnmae = \"x\"\ncolour = \"blue\"\ndescription = 3\n";
    let Err(err) = builder(&p, wrong).step(AgentGroup) else {
        panic!("refused")
    };
    assert_eq!(err.step, "agent_group");
    for problem in [
        "steps.agent_group.nmae: unknown key",
        "steps.agent_group.colour: unknown key",
        "steps.agent_group.description: invalid type: integer `3`, expected a string",
    ] {
        assert!(
            err.reason.contains(problem),
            "{problem:?} in {}",
            err.reason
        );
    }
    let Err(missing) = builder(&p, "").step(AgentGroup) else {
        panic!("required")
    };
    assert!(
        missing
            .reason
            .contains("[steps.agent_group]: the step needs this section"),
        "{}",
        missing.reason
    );
    assert_eq!(p.sn.requests().len(), 0, "checked before any request");
}

#[tokio::test]
async fn a_section_no_registered_step_reads_is_refused_before_any_write() {
    let p = pair().await;
    let wf = builder(&p, SECTION).build();
    assert_eq!(
        wf.spec_problems(),
        [PreflightProblem::UnknownSection {
            section: "agent_group".into()
        }]
    );
    match wf.apply().await {
        Err(ApplyError::NotStarted(WorkflowError::Preflight(problems))) => {
            assert!(problems.contains(&PreflightProblem::UnknownSection {
                section: "agent_group".into()
            }));
        }
        other => panic!("expected a preflight refusal, got {other:?}"),
    }
    assert_eq!(p.sn.write_count(), 0);
}

#[tokio::test]
async fn a_group_with_the_name_that_is_not_ours_is_refused_and_left_alone() {
    let p = pair().await;
    p.sn.add_group("Bright Pattern Agents");
    let wf = builder(&p, SECTION).step(AgentGroup).unwrap().build();
    let plan = wf.plan().await.unwrap();
    assert_eq!(
        plan.step(StepId::custom("agent_group")).unwrap().action,
        Action::Refuse
    );
    // Refused before anything is written, not after the other steps ran.
    let writes = p.sn.write_count();
    match wf.apply().await {
        Err(ApplyError::NotStarted(WorkflowError::Taken(taken))) => {
            assert_eq!(taken[0].step, StepId::custom("agent_group"), "{taken:?}");
        }
        other => panic!("expected the name to be refused as taken, got {other:?}"),
    }
    assert_eq!(p.sn.write_count(), writes, "nothing written");
    wf.teardown().await.unwrap();
    let theirs = group(&p, "Bright Pattern Agents").expect("left alone");
    assert_eq!(theirs["description"], "", "never changed");
}

#[tokio::test]
async fn repair_keeps_the_step_s_record_and_teardown_still_removes_the_group() {
    let p = pair().await;
    let wf = builder(&p, SECTION).step(AgentGroup).unwrap().build();
    wf.apply().await.unwrap();
    let report = wf.repair().await.unwrap();
    assert!(
        report.lost.iter().all(|l| !l.contains("agent_group")),
        "{report:?}"
    );
    let again = builder(&p, SECTION).step(AgentGroup).unwrap().build();
    again.teardown().await.unwrap();
    assert!(group(&p, "Bright Pattern Agents").is_none());
}

/// The README shows this step word for word.
#[test]
fn the_readme_shows_this_step() {
    let this = include_str!("step_of_your_own.rs");
    let step = this
        .split("// step: begin\n")
        .nth(1)
        .and_then(|rest| rest.split("// step: end\n").next())
        .unwrap();
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(step),
        "the README's \"Steps of your own\" example differs from this test's step"
    );
}
