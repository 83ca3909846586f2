//! Teardown decides what to delete or restore from the spec and the record
//! itself, never from a value read back alone: every ledger field a delete or
//! restore uses, forged to point at someone else's record, deletes and changes
//! nothing of theirs, and the disagreement is reported.

mod common;

use brightpattern_servicenow::ledger::{Ledger, LedgerStore};
use brightpattern_servicenow::report::{Removal, RemovalOutcome};
use brightpattern_servicenow::{TeardownReport, Workflow};
use common::{Pair, pair, workflow};
use servicenow_client::wire::SysId;
use servicenow_fake::ALLOW_LIST_PROPERTY;

const PARTNER: &str = "https://partner.example.com";

/// The spec: users and a group, the CTI configuration and the CORS rule
/// adopted, one property created and one adopted, the account through the API.
const SPEC: &str = r#"
[openframe]
adopt = "CTI"
[cors]
name = "Legacy"
adopt = true
[access]
users = ["agent.1"]
groups = ["Agents"]
[integration_account]
api = "assumed"
[[properties]]
name = "x_vendor.created"
value = "on"
[[properties]]
name = "x_vendor.adopted"
value = "on"
"#;

/// Someone else's records, which no forged ledger may touch.
struct Foreign {
    config: SysId,
    rule: SysId,
    app: SysId,
    user_grant: SysId,
    group_grant: SysId,
    allow_list: SysId,
}

