//! Beyond 5.3: the Store application step, release awareness, and the preflight
//! of the administrator's roles — each against the fakes.

mod common;

use brightpattern_servicenow::report::RemovalOutcome;
use brightpattern_servicenow::{
    Action, ApplyError, PreflightProblem, StepError, StepId, WorkflowError,
};
use common::{pair, workflow, workflow_as};
use servicenow_client::release::Family;

const STORE_APP: &str = "[store_app]\nscope = \"x_bp_omni\"\nversion = \"2.1.0\"\n";

fn posts_to(p: &common::Pair, path: &str) -> usize {
    p.sn.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.starts_with(path))
        .count()
}

#[tokio::test]
async fn the_store_application_is_installed_once_and_never_uninstalled() {
    let p = pair().await;
    p.sn.offer_application(
        "x_bp_omni",
        "Bright Pattern Omnichannel Communications",
        "2.0.0",
    );
    p.sn.offer_application(
        "x_bp_omni",
        "Bright Pattern Omnichannel Communications",
        "2.1.0",
    );
    let wf = workflow(&p, STORE_APP);
    let plan = wf.plan().await.unwrap();
    let step = plan.step(StepId::custom("store_app")).unwrap();
    assert_eq!(step.action, Action::Create, "{plan}");
    assert_eq!(plan.release.family, Some(Family::WashingtonDc));

    wf.apply().await.unwrap();
    assert_eq!(posts_to(&p, "/api/sn_cicd/app_repo/install"), 1);
    let installed = p.sn.table("sys_store_app");
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0]["version"], "2.1.0");

    // Installed at the version: plan, apply and verify send no install.
    assert_eq!(
        wf.plan()
            .await
            .unwrap()
            .step(StepId::custom("store_app"))
            .unwrap()
            .action,
        Action::Unchanged
    );
    wf.apply().await.unwrap();
    assert_eq!(posts_to(&p, "/api/sn_cicd/app_repo/install"), 1);
    let health = wf.verify().await.unwrap();
    assert!(
        health
            .checks
            .iter()
            .any(|c| c.check == "Store application x_bp_omni 2.1.0" && c.is_ok()),
        "{health}"
    );

    let removed = wf.teardown().await.unwrap();
    assert!(
        removed
            .removals()
            .any(|r| r.resource.starts_with("Store application")
                && r.outcome == RemovalOutcome::LeftAlone),
        "{removed:?}"
    );
    assert_eq!(p.sn.table("sys_store_app").len(), 1, "never uninstalled");
}

#[tokio::test]
async fn an_instance_not_entitled_gets_the_instance_message() {
    let p = pair().await;
    p.sn.offer_application(
        "x_bp_omni",
        "Bright Pattern Omnichannel Communications",
        "2.1.0",
    );
    p.sn.set_store_entitlement(false);
    let err = workflow(&p, STORE_APP).apply().await.unwrap_err();
    let (step, error) = &err.failures()[0];
    assert_eq!(step, &StepId::custom("store_app"));
    let StepError::Rejected { reason, hint, .. } = error else {
        panic!("{error:?}")
    };
    assert!(
        reason.contains("not entitled to the application"),
        "{reason}"
    );
    assert!(hint.contains("entitled"), "{hint}");
    assert!(p.sn.table("sys_store_app").is_empty());
}

#[tokio::test]
async fn before_tokyo_the_store_step_is_refused_before_anything_is_written() {
    let p = pair().await;
    p.sn.offer_application("x_bp_omni", "Omni", "2.1.0");
    p.sn.set_release(
        "San Diego",
        "glide-sandiego-12-22-2021__patch7-08-25-2022_09-01-2022_1200.zip",
    );
    let wf = workflow(&p, STORE_APP);
    p.sn.clear_requests();
    let plan = wf.plan().await.unwrap();
    let release_reads =
        p.sn.requests()
            .iter()
            .filter(|r| {
                r.query
                    .as_deref()
                    .is_some_and(|q| q.contains("glide.buildname"))
            })
            .count();
    assert_eq!(
        release_reads, 1,
        "plan reads the release once, with the ledger"
    );
    assert!(plan.would_refuse(), "{plan}");
    assert!(
        matches!(
            &plan.refusals[..],
            [PreflightProblem::ReleaseTooOld { step, release, minimum: Family::Tokyo, .. }]
                if step.as_str() == "store_app" && release == "San Diego Patch 7"
        ),
        "{:?}",
        plan.refusals
    );
    assert!(
        plan.to_string()
            .contains("apply would refuse: step store_app needs ServiceNow Tokyo or later"),
        "{plan}"
    );
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["refusals"][0]["problem"], "release_too_old", "{json}");
    let writes = p.sn.write_count();
    p.sn.clear_requests();
    let err = wf.apply().await.unwrap_err();
    let ApplyError::NotStarted(WorkflowError::Preflight(problems)) = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(
            &problems[..],
            [PreflightProblem::ReleaseTooOld {
                minimum: Family::Tokyo,
                ..
            }]
        ),
        "{problems:?}"
    );
    assert_eq!(
        p.sn.write_count(),
        writes,
        "nothing written, not even the lease"
    );
    assert!(p.sn.requests().iter().all(|r| r.method == "GET"));
    // Verify reports it as a failure.
    let health = wf.verify().await.unwrap();
    assert!(
        health
            .checks
            .iter()
            .any(|c| !c.is_ok() && c.detail.contains("Tokyo or later")),
        "{health}"
    );
}

