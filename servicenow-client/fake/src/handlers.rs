//! How the fake instance answers: routing, authentication, faults, and each API.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use base64::Engine as _;
use bpsn_fake::{Fault, LoggedRequest, Reply};
use http::Method;
use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::dictionary::{self, Column, ColumnType};
use super::state::{Columns, State, TokenInfo, field};
use super::write_costs::{self, WriteKind};
use super::{ActiveForm, Endpoint};
use servicenow_client::JsonRecord;

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The property that disables the OAuth password grant.
const ROPC_DISABLED: &str = "glide.oauth.inbound.ropc.grant_type.disabled";
/// Off unless set to true (Washington DC and later).
const CLIENT_CREDENTIALS_ENABLED: &str = "glide.oauth.inbound.client.credential.grant_type.enabled";
/// The property without which inbound OAuth is refused altogether.
const OAUTH_ACTIVE: &str = "com.snc.platform.security.oauth.is.active";

fn error_reply(status: u16, message: &str, detail: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"message": message, "detail": detail}, "status": "failure"}),
    )
}

fn access_denied() -> Reply {
    Reply::json(
        401,
        &json!({"error": "server_error", "error_description": "access_denied"}),
    )
}

fn unauthenticated() -> Reply {
    error_reply(
        401,
        "User Not Authenticated",
        "Required to provide Auth information",
    )
}

/// The wiremock responder serving the whole instance.
pub(crate) struct Responder {
    pub(crate) state: Arc<Mutex<State>>,
}

pub(crate) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn endpoint_of(path: &str) -> Endpoint {
    if path == "/oauth_token.do" {
        Endpoint::Token
    } else if path == "/api/now/v1/batch" || path == "/api/now/batch" {
        Endpoint::Batch
    } else if path.starts_with("/api/sn_cicd/") {
        Endpoint::Cicd
    } else if table_route(path).is_some() {
        Endpoint::Table
    } else {
        Endpoint::Other
    }
}

/// `(table, Some(sys_id))` for `/api/now[/v1|/v2]/table/{table}[/{sys_id}]`.
fn table_route(path: &str) -> Option<(String, Option<String>)> {
    let rest = path.strip_prefix("/api/now/")?;
    let rest = rest
        .strip_prefix("v1/")
        .or_else(|| rest.strip_prefix("v2/"))
        .unwrap_or(rest);
    let rest = rest.strip_prefix("table/")?;
    let mut parts = rest.split('/');
    let table = parts.next().filter(|t| !t.is_empty())?.to_owned();
    let id = parts.next().map(str::to_owned);
    if parts.next().is_some() {
        return None;
    }
    Some((table, id))
}

/// The instance's session cookie.
pub const SESSION_COOKIE: &str = "JSESSIONID";

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let received_at = Instant::now();
        let mut state = lock(&self.state);
        let path = request.url.path().to_owned();
        let endpoint = endpoint_of(&path);
        let delay = state.latency.of(&endpoint);
        let is_write = !matches!(request.method, Method::GET | Method::HEAD | Method::OPTIONS)
            && endpoint != Endpoint::Token;
        let fault = state.faults.next(endpoint, is_write);
        let query = request.url.query().map(str::to_owned);
        let body_text = String::from_utf8_lossy(&request.body).into_owned();

        let origin = request_origin(&state.origin, request);
        let reply = match &fault {
            Some(Fault::RateLimited { retry_after }) => Reply::rate_limited(
                error_reply(429, "Rate limit exceeded", "Too many requests"),
                *retry_after,
            ),
            Some(Fault::Unavailable) => {
                error_reply(503, "Service Unavailable", "The instance is overloaded")
            }
            Some(Fault::ExpiredToken) if bearer(request).is_some() => {
                if let Some(token) = bearer(request)
                    && let Some(info) = state.tokens.get_mut(&token)
                {
                    info.expires_at = Instant::now();
                }
                unauthenticated()
            }
            _ => handle(&mut state, request, endpoint, &origin),
        };
        let (reply, delay) = Fault::after_processing(fault.as_ref(), reply, delay);
        // As the instance does: an authenticated request without the session
        // cookie of an earlier answer opens a new session, and the answer says
        // which; JSON is compressed when the client asks for it.
        let mut reply = reply;
        let has_session = header(request, "cookie").is_some_and(|c| {
            c.split(';')
                .any(|kv| kv.trim().starts_with(&format!("{SESSION_COOKIE}=")))
        });
        if header(request, "authorization").is_some() && !has_session && endpoint != Endpoint::Token
        {
            state.sessions += 1;
            reply = reply.header(
                "set-cookie",
                format!(
                    "{SESSION_COOKIE}=fake-session-{}; Path=/; HttpOnly; Secure",
                    state.sessions
                ),
            );
        }
        let reply = reply.compressed_for(header(request, "accept-encoding"));
        state.log.push(LoggedRequest {
            method: request.method.to_string(),
            path,
            query,
            body: body_text,
            endpoint,
            status: reply.status,
            via_batch: false,
            received_at,
            delay,
        });
        reply.into_template(delay)
    }
}

fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether a CORS rule's domain (`https://a.example.com`, or with one `*` right
/// after the scheme) matches an origin.
fn domain_matches(domain: &str, origin: &str) -> bool {
    let domain = domain.trim().trim_end_matches('/');
    match domain.split_once("://*") {
        Some((scheme, suffix)) => origin
            .strip_prefix(scheme)
            .and_then(|o| o.strip_prefix("://"))
            .is_some_and(|host| host.ends_with(suffix) && host.len() > suffix.len()),
        None => domain.eq_ignore_ascii_case(origin),
    }
}

/// Answers a CORS preflight from the active `sys_cors_rule` rows of the REST API
/// the path belongs to (found by its `sys_ws_definition.base_uri`). A request no
/// rule allows gets a 200 without CORS headers, which a browser treats as refused.
fn preflight(state: &State, request: &Request) -> Reply {
    let (Some(origin), Some(method)) = (
        header(request, "origin"),
        header(request, "access-control-request-method"),
    ) else {
        return error_reply(
            400,
            "Requested URI does not represent any resource",
            request.url.path(),
        );
    };
    let path = request.url.path();
    let path = ["/api/now/v1/", "/api/now/v2/"]
        .iter()
        .find_map(|p| path.strip_prefix(p).map(|rest| format!("/api/now/{rest}")))
        .unwrap_or_else(|| path.to_owned());
    let apis: Vec<&str> = state
        .rows("sys_ws_definition")
        .iter()
        .filter(|d| {
            field(d, "base_uri").is_some_and(|base| {
                !base.is_empty() && (path == base || path.starts_with(&format!("{base}/")))
            })
        })
        .filter_map(|d| field(d, "sys_id"))
        .collect();
    let column = method.to_ascii_lowercase();
    let rule = state.rows("sys_cors_rule").iter().find(|r| {
        field(r, "active") != Some("false")
            && field(r, "rest_api").is_some_and(|api| apis.contains(&api))
            && field(r, "domain").is_some_and(|d| domain_matches(d, origin))
            && field(r, &column) == Some("true")
    });
    let Some(rule) = rule else {
        return Reply::empty(200);
    };
    let allowed: Vec<String> = ["get", "post", "put", "patch", "delete"]
        .iter()
        .filter(|m| field(rule, m) == Some("true"))
        .map(|m| m.to_ascii_uppercase())
        .collect();
    let mut reply = Reply::empty(200)
        .header("access-control-allow-origin", origin.to_owned())
        .header("access-control-allow-methods", allowed.join(","))
        .header("vary", "Origin".to_owned());
    if let Some(headers) = field(rule, "access_control_allow_headers").filter(|h| !h.is_empty()) {
        reply = reply.header("access-control-allow-headers", headers.to_owned());
    }
    if let Some(age) = field(rule, "max_age").filter(|a| !a.is_empty()) {
        reply = reply.header("access-control-max-age", age.to_owned());
    }
    reply
}

fn bearer(request: &Request) -> Option<String> {
    let value = request
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    value.strip_prefix("Bearer ").map(str::to_owned)
}

/// Who is calling: the user name, or the 401 to answer.
fn authenticate(state: &State, request: &Request) -> Result<String, Reply> {
    if let Some(key) = header(request, "x-sn-apikey") {
        return match state.api_keys.get(key) {
            Some(user) if user_active(state, user) => Ok(user.clone()),
            _ => Err(unauthenticated()),
        };
    }
    let Some(value) = request
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthenticated());
    };
    if let Some(encoded) = value.strip_prefix("Basic ") {
        let decoded = BASE64
            .decode(encoded.trim())
            .map_err(|_| unauthenticated())?;
        let text = String::from_utf8(decoded).map_err(|_| unauthenticated())?;
        let (user, password) = text.split_once(':').ok_or_else(unauthenticated)?;
        return match state.passwords.get(user) {
            Some(p) if p == password && user_active(state, user) => Ok(user.to_owned()),
            _ => Err(unauthenticated()),
        };
    }
    if let Some(token) = value.strip_prefix("Bearer ") {
        let info = state.tokens.get(token).ok_or_else(unauthenticated)?;
        let client_ok = state
            .find_by("oauth_entity", "client_id", &info.client_id)
            .is_some_and(|c| field(c, "active") != Some("false"));
        if info.expires_at > Instant::now() && client_ok && user_active(state, &info.user_name) {
            return Ok(info.user_name.clone());
        }
    }
    Err(unauthenticated())
}

fn user_active(state: &State, user_name: &str) -> bool {
    state
        .find_by("sys_user", "user_name", user_name)
        .is_some_and(|u| field(u, "active") != Some("false"))
}

