//! `bp-servicenow plan`: what apply would change (reads only; exit 0, or with
//! `--detailed-exitcode` 6 when something would change); with `--out FILE`,
//! the plan is also saved for `apply FILE` (`crate::documents::SavedPlanDocument`).

use std::path::Path;

use brightpattern_servicenow::Plan;
use brightpattern_servicenow::report::document;

use crate::commands::PlanArgs;
use crate::documents::{SavedPlanDocument, plan_status};
use crate::exit::{EXIT_CHANGES, EXIT_OK, Exit, from_workflow};
use crate::output::Output;
use crate::session::{Session, Target};

/// Shows the plan (and saves it with `--out`).
pub(crate) async fn exec(args: PlanArgs, out: &Output) -> Result<u8, Exit> {
    let (detailed, saving, args) = (args.detailed_exitcode, args.out, args.run);
    let session = Session::open(&args, false)?;
    let plan = session
        .workflow
        .plan()
        .await
        .map_err(|e| from_workflow(&e, "nothing was planned"))?;
    if let Some(path) = &saving {
        save(path, &plan, &session.target)?;
    }
    out.plan(&plan, args.reveal_secrets, &session.auth);
    if let Some(path) = &saving {
        eprintln!(
            "saved the plan to {}: `bp-servicenow apply {}` applies exactly it, or refuses if the instance moves away from it",
            path.display(),
            path.display()
        );
    }
    Ok(if detailed && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// Writes the plan to `path` as a `saved-plan` document: its secrets masked
/// whatever `--reveal-secrets` says (the file outlives the run).
fn save(path: &Path, plan: &Plan, target: &Target) -> Result<(), Exit> {
    let saved_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let saved = SavedPlanDocument {
        instance: target.instance.clone(),
        tenant: target.tenant.clone(),
        saved_at_ms,
        plan: plan.clone(),
    };
    let mut text = serde_json::to_string_pretty(&document("saved-plan", plan_status(plan), &saved))
        .unwrap_or_default();
    text.push('\n');
    std::fs::write(path, text).map_err(|e| {
        Exit::usage(format!(
            "cannot save the plan to {}: {e} (nothing was written to the instance)",
            path.display()
        ))
    })
}

/// Reads a plan `plan --out` saved, for the instance and tenant of `target`.
pub(crate) fn load(path: &Path, target: &Target) -> Result<Plan, Exit> {
    let unusable = |why: String| {
        Exit::usage(format!(
            "{} is not a saved plan this tool can apply: {why} (nothing was written)",
            path.display()
        ))
    };
    let text = std::fs::read_to_string(path).map_err(|e| unusable(e.to_string()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| unusable(format!("not JSON ({e})")))?;
    if doc["kind"] != "saved-plan" {
        return Err(unusable(format!(
            "its kind is {}, not \"saved-plan\" (write one with `plan --out FILE`)",
            doc["kind"]
        )));
    }
    let version = brightpattern_servicenow::report::SCHEMA_VERSION;
    if doc["schema_version"] != version {
        return Err(unusable(format!(
            "schema_version {}, this tool writes {version}: plan again",
            doc["schema_version"]
        )));
    }
    let saved: SavedPlanDocument =
        serde_json::from_value(doc).map_err(|e| unusable(e.to_string()))?;
    if saved.instance != target.instance || saved.tenant != target.tenant {
        return Err(Exit::usage(format!(
            "{} was made for the instance {} and the tenant {}; the configuration names {} and {} (nothing was written)",
            path.display(),
            saved.instance,
            saved.tenant,
            target.instance,
            target.tenant
        )));
    }
    Ok(saved.plan)
}