#[tokio::test]
async fn zurich_warns_of_cti_and_of_the_deprecated_registry_type() {
    let p = pair().await;
    p.sn.add_plugin("com.snc.cti", "CTI Softphone");
    p.sn.set_release(
        "Zurich",
        "glide-zurich-07-01-2025__patch1-08-15-2025_08-20-2025_1200.zip",
    );
    let wf = workflow(
        &p,
        "[plugins]\nactivate = [\"com.sn_openframe\", \"com.snc.platform.security.oauth\", \"com.snc.cti\"]\n",
    );
    let plan = wf.plan().await.unwrap();
    assert_eq!(plan.release.to_string(), "Zurich Patch 1");
    let plugins = plan.step(StepId::PLUGINS).unwrap();
    assert!(
        plugins
            .warnings
            .iter()
            .any(|w| w.contains("no longer deployed") && w.contains("Zurich")),
        "{plan}"
    );
    let oauth = plan.step(StepId::OAUTH_ENDPOINT).unwrap();
    assert!(
        oauth
            .warnings
            .iter()
            .any(|w| w.contains("deprecated") && w.contains("Machine Identity Console")),
        "{plan}"
    );
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["release"]["family"], "Zurich");

    // On Washington DC neither warning is given.
    let p = pair().await;
    let plan = workflow(&p, "").plan().await.unwrap();
    assert!(
        plan.step(StepId::OAUTH_ENDPOINT)
            .unwrap()
            .warnings
            .is_empty(),
        "{plan}"
    );
}

#[tokio::test]
async fn an_unknown_release_is_said_not_guessed() {
    let p = pair().await;
    p.sn.set_release("", "");
    let plan = workflow(&p, "").plan().await.unwrap();
    assert!(!plan.release.is_known());
    assert!(
        plan.notes.iter().any(|n| n.contains("release is unknown")),
        "{plan}"
    );
}

#[tokio::test]
async fn an_admin_without_the_roles_is_told_every_missing_one_and_nothing_is_written() {
    let p = pair().await;
    p.sn.add_user_with_password("ops", "ops-password");
    p.sn.grant_role_to_user("ops", "sn_cicd.sys_ci_automation");
    let wf = workflow_as(&p, "", p.sn.client_as("ops", "ops-password"));
    let writes = p.sn.write_count();
    let err = wf.apply().await.unwrap_err();
    let ApplyError::NotStarted(WorkflowError::Preflight(problems)) = &err else {
        panic!("{err:?}")
    };
    let [PreflightProblem::MissingRoles { user, unmet }] = &problems[..] else {
        panic!("{problems:?}")
    };
    assert_eq!(user, "ops");
    let unmet: Vec<String> = unmet.iter().map(|n| n.any_of.join(" or ")).collect();
    // The plugins need is met by sn_cicd.sys_ci_automation; the rest are not.
    assert_eq!(unmet, ["admin", "admin or oauth_admin"], "{err}");
    let text = err.to_string();
    assert!(
        text.contains("nothing was written") && text.contains("oauth_admin"),
        "{text}"
    );
    assert_eq!(p.sn.write_count(), writes);
    assert!(wf.teardown().await.is_err(), "teardown checks too");

    // Roles inherited through a group count.
    p.sn.add_group("Platform admins");
    p.sn.grant_role_to_group("Platform admins", "admin");
    p.sn.add_group_member("ops", "Platform admins");
    wf.apply().await.unwrap();
}
