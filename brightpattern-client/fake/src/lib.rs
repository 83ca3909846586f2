#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! # Guide
//!
//! [`FakeTenant`] serves, on a local wiremock server:
//!
//! - the token endpoint: client credentials for registered API users, the tenant
//!   host as `scope` (or `tenant`), `expires_in` as a **string** like the real one;
//! - users as documented (create, get, delete; a PUT changes only `skills`,
//!   `disabled`, `password`, `changePassword` and `team`; `skills` is an object;
//!   the lock state is `{"lockedOut": bool}` and a PUT can only clear it; 409 on a
//!   duplicate login, 400 naming the property on an integrity violation, 404, 415
//!   on a non-JSON body) and teams;
//! - the Agent Desktop pages `/agentdesktop/` and `/agent/` (the login page, 200
//!   HTML, without credentials); any other path outside `/configapi/` is 404;
//! - **only when a test asks for them**
//!   ([`set_integration_accounts_offered`](FakeTenant::set_integration_accounts_offered)),
//!   ServiceNow integration accounts in the shape
//!   [`integration_accounts`](brightpattern_client::integration_accounts) assumes — Bright
//!   Pattern documents no such endpoint — and both actions: "request refresh
//!   token" performs a real OAuth password grant against the account's ServiceNow
//!   instance (`<url>/oauth_token.do`, or a token URL set with
//!   [`FakeTenant::set_servicenow_token_url`]), so a fake tenant paired with
//!   `servicenow-client`'s fake instance behaves like the real pair; "test
//!   connection" refreshes that token and reports the verdict;
//! - any other `/configapi/` path answers **500 with an empty body**, as the real
//!   Configuration API does for an unknown endpoint (the integration-account
//!   paths too, unless offered).
//!
//! It has the same latency, fault and request-log controls as the ServiceNow fake.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> brightpattern_client::Result<()> {
//! use brightpattern_fake::FakeTenant;
//!
//! let bp = FakeTenant::start().await;
//! let client = bp.client();
//! let teams = client.teams().list().await?;
//! assert_eq!(teams[0].name, "Support");
//! // Not in Bright Pattern's published API, so not offered unless a test asks.
//! assert!(client.integration_accounts().list().await.unwrap_err().is_endpoint_unavailable());
//! bp.set_integration_accounts_offered(true);
//! assert!(client.integration_accounts().list().await?.is_empty());
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bpsn_core::{Origin, RetryPolicy, TokenEndpoint, Transport};
use bpsn_fake::{FaultPlan, Latency, Reply};
use http::Method;
use rand::Rng;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub use bpsn_fake::{Fault, FaultSchedule};

use brightpattern_client::ApiCredentials;
use brightpattern_client::TenantUrl;
use brightpattern_client::credentials::TOKEN_PATH;
use brightpattern_client::{Client, ClientBuilder};

/// The seeded API user's login.
pub const API_LOGIN: &str = "api.admin";
/// The seeded API user's secret.
pub const API_SECRET: &str = "api-secret";
/// The teams seeded.
pub const SEEDED_TEAMS: [&str; 2] = ["Support", "Sales"];

const USER_PATH: &str = "/configapi/v2/user";
const ACCOUNT_PATH: &str = "/configapi/v2/integrationaccount";

/// The API a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `/configapi/v2/oauth/token`
    Token,
    /// `/configapi/v2/user...`
    Users,
    /// `/configapi/v2/team`
    Teams,
    /// `/configapi/v2/integrationaccount...`
    IntegrationAccounts,
    /// A web page outside `/configapi/` (the Agent Desktop).
    Page,
    /// Anything else.
    Other,
}

/// One request the fake received.
pub type LoggedRequest = bpsn_fake::LoggedRequest<Endpoint>;

/// An integration account as the fake stores it.
#[derive(Clone)]
pub struct StoredAccount {
    /// The type (`ServiceNow`).
    pub account_type: String,
    /// The name.
    pub name: String,
    /// The default flag.
    pub default: bool,
    /// The instance URL.
    pub url: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: SecretString,
    /// The refresh token obtained, when one was.
    pub refresh_token: Option<SecretString>,
}

impl fmt::Debug for StoredAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredAccount")
            .field("account_type", &self.account_type)
            .field("name", &self.name)
            .field("default", &self.default)
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish_non_exhaustive()
    }
}

