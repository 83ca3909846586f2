//! Demo data a test can start from in one line: what a personal developer
//! instance ships, as far as client test suites rely on it.
//!
//! Table by table ([`FakeInstance::add_demo_data`]):
//!
//! | table | rows |
//! |---|---|
//! | `sys_user` | the administrator ("System Administrator" at [`ADMIN_SYS_ID`](crate::ADMIN_SYS_ID), seeded on every fake) and the [demo users](DEMO_USERS), with departments, managers, e-mail and time zones |
//! | `cmn_department` | the [departments](DEMO_DEPARTMENTS), IT and Customer Support with their heads |
//! | `sys_user_role`, `sys_user_has_role` | the [roles and their grants](DEMO_ROLE_GRANTS) (`itil`, `problem_admin`, …), group grants inherited by members |
//! | `sys_user_group`, `sys_user_grmember`, `sys_group_has_role` | the [groups](DEMO_GROUPS) with members; Service Desk holds `itil` |
//! | `incident` | the [incidents](DEMO_INCIDENTS), `INC0010001`… |
//! | `problem` | the [problems](DEMO_PROBLEMS) in every state, `PRB0010001`…, opened by `problem.admin` |
//! | `sys_script` | the [business rules](DEMO_BUSINESS_RULES) (data only: the fake does not run them) |
//! | `syslog` | [`DEMO_SYSLOG_ROWS`] log lines of the last days, mostly information |
//! | `sys_metadata` | [`DEMO_METADATA_ROWS`] application files of several classes |
//!
//! A developer instance has far more of each; these are enough for paging,
//! filters on every column type, dot-walks and display values. Rows that a real
//! `sys_metadata` lists from its child tables (`sys_script_include`, …) stand
//! in `sys_metadata` itself with their class in `sys_class_name`: the fake does
//! not list a parent table's rows from its children, and those child tables are
//! not declared (listing one is an unknown table, 400).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde_json::json;
use servicenow_client::wire::SysId;

use super::FakeInstance;
use crate::state::timestamp;

/// The demo users (`user_name`, full name, department, manager, time zone).
pub const DEMO_USERS: [(&str, &str, &str, Option<&str>, &str); 11] = [
    ("beth.anglin", "Beth Anglin", "IT", None, "UTC"),
    (
        "abel.tuter",
        "Abel Tuter",
        "IT",
        Some("beth.anglin"),
        "Etc/GMT+5",
    ),
    ("fred.luddy", "Fred Luddy", "IT", Some("beth.anglin"), "UTC"),
    (
        "charlie.whitherspoon",
        "Charlie Whitherspoon",
        "Customer Support",
        None,
        "UTC+01:00",
    ),
    (
        "david.miller",
        "David Miller",
        "Customer Support",
        Some("charlie.whitherspoon"),
        "UTC",
    ),
    ("eve.chan", "Eve Chan", "Sales", None, "UTC+08:00"),
    (
        "ron.kettering",
        "Ron Kettering",
        "Finance",
        Some("eve.chan"),
        "UTC",
    ),
    ("itil", "ITIL User", "IT", None, ""),
    ("problem.admin", "Problem Administrator", "IT", None, ""),
    ("problem.manager", "Problem Manager", "IT", None, ""),
    ("problem.coordinator", "Problem Coordinator", "IT", None, ""),
];

/// The demo departments.
pub const DEMO_DEPARTMENTS: [&str; 7] = [
    "Customer Support",
    "Development",
    "Finance",
    "HR",
    "IT",
    "Product Management",
    "Sales",
];

/// The roles the demo data adds, and who holds each directly (`user_name`).
pub const DEMO_ROLE_GRANTS: [(&str, &[&str]); 4] = [
    ("itil", &["itil", "beth.anglin", "problem.coordinator"]),
    ("problem_admin", &["problem.admin"]),
    ("problem_manager", &["problem.manager", "problem.admin"]),
    ("problem_coordinator", &["problem.coordinator"]),
];

