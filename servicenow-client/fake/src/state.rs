//! The fake instance's state: tables of string-valued rows, declared references,
//! passwords, tokens, plugin activations, faults and the request log.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use bpsn_fake::{FaultPlan, Latency, LoggedRequest};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::dictionary::{self, Column, ColumnType, Dictionary, SYSTEM_COLUMNS, TableSchema};
use super::query::{self, ParsedQuery};
use super::{ActiveForm, Endpoint};
use servicenow_client::JsonRecord;
use servicenow_client::release::{Family, Release};

/// The property that makes a query with an invalid term return no rows.
pub(crate) const INVALID_QUERY_NO_ROWS: &str = "glide.invalid_query.returns_no_rows";

pub(crate) struct TokenInfo {
    pub(crate) user_name: String,
    pub(crate) client_id: String,
    pub(crate) expires_at: Instant,
}

/// What a CI/CD operation does.
pub(crate) enum Operation {
    /// Activates a plugin (its id).
    Activate(String),
    /// Installs an application: scope, version.
    Install(String, String),
}

impl Operation {
    /// The plugin id or the application scope.
    pub(crate) fn subject(&self) -> &str {
        match self {
            Operation::Activate(id) => id,
            Operation::Install(scope, _) => scope,
        }
    }
}

pub(crate) struct Activation {
    pub(crate) operation: Operation,
    pub(crate) polls: u32,
    pub(crate) finished: bool,
}

pub(crate) struct ListCache {
    table: String,
    query: String,
    version: u64,
    ignore_unknown_fields: bool,
    indices: std::sync::Arc<Vec<usize>>,
}

pub(crate) struct Config {
    pub(crate) ignore_unknown_fields: bool,
    pub(crate) active_form: ActiveForm,
    pub(crate) polls_to_finish: u32,
    pub(crate) token_lifetime: Duration,
    pub(crate) batch_service_limit: Option<usize>,
    /// Whether a `sys_id` in a POST body is ignored (a fresh one is made).
    pub(crate) ignore_supplied_sys_ids: bool,
    /// Whether the CI/CD API is active (405 on every `/api/sn_cicd/` path when not).
    pub(crate) cicd_active: bool,
    /// Whether the instance is entitled to the Store applications offered.
    pub(crate) store_entitled: bool,
    /// Whether a user's `sys_update_set` preference picks the update set their
    /// writes are captured in (see [`crate::write_costs`]).
    pub(crate) honour_update_set_preference: bool,
    /// The system's time zone: the zone of a user whose own is empty.
    pub(crate) system_time_zone: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            ignore_unknown_fields: true,
            active_form: ActiveForm::Active,
            polls_to_finish: 2,
            token_lifetime: Duration::from_secs(1799),
            batch_service_limit: None,
            ignore_supplied_sys_ids: false,
            cicd_active: true,
            store_entitled: true,
            honour_update_set_preference: true,
            system_time_zone: "UTC".to_owned(),
        }
    }
}

