//! The Bright Pattern client against wiremock: what is sent, what comes back.

use std::time::Duration;

use brightpattern_client::agent_desktop::PageVerdict;
use brightpattern_client::error::integrity_property;
use brightpattern_client::integration_accounts::{
    IntegrationAccountPaths, RefreshTokenState, ServiceNowAccountSpec,
};
use brightpattern_client::users::{User, UserUpdate};
use brightpattern_client::{
    ApiCredentials, Client, Error, Origin, RetryPolicy, SecretString, TenantParameter, TenantUrl,
};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const SECRET: &str = "api-secret-never-shown";
const CLIENT_SECRET: &str = "oauth-client-secret-never-shown";

struct Form(Vec<(&'static str, &'static str)>);

impl Match for Form {
    fn matches(&self, request: &Request) -> bool {
        let mut got: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let mut want: Vec<(String, String)> = self
            .0
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        got.sort();
        want.sort();
        got == want
    }
}

fn client(server: &MockServer) -> Client {
    Client::builder(
        TenantUrl::parse(&server.uri()).unwrap(),
        ApiCredentials::new("api.admin", SECRET),
    )
    .retry_policy(
        RetryPolicy::default()
            .with_initial_backoff(Duration::from_millis(1))
            .with_max_attempts(2),
    )
    .build()
    .unwrap()
}

async fn mount_token(server: &MockServer, expires_in: serde_json::Value) {
    Mock::given(method("POST"))
        .and(path("/configapi/v2/oauth/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(Form(vec![
            ("grant_type", "client_credentials"),
            ("client_id", "api.admin"),
            ("client_secret", SECRET),
            ("scope", "127.0.0.1"),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "bp-token", "token_type": "Bearer", "expires_in": expires_in, "scope": "127.0.0.1"
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn the_token_is_requested_with_the_tenant_as_scope_and_expires_in_as_string_or_number() {
    for expires_in in [serde_json::json!("3600"), serde_json::json!(3600)] {
        let server = MockServer::start().await;
        mount_token(&server, expires_in).await;
        Mock::given(method("GET"))
            .and(path("/configapi/v2/team"))
            .and(header("authorization", "Bearer bp-token"))
            .and(header("accept", "application/json"))
            .and(header(
                "user-agent",
                concat!("brightpattern-client/", env!("CARGO_PKG_VERSION")),
            ))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!([{"name": "Support", "id": 7}])),
            )
            .expect(2)
            .mount(&server)
            .await;
        let client = client(&server);
        let teams = client.teams().list().await.unwrap();
        assert_eq!(teams[0].name, "Support");
        assert_eq!(teams[0].other["id"], 7);
        client.teams().list().await.unwrap(); // the token is cached
    }
}

#[tokio::test]
async fn older_tenants_get_a_tenant_parameter() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/configapi/v2/oauth/token"))
        .and(Form(vec![
            ("grant_type", "client_credentials"),
            ("client_id", "api.admin"),
            ("client_secret", SECRET),
            ("tenant", "127.0.0.1"),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "t", "token_type": "bearer", "expires_in": "60"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
        .mount(&server)
        .await;
    let client = Client::builder(
        TenantUrl::parse(&server.uri()).unwrap(),
        ApiCredentials::new("api.admin", SECRET),
    )
    .tenant_parameter(TenantParameter::Tenant)
    .build()
    .unwrap();
    assert!(client.teams().list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_rejected_client_is_an_authentication_error_without_the_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/configapi/v2/oauth/token"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"error": "invalid_client"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client.teams().list().await.unwrap_err();
    let Error::Authentication(auth) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(auth.error, "invalid_client");
    let text = format!("{err} {err:?} {client:?}");
    assert!(!text.contains(SECRET), "{text}");
}

#[tokio::test]
async fn user_calls_send_typed_bodies() {
    let server = MockServer::start().await;
    mount_token(&server, serde_json::json!("3600")).await;
    Mock::given(method("POST"))
        .and(path("/configapi/v2/user"))
        .and(header("content-type", "application/json"))
        .and(body_json(serde_json::json!({"loginId": "agent.007", "firstName": "James", "team": "Support", "roles": ["Agent"]})))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/configapi/v2/user/agent%20007%2Fx"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "loginId": "agent 007/x", "firstName": "James", "disabled": false, "extension": "1007",
            "skills": {"Support": 100}
        })))
        .expect(1)
        .mount(&server)
        .await;
    // Only the documented updatable fields travel.
    Mock::given(method("PUT"))
        .and(path("/configapi/v2/user/agent%20007%2Fx"))
        .and(body_json(
            serde_json::json!({"skills": {"Billing": 50, "Support": 100}, "team": "Sales"}),
        ))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/configapi/v2/user/agent.007"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/configapi/v2/user/lock/agent.007"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"lockedOut": "true"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/configapi/v2/user/lock/agent.007"))
        .and(body_json(serde_json::json!({"lockedOut": false})))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;

    let users = client(&server).users();
    let mut user = User::new("agent.007");
    user.first_name = Some("James".into());
    user.team = Some("Support".into());
    user.roles = vec!["Agent".into()];
    users.create(&user).await.unwrap();

    let odd = users.get("agent 007/x").await.unwrap();
    assert_eq!(odd.other["extension"], "1007", "unknown fields are kept");
    assert_eq!(odd.skills.get("Support"), Some(&100));
    let mut skills = odd.skills.clone();
    skills.insert("Billing".into(), 50);
    users
        .update(
            "agent 007/x",
            &UserUpdate::new().skills(skills).team("Sales"),
        )
        .await
        .unwrap();
    assert!(users.lock_state("agent.007").await.unwrap().locked_out);
    users.unlock("agent.007").await.unwrap();
    users.delete("agent.007").await.unwrap();
    assert!(matches!(users.get(" ").await, Err(Error::InvalidInput(_))));
}

