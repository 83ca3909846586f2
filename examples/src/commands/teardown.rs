//! `bp-servicenow teardown`: remove what apply created and put adopted
//! records back; `--dry-run` shows it and stops (reads only).

use crate::commands::TeardownArgs;
use crate::exit::{EXIT_OK, Exit, from_workflow};
use crate::output::Output;
use crate::session::{Session, confirm, require_yes};

/// Tears down, or shows what teardown would do.
pub(crate) async fn exec(args: TeardownArgs, out: &Output) -> Result<u8, Exit> {
    let write = &args.write;
    if !args.dry_run {
        require_yes(write.yes)?;
    }
    let session = Session::open(&write.run, write.break_lease && !args.dry_run)?;
    let workflow = &session.workflow;
    if args.dry_run || !write.yes {
        let preview = workflow
            .teardown_plan()
            .await
            .map_err(|e| from_workflow(&e, "nothing was removed"))?;
        out.teardown_plan(&preview);
        if args.dry_run {
            return Ok(EXIT_OK);
        }
        // A refusal (exit 2) or another run's lease (exit 5) is teardown's own
        // to report, with nothing written.
        let held = preview.held_by.is_some() && !write.break_lease;
        if !preview.would_refuse() && !held {
            if preview.removals().next().is_none() {
                return Ok(EXIT_OK);
            }
            if !confirm("Tear down as shown?") {
                return Err(Exit::failure("nothing removed"));
            }
        }
    }
    let report = workflow
        .teardown()
        .await
        .map_err(|e| from_workflow(&e, "nothing was removed"))?;
    out.teardown(&report);
    Ok(EXIT_OK)
}
