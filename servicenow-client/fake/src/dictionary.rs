//! The fake instance's data dictionary: which tables exist, their columns and
//! column types, defaults, display columns, number prefixes and parents — what
//! the platform keeps in `sys_db_object` and `sys_dictionary`.
//!
//! The Table API answers from it the way an instance does: a record carries every
//! column of its table (unset ones as `""`), columns a table does not have are
//! ignored on write, an unknown table is a 400, and `sysparm_display_value` gives
//! every field its display form.

use std::collections::BTreeMap;

/// The type of a column, as the dictionary declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColumnType {
    /// Text.
    String,
    /// `"true"` / `"false"`.
    Boolean,
    /// A whole number; its display form has thousands separators (`1,800`).
    Integer,
    /// A reference to a row of another table (its sys_id).
    Reference(String),
    /// One of a list of values, each with a label (the display form).
    Choice(Vec<(String, String)>),
    /// A date and time, stored in UTC as `YYYY-MM-DD hh:mm:ss`; displayed in the
    /// calling user's time zone.
    DateTime,
    /// A password (`password2`): displayed as `********`.
    Password,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column name.
    pub name: String,
    /// Its type.
    pub kind: ColumnType,
    /// What an insert that does not give it stores.
    pub default: Option<String>,
}

impl Column {
    /// A column of any type, without a default (booleans default to `"false"`).
    pub fn new(name: impl Into<String>, kind: ColumnType) -> Self {
        let default = (kind == ColumnType::Boolean).then(|| "false".to_owned());
        Self {
            name: name.into(),
            kind,
            default,
        }
    }

    /// A text column.
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, ColumnType::String)
    }

    /// A boolean column (default `"false"`).
    pub fn boolean(name: impl Into<String>) -> Self {
        Self::new(name, ColumnType::Boolean)
    }

    /// An integer column.
    pub fn integer(name: impl Into<String>) -> Self {
        Self::new(name, ColumnType::Integer)
    }

    /// A reference to `table`.
    pub fn reference(name: impl Into<String>, table: impl Into<String>) -> Self {
        Self::new(name, ColumnType::Reference(table.into()))
    }

    /// A choice column: `(value, label)` pairs.
    pub fn choice(name: impl Into<String>, choices: &[(&str, &str)]) -> Self {
        Self::new(
            name,
            ColumnType::Choice(
                choices
                    .iter()
                    .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
                    .collect(),
            ),
        )
    }

    /// A date-time column.
    pub fn date_time(name: impl Into<String>) -> Self {
        Self::new(name, ColumnType::DateTime)
    }

    /// A password column.
    pub fn password(name: impl Into<String>) -> Self {
        Self::new(name, ColumnType::Password)
    }

    /// Sets the default.
    pub fn default_value(mut self, value: impl Into<String>) -> Self {
        self.default = Some(value.into());
        self
    }
}

/// A table of the dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// The table name.
    pub name: String,
    /// The table it extends, if any (its columns are inherited).
    pub extends: Option<String>,
    /// The columns (system columns aside), in dictionary order.
    pub columns: Vec<Column>,
    /// The column whose value is a row's display value (`name`, `number`, ...).
    pub display: Option<String>,
    /// For numbered (task) tables: the prefix of `number` (`INC`).
    pub number_prefix: Option<String>,
}

/// The columns the platform fills in on every row.
pub const SYSTEM_COLUMNS: [&str; 6] = [
    "sys_id",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
];

impl TableSchema {
    /// A table without columns yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            extends: None,
            columns: Vec::new(),
            display: None,
            number_prefix: None,
        }
    }

    /// Adds a column (replacing one of the same name).
    pub fn column(mut self, column: Column) -> Self {
        self.put(column);
        self
    }

    /// Sets the display column.
    pub fn display(mut self, column: impl Into<String>) -> Self {
        self.display = Some(column.into());
        self
    }

    /// Makes the table extend `parent` (whose columns it inherits when declared).
    pub fn extends(mut self, parent: impl Into<String>) -> Self {
        self.extends = Some(parent.into());
        self
    }

    /// Numbers the table's rows: `number` = prefix + a seven-digit counter.
    pub fn numbered(mut self, prefix: impl Into<String>) -> Self {
        self.number_prefix = Some(prefix.into());
        if self.get("number").is_none() {
            self.put(Column::string("number"));
        }
        self.display.get_or_insert_with(|| "number".to_owned());
        self
    }

    /// The column of this name, when the table has it.
    pub fn get(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub(crate) fn put(&mut self, column: Column) {
        match self.columns.iter_mut().find(|c| c.name == column.name) {
            Some(existing) => *existing = column,
            None => self.columns.push(column),
        }
    }

    /// Whether the table has this column (system columns included).
    pub fn has(&self, name: &str) -> bool {
        SYSTEM_COLUMNS.contains(&name) || self.get(name).is_some()
    }
}

