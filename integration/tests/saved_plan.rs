//! A saved plan is applied exactly: `Workflow::apply_plan` refuses a plan the
//! instance has moved away from since, before the first write — whether it
//! moved before the run started or between the first check and the lease.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use brightpattern_servicenow::report::Removal;
use brightpattern_servicenow::step::{Change, Context, FieldChange};
use brightpattern_servicenow::{
    Action, Applied, ApplyError, Plan, Step, StepId, StepResult, Upstream, WorkflowError,
};
use common::pair;

const SPEC: &str = "[access]\nusers = [\"agent.1\"]\n";

/// A plan as it is kept: its JSON, read back.
fn saved(plan: &Plan) -> Plan {
    serde_json::from_str(&serde_json::to_string(plan).unwrap()).unwrap()
}

fn moved(result: Result<brightpattern_servicenow::ApplyReport, ApplyError>) -> Vec<String> {
    match result {
        Err(ApplyError::NotStarted(WorkflowError::PlanMoved(moved))) => moved,
        other => panic!("expected PlanMoved, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_applied_exactly_and_a_moved_one_refused_before_any_write() {
    let p = pair().await;
    let wf = common::workflow(&p, SPEC);
    let stale = saved(&wf.plan().await.unwrap());
    assert!(
        wf.plan().await.unwrap().moved_from(&stale).is_empty(),
        "a plan read back from its JSON is the plan made now"
    );

    // Someone activates the OpenFrame plugin by hand: the saved plan's
    // activation is stale.
    p.sn.set_plugin_active("com.sn_openframe", true);
    let writes = p.sn.write_count();
    let differences = moved(wf.apply_plan(&stale).await);
    assert!(
        differences.iter().any(|m| m.starts_with("step plugins: ")),
        "{differences:?}"
    );
    assert_eq!(p.sn.write_count(), writes, "refused before the lease");
    assert!(p.sn.table("oauth_entity").is_empty());
    let text = WorkflowError::PlanMoved(differences).to_string();
    assert!(
        text.starts_with("nothing was written: the instance moved away from the saved plan"),
        "{text}"
    );

    // A plan made now is applied as it says.
    let fresh = saved(&wf.plan().await.unwrap());
    let report = wf.apply_plan(&fresh).await.unwrap();
    for planned in &fresh.steps {
        let applied = report.step(planned.step.clone()).unwrap();
        assert_eq!(applied.planned.action, planned.action, "{report}");
    }
    assert!(report.footprint.writes > 0);

    // Applied, the same saved plan is stale: creating again is not what
    // apply would do now.
    let writes = p.sn.write_count();
    let differences = moved(wf.apply_plan(&fresh).await);
    assert!(
        differences
            .iter()
            .any(|m| m == "step cors: planned create, now unchanged"),
        "{differences:?}"
    );
    assert_eq!(p.sn.write_count(), writes);

    // A saved plan with nothing to do applies as nothing: no lease, no write.
    let nothing = saved(&wf.plan().await.unwrap());
    assert!(!nothing.has_changes());
    let report = wf.apply_plan(&nothing).await.unwrap();
    assert_eq!(report.footprint.writes, 0, "{report}");
    assert_eq!(p.sn.write_count(), writes);
}

/// A step whose observation moves on its `moves_at`-th observe and after.
struct Drifting {
    observed: Arc<AtomicUsize>,
    moves_at: Arc<AtomicUsize>,
}

#[async_trait]
impl Step for Drifting {
    type State = bool;

    fn id(&self) -> StepId {
        StepId::custom("drifting")
    }

    fn resource(&self, _ctx: &Context) -> String {
        "a record another operator edits".into()
    }

    async fn observe(&self, _ctx: &Context) -> StepResult<bool> {
        let n = self.observed.fetch_add(1, Ordering::SeqCst);
        Ok(n >= self.moves_at.load(Ordering::SeqCst))
    }

    fn change(&self, _ctx: &Context, moved: &bool, _upstream: &Upstream) -> Change {
        let old = if *moved { "edited" } else { "as planned" };
        Change::create_or_update(
            true,
            FieldChange::diff("value", old, "ours")
                .into_iter()
                .collect(),
        )
    }

    async fn apply(
        &self,
        _ctx: &Context,
        _moved: bool,
        _change: &Change,
        _upstream: &Upstream,
    ) -> StepResult<Applied> {
        panic!("a moved plan is never applied");
    }

    async fn undo(&self, _ctx: &Context) -> StepResult<Vec<Removal>> {
        Ok(Vec::new())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_between_the_first_check_and_the_lease_is_refused_under_the_lease() {
    let p = pair().await;
    let observed = Arc::new(AtomicUsize::new(0));
    let moves_at = Arc::new(AtomicUsize::new(usize::MAX));
    let wf = common::builder(&p, SPEC)
        .step(Drifting {
            observed: observed.clone(),
            moves_at: moves_at.clone(),
        })
        .unwrap()
        .build();
    let plan = saved(&wf.plan().await.unwrap());
    let per_plan = observed.load(Ordering::SeqCst);
    assert_eq!(
        plan.step(StepId::custom("drifting")).unwrap().action,
        Action::Update
    );
    // The apply's first check (before the lease) observes as the plan did;
    // the one under the lease sees the edit.
    moves_at.store(2 * per_plan, Ordering::SeqCst);
    let before = p.sn.write_count();
    let differences = moved(wf.apply_plan(&plan).await);
    assert_eq!(
        differences,
        [
            r#"step drifting: planned changes value: "as planned" → "ours", now value: "edited" → "ours""#
        ],
    );
    assert!(
        observed.load(Ordering::SeqCst) > 2 * per_plan,
        "the second check ran"
    );
    // Only the lease was written (taken and given back): no step wrote.
    assert!(p.sn.table("oauth_entity").is_empty());
    assert!(p.sn.table("sys_cors_rule").is_empty());
    assert!(p.sn.write_count() > before, "the lease was taken");
    assert!(
        wf.context().ledger().await == Default::default(),
        "no step recorded anything"
    );
}
