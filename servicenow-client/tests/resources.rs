//! Typed resources against the fake instance: create, find by natural key,
//! idempotent second call (no write), update, delete, and the error cases.

use std::time::Duration;

use servicenow_client::cors::{CorsDomain, CorsMethods, CorsRuleSpec};
use servicenow_client::oauth::NewOAuthApplication;
use servicenow_client::openframe::OpenFrameFields;
use servicenow_client::plugins::{PluginState, ProgressStatus, WaitOptions, ids};
use servicenow_client::properties::{Change, POST_MESSAGE_ALLOW_LIST};
use servicenow_client::roles::{GrantOutcome, RevokeOutcome};
use servicenow_client::{Error, ExposeSecret as _};
use servicenow_fake::{ADMIN_PASSWORD, ADMIN_USER, ActiveForm, FakeInstance};

const TENANT: &str = "https://example.brightpattern.com";

#[tokio::test]
async fn plugins_activate_once_and_report_progress() {
    for form in [ActiveForm::Active, ActiveForm::True, ActiveForm::One] {
        let sn = FakeInstance::start().await;
        sn.set_plugin_active_form(form);
        sn.set_activation_polls(4);
        let plugins = sn.client_as_admin().plugins();
        assert_eq!(
            plugins.state(ids::OPENFRAME).await.unwrap(),
            PluginState::Inactive
        );
        assert_eq!(
            plugins.state(ids::OAUTH2).await.unwrap(),
            PluginState::Active
        );
        assert_eq!(
            plugins.state("com.example.missing").await.unwrap(),
            PluginState::NotInstalled
        );

        let activation = plugins.activate(ids::OPENFRAME).await.unwrap();
        assert!(!activation.is_unnecessary());
        let mut seen = Vec::new();
        let done = activation
            .wait(&WaitOptions::fast(), |p| {
                seen.push((p.status, p.percent_complete))
            })
            .await
            .unwrap();
        assert_eq!(done.status, ProgressStatus::Successful);
        assert_eq!(seen.first(), Some(&(ProgressStatus::Running, 25)));
        assert_eq!(seen.last(), Some(&(ProgressStatus::Successful, 100)));
        assert_eq!(
            plugins.state(ids::OPENFRAME).await.unwrap(),
            PluginState::Active,
            "{form:?}"
        );
        assert!(
            plugins
                .table_exists("sn_openframe_configuration")
                .await
                .unwrap()
        );

        sn.clear_requests();
        let again = plugins.activate(ids::OPENFRAME).await.unwrap();
        assert!(again.is_unnecessary());
        assert!(
            again
                .wait(&WaitOptions::fast(), |_| {})
                .await
                .unwrap()
                .status
                .is_successful()
        );
        assert!(
            sn.requests().iter().all(|r| !r.path.contains("sn_cicd")),
            "no activation request"
        );
    }
}