fn state_choices(pairs: &[(&str, &str)]) -> Column {
    Column::choice("state", pairs)
}

/// The tables an instance has out of the box, as far as the fake models them.
pub(crate) fn builtin() -> Vec<TableSchema> {
    let priority = || {
        Column::choice(
            "priority",
            &[
                ("1", "1 - Critical"),
                ("2", "2 - High"),
                ("3", "3 - Moderate"),
                ("4", "4 - Low"),
                ("5", "5 - Planning"),
            ],
        )
        .default_value("4")
    };
    vec![
        TableSchema::new("sys_db_object")
            .column(Column::string("name"))
            .column(Column::string("label"))
            .column(Column::reference("super_class", "sys_db_object"))
            .display("name"),
        TableSchema::new("sys_user")
            .column(Column::string("user_name"))
            .column(Column::string("name"))
            .column(Column::string("first_name"))
            .column(Column::string("last_name"))
            .column(Column::string("email"))
            .column(Column::string("title"))
            .column(Column::boolean("active").default_value("true"))
            .column(Column::boolean("locked_out"))
            .column(Column::reference("department", "cmn_department"))
            .column(Column::reference("manager", "sys_user"))
            .column(Column::string("time_zone"))
            .column(Column::password("user_password"))
            .column(Column::date_time("last_login_time"))
            .display("name"),
        TableSchema::new("cmn_department")
            .column(Column::string("name"))
            .column(Column::string("description"))
            .column(Column::reference("dept_head", "sys_user"))
            .display("name"),
        TableSchema::new("sys_user_group")
            .column(Column::string("name"))
            .column(Column::string("description"))
            .column(Column::string("email"))
            .column(Column::boolean("active").default_value("true"))
            .column(Column::reference("manager", "sys_user"))
            .display("name"),
        TableSchema::new("sys_user_role")
            .column(Column::string("name"))
            .column(Column::string("description"))
            .display("name"),
        TableSchema::new("sys_user_has_role")
            .column(Column::reference("user", "sys_user"))
            .column(Column::reference("role", "sys_user_role"))
            .column(Column::boolean("inherited"))
            .column(Column::reference("granted_by", "sys_user_group"))
            .column(
                state_choices(&[
                    ("active", "Active"),
                    ("requested", "Requested"),
                    ("pending_approval", "Pending approval"),
                ])
                .default_value("active"),
            ),
        TableSchema::new("sys_group_has_role")
            .column(Column::reference("group", "sys_user_group"))
            .column(Column::reference("role", "sys_user_role"))
            .column(Column::boolean("inherits").default_value("true")),
        TableSchema::new("sys_user_grmember")
            .column(Column::reference("user", "sys_user"))
            .column(Column::reference("group", "sys_user_group")),
        TableSchema::new("sys_properties")
            .column(Column::string("name"))
            .column(Column::string("value"))
            .column(Column::string("description"))
            .column(
                Column::choice(
                    "type",
                    &[
                        ("string", "string"),
                        ("boolean", "true | false"),
                        ("integer", "integer"),
                        ("choicelist", "choice list"),
                        ("password2", "password2"),
                    ],
                )
                .default_value("string"),
            )
            .column(Column::string("choices"))
            .column(Column::string("suffix"))
            // Its default depends on the release (false before Rome): the
            // insert fills it (`State::insert_row`).
            .column(Column {
                default: None,
                ..Column::boolean("ignore_cache")
            })
            .column(Column::boolean("is_private"))
            .column(Column::string("read_roles"))
            .column(Column::string("write_roles"))
            .display("name"),
        TableSchema::new("sys_update_set")
            .column(Column::string("name"))
            .column(Column::string("description"))
            .column(
                state_choices(&[
                    ("in progress", "In progress"),
                    ("complete", "Complete"),
                    ("ignore", "Ignore"),
                ])
                .default_value("in progress"),
            )
            .column(Column::string("application").default_value("global"))
            .column(Column::boolean("is_default"))
            .display("name"),
        TableSchema::new("sys_update_xml")
            .column(Column::string("name"))
            .column(Column::reference("update_set", "sys_update_set"))
            .column(Column::string("type"))
            .column(Column::string("target_name"))
            .column(Column::choice(
                "action",
                &[
                    ("INSERT_OR_UPDATE", "INSERT_OR_UPDATE"),
                    ("DELETE", "DELETE"),
                ],
            ))
            .column(Column::string("payload"))
            .column(Column::string("application").default_value("global"))
            .display("name"),
        TableSchema::new("sys_user_preference")
            .column(Column::string("name"))
            .column(Column::string("value"))
            .column(Column::reference("user", "sys_user"))
            .column(Column::string("description"))
            .column(Column::string("type").default_value("string"))
            .display("name"),
        TableSchema::new("sys_store_app")
            .column(Column::string("scope"))
            .column(Column::string("name"))
            .column(Column::string("version"))
            .column(Column::boolean("active").default_value("true"))
            .display("name"),
        TableSchema::new("sys_app")
            .column(Column::string("scope"))
            .column(Column::string("name"))
            .column(Column::string("version"))
            .column(Column::boolean("active").default_value("true"))
            .display("name"),
        TableSchema::new("v_plugin")
            .column(Column::string("id"))
            .column(Column::string("name"))
            .column(Column::string("active"))
            .column(Column::string("version"))
            .display("name"),
        TableSchema::new("sys_ws_definition")
            .column(Column::string("name"))
            .column(Column::string("namespace"))
            .column(Column::string("service_id"))
            .column(Column::string("base_uri"))
            .column(Column::boolean("active").default_value("true"))
            .display("name"),
        TableSchema::new("sys_cors_rule")
            .column(Column::string("name"))
            .column(Column::string("domain"))
            .column(Column::reference("rest_api", "sys_ws_definition"))
            .column(Column::boolean("use_resource_path"))
            .column(Column::string("resource_path"))
            .column(Column::integer("max_age"))
            .column(Column::boolean("get"))
            .column(Column::boolean("post"))
            .column(Column::boolean("put"))
            .column(Column::boolean("patch"))
            .column(Column::boolean("delete"))
            .column(Column::string("access_control_allow_headers"))
            .column(Column::string("exposed_headers"))
            .column(Column::boolean("access_control_allow_credentials"))
            .column(Column::boolean("active").default_value("true"))
            .display("name"),
        TableSchema::new("oauth_entity")
            .column(Column::string("name"))
            .column(Column::choice(
                "type",
                &[
                    ("client", "OAuth Client"),
                    ("oauth_provider", "OAuth Provider"),
                    ("resource", "OAuth Resource"),
                ],
            ))
            .column(Column::string("client_id"))
            .column(Column::password("client_secret"))
            .column(Column::string("redirect_url"))
            .column(Column::boolean("active").default_value("true"))
            .column(Column::integer("access_token_lifespan").default_value("1800"))
            .column(Column::integer("refresh_token_lifespan").default_value("8640000"))
            .column(Column::string("comments"))
            .display("name"),
        // Application files: every configuration record's class extends it.
        TableSchema::new("sys_metadata")
            .column(Column::string("sys_name"))
            .column(Column::string("sys_update_name"))
            .column(Column::string("sys_class_name"))
            .column(Column::string("sys_package").default_value("global"))
            .column(Column::string("sys_scope").default_value("global"))
            .column(Column::string("sys_policy"))
            .display("sys_name"),
        TableSchema::new("sys_script")
            .extends("sys_metadata")
            .column(Column::string("name"))
            .column(Column::string("collection"))
            .column(
                Column::choice(
                    "when",
                    &[
                        ("before", "before"),
                        ("after", "after"),
                        ("async", "async"),
                        ("display", "display"),
                    ],
                )
                .default_value("before"),
            )
            .column(Column::integer("order").default_value("100"))
            .column(Column::boolean("active").default_value("true"))
            .column(Column::boolean("advanced"))
            .column(Column::boolean("action_insert"))
            .column(Column::boolean("action_update"))
            .column(Column::boolean("action_delete"))
            .column(Column::boolean("action_query"))
            .column(Column::string("filter_condition"))
            .column(Column::string("condition"))
            .column(Column::string("script"))
            .column(Column::string("description"))
            .display("name"),
        TableSchema::new("syslog")
            .column(
                Column::choice(
                    "level",
                    &[("0", "Information"), ("1", "Warning"), ("2", "Error")],
                )
                .default_value("0"),
            )
            .column(Column::string("message"))
            .column(Column::string("source"))
            .column(Column::string("context_map"))
            .display("message"),
        TableSchema::new("task")
            .column(Column::string("short_description"))
            .column(Column::string("description"))
            .column(Column::boolean("active").default_value("true"))
            .column(priority())
            .column(Column::reference("assigned_to", "sys_user"))
            .column(Column::reference("assignment_group", "sys_user_group"))
            .column(Column::reference("opened_by", "sys_user"))
            .column(Column::date_time("opened_at"))
            .column(Column::string("sys_class_name"))
            .numbered("TASK"),
        TableSchema::new("incident")
            .extends("task")
            .column(Column::reference("caller_id", "sys_user"))
            .column(
                Column::choice(
                    "category",
                    &[
                        ("inquiry", "Inquiry / Help"),
                        ("software", "Software"),
                        ("hardware", "Hardware"),
                        ("network", "Network"),
                        ("database", "Database"),
                    ],
                )
                .default_value("inquiry"),
            )
            .column(
                state_choices(&[
                    ("1", "New"),
                    ("2", "In Progress"),
                    ("3", "On Hold"),
                    ("6", "Resolved"),
                    ("7", "Closed"),
                    ("8", "Canceled"),
                ])
                .default_value("1"),
            )
            .numbered("INC"),
        TableSchema::new("problem")
            .extends("task")
            .column(
                state_choices(&[
                    ("101", "New"),
                    ("102", "Assess"),
                    ("103", "Root Cause Analysis"),
                    ("104", "Fix in Progress"),
                    ("106", "Resolved"),
                    ("107", "Closed"),
                ])
                .default_value("101"),
            )
            .numbered("PRB"),
        TableSchema::new("change_request")
            .extends("task")
            .column(
                Column::choice(
                    "type",
                    &[
                        ("normal", "Normal"),
                        ("standard", "Standard"),
                        ("emergency", "Emergency"),
                    ],
                )
                .default_value("normal"),
            )
            .column(
                state_choices(&[
                    ("-5", "New"),
                    ("-4", "Assess"),
                    ("-3", "Authorize"),
                    ("-2", "Scheduled"),
                    ("-1", "Implement"),
                    ("0", "Review"),
                    ("3", "Closed"),
                    ("4", "Canceled"),
                ])
                .default_value("-5"),
            )
            .numbered("CHG"),
    ]
}

