//! How results are shown: tables for people (colours only on a terminal), or one
//! JSON document on standard output.

use brightpattern_servicenow::report::{
    RepairReport, RevealSecrets, SecretRotation, Style, TeardownPlan, TeardownReport, document,
};
use brightpattern_servicenow::{ApplyReport, Plan, VerifyReport};

use crate::documents::{
    ConfirmDocument, ErrorDocument, PlanDocument, TeardownPlanDocument, VerifyDocument,
    plan_status, preview_status,
};

/// Adds colour to standard output when `--color` says so (by default: when it
/// is a terminal and `NO_COLOR` is not set).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Painter {
    enabled: bool,
}

impl Painter {
    /// Colours, or not (`--color`, decided for standard output).
    pub(crate) fn new(enabled: bool) -> Self {
        Self { enabled }
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
    /// With `--json`: the command, the `kind` of its documents.
    json: Option<&'static str>,
    painter: Painter,
}

impl Output {
    /// JSON documents of the command `json` names, or tables.
    pub(crate) fn new(json: Option<&'static str>, painter: Painter) -> Self {
        Self { json, painter }
    }

    /// Prints one document: the report's keys under `schema_version`, `kind`
    /// and `status` ([`document`]), with the secrets this run knows in clear
    /// when `reveal` (masked otherwise). Its shape is the kind's schema
    /// (`crate::documents`).
    fn document<T: serde::Serialize + RevealSecrets>(
        &self,
        kind: &str,
        status: &str,
        mut report: T,
        reveal: bool,
    ) {
        if reveal {
            report.reveal_secrets();
        }
        print_json(&document(kind, status, &report));
    }

    /// The document of a failure under `--json` (standard output keeps its one
    /// document): `status` `error`, the exit code and the message.
    pub(crate) fn error(&self, code: u8, message: &str) {
        if let Some(kind) = self.json {
            let error = ErrorDocument {
                exit_code: code,
                error: message.to_owned(),
            };
            print_json(&document(kind, "error", &error));
        }
    }

    /// Shows a plan, under a line saying how the tool authenticates (`auth`,
    /// never a secret; a field `auth` in JSON, with `changes`).
    pub(crate) fn plan(&self, plan: &Plan, reveal: bool, auth: &str) {
        if self.json.is_some() {
            let status = plan_status(plan);
            let doc = PlanDocument {
                auth: auth.to_owned(),
                changes: plan.has_changes(),
                plan: plan.clone(),
            };
            return self.document("plan", status, doc, reveal);
        }
        println!("{auth}");
        println!("{}", plan.render(&self.painter.style(reveal)));
    }

    /// Shows a fleet's report: a table (or JSON) of every row.
    pub(crate) fn fleet(&self, report: &brightpattern_servicenow::fleet::FleetReport) {
        use brightpattern_servicenow::fleet::FleetSummary;
        if self.json.is_some() {
            let status = match report.summary() {
                FleetSummary::AllOk => "ok",
                FleetSummary::AnyPending => "pending",
                FleetSummary::AnyLocked => "held",
                _ => "failed",
            };
            return print_json(&document("fleet", status, report));
        }
        println!("{report}");
    }

    /// Shows what apply did.
    pub(crate) fn apply(&self, report: &ApplyReport, reveal: bool) {
        if self.json.is_some() {
            return self.document("apply", report.status().as_str(), report.clone(), reveal);
        }
        println!("{}", report.render(&self.painter.style(reveal)));
    }

    /// Shows a health check: every check with its status (ok, pending or failed),
    /// then the checklist of each manual step.
    pub(crate) fn verify(&self, report: &VerifyReport, reveal: bool, auth: &str) {
        if self.json.is_some() {
            let doc = VerifyDocument {
                auth: auth.to_owned(),
                report: report.clone(),
            };
            return self.document("verify", report.status.as_str(), doc, reveal);
        }
        println!("{auth}");
        println!("{}", report.render(&self.painter.style(reveal)));
    }

    /// Shows a rotated secret: in clear, since showing it is the point; a
    /// person must enter it (`pending`).
    pub(crate) fn rotation(&self, rotation: &SecretRotation) {
        if self.json.is_some() {
            return self.document("rotate-secret", "pending", rotation.clone(), true);
        }
        println!("{}", rotation.render(&self.painter.style(true)));
    }

    /// Shows a recorded confirmation.
    pub(crate) fn confirmation(
        &self,
        step: &brightpattern_servicenow::StepId,
        confirmation: &brightpattern_servicenow::ledger::Confirmation,
    ) {
        if self.json.is_some() {
            let doc = ConfirmDocument {
                step: step.clone(),
                confirmation: confirmation.clone(),
            };
            return print_json(&document("confirm", "ok", &doc));
        }
        println!(
            "confirmed: {} did step {step} (recorded in the ledger); verify counts it ok while the step asks for the same values, and teardown forgets it",
            confirmation.by
        );
    }

    /// Shows what repair found.
    pub(crate) fn repair(&self, report: &RepairReport) {
        if self.json.is_some() {
            return print_json(&document("repair", "ok", report));
        }
        println!("{report}");
    }

    /// Shows what teardown did.
    pub(crate) fn teardown(&self, report: &TeardownReport) {
        if self.json.is_some() {
            return print_json(&document("teardown", "ok", report));
        }
        println!("{report}");
    }

    /// What a teardown would do (before it asks, or for `--dry-run`): with
    /// `changes` in JSON.
    pub(crate) fn teardown_plan(&self, plan: &TeardownPlan) {
        if self.json.is_some() {
            let status = preview_status(plan.would_refuse(), plan.held_by.is_some());
            let doc = TeardownPlanDocument {
                changes: plan.has_changes(),
                plan: plan.clone(),
            };
            return print_json(&document("teardown-plan", status, &doc));
        }
        print!("{plan}");
    }

    /// A heading (demo narration; never in JSON mode).
    #[cfg(feature = "demo")]
    pub(crate) fn heading(&self, text: &str) {
        if self.json.is_none() {
            println!("\n{}", self.painter.bold(&format!("== {text}")));
        }
    }

    /// A line of narration.
    #[cfg(feature = "demo")]
    pub(crate) fn say(&self, text: &str) {
        if self.json.is_none() {
            println!("{text}");
        }
    }
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}
