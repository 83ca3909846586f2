//! The CI/CD API (application install, progress), the release read from build
//! properties, and which roles a user holds — each call checked on the wire
//! against a local server.

mod common;

use common::{SYS_ID, basic_client, basic_header};
use servicenow_client::Error;
use servicenow_client::applications::{ApplicationSource, InstallRequest};
use servicenow_client::plugins::{ProgressStatus, WaitOptions};
use servicenow_client::release::Family;
use wiremock::matchers::{body_string, header, method, path, query_param, query_param_contains};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PROGRESS: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn empty_list() -> ResponseTemplate {
    list(serde_json::json!([]))
}

/// A list answer as the platform sends it: the rows and their total.
fn list(rows: serde_json::Value) -> ResponseTemplate {
    let total = rows.as_array().map_or(0, Vec::len);
    ResponseTemplate::new(200)
        .insert_header("X-Total-Count", total.to_string().as_str())
        .set_body_json(serde_json::json!({ "result": rows }))
}

async fn mount_app_tables(server: &MockServer, store: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_store_app"))
        .and(query_param_contains("sysparm_query", "scope=x_bp_omni"))
        .and(header("authorization", basic_header().as_str()))
        .respond_with(list(store))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_app"))
        .and(query_param_contains("sysparm_query", "scope=x_bp_omni"))
        .respond_with(empty_list())
        .mount(server)
        .await;
}

#[tokio::test]
async fn an_install_posts_scope_and_version_and_polls_its_progress() {
    let server = MockServer::start().await;
    mount_app_tables(&server, serde_json::json!([])).await;
    Mock::given(method("POST"))
        .and(path("/api/sn_cicd/app_repo/install"))
        .and(query_param("scope", "x_bp_omni"))
        .and(query_param("version", "2.1.0"))
        .and(header("accept", "application/json"))
        .and(header("authorization", basic_header().as_str()))
        .and(body_string(""))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"result": {
            "links": {"progress": {"id": PROGRESS, "url": format!("{}/api/sn_cicd/progress/{PROGRESS}", server.uri())}},
            "status": "0", "status_label": "Pending", "percent_complete": 0
        }})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/sn_cicd/progress/{PROGRESS}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"result": {
                "status": "2", "status_label": "Successful", "status_message": "Installed",
                "percent_complete": 100
            }})),
        )
        .expect(1)
        .mount(&server)
        .await;

    let apps = basic_client(&server).applications();
    let request = InstallRequest::new("x_bp_omni")
        .unwrap()
        .version("2.1.0")
        .unwrap();
    let operation = apps.install(&request).await.unwrap();
    assert_eq!(operation.progress_id(), Some(PROGRESS));
    assert_eq!(
        operation.operation(),
        "install of application x_bp_omni 2.1.0"
    );
    let done = operation.wait(&WaitOptions::fast(), |_| {}).await.unwrap();
    assert_eq!(done.status, ProgressStatus::Successful);
    assert_eq!(done.percent_complete, 100);
}

#[tokio::test]
async fn an_application_installed_at_the_version_starts_nothing() {
    let server = MockServer::start().await;
    mount_app_tables(
        &server,
        serde_json::json!([{"sys_id": SYS_ID, "scope": "x_bp_omni", "name": "Omni", "version": "2.1.0", "active": "true"}]),
    )
    .await;
    let apps = basic_client(&server).applications();
    let installed = apps.installed("x_bp_omni").await.unwrap().unwrap();
    assert_eq!(installed.source, ApplicationSource::Store);
    assert_eq!(
        (installed.version.as_str(), installed.active),
        ("2.1.0", true)
    );
    let request = InstallRequest::new("x_bp_omni").unwrap();
    assert!(apps.install(&request).await.unwrap().is_unnecessary());
    let at_version = request.version("2.1.0").unwrap();
    assert!(apps.install(&at_version).await.unwrap().is_unnecessary());
    let posts = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 0);
}