/// Tables a plugin brings when activated.
pub(crate) fn plugin_tables(plugin_id: &str) -> Vec<TableSchema> {
    let openframe = || {
        TableSchema::new("sn_openframe_configuration")
            .column(Column::string("name"))
            .column(Column::string("title"))
            .column(Column::string("subtitle"))
            .column(Column::string("url"))
            .column(Column::integer("width").default_value("300"))
            .column(Column::integer("height").default_value("300"))
            .column(Column::integer("order").default_value("100"))
            .column(Column::boolean("active").default_value("true"))
            .column(Column::boolean("default"))
            .column(Column::boolean("show_presence_indicator"))
            .column(Column::boolean("collapsed_view_enabled"))
            .column(Column::reference("user_group", "sys_user_group"))
            .column(Column::boolean("enforce_sandbox_restrictions"))
            .display("name")
    };
    match plugin_id {
        "com.sn_openframe" | "com.snc.cti" => vec![openframe()],
        "com.sn_customerservice" => vec![
            TableSchema::new("sn_customerservice_case")
                .extends("task")
                .column(Column::reference("contact", "sys_user"))
                .numbered("CS"),
        ],
        _ => Vec::new(),
    }
}

/// The dictionary: declared tables, with inherited columns resolved.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dictionary {
    tables: BTreeMap<String, TableSchema>,
}