/// The demo groups and their members.
pub const DEMO_GROUPS: [(&str, &[&str]); 4] = [
    ("Service Desk", &["abel.tuter", "fred.luddy"]),
    ("Network", &["fred.luddy"]),
    ("Tier 1 Agents", &["david.miller", "charlie.whitherspoon"]),
    (
        "Problem Solving",
        &["problem.coordinator", "problem.manager"],
    ),
];

/// The demo incidents (short description, state, priority, caller, group).
pub const DEMO_INCIDENTS: [(&str, &str, &str, &str, &str); 5] = [
    ("Email server is down", "2", "1", "david.miller", "Network"),
    ("Cannot log in to VPN", "1", "3", "eve.chan", "Service Desk"),
    (
        "Printer on floor 3 jams",
        "3",
        "4",
        "abel.tuter",
        "Service Desk",
    ),
    (
        "Laptop battery swells",
        "6",
        "2",
        "charlie.whitherspoon",
        "Service Desk",
    ),
    (
        "Request for a second monitor",
        "7",
        "5",
        "eve.chan",
        "Service Desk",
    ),
];

/// The demo problems (short description, state, priority, assigned to), one in
/// each state of the problem's choice list (`101` New … `107` Closed).
pub const DEMO_PROBLEMS: [(&str, &str, &str, Option<&str>); 6] = [
    (
        "Email outages recur weekly",
        "103",
        "2",
        Some("problem.coordinator"),
    ),
    ("VPN drops under load", "101", "2", None),
    (
        "Printers lose their queue after patching",
        "102",
        "3",
        Some("problem.coordinator"),
    ),
    (
        "Database failover takes too long",
        "104",
        "1",
        Some("problem.manager"),
    ),
    (
        "Laptop batteries swell after a year",
        "106",
        "3",
        Some("problem.coordinator"),
    ),
    (
        "Intranet search returns stale pages",
        "107",
        "4",
        Some("problem.manager"),
    ),
];

/// The demo business rules (name, table, when, on insert, on update, on query).
pub const DEMO_BUSINESS_RULES: [(&str, &str, &str, bool, bool, bool); 8] = [
    (
        "incident autoclose",
        "incident",
        "after",
        false,
        true,
        false,
    ),
    (
        "Incident Create Knowledge",
        "incident",
        "after",
        false,
        true,
        false,
    ),
    ("mark_closed", "incident", "before", false, true, false),
    (
        "Problem state change",
        "problem",
        "before",
        true,
        true,
        false,
    ),
    ("user query", "sys_user", "before", false, false, true),
    ("user name change", "sys_user", "before", true, true, false),
    (
        "group query",
        "sys_user_group",
        "before",
        false,
        false,
        true,
    ),
    ("task closer", "task", "before", false, true, false),
];

/// How many `syslog` rows the demo data adds.
pub const DEMO_SYSLOG_ROWS: usize = 2_000;

/// How many `sys_metadata` rows the demo data adds.
pub const DEMO_METADATA_ROWS: usize = 1_500;

