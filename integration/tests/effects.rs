//! Verify by effect: each proof fails for its real cause, names it, and passes once
//! the cause is fixed. Against the paired fakes, which behave as the platforms'
//! documentation says (the integration account is a manual step by default).

mod common;

use brightpattern_servicenow::{
    Action, Check, IntegrationSpec, ServiceNowLogin, Status, StepId, VerifyReport, Workflow,
    WorkflowOptions,
};
use common::{Pair, pair};
use servicenow_client::JsonRecord;
use servicenow_client::plugins::WaitOptions;
use servicenow_client::wire::SysId;
use servicenow_fake::{ADMIN_PASSWORD, ADMIN_USER};

const OAUTH_CHECK: &str = "OAuth application \"Bright Pattern\" works end to end";
const CORS_CHECK: &str = "CORS preflight";
const PAGE_CHECK: &str = "the Agent Desktop page exists at the OpenFrame URL";
const AGENTS_CHECK: &str = "every listed agent gets our OpenFrame configuration";

fn spec(p: &Pair, extra: &str) -> String {
    format!(
        "[servicenow]\ninstance = \"{}\"\n[brightpattern]\ntenant = \"{}\"\n[access]\nusers = [\"agent.1\", \"agent.2\"]\ngroups = [\"Agents\"]\n[oauth]\nname = \"Bright Pattern\"\n{extra}",
        p.sn.url(),
        p.bp.url()
    )
}

fn workflow(p: &Pair, extra: &str, secret: Option<String>) -> Workflow {
    let spec = IntegrationSpec::from_toml(&spec(p, extra))
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
            .oauth_client_secret(secret.map(Into::into)),
    )
    .build()
}

/// A workflow that knows the OAuth client secret (as the CLI does through
/// `SERVICENOW_OAUTH_CLIENT_SECRET`).
fn knowing_secret(p: &Pair, extra: &str) -> Workflow {
    let secret = p.sn.table("oauth_entity")[0]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    workflow(p, extra, Some(secret))
}

fn check<'r>(report: &'r VerifyReport, name: &str) -> &'r Check {
    report
        .checks
        .iter()
        .find(|c| c.check.contains(name))
        .unwrap_or_else(|| panic!("no check {name:?} in\n{report}"))
}

/// Only the manual integration account waits; everything else is proven.
fn assert_all_proven(report: &VerifyReport) {
    let open: Vec<&Check> = report.problems().collect();
    assert_eq!(open.len(), 1, "{report}");
    assert_eq!(open[0].status, Status::Pending);
    assert!(open[0].manual.is_some(), "{report}");
    assert_eq!(report.status, Status::Pending);
    assert_eq!(
        report
            .checks
            .iter()
            .filter(|c| c.effect && c.is_ok())
            .count(),
        4,
        "{report}"
    );
}