/// The origin the caller used: the fake's scheme with the request's `Host` (a
/// proxy in front of the fake gives another host than the bind address).
fn request_origin(own: &str, request: &Request) -> String {
    // Behind a load balancer or TLS proxy, as in front of an instance: the
    // first X-Forwarded-Proto / X-Forwarded-Host name what the client used.
    let first = |name: &str| {
        header(request, name)
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let scheme = match first("x-forwarded-proto") {
        Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
        Some(proto) if proto.eq_ignore_ascii_case("http") => "http",
        _ => own.split_once("://").map(|(s, _)| s).unwrap_or("http"),
    };
    let host = first("x-forwarded-host").or_else(|| header(request, "host"));
    match host {
        Some(host) if !host.is_empty() && !host.contains(['/', '\\', '@', ' ']) => {
            format!("{scheme}://{host}")
        }
        _ => own.to_owned(),
    }
}

/// The longest request line (path and query) the fake accepts: the
/// application server's default header buffer (8 KiB). Unverified for
/// ServiceNow; longer requests get the server's HTML error page, not JSON.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;

fn handle(state: &mut State, request: &Request, endpoint: Endpoint, origin: &str) -> Reply {
    let line = request.url.path().len() + request.url.query().map_or(0, |q| q.len() + 1);
    if line > MAX_REQUEST_LINE {
        let mut reply = Reply::text(
            400,
            "<!doctype html><html><head><title>HTTP Status 400 – Bad Request</title></head><body><h1>HTTP Status 400 – Bad Request</h1><p>Request header is too large</p></body></html>",
        );
        reply.headers = vec![("content-type".into(), "text/html;charset=utf-8".into())];
        return reply;
    }
    if endpoint == Endpoint::Token {
        return token(state, request);
    }
    if request.method == Method::OPTIONS {
        // A browser's CORS preflight carries no credentials.
        return preflight(state, request);
    }
    let caller = match authenticate(state, request) {
        Ok(user) => user,
        Err(reply) => return reply,
    };
    let path_and_query = match request.url.query() {
        Some(q) => format!("{}?{q}", request.url.path()),
        None => request.url.path().to_owned(),
    };
    // The caller's time zone, read once per request (dates display in it).
    // A user without a zone of their own sees the system's.
    let utc_offset = dictionary::utc_offset_minutes(
        state
            .find_by("sys_user", "user_name", &caller)
            .and_then(|u| field(u, "time_zone"))
            .filter(|z| !z.trim().is_empty())
            .unwrap_or(&state.config.system_time_zone),
    );
    let call = Call {
        caller: &caller,
        origin,
        utc_offset,
    };
    match endpoint {
        Endpoint::Batch if request.method == Method::POST => batch(state, &call, &request.body),
        _ => route(
            state,
            &call,
            &request.method,
            &path_and_query,
            &request.body,
        ),
    }
}

/// Who calls, and through which origin (for `Location` and reference links).
struct Call<'a> {
    caller: &'a str,
    origin: &'a str,
    /// The caller's offset from UTC, in minutes.
    utc_offset: i32,
}

/// What the fake answers for an API it does not model.
fn not_modelled(what: &str) -> Reply {
    error_reply(
        501,
        "Not Implemented",
        &format!("{what} is {}", super::query::NOT_MODELLED),
    )
}

/// Routes one API call (also used for each batch item).
fn route(
    state: &mut State,
    call: &Call<'_>,
    method: &Method,
    path_and_query: &str,
    body: &[u8],
) -> Reply {
    let url = match url::Url::parse("http://fake.invalid").and_then(|b| b.join(path_and_query)) {
        Ok(u) => u,
        Err(_) => return error_reply(400, "Invalid URL", path_and_query),
    };
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let path = url.path();
    if let Some((table, id)) = table_route(path) {
        return table_api(
            state,
            call,
            method,
            &table,
            id.as_deref(),
            &params,
            body,
            path,
        );
    }
    if let Some(rest) = path.strip_prefix("/api/sn_cicd/") {
        return cicd(state, call, method, rest, &params);
    }
    for (prefix, what) in [
        ("/api/now/attachment", "the Attachment API"),
        ("/api/now/v1/attachment", "the Attachment API"),
        ("/api/now/import", "the Import Set API"),
        ("/api/now/stats", "the Aggregate API"),
        ("/api/now/cmdb", "the CMDB API"),
        ("/api/now/tinyurl", "the Tiny URL API"),
        ("/api/now/v1/tinyurl", "the Tiny URL API"),
    ] {
        if path.starts_with(prefix) {
            return not_modelled(what);
        }
    }
    error_reply(400, "Requested URI does not represent any resource", path)
}

/// `sys_user.user_password` is one-way encrypted: a write stores a digest,
/// never the clear text, and no answer returns it (the display form shows
/// `********`). Takes the clear value out of `fields`, leaving the digest.
fn one_way_password(table: &str, fields: &mut JsonRecord) -> Option<String> {
    if table != "sys_user" {
        return None;
    }
    let clear = fields.get("user_password")?.as_str()?.to_owned();
    if clear.is_empty() {
        return None;
    }
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    ("bp-servicenow-fake", &clear).hash(&mut hasher);
    fields.insert(
        "user_password".into(),
        Value::String(format!("1:{:016x}", hasher.finish())),
    );
    Some(clear)
}

/// An update of a row, a one-way password among its fields included.
fn update_with_password(
    state: &mut State,
    table: &str,
    id: &str,
    fields: &mut JsonRecord,
    caller: &str,
) -> Option<JsonRecord> {
    let password = one_way_password(table, fields);
    let row = state.update(table, id, fields, caller)?;
    remember_password(state, &row, password);
    Some(row)
}