pub(crate) struct State {
    pub(crate) origin: String,
    pub(crate) tables: BTreeMap<String, Vec<JsonRecord>>,
    /// Which tables exist, and their columns.
    pub(crate) dictionary: Dictionary,
    /// The last number given, per number prefix.
    pub(crate) counters: HashMap<String, u64>,
    /// Bumped on every write to any table (invalidates `list_cache`).
    pub(crate) version: u64,
    /// The sorted row order of the last list query, reused while nothing changes,
    /// so paging through a large table costs one sort, not one per page.
    pub(crate) list_cache: Option<ListCache>,
    pub(crate) passwords: HashMap<String, String>,
    pub(crate) tokens: HashMap<String, TokenInfo>,
    pub(crate) refresh_tokens: HashMap<String, (String, String)>,
    pub(crate) activations: HashMap<String, Activation>,
    pub(crate) failing_plugins: HashMap<String, String>,
    /// Plugins (ids) and applications (scopes) whose CI/CD operations stay
    /// queued (Pending) for ever.
    pub(crate) queued: std::collections::HashSet<String>,
    /// The application repository: scope → (name, versions offered).
    pub(crate) repository: BTreeMap<String, (String, Vec<String>)>,
    pub(crate) config: Config,
    pub(crate) faults: FaultPlan<Endpoint>,
    pub(crate) latency: Latency<Endpoint>,
    pub(crate) log: Vec<LoggedRequest<Endpoint>>,
    pub(crate) rng: StdRng,
    /// Sessions opened: one for every authenticated request that carried no
    /// session cookie of this instance.
    pub(crate) sessions: u64,
    /// REST API keys: key → the user it acts as.
    pub(crate) api_keys: HashMap<String, String>,
    /// OAuth applications allowed the client-credentials grant: client id → the
    /// user their tokens act as.
    pub(crate) client_credentials_users: HashMap<String, String>,
    /// JWT verifier keys: (client id, key id) → public key (PEM).
    pub(crate) jwt_keys: HashMap<(String, String), String>,
    /// Every full cache flush a Table API write caused.
    pub(crate) cache_flushes: Vec<super::write_costs::CacheFlush>,
}