#[tokio::test]
async fn plugin_failures_deadlines_and_missing_rights_are_typed_errors() {
    let sn = FakeInstance::start().await;
    sn.fail_plugin_activation(
        ids::CTI_SOFTPHONE,
        "Dependency com.glide.notify could not be loaded",
    );
    let plugins = sn.client_as_admin().plugins();
    let err = plugins
        .activate(ids::CTI_SOFTPHONE)
        .await
        .unwrap()
        .wait(&WaitOptions::fast(), |_| {})
        .await
        .unwrap_err();
    let Error::OperationFailed {
        state,
        message,
        detail,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(state, "Failed");
    // The text comes from `result.error`, where the documentation puts it.
    assert_eq!(
        message.as_deref(),
        Some("Dependency com.glide.notify could not be loaded")
    );
    assert_eq!(detail, &None);
    assert!(
        err.to_string().contains("activation of com.snc.cti"),
        "{err}"
    );

    sn.set_activation_polls(1_000);
    let options = WaitOptions::fast().deadline(Duration::from_millis(80));
    let err = plugins
        .activate(ids::CUSTOMER_SERVICE)
        .await
        .unwrap()
        .wait(&options, |_| {})
        .await
        .unwrap_err();
    let Error::DeadlineExceeded { last_state, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(last_state.starts_with("Running"), "{last_state}");

    // Queued behind an instance lock: not failed, it keeps running there.
    sn.queue_plugin_activation(ids::OPENFRAME);
    let activation = plugins.activate(ids::OPENFRAME).await.unwrap();
    let progress_id = activation.progress_id().unwrap().to_owned();
    let err = activation.wait(&options, |_| {}).await.unwrap_err();
    let Error::StillQueued {
        progress_id: said, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(said, &progress_id);
    let text = err.to_string();
    assert!(
        text.contains("still queued on the instance") && text.contains("not failed"),
        "{text}"
    );
    sn.allow_plugin_activation(ids::OPENFRAME);

    // Without the CI/CD feature every /api/sn_cicd/ path answers 405.
    sn.set_cicd_active(false);
    let err = plugins.activate(ids::OPENFRAME).await.unwrap_err();
    assert!(err.is_endpoint_unavailable(), "{err:?}");
    assert_eq!(err.status(), Some(405));
    assert!(
        err.to_string().contains("com.glide.continuousdelivery"),
        "{err}"
    );
    sn.set_cicd_active(true);

    sn.add_user_with_password("itil", "pw");
    let err = sn
        .client_as("itil", "pw")
        .plugins()
        .activate(ids::OPENFRAME)
        .await
        .unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    let err = plugins.activate("com.example.missing").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(plugins.activate("com.x/../y").await.is_err());
}

#[tokio::test]
async fn properties_are_written_only_when_they_change() {
    let sn = FakeInstance::start().await;
    let props = sn.client_as_admin().properties();
    sn.set_property(POST_MESSAGE_ALLOW_LIST, "https://other.example.com");

    let change = props
        .add_list_entry(POST_MESSAGE_ALLOW_LIST, TENANT)
        .await
        .unwrap();
    assert_eq!(
        change,
        Change::Updated {
            old: "https://other.example.com".into(),
            new: format!("https://other.example.com,{TENANT}")
        }
    );
    sn.clear_requests();
    assert_eq!(
        props
            .add_list_entry(POST_MESSAGE_ALLOW_LIST, TENANT)
            .await
            .unwrap(),
        Change::Unchanged
    );
    assert_eq!(
        props
            .set(
                POST_MESSAGE_ALLOW_LIST,
                &format!("https://other.example.com,{TENANT}")
            )
            .await
            .unwrap(),
        Change::Unchanged
    );
    assert_eq!(sn.write_count(), 0);

    props
        .remove_list_entry(POST_MESSAGE_ALLOW_LIST, TENANT)
        .await
        .unwrap();
    assert_eq!(
        props
            .value(POST_MESSAGE_ALLOW_LIST)
            .await
            .unwrap()
            .as_deref(),
        Some("https://other.example.com")
    );
    assert_eq!(
        props
            .remove_list_entry(POST_MESSAGE_ALLOW_LIST, TENANT)
            .await
            .unwrap(),
        Change::Unchanged
    );

    assert!(matches!(
        props.set("x.custom.flag", "true").await.unwrap(),
        Change::Created { .. }
    ));
    assert!(props.get("bad name").await.is_err());
    assert!(
        props
            .add_list_entry(POST_MESSAGE_ALLOW_LIST, "a,b")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn openframe_configurations_and_shadowing() {
    let sn = FakeInstance::start().await;
    // The table exists once the OpenFrame plugin is active.
    let early = sn
        .client_as_admin()
        .openframe_configurations()
        .get_by_name("x")
        .await;
    assert!(
        early
            .unwrap_err()
            .to_string()
            .contains("Invalid table sn_openframe_configuration")
    );
    sn.set_plugin_active(ids::OPENFRAME, true);
    let configs = sn.client_as_admin().openframe_configurations();
    let mut cti = OpenFrameFields::new("CTI", "https://cti.example.com");
    cti.order = 50;
    configs.create(&cti).await.unwrap();
    let mut ours = OpenFrameFields::new("Bright Pattern", format!("{TENANT}/agentdesktop/"));
    ours.title = "Agent Desktop".into();
    let created = configs.create(&ours).await.unwrap();
    assert_eq!(created.fields, ours);

    let found = configs
        .get_by_name("Bright Pattern")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.fields.width, 373);
    let shadows = configs.shadowing(&found).await.unwrap();
    assert_eq!(
        shadows
            .iter()
            .map(|c| c.fields.name.as_str())
            .collect::<Vec<_>>(),
        ["CTI"]
    );
    assert_eq!(
        configs.active_by_order().await.unwrap()[0].fields.name,
        "CTI"
    );

    let updated = configs
        .update(&found.sys_id, &serde_json::json!({"height": "750"}))
        .await
        .unwrap();
    assert_eq!(updated.fields.height, 750);
    configs.delete(&found.sys_id).await.unwrap();
    assert!(
        configs
            .get_by_name("Bright Pattern")
            .await
            .unwrap()
            .is_none()
    );

    let mut bad = OpenFrameFields::new("", "x");
    bad.width = 0;
    bad.title = "t".repeat(300);
    let err = configs.create(&bad).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("name is empty") && text.contains("above zero") && text.contains("256"),
        "{text}"
    );
}

#[tokio::test]
async fn user_grants_are_idempotent_and_inherited_roles_are_never_revoked() {
    let sn = FakeInstance::start().await;
    sn.add_user("agent.1");
    sn.add_user("agent.2");
    sn.add_group("Agents");
    sn.add_group_member("agent.2", "Agents");
    sn.grant_role_to_group("Agents", "sn_openframe_user");
    let roles = sn.client_as_admin().roles();

    let created = roles
        .grant_to_user("agent.1", "sn_openframe_user")
        .await
        .unwrap();
    assert!(matches!(created, GrantOutcome::Created(_)));
    sn.clear_requests();
    let again = roles
        .grant_to_user("agent.1", "sn_openframe_user")
        .await
        .unwrap();
    assert_eq!(
        again,
        GrantOutcome::AlreadyGranted(created.sys_id().clone())
    );
    assert_eq!(sn.write_count(), 0);

    let status = roles
        .user_status("agent.2", "sn_openframe_user")
        .await
        .unwrap();
    assert!(status.inherited_only(), "{status:?}");
    let revoked = roles
        .revoke_from_user("agent.2", "sn_openframe_user")
        .await
        .unwrap();
    assert!(
        matches!(revoked, RevokeOutcome::InheritedOnly { ref via_groups } if via_groups.len() == 1)
    );

    assert_eq!(
        roles
            .revoke_from_user("agent.1", "sn_openframe_user")
            .await
            .unwrap(),
        RevokeOutcome::Revoked(created.sys_id().clone())
    );
    assert_eq!(
        roles
            .revoke_from_user("agent.1", "sn_openframe_user")
            .await
            .unwrap(),
        RevokeOutcome::NotGranted
    );

    let err = roles
        .grant_to_user("nobody", "sn_openframe_user")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingRecord { key, .. } if key == "user_name=nobody"),
        "{err:?}"
    );
    assert!(err.is_not_found());
    let err = roles
        .grant_to_user("agent.1", "no_such_role")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    sn.add_user_with_password("itil", "pw");
    let err = sn
        .client_as("itil", "pw")
        .roles()
        .grant_to_user("agent.1", "sn_openframe_user")
        .await
        .unwrap_err();
    assert!(err.is_forbidden(), "{err}");
}

#[tokio::test]
async fn group_grants_are_idempotent() {
    let sn = FakeInstance::start().await;
    sn.add_group("Agents");
    let roles = sn.client_as_admin().roles();
    let created = roles
        .grant_to_group("Agents", "sn_openframe_user")
        .await
        .unwrap();
    sn.clear_requests();
    assert_eq!(
        roles
            .grant_to_group("Agents", "sn_openframe_user")
            .await
            .unwrap(),
        GrantOutcome::AlreadyGranted(created.sys_id().clone())
    );
    assert_eq!(sn.write_count(), 0);
    assert!(
        roles
            .group_grant("Agents", "sn_openframe_user")
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        roles
            .revoke_from_group("Agents", "sn_openframe_user")
            .await
            .unwrap(),
        RevokeOutcome::Revoked(_)
    ));
    assert_eq!(
        roles
            .revoke_from_group("Agents", "sn_openframe_user")
            .await
            .unwrap(),
        RevokeOutcome::NotGranted
    );
    assert!(
        roles
            .grant_to_group("Nobody", "sn_openframe_user")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn bulk_grant_to_a_thousand_users_takes_few_round_trips() {
    let sn = FakeInstance::start().await;
    let names: Vec<String> = (0..1000).map(|i| format!("agent.{i:04}")).collect();
    for n in &names {
        sn.add_user(n);
    }
    // Some already have it, some names are unknown.
    for n in &names[..10] {
        sn.grant_role_to_user(n, "sn_openframe_user");
    }
    let mut asked = names.clone();
    asked.push("ghost.1".into());
    asked.push("agent.0001".into()); // a duplicate is granted once
    let client = sn.client_as_admin();
    sn.clear_requests();
    let report = client
        .roles()
        .grant_to_users(&asked, "sn_openframe_user")
        .await
        .unwrap();
    assert_eq!(report.created.len(), 990);
    assert_eq!(report.already_granted.len(), 10);
    assert_eq!(report.unknown_users, ["ghost.1"]);
    assert!(report.is_complete());
    let round_trips = sn.round_trips();
    assert!(round_trips < 60, "{round_trips} round trips");
    let grants = sn.table("sys_user_has_role");
    assert_eq!(
        grants.len(),
        1000 + 1,
        "one grant per user, plus the admin's"
    );

    sn.clear_requests();
    let again = client
        .roles()
        .grant_to_users(&names, "sn_openframe_user")
        .await
        .unwrap();
    assert_eq!(
        (again.created.len(), again.already_granted.len()),
        (0, 1000)
    );
    assert_eq!(sn.write_count(), 0);
}

#[tokio::test]
async fn bulk_grant_sends_unserviced_items_again() {
    let sn = FakeInstance::start().await;
    let names: Vec<String> = (0..30).map(|i| format!("u{i}")).collect();
    for n in &names {
        sn.add_user(n);
    }
    sn.set_batch_service_limit(Some(12));
    let report = sn
        .client_as_admin()
        .roles()
        .grant_to_users(&names, "sn_openframe_user")
        .await
        .unwrap();
    // 30 creates, 12 serviced per batch: 12 + 12 + 6 over three rounds, and only
    // because the unserviced ones are sent again.
    assert_eq!(report.created.len(), 30, "{:?}", report.failed);
    assert_eq!(sn.table("sys_user_has_role").len() - 1, 30);

    // With too few rounds to finish, the rest are reported, never dropped.
    let more: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
    for n in &more {
        sn.add_user(n);
    }
    sn.set_batch_service_limit(Some(5));
    let report = sn
        .client_as_admin()
        .roles()
        .grant_to_users(&more, "sn_openframe_user")
        .await
        .unwrap();
    assert_eq!(report.created.len(), 15);
    assert_eq!(report.failed.len(), 25);
    assert!(
        report
            .failed
            .iter()
            .all(|(_, e)| matches!(e, Error::BatchItemUnserviced { .. }))
    );
    assert!(!report.is_complete());
}

#[tokio::test]
async fn cors_rules_cover_the_tenant_on_the_table_api() {
    let sn = FakeInstance::start().await;
    let rules = sn.client_as_admin().cors_rules();
    let spec = CorsRuleSpec::new("Bright Pattern", CorsDomain::parse(TENANT).unwrap())
        .methods(CorsMethods::POST)
        .allow_headers(["Access-Control-Allow-Origin"])
        .max_age(600);
    let rule = rules.create(&spec).await.unwrap();
    let table_api = rules.table_api().await.unwrap();
    assert_eq!(rule.rest_api.sys_id(), Some(table_api.as_str()));
    assert_eq!(rule.methods(), CorsMethods::POST);
    assert!(rule.allows_header("access-control-allow-origin"));
    assert_eq!(rule.max_age, Some(600));
    assert!(rule.active);

    let found = rules.get_by_name("Bright Pattern").await.unwrap().unwrap();
    assert_eq!(found, rule);
    let patched = rules
        .patch(&rule.sys_id, &serde_json::json!({"post": "false"}))
        .await
        .unwrap();
    assert!(!patched.post);
    let repaired = rules.update(&rule.sys_id, &spec).await.unwrap();
    assert!(repaired.post);
    rules.delete(&rule.sys_id).await.unwrap();
    assert!(rules.get_by_name("Bright Pattern").await.unwrap().is_none());

    assert!(CorsDomain::parse("example.brightpattern.com").is_err());
    let wildcard = CorsRuleSpec::new(
        "w",
        CorsDomain::parse("https://*.brightpattern.com").unwrap(),
    )
    .allow_credentials(true);
    let before = sn.requests().len();
    assert!(matches!(
        rules.create(&wildcard).await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(sn.requests().len(), before, "no request for invalid input");
}

#[tokio::test]
async fn oauth_applications_keep_their_secret_write_only() {
    let sn = FakeInstance::start().await;
    let client = sn.client_as_admin();
    let apps = client.oauth_applications();
    let created = apps
        .create(&NewOAuthApplication::new("Bright Pattern").comments("managed by bp-servicenow"))
        .await
        .unwrap();
    let secret = created.client_secret.expose_secret().to_owned();
    assert!(!format!("{created:?}").contains(&secret));
    assert_eq!(created.application.application_type, "client");
    assert_eq!(created.application.access_token_lifespan, Some(1800));

    let found = apps.get_by_name("Bright Pattern").await.unwrap().unwrap();
    assert_eq!(found.client_id, created.application.client_id);
    let updated = apps
        .update_lifespans(&found.sys_id, 900, 86_400)
        .await
        .unwrap();
    assert_eq!(
        (
            updated.access_token_lifespan,
            updated.refresh_token_lifespan
        ),
        (Some(900), Some(86_400))
    );
    apps.update_redirect_url(&found.sys_id, "https://example.brightpattern.com/cb")
        .await
        .unwrap();

    // The generated secret works for the password grant, and the refresh grant.
    let tokens = client.oauth_tokens(&created.credentials()).unwrap();
    let token = tokens
        .password(ADMIN_USER, &ADMIN_PASSWORD.into())
        .await
        .unwrap();
    let refreshed = tokens
        .refresh(token.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    assert!(refreshed.refresh_token.is_none());

    let err = tokens
        .password(ADMIN_USER, &"wrong".into())
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("access_denied") && text.contains("password grant being disabled"),
        "{text}"
    );
    assert!(!text.contains(&secret));

    apps.delete(&found.sys_id).await.unwrap();
    assert!(
        tokens
            .refresh(token.refresh_token.as_ref().unwrap())
            .await
            .unwrap_err()
            .is_authentication()
    );

    let err = apps
        .create(&NewOAuthApplication::new("x").lifespans(0, 10))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
}

#[tokio::test]
async fn the_fake_installs_offered_applications_and_refuses_without_entitlement() {
    use servicenow_client::applications::InstallRequest;
    let sn = FakeInstance::start().await;
    sn.offer_application("x_bp_omni", "Omnichannel", "2.0.0");
    sn.offer_application("x_bp_omni", "Omnichannel", "2.1.0");
    let apps = sn.client_as_admin().applications();
    let request = InstallRequest::new("x_bp_omni").unwrap();

    sn.set_store_entitlement(false);
    let err = apps
        .install(&request)
        .await
        .unwrap()
        .wait(&WaitOptions::fast(), |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not entitled"), "{err}");
    assert!(apps.installed("x_bp_omni").await.unwrap().is_none());

    sn.set_store_entitlement(true);
    apps.install(&request)
        .await
        .unwrap()
        .wait(&WaitOptions::fast(), |_| {})
        .await
        .unwrap();
    // Without a version, the latest offered.
    assert_eq!(
        apps.installed("x_bp_omni").await.unwrap().unwrap().version,
        "2.1.0"
    );
    let unknown = apps
        .install(&InstallRequest::new("x_other").unwrap())
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("x_other"), "{unknown}");

    sn.queue_application_install("x_bp_omni");
    let queued = apps
        .start_install(&request.version("2.0.0").unwrap())
        .await
        .unwrap()
        .wait(
            &WaitOptions::fast().deadline(std::time::Duration::from_millis(50)),
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(queued, Error::StillQueued { .. }), "{queued:?}");
    let release = sn.client_as_admin().release().await.unwrap();
    assert_eq!(release.to_string(), "Washington DC Patch 4");
}
