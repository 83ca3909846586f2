#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! # Guide
//!
//! [`FakeInstance`] runs an in-memory instance on a local
//! [wiremock](https://docs.rs/wiremock) server. Point a real [`Client`] at it and
//! watch real state change: records created through the Table API are there for
//! the next query, plugin activation moves through its states, tokens expire.
//!
//! # What it serves
//!
//! - **A data dictionary**: the tables an instance has out of the box (users,
//!   groups, roles and their grants, departments, properties, plugins,
//!   `sys_db_object`, CORS rules, REST API definitions, the OAuth registry, and
//!   the task tables `task`, `incident`, `problem`, `change_request`), each
//!   column typed ([`ColumnType`]: string, boolean, integer, reference, choice
//!   with labels, date-time, password) with its default, a display column, and
//!   for task tables a number prefix and a parent. Plugins bring their tables when
//!   activated (`sn_openframe_configuration` arrives with OpenFrame or CTI). A
//!   test declares its own with [`declare_table`](FakeInstance::declare_table);
//!   every table is registered in `sys_db_object` (`super_class` for children).
//! - **Table API** on the declared tables: an unknown table answers 400 `Invalid
//!   table <name>`. A record carries **every column** of its table (unset ones as
//!   `""`, defaults applied, `sys_created_by`, `sys_updated_by`, `sys_mod_count`
//!   and the dates filled); columns a table does not have are ignored on write.
//!   POST answers 201 with `Location`, an empty body creating a record with its
//!   defaults and an array body standing for its first element; PATCH/PUT 200;
//!   DELETE 204; a missing record 404 with the error envelope. Task tables
//!   **number** their records (`INC0010001`, a counter per prefix).
//!   `sysparm_query` is evaluated for `=`, `!=`, `LIKE`, `NOT LIKE`, `CONTAINS`,
//!   `DOES NOT CONTAIN`, `STARTSWITH`, `ENDSWITH`, `IN`, `NOT IN`, `ISEMPTY`,
//!   `ISNOTEMPTY`, `<`, `<=`, `>`, `>=`, `BETWEEN`, `INSTANCEOF`, joined by `^`,
//!   `^OR`, `^NQ`, ended by `^EQ`, sorted by `ORDERBY`/`ORDERBYDESC`, with
//!   dot-walked references (`caller_id.department.name=IT`); values compare
//!   **without regard to case**. A term naming an unknown field (`AAAA=BBBB`) is
//!   dropped, as the platform does, unless the property
//!   `glide.invalid_query.returns_no_rows` is `true` (then no rows;
//!   [`set_ignore_unknown_fields`](FakeInstance::set_ignore_unknown_fields) does
//!   the same). `sysparm_fields` keeps its order and walks references
//!   (`department.name`); `sysparm_display_value=true|all` gives **every** field
//!   its display form (choice labels, integers with thousands separators, dates in
//!   the caller's time zone, `********` for passwords, reference display values);
//!   `sysparm_exclude_reference_link`, `sysparm_limit` (default 10000),
//!   name–value filters (`?user_name=admin&active=true`, ANDed; with
//!   `sysparm_query` too, which the Table API documents as mutually exclusive,
//!   an honest 501), boolean parameters read in any case (`True`);
//!   `sysparm_input_display_value=true` on writes (a reference by its
//!   record's display value, KB0534905; a choice by its label; a display value
//!   naming no record or several is an honest 501);
//!   values computed on insert: `number` on numbered tables, `opened_by` (the
//!   caller) and `opened_at` (now) on task tables, `sys_user.name` from first
//!   and last name when none is given;
//!   `sys_user.user_password` is one-way: a write stores a digest (the user can
//!   log in with the password) and no answer returns the clear text;
//!   `sysparm_offset`, `Link` (dropped by
//!   `sysparm_suppress_pagination_header=true`) and `X-Total-Count`. Links,
//!   `Location` and CI/CD progress URLs use the origin the request came
//!   through: `X-Forwarded-Proto` and `X-Forwarded-Host` (a TLS proxy or load
//!   balancer in front), else `Host`. Writes need the `admin` role (`oauth_entity` also accepts
//!   `oauth_admin`); reads need only a valid login.
//! - **CI/CD plugin API**: activation returns a progress id; progress moves
//!   Running → Successful over [a number of polls](FakeInstance::set_activation_polls)
//!   and flips the plugin's `v_plugin` row to active, in the
//!   [value form](FakeInstance::set_plugin_active_form) asked for; a plugin can be
//!   [set to fail](FakeInstance::fail_plugin_activation); callers without `admin` or
//!   `sn_cicd.sys_ci_automation` get 403.
//! - **CI/CD application install** (`POST /api/sn_cicd/app_repo/install?scope=&version=`)
//!   of the applications [offered](FakeInstance::offer_application) in its
//!   repository, with the same progress model; done, the application is a
//!   `sys_store_app` row at the version. An unknown scope or version is refused
//!   at the start (400, the text in `result.error`); an instance
//!   [not entitled](FakeInstance::set_store_entitlement) fails the install with
//!   its message. `sys_app` (the instance's own applications) exists, empty.
//! - **Build properties** naming the release (`glide.buildname`, `glide.war`;
//!   [`DEFAULT_RELEASE`], changed with [`set_release`](FakeInstance::set_release)).
//! - **`/oauth_token.do`**: password and refresh-token grants for clients
//!   registered in `oauth_entity` (through the Table API or
//!   [`register_oauth_client`](FakeInstance::register_oauth_client)), form-encoded
//!   only, tokens that expire, and the generic 401 `access_denied` for every bad
//!   credential (including a JSON body, a disabled password grant, inbound OAuth
//!   turned off, an inactive client).
//! - **Batch API**, running each item against the same state; `batch_request_id`
//!   comes back as a string and a failed item carries `error_message`.
//! - **CORS preflights**: `OPTIONS` with `Origin` and
//!   `Access-Control-Request-Method` is answered from the active `sys_cors_rule`
//!   rows of the REST API the path belongs to (by `sys_ws_definition.base_uri`),
//!   with `Access-Control-Allow-Origin`/`-Methods` only when a rule allows it.
//! - **What a write costs** ([`write_costs`]): `sys_properties` carries
//!   `ignore_cache` (default false before Rome, true from Rome, false when the
//!   release is unknown) and `is_private`; every Table API write to a property
//!   whose `ignore_cache` is false is a full cache flush
//!   ([`cache_flushes`](FakeInstance::cache_flushes)). Writes to configuration
//!   tables ([`TRACKED_TABLES`]; private properties excepted) are captured as
//!   `sys_update_xml` rows in the writer's current update set
//!   (`sys_update_set`), chosen by the user preference `sys_update_set` when it
//!   names one in progress, else the global default set (seeded as "Default").
//! - **Switches** for the platform's unfriendly parts:
//!   [`set_cicd_active`](FakeInstance::set_cicd_active) (405 from CI/CD),
//!   [`queue_plugin_activation`](FakeInstance::queue_plugin_activation) (an
//!   operation queued for ever),
//!   [`set_ignore_supplied_sys_ids`](FakeInstance::set_ignore_supplied_sys_ids),
//!   and the OAuth properties `com.snc.platform.security.oauth.is.active` and
//!   `glide.oauth.inbound.ropc.grant_type.disabled`, set with
//!   [`set_property`](FakeInstance::set_property).
//!
//! # Business rules it runs
//!
//! - **Inherited roles**: every member of a group holding a role gets a
//!   `sys_user_has_role` row with `inherited=true` and `granted_by` the group, as
//!   the platform adds; it goes when the membership or the group's grant goes.
//! - **CTI's configuration**: activating CTI Softphone (`com.snc.cti`) through the
//!   CI/CD API ships an active OpenFrame configuration named "CTI" at order 1, which
//!   shadows any other.
//!
//! # What it does not model
//!
//! Each of these is a clear error, never a silent success: `JOIN` and `RLQUERY`
//! query terms (501 "not modelled by the fake"); the Attachment, Import Set,
//! Aggregate, CMDB and Tiny URL APIs (501); `sysparm_query` and name–value
//! pairs in one list (501); any other path (400, as the platform answers an
//! unknown resource); a request line longer than [`MAX_REQUEST_LINE`] (8 KiB,
//! the application server's default; unverified for ServiceNow) gets an HTML
//! 400 page, not JSON. Not modelled at all, so a test must not rely on them:
//! business rules other than the two below, ACLs beyond the write roles above, data policies, listing a parent
//! table's rows from its children (`task` lists only rows inserted into `task`;
//! `INSTANCEOF` follows the hierarchy), time zones with daylight saving (fixed
//! offsets only: `UTC`, `GMT`, `UTC+05:30`, `Etc/GMT+5`; others display in UTC),
//! and the display value of booleans (shown as `true`/`false`).
//!
//! # Demo data
//!
//! [`FakeInstanceBuilder::demo_data`] (or [`FakeInstance::add_demo_data`]) adds
//! what a personal developer instance ships as far as client test suites rely
//! on it, listed table by table in the [`demo`] module: departments (Finance
//! among them), [users](DEMO_USERS) with managers and time zones (`itil`,
//! `problem.admin`, …), roles with direct and inherited grants,
//! [groups](DEMO_GROUPS) with members, numbered [incidents](DEMO_INCIDENTS) and
//! [problems](DEMO_PROBLEMS) in every state, [business rules](DEMO_BUSINESS_RULES)
//! in `sys_script`, and [`DEMO_SYSLOG_ROWS`] `syslog` and [`DEMO_METADATA_ROWS`]
//! `sys_metadata` rows.
//!
//! # What a test controls and observes
//!
//! - latency, fixed or per [`Endpoint`];
//! - faults ([`Fault`]) on a [`FaultSchedule`]: 429 with or without `Retry-After`,
//!   503, a delay past the client's timeout, a malformed body, an expired token;
//! - the request log ([`requests`](FakeInstance::requests),
//!   [`write_count`](FakeInstance::write_count)) and every table
//!   ([`table`](FakeInstance::table), [`snapshot`](FakeInstance::snapshot)).
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> servicenow_client::Result<()> {
//! use servicenow_fake::FakeInstance;
//! use servicenow_client::query::Query;
//!
//! let sn = FakeInstance::start().await;
//! let client = sn.client_as_admin();
//!
//! let groups = client.table_json("sys_user_group")?;
//! groups.create(&serde_json::json!({"name": "Agents", "active": true})).await?;
//! let agents = groups.one(Query::new().eq("name", "Agents")).await?.unwrap();
//! assert_eq!(agents["active"], "true"); // stored as a string, as ServiceNow does
//!
//! assert_eq!(sn.table("sys_user_group").len(), 1);
//! assert_eq!(sn.write_count(), 1);
//! # Ok(()) }
//! ```

pub mod demo;
mod dictionary;
mod handlers;
mod query;
mod state;
pub mod write_costs;

pub use demo::{
    DEMO_BUSINESS_RULES, DEMO_DEPARTMENTS, DEMO_GROUPS, DEMO_INCIDENTS, DEMO_METADATA_ROWS,
    DEMO_PROBLEMS, DEMO_ROLE_GRANTS, DEMO_SYSLOG_ROWS, DEMO_USERS,
};
pub use dictionary::{Column, ColumnType, SYSTEM_COLUMNS, TableSchema};
pub use handlers::{MAX_REQUEST_LINE, SESSION_COOKIE};
pub use write_costs::{CacheFlush, TRACKED_TABLES, UPDATE_SET_PREFERENCE, WriteKind};

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

use handlers::{Responder, lock};
use servicenow_client::InstanceUrl;
use servicenow_client::JsonRecord;
use servicenow_client::wire::SysId;
use servicenow_client::{Client, ClientBuilder};
use servicenow_client::{Credentials, OAuthClient};
use state::{State, field};

/// The seeded administrator's user name.
pub const ADMIN_USER: &str = "admin";
/// The seeded administrator's sys_id: the one `admin` has on every instance out
/// of the box (its full name is "System Administrator").
pub const ADMIN_SYS_ID: &str = "6816f79cc0a8016401c5a33be04be441";
/// The seeded administrator's password.
pub const ADMIN_PASSWORD: &str = "admin-password";
/// The postMessage allow-list property OpenFrame reads.
pub const ALLOW_LIST_PROPERTY: &str = "glide.ui.concourse.onmessage_enforce_same_origin_whitelist";

/// The plugins seeded (inactive, except OAuth 2.0 which instances ship active).
pub const SEEDED_PLUGINS: [(&str, &str, bool); 4] = [
    ("com.sn_openframe", "OpenFrame", false),
    ("com.snc.cti", "CTI Softphone", false),
    ("com.sn_customerservice", "Customer Service", false),
    ("com.snc.platform.security.oauth", "OAuth 2.0", true),
];

/// The roles seeded.
pub const SEEDED_ROLES: [&str; 5] = [
    "admin",
    "oauth_admin",
    "sn_cicd.sys_ci_automation",
    "sn_openframe_user",
    "sn_openframe_api_user",
];

/// The release a fake instance starts at: its `glide.buildname` and `glide.war`
/// build properties (Washington DC Patch 4, the release the 5.19 vendor guide
/// was tested with).
pub const DEFAULT_RELEASE: (&str, &str) = (
    "Washington DC",
    "glide-washingtondc-12-20-2023__patch4-04-17-2024_05-02-2024_1042.zip",
);

/// The reference columns declared at start (table, column, referenced table).
pub const SEEDED_REFERENCES: [(&str, &str, &str); 7] = [
    ("sys_user_has_role", "user", "sys_user"),
    ("sys_user_has_role", "role", "sys_user_role"),
    ("sys_group_has_role", "group", "sys_user_group"),
    ("sys_group_has_role", "role", "sys_user_role"),
    ("sys_user_grmember", "user", "sys_user"),
    ("sys_user_grmember", "group", "sys_user_group"),
    ("sys_cors_rule", "rest_api", "sys_ws_definition"),
];

/// Column defaults filled on insert (table, column, value), as the platform does.
pub const SEEDED_DEFAULTS: [(&str, &str, &str); 4] = [
    ("sys_user_has_role", "inherited", "false"),
    ("sys_user_has_role", "state", "active"),
    ("oauth_entity", "active", "true"),
    ("sys_cors_rule", "active", "true"),
];

/// The API a request went to, for latency and fault targeting and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `/api/now/table/...`
    Table,
    /// `/api/now/v1/batch`
    Batch,
    /// `/api/sn_cicd/...`
    Cicd,
    /// `/oauth_token.do`
    Token,
    /// Anything else.
    Other,
}

