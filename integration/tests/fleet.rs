//! Fleets: 50 fake pairs, 4 in flight, one failing and one locked — the report
//! and what it comes to; and the inventory's checks.

mod common;

use brightpattern_servicenow::fleet::{
    FleetMember, FleetOperation, FleetOptions, FleetSummary, Inventory, RowOutcome, run_fleet,
};
use brightpattern_servicenow::lease::Lease;
use brightpattern_servicenow::{IntegrationSpec, LeaseOptions};
use common::{Pair, pair, workflow, workflow_as};

const ROWS: usize = 50;
const FAILING: usize = 7;
const LOCKED: usize = 31;
const SPEC: &str = "[access]\nusers = [\"agent.1\"]\n[integration_account]\napi = \"assumed\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_pairs_four_at_a_time_one_failing_one_locked() {
    let mut fakes: Vec<Pair> = Vec::with_capacity(ROWS);
    for _ in 0..ROWS {
        let p = pair().await;
        p.bp.set_integration_accounts_offered(true);
        fakes.push(p);
    }
    // A hundred mock servers are never dropped: a MockServer's drop blocks on
    // its state, and a hundred of them dropped inside the runtime (as a failing
    // assertion would) can hang the test instead of failing it.
    let pairs: &'static Vec<Pair> = Box::leak(Box::new(fakes));
    pairs[FAILING].sn.fail_plugin_activation(
        "com.sn_openframe",
        "Dependency com.glide.ui.concourse could not be loaded",
    );
    // Another run holds row LOCKED's integration.
    let held = workflow(&pairs[LOCKED], SPEC);
    let prefix = held.context().ledger_key().prefix();
    let lease = Lease::acquire(
        &pairs[LOCKED].sn.client_as_admin(),
        &prefix,
        "apply",
        &LeaseOptions::default(),
    )
    .await
    .unwrap()
    .unwrap();

    let members = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| FleetMember::new(format!("row-{i:02}"), workflow(p, SPEC)));
    let finished = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = finished.clone();
    let options = FleetOptions::default().on_row(move |row| {
        seen.lock().unwrap().push(row.name.clone());
    });
    assert_eq!(options.concurrency, 4);
    let report = run_fleet(members, FleetOperation::Apply, &options).await;

    assert_eq!(report.rows.len(), ROWS);
    // Every row was told of as it finished.
    let mut told = finished.lock().unwrap().clone();
    told.sort();
    assert_eq!(
        told,
        report
            .rows
            .iter()
            .map(|r| r.name.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(report.rows[FAILING].outcome, RowOutcome::Failed, "{report}");
    // Each row's own report is a document, as the single command's would be.
    for row in report.rows.iter().filter(|r| r.report.is_some()) {
        let doc = row.report.as_ref().unwrap();
        assert_eq!(doc["schema_version"], 1, "{doc}");
        assert_eq!(doc["kind"], "apply", "{doc}");
        assert_eq!(doc["status"], row.outcome.status(), "{doc}");
    }
    assert!(
        report.rows[FAILING].summary.contains("could not be loaded"),
        "{}",
        report.rows[FAILING].summary
    );
    assert_eq!(report.rows[LOCKED].outcome, RowOutcome::Locked, "{report}");
    assert_eq!(report.count(RowOutcome::Ok), ROWS - 2, "{report}");
    // Inventory order, whatever order they finished in.
    assert!(
        report
            .rows
            .iter()
            .enumerate()
            .all(|(i, r)| r.name == format!("row-{i:02}"))
    );
    assert_eq!(report.summary(), FleetSummary::AnyFailed);
    assert!(report.max_in_flight() <= 4, "{}", report.max_in_flight());
    assert!(report.max_in_flight() >= 2, "rows ran concurrently");
    // The failing row's failure stopped no other: every other row's records exist.
    for (i, p) in pairs.iter().enumerate() {
        let configs = p.sn.table("sn_openframe_configuration").len();
        let want = usize::from(i != FAILING && i != LOCKED);
        assert_eq!(configs, want, "row {i}");
    }
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["rows"][LOCKED]["outcome"], "locked");
    assert_eq!(json["rows"][0]["report"]["steps"][0]["step"], "plugins");

    // Once the failing row is mended and the lease given back, the fleet is ok;
    // verify agrees.
    pairs[FAILING]
        .sn
        .allow_plugin_activation("com.sn_openframe");
    lease.release().await.unwrap();
    let members = pairs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == FAILING)
        .map(|(i, p)| FleetMember::new(format!("row-{i:02}"), workflow(p, SPEC)));
    let again = run_fleet(members, FleetOperation::Apply, &options).await;
    assert_eq!(again.summary(), FleetSummary::AllOk, "{again}");
}