impl State {
    pub(crate) fn new(origin: String, seed: u64) -> Self {
        Self {
            origin,
            tables: BTreeMap::new(),
            dictionary: Dictionary::default(),
            counters: HashMap::new(),
            version: 0,
            list_cache: None,
            passwords: HashMap::new(),
            tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            activations: HashMap::new(),
            failing_plugins: HashMap::new(),
            queued: Default::default(),
            repository: BTreeMap::new(),
            config: Config::default(),
            faults: FaultPlan::default(),
            latency: Latency::default(),
            log: Vec::new(),
            sessions: 0,
            api_keys: HashMap::new(),
            client_credentials_users: HashMap::new(),
            jwt_keys: HashMap::new(),
            cache_flushes: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub(crate) fn new_sys_id(&mut self) -> String {
        format!(
            "{:016x}{:016x}",
            self.rng.random::<u64>(),
            self.rng.random::<u64>()
        )
    }

    pub(crate) fn new_secret(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| CHARS[self.rng.random_range(0..CHARS.len())] as char)
            .collect()
    }

    pub(crate) fn rows(&self, table: &str) -> &[JsonRecord] {
        self.tables
            .get(table)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Whether the table exists.
    pub(crate) fn has_table(&self, table: &str) -> bool {
        self.dictionary.get(table).is_some()
    }

    /// Declares a table (merging with an existing declaration) and registers it in
    /// `sys_db_object`.
    pub(crate) fn declare_table(&mut self, schema: TableSchema) {
        let name = schema.name.clone();
        let parent = schema.extends.clone();
        self.dictionary.declare(schema);
        self.version += 1;
        if name != "sys_db_object"
            && !self.has_table("sys_db_object")
            && let Some(t) = dictionary::builtin()
                .into_iter()
                .find(|t| t.name == "sys_db_object")
        {
            self.declare_table(t);
        }
        if self.find_by("sys_db_object", "name", &name).is_none() {
            let mut row = JsonRecord::new();
            row.insert("name".into(), Value::String(name.clone()));
            row.insert("label".into(), Value::String(name.replace('_', " ")));
            if let Some(parent_id) = parent
                .and_then(|p| self.find_by("sys_db_object", "name", &p))
                .and_then(|r| field(r, "sys_id"))
                .map(str::to_owned)
            {
                row.insert("super_class".into(), Value::String(parent_id));
            }
            self.insert_row("sys_db_object", &row, "system", Columns::Strict);
        }
    }

    /// Declares `table` for seeding: from the out-of-the-box catalogue when it is
    /// one of its tables, otherwise as an empty table.
    pub(crate) fn ensure_table(&mut self, table: &str) {
        if self.has_table(table) {
            return;
        }
        let schema = dictionary::builtin()
            .into_iter()
            .chain(dictionary::plugin_tables("com.sn_openframe"))
            .chain(dictionary::plugin_tables("com.sn_customerservice"))
            .find(|t| t.name == table)
            .unwrap_or_else(|| TableSchema::new(table));
        if let Some(parent) = schema.extends.clone() {
            self.ensure_table(&parent);
        }
        self.declare_table(schema);
    }

    /// The column of a table, when declared.
    pub(crate) fn column(&self, table: &str, column: &str) -> Option<&Column> {
        self.dictionary.get(table)?.get(column)
    }

    /// Inserts a row as the platform does: every column of the table (defaults,
    /// or `""`), the given values as strings, the system columns, a `number` on
    /// numbered tables. With [`Columns::Strict`] (the Table API) columns the table
    /// does not have are ignored; with [`Columns::Declare`] (seeding) they are
    /// added to the dictionary as text columns.
    pub(crate) fn insert_row(
        &mut self,
        table: &str,
        fields: &JsonRecord,
        by: &str,
        columns: Columns,
    ) -> JsonRecord {
        if columns == Columns::Declare {
            self.ensure_table(table);
            let missing: Vec<Column> = fields
                .keys()
                .filter(|k| !SYSTEM_COLUMNS.contains(&k.as_str()))
                .filter(|k| self.column(table, k).is_none())
                .map(|k| Column::string(k.clone()))
                .collect();
            if let Some(schema) = self.dictionary.get_mut(table) {
                for c in missing {
                    schema.put(c);
                }
            }
        }
        let now = timestamp(SystemTime::now());
        let sys_id = match fields.get("sys_id").and_then(Value::as_str) {
            Some(id) if id.len() == 32 => id.to_owned(),
            _ => self.new_sys_id(),
        };
        let mut row = JsonRecord::new();
        row.insert("sys_id".into(), Value::String(sys_id));
        let schema = self.dictionary.get(table);
        for column in schema.iter().flat_map(|s| s.columns.iter()) {
            row.insert(
                column.name.clone(),
                Value::String(column.default.clone().unwrap_or_default()),
            );
        }
        for (k, v) in fields {
            if schema.is_some_and(|s| s.get(k).is_some()) {
                row.insert(k.clone(), Value::String(stringify(v)));
            }
        }
        if let Some(prefix) = schema.and_then(|s| s.number_prefix.as_deref())
            && field(&row, "number").is_none_or(str::is_empty)
        {
            let counter = self.counters.entry(prefix.to_owned()).or_insert(10_000);
            *counter += 1;
            row.insert(
                "number".into(),
                Value::String(format!("{prefix}{:07}", *counter)),
            );
        }
        // Values the platform computes on insert: who opened a task and when,
        // a user's full name from its parts.
        let empty = |row: &JsonRecord, name: &str| field(row, name).is_none_or(str::is_empty);
        if schema.is_some_and(|s| s.get("opened_by").is_some())
            && empty(&row, "opened_by")
            && let Some(user) = self
                .find_by("sys_user", "user_name", by)
                .and_then(|u| field(u, "sys_id"))
        {
            row.insert("opened_by".into(), Value::String(user.to_owned()));
        }
        if schema.is_some_and(|s| s.get("opened_at").is_some()) && empty(&row, "opened_at") {
            row.insert("opened_at".into(), Value::String(now.clone()));
        }
        if table == "sys_user" && empty(&row, "name") {
            let full = format!(
                "{} {}",
                field(&row, "first_name").unwrap_or_default(),
                field(&row, "last_name").unwrap_or_default()
            );
            row.insert("name".into(), Value::String(full.trim().to_owned()));
        }
        if table == "sys_properties" && !fields.contains_key("ignore_cache") {
            // The dictionary default of `ignore_cache` was false until Rome
            // (KB1000746); an unknown release gets the older, costlier one.
            let rome_or_later = self.release().at_least(Family::Rome) == Some(true);
            row.insert(
                "ignore_cache".into(),
                Value::String(rome_or_later.to_string()),
            );
        }
        if schema.is_some_and(|s| s.get("sys_class_name").is_some()) {
            // A seed may give a parent table's row its child class (the rows
            // `sys_metadata` lists on an instance); the Table API never can.
            let class = fields
                .get("sys_class_name")
                .and_then(Value::as_str)
                .filter(|c| columns == Columns::Declare && !c.is_empty())
                .unwrap_or(table);
            row.insert("sys_class_name".into(), Value::String(class.to_owned()));
        }
        for (k, v) in [
            ("sys_created_on", now.as_str()),
            ("sys_created_by", by),
            ("sys_updated_on", now.as_str()),
            ("sys_updated_by", by),
            ("sys_mod_count", "0"),
        ] {
            // A seed may say when and by whom a row was made (a developer
            // instance's history); the Table API never can.
            let seeded = (columns == Columns::Declare)
                .then(|| fields.get(k).and_then(Value::as_str))
                .flatten();
            row.insert(k.into(), Value::String(seeded.unwrap_or(v).to_owned()));
        }
        self.version += 1;
        self.tables
            .entry(table.to_owned())
            .or_default()
            .push(row.clone());
        self.after_write(table);
        row
    }

    /// Seeds a row (columns the table lacks are declared).
    pub(crate) fn insert(&mut self, table: &str, fields: &JsonRecord) -> JsonRecord {
        self.insert_row(table, fields, "system", Columns::Declare)
    }

    pub(crate) fn find(&self, table: &str, sys_id: &str) -> Option<&JsonRecord> {
        self.rows(table)
            .iter()
            .find(|r| field(r, "sys_id") == Some(sys_id))
    }

    /// Updates the given columns of a row (columns the table lacks, and system
    /// columns, are ignored), counting the change in `sys_mod_count`.
    pub(crate) fn update(
        &mut self,
        table: &str,
        sys_id: &str,
        fields: &JsonRecord,
        by: &str,
    ) -> Option<JsonRecord> {
        let now = timestamp(SystemTime::now());
        self.version += 1;
        let known: Vec<(String, String)> = fields
            .iter()
            .filter(|(k, _)| !SYSTEM_COLUMNS.contains(&k.as_str()))
            .filter(|(k, _)| self.column(table, k).is_some())
            .map(|(k, v)| (k.clone(), stringify(v)))
            .collect();
        let row = self
            .tables
            .get_mut(table)?
            .iter_mut()
            .find(|r| field(r, "sys_id") == Some(sys_id))?;
        for (k, v) in known {
            row.insert(k, Value::String(v));
        }
        let count = field(row, "sys_mod_count")
            .and_then(|c| c.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        row.insert("sys_mod_count".into(), Value::String(count.to_string()));
        row.insert("sys_updated_on".into(), Value::String(now));
        row.insert("sys_updated_by".into(), Value::String(by.to_owned()));
        let row = row.clone();
        self.after_write(table);
        Some(row)
    }

    pub(crate) fn delete(&mut self, table: &str, sys_id: &str) -> bool {
        let Some(rows) = self.tables.get_mut(table) else {
            return false;
        };
        let before = rows.len();
        rows.retain(|r| field(r, "sys_id") != Some(sys_id));
        let deleted = rows.len() != before;
        self.version += 1;
        self.after_write(table);
        deleted
    }

    /// The platform's business rules the fake models, run after a write.
    fn after_write(&mut self, table: &str) {
        if matches!(table, "sys_group_has_role" | "sys_user_grmember") {
            self.sync_inherited_roles();
        }
    }

    /// As the platform does: every member of a group holding a role gets a
    /// `sys_user_has_role` row with `inherited=true` and `granted_by` the group,
    /// and loses it when the membership or the group's grant goes.
    fn sync_inherited_roles(&mut self) {
        let mut wanted: HashSet<(String, String, String)> = HashSet::new();
        for member in self.rows("sys_user_grmember") {
            let (Some(user), Some(group)) = (field(member, "user"), field(member, "group")) else {
                continue;
            };
            for grant in self.rows("sys_group_has_role") {
                if field(grant, "group") == Some(group)
                    && let Some(role) = field(grant, "role")
                {
                    wanted.insert((user.to_owned(), role.to_owned(), group.to_owned()));
                }
            }
        }
        let key = |r: &JsonRecord| {
            (
                field(r, "user").unwrap_or_default().to_owned(),
                field(r, "role").unwrap_or_default().to_owned(),
                field(r, "granted_by").unwrap_or_default().to_owned(),
            )
        };
        let existing: Vec<(String, (String, String, String))> = self
            .rows("sys_user_has_role")
            .iter()
            .filter(|r| field(r, "inherited") == Some("true"))
            .map(|r| (field(r, "sys_id").unwrap_or_default().to_owned(), key(r)))
            .collect();
        if wanted.is_empty() && existing.is_empty() {
            return;
        }
        self.ensure_table("sys_user_has_role");
        for (id, k) in &existing {
            if !wanted.contains(k)
                && let Some(rows) = self.tables.get_mut("sys_user_has_role")
            {
                rows.retain(|r| field(r, "sys_id") != Some(id.as_str()));
            }
        }
        for (user, role, group) in wanted {
            if existing
                .iter()
                .any(|(_, k)| *k == (user.clone(), role.clone(), group.clone()))
            {
                continue;
            }
            let mut row = JsonRecord::new();
            row.insert("user".into(), Value::String(user));
            row.insert("role".into(), Value::String(role));
            row.insert("granted_by".into(), Value::String(group));
            row.insert("inherited".into(), Value::String("true".into()));
            self.insert_row("sys_user_has_role", &row, "system", Columns::Strict);
        }
        self.version += 1;
    }

    /// The first row of `table` whose `column` equals `value`.
    pub(crate) fn find_by(&self, table: &str, column: &str, value: &str) -> Option<&JsonRecord> {
        self.rows(table)
            .iter()
            .find(|r| field(r, column) == Some(value))
    }

    /// The table a reference column points at.
    pub(crate) fn reference(&self, table: &str, column: &str) -> Option<&str> {
        match &self.column(table, column)?.kind {
            ColumnType::Reference(target) => Some(target),
            _ => None,
        }
    }

    /// Whether a table has a column (system columns included), by the dictionary.
    fn knows_column(&self, table: &str, column: &str) -> bool {
        self.dictionary.get(table).is_some_and(|s| s.has(column))
    }

    /// Whether a (possibly dot-walked) field is known.
    pub(crate) fn knows_field(&self, table: &str, path: &str) -> bool {
        let mut current = table;
        let mut segments = path.split('.').peekable();
        while let Some(segment) = segments.next() {
            if !self.knows_column(current, segment) {
                return false;
            }
            if segments.peek().is_some() {
                match self.reference(current, segment) {
                    Some(target) => current = target,
                    None => return false,
                }
            }
        }
        true
    }

    /// The value of a (possibly dot-walked) field of a row.
    pub(crate) fn value_of<'a>(
        &'a self,
        table: &str,
        row: &'a JsonRecord,
        path: &str,
    ) -> Option<&'a str> {
        let mut current_table: &str = table;
        let mut current_row = row;
        let mut segments = path.split('.').peekable();
        while let Some(segment) = segments.next() {
            let value = field(current_row, segment)?;
            if segments.peek().is_none() {
                return Some(value);
            }
            let target = self.reference(current_table, segment)?;
            current_row = self.find(target, value)?;
            current_table = target;
        }
        None
    }

    /// The rows of `table` matching an encoded query, sorted as it asks.
    #[cfg(test)]
    pub(crate) fn select(
        &self,
        table: &str,
        encoded: &str,
    ) -> Result<Vec<&JsonRecord>, query::QueryError> {
        let rows = self.rows(table);
        Ok(self
            .select_indices(table, encoded)?
            .into_iter()
            .map(|i| &rows[i])
            .collect())
    }

    /// Like [`State::select`], as indices into the table, reusing the last
    /// result while nothing was written.
    pub(crate) fn select_cached(
        &mut self,
        table: &str,
        encoded: &str,
    ) -> Result<std::sync::Arc<Vec<usize>>, query::QueryError> {
        if let Some(cache) = &self.list_cache
            && cache.table == table
            && cache.query == encoded
            && cache.version == self.version
            && cache.ignore_unknown_fields == self.ignores_unknown_fields()
        {
            return Ok(cache.indices.clone());
        }
        let indices = std::sync::Arc::new(self.select_indices(table, encoded)?);
        self.list_cache = Some(ListCache {
            table: table.to_owned(),
            query: encoded.to_owned(),
            version: self.version,
            ignore_unknown_fields: self.ignores_unknown_fields(),
            indices: indices.clone(),
        });
        Ok(indices)
    }

    /// Whether a query term naming an unknown field is dropped (the platform's
    /// default) rather than matching no rows (`glide.invalid_query.returns_no_rows`).
    pub(crate) fn ignores_unknown_fields(&self) -> bool {
        self.config.ignore_unknown_fields && self.property(INVALID_QUERY_NO_ROWS) != Some("true")
    }

    fn select_indices(&self, table: &str, encoded: &str) -> Result<Vec<usize>, query::QueryError> {
        let parsed: ParsedQuery = query::parse(encoded)?;
        let mut unknown = HashSet::new();
        for block in &parsed.blocks {
            for group in block {
                for c in group {
                    if !self.knows_field(table, &c.field) {
                        unknown.insert(c.field.clone());
                    }
                }
            }
        }
        let ignore = self.ignores_unknown_fields();
        let matches = |row: &JsonRecord| -> bool {
            if parsed.blocks.is_empty() {
                return true;
            }
            parsed.blocks.iter().any(|block| {
                block.iter().all(|group| {
                    group.iter().any(|c| {
                        if unknown.contains(&c.field) {
                            // The platform's quirk: an unknown field's condition is
                            // dropped (matches everything); strict mode matches nothing.
                            return ignore;
                        }
                        if c.op == query::Op::InstanceOf {
                            // `sys_class_nameINSTANCEOFtask`: the row's class extends it.
                            return self.value_of(table, row, &c.field).is_some_and(|class| {
                                self.dictionary.is_instance_of(class, &c.value)
                            });
                        }
                        query::holds(c.op, self.value_of(table, row, &c.field), &c.value)
                    })
                })
            })
        };
        let rows = self.rows(table);
        let mut indices: Vec<usize> = (0..rows.len()).filter(|&i| matches(&rows[i])).collect();
        for (field_name, descending) in parsed.order.iter().rev() {
            indices.sort_by(|&a, &b| {
                let va = self
                    .value_of(table, &rows[a], field_name)
                    .unwrap_or_default();
                let vb = self
                    .value_of(table, &rows[b], field_name)
                    .unwrap_or_default();
                let ord = query::compare_values(va, vb);
                if *descending { ord.reverse() } else { ord }
            });
        }
        Ok(indices)
    }

    /// A row's display value: its table's display column, else its name, user
    /// name, number or id.
    pub(crate) fn display_value(&self, table: &str, sys_id: &str) -> String {
        let Some(row) = self.find(table, sys_id) else {
            return String::new();
        };
        let declared = self
            .dictionary
            .get(table)
            .and_then(|s| s.display.as_deref());
        declared
            .into_iter()
            .chain(["name", "user_name", "number", "id"])
            .find_map(|c| field(row, c).filter(|v| !v.is_empty()))
            .unwrap_or(sys_id)
            .to_owned()
    }

    /// Whether a user holds a role, directly or through a group.
    pub(crate) fn user_has_role(&self, user_name: &str, role: &str) -> bool {
        let Some(user) = self.find_by("sys_user", "user_name", user_name) else {
            return false;
        };
        let user_id = field(user, "sys_id").unwrap_or_default();
        let Some(role) = self.find_by("sys_user_role", "name", role) else {
            return false;
        };
        let role_id = field(role, "sys_id").unwrap_or_default();
        let direct = self
            .rows("sys_user_has_role")
            .iter()
            .any(|g| field(g, "user") == Some(user_id) && field(g, "role") == Some(role_id));
        let via_group = self
            .rows("sys_user_grmember")
            .iter()
            .filter(|m| field(m, "user") == Some(user_id))
            .filter_map(|m| field(m, "group"))
            .any(|group| {
                self.rows("sys_group_has_role")
                    .iter()
                    .any(|g| field(g, "group") == Some(group) && field(g, "role") == Some(role_id))
            });
        direct || via_group
    }

    /// The release the build properties name.
    pub(crate) fn release(&self) -> Release {
        Release::from_properties(
            servicenow_client::release::BUILD_PROPERTIES
                .iter()
                .filter_map(|name| Some((*name, self.property(name)?))),
        )
    }

    pub(crate) fn property(&self, name: &str) -> Option<&str> {
        self.find_by("sys_properties", "name", name)
            .and_then(|r| field(r, "value"))
    }
}

/// A row's column as text.
pub(crate) fn field<'r>(row: &'r JsonRecord, column: &str) -> Option<&'r str> {
    row.get(column).and_then(Value::as_str)
}