impl Dictionary {
    /// Declares a table, or adds to one already declared: its columns are merged
    /// (the new declaration wins), and a parent's columns are inherited.
    pub(crate) fn declare(&mut self, mut schema: TableSchema) {
        if let Some(parent) = schema.extends.as_ref().and_then(|p| self.tables.get(p)) {
            let mut merged = parent.clone();
            merged.name = schema.name.clone();
            merged.extends = schema.extends.clone();
            for column in schema.columns.drain(..) {
                merged.put(column);
            }
            merged.display = schema.display.or(merged.display);
            merged.number_prefix = schema.number_prefix.or(merged.number_prefix);
            schema = merged;
        }
        match self.tables.get_mut(&schema.name) {
            Some(existing) => {
                for column in schema.columns {
                    existing.put(column);
                }
                if schema.display.is_some() {
                    existing.display = schema.display;
                }
                if schema.number_prefix.is_some() {
                    existing.number_prefix = schema.number_prefix;
                }
                if schema.extends.is_some() {
                    existing.extends = schema.extends;
                }
            }
            None => {
                self.tables.insert(schema.name.clone(), schema);
            }
        }
    }

    pub(crate) fn get(&self, table: &str) -> Option<&TableSchema> {
        self.tables.get(table)
    }

    pub(crate) fn get_mut(&mut self, table: &str) -> Option<&mut TableSchema> {
        self.tables.get_mut(table)
    }

