//! The workflow against the two fakes paired together.

mod common;

use common::Pair;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brightpattern_fake::Endpoint as BpEndpoint;
use brightpattern_servicenow::report::{ManualValue, RemovalOutcome};
use brightpattern_servicenow::{
    Action, Check, Event, IntegrationSpec, Outcome, ServiceNowLogin, Status, StepId, Workflow,
    WorkflowError, WorkflowOptions,
};
use servicenow_client::ExposeSecret;
use servicenow_client::plugins::{WaitOptions, ids};
use servicenow_client::{JsonRecord, RetryPolicy};
use servicenow_fake::{
    ADMIN_PASSWORD, ADMIN_USER, Endpoint as SnEndpoint, FakeInstance, Fault, FaultSchedule,
};

/// The writes of the run's lease: its row inserted, then deleted.
const LEASE_WRITES: usize = 2;

const TENANT_ORIGIN_KEY: &str = "glide.ui.concourse.onmessage_enforce_same_origin_whitelist";

async fn pair() -> Pair {
    let p = common::pair().await;
    // These tests drive the assumed integration-account endpoints (opted in by
    // the spec); the manual default has its own tests.
    p.bp.set_integration_accounts_offered(true);
    p
}

fn spec_text(p: &Pair) -> String {
    format!(
        r#"
        [servicenow]
        instance = "{}"
        [brightpattern]
        tenant = "{}"
        [openframe]
        name = "Bright Pattern"
        width = 300
        height = 750
        [access]
        users = ["agent.1", "agent.2"]
        groups = ["Agents"]
        [cors]
        name = "Bright Pattern"
        [oauth]
        name = "Bright Pattern"
        [integration_account]
        api = "assumed"
        "#,
        p.sn.url(),
        p.bp.url()
    )
}

fn fast() -> RetryPolicy {
    RetryPolicy::default()
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
        .with_max_attempts(12)
}

fn workflow_with(p: &Pair, spec: &str, password: &str) -> Workflow {
    let spec = IntegrationSpec::from_toml(spec).unwrap().resolve().unwrap();
    Workflow::builder(
        spec,
        p.sn.client_builder_as_admin()
            .retry_policy(fast())
            .build()
            .unwrap(),
        p.bp.client_builder().retry_policy(fast()).build().unwrap(),
        ServiceNowLogin {
            username: ADMIN_USER.into(),
            password: password.to_owned().into(),
        },
    )
    .options(WorkflowOptions::default().plugin_wait(WaitOptions::fast()))
    .build()
}

fn workflow(p: &Pair) -> Workflow {
    workflow_with(p, &spec_text(p), ADMIN_PASSWORD)
}

/// A workflow that is told the OAuth client secret (as the CLI is through
/// `SERVICENOW_OAUTH_CLIENT_SECRET`), read from the fake's table.
fn with_known_secret(p: &Pair) -> Workflow {
    let secret = p.sn.table("oauth_entity")[0]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let spec = IntegrationSpec::from_toml(&spec_text(p))
        .unwrap()
        .resolve()
        .unwrap();
    Workflow::builder(
        spec,
        p.sn.client_as_admin(),
        p.bp.client(),
        ServiceNowLogin {
            username: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
        },
    )
    .options(
        WorkflowOptions::default()
            .plugin_wait(WaitOptions::fast())
            .oauth_client_secret(secrecy::SecretString::from(secret)),
    )
    .build()
}

fn count(rows: &[JsonRecord], column: &str, value: &str) -> usize {
    rows.iter().filter(|r| r[column] == value).count()
}

