//! A tenant that echoes the request it got — headers and body, in every shape —
//! for the token request and for API calls: no secret the process holds
//! reaches the error's `Display` or `Debug`.
#![allow(clippy::print_stdout)] // the tests print what they tried

use std::time::Duration;

use bpsn_fake::echo::{Echo, EchoShape};
use brightpattern_client::integration_accounts::ServiceNowAccountSpec;
use brightpattern_client::{ApiCredentials, Client, Origin, RetryPolicy, SecretString, TenantUrl};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "bp-api-secret-never-shown";
const TOKEN: &str = "bp-issued-token-never-shown";
const ACCOUNT_SECRET: &str = "oauth-client-secret-for-the-account";

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

fn assert_clean(what: &str, text: &str) {
    let form: String = url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
    for secret in [SECRET, TOKEN, ACCOUNT_SECRET, form.as_str()] {
        assert!(
            !text.contains(secret),
            "{what}: {secret:?} shows in\n{text}"
        );
    }
}

#[tokio::test]
async fn an_echoing_tenant_shows_no_secret() {
    let mut tried = 0;
    for shape in EchoShape::ALL {
        // The token request echoed.
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(Echo::new(400, shape))
            .mount(&server)
            .await;
        let err = client(&server).teams().list().await.unwrap_err();
        assert_clean(&format!("token, {shape:?}"), &format!("{err} / {err:?}"));
        tried += 1;

        // An API call echoed, with the bearer token and an account's secret.
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/configapi/v2/oauth/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": TOKEN, "token_type": "Bearer", "expires_in": "3600"
            })))
            .mount(&server)
            .await;
        Mock::given(any())
            .respond_with(Echo::new(500, shape))
            .mount(&server)
            .await;
        let bp = client(&server);
        let err = bp.teams().list().await.unwrap_err();
        assert_clean(&format!("API, {shape:?}"), &format!("{err} / {err:?}"));
        let err = bp
            .integration_accounts()
            .create(&ServiceNowAccountSpec {
                name: "ServiceNow".into(),
                default: true,
                instance_url: Origin::parse("https://dev1.service-now.com").unwrap(),
                client_id: "cid".into(),
                client_secret: SecretString::from(ACCOUNT_SECRET),
            })
            .await
            .unwrap_err();
        assert_clean(&format!("account, {shape:?}"), &format!("{err} / {err:?}"));
        tried += 2;
        let echoed = server.received_requests().await.unwrap();
        assert!(
            echoed
                .iter()
                .any(|r| String::from_utf8_lossy(&r.body).contains(ACCOUNT_SECRET)),
            "the fault fired: the secret was sent to be echoed"
        );
    }
    println!("echoed tenant answers tried: {tried}, secrets shown: 0");
}