impl StoredAccount {
    fn to_wire(&self) -> Value {
        json!({
            "type": self.account_type,
            "name": self.name,
            "default": self.default,
            "url": self.url,
            "clientId": self.client_id,
            "refreshTokenPresent": self.refresh_token.is_some(),
        })
    }
}

struct TenantState {
    host: String,
    api_users: HashMap<String, String>,
    tokens: HashMap<String, Instant>,
    token_lifetime: Duration,
    users: BTreeMap<String, Value>,
    locked: HashMap<String, bool>,
    teams: Vec<String>,
    accounts: Vec<StoredAccount>,
    offers_accounts: bool,
    servicenow_token_url: Option<String>,
    faults: FaultPlan<Endpoint>,
    latency: Latency<Endpoint>,
    log: Vec<LoggedRequest>,
}

fn lock(state: &Mutex<TenantState>) -> MutexGuard<'_, TenantState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake tenant. Dropping it stops the server.
pub struct FakeTenant {
    server: MockServer,
    state: Arc<Mutex<TenantState>>,
}

impl fmt::Debug for FakeTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeTenant")
            .field("uri", &self.server.uri())
            .finish()
    }
}

impl FakeTenant {
    /// Starts a fake tenant with the API user [`API_LOGIN`] / [`API_SECRET`] and the
    /// [teams](SEEDED_TEAMS).
    pub async fn start() -> Self {
        let server = MockServer::builder().start().await;
        let host = url::Url::parse(&server.uri())
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let state = Arc::new(Mutex::new(TenantState {
            host,
            api_users: HashMap::from([(API_LOGIN.to_owned(), API_SECRET.to_owned())]),
            tokens: HashMap::new(),
            token_lifetime: Duration::from_secs(3600),
            users: BTreeMap::new(),
            locked: HashMap::new(),
            teams: SEEDED_TEAMS.iter().map(|t| (*t).to_owned()).collect(),
            accounts: Vec::new(),
            offers_accounts: false,
            servicenow_token_url: None,
            faults: FaultPlan::default(),
            latency: Latency::default(),
            log: Vec::new(),
        }));
        Mock::given(any())
            .respond_with(TenantResponder {
                state: state.clone(),
            })
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// The tenant URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> TenantUrl {
        TenantUrl::parse(&self.server.uri()).expect("a loopback origin is a valid tenant URL")
    }

    /// A client for the seeded API user.
    pub fn client(&self) -> Client {
        self.client_builder()
            .build()
            .expect("the fake's client settings are valid")
    }

    /// A client builder for the seeded API user, to adjust retries or paths.
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder(self.url(), ApiCredentials::new(API_LOGIN, API_SECRET))
    }

    /// Registers another API user.
    pub fn register_api_user(&self, login: &str, secret: &str) {
        lock(&self.state)
            .api_users
            .insert(login.to_owned(), secret.to_owned());
    }

    /// Adds a team.
    pub fn add_team(&self, name: &str) {
        lock(&self.state).teams.push(name.to_owned());
    }

    /// Makes the tenant offer (or lack, the default) the integration-account
    /// endpoints the SDK assumes. Lacking them, their paths answer 500 with an empty
    /// body, as any unknown Configuration API endpoint does.
    pub fn set_integration_accounts_offered(&self, offered: bool) {
        lock(&self.state).offers_accounts = offered;
    }

    /// Sends refresh-token grants to this token URL instead of the account's
    /// `<url>/oauth_token.do`.
    pub fn set_servicenow_token_url(&self, token_url: Option<&str>) {
        lock(&self.state).servicenow_token_url = token_url.map(str::to_owned);
    }

    /// Sets the lifetime of tokens issued from now on (default 3600 s).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.state).token_lifetime = lifetime;
    }

    /// Expires every token issued so far.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for expiry in lock(&self.state).tokens.values_mut() {
            *expiry = now;
        }
    }

    /// Delays every answer.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state).latency.set(latency);
    }

    /// Delays one endpoint's answers.
    pub fn set_endpoint_latency(&self, endpoint: Endpoint, latency: Duration) {
        lock(&self.state).latency.set_for(endpoint, latency);
    }

    /// Injects `fault` into requests to any endpoint on `schedule`.
    pub fn inject_fault(&self, fault: Fault, schedule: FaultSchedule) {
        lock(&self.state).faults.add(fault, schedule, None);
    }

    /// Injects `fault` into requests to `endpoint` on `schedule`.
    pub fn inject_fault_on(&self, endpoint: Endpoint, fault: Fault, schedule: FaultSchedule) {
        lock(&self.state)
            .faults
            .add(fault, schedule, Some(endpoint));
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// How many faults have been injected.
    pub fn faults_injected(&self) -> u64 {
        lock(&self.state).faults.fired()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.state).log.clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.state).log.clear();
    }

    /// How many requests changed (or tried to change) something, token requests
    /// and the two actions aside.
    pub fn write_count(&self) -> usize {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| r.endpoint != Endpoint::Token && r.is_write_method() && !is_action(&r.path))
            .count()
    }

    /// The integration accounts, as stored.
    pub fn accounts(&self) -> Vec<StoredAccount> {
        lock(&self.state).accounts.clone()
    }

    /// The users, as stored.
    pub fn users(&self) -> Vec<Value> {
        lock(&self.state).users.values().cloned().collect()
    }

    /// Locks a user out, as too many failed logins do.
    pub fn lock_out(&self, login: &str) {
        lock(&self.state).locked.insert(login.to_owned(), true);
    }
}

