//! The fake tenant, exercised through the real client and paired with the fake
//! ServiceNow instance.

use std::time::Duration;

use brightpattern_client::agent_desktop::PageVerdict;
use brightpattern_client::integration_accounts::{RefreshTokenState, ServiceNowAccountSpec};
use brightpattern_client::users::{User, UserUpdate};
use brightpattern_client::{Error, ExposeSecret, RetryPolicy, SecretString};
use brightpattern_fake::{Endpoint, FakeTenant, Fault, FaultSchedule};
use servicenow_client::oauth::NewOAuthApplication;
use servicenow_fake::{ADMIN_PASSWORD, ADMIN_USER, FakeInstance};

async fn pair() -> (FakeInstance, FakeTenant, ServiceNowAccountSpec) {
    let sn = FakeInstance::start().await;
    let bp = FakeTenant::start().await;
    bp.set_integration_accounts_offered(true);
    let created = sn
        .client_as_admin()
        .oauth_applications()
        .create(&NewOAuthApplication::new("Bright Pattern"))
        .await
        .unwrap();
    let spec = ServiceNowAccountSpec {
        name: "ServiceNow".into(),
        default: true,
        instance_url: sn.url().origin().clone(),
        client_id: created.application.client_id.clone(),
        client_secret: created.client_secret.clone(),
    };
    (sn, bp, spec)
}

