//! `bp-servicenow plan`: what apply would change (reads only; exit 0).

use crate::commands::RunArgs;
use crate::exit::{EXIT_OK, Exit, from_workflow};
use crate::output::Output;
use crate::session::Session;

/// Shows the plan.
pub(crate) async fn exec(args: RunArgs, out: &Output) -> Result<u8, Exit> {
    let session = Session::open(&args, false)?;
    let plan = session
        .workflow
        .plan()
        .await
        .map_err(|e| from_workflow(&e, "nothing was planned"))?;
    out.plan(&plan, args.reveal_secrets, &session.auth);
    Ok(EXIT_OK)
}
