//! The JSON documents the tool prints under `--json`, one type per command
//! that adds keys to its report, and their JSON Schemas (`bp-servicenow
//! schema`), derived from these types and the reports' own.
//!
//! Every document is a report's keys under `schema_version`, `kind` and
//! `status` (`brightpattern_servicenow::report::document`); a failure is an [`ErrorDocument`] of the same
//! kind. The schema of a kind accepts either.

use brightpattern_servicenow::fleet::FleetReport;
use brightpattern_servicenow::ledger::Confirmation;
use brightpattern_servicenow::report::{
    RepairReport, RevealSecrets, SecretRotation, TeardownPlan, TeardownReport,
};
use brightpattern_servicenow::{ApplyReport, Plan, StepId, VerifyReport, schema};
use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `plan`: the plan, how the tool authenticates, and whether apply would
/// write anything.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct PlanDocument {
    /// How the tool authenticates (never a secret).
    pub(crate) auth: String,
    /// Whether applying would write anything (`--detailed-exitcode` exits 6).
    pub(crate) changes: bool,
    /// The plan's own keys.
    #[serde(flatten)]
    pub(crate) plan: Plan,
}

impl RevealSecrets for PlanDocument {
    fn reveal_secrets(&mut self) {
        self.plan.reveal_secrets();
    }
}

/// `verify`: the checks, and how the tool authenticates.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct VerifyDocument {
    /// How the tool authenticates (never a secret).
    pub(crate) auth: String,
    /// The report's own keys.
    #[serde(flatten)]
    pub(crate) report: VerifyReport,
}

impl RevealSecrets for VerifyDocument {
    fn reveal_secrets(&mut self) {
        self.report.reveal_secrets();
    }
}

/// `teardown-plan` (`teardown --dry-run`, and the preview before teardown
/// asks): what teardown would do, and whether that changes anything.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct TeardownPlanDocument {
    /// Whether teardown would remove or restore anything.
    pub(crate) changes: bool,
    /// The preview's own keys.
    #[serde(flatten)]
    pub(crate) plan: TeardownPlan,
}

/// `confirm`: the step a person confirmed, and what the ledger recorded.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct ConfirmDocument {
    /// The step.
    pub(crate) step: StepId,
    /// Who confirmed it, when, and the values it was bound to.
    pub(crate) confirmation: Confirmation,
}

/// `saved-plan`: what `plan --out FILE` keeps for `apply FILE` — the plan
/// (secrets masked, always) and the instance and tenant it was made for.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(crate) struct SavedPlanDocument {
    /// The ServiceNow instance the plan was made for.
    pub(crate) instance: String,
    /// The Bright Pattern tenant the plan was made for.
    pub(crate) tenant: String,
    /// When it was made, in ms since the Unix epoch.
    pub(crate) saved_at_ms: u64,
    /// The plan.
    pub(crate) plan: Plan,
}

/// A failure under `--json`: `status` `error`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct ErrorDocument {
    /// The tool's exit code (1 runtime failure, 2 usage or configuration, 5
    /// held by another run).
    pub(crate) exit_code: u8,
    /// What failed, for people.
    pub(crate) error: String,
}

/// The status of a preview's documents (a plan, a teardown preview): failed
/// when the operation would refuse, held when another run holds the
/// integration, ok otherwise.
pub(crate) fn preview_status(would_refuse: bool, held: bool) -> &'static str {
    match (would_refuse, held) {
        (true, _) => "failed",
        (false, true) => "held",
        (false, false) => "ok",
    }
}

/// [`preview_status`] of a plan.
pub(crate) fn plan_status(plan: &Plan) -> &'static str {
    preview_status(plan.would_refuse(), plan.held_by.is_some())
}

/// One kind of document: the command's name, the statuses its documents
/// carry, and its schema.
pub(crate) struct Kind {
    /// The `kind` (the command).
    pub(crate) name: &'static str,
    /// Its report's schema, with the statuses a report may carry.
    report: fn(&'static str) -> Schema,
}

macro_rules! kind {
    ($name:literal, $report:ty, [$($status:literal),+]) => {
        Kind {
            name: $name,
            report: |name| schema::document::<$report>(name, &[$($status),+]),
        }
    };
}

/// Every kind of document the tool prints.
pub(crate) const KINDS: &[Kind] = &[
    kind!("plan", PlanDocument, ["ok", "held", "failed"]),
    kind!("apply", ApplyReport, ["ok", "pending", "failed"]),
    kind!("verify", VerifyDocument, ["ok", "pending", "failed"]),
    kind!(
        "teardown-plan",
        TeardownPlanDocument,
        ["ok", "held", "failed"]
    ),
    kind!("teardown", TeardownReport, ["ok"]),
    kind!("repair", RepairReport, ["ok"]),
    kind!("rotate-secret", SecretRotation, ["pending"]),
    kind!("confirm", ConfirmDocument, ["ok"]),
    kind!("fleet", FleetReport, ["ok", "pending", "held", "failed"]),
    kind!("saved-plan", SavedPlanDocument, ["ok", "held", "failed"]),
];

impl Kind {
    /// The kind named `name`.
    pub(crate) fn named(name: &str) -> Option<&'static Kind> {
        KINDS.iter().find(|k| k.name == name)
    }

    /// The published schema: the report's document, or the error document
    /// (`status` `error`), under one root that holds their definitions.
    pub(crate) fn schema(&self) -> Value {
        let mut report = (self.report)(self.name).to_value();
        let mut error = schema::document::<ErrorDocument>(self.name, &["error"]).to_value();
        let mut root = serde_json::Map::new();
        for key in ["$schema", "title"] {
            if let Some(value) = report.as_object_mut().and_then(|r| r.remove(key)) {
                root.insert(key.into(), value);
            }
        }
        let what = match self.name {
            "teardown-plan" => "What `bp-servicenow teardown --dry-run --json` prints".to_owned(),
            "saved-plan" => {
                "What `bp-servicenow plan --out FILE` writes to FILE, for `apply FILE`".to_owned()
            }
            name => format!("What `bp-servicenow {name} --json` prints"),
        };
        root.insert(
            "description".into(),
            format!(
                "{what}: its report under schema_version, kind and status, or, when it fails, an error document (status `error`)."
            )
            .into(),
        );
        let definitions = report.as_object_mut().and_then(|r| r.remove("$defs"));
        if let Some(error) = error.as_object_mut() {
            error.remove("$schema");
            error.remove("title");
        }
        root.insert("anyOf".into(), Value::Array(vec![report, error]));
        if let Some(definitions) = definitions {
            root.insert("$defs".into(), definitions);
        }
        Value::Object(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_schema_with_its_name() {
        for kind in KINDS {
            let schema = kind.schema();
            assert_eq!(
                schema["anyOf"][0]["properties"]["kind"]["const"], kind.name,
                "{}",
                kind.name
            );
            assert_eq!(
                schema["anyOf"][1]["properties"]["status"]["enum"][0],
                "error"
            );
        }
        let names: std::collections::BTreeSet<_> = KINDS.iter().map(|k| k.name).collect();
        assert_eq!(names.len(), KINDS.len());
    }
}
