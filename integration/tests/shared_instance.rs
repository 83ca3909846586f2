//! Several integrations on one instance — own names, own tenants — applied and
//! torn down at once, and a fleet whose rows share an instance: no duplicate
//! grant, no lost or stale allow-list entry, nothing of theirs left after the
//! last teardown, nothing pre-existing changed. And one after another: the
//! first one's teardown leaves what the second one's agents use.
#![allow(clippy::print_stdout)] // the tests print their counts

use std::collections::BTreeMap;

use brightpattern_fake::FakeTenant;
use brightpattern_servicenow::fleet::{
    FleetMember, FleetOperation, FleetOptions, FleetSummary, run_fleet,
};
use brightpattern_servicenow::{IntegrationSpec, ServiceNowLogin, Workflow, WorkflowOptions};
use servicenow_client::JsonRecord;
use servicenow_client::plugins::WaitOptions;
use servicenow_fake::{ADMIN_PASSWORD, ADMIN_USER, ALLOW_LIST_PROPERTY, FakeInstance};

/// An origin listed by someone else before any integration ran.
const PARTNER: &str = "https://partner.example.com";

/// An instance with three agents (agent.3 in the group "Agents"), a partner's
/// allow-list entry and a grant a person made.
async fn instance() -> FakeInstance {
    let sn = FakeInstance::start().await;
    for u in ["agent.1", "agent.2", "agent.3"] {
        sn.add_user(u);
    }
    sn.add_group("Agents");
    sn.add_group_member("agent.3", "Agents");
    sn.set_property(ALLOW_LIST_PROPERTY, PARTNER);
    sn.grant_role_to_user("agent.2", "sn_openframe_user");
    sn
}

/// Integration `i` on `sn` with `bp`: its own names, the same agents.
fn integration(sn: &FakeInstance, bp: &FakeTenant, i: usize) -> Workflow {
    let spec = IntegrationSpec::from_toml(&format!(
        r#"
        [servicenow]
        instance = "{}"
        [brightpattern]
        tenant = "{}"
        [openframe]
        name = "Agent Desktop {i}"
        [cors]
        name = "Bright Pattern {i}"
        [oauth]
        name = "Bright Pattern {i}"
        [integration_account]
        name = "ServiceNow {i}"
        [access]
        users = ["agent.1", "agent.2"]
        groups = ["Agents"]
        "#,
        sn.url(),
        bp.url()
    ))
    .unwrap()
    .resolve()
    .unwrap();
    Workflow::builder(
        spec,
        sn.client_as_admin(),
        bp.client(),
        ServiceNowLogin {
            username: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
        },
    )
    .options(WorkflowOptions::default().plugin_wait(WaitOptions::fast()))
    .build()
}

fn value<'r>(row: &'r JsonRecord, column: &str) -> &'r str {
    row.get(column).and_then(|v| v.as_str()).unwrap_or_default()
}

/// Rows sharing (column values): more than one is a duplicate.
fn duplicates(sn: &FakeInstance, table: &str, columns: &[&str]) -> usize {
    let mut seen: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for row in sn.table(table) {
        if table == "sys_user_has_role" && value(&row, "inherited") == "true" {
            continue;
        }
        let key = columns.iter().map(|c| value(&row, c).to_owned()).collect();
        *seen.entry(key).or_default() += 1;
    }
    seen.values().filter(|&&n| n > 1).map(|n| n - 1).sum()
}