#[tokio::test]
async fn bare_error_statuses_are_mapped() {
    let server = MockServer::start().await;
    mount_token(&server, serde_json::json!("3600")).await;
    let answers = [
        (
            "a",
            ResponseTemplate::new(400)
                .set_body_string("Integrity violation: property 'team' refers to a missing object"),
        ),
        ("b", ResponseTemplate::new(404)),
        ("c", ResponseTemplate::new(409).set_body_string("Duplicate")),
        ("d", ResponseTemplate::new(415)),
    ];
    for (login, answer) in answers {
        Mock::given(method("GET"))
            .and(path(format!("/configapi/v2/user/{login}")))
            .respond_with(answer)
            .mount(&server)
            .await;
    }
    let users = client(&server).users();
    let err = users.get("a").await.unwrap_err();
    assert_eq!(integrity_property(&err), Some("team"), "{err:?}");
    assert!(err.to_string().contains("HTTP 400"), "{err}");
    assert!(users.get("b").await.unwrap_err().is_not_found());
    assert!(users.get("c").await.unwrap_err().is_conflict());
    assert_eq!(users.get("d").await.unwrap_err().status(), Some(415));
}

fn spec() -> ServiceNowAccountSpec {
    ServiceNowAccountSpec {
        name: "ServiceNow".into(),
        default: true,
        instance_url: Origin::parse("https://dev12345.service-now.com").unwrap(),
        client_id: "cid".into(),
        client_secret: SecretString::from(CLIENT_SECRET),
    }
}