/// ServiceNow stores every value as a string; a reference object stores its value.
pub(crate) fn stringify(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(o) => o
            .get("value")
            .or_else(|| o.get("sys_id"))
            .map(stringify)
            .unwrap_or_default(),
        Value::Array(a) => a.iter().map(stringify).collect::<Vec<_>>().join(","),
    }
}

/// How an insert treats columns the table does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Columns {
    /// Ignore them (the Table API).
    Strict,
    /// Add them to the table as text columns (seeding).
    Declare,
}

/// `YYYY-MM-DD hh:mm:ss` in UTC, as ServiceNow writes dates.
pub(crate) fn timestamp(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_timestamp(secs as i64)
}

/// Seconds since the epoch from `YYYY-MM-DD hh:mm:ss`.
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once(' ')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    // Days-from-civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + min * 60 + s)
}

/// `YYYY-MM-DD hh:mm:ss` from seconds since the epoch.
pub(crate) fn format_timestamp(secs: i64) -> String {
    bpsn_core::wire::utc_date_time(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_servicenow_dates() {
        assert_eq!(timestamp(SystemTime::UNIX_EPOCH), "1970-01-01 00:00:00");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(timestamp(t), "2026-11-18 11:06:40");
    }

    #[test]
    fn timestamps_round_trip() {
        for t in [
            "1970-01-01 00:00:00",
            "2026-11-18 11:06:40",
            "2000-02-29 23:59:59",
        ] {
            assert_eq!(format_timestamp(parse_timestamp(t).unwrap()), t);
        }
    }

    #[test]
    fn unknown_fields_are_ignored_unless_strict() {
        let mut s = State::new("http://x".into(), 1);
        let mut row = JsonRecord::new();
        row.insert("user_name".into(), "bob".into());
        s.insert("sys_user", &row);
        row.insert("user_name".into(), "eve".into());
        s.insert("sys_user", &row);
        assert_eq!(s.select("sys_user", "user_nmae=bob").unwrap().len(), 2);
        s.config.ignore_unknown_fields = false;
        assert_eq!(s.select("sys_user", "user_nmae=bob").unwrap().len(), 0);
        assert_eq!(s.select("sys_user", "user_name=bob").unwrap().len(), 1);
    }
}
