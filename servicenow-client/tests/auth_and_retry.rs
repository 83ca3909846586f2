//! Retries, rate limits, OAuth tokens and secret hygiene, against wiremock.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use servicenow_client::query::Query;
use servicenow_client::{Client, Credentials, Error, OAuthClient, RetryPolicy};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn ok_list() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({"result": [user_row(1)]}))
}

async fn lookup(
    client: &Client,
) -> servicenow_client::Result<Option<servicenow_client::JsonRecord>> {
    client
        .table_json("sys_user")?
        .first(Query::new().eq("user_name", "agent.0001"))
        .await
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .insert_header("x-ratelimit-limit", "100")
                .insert_header("x-ratelimit-rule", "per-user")
                .set_body_json(serde_json::json!({"error": {"message": "Rate limit exceeded"}, "status": "failure"})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok_list())
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let row = lookup(&basic_client(&server)).await.unwrap().unwrap();
    assert_eq!(row["user_name"], "agent.0001");
    // The fast test policy would retry after milliseconds; Retry-After said 1 s.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_429_the_deadline_cannot_wait_for_is_a_typed_rate_limit_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "3600")
                .insert_header("x-ratelimit-limit", "100")
                .insert_header("x-ratelimit-reset", "4102444800")
                .insert_header("x-ratelimit-rule", "per-user")
                .set_body_json(serde_json::json!({"error": {"message": "Rate limit exceeded"}, "status": "failure"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = lookup(&basic_client(&server)).await.unwrap_err();
    let Error::RateLimited(rl) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(rl.retry_after, Some(Duration::from_secs(3600)));
    assert_eq!(rl.limit, Some(100));
    assert_eq!(rl.rule.as_deref(), Some("per-user"));
    assert_eq!(
        rl.reset,
        Some(std::time::UNIX_EPOCH + Duration::from_secs(4_102_444_800))
    );
    assert_eq!(rl.message.as_deref(), Some("Rate limit exceeded"));
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_503_is_retried_until_attempts_run_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
        .expect(3)
        .mount(&server)
        .await;
    let client = basic_client(&server);
    let err = lookup(&client).await.unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 503);
    assert_eq!(api.request.attempts, 3);
    let stats = client.transport().stats();
    assert_eq!((stats.attempts, stats.retries, stats.renewals), (3, 2, 0));
    assert!(err.to_string().contains("(3 attempts)"), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_create_is_not_repeated_after_a_503_but_is_after_a_429() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/now/table/sys_user_group"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let table = basic_client(&server).table_json("sys_user_group").unwrap();
    let err = table
        .create(&serde_json::json!({"name": "Agents"}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    server.verify().await;
    server.reset().await;

    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"result": {"name": "Agents"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let created = table
        .create(&serde_json::json!({"name": "Agents"}))
        .await
        .unwrap();
    assert_eq!(created["name"], "Agents");
}

#[tokio::test]
async fn a_refused_connection_is_retried_and_then_reported() {
    // Bind a port, then free it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder(
        servicenow_client::InstanceUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        Credentials::basic("admin", PASSWORD),
    )
    .retry_policy(fast_retries())
    .build()
    .unwrap();
    let err = client
        .table_json("sys_user")
        .unwrap()
        .create(&serde_json::json!({"user_name": "x"}))
        .await
        .unwrap_err();
    let Error::Transport { request, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        request.attempts, 3,
        "a refused POST never reached the server, so it is retried"
    );
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok_list().set_delay(Duration::from_millis(500)))
        .mount(&server)
        .await;
    let client = Client::builder(instance(&server), Credentials::basic("admin", PASSWORD))
        .retry_policy(RetryPolicy::never())
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = lookup(&client).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());
}

fn token_body(token: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": token,
        "refresh_token": format!("refresh-{token}"),
        "scope": "useraccount",
        "token_type": "Bearer",
        "expires_in": 1799
    }))
}

#[tokio::test]
async fn the_password_grant_is_form_encoded_and_its_token_is_cached() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth_token.do"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(FormBody(vec![
            ("grant_type", "password".into()),
            ("client_id", "cid".into()),
            ("client_secret", CLIENT_SECRET.into()),
            ("username", "admin".into()),
            ("password", PASSWORD.into()),
        ]))
        .respond_with(token_body("tok-1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ok_list())
        .expect(3)
        .mount(&server)
        .await;
    let client = oauth_client(&server);
    for _ in 0..3 {
        lookup(&client).await.unwrap();
    }
}

/// Answers 401 to the first request bearing a token, 200 afterwards.
struct RejectFirstToken {
    rejected: AtomicUsize,
}

impl Respond for RejectFirstToken {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if auth == "Bearer tok-1" {
            self.rejected.fetch_add(1, Ordering::SeqCst);
            ResponseTemplate::new(401).set_body_json(serde_json::json!({
                "error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"},
                "status": "failure"
            }))
        } else {
            ok_list()
        }
    }
}