#[tokio::test]
async fn integration_accounts_use_the_documented_shape() {
    let server = MockServer::start().await;
    mount_token(&server, serde_json::json!("3600")).await;
    let sent = serde_json::json!({
        "type": "ServiceNow", "name": "ServiceNow", "default": true,
        "url": "https://dev12345.service-now.com", "clientId": "cid", "clientSecret": CLIENT_SECRET
    });
    Mock::given(method("POST"))
        .and(path("/configapi/v2/integrationaccount"))
        .and(body_json(sent.clone()))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/configapi/v2/integrationaccount/ServiceNow"))
        .and(body_json(sent))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/configapi/v2/integrationaccount"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
            {"type": "Salesforce", "name": "SF", "url": "https://x.my.salesforce.com"},
            {"type": "ServiceNow", "name": "ServiceNow", "default": "true", "url": "https://dev12345.service-now.com",
             "clientId": "cid", "refreshTokenPresent": true}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/configapi/v2/integrationaccount/ServiceNow/refreshtoken",
        ))
        .and(body_json(
            serde_json::json!({"username": "admin", "password": "sn-password"}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"success": true})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/configapi/v2/integrationaccount/ServiceNow/test"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"valid": true, "message": "Connection is valid"}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/configapi/v2/integrationaccount/ServiceNow"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;

    let accounts = client(&server).integration_accounts();
    accounts.create(&spec()).await.unwrap();
    accounts.replace(&spec()).await.unwrap();
    let listed = accounts.list().await.unwrap();
    assert_eq!(listed.len(), 1, "other account types are left out");
    assert_eq!(listed[0].refresh_token, RefreshTokenState::Present);
    assert!(listed[0].default);
    assert_eq!(
        listed[0].instance_url.as_str(),
        "https://dev12345.service-now.com"
    );
    accounts
        .request_refresh_token("ServiceNow", "admin", &SecretString::from("sn-password"))
        .await
        .unwrap();
    let verdict = accounts.test_connection("ServiceNow").await.unwrap();
    assert!(verdict.valid);
    assert_eq!(verdict.message, "Connection is valid");
    accounts.delete("ServiceNow").await.unwrap();
    assert!(!format!("{:?}", spec()).contains(CLIENT_SECRET));
}