#[tokio::test]
async fn the_integration_account_lifecycle_against_the_fake_instance() {
    let (sn, bp, spec) = pair().await;
    let accounts = bp.client().integration_accounts();
    accounts.create(&spec).await.unwrap();
    let created = accounts.get("ServiceNow").await.unwrap().unwrap();
    assert_eq!(created.refresh_token, RefreshTokenState::Missing);
    assert_eq!(
        bp.accounts()[0].client_secret.expose_secret(),
        spec.client_secret.expose_secret()
    );
    assert!(matches!(accounts.create(&spec).await, Err(e) if e.is_conflict()));

    let verdict = accounts.test_connection("ServiceNow").await.unwrap();
    assert!(!verdict.valid, "no refresh token yet");

    // Wrong ServiceNow password: the tenant's grant is refused.
    let err = accounts
        .request_refresh_token("ServiceNow", ADMIN_USER, &SecretString::from("wrong"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("access_denied"), "{err}");

    accounts
        .request_refresh_token(
            "ServiceNow",
            ADMIN_USER,
            &SecretString::from(ADMIN_PASSWORD),
        )
        .await
        .unwrap();
    assert_eq!(
        accounts
            .get("ServiceNow")
            .await
            .unwrap()
            .unwrap()
            .refresh_token,
        RefreshTokenState::Present
    );
    let verdict = accounts.test_connection("ServiceNow").await.unwrap();
    assert!(verdict.valid, "{verdict:?}");
    assert_eq!(verdict.message, "Connection is valid");
    let grants: Vec<_> = sn
        .requests()
        .into_iter()
        .filter(|r| r.path == "/oauth_token.do")
        .map(|r| {
            r.body
                .split('&')
                .find(|p| p.starts_with("grant_type"))
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        grants,
        [
            "grant_type=password",
            "grant_type=password",
            "grant_type=refresh_token"
        ]
    );

    // Delete the OAuth client on the instance: the connection test now fails.
    let client = sn.client_as_admin();
    let app = client
        .oauth_applications()
        .get_by_name("Bright Pattern")
        .await
        .unwrap()
        .unwrap();
    client
        .oauth_applications()
        .delete(&app.sys_id)
        .await
        .unwrap();
    let verdict = accounts.test_connection("ServiceNow").await.unwrap();
    assert!(!verdict.valid);
    assert!(
        verdict.message.contains("access_denied"),
        "{}",
        verdict.message
    );

    let mut moved = spec.clone();
    moved.default = false;
    accounts.replace(&moved).await.unwrap();
    assert!(!accounts.get("ServiceNow").await.unwrap().unwrap().default);
    accounts.delete("ServiceNow").await.unwrap();
    assert!(accounts.get("ServiceNow").await.unwrap().is_none());
    assert!(
        accounts
            .delete("ServiceNow")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn a_tenant_lacking_the_endpoints() {
    let (_sn, bp, spec) = pair().await;
    bp.set_integration_accounts_offered(false);
    let accounts = bp.client().integration_accounts();
    // The documented answer to an unknown endpoint: 500, empty body. On the read of
    // the collection that means "not offered", quoting the status.
    let err = accounts.list().await.unwrap_err();
    assert!(err.is_endpoint_unavailable(), "{err:?}");
    assert_eq!(err.status(), Some(500));
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    // Elsewhere a 500 stays a server error: nothing is silently taken as absent.
    for err in [
        accounts.create(&spec).await.unwrap_err(),
        accounts.test_connection("ServiceNow").await.unwrap_err(),
    ] {
        assert!(!err.is_endpoint_unavailable(), "{err:?}");
        assert_eq!(err.status(), Some(500), "{err:?}");
    }
    let logged: Vec<(String, u16)> = bp
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::IntegrationAccounts)
        .map(|r| (r.method.clone(), r.status))
        .collect();
    assert_eq!(
        logged,
        [
            ("GET".into(), 500),
            ("POST".into(), 500),
            ("POST".into(), 500)
        ]
    );
}

#[tokio::test]
async fn unknown_endpoints_answer_500_with_an_empty_body_and_pages_need_no_login() {
    let bp = FakeTenant::start().await;
    let client = bp.client();
    let err = client
        .transport()
        .send(brightpattern_client::Request::get("/configapi/v2/nothing"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500), "{err:?}");
    let unknown = bp.requests().pop().unwrap();
    assert_eq!((unknown.status, unknown.endpoint), (500, Endpoint::Other));
    bp.clear_requests();
    let desktop = client.agent_desktop();
    let origin = bp.url();
    for (path, verdict) in [
        ("/agentdesktop/?topDomain=x", PageVerdict::Exists),
        ("/agent/", PageVerdict::Exists),
        ("/agentdesktop", PageVerdict::Exists),
        ("/wrong/", PageVerdict::Missing),
    ] {
        let answer = desktop
            .probe(&format!("{}{path}", origin.as_str()))
            .await
            .unwrap();
        assert_eq!(answer.verdict(), verdict, "{path}: {answer:?}");
    }
    // No credentials travel with a page request: no token was even asked for.
    assert!(
        !bp.requests().iter().any(|r| r.endpoint == Endpoint::Token),
        "{:#?}",
        bp.requests()
    );
    let err = desktop
        .probe("https://elsewhere.example.com/agentdesktop/")
        .await
        .unwrap_err();
    assert!(
        matches!(err, brightpattern_client::Error::InvalidInput(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn users_and_teams() {
    let bp = FakeTenant::start().await;
    let users = bp.client().users();
    let mut user = User::new("agent.1");
    user.team = Some("Support".into());
    users.create(&user).await.unwrap();
    assert!(users.create(&user).await.unwrap_err().is_conflict());
    let mut bad = User::new("agent.2");
    bad.team = Some("Nowhere".into());
    let err = users.create(&bad).await.unwrap_err();
    assert_eq!(
        brightpattern_client::error::integrity_property(&err),
        Some("team")
    );
    users
        .update(
            "agent.1",
            &UserUpdate::new().skill("Support", 80).disabled(false),
        )
        .await
        .unwrap();
    let stored = users.get("agent.1").await.unwrap();
    assert_eq!(stored.skills.get("Support"), Some(&80));
    assert_eq!(stored.disabled, Some(false));
    assert!(
        users.update("agent.1", &UserUpdate::new()).await.is_err(),
        "an empty update is refused before sending"
    );
    assert!(!users.lock_state("agent.1").await.unwrap().locked_out);
    bp.lock_out("agent.1");
    assert!(users.lock_state("agent.1").await.unwrap().locked_out);
    users.unlock("agent.1").await.unwrap();
    assert!(!users.lock_state("agent.1").await.unwrap().locked_out);
    users.delete("agent.1").await.unwrap();
    assert!(users.get("agent.1").await.unwrap_err().is_not_found());
    bp.add_team("Billing");
    assert_eq!(bp.client().teams().list().await.unwrap().len(), 3);
    // Write attempts, the refused duplicate and integrity violation included.
    assert_eq!(bp.write_count(), 6);
}

#[tokio::test]
async fn tokens_carry_expires_in_as_a_string_and_expire() {
    let bp = FakeTenant::start().await;
    let client = bp.client();
    client.teams().list().await.unwrap();
    let token = bp
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::Token)
        .unwrap();
    assert!(token.body.contains("scope=127.0.0.1"), "{}", token.body);
    bp.expire_tokens();
    client.teams().list().await.unwrap();
    let statuses: Vec<u16> = bp.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [200, 200, 401, 200, 200],
        "token, call, 401, token, call"
    );

    let stranger = brightpattern_client::Client::new(
        bp.url(),
        brightpattern_client::ApiCredentials::new("x", "y"),
    )
    .unwrap();
    assert!(
        stranger
            .teams()
            .list()
            .await
            .unwrap_err()
            .is_authentication()
    );
}

#[tokio::test]
async fn faults_and_latency_work_as_on_the_servicenow_fake() {
    let bp = FakeTenant::start().await;
    bp.inject_fault_on(
        Endpoint::Teams,
        Fault::RateLimited {
            retry_after: Some(0),
        },
        FaultSchedule::Nth(1),
    );
    bp.inject_fault_on(Endpoint::Teams, Fault::Unavailable, FaultSchedule::Nth(2));
    let client = bp
        .client_builder()
        .retry_policy(RetryPolicy::default().with_initial_backoff(Duration::from_millis(1)))
        .build()
        .unwrap();
    client.teams().list().await.unwrap();
    assert_eq!(bp.faults_injected(), 2);
    bp.inject_fault_on(
        Endpoint::Teams,
        Fault::MalformedBody,
        FaultSchedule::FirstN(1),
    );
    bp.clear_requests();
    assert!(matches!(client.teams().list().await, Err(Error::Decode(_))));
    bp.set_latency(Duration::from_millis(50));
    let started = std::time::Instant::now();
    client.teams().list().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(50));
}