/// How `v_plugin.active` is written; all three have been seen on real instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ActiveForm {
    /// `"active"` / `"inactive"` (the default).
    #[default]
    Active,
    /// `"true"` / `"false"`.
    True,
    /// `"1"` / `"0"`.
    One,
}

pub use bpsn_fake::{Fault, FaultSchedule, sequential_round_trips};

/// One request the fake received (batch items are logged too, marked `via_batch`).
pub type LoggedRequest = bpsn_fake::LoggedRequest<Endpoint>;

/// Builds a [`FakeInstance`].
#[derive(Debug, Clone)]
pub struct FakeInstanceBuilder {
    seed: u64,
    seed_data: bool,
    demo_data: bool,
}

impl FakeInstanceBuilder {
    /// Seeds the generator of sys_ids and tokens (runs are reproducible).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Starts with no tables at all: no admin, no roles, no plugins (seeding a
    /// table declares it).
    pub fn empty(mut self) -> Self {
        self.seed_data = false;
        self
    }

    /// Adds the [demo data](FakeInstance::add_demo_data): departments, users with
    /// managers, groups, numbered incidents and problems.
    pub fn demo_data(mut self) -> Self {
        self.demo_data = true;
        self
    }

    /// Starts the server.
    pub async fn start(self) -> FakeInstance {
        let server = MockServer::builder().start().await;
        let state = Arc::new(Mutex::new(State::new(server.uri(), self.seed)));
        Mock::given(any())
            .respond_with(Responder {
                state: state.clone(),
            })
            .mount(&server)
            .await;
        let fake = FakeInstance { server, state };
        if self.seed_data {
            fake.seed_defaults();
        }
        if self.demo_data {
            fake.add_demo_data();
        }
        fake
    }
}