#[tokio::test]
async fn a_tenant_without_the_endpoints_gives_a_distinct_error() {
    for (status, body) in [
        (404, ""),
        (405, ""),
        (501, ""),
        (500, ""),
        (500, "Request Failed (incorrect endpoint specification)"),
    ] {
        let server = MockServer::start().await;
        mount_token(&server, serde_json::json!("3600")).await;
        Mock::given(method("GET"))
            .and(path("/configapi/v2/integrationaccount"))
            .respond_with(ResponseTemplate::new(status).set_body_string(body))
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server)
            .integration_accounts()
            .list()
            .await
            .unwrap_err();
        assert!(err.is_endpoint_unavailable(), "{status}: {err:?}");
        assert_eq!(err.status(), Some(status));
        assert!(
            err.to_string().contains("Contact Center Administrator"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_500_with_a_json_error_body_is_a_server_error_not_absence() {
    let server = MockServer::start().await;
    mount_token(&server, serde_json::json!("3600")).await;
    Mock::given(method("GET"))
        .and(path("/configapi/v2/integrationaccount"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(serde_json::json!({"message": "database unavailable"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .integration_accounts()
        .list()
        .await
        .unwrap_err();
    assert!(!err.is_endpoint_unavailable(), "{err:?}");
    assert!(err.to_string().contains("database unavailable"), "{err}");
}

#[tokio::test]
async fn the_agent_desktop_page_is_fetched_without_credentials_and_judged() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    for (p, template) in [
        (
            "/agentdesktop/",
            ResponseTemplate::new(200).set_body_string("<html>login</html>"),
        ),
        (
            "/moved/",
            ResponseTemplate::new(302).insert_header("location", "/agentdesktop/"),
        ),
        ("/gone/", ResponseTemplate::new(404)),
        ("/broken/", ResponseTemplate::new(503)),
        (
            "/sso/",
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/login", elsewhere.uri()).as_str()),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(template)
            .mount(&server)
            .await;
    }
    let desktop = client(&server).agent_desktop();
    let verdict = |p: &'static str| {
        let desktop = desktop.clone();
        let url = format!("{}{p}", server.uri());
        async move { desktop.probe(&url).await.unwrap().verdict() }
    };
    assert_eq!(
        verdict("/agentdesktop/?topDomain=x").await,
        PageVerdict::Exists
    );
    assert_eq!(
        verdict("/moved/").await,
        PageVerdict::Exists,
        "same-origin redirect followed"
    );
    assert_eq!(verdict("/gone/").await, PageVerdict::Missing);
    let PageVerdict::Unconfirmed(why) = verdict("/sso/").await else {
        panic!("a redirect elsewhere proves nothing")
    };
    assert!(why.contains("another origin"), "{why}");
    assert!(matches!(
        verdict("/broken/").await,
        PageVerdict::Unconfirmed(_)
    ));
    // Nothing reached the other origin, and no request carried credentials.
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
    for r in server.received_requests().await.unwrap() {
        assert_ne!(
            r.url.path(),
            "/configapi/v2/oauth/token",
            "no token is needed"
        );
        assert!(r.headers.get("authorization").is_none(), "{r:?}");
    }
    let query = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/agentdesktop/")
        .unwrap();
    assert_eq!(query.url.query(), Some("topDomain=x"));
}

#[tokio::test]
async fn an_account_of_another_shape_fails_loudly() {
    let server = MockServer::start().await;
    mount_token(&server, serde_json::json!("3600")).await;
    Mock::given(method("GET"))
        .and(path("/configapi/v2/integrationaccount"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
            {"type": "ServiceNow", "name": "ServiceNow", "instanceUrl": "https://dev1.service-now.com", "clientId": "cid"}
        ])))
        .mount(&server)
        .await;
    let err = client(&server)
        .integration_accounts()
        .list()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert!(err.to_string().contains("`url`"), "{err}");
}

#[tokio::test]
async fn paths_are_overridable_and_checked() {
    let server = MockServer::start().await;
    mount_token(&server, serde_json::json!("3600")).await;
    Mock::given(method("GET"))
        .and(path("/custom/accounts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let paths = IntegrationAccountPaths {
        collection: "/custom/accounts".into(),
        item: "/custom/accounts/{name}".into(),
        request_refresh_token: "/custom/accounts/{name}/token".into(),
        test_connection: "/custom/accounts/{name}/check".into(),
    };
    let tenant = TenantUrl::parse(&server.uri()).unwrap();
    let client = Client::builder(tenant.clone(), ApiCredentials::new("api.admin", SECRET))
        .integration_account_paths(paths.clone())
        .build()
        .unwrap();
    assert!(
        client
            .integration_accounts()
            .list()
            .await
            .unwrap()
            .is_empty()
    );
    let bad = IntegrationAccountPaths {
        item: "/custom/accounts".into(),
        ..paths
    };
    assert!(
        Client::builder(tenant, ApiCredentials::new("a", "b"))
            .integration_account_paths(bad)
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn a_redirected_token_request_sends_the_api_secret_nowhere_else() {
    for status in [301, 302, 303, 307, 308] {
        let server = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/configapi/v2/oauth/token"))
            .respond_with(ResponseTemplate::new(status).insert_header(
                "Location",
                format!("{}/configapi/v2/oauth/token", elsewhere.uri()).as_str(),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server);
        let err = client.teams().list().await.unwrap_err();
        let Error::Redirected { location, .. } = &err else {
            panic!("{status}: {err:?}")
        };
        assert_eq!(location, &elsewhere.uri());
        assert!(!format!("{err} {err:?}").contains(SECRET));
        assert!(
            elsewhere.received_requests().await.unwrap().is_empty(),
            "{status}: the API secret must not reach another origin"
        );
    }
}

#[tokio::test]
async fn a_read_only_client_reads_with_its_token_and_sends_no_write() {
    let server = MockServer::start().await;
    // The token request is the credential's own business, not a write.
    mount_token(&server, serde_json::json!(3600)).await;
    Mock::given(method("GET"))
        .and(path("/configapi/v2/integrationaccount"))
        .and(header("authorization", "Bearer bp-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
            {"type": "ServiceNow", "name": "ServiceNow", "url": "https://dev12345.service-now.com", "clientId": "cid"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let full = client(&server);
    let reading = full.read_only();
    assert!(reading.is_read_only() && !full.is_read_only());
    let accounts = reading.integration_accounts();
    assert_eq!(accounts.list().await.unwrap()[0].name, "ServiceNow");
    let err = accounts.delete("ServiceNow").await.unwrap_err();
    let Error::ReadOnly { request } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(request.method, "DELETE");
    assert_eq!(request.path, "/configapi/v2/integrationaccount/ServiceNow");
    assert_eq!(request.attempts, 0);
    let err = accounts.create(&spec()).await.unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
    // The token and the list: nothing else arrived.
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}
