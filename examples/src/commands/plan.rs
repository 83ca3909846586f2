//! `bp-servicenow plan`: what apply would change (reads only; exit 0, or with
//! `--detailed-exitcode` 6 when something would change).

use crate::commands::PlanArgs;
use crate::exit::{EXIT_CHANGES, EXIT_OK, Exit, from_workflow};
use crate::output::Output;
use crate::session::Session;

/// Shows the plan.
pub(crate) async fn exec(args: PlanArgs, out: &Output) -> Result<u8, Exit> {
    let (detailed, args) = (args.detailed_exitcode, args.run);
    let session = Session::open(&args, false)?;
    let plan = session
        .workflow
        .plan()
        .await
        .map_err(|e| from_workflow(&e, "nothing was planned"))?;
    out.plan(&plan, args.reveal_secrets, &session.auth);
    Ok(if detailed && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}