/// Every natural key exists exactly once.
fn assert_no_duplicates(p: &Pair) {
    assert_eq!(
        count(
            &p.sn.table("sn_openframe_configuration"),
            "name",
            "Bright Pattern"
        ),
        1
    );
    assert_eq!(
        count(&p.sn.table("sys_cors_rule"), "name", "Bright Pattern"),
        1
    );
    assert_eq!(
        count(&p.sn.table("oauth_entity"), "name", "Bright Pattern"),
        1
    );
    assert_eq!(p.bp.accounts().len(), 1);
    let grants = p.sn.table("sys_user_has_role");
    let mut per_user: BTreeMap<String, usize> = BTreeMap::new();
    for g in &grants {
        *per_user
            .entry(g["user"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(per_user.values().all(|n| *n == 1), "{per_user:?}");
    assert_eq!(p.sn.table("sys_group_has_role").len(), 1);
}

#[tokio::test]
async fn a_fresh_apply_then_verify_all_ok() {
    let p = pair().await;
    let wf = workflow(&p);
    let plan = wf.plan().await.unwrap();
    let actions: Vec<(StepId, Action)> = plan
        .steps
        .iter()
        .map(|s| (s.step.clone(), s.action))
        .collect();
    assert_eq!(
        actions,
        [
            (StepId::PLUGINS, Action::Update),
            (StepId::OPENFRAME, Action::Create),
            (StepId::ACCESS, Action::Create),
            (StepId::CORS, Action::Create),
            (StepId::OAUTH_ENDPOINT, Action::Create),
            (StepId::INTEGRATION_ACCOUNT, Action::Create),
        ]
    );
    assert_eq!(p.sn.write_count(), 0, "plan only reads");

    let report = wf.apply().await.unwrap();
    assert!(
        report.steps.iter().all(|s| s.outcome == Outcome::Done),
        "{report}"
    );
    let health = wf.verify().await.unwrap();
    assert!(health.is_ok(), "{health}");
    // Every step is read back (its plan is empty) and every effect proven.
    for step in &report.steps {
        assert!(
            health
                .checks
                .iter()
                .any(|c| c.check == step.planned.resource && c.is_ok()),
            "no passing check for {}: {health}",
            step.planned.resource
        );
    }
    assert_eq!(
        health.checks.iter().filter(|c| c.effect).count(),
        5,
        "{health}"
    );

    let config = &p.sn.table("sn_openframe_configuration")[0];
    assert_eq!(config["width"], "300");
    assert_eq!(config["height"], "750");
    assert!(
        config["url"]
            .as_str()
            .unwrap()
            .contains("topDomain=http%3A%2F%2F127.0.0.1")
    );
    let allow =
        p.sn.table("sys_properties")
            .into_iter()
            .find(|r| r["name"] == TENANT_ORIGIN_KEY)
            .unwrap();
    assert_eq!(allow["value"], p.bp.url().as_str());
    let account = &p.bp.accounts()[0];
    assert!(account.refresh_token.is_some());
    assert_eq!(account.url, p.sn.url().as_str());
    assert_no_duplicates(&p);
}

#[tokio::test]
async fn a_second_apply_makes_no_write_request() {
    let p = pair().await;
    let wf = workflow(&p);
    wf.apply().await.unwrap();
    p.sn.clear_requests();
    p.bp.clear_requests();
    let report = wf.apply().await.unwrap();
    assert!(
        report.steps.iter().all(|s| s.outcome == Outcome::Unchanged),
        "{report}"
    );
    // Nothing to do, nothing written: not even a lease.
    assert_eq!(p.sn.write_count(), 0, "{:#?}", p.sn.requests());
    assert_eq!(p.bp.write_count(), 0, "{:#?}", p.bp.requests());
    assert_eq!(report.footprint.writes, 0, "{report}");
    assert!(report.to_string().ends_with("writes: none"), "{report}");
    assert!(
        !p.sn
            .requests()
            .iter()
            .any(|r| r.path.contains("sys_properties") && r.method != "GET"),
        "no lease claimed"
    );
    assert!(
        !p.sn
            .requests()
            .iter()
            .any(|r| r.endpoint == SnEndpoint::Cicd)
    );
    assert!(
        !p.bp
            .requests()
            .iter()
            .any(|r| r.method != "GET" && r.endpoint != BpEndpoint::Token)
    );
}

#[tokio::test]
async fn drift_is_planned_exactly_and_repaired() {
    let p = pair().await;
    let wf = workflow(&p);
    wf.apply().await.unwrap();
    let admin = p.sn.client_as_admin();

    // By hand: change the URL, remove a grant, turn POST off.
    let config = p.sn.table("sn_openframe_configuration").remove(0);
    let config_id =
        servicenow_client::wire::SysId::parse(config["sys_id"].as_str().unwrap()).unwrap();
    admin
        .openframe_configurations()
        .update(
            &config_id,
            &serde_json::json!({"url": "https://example.brightpattern.com/agentdesktop/"}),
        )
        .await
        .unwrap();
    admin
        .roles()
        .revoke_from_user("agent.2", "sn_openframe_user")
        .await
        .unwrap();
    let rule = admin
        .cors_rules()
        .get_by_name("Bright Pattern")
        .await
        .unwrap()
        .unwrap();
    admin
        .cors_rules()
        .patch(&rule.sys_id, &serde_json::json!({"post": "false"}))
        .await
        .unwrap();

    let health = wf.verify().await.unwrap();
    let failing: Vec<&str> = health.problems().map(|c| c.check.as_str()).collect();
    // Three records read back wrong, the URL leaving the tenant (a failure of
    // its own, not a warning), and two effects that no longer work: the page is
    // not on the tenant, and the browser's preflight is refused.
    assert_eq!(failing.len(), 6, "{health}");
    assert!(
        failing
            .iter()
            .any(|c| c.ends_with("URL stays on the tenant")),
        "{failing:?}"
    );
    assert_eq!(health.status, Status::Failed);
    assert!(
        health
            .problems()
            .all(|c| c.hint.is_some() && c.status == Status::Failed)
    );
    assert_eq!(
        health.problems().filter(|c| c.effect).count(),
        2,
        "{health}"
    );
    assert!(
        failing.iter().any(|c| c.contains("CORS preflight")),
        "{failing:?}"
    );
    assert!(
        failing.iter().any(|c| c.contains("Agent Desktop page")),
        "{failing:?}"
    );

    let plan = wf.plan().await.unwrap();
    let changed: Vec<(StepId, Vec<String>)> = plan
        .steps
        .iter()
        .filter(|s| s.action != Action::Unchanged)
        .map(|s| {
            (
                s.step.clone(),
                s.changes.iter().map(|c| c.field.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            (StepId::OPENFRAME, vec!["url".to_owned()]),
            (StepId::ACCESS, vec!["user agent.2".to_owned()]),
            (StepId::CORS, vec!["post".to_owned()]),
        ]
    );
    let url_change = &plan.step(StepId::OPENFRAME).unwrap().changes[0];
    assert_eq!(
        url_change.old.as_deref(),
        Some("https://example.brightpattern.com/agentdesktop/")
    );

    wf.apply().await.unwrap();
    let health = wf.verify().await.unwrap();
    assert!(health.is_ok(), "{health}");
    assert_no_duplicates(&p);
}

#[tokio::test]
async fn a_rate_limit_storm_is_ridden_through() {
    let p = pair().await;
    p.sn.inject_fault(
        Fault::RateLimited {
            retry_after: Some(0),
        },
        FaultSchedule::EveryNth(3),
    );
    p.sn.inject_fault(
        Fault::RateLimited { retry_after: None },
        FaultSchedule::EveryNth(7),
    );
    p.bp.inject_fault(
        brightpattern_fake::Fault::RateLimited {
            retry_after: Some(0),
        },
        brightpattern_fake::FaultSchedule::EveryNth(2),
    );
    let wf = workflow(&p);
    let first = wf.apply().await;
    assert!(p.sn.faults_injected() > 5);
    p.sn.clear_faults();
    p.bp.clear_faults();
    // The client retries every 429 it meets; the tenant's own grant against the
    // instance may be refused by the storm, which must then name its step.
    if let Err(e) = first {
        assert_eq!(e.failures().len(), 1, "{e}");
        assert_eq!(e.failures()[0].0, StepId::INTEGRATION_ACCOUNT, "{e}");
        let failed = e
            .report()
            .unwrap()
            .step(StepId::INTEGRATION_ACCOUNT)
            .unwrap();
        assert_eq!(failed.outcome, Outcome::Failed);
        assert_eq!(
            failed.planned.action,
            Action::Create,
            "the failed row keeps its planned change"
        );
        wf.apply().await.unwrap();
    }
    let health = wf.verify().await.unwrap();
    assert!(health.is_ok(), "{health}");
    assert_no_duplicates(&p);
}

#[tokio::test]
async fn a_503_on_a_create_stops_the_step_and_a_second_apply_finishes() {
    let p = pair().await;
    // The 20th table request is a create in the middle of the run: not retried.
    p.sn.inject_fault_on(
        SnEndpoint::Table,
        Fault::Unavailable,
        FaultSchedule::EveryNth(9),
    );
    let wf = workflow(&p);
    let first = wf.apply().await;
    p.sn.clear_faults();
    if let Err(e) = &first {
        let text = e.to_string();
        assert!(text.contains("step "), "{text}");
        assert!(text.contains("run apply again"), "{text}");
        wf.apply().await.unwrap();
    }
    let health = wf.verify().await.unwrap();
    assert!(health.is_ok(), "{health}");
    assert_no_duplicates(&p);
}

#[tokio::test]
async fn a_timeout_after_a_create_is_recovered_without_duplicates() {
    let p = pair().await;
    p.sn.inject_fault_on(
        SnEndpoint::Table,
        Fault::Timeout(Duration::from_millis(400)),
        FaultSchedule::EveryNth(11),
    );
    let spec = IntegrationSpec::from_toml(&spec_text(&p))
        .unwrap()
        .resolve()
        .unwrap();
    let wf = Workflow::builder(
        spec,
        p.sn.client_builder_as_admin()
            .retry_policy(fast())
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap(),
        p.bp.client(),
        ServiceNowLogin {
            username: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
        },
    )
    .options(WorkflowOptions::default().plugin_wait(WaitOptions::fast()))
    .build();
    for _ in 0..3 {
        if wf.apply().await.is_ok() {
            break;
        }
    }
    p.sn.clear_faults();
    wf.apply().await.unwrap();
    let health = wf.verify().await.unwrap();
    assert!(health.is_ok(), "{health}");
    assert_no_duplicates(&p);
}

#[tokio::test]
async fn a_failing_plugin_stops_its_dependents_with_a_step_named_error() {
    let p = pair().await;
    p.sn.fail_plugin_activation(ids::OPENFRAME, "Dependency com.glide.ui.concourse missing");
    let wf = workflow(&p);
    let err = wf.apply().await.unwrap_err();
    assert_eq!(err.failures().len(), 1);
    assert_eq!(err.failures()[0].0, StepId::PLUGINS);
    let text = err.to_string();
    assert!(
        text.contains("step plugins failed")
            && text.contains("Dependency com.glide.ui.concourse missing"),
        "{text}"
    );
    let skipped: Vec<StepId> = err
        .report()
        .unwrap()
        .steps
        .iter()
        .filter(|s| s.outcome == Outcome::Skipped)
        .map(|s| s.planned.step.clone())
        .collect();
    assert_eq!(skipped.len(), 5, "{}", err.report().unwrap());
    assert_eq!(p.sn.write_count(), LEASE_WRITES, "nothing else was touched");

    p.sn.allow_plugin_activation(ids::OPENFRAME);
    wf.apply().await.unwrap();
    let health = wf.verify().await.unwrap();
    assert!(health.is_ok(), "{health}");
    assert_no_duplicates(&p);
}

#[tokio::test]
async fn a_rejected_refresh_token_request_names_the_step_and_the_rest_is_done() {
    let p = pair().await;
    let wrong = workflow_with(&p, &spec_text(&p), "not-the-password");
    let err = wrong.apply().await.unwrap_err();
    assert_eq!(err.failures()[0].0, StepId::INTEGRATION_ACCOUNT);
    assert!(err.to_string().contains("access_denied"), "{err}");
    let done: Vec<StepId> = err
        .report()
        .unwrap()
        .steps
        .iter()
        .filter(|s| s.outcome == Outcome::Done)
        .map(|s| s.planned.step.clone())
        .collect();
    assert_eq!(done.len(), 5, "{}", err.report().unwrap());
    // The account was created before the refresh token was refused: the report
    // and the ledger know it, and the next apply completes it.
    assert_eq!(p.bp.accounts().len(), 1);
    let right = workflow(&p);
    right.apply().await.unwrap();
    // A new run does not know the secret the first one generated: the OAuth
    // client cannot be proven end to end, which is pending, not ok.
    let health = right.verify().await.unwrap();
    assert_eq!(health.status, Status::Pending, "{health}");
    let pending: Vec<&str> = health.problems().map(|c| c.check.as_str()).collect();
    assert_eq!(
        pending,
        ["OAuth application \"Bright Pattern\" works end to end"]
    );
    // Supplied, it is proven.
    let health = with_known_secret(&p).verify().await.unwrap();
    assert!(health.is_ok(), "{health}");
    assert_no_duplicates(&p);
}

#[tokio::test]
async fn an_expired_token_on_the_tenant_is_renewed() {
    let p = pair().await;
    p.bp.inject_fault_on(
        BpEndpoint::IntegrationAccounts,
        brightpattern_fake::Fault::ExpiredToken,
        brightpattern_fake::FaultSchedule::Nth(2),
    );
    let wf = workflow(&p);
    wf.apply().await.unwrap();
    let health = wf.verify().await.unwrap();
    assert!(health.is_ok(), "{health}");
}

fn managed_tables(sn: &FakeInstance) -> BTreeMap<String, Vec<JsonRecord>> {
    let mut tables = BTreeMap::new();
    for t in [
        "sn_openframe_configuration",
        "sys_cors_rule",
        "oauth_entity",
        "sys_user_has_role",
        "sys_group_has_role",
        "sys_properties",
    ] {
        let mut rows = sn.table(t);
        // What a write-and-restore leaves behind by design: the audit columns.
        for r in &mut rows {
            for audit in ["sys_updated_on", "sys_updated_by", "sys_mod_count"] {
                r.remove(audit);
            }
        }
        tables.insert(t.to_owned(), rows);
    }
    tables
}

#[tokio::test]
async fn teardown_removes_only_what_apply_created() {
    let p = pair().await;
    let admin = p.sn.client_as_admin();
    // Before: a grant, an allow-list entry of another origin, a CTI configuration,
    // and a CORS rule with the spec's name that somebody else made.
    p.sn.grant_role_to_user("agent.1", "sn_openframe_user");
    admin
        .properties()
        .set(TENANT_ORIGIN_KEY, "https://other.example.com")
        .await
        .unwrap();
    p.sn.set_plugin_active(ids::CTI_SOFTPHONE, true); // it ships the CTI configuration
    let mut cti =
        servicenow_client::openframe::OpenFrameFields::new("CTI", "https://cti.example.com");
    cti.order = 500;
    admin.openframe_configurations().create(&cti).await.unwrap();
    admin
        .cors_rules()
        .create(&servicenow_client::cors::CorsRuleSpec::new(
            "Bright Pattern",
            servicenow_client::cors::CorsDomain::parse("https://legacy.example.com").unwrap(),
        ))
        .await
        .unwrap();
    let before = managed_tables(&p.sn);

    // A taken name: plan says "exists, not ours", apply refuses and writes nothing.
    let refused = workflow(&p);
    let plan = refused.plan().await.unwrap();
    assert_eq!(
        plan.step(StepId::CORS).unwrap().action,
        Action::Refuse,
        "{plan}"
    );
    p.sn.clear_requests();
    let err = refused.apply().await.unwrap_err();
    let brightpattern_servicenow::ApplyError::NotStarted(WorkflowError::Taken(taken)) = &err else {
        panic!("{err}")
    };
    assert_eq!(taken[0].step, StepId::CORS);
    assert!(err.to_string().contains("legacy.example.com"), "{err}");
    assert_eq!(
        p.sn.write_count(),
        0,
        "refused before anything, the lease included, was written"
    );
    assert_eq!(managed_tables(&p.sn), before);

    // Adopted on purpose: changed, with every previous value recorded.
    let adopt = format!("{}\n[cors]\nadopt = true\n", spec_text(&p))
        .replace("[cors]\n        name = \"Bright Pattern\"", "");
    let adopt = adopt.replace(
        "[cors]\nadopt = true",
        "[cors]\nname = \"Bright Pattern\"\nadopt = true",
    );
    let wf = workflow_with(&p, &adopt, ADMIN_PASSWORD);
    let report = wf.apply().await.unwrap();
    let cors = report.step(StepId::CORS).unwrap();
    assert_eq!(cors.planned.action, Action::Adopt);
    assert!(cors.detail.contains("adopted"), "{report}");
    let health = wf.verify().await.unwrap();
    assert!(health.is_ok(), "{health}");

    let teardown = wf.teardown().await.unwrap();
    let text = teardown.to_string();
    let left: Vec<&str> = teardown
        .removals()
        .filter(|r| r.outcome == RemovalOutcome::LeftAlone)
        .map(|r| r.resource.as_str())
        .collect();
    assert!(
        teardown
            .removals()
            .any(|r| r.outcome == RemovalOutcome::Restored && r.resource.contains("CORS rule")),
        "{text}"
    );
    assert!(left.iter().any(|r| r.contains("plugins")), "{text}");
    assert!(
        left.iter()
            .any(|r| r.contains("grants of sn_openframe_user")),
        "{text}"
    );
    assert!(p.bp.accounts().is_empty());

    // Everything that was there before is as it was, the adopted rule included.
    let after = managed_tables(&p.sn);
    for (table, rows) in &before {
        assert_eq!(&after[table], rows, "{table} differs after teardown");
    }
    // Plugins stay active.
    assert!(
        p.sn.table("v_plugin")
            .iter()
            .any(|r| r["id"] == ids::OPENFRAME && r["active"] == "active")
    );
    // A second teardown finds nothing of its own.
    let again = wf.teardown().await.unwrap();
    assert!(
        again
            .removals()
            .all(|r| r.outcome != RemovalOutcome::Removed),
        "{again}"
    );
}

#[tokio::test]
async fn the_manual_fallback_end_to_end() {
    let p = pair().await;
    p.bp.set_integration_accounts_offered(false);
    let wf = workflow(&p);
    let plan = wf.plan().await.unwrap();
    let step = plan.step(StepId::INTEGRATION_ACCOUNT).unwrap();
    assert_eq!(step.action, Action::Manual);
    let manual = step.manual.as_ref().unwrap();
    assert!(
        manual
            .render(false)
            .contains("Configuration > Integration Accounts")
    );

    let report = wf.apply().await.unwrap();
    let manual_steps: Vec<_> = report.manual_steps().collect();
    assert_eq!(manual_steps.len(), 1);
    let instructions = manual_steps[0].planned.manual.as_ref().unwrap();
    let client_id = p.sn.table("oauth_entity")[0]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = p.sn.table("oauth_entity")[0]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(instructions.render(false).contains(&client_id));
    assert!(
        !instructions.render(false).contains(&secret),
        "masked by default"
    );
    assert!(
        instructions.render(true).contains(&secret),
        "revealed on request"
    );
    let secret_field = instructions
        .fields
        .iter()
        .find(|f| f.label == "Client Secret")
        .unwrap();
    assert!(
        matches!(&secret_field.value, ManualValue::Secret(Some(s)) if s.expose_secret() == secret)
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(&secret));

    // Pending, never ok: the account cannot be seen from here. The report quotes
    // the status the tenant answered, and carries the checklist.
    let health = wf.verify().await.unwrap();
    assert_eq!(health.status, Status::Pending, "{health}");
    let pending: Vec<&Check> = health.problems().collect();
    assert_eq!(pending.len(), 1, "{health}");
    assert!(
        pending[0].detail.contains("HTTP 500"),
        "{}",
        pending[0].detail
    );
    assert!(pending[0].manual.is_some());
    assert!(
        health
            .to_string()
            .contains("Configuration > Integration Accounts")
    );
    let teardown = wf.teardown().await.unwrap();
    assert!(
        teardown
            .to_string()
            .contains("delete it in Contact Center Administrator"),
        "{teardown}"
    );
}

#[tokio::test]
async fn secrets_appear_in_no_plan_report_event_or_error() {
    let p = pair().await;
    let events = Arc::new(Mutex::new(Vec::<Event>::new()));
    let sink = events.clone();
    let spec = IntegrationSpec::from_toml(&spec_text(&p))
        .unwrap()
        .resolve()
        .unwrap();
    let wf = Workflow::builder(
        spec,
        p.sn.client_as_admin(),
        p.bp.client(),
        ServiceNowLogin {
            username: ADMIN_USER.into(),
            password: ADMIN_PASSWORD.into(),
        },
    )
    .options(WorkflowOptions::default().plugin_wait(WaitOptions::fast()))
    .on_event(move |e| sink.lock().unwrap().push(e.clone()))
    .build();
    let plan = wf.plan().await.unwrap();
    let report = wf.apply().await.unwrap();
    let health = wf.verify().await.unwrap();
    let events = events.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Progress { step, .. } if *step == StepId::PLUGINS))
    );
    let started = events
        .iter()
        .filter(|e| matches!(e, Event::StepStarted { .. }))
        .count();
    let finished = events
        .iter()
        .filter(|e| matches!(e, Event::StepFinished { .. }))
        .count();
    assert_eq!((started, finished), (6, 6));

    let client_secret = p.sn.table("oauth_entity")[0]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = p.bp.accounts()[0]
        .refresh_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    let everything = format!(
        "{plan}\n{}\n{report}\n{}\n{health}\n{}\n{events:?}\n{wf:?}",
        serde_json::to_string(&plan).unwrap(),
        serde_json::to_string(&report).unwrap(),
        serde_json::to_string(&health).unwrap(),
    );
    for secret in [
        client_secret.as_str(),
        refresh.as_str(),
        ADMIN_PASSWORD,
        brightpattern_fake::API_SECRET,
    ] {
        assert!(!everything.contains(secret), "a secret leaked: {secret}");
    }
}