impl FakeInstance {
    /// Adds the demo data, table by table as the [module](self) lists it: users
    /// (password `<user_name>-password`), departments, roles, groups, incidents,
    /// problems, business rules, syslog and sys_metadata rows.
    pub fn add_demo_data(&self) {
        let departments: HashMap<&str, String> = DEMO_DEPARTMENTS
            .iter()
            .map(|&name| {
                let id = self.insert("cmn_department", json!({"name": name}));
                (name, id.as_str().to_owned())
            })
            .collect();
        let users = self.add_demo_users(&departments);
        for (department, head) in [
            ("IT", "beth.anglin"),
            ("Customer Support", "charlie.whitherspoon"),
        ] {
            let id = SysId::parse(&departments[department]).expect("the fake makes valid sys_ids");
            self.update_row(
                "cmn_department",
                &id,
                json!({"dept_head": users[head].as_str()}),
            );
        }
        for (role, holders) in DEMO_ROLE_GRANTS {
            self.add_role(role);
            for holder in holders {
                self.grant_role_to_user(holder, role);
            }
        }
        let mut groups = HashMap::new();
        for (group, members) in DEMO_GROUPS {
            groups.insert(group, self.add_group(group));
            for member in members {
                self.add_group_member(member, group);
            }
        }
        self.grant_role_to_group("Service Desk", "itil");
        for (short, state, priority, caller, group) in DEMO_INCIDENTS {
            self.insert(
                "incident",
                json!({
                    "short_description": short, "state": state, "priority": priority,
                    "caller_id": users[caller].as_str(), "opened_by": users[caller].as_str(),
                    "assignment_group": groups[group].as_str(),
                    "active": if matches!(state, "6" | "7") { "false" } else { "true" },
                    "opened_at": "2026-11-02 09:30:00",
                }),
            );
        }
        for (short, state, priority, assigned) in DEMO_PROBLEMS {
            self.insert(
                "problem",
                json!({
                    "short_description": short, "state": state, "priority": priority,
                    "assigned_to": assigned.map(|a| users[a].as_str()).unwrap_or_default(),
                    "assignment_group": assigned
                        .map(|_| groups["Problem Solving"].as_str())
                        .unwrap_or_default(),
                    "opened_by": users["problem.admin"].as_str(),
                    "active": if state == "107" { "false" } else { "true" },
                    "opened_at": "2026-10-19 14:00:00",
                }),
            );
        }
        self.add_demo_configuration();
    }

    fn add_demo_users(&self, departments: &HashMap<&str, String>) -> HashMap<&'static str, SysId> {
        let mut users = HashMap::new();
        for (user_name, name, department, _, zone) in DEMO_USERS {
            let (first, last) = name.split_once(' ').unwrap_or((name, ""));
            let id = self.add_user(user_name);
            self.update_row(
                "sys_user",
                &id,
                json!({
                    "name": name, "first_name": first, "last_name": last,
                    "email": format!("{user_name}@example.com"),
                    "department": departments[department], "time_zone": zone,
                }),
            );
            users.insert(user_name, id);
        }
        for (user_name, _, _, manager, _) in DEMO_USERS {
            if let Some(manager) = manager {
                self.update_row(
                    "sys_user",
                    &users[user_name],
                    json!({"manager": users[manager].as_str()}),
                );
            }
        }
        users
    }

    /// Business rules, log lines and application files.
    fn add_demo_configuration(&self) {
        for (name, table, when, insert, update, query) in DEMO_BUSINESS_RULES {
            self.insert(
                "sys_script",
                json!({
                    "name": name, "collection": table, "when": when,
                    "action_insert": insert, "action_update": update, "action_query": query,
                    "advanced": true, "sys_name": name,
                    "sys_update_name": format!("sys_script_{}", name.replace(' ', "_")),
                }),
            );
        }
        let now = SystemTime::now();
        const SOURCES: [&str; 6] = [
            "SYSTEM",
            "Evaluator",
            "Scheduler",
            "TableAPI",
            "OAuth",
            "sys_script",
        ];
        self.insert_many(
            "syslog",
            (0..DEMO_SYSLOG_ROWS).map(|i| {
                // Newest first in time, a line every 37 seconds; one in ten a
                // warning, one in fifty an error.
                let at = timestamp(now - Duration::from_secs(37 * i as u64));
                let level = match i {
                    i if i % 50 == 0 => "2",
                    i if i % 10 == 0 => "1",
                    _ => "0",
                };
                json!({
                    "level": level, "source": SOURCES[i % SOURCES.len()],
                    "message": format!("demo log line {i}"),
                    "sys_created_on": at, "sys_updated_on": at,
                })
            }),
        );
        const CLASSES: [&str; 5] = [
            "sys_script_include",
            "sys_ui_policy",
            "sys_ui_action",
            "sys_dictionary",
            "sys_properties",
        ];
        self.insert_many(
            "sys_metadata",
            (0..DEMO_METADATA_ROWS).map(|i| {
                let class = CLASSES[i % CLASSES.len()];
                json!({
                    "sys_class_name": class, "sys_name": format!("demo_{class}_{i}"),
                    "sys_update_name": format!("{class}_demo_{i}"),
                })
            }),
        );
    }
}
