//! Demo data a test can start from in one line: a small, realistic instance with
//! departments, users with managers, groups with members, and numbered incidents
//! and problems in several states.

use serde_json::json;

use super::FakeInstance;

/// The demo users (`user_name`, full name, department, manager, time zone).
pub const DEMO_USERS: [(&str, &str, &str, Option<&str>, &str); 6] = [
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
];

/// The demo groups and their members.
pub const DEMO_GROUPS: [(&str, &[&str]); 3] = [
    ("Service Desk", &["abel.tuter", "fred.luddy"]),
    ("Network", &["fred.luddy"]),
    ("Tier 1 Agents", &["david.miller", "charlie.whitherspoon"]),
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

impl FakeInstance {
    /// Adds the demo data: departments, [users](DEMO_USERS) (password
    /// `<user_name>-password`) with departments, managers and time zones,
    /// [groups](DEMO_GROUPS) with members, [incidents](DEMO_INCIDENTS) numbered
    /// `INC0010001`… and two problems numbered `PRB0010001`…
    pub fn add_demo_data(&self) {
        let mut departments = std::collections::HashMap::new();
        for name in ["IT", "Customer Support", "Sales"] {
            departments.insert(name, self.insert("cmn_department", json!({"name": name})));
        }
        let mut users = std::collections::HashMap::new();
        for (user_name, name, department, _, zone) in DEMO_USERS {
            let (first, last) = name.split_once(' ').unwrap_or((name, ""));
            let id = self.add_user(user_name);
            self.update_row(
                "sys_user",
                &id,
                json!({
                    "name": name, "first_name": first, "last_name": last,
                    "email": format!("{user_name}@example.com"),
                    "department": departments[department].as_str(), "time_zone": zone,
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
        for (department, head) in [
            ("IT", "beth.anglin"),
            ("Customer Support", "charlie.whitherspoon"),
        ] {
            self.update_row(
                "cmn_department",
                &departments[department],
                json!({"dept_head": users[head].as_str()}),
            );
        }
        let mut groups = std::collections::HashMap::new();
        for (group, members) in DEMO_GROUPS {
            groups.insert(group, self.add_group(group));
            for member in members {
                self.add_group_member(member, group);
            }
        }
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
        for (short, state) in [
            ("Email outages recur weekly", "103"),
            ("VPN drops under load", "101"),
        ] {
            self.insert(
                "problem",
                json!({"short_description": short, "state": state, "priority": "2"}),
            );
        }
    }
}
