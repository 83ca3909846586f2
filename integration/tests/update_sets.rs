//! Change-managed instances: `[servicenow] update_set` makes the named update
//! set the administrator's current one for each writing run, the previous
//! choice put back afterwards (even after a stopped run); the configuration
//! writes are proven captured there, the tool's own rows never; plan and the
//! reports name the set.

mod common;

use brightpattern_servicenow::report::UpdateSetChoice;
use brightpattern_servicenow::{
    ApplyError, IntegrationSpec, PreflightProblem, ServiceNowLogin, Status, Workflow,
    WorkflowError, WorkflowOptions,
};
use common::{Pair, pair};
use servicenow_client::JsonRecord;
use servicenow_client::wire::SysId;
use servicenow_fake::{ADMIN_PASSWORD, ADMIN_USER, UPDATE_SET_PREFERENCE};

const SET: &str = "BP release";

fn spec(p: &Pair, update_set: Option<&str>) -> brightpattern_servicenow::ResolvedSpec {
    let line = update_set
        .map(|s| format!("update_set = \"{s}\"\n"))
        .unwrap_or_default();
    IntegrationSpec::from_toml(&format!(
        "[servicenow]\ninstance = \"{}\"\n{line}[brightpattern]\ntenant = \"{}\"\n[access]\nusers = [\"agent.1\"]\n[[properties]]\nname = \"x_vendor.flag\"\nvalue = \"on\"\n",
        p.sn.url(),
        p.bp.url()
    ))
    .unwrap()
    .resolve()
    .unwrap()
}

fn workflow_with(
    p: &Pair,
    update_set: Option<&str>,
    servicenow: servicenow_client::Client,
) -> Workflow {
    p.sn.set_plugin_active("com.sn_openframe", true);
    Workflow::builder(
        spec(p, update_set),
        servicenow,
        p.bp.client(),
        ServiceNowLogin {
            username: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
        },
    )
    .options(
        WorkflowOptions::default().plugin_wait(servicenow_client::plugins::WaitOptions::fast()),
    )
    .build()
}

fn workflow(p: &Pair, update_set: Option<&str>) -> Workflow {
    workflow_with(p, update_set, p.sn.client_as_admin())
}

fn set_named(p: &Pair, name: &str) -> Option<SysId> {
    p.sn.table("sys_update_set")
        .iter()
        .find(|s| s["name"] == name)
        .map(|s| SysId::parse(s["sys_id"].as_str().unwrap()).unwrap())
}