#[tokio::test]
async fn a_401_renews_the_token_once_using_the_refresh_token_and_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth_token.do"))
        .and(FormBody(vec![
            ("grant_type", "password".into()),
            ("client_id", "cid".into()),
            ("client_secret", CLIENT_SECRET.into()),
            ("username", "admin".into()),
            ("password", PASSWORD.into()),
        ]))
        .respond_with(token_body("tok-1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth_token.do"))
        .and(FormBody(vec![
            ("grant_type", "refresh_token".into()),
            ("client_id", "cid".into()),
            ("client_secret", CLIENT_SECRET.into()),
            ("refresh_token", "refresh-tok-1".into()),
        ]))
        .respond_with(token_body("tok-2"))
        .expect(1)
        .mount(&server)
        .await;
    let responder = Arc::new(RejectFirstToken {
        rejected: AtomicUsize::new(0),
    });
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .respond_with(ArcResponder(responder.clone()))
        .mount(&server)
        .await;

    let client = oauth_client(&server);
    // Two concurrent calls both meet the 401; they share one renewal.
    let (a, b) = tokio::join!(lookup(&client), lookup(&client));
    a.unwrap();
    b.unwrap();
    assert!(responder.rejected.load(Ordering::SeqCst) >= 1);
    let token_requests = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/oauth_token.do")
        .count();
    assert_eq!(token_requests, 2, "one password grant, one shared renewal");
}

struct ArcResponder<R>(Arc<R>);

impl<R: Respond> Respond for ArcResponder<R> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

#[tokio::test]
async fn two_concurrent_first_calls_share_one_token_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth_token.do"))
        .respond_with(token_body("tok-1").set_delay(Duration::from_millis(100)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok_list())
        .expect(4)
        .mount(&server)
        .await;
    let client = oauth_client(&server);
    let results = futures_util::future::join_all((0..4).map(|_| lookup(&client))).await;
    assert!(results.iter().all(Result::is_ok));
}

#[tokio::test]
async fn a_401_after_renewal_is_an_authentication_error_not_a_loop() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth_token.do"))
        .respond_with(token_body("tok"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"},
            "status": "failure"
        })))
        .expect(2)
        .mount(&server)
        .await;
    let err = lookup(&oauth_client(&server)).await.unwrap_err();
    let Error::Authentication(auth) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(auth.status, Some(401));
    assert_eq!(auth.error, "User Not Authenticated");
}

#[tokio::test]
async fn basic_credentials_rejected_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    let err = lookup(&basic_client(&server)).await.unwrap_err();
    assert!(err.is_authentication(), "{err:?}");
}

#[tokio::test]
async fn access_denied_names_its_usual_causes_and_never_the_secrets() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth_token.do"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "server_error", "error_description": "access_denied"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = oauth_client(&server);
    let err = lookup(&client).await.unwrap_err();
    let Error::Authentication(auth) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(auth.error, "server_error");
    assert_eq!(auth.description.as_deref(), Some("access_denied"));
    assert_eq!(auth.request.path, "/oauth_token.do");
    let text = format!("{err} {err:?} {client:?}");
    assert!(text.contains("wrong client secret"), "{text}");
    for secret in [PASSWORD, CLIENT_SECRET] {
        assert!(!text.contains(secret), "{text}");
    }
    // No API request was attempted without a token.
    let paths: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(paths, ["/oauth_token.do"]);
}

#[tokio::test]
async fn a_refresh_token_credential_uses_the_refresh_grant() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth_token.do"))
        .and(FormBody(vec![
            ("grant_type", "refresh_token".into()),
            ("client_id", "cid".into()),
            ("client_secret", CLIENT_SECRET.into()),
            ("refresh_token", "rt-secret".into()),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "tok-r", "scope": "useraccount", "token_type": "Bearer", "expires_in": 1799
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer tok-r"))
        .respond_with(ok_list())
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder(
        instance(&server),
        Credentials::oauth_refresh_token(
            OAuthClient::new("cid", CLIENT_SECRET.into()),
            "rt-secret",
        ),
    )
    .build()
    .unwrap();
    lookup(&client).await.unwrap();
    assert!(!format!("{client:?}").contains("rt-secret"));
}

#[tokio::test]
async fn a_token_answer_that_does_not_decode_never_quotes_the_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth_token.do"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "leaked-token-value", "expires_in": "soon"
        })))
        .mount(&server)
        .await;
    let err = lookup(&oauth_client(&server)).await.unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("leaked-token-value"), "{text}");
}

#[tokio::test]
async fn a_static_bearer_token_is_sent_as_is() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer static-tok"))
        .respond_with(ok_list())
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::new(instance(&server), Credentials::bearer("static-tok")).unwrap();
    lookup(&client).await.unwrap();
    assert!(!format!("{client:?}").contains("static-tok"));
}

