//! How results are shown: tables for people (colours only on a terminal), or one
//! JSON document on standard output.

use std::io::IsTerminal;

use brightpattern_servicenow::report::{
    Check, RepairReport, RevealSecrets, SecretRotation, Status, TeardownPlan, TeardownReport,
    status_label,
};
use brightpattern_servicenow::{Action, ApplyReport, Outcome, Plan, VerifyReport};

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

    fn paint(&self, text: &str, code: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn action(&self, action: Action) -> String {
        let text = format!("{:<10}", action.to_string());
        match action {
            Action::Create => self.paint(&text, "32"),
            Action::Update | Action::Adopt => self.paint(&text, "33"),
            Action::Manual => self.paint(&text, "35"),
            Action::Unchanged => self.paint(&text, "2"),
            _ => self.paint(&text, "31"),
        }
    }

    fn outcome(&self, outcome: Outcome) -> String {
        let text = format!("{:<10}", outcome.to_string());
        match outcome {
            Outcome::Done => self.paint(&text, "32"),
            Outcome::Failed => self.paint(&text, "31"),
            Outcome::Manual | Outcome::Skipped => self.paint(&text, "35"),
            Outcome::Unchanged => self.paint(&text, "2"),
            _ => text,
        }
    }

    fn status(&self, status: Status) -> String {
        let label = status_label(status);
        match status {
            Status::Ok => self.paint(label, "32"),
            Status::Pending => self.paint(label, "35"),
            _ => self.paint(label, "31"),
        }
    }

    /// Bold text.
    pub(crate) fn bold(&self, text: &str) -> String {
        self.paint(text, "1")
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
        println!("ServiceNow release: {}", plan.release);
        for note in &plan.notes {
            println!("note: {note}");
        }
        for refusal in &plan.refusals {
            println!("apply would refuse: {refusal}");
        }
        if let Some(holder) = &plan.held_by {
            println!("note: another run holds this integration: held by {holder}");
        }
        println!("{:<20} {:<10} RESOURCE", "STEP", "ACTION");
        for s in &plan.steps {
            println!(
                "{:<20} {} {}",
                s.step.as_str(),
                self.painter.action(s.action),
                s.resource
            );
            for c in &s.changes {
                println!("{:<31}   {c}", "");
            }
            for w in &s.warnings {
                println!("{:<31}   warning: {w}", "");
            }
            if let Some(m) = &s.manual {
                for line in m.render(reveal).lines() {
                    println!("{:<31}   {line}", "");
                }
            }
        }
        for fix in &plan.bookkeeping {
            println!("bookkeeping: apply would correct {fix}");
        }
        if !plan.has_changes() {
            println!(
                "{}",
                self.painter
                    .bold("Nothing to change: apply would take no lease and write nothing.")
            );
        }
        println!("{}", plan.footprint);
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
        println!("{:<20} {:<10} {:<10} DETAIL", "STEP", "ACTION", "OUTCOME");
        for s in &report.steps {
            println!(
                "{:<20} {} {} {}",
                s.planned.step.as_str(),
                self.painter.action(s.planned.action),
                self.painter.outcome(s.outcome),
                s.detail
            );
            if let Some(m) = s
                .planned
                .manual
                .as_ref()
                .filter(|_| s.outcome == Outcome::Manual)
            {
                for line in m.render(reveal).lines() {
                    println!("{:<42}   {line}", "");
                }
            }
        }
        if !report.proofs.is_empty() {
            println!("{}", self.painter.bold("Proved by effect:"));
            self.checks(&report.proofs);
        }
        println!("{}", report.footprint);
    }

    fn checks(&self, checks: &[Check]) {
        for c in checks {
            println!(
                "[{}] {}: {}",
                self.painter.status(c.status),
                c.check,
                c.detail
            );
            if let Some(hint) = c.hint.as_ref().filter(|_| !c.is_ok()) {
                let label = if c.status == Status::Pending {
                    "todo"
                } else {
                    "fix"
                };
                println!("       {label}: {hint}");
            }
        }
    }

    /// Shows a health check: every check with its status (ok, pending or failed),
    /// then the checklist of each manual step.
    pub(crate) fn verify(&self, report: &VerifyReport, reveal: bool, auth: &str) {
        if self.json {
            return self.json_with_auth(report, reveal, auth);
        }
        println!("{auth}");
        self.checks(&report.checks);
        for m in report.manual_steps() {
            println!();
            print!("{}", m.render(reveal));
        }
        println!("{}", self.painter.bold(&report.summary()));
        println!("{}", report.footprint);
    }

    /// Shows a rotated secret: in clear, since showing it is the point.
    pub(crate) fn rotation(&self, rotation: &SecretRotation) {
        if self.json {
            return self.json_revealing(rotation, true);
        }
        println!(
            "rotated the client secret of {} (client id {}); the old secret no longer works",
            rotation.application, rotation.client_id
        );
        print!("{}", rotation.manual.render(true));
        println!("{}", rotation.footprint);
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