fn allow_list(sn: &FakeInstance) -> Vec<String> {
    sn.table("sys_properties")
        .iter()
        .find(|r| value(r, "name") == ALLOW_LIST_PROPERTY)
        .map(|r| {
            value(r, "value")
                .split(',')
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// What a set of integrations must leave after applying: one grant per
/// holder, every tenant's origin once, the partner's kept.
fn assert_applied(sn: &FakeInstance, tenants: &[FakeTenant]) -> (usize, usize) {
    let grants = duplicates(sn, "sys_user_has_role", &["user", "role"]);
    let group_grants = duplicates(sn, "sys_group_has_role", &["group", "role"]);
    assert_eq!((grants, group_grants), (0, 0), "duplicate grants");
    let listed = allow_list(sn);
    let mut wanted: Vec<String> = tenants
        .iter()
        .map(|t| t.url().as_str().to_owned())
        .collect();
    wanted.push(PARTNER.to_owned());
    wanted.sort();
    let mut got = listed.clone();
    got.sort();
    assert_eq!(got, wanted, "every origin exactly once: {listed:?}");
    (
        sn.table("sys_user_has_role")
            .iter()
            .filter(|r| value(r, "inherited") != "true")
            .count(),
        listed.len(),
    )
}

/// Verify finds every record of the integration in place; with the same
/// agents listed by several integrations, each agent gets one configuration
/// only, so that check is the only one that fails (which wins is the
/// administrator's choice: `[openframe] order`, or user groups).
async fn assert_only_the_agents_contend(wf: &Workflow) {
    let health = wf.verify().await.unwrap();
    let failed: Vec<&str> = health
        .with_status(brightpattern_servicenow::Status::Failed)
        .map(|c| c.check.as_str())
        .collect();
    assert_eq!(
        failed,
        ["every listed agent gets our OpenFrame configuration"],
        "{health}"
    );
}

/// What must be left after the last teardown: what was there before.
fn assert_torn_down(sn: &FakeInstance) {
    assert_eq!(allow_list(sn), [PARTNER], "only the partner's entry");
    let direct: Vec<JsonRecord> = sn
        .table("sys_user_has_role")
        .into_iter()
        .filter(|r| value(r, "inherited") != "true")
        .collect();
    assert_eq!(
        direct.len(),
        2,
        "the admin's role and the grant a person made: {direct:#?}"
    );
    assert!(sn.table("sys_group_has_role").is_empty());
    for table in [
        "sn_openframe_configuration",
        "sys_cors_rule",
        "oauth_entity",
    ] {
        assert!(sn.table(table).is_empty(), "{table} left behind");
    }
    let own: Vec<String> = sn
        .table("sys_properties")
        .iter()
        .map(|r| value(r, "name").to_owned())
        .filter(|n| n.starts_with("bp_servicenow"))
        .collect();
    assert!(own.is_empty(), "bookkeeping left behind: {own:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_three_and_five_integrations_applied_and_torn_down_at_once() {
    for n in [2, 3, 5] {
        let sn = instance().await;
        let mut tenants = Vec::new();
        for _ in 0..n {
            tenants.push(FakeTenant::start().await);
        }
        let workflows: Vec<Workflow> = tenants
            .iter()
            .enumerate()
            .map(|(i, bp)| integration(&sn, bp, i))
            .collect();
        let applied = futures_util::future::join_all(workflows.iter().map(|wf| wf.apply())).await;
        for (i, result) in applied.iter().enumerate() {
            assert!(
                result.is_ok(),
                "integration {i}: {:?}",
                result.as_ref().err()
            );
        }
        let (grants, entries) = assert_applied(&sn, &tenants);
        for wf in &workflows {
            assert_only_the_agents_contend(wf).await;
        }
        // Every one is in place: a second apply of each has nothing to do.
        for wf in &workflows {
            let again = wf.apply().await.unwrap();
            assert_eq!(again.footprint.writes, 0, "{again}");
        }
        let torn = futures_util::future::join_all(workflows.iter().map(|wf| wf.teardown())).await;
        for (i, result) in torn.iter().enumerate() {
            assert!(
                result.is_ok(),
                "integration {i}: {:?}",
                result.as_ref().err()
            );
        }
        assert_torn_down(&sn);
        println!(
            "shared instance: {n} integrations at once: {grants} direct grants, {entries} allow-list entries after apply, 0 duplicates, nothing left after teardown"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_whose_rows_share_an_instance_at_concurrency_three_and_five() {
    for concurrency in [3, 5] {
        let sn = instance().await;
        let mut tenants = Vec::new();
        for _ in 0..5 {
            tenants.push(FakeTenant::start().await);
        }
        let members = |sn: &FakeInstance| -> Vec<FleetMember> {
            tenants
                .iter()
                .enumerate()
                .map(|(i, bp)| FleetMember::new(format!("row-{i}"), integration(sn, bp, i)))
                .collect()
        };
        let options = FleetOptions::default().concurrency(concurrency);
        let report = run_fleet(members(&sn), FleetOperation::Apply, &options).await;
        // Every row wrote what it should; the only proof that fails is the one
        // no two integrations serving the same agents can pass together.
        assert_eq!(report.summary(), FleetSummary::AnyFailed, "{report}");
        for (i, bp) in tenants.iter().enumerate() {
            assert_only_the_agents_contend(&integration(&sn, bp, i)).await;
        }
        let (grants, entries) = assert_applied(&sn, &tenants);
        let report = run_fleet(members(&sn), FleetOperation::Teardown, &options).await;
        assert_eq!(report.summary(), FleetSummary::AllOk, "{report}");
        assert_torn_down(&sn);
        println!(
            "shared instance: a fleet of 5 rows at concurrency {concurrency}: {grants} direct grants, {entries} allow-list entries after apply, 0 duplicates, nothing left after teardown"
        );
    }
}

#[tokio::test]
async fn one_after_another_the_first_teardown_leaves_what_the_second_uses() {
    let sn = instance().await;
    let (a, b) = (FakeTenant::start().await, FakeTenant::start().await);
    let first = integration(&sn, &a, 1);
    let second = integration(&sn, &b, 2);
    first.apply().await.unwrap();
    // The second one finds the first one's grants and records that it uses them.
    let plan = second.plan().await.unwrap();
    let access = plan.step(brightpattern_servicenow::StepId::ACCESS).unwrap();
    assert!(
        access
            .changes
            .iter()
            .any(|c| c.field.starts_with("ledger: shared grant")),
        "{plan}"
    );
    second.apply().await.unwrap();
    let grants_before = sn.table("sys_user_has_role").len();

    let report = first.teardown().await.unwrap();
    assert!(
        report
            .removals()
            .filter(|r| r.resource.starts_with("grant to"))
            .all(|r| r
                .detail
                .contains("another integration on this instance still uses it")),
        "{report}"
    );
    assert_eq!(sn.table("sys_user_has_role").len(), grants_before);
    assert_eq!(sn.table("sys_group_has_role").len(), 1);
    // The second one still passes everything but its manual step.
    let health = second.verify().await.unwrap();
    assert!(health.problems().all(|c| c.manual.is_some()), "{health}");
    second.teardown().await.unwrap();
    assert_torn_down(&sn);
}