#[tokio::test]
async fn a_row_that_cannot_start_is_reported_and_the_others_run() {
    let p = pair().await;
    p.bp.set_integration_accounts_offered(true);
    let members = vec![
        FleetMember::not_started("broken", "missing BROKEN_SERVICENOW_PASSWORD"),
        FleetMember::new("fine", workflow(&p, SPEC)),
    ];
    let report = run_fleet(members, FleetOperation::Plan, &FleetOptions::default()).await;
    assert_eq!(report.rows[0].outcome, RowOutcome::NotStarted);
    assert_eq!(report.rows[1].outcome, RowOutcome::Changes, "{report}");
    assert_eq!(report.summary(), FleetSummary::AnyFailed);
    let text = report.to_string();
    assert!(
        text.contains("missing BROKEN_SERVICENOW_PASSWORD"),
        "{text}"
    );
    assert!(text.contains("1 changes, 1 not started"), "{text}");
}

#[tokio::test]
async fn a_row_whose_apply_would_refuse_fails_the_plan_and_says_why() {
    let p = pair().await;
    p.bp.set_integration_accounts_offered(true);
    p.sn.add_user_with_password("ops", "ops-password");
    let members = vec![
        FleetMember::new("fine", workflow(&p, SPEC)),
        FleetMember::new(
            "no-rights",
            workflow_as(&p, SPEC, p.sn.client_as("ops", "ops-password")),
        ),
    ];
    let writes = p.sn.write_count();
    let report = run_fleet(members, FleetOperation::Plan, &FleetOptions::default()).await;
    assert_eq!(p.sn.write_count(), writes, "plan writes nothing");
    assert_eq!(report.rows[0].outcome, RowOutcome::Changes, "{report}");
    assert_eq!(report.rows[1].outcome, RowOutcome::Failed, "{report}");
    let summary = &report.rows[1].summary;
    assert!(
        summary.starts_with("apply would refuse: the ServiceNow user ops lacks roles"),
        "{summary}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["rows"][1]["report"]["refusals"][0]["problem"], "missing_roles",
        "{json}"
    );
    assert_eq!(report.summary(), FleetSummary::AnyFailed);

    // A row whose CORS rule name is someone else's: the row's one line says
    // which step refuses and why (the table shows no steps).
    p.sn.insert(
        "sys_cors_rule",
        serde_json::json!({"name": "Partner portal", "domain": "https://partner.example.com"}),
    );
    let taken = "[access]\nusers = [\"agent.1\"]\n[cors]\nname = \"Partner portal\"\n";
    let report = run_fleet(
        vec![FleetMember::new("taken", workflow(&p, taken))],
        FleetOperation::Plan,
        &FleetOptions::default(),
    )
    .await;
    let summary = &report.rows[0].summary;
    assert_eq!(report.rows[0].outcome, RowOutcome::Failed, "{report}");
    assert!(
        summary.starts_with("apply would refuse: step cors: CORS rule \"Partner portal\""),
        "{summary}"
    );
}

#[tokio::test]
async fn a_row_another_run_holds_is_locked_in_the_plan_and_its_previews_name_the_holder() {
    let p = pair().await;
    p.bp.set_integration_accounts_offered(true);
    let held = workflow(&p, SPEC);
    let prefix = held.context().ledger_key().prefix();
    let options = LeaseOptions::default().holder("ops@jump-host pid 42");
    let lease = Lease::acquire(&p.sn.client_as_admin(), &prefix, "apply", &options)
        .await
        .unwrap()
        .unwrap();

    let plan = held.plan().await.unwrap();
    let holder = plan.held_by.as_ref().expect("the plan names the holder");
    assert_eq!(holder.holder, "ops@jump-host pid 42");
    assert!(
        plan.to_string()
            .contains("another run holds this integration: held by ops@jump-host pid 42 (apply)"),
        "{plan}"
    );
    let preview = held.teardown_plan().await.unwrap();
    assert_eq!(preview.held_by.as_ref(), Some(holder), "{preview}");

    let members = vec![FleetMember::new("held", workflow(&p, SPEC))];
    let report = run_fleet(members, FleetOperation::Plan, &FleetOptions::default()).await;
    assert_eq!(report.rows[0].outcome, RowOutcome::Locked, "{report}");
    assert!(
        report.rows[0].summary.contains("ops@jump-host pid 42"),
        "{report}"
    );
    assert_eq!(report.summary(), FleetSummary::AnyLocked);

    // Once it is given back, the plan no longer says so.
    lease.release().await.unwrap();
    assert_eq!(held.plan().await.unwrap().held_by, None);
}