/// A running fake instance. Dropping it stops the server.
pub struct FakeInstance {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for FakeInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeInstance")
            .field("uri", &self.server.uri())
            .finish()
    }
}

impl FakeInstance {
    /// Starts a fake instance with the default seed data: the `admin` user ("System
    /// Administrator" at [`ADMIN_SYS_ID`], password [`ADMIN_PASSWORD`], role
    /// `admin`), the [roles](SEEDED_ROLES), the
    /// [plugins](SEEDED_PLUGINS), the [column defaults](SEEDED_DEFAULTS), the Table API's `sys_ws_definition` row, the empty
    /// [postMessage allow-list property](ALLOW_LIST_PROPERTY) and the
    /// [reference columns](SEEDED_REFERENCES).
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// Configures a fake instance before starting it.
    pub fn builder() -> FakeInstanceBuilder {
        FakeInstanceBuilder {
            seed: 0x5e41_ce00,
            seed_data: true,
            demo_data: false,
        }
    }

    fn seed_defaults(&self) {
        {
            let mut state = lock(&self.state);
            for table in dictionary::builtin() {
                state.declare_table(table);
            }
        }
        for (table, column, target) in SEEDED_REFERENCES {
            self.declare_reference(table, column, target);
        }
        for (table, column, value) in SEEDED_DEFAULTS {
            self.declare_default(table, column, value);
        }
        for role in SEEDED_ROLES {
            self.add_role(role);
        }
        self.insert(
            "sys_user",
            serde_json::json!({
                "sys_id": ADMIN_SYS_ID, "user_name": ADMIN_USER,
                "first_name": "System", "last_name": "Administrator",
                "email": "admin@example.com", "active": "true",
            }),
        );
        self.set_password(ADMIN_USER, ADMIN_PASSWORD);
        self.grant_role_to_user(ADMIN_USER, "admin");
        for (id, name, active) in SEEDED_PLUGINS {
            self.add_plugin(id, name);
            if active {
                self.set_plugin_active(id, true);
            }
        }
        self.insert(
            "sys_ws_definition",
            serde_json::json!({
                "name": "Table API", "namespace": "now", "service_id": "table",
                "base_uri": "/api/now/table", "active": "true"
            }),
        );
        // Out of box, with the flag that makes each write of it flush the
        // whole cache (the KB article: leave an out-of-box property's flag).
        self.insert(
            "sys_properties",
            serde_json::json!({
                "name": ALLOW_LIST_PROPERTY, "value": "", "type": "string",
                "ignore_cache": "false", "is_private": "false",
            }),
        );
        self.set_release(DEFAULT_RELEASE.0, DEFAULT_RELEASE.1);
        write_costs::default_update_set(&mut lock(&self.state));
    }