fn is_action(path: &str) -> bool {
    path.ends_with("/refreshtoken") || path.ends_with("/test")
}

struct TenantResponder {
    state: Arc<Mutex<TenantState>>,
}

fn endpoint_of(path: &str) -> Endpoint {
    if path == TOKEN_PATH {
        Endpoint::Token
    } else if path.starts_with(USER_PATH) {
        Endpoint::Users
    } else if path == "/configapi/v2/team" {
        Endpoint::Teams
    } else if path.starts_with(ACCOUNT_PATH) {
        Endpoint::IntegrationAccounts
    } else if !path.starts_with("/configapi/") {
        Endpoint::Page
    } else {
        Endpoint::Other
    }
}

/// The decoded path segments after `prefix`.
fn segments_after(path: &str, prefix: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let rest = rest.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect(),
    )
}

/// What a handler asks the responder to do outside the state lock.
enum Outcome {
    Reply(Reply),
    /// Run a ServiceNow token grant, then answer.
    Grant(GrantJob),
}

enum GrantKind {
    /// Password grant; store the refresh token on the account.
    Password {
        username: String,
        password: SecretString,
    },
    /// Refresh grant with the stored token; report the verdict.
    Test { refresh_token: SecretString },
}

struct GrantJob {
    account: String,
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    kind: GrantKind,
}

impl Respond for TenantResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let received_at = Instant::now();
        let path = request.url.path().to_owned();
        let endpoint = endpoint_of(&path);
        let (fault, delay, outcome) = {
            let mut state = lock(&self.state);
            let delay = state.latency.of(&endpoint);
            let is_write = !matches!(request.method, Method::GET | Method::HEAD | Method::OPTIONS)
                && endpoint != Endpoint::Token;
            let fault = state.faults.next(endpoint, is_write);
            let outcome = match &fault {
                Some(Fault::RateLimited { retry_after }) => Outcome::Reply(Reply::rate_limited(
                    Reply::text(429, "Too Many Requests"),
                    *retry_after,
                )),
                Some(Fault::Unavailable) => Outcome::Reply(Reply::text(503, "Service Unavailable")),
                Some(Fault::ExpiredToken) if bearer(request).is_some() => {
                    if let Some(token) = bearer(request) {
                        state.tokens.insert(token, Instant::now());
                    }
                    Outcome::Reply(Reply::empty(401))
                }
                _ => handle(&mut state, request, endpoint),
            };
            (fault, delay, outcome)
        };
        let reply = match outcome {
            Outcome::Reply(reply) => reply,
            Outcome::Grant(job) => {
                let account = job.account.clone();
                let is_test = matches!(job.kind, GrantKind::Test { .. });
                let result = run_grant(job);
                let mut state = lock(&self.state);
                match (result, is_test) {
                    (Ok(refresh), false) => {
                        if let Some(a) = state.accounts.iter_mut().find(|a| a.name == account) {
                            a.refresh_token = refresh;
                        }
                        Reply::json(200, &json!({"success": true}))
                    }
                    (Err(e), false) => Reply::json(
                        400,
                        &json!({"message": format!("Could not obtain a refresh token: {e}")}),
                    ),
                    (Ok(_), true) => Reply::json(
                        200,
                        &json!({"valid": true, "message": "Connection is valid"}),
                    ),
                    (Err(e), true) => Reply::json(
                        200,
                        &json!({"valid": false, "message": format!("Connection failed: {e}")}),
                    ),
                }
            }
        };
        let (reply, delay) = Fault::after_processing(fault.as_ref(), reply, delay);
        lock(&self.state).log.push(LoggedRequest {
            method: request.method.to_string(),
            path,
            query: request.url.query().map(str::to_owned),
            body: String::from_utf8_lossy(&request.body).into_owned(),
            endpoint,
            status: reply.status,
            via_batch: false,
            received_at,
            delay,
        });
        reply.into_template(delay)
    }
}

