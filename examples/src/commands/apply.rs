//! `bp-servicenow apply`: make the instance and the tenant match the spec
//! (shows the plan and asks first on a terminal; `--yes` otherwise), or
//! exactly a plan `plan --out FILE` saved (`apply FILE`: refused, exit 2,
//! when the instance moved away from it).

use std::io::IsTerminal;

use brightpattern_servicenow::Status;

use crate::commands::ApplyArgs;
use crate::exit::{EXIT_OK, Exit, exit_code, from_apply, from_workflow};
use crate::output::Output;
use crate::session::{Session, confirm, require_yes};

/// Applies: what the spec asks, or exactly a saved plan.
pub(crate) async fn exec(args: ApplyArgs, out: &Output) -> Result<u8, Exit> {
    let ApplyArgs {
        plan: saved,
        write: args,
    } = args;
    // A saved plan is what was reviewed: applying it does not ask again.
    if saved.is_none() {
        require_yes(args.yes)?;
    }
    let session = Session::open(&args.run, args.break_lease)?;
    let saved = saved
        .map(|path| super::plan::load(&path, &session.target))
        .transpose()?;
    // The secret is shown where it is born: on a terminal, the checklist of
    // the run that creates the OAuth application shows it (that run is the
    // only one that knows it); elsewhere only with --reveal-secrets.
    let on_terminal = !args.run.json && std::io::stdout().is_terminal();
    let reveal = args.run.reveal_secrets || on_terminal;
    let workflow = &session.workflow;
    if !args.yes && saved.is_none() {
        let plan = workflow
            .plan()
            .await
            .map_err(|e| from_workflow(&e, "nothing was applied"))?;
        out.plan(&plan, reveal, &session.auth);
        if !plan.has_changes() && !plan.steps.iter().any(|s| s.manual.is_some()) {
            return Ok(EXIT_OK);
        }
        if !confirm("Apply these changes?") {
            return Err(Exit::failure("not applied"));
        }
    }
    let applied = match &saved {
        Some(plan) => workflow.apply_plan(plan).await,
        None => workflow.apply().await,
    };
    match applied {
        Ok(report) => {
            out.apply(&report, reveal);
            if report.status() == Status::Failed {
                eprintln!(
                    "error: written, but not working: {}",
                    report
                        .proofs
                        .iter()
                        .filter(|c| c.status == Status::Failed)
                        .map(|c| format!(
                            "{} ({})",
                            c.check,
                            c.hint.as_deref().unwrap_or(&c.detail)
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
            Ok(exit_code(report.status()))
        }
        Err(e) => {
            if let Some(report) = e.report() {
                out.apply(report, reveal);
            }
            Err(from_apply(&e))
        }
    }
}