fn oauth_entity(p: &Pair) -> SysId {
    SysId::parse(p.sn.table("oauth_entity")[0]["sys_id"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn apply_proves_what_it_wrote_and_verify_proves_it_again() {
    let p = pair().await;
    let wf = workflow(&p, "", None);
    let report = wf.apply().await.unwrap();
    let proofs: Vec<(&str, Status)> = report
        .proofs
        .iter()
        .map(|c| (c.check.as_str(), c.status))
        .collect();
    // The four steps' proofs, and that the configuration landed in the
    // administrator's update set.
    assert_eq!(proofs.len(), 5, "{report}");
    assert_eq!(
        proofs
            .iter()
            .filter(|(c, _)| c.starts_with("update set \"Default\""))
            .count(),
        1,
        "{report}"
    );
    assert!(proofs.iter().all(|(_, s)| *s == Status::Ok), "{report}");
    assert_eq!(
        report.status(),
        Status::Pending,
        "the account waits: {report}"
    );
    // The round trip really ran: a password grant and a refresh grant.
    let grants: Vec<String> =
        p.sn.requests()
            .iter()
            .filter(|r| r.path == "/oauth_token.do")
            .map(|r| {
                r.body
                    .split('&')
                    .find(|kv| kv.starts_with("grant_type="))
                    .unwrap()
                    .to_owned()
            })
            .collect();
    assert_eq!(
        grants,
        ["grant_type=password", "grant_type=refresh_token"],
        "{grants:?}"
    );
    // The same workflow remembers what its apply handed on (in memory only):
    // its verify proves everything but the manual account.
    assert_all_proven(&wf.verify().await.unwrap());
    // Another workflow (another process) does not know the secret: the round
    // trip is pending...
    let later = workflow(&p, "", None).verify().await.unwrap();
    let oauth = check(&later, OAUTH_CHECK);
    assert_eq!(oauth.status, Status::Pending, "{later}");
    assert!(
        oauth
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("SERVICENOW_OAUTH_CLIENT_SECRET"),
        "{later}"
    );
    // ...until the caller supplies it.
    assert_all_proven(&knowing_secret(&p, "").verify().await.unwrap());
    // The integration account was never asked for: manual by default.
    assert!(
        !p.bp
            .requests()
            .iter()
            .any(|r| r.endpoint == brightpattern_fake::Endpoint::IntegrationAccounts)
    );
}

#[tokio::test]
async fn oauth_failures_name_their_cause_and_pass_when_fixed() {
    let p = pair().await;
    workflow(&p, "", None).apply().await.unwrap();
    let cases: [(&str, &str, &str, &str); 2] = [
        (
            "glide.oauth.inbound.ropc.grant_type.disabled",
            "true",
            "false",
            "the password grant is disabled",
        ),
        (
            "com.snc.platform.security.oauth.is.active",
            "false",
            "true",
            "inbound OAuth is off",
        ),
    ];
    for (property, broken, fixed, cause) in cases {
        p.sn.set_property(property, broken);
        let report = knowing_secret(&p, "").verify().await.unwrap();
        let c = check(&report, OAUTH_CHECK);
        assert_eq!(c.status, Status::Failed, "{report}");
        assert!(c.effect);
        let hint = c.hint.as_deref().unwrap();
        assert!(hint.contains(cause) && hint.contains(property), "{hint}");
        assert!(
            c.detail.contains("the password grant failed"),
            "{}",
            c.detail
        );
        assert_eq!(report.status, Status::Failed);
        p.sn.set_property(property, fixed);
        assert_all_proven(&knowing_secret(&p, "").verify().await.unwrap());
    }

    // An inactive client: verify also reads the flag back, and the proof names it.
    p.sn.client_as_admin()
        .oauth_applications()
        .set_active(&oauth_entity(&p), false)
        .await
        .unwrap();
    let report = knowing_secret(&p, "").verify().await.unwrap();
    let c = check(&report, OAUTH_CHECK);
    assert_eq!(c.status, Status::Failed);
    assert!(
        c.hint.as_deref().unwrap().contains("is inactive"),
        "{report}"
    );
    workflow(&p, "", None).apply().await.unwrap();
    assert_all_proven(&knowing_secret(&p, "").verify().await.unwrap());

    // A wrong secret: none of the known causes, said so.
    let report = workflow(&p, "", Some("not-the-secret".into()))
        .verify()
        .await
        .unwrap();
    let c = check(&report, OAUTH_CHECK);
    assert_eq!(c.status, Status::Failed);
    assert!(
        c.hint
            .as_deref()
            .unwrap()
            .contains("none of the known causes"),
        "{report}"
    );
    assert!(!report.to_string().contains("not-the-secret"));
}

#[tokio::test]
async fn without_the_secret_the_oauth_proof_is_pending_never_ok() {
    let p = pair().await;
    workflow(&p, "", None).apply().await.unwrap();
    let report = workflow(&p, "", None).verify().await.unwrap();
    let c = check(&report, OAUTH_CHECK);
    assert_eq!(c.status, Status::Pending, "{report}");
    assert!(
        c.hint
            .as_deref()
            .unwrap()
            .contains("SERVICENOW_OAUTH_CLIENT_SECRET")
    );
    assert_eq!(report.status, Status::Pending);
    assert!(!report.is_ok());
}

async fn cors_rule(p: &Pair) -> SysId {
    p.sn.client_as_admin()
        .cors_rules()
        .get_by_name("Bright Pattern Agent Desktop")
        .await
        .unwrap()
        .unwrap()
        .sys_id
}

#[tokio::test]
async fn the_cors_preflight_fails_for_another_origin_or_without_post() {
    let p = pair().await;
    workflow(&p, "", None).apply().await.unwrap();
    let rules = p.sn.client_as_admin().cors_rules();
    let id = cors_rule(&p).await;
    for (patch, why) in [
        (
            serde_json::json!({"domain": "https://other.brightpattern.com"}),
            "another origin",
        ),
        (serde_json::json!({"post": "false"}), "no POST"),
        (serde_json::json!({"active": "false"}), "inactive"),
    ] {
        rules.patch(&id, &patch).await.unwrap();
        let report = knowing_secret(&p, "").verify().await.unwrap();
        let c = check(&report, CORS_CHECK);
        assert_eq!(c.status, Status::Failed, "{why}: {report}");
        assert!(c.detail.contains("OPTIONS /api/now/table/"), "{}", c.detail);
        // Apply repairs it, and the repair is proven by the same preflight.
        let repaired = workflow(&p, "", None).apply().await.unwrap();
        let proof = repaired
            .proofs
            .iter()
            .find(|c| c.check.contains(CORS_CHECK))
            .unwrap_or_else(|| panic!("{why}: {repaired}"));
        assert_eq!(proof.status, Status::Ok, "{why}: {repaired}");
        assert_all_proven(&knowing_secret(&p, "").verify().await.unwrap());
    }
    // The preflight went out as a browser's: OPTIONS, no credentials needed.
    assert!(
        p.sn.requests()
            .iter()
            .any(|r| r.method == "OPTIONS" && r.status == 200)
    );
}

#[tokio::test]
async fn a_wrong_entry_path_fails_and_the_right_one_passes() {
    let p = pair().await;
    let wrong = "[openframe]\nentry_path = \"/agentdesktop-old/\"\n";
    let report = workflow(&p, wrong, None).apply().await.unwrap();
    let proof = report
        .proofs
        .iter()
        .find(|c| c.check == PAGE_CHECK)
        .unwrap();
    assert_eq!(proof.status, Status::Failed, "{report}");
    assert!(
        proof.detail.contains("HTTP 404: wrong entry path"),
        "{}",
        proof.detail
    );
    assert_eq!(report.status(), Status::Failed);

    // Agent Desktop 2.0's path exists on the tenant.
    let right = "[openframe]\nentry_path = \"/agent/\"\n";
    let report = workflow(&p, right, None).apply().await.unwrap();
    let proof = report
        .proofs
        .iter()
        .find(|c| c.check == PAGE_CHECK)
        .unwrap();
    assert_eq!(proof.status, Status::Ok, "{report}");
    assert_all_proven(&knowing_secret(&p, right).verify().await.unwrap());
}

/// The vendor's CTI configuration, active at order 1 and scoped to a group that
/// holds one of the listed agents.
fn add_cti_for(p: &Pair, user: &str) -> SysId {
    let group = p.sn.add_group("Phone agents");
    p.sn.add_group_member(user, "Phone agents");
    p.sn.insert(
        "sn_openframe_configuration",
        serde_json::json!({
            "name": "CTI", "title": "Phone", "url": "https://cti.example.com/",
            "order": "1", "active": "true", "default": "false", "width": "300", "height": "300",
            "user_group": group.as_str()
        }),
    )
}

#[tokio::test]
async fn a_cti_configuration_shadowing_ours_for_one_agent_fails_naming_the_agent() {
    let p = pair().await;
    add_cti_for(&p, "agent.2");
    let plan = workflow(&p, "", None).plan().await.unwrap();
    let openframe = plan.step(StepId::OPENFRAME).unwrap();
    assert!(
        openframe
            .warnings
            .iter()
            .any(|w| w.contains("\"CTI\" (order 1)")),
        "{plan}"
    );
    workflow(&p, "", None).apply().await.unwrap();
    let report = knowing_secret(&p, "").verify().await.unwrap();
    let c = check(&report, AGENTS_CHECK);
    assert_eq!(c.status, Status::Failed, "{report}");
    assert!(
        c.detail.contains("agent.2 gets \"CTI\" (order 1)"),
        "{}",
        c.detail
    );
    assert!(
        !c.detail.contains("agent.1 gets"),
        "only agent.2 is shadowed"
    );
    assert!(c.hint.as_deref().unwrap().contains("order = \"first\""));

    // `order = "first"`: plan shows the number, apply places ours ahead.
    let first = "[openframe]\norder = \"first\"\n";
    let plan = workflow(&p, first, None).plan().await.unwrap();
    let openframe = plan.step(StepId::OPENFRAME).unwrap();
    assert_eq!(openframe.action, Action::Update);
    let order = openframe
        .changes
        .iter()
        .find(|c| c.field == "order")
        .unwrap_or_else(|| panic!("{plan}"));
    assert_eq!(
        (order.old.as_deref(), order.new.as_str()),
        (Some("100"), "0")
    );
    let report = workflow(&p, first, None).apply().await.unwrap();
    let proof = report
        .proofs
        .iter()
        .find(|c| c.check == AGENTS_CHECK)
        .unwrap();
    assert_eq!(proof.status, Status::Ok, "{report}");
    assert!(
        proof.detail.contains("3 agents checked"),
        "{}",
        proof.detail
    );
    assert_all_proven(&knowing_secret(&p, first).verify().await.unwrap());
    // A second apply with order = "first" keeps the number: no churn.
    assert!(
        !workflow(&p, first, None)
            .plan()
            .await
            .unwrap()
            .has_changes()
    );
}

#[tokio::test]
async fn a_fresh_configuration_with_order_first_goes_ahead_of_cti() {
    let p = pair().await;
    let cti = add_cti_for(&p, "agent.1");
    let first = "[openframe]\norder = \"first\"\n";
    let plan = workflow(&p, first, None).plan().await.unwrap();
    let order = plan
        .step(StepId::OPENFRAME)
        .unwrap()
        .changes
        .iter()
        .find(|c| c.field == "order")
        .unwrap()
        .clone();
    assert_eq!((order.old, order.new.as_str()), (None, "0"));
    workflow(&p, first, None).apply().await.unwrap();
    let rows: Vec<JsonRecord> = p.sn.table("sn_openframe_configuration");
    let ours = rows.iter().find(|r| r["name"] != "CTI").unwrap();
    assert_eq!(ours["order"], "0");
    // CTI's own row is untouched.
    assert_eq!(
        p.sn.record("sn_openframe_configuration", &cti).unwrap()["order"],
        "1"
    );
}

#[tokio::test]
async fn an_instance_that_ignores_a_supplied_sys_id_is_recorded_as_it_answered() {
    let p = pair().await;
    p.sn.set_ignore_supplied_sys_ids(true);
    let wf = workflow(&p, "", None);
    let report = wf.apply().await.unwrap();
    for step in [StepId::OPENFRAME, StepId::CORS, StepId::OAUTH_ENDPOINT] {
        let detail = &report.step(step.clone()).unwrap().detail;
        assert!(
            detail.contains("the instance ignored the supplied sys_id"),
            "{step}: {detail}"
        );
    }
    // The ledger holds the real ids: teardown removes exactly those records.
    let removed = wf.teardown().await.unwrap();
    assert!(
        p.sn.table("sn_openframe_configuration").is_empty(),
        "{removed}"
    );
    assert!(p.sn.table("sys_cors_rule").is_empty(), "{removed}");
    assert!(p.sn.table("oauth_entity").is_empty(), "{removed}");
}

#[tokio::test]
async fn rotate_secret_hands_a_working_secret_to_a_person_and_the_old_one_stops() {
    let p = pair().await;
    workflow(&p, "", None).apply().await.unwrap();
    let old = p.sn.table("oauth_entity")[0]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    // A later run that never saw the secret: rotate it.
    let mut rotation = workflow(&p, "", None).rotate_secret().await.unwrap();
    let shown = rotation.to_string();
    assert!(
        shown.contains(brightpattern_servicenow::report::MASK),
        "{shown}"
    );
    use brightpattern_servicenow::report::RevealSecrets as _;
    rotation.reveal_secrets();
    let json = serde_json::to_value(&rotation).unwrap();
    let new = json["manual"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["label"] == "Client Secret")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new, old);
    assert_eq!(p.sn.table("oauth_entity")[0]["client_secret"], new.as_str());
    // The new one proves the round trip; the old one no longer does.
    let proven = workflow(&p, "", Some(new)).verify().await.unwrap();
    assert_eq!(check(&proven, OAUTH_CHECK).status, Status::Ok, "{proven}");
    let stale = workflow(&p, "", Some(old)).verify().await.unwrap();
    assert_eq!(check(&stale, OAUTH_CHECK).status, Status::Failed, "{stale}");
}

#[tokio::test]
async fn rotate_secret_refuses_an_application_it_cannot_prove_its_own() {
    let p = pair().await;
    p.sn.client_as_admin()
        .oauth_applications()
        .create(&servicenow_client::oauth::NewOAuthApplication::new(
            "Bright Pattern",
        ))
        .await
        .unwrap();
    let before = p.sn.table("oauth_entity")[0]["client_secret"].clone();
    let err = workflow(&p, "", None).rotate_secret().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("exists and was not made by bp-servicenow"),
        "{err}"
    );
    assert_eq!(p.sn.table("oauth_entity")[0]["client_secret"], before);
}