    /// The instance URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> InstanceUrl {
        InstanceUrl::parse(&self.server.uri()).expect("a loopback origin is a valid instance URL")
    }

    /// The token endpoint, `<origin>/oauth_token.do`.
    pub fn token_url(&self) -> String {
        self.url().token_url()
    }

    /// A client logged in as the seeded administrator (basic credentials).
    pub fn client_as_admin(&self) -> Client {
        self.client_builder_as_admin()
            .build()
            .expect("the fake's client settings are valid")
    }

    /// A client builder for the seeded administrator, to adjust retries or timeouts.
    pub fn client_builder_as_admin(&self) -> ClientBuilder {
        Client::builder(self.url(), Credentials::basic(ADMIN_USER, ADMIN_PASSWORD))
    }

    /// A client logged in with basic credentials.
    pub fn client_as(&self, user_name: &str, password: &str) -> Client {
        Client::builder(
            self.url(),
            Credentials::basic(user_name, password.to_owned()),
        )
        .build()
        .expect("the fake's client settings are valid")
    }

    /// A client using the OAuth password grant with a registered client.
    pub fn oauth_client_as(&self, client: OAuthClient, user_name: &str, password: &str) -> Client {
        Client::builder(
            self.url(),
            Credentials::oauth_password(client, user_name, password.to_owned()),
        )
        .build()
        .expect("the fake's client settings are valid")
    }

    // ----- seed data -------------------------------------------------------------

    /// Inserts a row into any table (values are stored as strings) and returns its sys_id.
    pub fn insert(&self, table: &str, fields: Value) -> SysId {
        let map = match fields {
            Value::Object(map) => map,
            other => panic!("a row is a JSON object, not {other}"),
        };
        let row = lock(&self.state).insert(table, &map);
        SysId::parse(field(&row, "sys_id").unwrap_or_default())
            .expect("the fake makes valid sys_ids")
    }

    /// Sets columns of a row (seeding; the row's audit columns change as an update's do).
    pub fn update_row(&self, table: &str, sys_id: &SysId, fields: Value) -> Option<JsonRecord> {
        let map = match fields {
            Value::Object(map) => map,
            other => panic!("a row is a JSON object, not {other}"),
        };
        lock(&self.state).update(table, sys_id.as_str(), &map, "system")
    }

    /// Inserts many rows into a table under one lock (for seeding large tables);
    /// returns how many were inserted.
    pub fn insert_many(&self, table: &str, rows: impl IntoIterator<Item = Value>) -> usize {
        let mut state = lock(&self.state);
        let mut n = 0;
        for row in rows {
            if let Value::Object(map) = row {
                state.insert(table, &map);
                n += 1;
            }
        }
        n
    }

    /// Declares a table in the dictionary (or adds columns to one): from then on
    /// the Table API knows it, every record carries its columns, and columns it
    /// lacks are ignored on write. A table that `extends` another inherits its
    /// columns. Registered in `sys_db_object`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> servicenow_client::Result<()> {
    /// use servicenow_fake::{Column, FakeInstance, TableSchema};
    ///
    /// let sn = FakeInstance::start().await;
    /// sn.declare_table(
    ///     TableSchema::new("u_agent_desk")
    ///         .column(Column::string("u_name"))
    ///         .column(Column::boolean("u_active").default_value("true"))
    ///         .column(Column::reference("u_owner", "sys_user"))
    ///         .display("u_name"),
    /// );
    /// let desks = sn.client_as_admin().table_json("u_agent_desk")?;
    /// let desk = desks.create(&serde_json::json!({"u_name": "Desk 1", "u_color": "red"})).await?;
    /// assert_eq!(desk["u_active"], "true"); // the default
    /// assert_eq!(desk["u_owner"], "");      // every column, empty when unset
    /// assert!(desk.get("u_color").is_none()); // not a column: ignored
    /// # Ok(()) }
    /// ```
    pub fn declare_table(&self, schema: TableSchema) {
        let mut state = lock(&self.state);
        if let Some(parent) = schema.extends.clone() {
            state.ensure_table(&parent);
        }
        state.declare_table(schema);
    }

    /// Declares `table.column` a reference to `target` (for dot-walking and rendering).
    pub fn declare_reference(&self, table: &str, column: &str, target: &str) {
        self.declare_table(TableSchema::new(table).column(Column::reference(column, target)));
    }

    /// Declares a column default: inserts that do not give `column` get `value`
    /// (a text column, when the table does not have it yet).
    pub fn declare_default(&self, table: &str, column: &str, value: &str) {
        let mut state = lock(&self.state);
        state.ensure_table(table);
        let existing = state.column(table, column).cloned();
        let column = existing
            .unwrap_or_else(|| Column::string(column))
            .default_value(value);
        state.declare_table(TableSchema::new(table).column(column));
    }

    /// Adds an active user with the password `<user_name>-password`.
    pub fn add_user(&self, user_name: &str) -> SysId {
        self.add_user_with_password(user_name, &format!("{user_name}-password"))
    }

    /// Creates a REST API key acting as `user_name` (what an administrator does
    /// under System Web Services > API Access Policies > REST API Key) and returns
    /// it; requests carrying it in `x-sn-apikey` act as that user.
    pub fn add_api_key(&self, user_name: &str) -> String {
        let mut state = lock(&self.state);
        let key = state.new_secret(32);
        state.api_keys.insert(key.clone(), user_name.to_owned());
        key
    }

    /// Names the user the OAuth application `client_id`'s client-credentials
    /// tokens act as. The grant still needs the system property
    /// `glide.oauth.inbound.client.credential.grant_type.enabled` set to true, as
    /// on the platform (it is off by default).
    pub fn set_client_credentials_user(&self, client_id: &str, user_name: &str) {
        lock(&self.state)
            .client_credentials_users
            .insert(client_id.to_owned(), user_name.to_owned());
    }

    /// Gives the OAuth application `client_id` a JWT verifier key: assertions
    /// signed (RS256) by its private half, with `key_id` as `kid`, issuer and
    /// audience the client id, are accepted by the JWT bearer grant for their
    /// subject (an active user).
    pub fn register_jwt_key(&self, client_id: &str, key_id: &str, public_pem: &str) {
        lock(&self.state).jwt_keys.insert(
            (client_id.to_owned(), key_id.to_owned()),
            public_pem.to_owned(),
        );
    }

    /// Adds an active user with a password.
    pub fn add_user_with_password(&self, user_name: &str, password: &str) -> SysId {
        let id = self.insert(
            "sys_user",
            serde_json::json!({"user_name": user_name, "name": user_name, "active": "true"}),
        );
        self.set_password(user_name, password);
        id
    }

    /// Sets (or changes) a user's password.
    pub fn set_password(&self, user_name: &str, password: &str) {
        lock(&self.state)
            .passwords
            .insert(user_name.to_owned(), password.to_owned());
    }

    /// Adds a group.
    pub fn add_group(&self, name: &str) -> SysId {
        self.insert(
            "sys_user_group",
            serde_json::json!({"name": name, "active": "true"}),
        )
    }

    /// Adds a role.
    pub fn add_role(&self, name: &str) -> SysId {
        self.insert("sys_user_role", serde_json::json!({"name": name}))
    }

    /// Makes a user a member of a group.
    pub fn add_group_member(&self, user_name: &str, group: &str) -> SysId {
        let user = self.sys_id_of("sys_user", "user_name", user_name);
        let group = self.sys_id_of("sys_user_group", "name", group);
        self.insert(
            "sys_user_grmember",
            serde_json::json!({"user": user, "group": group}),
        )
    }

    /// Grants a role to a user directly.
    pub fn grant_role_to_user(&self, user_name: &str, role: &str) -> SysId {
        let user = self.sys_id_of("sys_user", "user_name", user_name);
        let role = self.sys_id_of("sys_user_role", "name", role);
        self.insert(
            "sys_user_has_role",
            serde_json::json!({"user": user, "role": role, "inherited": "false", "state": "active"}),
        )
    }

    /// Grants a role to a group.
    pub fn grant_role_to_group(&self, group: &str, role: &str) -> SysId {
        let group = self.sys_id_of("sys_user_group", "name", group);
        let role = self.sys_id_of("sys_user_role", "name", role);
        self.insert(
            "sys_group_has_role",
            serde_json::json!({"group": group, "role": role}),
        )
    }

    fn sys_id_of(&self, table: &str, column: &str, value: &str) -> String {
        let state = lock(&self.state);
        state
            .find_by(table, column, value)
            .and_then(|r| field(r, "sys_id"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no {table} row with {column}={value}"))
    }

    /// Adds an inactive plugin to `v_plugin`.
    pub fn add_plugin(&self, id: &str, name: &str) -> SysId {
        let off = match lock(&self.state).config.active_form {
            ActiveForm::Active => "inactive",
            ActiveForm::True => "false",
            ActiveForm::One => "0",
        };
        self.insert(
            "v_plugin",
            serde_json::json!({"id": id, "name": name, "active": off}),
        )
    }

    /// Marks a plugin active or inactive (in the configured value form).
    pub fn set_plugin_active(&self, id: &str, active: bool) {
        handlers::set_plugin_active(&mut lock(&self.state), id, active);
    }

    /// Registers an active OAuth client (`oauth_entity`, type `client`).
    pub fn register_oauth_client(&self, name: &str, client_id: &str, client_secret: &str) -> SysId {
        self.insert(
            "oauth_entity",
            serde_json::json!({
                "name": name, "type": "client", "client_id": client_id,
                "client_secret": client_secret, "active": "true",
                "access_token_lifespan": "1800", "refresh_token_lifespan": "8640000"
            }),
        )
    }

    /// Sets a system property, creating it when absent.
    pub fn set_property(&self, name: &str, value: &str) {
        let mut state = lock(&self.state);
        let existing = state
            .find_by("sys_properties", "name", name)
            .and_then(|r| field(r, "sys_id"))
            .map(str::to_owned);
        let mut fields = JsonRecord::new();
        fields.insert("value".into(), Value::String(value.to_owned()));
        match existing {
            Some(id) => {
                state.update("sys_properties", &id, &fields, "system");
            }
            None => {
                fields.insert("name".into(), Value::String(name.to_owned()));
                fields.insert("type".into(), Value::String("string".into()));
                state.insert("sys_properties", &fields);
            }
        }
    }

    // ----- behaviour -------------------------------------------------------------

    /// Delays every answer by `latency` (unless an endpoint has its own).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state).latency.set(latency);
    }

    /// Delays the answers of one endpoint by `latency`.
    pub fn set_endpoint_latency(&self, endpoint: Endpoint, latency: Duration) {
        lock(&self.state).latency.set_for(endpoint, latency);
    }

    /// Injects `fault` into requests to any endpoint on `schedule`.
    pub fn inject_fault(&self, fault: Fault, schedule: FaultSchedule) {
        self.push_fault(fault, schedule, None);
    }

    /// Injects `fault` into requests to `endpoint` on `schedule`.
    pub fn inject_fault_on(&self, endpoint: Endpoint, fault: Fault, schedule: FaultSchedule) {
        self.push_fault(fault, schedule, Some(endpoint));
    }

    fn push_fault(&self, fault: Fault, schedule: FaultSchedule, endpoint: Option<Endpoint>) {
        lock(&self.state).faults.add(fault, schedule, endpoint);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// How many faults have been injected so far.
    pub fn faults_injected(&self) -> u64 {
        lock(&self.state).faults.fired()
    }

    /// Whether a condition on an unknown field is ignored (`true`, the platform's
    /// default) or matches nothing (`false`, strict).
    pub fn set_ignore_unknown_fields(&self, ignore: bool) {
        lock(&self.state).config.ignore_unknown_fields = ignore;
    }

    /// How `v_plugin.active` is written from now on (existing rows are rewritten).
    pub fn set_plugin_active_form(&self, form: ActiveForm) {
        let mut state = lock(&self.state);
        let old = state.config.active_form;
        state.config.active_form = form;
        let plugins: Vec<(String, bool)> = state
            .rows("v_plugin")
            .iter()
            .map(|r| {
                let active = matches!(
                    (old, field(r, "active").unwrap_or_default()),
                    (ActiveForm::Active, "active")
                        | (ActiveForm::True, "true")
                        | (ActiveForm::One, "1")
                );
                (field(r, "id").unwrap_or_default().to_owned(), active)
            })
            .collect();
        for (id, active) in plugins {
            handlers::set_plugin_active(&mut state, &id, active);
        }
    }

    /// How many progress polls an activation takes to finish (default 2).
    pub fn set_activation_polls(&self, polls: u32) {
        lock(&self.state).config.polls_to_finish = polls;
    }

    /// Makes activations of `plugin_id` fail with `detail`.
    pub fn fail_plugin_activation(&self, plugin_id: &str, detail: &str) {
        lock(&self.state)
            .failing_plugins
            .insert(plugin_id.to_owned(), detail.to_owned());
    }

    /// Lets activations of `plugin_id` succeed again (and no longer stay queued).
    pub fn allow_plugin_activation(&self, plugin_id: &str) {
        let mut state = lock(&self.state);
        state.failing_plugins.remove(plugin_id);
        state.queued.remove(plugin_id);
    }

    /// Makes activations of `plugin_id` stay queued (`Pending`) for ever, as an
    /// operation waiting behind an instance lock does (Tokyo and later).
    pub fn queue_plugin_activation(&self, plugin_id: &str) {
        lock(&self.state).queued.insert(plugin_id.to_owned());
    }

    /// Offers an application in the instance's application repository (the
    /// Store applications it can install through `/api/sn_cicd/app_repo/install`),
    /// at `version` besides any offered before (the last one offered is the
    /// latest).
    pub fn offer_application(&self, scope: &str, name: &str, version: &str) {
        let mut state = lock(&self.state);
        let entry = state
            .repository
            .entry(scope.to_owned())
            .or_insert_with(|| (name.to_owned(), Vec::new()));
        entry.0 = name.to_owned();
        entry.1.push(version.to_owned());
    }

    /// Whether the instance is entitled to the Store applications it is offered
    /// (default yes); not entitled, an install fails with the instance's message.
    pub fn set_store_entitlement(&self, entitled: bool) {
        lock(&self.state).config.store_entitled = entitled;
    }

    /// Makes installs of the application `scope` stay queued (`Pending`) for ever.
    pub fn queue_application_install(&self, scope: &str) {
        lock(&self.state).queued.insert(scope.to_owned());
    }

    /// Sets the build properties that name the release: `glide.buildname`
    /// (`Tokyo`) and `glide.war` (`glide-tokyo-07-08-2022__patch4-….zip`); empty
    /// strings make the release unknown. The default is [`DEFAULT_RELEASE`].
    pub fn set_release(&self, build_name: &str, war: &str) {
        self.set_property("glide.buildname", build_name);
        self.set_property("glide.war", war);
    }

    /// Turns the CI/CD API on or off; off, every `/api/sn_cicd/` path answers 405,
    /// as an instance without the `com.glide.continuousdelivery` plugin does.
    pub fn set_cicd_active(&self, active: bool) {
        lock(&self.state).config.cicd_active = active;
    }

    /// Makes the Table API ignore a `sys_id` sent in a POST body (a fresh one is
    /// made), which no document forbids an instance to do.
    pub fn set_ignore_supplied_sys_ids(&self, ignore: bool) {
        lock(&self.state).config.ignore_supplied_sys_ids = ignore;
    }

    /// Sets the lifetime of tokens issued from now on (default 1799 s).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.state).config.token_lifetime = lifetime;
    }

    /// Expires every access token issued so far.
    pub fn expire_tokens(&self) {
        let now = std::time::Instant::now();
        for info in lock(&self.state).tokens.values_mut() {
            info.expires_at = now;
        }
    }

    /// Sets the system's time zone (default `UTC`): date-times display in it
    /// for a user whose own `time_zone` is empty. Fixed offsets only, as for
    /// users (`UTC`, `UTC-08:00`, `Etc/GMT+8`).
    pub fn set_system_time_zone(&self, zone: &str) {
        lock(&self.state).config.system_time_zone = zone.to_owned();
    }

    /// Whether a user's `sys_update_set` preference picks the update set their
    /// configuration writes are captured in (default yes). That the preference
    /// is how the platform records it is not documented: turned off, writes
    /// land in the default update set whatever the preference says, so a test
    /// can prove a client notices ([`write_costs`]).
    pub fn set_update_set_preference_honoured(&self, honoured: bool) {
        lock(&self.state).config.honour_update_set_preference = honoured;
    }

    /// Adds an update set (`state`: `in progress`, `complete` or `ignore`).
    pub fn add_update_set(&self, name: &str, state: &str) -> SysId {
        self.insert(
            "sys_update_set",
            serde_json::json!({"name": name, "state": state, "application": "global"}),
        )
    }

    /// Makes `update_set` the user's current update set, as the update set
    /// picker does (the `sys_update_set` user preference).
    pub fn choose_update_set(&self, user_name: &str, update_set: &SysId) {
        let user = self.sys_id_of("sys_user", "user_name", user_name);
        let existing = {
            let state = lock(&self.state);
            state
                .rows("sys_user_preference")
                .iter()
                .find(|p| {
                    field(p, "name") == Some(UPDATE_SET_PREFERENCE)
                        && field(p, "user") == Some(user.as_str())
                })
                .and_then(|p| field(p, "sys_id"))
                .map(str::to_owned)
        };
        match existing.and_then(|id| SysId::parse(&id).ok()) {
            Some(id) => {
                self.update_row(
                    "sys_user_preference",
                    &id,
                    serde_json::json!({"value": update_set.as_str()}),
                );
            }
            None => {
                self.insert(
                    "sys_user_preference",
                    serde_json::json!({
                        "name": UPDATE_SET_PREFERENCE, "user": user, "value": update_set.as_str()
                    }),
                );
            }
        }
    }

    /// The update set a write by `user_name` would be captured in now.
    pub fn current_update_set(&self, user_name: &str) -> SysId {
        let id = write_costs::current_update_set(&mut lock(&self.state), user_name);
        SysId::parse(&id).expect("the fake makes valid sys_ids")
    }

    /// The `sys_update_xml` rows captured in an update set.
    pub fn captured_in(&self, update_set: &SysId) -> Vec<JsonRecord> {
        lock(&self.state)
            .rows("sys_update_xml")
            .iter()
            .filter(|x| field(x, "update_set") == Some(update_set.as_str()))
            .cloned()
            .collect()
    }

    /// Every full cache flush so far: a Table API write to a `sys_properties`
    /// row whose `ignore_cache` is false ([`write_costs`]).
    pub fn cache_flushes(&self) -> Vec<CacheFlush> {
        lock(&self.state).cache_flushes.clone()
    }

    /// Services at most `limit` items of each batch; the rest come back unserviced.
    pub fn set_batch_service_limit(&self, limit: Option<usize>) {
        lock(&self.state).config.batch_service_limit = limit;
    }

    // ----- observation -----------------------------------------------------------

    /// Every request received so far, in order (batch items after their batch's
    /// position, marked `via_batch`).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.state).log.clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.state).log.clear();
    }

    /// How many HTTP round trips the fake has answered (batch items not counted).
    pub fn round_trips(&self) -> usize {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| r.is_round_trip())
            .count()
    }

    /// How many sessions the instance opened: one for every authenticated
    /// request that did not carry the session cookie of an earlier answer (a
    /// client that keeps cookies opens one per credential).
    pub fn sessions_opened(&self) -> u64 {
        lock(&self.state).sessions
    }

    /// How many table writes were received, directly or inside batches.
    pub fn write_count(&self) -> usize {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| r.endpoint == Endpoint::Table && r.is_write_method())
            .count()
    }

    /// The rows of a table, as stored.
    pub fn table(&self, name: &str) -> Vec<JsonRecord> {
        lock(&self.state).rows(name).to_vec()
    }

    /// One row, as stored.
    pub fn record(&self, table: &str, sys_id: &SysId) -> Option<JsonRecord> {
        lock(&self.state).find(table, sys_id.as_str()).cloned()
    }

    /// Every table, as stored.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<JsonRecord>> {
        lock(&self.state).tables.clone()
    }
}
