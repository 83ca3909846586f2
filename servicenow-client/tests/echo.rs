//! A server that echoes the request it got — headers and body, as plain text,
//! ServiceNow's JSON envelope, an OAuth error, HTML and gzip — for every
//! authentication method and for token requests: no secret the process holds
//! reaches the error's `Display` or `Debug`.

#![allow(clippy::print_stdout)] // the tests print what they tried

mod common;

use bpsn_fake::echo::{Echo, EchoShape};
use common::*;
use servicenow_client::query::Query;
use servicenow_client::{Client, Credentials, JwtSigningKey, OAuthClient, Proxy, SecretString};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const API_KEY: &str = "api-key-never-shown-0123";
const REFRESH: &str = "refresh-token-never-shown-4567";

fn token(access: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": access, "refresh_token": format!("{access}-refresh"),
        "token_type": "Bearer", "expires_in": 1799
    }))
}

/// Every secret the test's clients hold, in the forms they travel in.
fn secrets() -> Vec<String> {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"));
    vec![
        PASSWORD.to_owned(),
        format!("admin:{PASSWORD}"),
        basic,
        CLIENT_SECRET.to_owned(),
        API_KEY.to_owned(),
        REFRESH.to_owned(),
        "issued-access-token-1".to_owned(),
        "issued-access-token-1-refresh".to_owned(),
        "static-bearer-never-shown".to_owned(),
        url::form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect(),
    ]
}

fn clients(server: &MockServer) -> Vec<(&'static str, Client)> {
    let origin = instance(server);
    let build = |credentials: Credentials| {
        Client::builder(origin.clone(), credentials)
            .retry_policy(fast_retries())
            .build()
            .unwrap()
    };
    let key = JwtSigningKey::from_pem(
        include_str!("jwt/signing.key").to_owned().into(),
        "bp-key-1",
    )
    .unwrap();
    vec![
        ("basic", build(Credentials::basic("admin", PASSWORD))),
        (
            "password grant",
            build(Credentials::oauth_password(
                OAuthClient::new("cid", CLIENT_SECRET.into()),
                "admin",
                PASSWORD,
            )),
        ),
        (
            "refresh grant",
            build(Credentials::oauth_refresh_token(
                OAuthClient::new("cid", CLIENT_SECRET.into()),
                REFRESH,
            )),
        ),
        (
            "client credentials",
            build(Credentials::oauth_client_credentials(OAuthClient::new(
                "cid",
                CLIENT_SECRET.into(),
            ))),
        ),
        (
            "jwt",
            build(Credentials::oauth_jwt_bearer(
                OAuthClient::new("cid", CLIENT_SECRET.into()),
                key,
                "integration.bot",
            )),
        ),
        ("api key", build(Credentials::api_key(API_KEY))),
        (
            "bearer",
            build(Credentials::bearer("static-bearer-never-shown")),
        ),
    ]
}

fn assert_clean(what: &str, text: &str) {
    for secret in secrets() {
        assert!(
            !text.contains(&secret),
            "{what}: {secret:?} shows in\n{text}"
        );
    }
}

#[tokio::test]
async fn an_api_answer_that_echoes_the_request_shows_no_secret() {
    let mut tried = 0;
    for shape in EchoShape::ALL {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth_token.do"))
            .respond_with(token("issued-access-token-1"))
            .mount(&server)
            .await;
        Mock::given(any())
            .respond_with(Echo::new(500, shape))
            .mount(&server)
            .await;
        for (name, client) in clients(&server) {
            let err = client
                .table_json("sys_user")
                .unwrap()
                .one(Query::new().eq("user_name", "x"))
                .await
                .unwrap_err();
            let shown = format!("{err} / {err:?}");
            assert!(shown.contains("500"), "{name}: {shown}");
            assert_clean(&format!("{name}, {shape:?}"), &shown);
            tried += 1;
        }
        // The echo really carried them: the fault fired.
        let received = server.received_requests().await.unwrap();
        assert!(
            received
                .iter()
                .any(|r| r.headers.get("authorization").is_some())
        );
    }
    println!("echoed API answers tried: {tried}, secrets shown: 0");
}

#[tokio::test]
async fn a_token_endpoint_that_echoes_the_grant_shows_no_secret() {
    let mut tried = 0;
    for status in [400, 401, 500] {
        for shape in EchoShape::ALL {
            let server = MockServer::start().await;
            Mock::given(any())
                .respond_with(Echo::new(status, shape))
                .mount(&server)
                .await;
            for (name, client) in clients(&server) {
                let Err(err) = client
                    .table_json("sys_user")
                    .unwrap()
                    .one(Query::new().eq("user_name", "x"))
                    .await
                else {
                    panic!("{name}: an echo is never a success");
                };
                assert_clean(
                    &format!("{name}, {status}, {shape:?}"),
                    &format!("{err} / {err:?}"),
                );
                tried += 1;
            }
        }
    }
    println!("echoed token answers tried: {tried}, secrets shown: 0");
}

#[tokio::test]
async fn a_proxy_s_credentials_are_scrubbed_too() {
    // What the proxy's password looks like once registered: scrubbed from any
    // text a server sends back.
    let _proxy = Proxy::new("http://proxy.example.com:3128")
        .unwrap()
        .with_credentials("svc-bp", SecretString::from("proxy-pass-never-shown"));
    let echoed = "Proxy-Authorization: Basic c3ZjLWJwOnByb3h5LXBhc3MtbmV2ZXItc2hvd24= (svc-bp:proxy-pass-never-shown)";
    let clean = servicenow_client::redact::scrub(echoed);
    assert!(!clean.contains("proxy-pass-never-shown"), "{clean}");
    assert!(
        !clean.contains("c3ZjLWJwOnByb3h5LXBhc3MtbmV2ZXItc2hvd24="),
        "{clean}"
    );
}
