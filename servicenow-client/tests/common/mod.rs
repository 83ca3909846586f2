//! Helpers shared by the wiremock tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use servicenow_client::{Client, Credentials, InstanceUrl, OAuthClient, RetryPolicy};
use wiremock::{Match, MockServer, Request};

pub const SYS_ID: &str = "0123456789abcdef0123456789abcdef";
pub const ROLE_ID: &str = "fedcba9876543210fedcba9876543210";
pub const PASSWORD: &str = "pa55-word-never-shown";
pub const CLIENT_SECRET: &str = "client-secret-never-shown";

/// Fast retries, so retry tests do not wait.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
        .with_max_attempts(3)
}

pub fn instance(server: &MockServer) -> InstanceUrl {
    InstanceUrl::parse(&server.uri()).expect("loopback origin")
}

pub fn basic_client(server: &MockServer) -> Client {
    Client::builder(instance(server), Credentials::basic("admin", PASSWORD))
        .retry_policy(fast_retries())
        .build()
        .unwrap()
}

pub fn oauth_client(server: &MockServer) -> Client {
    Client::builder(
        instance(server),
        Credentials::oauth_password(
            OAuthClient::new("cid", CLIENT_SECRET.into()),
            "admin",
            PASSWORD,
        ),
    )
    .retry_policy(fast_retries())
    .build()
    .unwrap()
}

/// `Authorization: Basic base64(admin:PASSWORD)`.
pub fn basic_header() -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"))
    )
}

/// Matches a form-encoded body holding exactly these pairs (in any order).
pub struct FormBody(pub Vec<(&'static str, String)>);

impl Match for FormBody {
    fn matches(&self, request: &Request) -> bool {
        let mut got: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut want: Vec<(String, String)> = self
            .0
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        got.sort();
        want.sort();
        got == want
    }
}

/// Matches when a query parameter is absent.
pub struct NoQueryParam(pub &'static str);

impl Match for NoQueryParam {
    fn matches(&self, request: &Request) -> bool {
        !request.url.query_pairs().any(|(k, _)| k == self.0)
    }
}

/// A user row as ServiceNow sends it: every value a string.
pub fn user_row(i: usize) -> serde_json::Value {
    serde_json::json!({
        "sys_id": format!("{i:032x}"),
        "user_name": format!("agent.{i:04}"),
        "active": "true",
        "failed_attempts": "0",
    })
}