    /// Whether `table` is `ancestor` or extends it.
    pub(crate) fn is_instance_of(&self, table: &str, ancestor: &str) -> bool {
        let mut current = Some(table.to_owned());
        let mut hops = 0;
        while let Some(name) = current {
            if name == ancestor {
                return true;
            }
            hops += 1;
            if hops > 32 {
                return false;
            }
            current = self.tables.get(&name).and_then(|t| t.extends.clone());
        }
        false
    }
}

/// The display form of a stored value of `column` (references aside).
pub(crate) fn display(column: Option<&Column>, value: &str, utc_offset_minutes: i32) -> String {
    let Some(column) = column else {
        return value.to_owned();
    };
    match &column.kind {
        ColumnType::Choice(choices) => choices
            .iter()
            .find(|(v, _)| v == value)
            .map(|(_, label)| label.clone())
            .unwrap_or_else(|| value.to_owned()),
        ColumnType::Password if !value.is_empty() => "********".to_owned(),
        ColumnType::Integer => thousands(value),
        ColumnType::DateTime => shift(value, utc_offset_minutes),
        _ => value.to_owned(),
    }
}

/// `1800` → `1,800`; anything that is not a whole number is left alone.
fn thousands(value: &str) -> String {
    let (sign, digits) = match value.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", value),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return value.to_owned();
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// A stored UTC date-time shown at a fixed offset from UTC.
fn shift(value: &str, offset_minutes: i32) -> String {
    let Some(secs) = super::state::parse_timestamp(value) else {
        return value.to_owned();
    };
    let shifted = secs + i64::from(offset_minutes) * 60;
    super::state::format_timestamp(shifted)
}

/// The offset from UTC of a `sys_user.time_zone` value, in minutes. Fixed-offset
/// zones only (`GMT`, `UTC`, `Etc/GMT+5`, `UTC+05:30`); zones with daylight saving
/// are not modelled and display in UTC.
pub(crate) fn utc_offset_minutes(zone: &str) -> i32 {
    let zone = zone.trim();
    if let Some(rest) = zone.strip_prefix("Etc/GMT") {
        // POSIX-style: Etc/GMT+5 is five hours *behind* UTC.
        return rest.parse::<i32>().map(|h| -h * 60).unwrap_or(0);
    }
    for prefix in ["UTC", "GMT"] {
        if let Some(rest) = zone.strip_prefix(prefix) {
            if rest.is_empty() {
                return 0;
            }
            let (sign, rest) = match rest.as_bytes()[0] {
                b'+' => (1, &rest[1..]),
                b'-' => (-1, &rest[1..]),
                _ => return 0,
            };
            let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
            return sign * (h.parse::<i32>().unwrap_or(0) * 60 + m.parse::<i32>().unwrap_or(0));
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        let state = Column::choice("state", &[("1", "New")]);
        assert_eq!(display(Some(&state), "1", 0), "New");
        assert_eq!(display(Some(&state), "9", 0), "9");
        assert_eq!(
            display(Some(&Column::integer("n")), "8640000", 0),
            "8,640,000"
        );
        assert_eq!(display(Some(&Column::integer("n")), "-1800", 0), "-1,800");
        assert_eq!(display(Some(&Column::integer("n")), "", 0), "");
        assert_eq!(
            display(Some(&Column::password("p")), "s3cret", 0),
            "********"
        );
        assert_eq!(display(Some(&Column::password("p")), "", 0), "");
        assert_eq!(
            display(Some(&Column::date_time("d")), "2026-01-01 00:30:00", -60),
            "2025-12-31 23:30:00"
        );
        assert_eq!(utc_offset_minutes("Etc/GMT+5"), -300);
        assert_eq!(utc_offset_minutes("UTC+05:30"), 330);
        assert_eq!(utc_offset_minutes("America/Los_Angeles"), 0);
    }

    #[test]
    fn children_inherit_and_instanceof_follows_parents() {
        let mut d = Dictionary::default();
        for t in builtin() {
            d.declare(t);
        }
        let incident = d.get("incident").unwrap();
        assert!(incident.has("short_description") && incident.has("caller_id"));
        assert_eq!(incident.number_prefix.as_deref(), Some("INC"));
        assert!(d.is_instance_of("incident", "task"));
        assert!(!d.is_instance_of("task", "incident"));
    }
}