#[tokio::test]
async fn a_fleet_teardown_is_previewed_then_done_and_a_held_row_is_left_locked() {
    let pairs: Vec<Pair> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let p = pair().await;
            p.bp.set_integration_accounts_offered(true);
            v.push(p);
        }
        v
    };
    let members = |pairs: &[Pair]| {
        pairs
            .iter()
            .enumerate()
            .map(|(i, p)| FleetMember::new(format!("row-{i}"), workflow(p, SPEC)))
            .collect::<Vec<_>>()
    };
    let options = FleetOptions::default();
    let applied = run_fleet(members(&pairs), FleetOperation::Apply, &options).await;
    assert_eq!(applied.summary(), FleetSummary::AllOk, "{applied}");
    // Another run holds row 2.
    let prefix = workflow(&pairs[2], SPEC).context().ledger_key().prefix();
    let lease = Lease::acquire(
        &pairs[2].sn.client_as_admin(),
        &prefix,
        "apply",
        &LeaseOptions::default().holder("ops@jump-host pid 9"),
    )
    .await
    .unwrap()
    .unwrap();

    let writes: Vec<usize> = pairs.iter().map(|p| p.sn.write_count()).collect();
    let preview = run_fleet(members(&pairs), FleetOperation::TeardownPlan, &options).await;
    assert_eq!(
        pairs.iter().map(|p| p.sn.write_count()).collect::<Vec<_>>(),
        writes,
        "the preview writes nothing"
    );
    assert_eq!(preview.rows[0].outcome, RowOutcome::Changes, "{preview}");
    assert!(
        preview.rows[0].summary.starts_with("would remove "),
        "{}",
        preview.rows[0].summary
    );
    assert_eq!(preview.rows[2].outcome, RowOutcome::Locked, "{preview}");
    assert_eq!(preview.summary(), FleetSummary::AnyLocked);

    let done = run_fleet(members(&pairs), FleetOperation::Teardown, &options).await;
    assert_eq!(done.rows[0].outcome, RowOutcome::Ok, "{done}");
    assert!(
        done.rows[0].summary.starts_with("removed "),
        "{}",
        done.rows[0].summary
    );
    assert_eq!(done.rows[2].outcome, RowOutcome::Locked, "{done}");
    assert!(
        done.rows[2].summary.contains("ops@jump-host pid 9"),
        "{done}"
    );
    assert_eq!(done.summary(), FleetSummary::AnyLocked);
    for (i, p) in pairs.iter().enumerate() {
        let left = p.sn.table("sn_openframe_configuration").len();
        assert_eq!(left, usize::from(i == 2), "row {i}");
    }
    let json = serde_json::to_value(&done).unwrap();
    assert_eq!(json["operation"], "teardown");
    assert_eq!(
        json["rows"][0]["report"]["steps"][0]["step"],
        "integration_account"
    );
    lease.release().await.unwrap();
}

#[test]
fn inventories_are_checked_and_rows_fill_the_template() {
    let inventory = Inventory::from_toml(
        "template = \"bp-servicenow.toml\"\n\
         [[row]]\nname = \"acme\"\ninstance = \"acme\"\ntenant = \"acme\"\nenv_prefix = \"ACME_\"\n\
         [[row]]\nname = \"globex\"\ninstance = \"https://itsm.globex.example\"\ntenant = \"globex\"\n\
         names = { openframe = \"Globex Desktop\", integration_account = \"Globex\" }\n",
    )
    .unwrap();
    assert_eq!(
        (inventory.concurrency, inventory.requests_per_second),
        (4, 10)
    );
    let template = IntegrationSpec::from_toml(
        "[servicenow]\ninstance = \"template\"\n[brightpattern]\ntenant = \"template\"\n",
    )
    .unwrap();
    let spec = Inventory::row_spec(&template, &inventory.rows[1]).unwrap();
    assert_eq!(spec.instance.as_str(), "https://itsm.globex.example");
    assert_eq!(spec.tenant.as_str(), "https://globex.brightpattern.com");
    assert_eq!(spec.openframe.name, "Globex Desktop");
    assert_eq!(spec.integration_account.name, "Globex");
    assert_eq!(spec.cors_name, template.cors.name);

    let err = Inventory::from_toml(
        "template = \"t.toml\"\nconcurrency = 0\n\
         [[row]]\nname = \"Acme\"\ninstance = \"a\"\ntenant = \"a\"\n\
         [[row]]\nname = \"b\"\ninstance = \"b\"\ntenant = \"b\"\nenv_prefix = \"B_\"\ncredentials_file = \"b.env\"\n\
         [[row]]\nname = \"b\"\ninstance = \"b\"\ntenant = \"b\"\n",
    )
    .unwrap_err()
    .to_string();
    for want in ["concurrency", "\"Acme\"", "not both", "listed twice"] {
        assert!(err.contains(want), "{want}: {err}");
    }
    assert!(
        Inventory::from_toml("template = \"t.toml\"\n").is_err(),
        "no rows"
    );
}

/// The fleet's future can be spawned.
#[allow(dead_code)]
fn the_fleet_future_is_send(members: Vec<FleetMember>) {
    fn send<T: Send>(_: T) {}
    send(run_fleet(
        members,
        FleetOperation::Verify,
        &FleetOptions::default(),
    ));
}