#[tokio::test]
async fn a_refused_install_quotes_the_instance_in_both_places_it_can_say_so() {
    // Refused at the start: the text is inside `result`.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/sn_cicd/app_repo/install"))
        .and(query_param("scope", "x_bp_omni"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(serde_json::json!({"result": {
                "status": "3", "status_message": "Failed",
                "error": "No application with scope x_bp_omni in the application repository"
            }})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let apps = basic_client(&server).applications();
    let err = apps
        .start_install(&InstallRequest::new("x_bp_omni").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(
        err.to_string()
            .contains("No application with scope x_bp_omni"),
        "{err}"
    );

    // Failed while running (not entitled): the progress carries the message.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/sn_cicd/app_repo/install"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"result": {
                "links": {"progress": {"id": PROGRESS}}, "status": "0"
            }})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/sn_cicd/progress/{PROGRESS}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"result": {
                "status": "3", "status_message": "Failed",
                "error": "The instance is not entitled to the application"
            }})),
        )
        .mount(&server)
        .await;
    let err = basic_client(&server)
        .applications()
        .start_install(&InstallRequest::new("x_bp_omni").unwrap())
        .await
        .unwrap()
        .wait(&WaitOptions::fast(), |_| {})
        .await
        .unwrap_err();
    let Error::OperationFailed {
        operation, message, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(operation, "install of application x_bp_omni");
    assert_eq!(
        message.as_deref(),
        Some("The instance is not entitled to the application")
    );
}

#[tokio::test]
async fn bad_scopes_and_versions_send_nothing() {
    let server = MockServer::start().await;
    let apps = basic_client(&server).applications();
    assert!(apps.installed("x_bp&version=1").await.is_err());
    assert!(InstallRequest::new("X").is_err());
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_release_is_read_from_the_build_properties_in_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_properties"))
        .and(query_param_contains(
            "sysparm_query",
            "nameINglide.buildname,glide.war,glide.buildtag",
        ))
        .and(header("authorization", basic_header().as_str()))
        .respond_with(list(serde_json::json!([
            {"sys_id": SYS_ID, "name": "glide.war", "value": "glide-zurich-07-01-2025__patch2-10-01-2025_10-02-2025_1200.zip", "type": "string"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let release = basic_client(&server).release().await.unwrap();
    assert_eq!(release.family, Some(Family::Zurich));
    assert_eq!(release.patch.as_deref(), Some("Patch 2"));
    assert_eq!(release.at_least(Family::Zurich), Some(true));
    assert_eq!(release.to_string(), "Zurich Patch 2");
}

#[tokio::test]
async fn held_roles_are_read_from_the_user_and_the_grants_in_one_round_trip() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .and(query_param_contains("sysparm_query", "user_name=ops"))
        .respond_with(list(serde_json::json!([
            {"sys_id": SYS_ID, "user_name": "ops", "active": "true"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user_has_role"))
        .and(query_param_contains(
            "sysparm_query",
            "user.user_name=ops^role.nameINadmin,sn_cicd.sys_ci_automation,oauth_admin",
        ))
        .and(query_param(
            "sysparm_fields",
            "user.user_name,role.name,state",
        ))
        .and(header("authorization", basic_header().as_str()))
        .respond_with(list(serde_json::json!([
            // Inherited through a group: held.
            {"user.user_name": "ops", "role.name": "sn_cicd.sys_ci_automation", "state": "active"},
            // A grant that is not active does not count.
            {"user.user_name": "ops", "role.name": "admin", "state": "pending"},
            // Another user's grant (had the instance ignored the walked term) does not count.
            {"user.user_name": "bob", "role.name": "oauth_admin", "state": "active"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let held = basic_client(&server)
        .roles()
        .held_by(
            "ops",
            &["admin", "sn_cicd.sys_ci_automation", "oauth_admin"],
        )
        .await
        .unwrap();
    assert_eq!(held, vec!["sn_cicd.sys_ci_automation".to_owned()]);

    // An unknown user is an error, not "holds nothing".
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(empty_list())
        .mount(&server)
        .await;
    let err = basic_client(&server)
        .roles()
        .held_by("ghost", &["admin"])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MissingRecord { .. }), "{err:?}");
}

#[tokio::test]
async fn clients_sharing_a_budget_take_turns() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_properties"))
        .respond_with(list(serde_json::json!([])))
        .expect(4)
        .mount(&server)
        .await;
    let budget = servicenow_client::RequestBudget::per_second(1000);
    let build = || {
        servicenow_client::Client::builder(
            common::instance(&server),
            servicenow_client::Credentials::basic("admin", common::PASSWORD),
        )
        .request_budget(budget.clone())
        .build()
        .unwrap()
    };
    let (a, b) = (build(), build());
    for client in [&a, &b, &a, &b] {
        client.release().await.unwrap();
    }
    // Every attempt of both clients went through the one budget.
    assert_eq!(budget.stats().acquired, 4);
}
