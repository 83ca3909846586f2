//! The manual step can be finished: a person confirms it, the ledger records
//! who and when, verify counts it ok, and teardown forgets it.

mod common;

use brightpattern_servicenow::report::RemovalOutcome;
use brightpattern_servicenow::{Action, Status, StepError, StepId, WorkflowError};
use common::{pair, workflow};

#[tokio::test]
async fn a_confirmed_manual_step_is_ok_until_what_it_asks_for_changes() {
    let p = pair().await;
    let wf = workflow(&p, "[access]\nusers = [\"agent.1\"]\n");
    let account = StepId::INTEGRATION_ACCOUNT;
    wf.apply().await.unwrap();
    assert_eq!(wf.verify().await.unwrap().status, Status::Pending);

    // Only a step that waits for a person can be confirmed.
    match wf.confirm(&StepId::CORS, "ops").await {
        Err(WorkflowError::Step {
            source: StepError::Rejected { reason, .. },
            ..
        }) => assert!(reason.contains("not a manual step"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(
        wf.confirm(&account, " ").await.is_err(),
        "who must be named"
    );

    let confirmation = wf.confirm(&account, "ops@jump-1").await.unwrap();
    assert_eq!(confirmation.by, "ops@jump-1");
    assert_eq!(
        confirmation.values["Name"], "ServiceNow",
        "bound to the values the step asked for"
    );
    let verified = wf.verify().await.unwrap();
    assert_eq!(verified.status, Status::Ok, "{verified}");
    let check = verified
        .checks
        .iter()
        .find(|c| c.detail.contains("confirmed by ops@jump-1"))
        .expect("the confirmation is shown");
    assert!(check.detail.contains("UTC"), "{}", check.detail);
    let plan = wf.plan().await.unwrap();
    assert_eq!(
        plan.step(account.clone()).unwrap().action,
        Action::Unchanged
    );
    assert!(!plan.has_changes());

    // Confirming again writes nothing and gives the confirmation on record.
    let writes = p.sn.write_count();
    let again = wf.confirm(&account, "someone else").await.unwrap();
    assert_eq!(again, confirmation);
    assert_eq!(p.sn.write_count(), writes);

    // The step asks for other values now: pending again.
    let changed = workflow(
        &p,
        "[access]\nusers = [\"agent.1\"]\n[integration_account]\ndefault = false\n",
    );
    assert_eq!(changed.context().ledger_key(), wf.context().ledger_key());
    let verified = changed.verify().await.unwrap();
    assert_eq!(verified.status, Status::Pending, "{verified}");

    // Teardown forgets it, and says so; the preview says the same.
    let preview = wf.teardown_plan().await.unwrap();
    let report = wf.teardown().await.unwrap();
    let forgotten: Vec<_> = report
        .removals()
        .filter(|r| r.resource.contains("confirmation"))
        .collect();
    assert_eq!(forgotten.len(), 1, "{report}");
    assert_eq!(forgotten[0].outcome, RemovalOutcome::Removed);
    assert!(forgotten[0].detail.contains("ops@jump-1"));
    assert_eq!(
        preview
            .removals()
            .filter(|r| r.resource.contains("confirmation"))
            .count(),
        1
    );
    assert!(wf.context().ledger().await.confirmed.is_empty());
}