/// Runs a token grant against ServiceNow on a thread of its own (the fake's server
/// thread must not run a second runtime), with the SDK's own token code.
fn run_grant(job: GrantJob) -> Result<Option<SecretString>, String> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let url = url::Url::parse(&job.token_url).map_err(|e| e.to_string())?;
            let origin =
                Origin::parse(&url.origin().ascii_serialization()).map_err(|e| e.to_string())?;
            let transport = Transport::builder(origin)
                .service("fake-tenant")
                .retry_policy(RetryPolicy::never())
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| e.to_string())?;
            let endpoint = TokenEndpoint::new(
                &transport,
                url.path(),
                &job.client_id,
                Some(&job.client_secret),
            )
            .map_err(|e| e.to_string())?;
            let token = match &job.kind {
                GrantKind::Password { username, password } => {
                    endpoint.password(username, password).await
                }
                GrantKind::Test { refresh_token } => endpoint.refresh(refresh_token).await,
            }
            .map_err(|e| e.to_string())?;
            Ok(token.refresh_token)
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the grant thread panicked".into()))
}

fn bearer(request: &Request) -> Option<String> {
    let value = request
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    value.strip_prefix("Bearer ").map(str::to_owned)
}

/// The Agent Desktop pages (classic and 2.0), served without credentials.
const PAGES: [&str; 2] = ["/agentdesktop/", "/agent/"];

/// The answer to an unknown Configuration API endpoint: 500, empty body.
fn unknown_endpoint() -> Reply {
    Reply::empty(500)
}

fn handle(state: &mut TenantState, request: &Request, endpoint: Endpoint) -> Outcome {
    if endpoint == Endpoint::Token {
        return Outcome::Reply(token(state, request));
    }
    if endpoint == Endpoint::Page {
        let path = request.url.path();
        return Outcome::Reply(if request.method == Method::GET && PAGES.contains(&path) {
            Reply::text(
                    200,
                    "<!DOCTYPE html><html><head><title>Agent Desktop - Login</title></head><body></body></html>",
                )
                .header("content-type", "text/html; charset=utf-8")
        } else if request.method == Method::GET
            && PAGES.iter().any(|p| path == p.trim_end_matches('/'))
        {
            Reply::empty(301).header("location", format!("{path}/"))
        } else {
            Reply::text(404, "Not Found")
        });
    }
    let authorised = bearer(request)
        .and_then(|t| state.tokens.get(&t).copied())
        .is_some_and(|expiry| expiry > Instant::now());
    if !authorised {
        return Outcome::Reply(Reply::empty(401));
    }
    let writes_json = request.method != Method::GET
        && request.method != Method::DELETE
        && !request.body.is_empty();
    let is_json = request
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if writes_json && !is_json {
        return Outcome::Reply(Reply::text(415, "Unsupported Media Type"));
    }
    let path = request.url.path();
    match endpoint {
        Endpoint::Users => Outcome::Reply(users(state, &request.method, path, &request.body)),
        Endpoint::Teams if request.method == Method::GET => {
            let teams: Vec<Value> = state.teams.iter().map(|t| json!({"name": t})).collect();
            Outcome::Reply(Reply::json(200, &Value::Array(teams)))
        }
        Endpoint::IntegrationAccounts if state.offers_accounts => {
            accounts(state, &request.method, path, &request.body)
        }
        _ => Outcome::Reply(unknown_endpoint()),
    }
}