async fn applied() -> (Pair, Workflow, Foreign) {
    let p = pair().await;
    p.bp.set_integration_accounts_offered(true);
    p.sn.set_plugin_active("com.sn_openframe", true);
    p.sn.insert(
        "sn_openframe_configuration",
        serde_json::json!({"name": "CTI", "url": "/$cti.do", "order": "1", "active": "true"}),
    );
    let config = p.sn.insert(
        "sn_openframe_configuration",
        serde_json::json!({"name": "Other", "url": "https://other.example.com", "order": "500", "active": "false"}),
    );
    let api = p.sn.table("sys_ws_definition")[0]["sys_id"]
        .as_str()
        .unwrap()
        .to_owned();
    p.sn.insert(
        "sys_cors_rule",
        serde_json::json!({"name": "Legacy", "domain": "https://legacy.example.com", "rest_api": api}),
    );
    let rule = p.sn.insert(
        "sys_cors_rule",
        serde_json::json!({"name": "Partner", "domain": PARTNER, "rest_api": api, "post": "true"}),
    );
    let app =
        p.sn.register_oauth_client("Partner app", "partner-id", "partner-secret");
    let user_grant = p.sn.grant_role_to_user("agent.2", "sn_openframe_user");
    p.sn.add_group("Partners");
    let group_grant = p.sn.grant_role_to_group("Partners", "sn_openframe_user");
    p.sn.set_property(ALLOW_LIST_PROPERTY, PARTNER);
    p.sn.set_property("x_vendor.adopted", "off");
    let allow_list = SysId::parse(
        p.sn.table("sys_properties")
            .iter()
            .find(|r| r["name"] == ALLOW_LIST_PROPERTY)
            .unwrap()["sys_id"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let wf = workflow(&p, SPEC);
    let report = wf.apply().await.unwrap();
    assert!(report.changed_anything(), "{report}");
    (
        p,
        wf,
        Foreign {
            config,
            rule,
            app,
            user_grant,
            group_grant,
            allow_list,
        },
    )
}

/// Rewrites the ledger as someone with write access to it might.
async fn forge(p: &Pair, wf: &Workflow, change: impl FnOnce(&mut Ledger)) {
    let store = LedgerStore::new(p.sn.client_as_admin(), wf.context().ledger_key().clone());
    let mut ledger = store.load().await.unwrap().unwrap();
    change(&mut ledger);
    store.save(&ledger).await.unwrap();
}

/// Tears down, and gives the report and the records left alone.
async fn teardown(wf: &Workflow) -> (TeardownReport, Vec<Removal>) {
    let report = wf.teardown().await.unwrap();
    let left = report
        .removals()
        .filter(|r| r.outcome == RemovalOutcome::LeftAlone)
        .cloned()
        .collect();
    (report, left)
}

fn mentions(left: &[Removal], text: &str) -> bool {
    left.iter()
        .any(|r| r.detail.contains(text) || r.resource.contains(text))
}

#[tokio::test]
async fn a_forged_allow_list_entry_removes_no_entry() {
    let (p, wf, foreign) = applied().await;
    forge(&p, &wf, |l| l.allow_list_entry = Some(PARTNER.to_owned())).await;
    let (report, left) = teardown(&wf).await;
    let listed = p.sn.table("sys_properties");
    let value = listed
        .iter()
        .find(|r| r["name"] == ALLOW_LIST_PROPERTY)
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        value.contains(PARTNER),
        "the partner's entry stays: {value}"
    );
    assert!(
        value.contains(p.bp.url().as_str()),
        "ours stays too: the ledger and the spec disagree ({value})"
    );
    assert!(
        mentions(&left, "the ledger and the spec disagree"),
        "{report}"
    );
    // The partner's rule and application were never ours, forged or not.
    assert!(p.sn.record("sys_cors_rule", &foreign.rule).is_some());
    assert!(p.sn.record("oauth_entity", &foreign.app).is_some());
}

#[tokio::test]
async fn a_forged_configuration_or_adopted_configuration_is_neither_deleted_nor_changed() {
    let (p, wf, foreign) = applied().await;
    let before = p.sn.record("sn_openframe_configuration", &foreign.config);
    let config = foreign.config.clone();
    forge(&p, &wf, move |l| {
        let adopted = l.openframe_adopted.as_mut().unwrap();
        adopted.sys_id = config;
        adopted
            .previous
            .insert("name".into(), "Renamed by a forged ledger".into());
    })
    .await;
    let (report, left) = teardown(&wf).await;
    assert_eq!(
        p.sn.record("sn_openframe_configuration", &foreign.config),
        before,
        "{report}"
    );
    assert!(mentions(&left, "not the adopted one"), "{report}");

    // The created configuration pointed at someone else's.
    let (p, wf, foreign) = applied().await;
    let config = foreign.config.clone();
    forge(&p, &wf, move |l| l.openframe = Some(config)).await;
    let (report, left) = teardown(&wf).await;
    assert!(
        p.sn.record("sn_openframe_configuration", &foreign.config)
            .is_some()
    );
    assert!(mentions(&left, "not ours"), "{report}");
}

#[tokio::test]
async fn adopted_values_are_restored_only_for_the_fields_the_step_sets() {
    let (p, wf, _) = applied().await;
    forge(&p, &wf, |l| {
        l.cors_adopted
            .as_mut()
            .unwrap()
            .previous
            .insert("name".into(), "Hijacked".into());
        l.openframe_adopted
            .as_mut()
            .unwrap()
            .previous
            .insert("name".into(), "Hijacked".into());
    })
    .await;
    let (report, _) = teardown(&wf).await;
    for table in ["sys_cors_rule", "sn_openframe_configuration"] {
        assert!(
            !p.sn.table(table).iter().any(|r| r["name"] == "Hijacked"),
            "{table}: {report}"
        );
    }
    let restored: Vec<&Removal> = report
        .removals()
        .filter(|r| r.outcome == RemovalOutcome::Restored)
        .collect();
    assert_eq!(
        restored.len(),
        2 + 1,
        "CTI, the rule and the property: {report}"
    );
    assert!(
        restored
            .iter()
            .filter(|r| r.detail.contains("the ledger also names name"))
            .count()
            == 2,
        "{report}"
    );
    // The adopted ones are as before apply.
    let cti =
        p.sn.table("sn_openframe_configuration")
            .into_iter()
            .find(|r| r["name"] == "CTI")
            .unwrap();
    assert_eq!(cti["url"], "/$cti.do");
}

#[tokio::test]
async fn forged_grants_delete_no_one_else_s_grant() {
    let (p, wf, foreign) = applied().await;
    let (user, group) = (foreign.user_grant.clone(), foreign.group_grant.clone());
    forge(&p, &wf, move |l| {
        // Another user's grant under a listed name, and under a name no one has;
        // another group's grant under the listed group's name.
        l.user_grants.insert("agent.1".into(), user.clone());
        l.user_grants.insert("agent.9".into(), user);
        l.group_grants.insert("Agents".into(), group);
    })
    .await;
    let (report, left) = teardown(&wf).await;
    assert!(
        p.sn.record("sys_user_has_role", &foreign.user_grant)
            .is_some()
    );
    assert!(
        p.sn.record("sys_group_has_role", &foreign.group_grant)
            .is_some()
    );
    assert!(
        mentions(
            &left,
            "not a direct grant of sn_openframe_user to the user agent.1"
        ),
        "{report}"
    );
    assert!(
        mentions(
            &left,
            "not a direct grant of sn_openframe_user to the user agent.9"
        ),
        "{report}"
    );
    assert!(
        mentions(
            &left,
            "not a direct grant of sn_openframe_user to the group Agents"
        ),
        "{report}"
    );
}

#[tokio::test]
async fn a_forged_rule_or_application_is_not_deleted() {
    let p = pair().await;
    p.sn.set_plugin_active("com.sn_openframe", true);
    let api = p.sn.table("sys_ws_definition")[0]["sys_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rule = p.sn.insert(
        "sys_cors_rule",
        serde_json::json!({"name": "Partner", "domain": PARTNER, "rest_api": api, "post": "true"}),
    );
    let app =
        p.sn.register_oauth_client("Partner app", "partner-id", "partner-secret");
    let wf = workflow(&p, "[access]\nusers = [\"agent.1\"]\n");
    wf.apply().await.unwrap();
    let (r, a) = (rule.clone(), app.clone());
    forge(&p, &wf, move |l| {
        l.cors_rule = Some(r);
        l.oauth_application = Some(a);
    })
    .await;
    let (report, left) = teardown(&wf).await;
    assert!(p.sn.record("sys_cors_rule", &rule).is_some(), "{report}");
    assert!(p.sn.record("oauth_entity", &app).is_some(), "{report}");
    assert!(left.len() >= 2, "{report}");
}

#[tokio::test]
async fn a_forged_account_name_or_property_deletes_nothing_of_theirs() {
    let (p, wf, foreign) = applied().await;
    // Someone else's account on the tenant.
    p.bp.client()
        .integration_accounts()
        .create(
            &brightpattern_client::integration_accounts::ServiceNowAccountSpec {
                name: "Partner".into(),
                default: false,
                instance_url: brightpattern_client::Origin::parse(
                    "https://partner.service-now.com",
                )
                .unwrap(),
                client_id: "partner-id".into(),
                client_secret: "partner-secret".into(),
            },
        )
        .await
        .unwrap();
    let allow_list = foreign.allow_list.clone();
    forge(&p, &wf, move |l| {
        l.integration_account = Some("Partner".into());
        let section = l.steps.get_mut("properties").unwrap();
        section["created"][ALLOW_LIST_PROPERTY] = serde_json::json!(allow_list.as_str());
        section["adopted"]["glide.ui.session_timeout"] =
            serde_json::json!([allow_list.as_str(), "30"]);
    })
    .await;
    let (report, left) = teardown(&wf).await;
    assert!(
        p.bp.accounts().iter().any(|a| a.name == "Partner"),
        "{report}"
    );
    assert!(
        p.sn.record("sys_properties", &foreign.allow_list).is_some(),
        "{report}"
    );
    assert!(mentions(&left, "[[properties]] does not"), "{report}");
    assert!(
        left.iter()
            .filter(|r| r.detail.contains("[[properties]] does not"))
            .count()
            == 2,
        "{report}"
    );
}