#[tokio::test]
async fn a_redirected_token_request_sends_nothing_elsewhere_and_is_not_followed() {
    for status in [301, 302, 303, 307, 308] {
        for target_elsewhere in [true, false] {
            let server = MockServer::start().await;
            let elsewhere = MockServer::start().await;
            let location = if target_elsewhere {
                format!("{}/oauth_token.do", elsewhere.uri())
            } else {
                "/oauth_token_again.do".to_owned()
            };
            Mock::given(method("POST"))
                .and(path("/oauth_token.do"))
                .respond_with(
                    ResponseTemplate::new(status).insert_header("Location", location.as_str()),
                )
                .expect(1)
                .mount(&server)
                .await;
            let client = oauth_client(&server);
            let err = lookup(&client).await.unwrap_err();
            assert!(
                matches!(&err, Error::Redirected { status: s, .. } if *s == status),
                "{status}: {err}"
            );
            let text = format!("{err} {err:?}");
            assert!(
                !text.contains(CLIENT_SECRET) && !text.contains(PASSWORD),
                "{text}"
            );
            assert!(elsewhere.received_requests().await.unwrap().is_empty());
            let paths: Vec<String> = server
                .received_requests()
                .await
                .unwrap()
                .iter()
                .map(|r| r.url.path().to_owned())
                .collect();
            assert_eq!(
                paths,
                ["/oauth_token.do"],
                "{status}: the POST is never re-sent"
            );
        }
    }
}

#[tokio::test]
async fn the_client_credentials_grant_is_form_encoded_and_its_token_used() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth_token.do"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(FormBody(vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", "cid".into()),
            ("client_secret", CLIENT_SECRET.into()),
        ]))
        .respond_with(token_body("cc-1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .and(header("authorization", "Bearer cc-1"))
        .respond_with(ok_list())
        .expect(2)
        .mount(&server)
        .await;
    let client = Client::builder(
        instance(&server),
        Credentials::oauth_client_credentials(OAuthClient::new("cid", CLIENT_SECRET.into())),
    )
    .retry_policy(fast_retries())
    .build()
    .unwrap();
    assert_eq!(client.credentials_method(), "OAuth client credentials");
    lookup(&client).await.unwrap();
    lookup(&client).await.unwrap();
    assert!(!format!("{client:?}").contains(CLIENT_SECRET));
}

#[tokio::test]
async fn a_refused_client_credentials_grant_names_the_property() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth_token.do"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "access_denied", "error_description": "access_denied"
        })))
        .mount(&server)
        .await;
    let client = Client::builder(
        instance(&server),
        Credentials::oauth_client_credentials(OAuthClient::new("cid", CLIENT_SECRET.into())),
    )
    .retry_policy(fast_retries())
    .build()
    .unwrap();
    let err = lookup(&client).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("glide.oauth.inbound.client.credential.grant_type.enabled"),
        "{text}"
    );
    assert!(!text.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn an_api_key_travels_in_its_own_header_and_never_in_authorization() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .and(header("x-sn-apikey", "key-never-shown"))
        .respond_with(ok_list())
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder(instance(&server), Credentials::api_key("key-never-shown"))
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    lookup(&client).await.unwrap();
    let sent = &server.received_requests().await.unwrap()[0];
    assert!(sent.headers.get("authorization").is_none());
    assert!(!format!("{client:?}").contains("key-never-shown"));
}

/// Matches a JWT bearer grant whose assertion names `kid` and acts as `sub`.
struct JwtGrant {
    kid: &'static str,
    sub: &'static str,
}

impl wiremock::Match for JwtGrant {
    fn matches(&self, request: &Request) -> bool {
        use base64::Engine as _;
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect();
        let Some(assertion) = form.get("assertion") else {
            return false;
        };
        let part = |i: usize| -> serde_json::Value {
            let text = assertion.split('.').nth(i).unwrap_or_default();
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default()
        };
        let (header, claims) = (part(0), part(1));
        form.get("grant_type").map(String::as_str)
            == Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
            && form.get("client_id").map(String::as_str) == Some("cid")
            && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
            && header["alg"] == "RS256"
            && header["kid"] == self.kid
            && claims["sub"] == self.sub
            && claims["iss"] == "cid"
            && claims["aud"] == "cid"
            && claims["exp"].as_u64().unwrap_or(0) > claims["iat"].as_u64().unwrap_or(u64::MAX)
    }
}

#[tokio::test]
async fn the_jwt_bearer_grant_sends_a_signed_assertion_and_uses_its_token() {
    use servicenow_client::JwtSigningKey;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth_token.do"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(JwtGrant {
            kid: "bp-key-1",
            sub: "integration.bot",
        })
        .respond_with(token_body("jwt-1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_user"))
        .and(header("authorization", "Bearer jwt-1"))
        .respond_with(ok_list())
        .expect(1)
        .mount(&server)
        .await;
    let pem = include_str!("jwt/signing.key");
    let key = JwtSigningKey::from_pem(pem.to_owned().into(), "bp-key-1").unwrap();
    assert!(!format!("{key:?}").contains("PRIVATE"));
    let client = Client::builder(
        instance(&server),
        Credentials::oauth_jwt_bearer(
            OAuthClient::new("cid", CLIENT_SECRET.into()),
            key,
            "integration.bot",
        ),
    )
    .retry_policy(fast_retries())
    .build()
    .unwrap();
    lookup(&client).await.unwrap();
    assert!(JwtSigningKey::from_pem("not a key".to_owned().into(), "k").is_err());
}
