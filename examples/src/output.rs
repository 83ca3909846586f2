//! How results are shown: tables for people (colours only on a terminal), or one
//! JSON document on standard output.

use std::io::IsTerminal;

use brightpattern_servicenow::report::{
    RepairReport, RevealSecrets, SecretRotation, Style, TeardownPlan, TeardownReport,
};
use brightpattern_servicenow::{ApplyReport, Plan, VerifyReport};

/// Adds colour when standard output is a terminal and `NO_COLOR` is not set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Painter {
    enabled: bool,
}

impl Painter {
    /// Colours when standard output is a terminal.
    pub(crate) fn for_stdout() -> Self {
        Self {
            enabled: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// The reports' style: colours when enabled, secrets as `reveal` says.
    fn style(&self, reveal: bool) -> Style {
        Style::plain().colour(self.enabled).reveal(reveal)
    }

    /// Bold text.
    pub(crate) fn bold(&self, text: &str) -> String {
        self.style(false).bold(text)
    }
}

/// Where results go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    json: bool,
    painter: Painter,
}

impl Output {
    /// JSON or tables.
    pub(crate) fn new(json: bool, painter: Painter) -> Self {
        Self { json, painter }
    }

    /// Prints `value` as JSON, with the secrets this run knows in clear when
    /// `reveal` (masked otherwise).
    fn json_revealing<T: serde::Serialize + RevealSecrets + Clone>(&self, value: &T, reveal: bool) {
        if reveal {
            let mut value = value.clone();
            value.reveal_secrets();
            self.json(&value);
        } else {
            self.json(value);
        }
    }

    /// Prints `value` as JSON with an `auth` field saying how the tool
    /// authenticates.
    fn json_with_auth<T: serde::Serialize + RevealSecrets + Clone>(
        &self,
        value: &T,
        reveal: bool,
        auth: &str,
    ) {
        let mut value = value.clone();
        if reveal {
            value.reveal_secrets();
        }
        let mut json = serde_json::to_value(&value).unwrap_or_default();
        if let Some(map) = json.as_object_mut() {
            map.insert("auth".into(), serde_json::json!(auth));
        }
        self.json(&json);
    }

    fn json<T: serde::Serialize>(&self, value: &T) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    }

    /// Shows a plan, under a line saying how the tool authenticates (`auth`,
    /// never a secret; a field `auth` in JSON).
    pub(crate) fn plan(&self, plan: &Plan, reveal: bool, auth: &str) {
        if self.json {
            return self.json_with_auth(plan, reveal, auth);
        }
        println!("{auth}");
        println!("{}", plan.render(&self.painter.style(reveal)));
    }

    /// Shows a fleet's report: a table (or JSON) of every row.
    pub(crate) fn fleet(&self, report: &brightpattern_servicenow::fleet::FleetReport) {
        if self.json {
            return self.json(report);
        }
        println!("{report}");
    }

    /// Shows what apply did.
    pub(crate) fn apply(&self, report: &ApplyReport, reveal: bool) {
        if self.json {
            // The run's status travels with the report.
            let mut report = report.clone();
            if reveal {
                report.reveal_secrets();
            }
            let mut value = serde_json::to_value(&report).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                map.insert("status".into(), serde_json::json!(report.status()));
            }
            return self.json(&value);
        }
        println!("{}", report.render(&self.painter.style(reveal)));
    }

    /// Shows a health check: every check with its status (ok, pending or failed),
    /// then the checklist of each manual step.
    pub(crate) fn verify(&self, report: &VerifyReport, reveal: bool, auth: &str) {
        if self.json {
            return self.json_with_auth(report, reveal, auth);
        }
        println!("{auth}");
        println!("{}", report.render(&self.painter.style(reveal)));
    }

    /// Shows a rotated secret: in clear, since showing it is the point.
    pub(crate) fn rotation(&self, rotation: &SecretRotation) {
        if self.json {
            return self.json_revealing(rotation, true);
        }
        println!("{}", rotation.render(&self.painter.style(true)));
    }

    /// Shows what repair found.
    pub(crate) fn repair(&self, report: &RepairReport) {
        if self.json {
            return self.json(report);
        }
        println!("{report}");
    }

    /// Shows what teardown did.
    pub(crate) fn teardown(&self, report: &TeardownReport) {
        if self.json {
            return self.json(report);
        }
        println!("{report}");
    }

    /// What a teardown would do (before it asks, or for `--dry-run`).
    pub(crate) fn teardown_plan(&self, plan: &TeardownPlan) {
        if self.json {
            return self.json(plan);
        }
        print!("{plan}");
    }

    /// A heading (demo narration; never in JSON mode).
    #[cfg(feature = "demo")]
    pub(crate) fn heading(&self, text: &str) {
        if !self.json {
            println!("\n{}", self.painter.bold(&format!("== {text}")));
        }
    }

    /// A line of narration.
    #[cfg(feature = "demo")]
    pub(crate) fn say(&self, text: &str) {
        if !self.json {
            println!("{text}");
        }
    }
}