/// With `sysparm_input_display_value=true`, the values of a write are display
/// values (ServiceNow KB0534905): a reference names its record by its display
/// value (`{"department": "IT"}` stores the sys_id of the department shown as
/// "IT"), a choice by its label. A display value that names no record, or
/// several, is not modelled: an honest 501, not a guess.
fn from_display_values(
    state: &State,
    table: &str,
    params: &[(String, String)],
    fields: &mut JsonRecord,
) -> Result<(), Reply> {
    if !flag(params, "sysparm_input_display_value") {
        return Ok(());
    }
    for (name, value) in fields.iter_mut() {
        let Some(text) = value.as_str().map(str::to_owned) else {
            continue;
        };
        let Some(column) = state.column(table, name) else {
            continue;
        };
        match &column.kind {
            ColumnType::Reference(target) if !text.is_empty() => {
                let matches: Vec<String> = state
                    .rows(target)
                    .iter()
                    .filter_map(|r| field(r, "sys_id"))
                    .filter(|id| state.display_value(target, id) == text)
                    .map(str::to_owned)
                    .collect();
                match matches.as_slice() {
                    [one] => *value = Value::String(one.clone()),
                    _ => {
                        return Err(not_modelled(&format!(
                            "a display value for {table}.{name} that names {} {target} records ({text:?})",
                            matches.len()
                        )));
                    }
                }
            }
            ColumnType::Choice(choices) => {
                if let Some((stored, _)) = choices.iter().find(|(_, label)| *label == text) {
                    *value = Value::String(stored.clone());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The user can log in with the password a write set, as on the platform.
fn remember_password(state: &mut State, row: &JsonRecord, password: Option<String>) {
    if let (Some(password), Some(user)) = (password, field(row, "user_name")) {
        state.passwords.insert(user.to_owned(), password);
    }
}

fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A boolean parameter, as the platform reads it: `true` in any case
/// (`True`, `TRUE`), anything else false.
fn flag(params: &[(String, String)], name: &str) -> bool {
    param(params, name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// `sysparm_display_value` in lower case (`true`, `false`, `all`).
fn display_param(params: &[(String, String)]) -> String {
    param(params, "sysparm_display_value")
        .unwrap_or("false")
        .to_ascii_lowercase()
}

/// The list's filter: `sysparm_query`, or the name–value pairs (every
/// parameter that is not a `sysparm_` one: `?active=true&priority=1`), which
/// the Table API documents as mutually exclusive with it. Both at once is not
/// modelled (an honest 501, not a guess).
fn list_filter(params: &[(String, String)]) -> Result<String, Reply> {
    let pairs: Vec<String> = params
        .iter()
        .filter(|(k, _)| !k.starts_with("sysparm_") && !k.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    match (param(params, "sysparm_query"), pairs.is_empty()) {
        (Some(query), true) => Ok(query.to_owned()),
        (None, _) => Ok(pairs.join("^")),
        (Some(_), false) => Err(not_modelled(
            "a list that gives both sysparm_query and name-value pairs (the Table API documents them as mutually exclusive)",
        )),
    }
}

/// Which roles may write to a table (any one of them).
fn write_roles(table: &str) -> &'static [&'static str] {
    match table {
        "oauth_entity" => &["admin", "oauth_admin"],
        _ => &["admin"],
    }
}

#[allow(clippy::too_many_arguments)]
fn table_api(
    state: &mut State,
    call: &Call<'_>,
    method: &Method,
    table: &str,
    id: Option<&str>,
    params: &[(String, String)],
    body: &[u8],
    path: &str,
) -> Reply {
    if !state.has_table(table) {
        return Reply::json(
            400,
            &json!({"error": {"message": format!("Invalid table {table}"), "detail": null}, "status": "failure"}),
        );
    }
    let caller = call.caller;
    let is_write = *method != Method::GET;
    if is_write
        && !write_roles(table)
            .iter()
            .any(|r| state.user_has_role(caller, r))
    {
        return error_reply(
            403,
            "Operation Failed",
            &format!(
                "ACL Exception {} Failed due to security constraints",
                method.as_str().to_lowercase()
            ),
        );
    }
    let before_update = match (method, id) {
        (&Method::PATCH | &Method::PUT, Some(id)) => state.find(table, id).cloned(),
        _ => None,
    }
    .unwrap_or_default();
    match (method.clone(), id) {
        (Method::GET, None) => list(state, call, table, params, path),
        (Method::GET, Some(id)) => match state.find(table, id) {
            Some(row) => {
                let row = row.clone();
                Reply::json_of(
                    200,
                    &Envelope {
                        result: render(state, call, table, &row, params),
                    },
                )
            }
            None => not_found(),
        },
        (Method::POST, None) => match body_object(body) {
            Ok(mut fields) => {
                if state.config.ignore_supplied_sys_ids {
                    fields.remove("sys_id");
                }
                if let Err(reply) = from_display_values(state, table, params, &mut fields) {
                    return reply;
                }
                let password = one_way_password(table, &mut fields);
                let row = state.insert_row(table, &fields, caller, Columns::Strict);
                remember_password(state, &row, password);
                write_costs::after_api_write(
                    state,
                    table,
                    caller,
                    WriteKind::Insert,
                    None,
                    Some(&row),
                );
                let location = format!(
                    "{}/api/now/table/{table}/{}",
                    call.origin,
                    field(&row, "sys_id").unwrap_or_default()
                );
                Reply::json_of(
                    201,
                    &Envelope {
                        result: render(state, call, table, &row, params),
                    },
                )
                .header("location", location)
            }
            Err(reply) => reply,
        },
        (Method::PATCH | Method::PUT, Some(id)) => match body_object(body) {
            Ok(mut fields) => match from_display_values(state, table, params, &mut fields)
                .map(|()| update_with_password(state, table, id, &mut fields, caller))
            {
                Err(reply) => reply,
                Ok(updated) => match updated {
                    Some(row) => {
                        write_costs::after_api_write(
                            state,
                            table,
                            caller,
                            WriteKind::Update,
                            Some(&before_update),
                            Some(&row),
                        );
                        Reply::json_of(
                            200,
                            &Envelope {
                                result: render(state, call, table, &row, params),
                            },
                        )
                    }
                    None => not_found(),
                },
            },
            Err(reply) => reply,
        },
        (Method::DELETE, Some(id)) => {
            let before = state.find(table, id).cloned();
            if state.delete(table, id) {
                write_costs::after_api_write(
                    state,
                    table,
                    caller,
                    WriteKind::Delete,
                    before.as_ref(),
                    None,
                );
                Reply::empty(204)
            } else {
                not_found()
            }
        }
        _ => error_reply(405, "Method not Supported", &format!("{method} {path}")),
    }
}

/// `{"result": ...}` with the result's key order kept.
#[derive(serde::Serialize)]
struct Envelope<T> {
    result: T,
}

/// A record whose keys serialise in the order given (`sysparm_fields` order).
struct Ordered(Vec<(String, Value)>);

impl serde::Serialize for Ordered {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

fn not_found() -> Reply {
    error_reply(
        404,
        "No Record found",
        "Record doesn't exist or ACL restricts the record retrieval",
    )
}

/// A write's body: an object; an empty body is an empty object (the record gets
/// its defaults) and an array stands for its first element, as the platform reads
/// them.
fn body_object(body: &[u8]) -> Result<JsonRecord, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(JsonRecord::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Array(items)) => match items.into_iter().next() {
            Some(Value::Object(map)) => Ok(map),
            None => Ok(JsonRecord::new()),
            Some(_) => Err(invalid_payload()),
        },
        _ => Err(invalid_payload()),
    }
}

fn invalid_payload() -> Reply {
    error_reply(
        400,
        "Exception while reading request",
        "The payload is not valid JSON.",
    )
}

fn list(
    state: &mut State,
    call: &Call<'_>,
    table: &str,
    params: &[(String, String)],
    path: &str,
) -> Reply {
    let query = match list_filter(params) {
        Ok(query) => query,
        Err(reply) => return reply,
    };
    let indices = match state.select_cached(table, &query) {
        Ok(indices) => indices,
        Err(e) if e.0.starts_with(super::query::NOT_MODELLED) => {
            return error_reply(501, "Not Implemented", &e.0);
        }
        Err(e) => return error_reply(400, "Invalid query", &e.0),
    };
    let state = &*state;
    let table_rows = state.rows(table);
    let rows: Vec<&JsonRecord> = indices.iter().map(|&i| &table_rows[i]).collect();
    let limit: usize = param(params, "sysparm_limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10_000);
    let offset: usize = param(params, "sysparm_offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let total = rows.len();
    let page: Vec<Ordered> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| render(state, call, table, r, params))
        .collect();
    let mut reply =
        Reply::json_of(200, &Envelope { result: page }).header("x-total-count", total.to_string());
    let suppressed = flag(params, "sysparm_suppress_pagination_header");
    if let (false, Some(last_page)) = (suppressed, total.saturating_sub(1).checked_div(limit)) {
        let link_to = |off: usize| -> String {
            let mut url =
                url::Url::parse(&format!("{}{path}", call.origin)).expect("origin is a URL");
            {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in params.iter().filter(|(k, _)| k != "sysparm_offset") {
                    pairs.append_pair(k, v);
                }
                pairs.append_pair("sysparm_offset", &off.to_string());
            }
            url.to_string()
        };
        let last = last_page * limit;
        let mut links = vec![format!("<{}>;rel=\"first\"", link_to(0))];
        if offset > 0 {
            links.push(format!(
                "<{}>;rel=\"prev\"",
                link_to(offset.saturating_sub(limit))
            ));
        }
        if offset + limit < total {
            links.push(format!("<{}>;rel=\"next\"", link_to(offset + limit)));
        }
        links.push(format!("<{}>;rel=\"last\"", link_to(last)));
        reply = reply.header("link", links.join(","));
    }
    reply
}

/// The column a (possibly dot-walked) field ends at, with its table.
fn column_of<'s>(state: &'s State, table: &str, path: &str) -> Option<(String, &'s Column)> {
    let mut current = table.to_owned();
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        if segments.peek().is_none() {
            return state
                .column(&current, segment)
                .map(|c| (current.clone(), c));
        }
        current = state.reference(&current, segment)?.to_owned();
    }
    None
}

/// Renders a row as the Table API does: every column (or the `sysparm_fields`,
/// in their order, dot-walks included), each in the shape `sysparm_display_value`
/// and `sysparm_exclude_reference_link` ask for.
fn render(
    state: &State,
    call: &Call<'_>,
    table: &str,
    row: &JsonRecord,
    params: &[(String, String)],
) -> Ordered {
    let display = display_param(params);
    let display = display.as_str();
    let no_link = flag(params, "sysparm_exclude_reference_link");
    let offset = call.utc_offset;
    let names: Vec<String> = match param(params, "sysparm_fields").filter(|f| !f.trim().is_empty())
    {
        Some(fields) => fields
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .filter(|f| state.knows_field(table, f))
            .map(str::to_owned)
            .collect(),
        None => row.keys().cloned().collect(),
    };
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let text = state.value_of(table, row, &name).unwrap_or_default();
        let column = column_of(state, table, &name);
        let reference = column.as_ref().and_then(|(_, c)| match &c.kind {
            ColumnType::Reference(target) => Some(target.clone()),
            _ => None,
        });
        let rendered = match reference {
            Some(target) if !text.is_empty() => {
                let link = format!("{}/api/now/table/{target}/{text}", call.origin);
                let shown = state.display_value(&target, text);
                match (display, no_link) {
                    ("true", true) => Value::String(shown),
                    ("true", false) => json!({"display_value": shown, "link": link}),
                    ("all", true) => json!({"display_value": shown, "value": text}),
                    ("all", false) => json!({"display_value": shown, "value": text, "link": link}),
                    (_, true) => Value::String(text.to_owned()),
                    (_, false) => json!({"link": link, "value": text}),
                }
            }
            _ => {
                // The system dates are date-times like any other.
                let system_date = matches!(name.as_str(), "sys_created_on" | "sys_updated_on")
                    .then(|| Column::date_time(name.as_str()));
                let shown = || {
                    let column = column.as_ref().map(|(_, c)| *c).or(system_date.as_ref());
                    dictionary::display(column, text, offset)
                };
                match display {
                    "true" => Value::String(shown()),
                    "all" => json!({"display_value": shown(), "value": text}),
                    _ => Value::String(text.to_owned()),
                }
            }
        };
        out.push((name, rendered));
    }
    Ordered(out)
}

/// A CI/CD progress answer as the platform sends it: `result.status` a string
/// (`"0"` Pending … `"4"` Canceled) with its label, the texts and the percentage.
fn progress_reply(http: u16, status: u8, message: &str, error: &str, percent: u32) -> Reply {
    Reply::json(
        http,
        &json!({"result": progress_result(status, message, error, percent)}),
    )
}

fn progress_result(status: u8, message: &str, error: &str, percent: u32) -> Value {
    let label = ["Pending", "Running", "Successful", "Failed", "Canceled"]
        .get(usize::from(status))
        .copied()
        .unwrap_or("Unknown");
    json!({
        "status": status.to_string(), "status_label": label, "status_message": message,
        "status_detail": "", "error": error, "percent_complete": percent
    })
}

/// A refused CI/CD request: the text inside `result`, as the platform sends it.
fn cicd_refusal(status: u16, error: &str) -> Reply {
    progress_reply(status, 3, "Failed", error, 0)
}

/// Starts a CI/CD operation and answers with its progress link.
fn start_operation(
    state: &mut State,
    call: &Call<'_>,
    operation: super::state::Operation,
) -> Reply {
    let progress_id = state.new_sys_id();
    state.activations.insert(
        progress_id.clone(),
        super::state::Activation {
            operation,
            polls: 0,
            finished: false,
        },
    );
    let url = format!("{}/api/sn_cicd/progress/{progress_id}", call.origin);
    let mut result = progress_result(0, "", "", 0);
    result["links"] = json!({"progress": {"id": progress_id, "url": url}});
    Reply::json(200, &json!({ "result": result }))
}

fn cicd(
    state: &mut State,
    call: &Call<'_>,
    method: &Method,
    rest: &str,
    params: &[(String, String)],
) -> Reply {
    let caller = call.caller;
    if !state.config.cicd_active {
        return error_reply(
            405,
            "Method not Supported",
            "The requested method is not supported by this resource",
        );
    }
    if !["admin", "sn_cicd.sys_ci_automation"]
        .iter()
        .any(|r| state.user_has_role(caller, r))
    {
        return error_reply(
            403,
            "User Not Authorized",
            "The user must have the admin or sn_cicd.sys_ci_automation role",
        );
    }
    let parts: Vec<&str> = rest.split('/').collect();
    match (method.clone(), parts.as_slice()) {
        (Method::POST, ["plugin", id, "activate"]) => {
            let id = (*id).to_owned();
            if state.find_by("v_plugin", "id", &id).is_none() {
                return error_reply(
                    404,
                    &format!("Plugin {id} not found"),
                    "No plugin with this id exists",
                );
            }
            start_operation(state, call, super::state::Operation::Activate(id))
        }
        (Method::POST, ["app_repo", "install"]) => {
            let scope = param(params, "scope").unwrap_or_default().to_owned();
            let Some((_, versions)) = state.repository.get(&scope) else {
                return cicd_refusal(
                    400,
                    &format!("No application with scope {scope} in the application repository"),
                );
            };
            let version = match param(params, "version") {
                Some(v) if versions.iter().any(|o| o == v) => v.to_owned(),
                Some(v) => {
                    return cicd_refusal(
                        400,
                        &format!("Version {v} of {scope} is not in the application repository"),
                    );
                }
                None => versions.last().cloned().unwrap_or_default(),
            };
            start_operation(
                state,
                call,
                super::state::Operation::Install(scope, version),
            )
        }
        (Method::GET, ["progress", id]) => progress(state, id),
        _ => error_reply(400, "Requested URI does not represent any resource", rest),
    }
}

fn progress(state: &mut State, id: &str) -> Reply {
    let polls_to_finish = state.config.polls_to_finish;
    let Some(activation) = state.activations.get_mut(id) else {
        return error_reply(404, "Progress record not found", id);
    };
    activation.polls += 1;
    let subject = activation.operation.subject().to_owned();
    let install = match &activation.operation {
        super::state::Operation::Install(scope, version) => Some((scope.clone(), version.clone())),
        super::state::Operation::Activate(_) => None,
    };
    if state.queued.contains(&subject) {
        return progress_reply(200, 0, "Waiting for another operation to finish", "", 0);
    }
    let done = activation.polls >= polls_to_finish;
    let newly_done = done && !activation.finished;
    if done {
        activation.finished = true;
    }
    if !done {
        let percent = activation.polls * 100 / polls_to_finish.max(1);
        let doing = if install.is_some() {
            "Installing application"
        } else {
            "Activating plugin"
        };
        return progress_reply(200, 1, doing, "", percent);
    }
    if let Some((scope, version)) = install {
        return finish_install(state, &scope, &version, newly_done);
    }
    let plugin_id = subject;
    if let Some(detail) = state.failing_plugins.get(&plugin_id).cloned() {
        return progress_reply(200, 3, "Failed", &detail, 100);
    }
    if newly_done {
        set_plugin_active(state, &plugin_id, true);
        if plugin_id == "com.snc.cti"
            && state
                .find_by("sn_openframe_configuration", "name", "CTI")
                .is_none()
        {
            // CTI Softphone ships an OpenFrame configuration named "CTI", active,
            // at the front of the order: it shadows any other one.
            let mut row = JsonRecord::new();
            for (k, v) in [
                ("name", "CTI"),
                ("title", "CTI Softphone"),
                ("url", "/$cti_softphone.do"),
                ("order", "1"),
                ("active", "true"),
                ("default", "true"),
            ] {
                row.insert(k.into(), Value::String(v.into()));
            }
            state.insert_row(
                "sn_openframe_configuration",
                &row,
                "system",
                Columns::Strict,
            );
        }
    }
    progress_reply(200, 2, &format!("Plugin {plugin_id} activated"), "", 100)
}

/// The end of an application install: refused when the instance is not
/// entitled; else the application is recorded in `sys_store_app` at the version.
fn finish_install(state: &mut State, scope: &str, version: &str, newly_done: bool) -> Reply {
    let name = state
        .repository
        .get(scope)
        .map(|(name, _)| name.clone())
        .unwrap_or_default();
    if !state.config.store_entitled {
        let refusal = format!(
            "The instance is not entitled to the application {name} ({scope}). Request an entitlement for this instance in the ServiceNow Store."
        );
        return progress_reply(200, 3, "Failed", &refusal, 100);
    }
    if newly_done {
        let mut fields = JsonRecord::new();
        for (k, v) in [
            ("scope", scope),
            ("name", &name),
            ("version", version),
            ("active", "true"),
        ] {
            fields.insert(k.into(), Value::String(v.to_owned()));
        }
        match state
            .find_by("sys_store_app", "scope", scope)
            .and_then(|r| field(r, "sys_id"))
            .map(str::to_owned)
        {
            Some(id) => {
                state.update("sys_store_app", &id, &fields, "system");
            }
            None => {
                state.insert_row("sys_store_app", &fields, "system", Columns::Strict);
            }
        }
    }
    progress_reply(
        200,
        2,
        &format!("Application {scope} {version} installed"),
        "",
        100,
    )
}

/// Marks a plugin active or inactive in `v_plugin`, in the configured value form,
/// and creates the tables an activated plugin brings.
pub(crate) fn set_plugin_active(state: &mut State, plugin_id: &str, active: bool) {
    let (on, off) = match state.config.active_form {
        ActiveForm::Active => ("active", "inactive"),
        ActiveForm::True => ("true", "false"),
        ActiveForm::One => ("1", "0"),
    };
    let Some(sys_id) = state
        .find_by("v_plugin", "id", plugin_id)
        .and_then(|r| field(r, "sys_id"))
        .map(str::to_owned)
    else {
        return;
    };
    let mut patch = JsonRecord::new();
    patch.insert(
        "active".into(),
        Value::String(if active { on } else { off }.to_owned()),
    );
    state.update("v_plugin", &sys_id, &patch, "system");
    if active {
        for table in dictionary::plugin_tables(plugin_id) {
            if let Some(parent) = table.extends.clone() {
                state.ensure_table(&parent);
            }
            state.declare_table(table);
        }
    }
}

fn token(state: &mut State, request: &Request) -> Reply {
    let form_encoded = request
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if request.method != Method::POST || !form_encoded {
        return access_denied();
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect();
    let get = |k: &str| param(&form, k).unwrap_or("");
    let client_id = get("client_id").to_owned();
    let client_ok = state
        .find_by("oauth_entity", "client_id", &client_id)
        .is_some_and(|c| {
            field(c, "client_secret") == Some(get("client_secret"))
                && field(c, "active") != Some("false")
        });
    if !client_ok || state.property(OAUTH_ACTIVE) == Some("false") {
        return access_denied();
    }
    match get("grant_type") {
        "password" => {
            let user = get("username").to_owned();
            let password_ok = state
                .passwords
                .get(&user)
                .is_some_and(|p| p == get("password"));
            if state.property(ROPC_DISABLED) == Some("true")
                || !password_ok
                || !user_active(state, &user)
            {
                return access_denied();
            }
            issue_token(state, user, client_id, true)
        }
        "refresh_token" => {
            let Some((user, owner)) = state.refresh_tokens.get(get("refresh_token")).cloned()
            else {
                return access_denied();
            };
            if owner != client_id || !user_active(state, &user) {
                return access_denied();
            }
            issue_token(state, user, client_id, false)
        }
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            match verify_assertion(state, &client_id, get("assertion")) {
                Some(user) => issue_token(state, user, client_id, false),
                None => access_denied(),
            }
        }
        "client_credentials" => {
            let Some(user) = state.client_credentials_users.get(&client_id).cloned() else {
                return access_denied();
            };
            if state.property(CLIENT_CREDENTIALS_ENABLED) != Some("true")
                || !user_active(state, &user)
            {
                return access_denied();
            }
            issue_token(state, user, client_id, false)
        }
        _ => access_denied(),
    }
}

/// A new access token for `user` through `client_id` (and, for the password
/// grant, a refresh token), answered as the token endpoint does.
fn issue_token(state: &mut State, user: String, client_id: String, with_refresh: bool) -> Reply {
    let lifetime = state.config.token_lifetime;
    let access = state.new_secret(40);
    state.tokens.insert(
        access.clone(),
        TokenInfo {
            user_name: user.clone(),
            client_id: client_id.clone(),
            expires_at: Instant::now() + lifetime,
        },
    );
    let mut answer = json!({
        "access_token": access, "scope": "useraccount",
        "token_type": "Bearer", "expires_in": lifetime.as_secs()
    });
    if with_refresh {
        let refresh = state.new_secret(40);
        state
            .refresh_tokens
            .insert(refresh.clone(), (user, client_id));
        answer["refresh_token"] = json!(refresh);
    }
    Reply::json(200, &answer)
}

/// The user a JWT assertion acts as, when it verifies: RS256 with a key the
/// application's verifier holds (by `kid`), not expired, issuer and audience
/// the client id, and its subject an active user.
fn verify_assertion(state: &State, client_id: &str, assertion: &str) -> Option<String> {
    let header = jsonwebtoken::decode_header(assertion).ok()?;
    let kid = header.kid?;
    let pem = state.jwt_keys.get(&(client_id.to_owned(), kid))?;
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).ok()?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[client_id]);
    validation.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
    let data = jsonwebtoken::decode::<Value>(assertion, &key, &validation).ok()?;
    let user = data.claims.get("sub")?.as_str()?.to_owned();
    user_active(state, &user).then_some(user)
}

fn batch(state: &mut State, call: &Call<'_>, body: &[u8]) -> Reply {
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return error_reply(
            400,
            "Exception while reading request",
            "The payload is not valid JSON.",
        );
    };
    let Some(items) = parsed.get("rest_requests").and_then(Value::as_array) else {
        return error_reply(400, "Invalid batch request", "rest_requests is missing");
    };
    let limit = state.config.batch_service_limit.unwrap_or(usize::MAX);
    let mut serviced = Vec::new();
    let mut unserviced = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if n >= limit {
            unserviced.push(Value::String(id));
            continue;
        }
        let method = item
            .get("method")
            .and_then(Value::as_str)
            .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
            .unwrap_or(Method::GET);
        let url = item
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let item_body = item
            .get("body")
            .and_then(Value::as_str)
            .map(|b| BASE64.decode(b).unwrap_or_default())
            .unwrap_or_default();
        let reply = if url.starts_with("/api/now/") && !url.contains("/batch") {
            route(state, call, &method, &url, &item_body)
        } else {
            error_reply(
                400,
                "Invalid batch item",
                "Only REST API calls under /api/ may be batched",
            )
        };
        let (path, query) = match url.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (url.clone(), None),
        };
        state.log.push(LoggedRequest {
            method: method.to_string(),
            path: path.clone(),
            query,
            body: String::from_utf8_lossy(&item_body).into_owned(),
            endpoint: endpoint_of(&path),
            status: reply.status,
            via_batch: true,
            received_at: Instant::now(),
            delay: std::time::Duration::ZERO,
        });
        let status_text = http::StatusCode::from_u16(reply.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
            .to_owned();
        let mut answer = json!({
            "id": id,
            "status_code": reply.status,
            "status_text": status_text,
            "body": BASE64.encode(&reply.body),
            "headers": reply.headers.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
            "execution_time": 1
        });
        if reply.status >= 400 {
            // The instance says why it could not service the item.
            let message = serde_json::from_slice::<Value>(&reply.body)
                .ok()
                .and_then(|b| b["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| status_text.clone());
            answer["error_message"] = Value::String(message);
        }
        serviced.push(answer);
    }
    Reply::json(
        200,
        &json!({
            // Always a string, whatever the request sent.
            "batch_request_id": match parsed.get("batch_request_id") {
                Some(Value::String(id)) => id.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            },
            "serviced_requests": serviced,
            "unserviced_requests": unserviced
        }),
    )
}