fn types(captured: &[JsonRecord]) -> Vec<String> {
    let mut t: Vec<String> = captured
        .iter()
        .map(|c| c["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    t.sort();
    t.dedup();
    t
}

fn preference_rows(p: &Pair) -> Vec<JsonRecord> {
    p.sn.table("sys_user_preference")
        .into_iter()
        .filter(|r| r["name"] == UPDATE_SET_PREFERENCE)
        .collect()
}

#[tokio::test]
async fn the_configuration_lands_in_the_named_set_and_the_administrator_s_choice_comes_back() {
    let p = pair().await;
    let default = p.sn.current_update_set(ADMIN_USER);
    let wf = workflow(&p, Some(SET));

    let plan = wf.plan().await.unwrap();
    let planned = plan
        .footprint
        .update_set
        .clone()
        .expect("the plan names it");
    assert_eq!(
        (
            planned.name.as_str(),
            planned.chosen_by,
            planned.created,
            planned.sys_id.is_none()
        ),
        (SET, UpdateSetChoice::Spec, true, true),
        "{plan}"
    );
    assert!(
        plan.to_string().contains("update set: \"BP release\""),
        "{plan}"
    );
    assert!(set_named(&p, SET).is_none(), "a plan creates nothing");

    let report = wf.apply().await.unwrap();
    let used = report.footprint.update_set.clone().expect("named");
    let set = set_named(&p, SET).expect("created in progress");
    assert_eq!(used.sys_id.as_ref(), Some(&set));
    assert_eq!((used.created, used.proven), (true, Some(true)), "{report}");
    let proof = report
        .proofs
        .iter()
        .find(|c| c.check.starts_with("update set"))
        .expect("a proof of the capture");
    assert_eq!(proof.status, Status::Ok, "{report}");

    let captured = p.sn.captured_in(&set);
    assert_eq!(
        types(&captured),
        [
            "oauth_entity",
            "sn_openframe_configuration",
            "sys_cors_rule",
            "sys_properties"
        ],
        "{captured:?}"
    );
    // The allow-list and [[properties]] are configuration; the ledger and the
    // lease are the tool's own, private, and never travel.
    let names: Vec<&str> = captured
        .iter()
        .filter(|c| c["type"] == "sys_properties")
        .map(|c| c["target_name"].as_str().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with("bp_servicenow") && !n.contains("lease")),
        "{names:?}"
    );
    assert!(names.contains(&"x_vendor.flag"), "{names:?}");
    assert!(
        p.sn.captured_in(&default)
            .iter()
            .all(|c| c["type"] != "sn_openframe_configuration"),
        "nothing of the run in the default set"
    );
    // The administrator had chosen none: the preference row the run made is gone.
    assert!(preference_rows(&p).is_empty());
    assert_eq!(p.sn.current_update_set(ADMIN_USER), default);
    assert!(wf.context().ledger().await.update_set_switch.is_none());

    // A second apply has nothing to do: no switch, no write.
    let again = wf.apply().await.unwrap();
    assert_eq!(again.footprint.writes, 0, "{again}");
    assert!(again.footprint.update_set.is_none());

    // Teardown's deletes land there too, and the choice comes back again.
    let before = p.sn.captured_in(&set).len();
    let removed = wf.teardown().await.unwrap();
    let used = removed.footprint.update_set.clone().expect("named");
    assert_eq!(
        (used.created, used.proven),
        (false, Some(true)),
        "{removed}"
    );
    let deleted = p.sn.captured_in(&set);
    assert!(
        deleted.iter().any(|c| c["action"] == "DELETE"),
        "{deleted:?}"
    );
    assert_eq!(
        deleted.len(),
        before,
        "one row per record, updated in place"
    );
    assert!(preference_rows(&p).is_empty());
    assert!(
        p.sn.table("sys_properties")
            .iter()
            .all(|r| !r["name"].as_str().unwrap().starts_with("bp_servicenow.")),
        "the ledger is gone"
    );
}

#[tokio::test]
async fn an_existing_choice_is_put_back_and_an_existing_set_is_used_not_made_again() {
    let p = pair().await;
    let mine = p.sn.add_update_set("Mine", "in progress");
    p.sn.choose_update_set(ADMIN_USER, &mine);
    let release = p.sn.add_update_set(SET, "in progress");
    p.sn.add_update_set(SET, "complete"); // an older one, closed: not a second candidate
    let wf = workflow(&p, Some(SET));
    let report = wf.apply().await.unwrap();
    let used = report.footprint.update_set.clone().unwrap();
    assert_eq!(used.sys_id.as_ref(), Some(&release));
    assert!(!used.created);
    assert_eq!(
        p.sn.current_update_set(ADMIN_USER),
        mine,
        "Mine is current again"
    );
    let rows = preference_rows(&p);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["value"], mine.as_str());
    assert!(p.sn.captured_in(&mine).is_empty(), "nothing landed in Mine");
    assert_eq!(
        p.sn.table("sys_update_set")
            .iter()
            .filter(|s| s["name"] == SET)
            .count(),
        2
    );
}

#[tokio::test]
async fn without_the_option_the_reports_name_the_administrator_s_current_set() {
    let p = pair().await;
    let wf = workflow(&p, None);
    let plan = wf.plan().await.unwrap();
    let planned = plan.footprint.update_set.clone().unwrap();
    assert_eq!(planned.chosen_by, UpdateSetChoice::Default, "{plan}");
    assert_eq!(planned.name, "Default");

    let mine = p.sn.add_update_set("Mine", "in progress");
    p.sn.choose_update_set(ADMIN_USER, &mine);
    let plan = wf.plan().await.unwrap();
    let planned = plan.footprint.update_set.clone().unwrap();
    assert_eq!(
        (planned.name.as_str(), planned.chosen_by),
        ("Mine", UpdateSetChoice::Current)
    );
    let report = wf.apply().await.unwrap();
    let used = report.footprint.update_set.clone().unwrap();
    assert_eq!(
        (used.name.as_str(), used.proven),
        ("Mine", Some(true)),
        "{report}"
    );
    assert!(!p.sn.captured_in(&mine).is_empty());
    assert_eq!(preference_rows(&p)[0]["value"], mine.as_str(), "untouched");
}