fn token(state: &mut TenantState, request: &Request) -> Reply {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if get("grant_type") != "client_credentials" {
        return Reply::json(400, &json!({"error": "unsupported_grant_type"}));
    }
    let client_ok = state
        .api_users
        .get(get("client_id"))
        .is_some_and(|s| s == get("client_secret"));
    if !client_ok {
        return Reply::json(
            401,
            &json!({"error": "invalid_client", "error_description": "Bad credentials"}),
        );
    }
    let scope_ok =
        get("scope").split_whitespace().any(|s| s == state.host) || get("tenant") == state.host;
    if !scope_ok {
        return Reply::json(
            400,
            &json!({"error": "invalid_scope", "error_description": "Unknown tenant"}),
        );
    }
    let token: String = {
        let mut rng = rand::rng();
        (0..32)
            .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
            .collect()
    };
    let lifetime = state.token_lifetime;
    state
        .tokens
        .insert(token.clone(), Instant::now() + lifetime);
    Reply::json(
        200,
        &json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs().to_string(),
            "scope": state.host,
        }),
    )
}

fn json_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Reply::text(400, "Malformed JSON body")),
    }
}

/// The fields a user PUT may change, as documented.
const UPDATABLE: [&str; 5] = ["skills", "disabled", "password", "changePassword", "team"];

/// 400 unless `skills`, when present, is an object of numbers.
fn check_user_fields(
    state: &TenantState,
    user: &serde_json::Map<String, Value>,
) -> Result<(), Reply> {
    if let Some(skills) = user.get("skills") {
        let ok = skills
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_number));
        if !ok {
            return Err(Reply::text(
                400,
                "Integrity violation: property 'skills' must map skill names to levels",
            ));
        }
    }
    if let Some(team) = user.get("team").and_then(Value::as_str)
        && !state.teams.iter().any(|t| t == team)
    {
        return Err(Reply::text(
            400,
            &format!("Integrity violation: property 'team' refers to a missing team {team:?}"),
        ));
    }
    Ok(())
}

fn users(state: &mut TenantState, method: &Method, path: &str, body: &[u8]) -> Reply {
    let Some(segments) = segments_after(path, USER_PATH) else {
        return unknown_endpoint();
    };
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (method.clone(), segs.as_slice()) {
        (Method::POST, []) => {
            let user = match json_body(body) {
                Ok(u) => u,
                Err(reply) => return reply,
            };
            let Some(login) = user
                .get("loginId")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                return Reply::text(400, "Integrity violation: property 'loginId' is required");
            };
            if let Err(reply) = check_user_fields(state, &user) {
                return reply;
            }
            if state.users.contains_key(&login) {
                return Reply::text(409, "Duplicate object");
            }
            state.users.insert(login, Value::Object(user));
            Reply::empty(200)
        }
        (Method::PUT, [login]) if *login != "lock" => {
            let update = match json_body(body) {
                Ok(u) => u,
                Err(reply) => return reply,
            };
            if let Err(reply) = check_user_fields(state, &update) {
                return reply;
            }
            let Some(Value::Object(stored)) = state.users.get_mut(*login) else {
                return Reply::text(404, "Object not found");
            };
            // Only the documented fields change; anything else sent is ignored.
            for (key, value) in update {
                if UPDATABLE.contains(&key.as_str()) {
                    stored.insert(key, value);
                }
            }
            Reply::empty(200)
        }
        (Method::GET, [login]) => match state.users.get(*login) {
            Some(user) => {
                let mut user = user.clone();
                if let Some(map) = user.as_object_mut() {
                    map.remove("password");
                }
                Reply::json(200, &user)
            }
            None => Reply::text(404, "Object not found"),
        },
        (Method::DELETE, [login]) => match state.users.remove(*login) {
            Some(_) => Reply::empty(200),
            None => Reply::text(404, "Object not found"),
        },
        (Method::GET, ["lock", login]) if state.users.contains_key(*login) => Reply::json(
            200,
            &json!({"lockedOut": state.locked.get(*login).copied().unwrap_or(false)}),
        ),
        (Method::PUT, ["lock", login]) if state.users.contains_key(*login) => match json_body(body)
        {
            // The documented call only clears a lock.
            Ok(map) => match map.get("lockedOut").and_then(Value::as_bool) {
                Some(false) => {
                    state.locked.insert((*login).to_owned(), false);
                    Reply::empty(200)
                }
                Some(true) => Reply::text(
                    400,
                    "Integrity violation: property 'lockedOut' can only be cleared",
                ),
                None => Reply::text(400, "Integrity violation: property 'lockedOut' is required"),
            },
            Err(reply) => reply,
        },
        (_, ["lock", _]) => Reply::text(404, "Object not found"),
        _ => unknown_endpoint(),
    }
}