#[tokio::test]
async fn a_choice_the_platform_does_not_take_fails_the_proof_and_is_still_put_back() {
    let p = pair().await;
    p.sn.set_update_set_preference_honoured(false);
    let wf = workflow(&p, Some(SET));
    let report = wf.apply().await.unwrap();
    let used = report.footprint.update_set.clone().unwrap();
    assert_eq!(used.proven, Some(false), "{report}");
    let proof = report
        .proofs
        .iter()
        .find(|c| c.check.starts_with("update set"))
        .unwrap();
    assert_eq!(proof.status, Status::Failed, "{report}");
    assert!(proof.hint.as_deref().unwrap().contains("not captured"));
    assert_eq!(report.status(), Status::Failed, "{report}");
    assert!(report.to_string().contains("NOT proven"), "{report}");
    assert!(preference_rows(&p).is_empty(), "put back all the same");
}

#[tokio::test]
async fn a_closed_or_ambiguous_set_or_credentials_without_a_user_are_refused_with_nothing_written()
{
    for (setup, expect) in [
        ("complete", "complete or ignored"),
        ("ignore", "complete or ignored"),
        ("two", "2 update sets in progress"),
    ] {
        let p = pair().await;
        match setup {
            "two" => {
                p.sn.add_update_set(SET, "in progress");
                p.sn.add_update_set(SET, "in progress");
            }
            state => {
                p.sn.add_update_set(SET, state);
            }
        }
        let wf = workflow(&p, Some(SET));
        let plan = wf.plan().await.unwrap();
        assert!(
            plan.refusals.iter().any(|r| r.to_string().contains(expect)),
            "{setup}: {plan}"
        );
        p.sn.clear_requests();
        let err = wf.apply().await.unwrap_err();
        let ApplyError::NotStarted(WorkflowError::Preflight(problems)) = &err else {
            panic!("{setup}: {err}")
        };
        assert!(
            problems.iter().any(|pr| matches!(
                pr,
                PreflightProblem::UpdateSetClosed { .. }
                    | PreflightProblem::UpdateSetAmbiguous { .. }
            )),
            "{setup}: {err}"
        );
        assert!(
            p.sn.requests().iter().all(|r| r.method == "GET"),
            "{setup}: nothing written"
        );
    }

    let p = pair().await;
    p.sn.add_user("integration.bot");
    let key = p.sn.add_api_key("integration.bot");
    let client = servicenow_client::Client::builder(
        p.sn.url(),
        servicenow_client::Credentials::api_key(key),
    )
    .build()
    .unwrap();
    let wf = workflow_with(&p, Some(SET), client);
    let err = wf.apply().await.unwrap_err();
    assert!(
        matches!(
            &err,
            ApplyError::NotStarted(WorkflowError::Preflight(problems))
                if problems.iter().any(|pr| matches!(pr, PreflightProblem::UpdateSetNeedsUser { .. }))
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_switch_a_stopped_run_left_is_put_back_by_the_next_writing_run() {
    let p = pair().await;
    let mine = p.sn.add_update_set("Mine", "in progress");
    p.sn.choose_update_set(ADMIN_USER, &mine);
    let wf = workflow(&p, Some(SET));
    wf.apply().await.unwrap();
    let set = set_named(&p, SET).unwrap();

    // A run stopped between its switch and putting it back: the ledger says
    // so, and the preference still names the run's set.
    let admin = SysId::parse(
        p.sn.table("sys_user")
            .iter()
            .find(|u| u["user_name"] == ADMIN_USER)
            .unwrap()["sys_id"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let store = brightpattern_servicenow::ledger::LedgerStore::new(
        p.sn.client_as_admin(),
        wf.context().ledger_key().clone(),
    );
    let mut ledger = store.load().await.unwrap().unwrap();
    ledger.update_set_switch = Some(brightpattern_servicenow::ledger::UpdateSetSwitch {
        user: admin,
        update_set: set.clone(),
        previous: servicenow_client::update_sets::PreviousPreference::Value(
            mine.as_str().to_owned(),
        ),
    });
    store.save(&ledger).await.unwrap();
    p.sn.choose_update_set(ADMIN_USER, &set);

    let plan = wf.plan().await.unwrap();
    assert!(
        plan.notes.iter().any(|n| n.contains("a stopped run")),
        "{plan}"
    );
    assert!(
        plan.has_changes(),
        "putting it back is a write to make: {plan}"
    );
    let report = wf.apply().await.unwrap();
    assert!(
        report
            .footprint
            .bookkeeping
            .iter()
            .any(|b| b.contains("put back")),
        "{report}"
    );
    assert_eq!(p.sn.current_update_set(ADMIN_USER), mine);
    assert!(wf.context().ledger().await.update_set_switch.is_none());
    assert!(
        store
            .load()
            .await
            .unwrap()
            .unwrap()
            .update_set_switch
            .is_none()
    );
}