fn stored_account(map: &serde_json::Map<String, Value>) -> Result<StoredAccount, Reply> {
    let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
    let required = |k: &str| {
        text(k).filter(|v| !v.is_empty()).ok_or_else(|| {
            Reply::text(
                400,
                &format!("Integrity violation: property '{k}' is required"),
            )
        })
    };
    Ok(StoredAccount {
        account_type: required("type")?,
        name: required("name")?,
        default: map.get("default").and_then(Value::as_bool).unwrap_or(false),
        url: required("url")?,
        client_id: required("clientId")?,
        client_secret: SecretString::from(required("clientSecret")?),
        refresh_token: None,
    })
}

fn accounts(state: &mut TenantState, method: &Method, path: &str, body: &[u8]) -> Outcome {
    let Some(segments) = segments_after(path, ACCOUNT_PATH) else {
        return Outcome::Reply(unknown_endpoint());
    };
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let reply = match (method.clone(), segs.as_slice()) {
        (Method::GET, []) => {
            let list: Vec<Value> = state.accounts.iter().map(StoredAccount::to_wire).collect();
            Reply::json(200, &Value::Array(list))
        }
        (Method::POST, []) => match json_body(body).and_then(|m| stored_account(&m)) {
            Ok(account) if state.accounts.iter().any(|a| a.name == account.name) => {
                Reply::text(409, "Duplicate object")
            }
            Ok(account) => {
                if account.default {
                    clear_default(state, &account.account_type);
                }
                let wire = account.to_wire();
                state.accounts.push(account);
                Reply::json(200, &wire)
            }
            Err(reply) => reply,
        },
        (Method::PUT, [name]) => match json_body(body).and_then(|m| stored_account(&m)) {
            Ok(mut account) => match state.accounts.iter().position(|a| a.name == *name) {
                Some(i) => {
                    if account.default {
                        clear_default(state, &account.account_type);
                    }
                    // The refresh token stays while the OAuth client is the same.
                    if state.accounts[i].client_id == account.client_id
                        && state.accounts[i].url == account.url
                    {
                        account.refresh_token = state.accounts[i].refresh_token.clone();
                    }
                    state.accounts[i] = account;
                    Reply::json(200, &state.accounts[i].to_wire())
                }
                None => Reply::text(404, "Object not found"),
            },
            Err(reply) => reply,
        },
        (Method::DELETE, [name]) => {
            let before = state.accounts.len();
            state.accounts.retain(|a| a.name != *name);
            if state.accounts.len() < before {
                Reply::empty(200)
            } else {
                Reply::text(404, "Object not found")
            }
        }
        (Method::POST, [name, action @ ("refreshtoken" | "test")]) => {
            let Some(account) = state.accounts.iter().find(|a| a.name == *name).cloned() else {
                return Outcome::Reply(Reply::text(404, "Object not found"));
            };
            let token_url = state
                .servicenow_token_url
                .clone()
                .unwrap_or_else(|| format!("{}/oauth_token.do", account.url.trim_end_matches('/')));
            let kind = if *action == "refreshtoken" {
                let map = match json_body(body) {
                    Ok(m) => m,
                    Err(reply) => return Outcome::Reply(reply),
                };
                let get = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
                match (get("username"), get("password")) {
                    (Some(username), Some(password)) => GrantKind::Password {
                        username,
                        password: SecretString::from(password),
                    },
                    _ => {
                        return Outcome::Reply(Reply::text(
                            400,
                            "Integrity violation: property 'username' is required",
                        ));
                    }
                }
            } else {
                match account.refresh_token.clone() {
                    Some(refresh_token) => GrantKind::Test { refresh_token },
                    None => {
                        return Outcome::Reply(Reply::json(
                            200,
                            &json!({"valid": false, "message": "No refresh token: request one first"}),
                        ));
                    }
                }
            };
            return Outcome::Grant(GrantJob {
                account: account.name,
                token_url,
                client_id: account.client_id,
                client_secret: account.client_secret,
                kind,
            });
        }
        _ => Reply::text(405, "Method Not Allowed"),
    };
    Outcome::Reply(reply)
}

/// Only one account of a type may be the default.
fn clear_default(state: &mut TenantState, account_type: &str) {
    for a in state
        .accounts
        .iter_mut()
        .filter(|a| a.account_type == account_type)
    {
        a.default = false;
    }
}
