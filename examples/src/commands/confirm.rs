//! `bp-servicenow confirm <step>`: a person's word that a manual step is done
//! (the integration account, made by hand in Contact Center Administrator),
//! recorded in the ledger with who and when; verify then counts it ok.

use brightpattern_servicenow::{StepError, StepId, WorkflowError};

use crate::commands::ConfirmArgs;
use crate::exit::{EXIT_OK, Exit, from_workflow};
use crate::output::Output;
use crate::session::{Session, confirm, require_yes};

/// Records the confirmation.
pub(crate) async fn exec(args: ConfirmArgs, out: &Output) -> Result<u8, Exit> {
    require_yes(args.write.yes)?;
    let session = Session::open(&args.write.run, args.write.break_lease)?;
    let step = StepId::custom(args.step.clone());
    let by = args.by.unwrap_or_else(default_person);
    if !args.write.yes && !confirm(&format!("Record that {by} did step {step}?")) {
        return Err(Exit::failure("nothing recorded"));
    }
    let confirmation = session
        .workflow
        .confirm(&step, &by)
        .await
        .map_err(|e| match &e {
            // A step that waits for no person, or none of that id: the
            // command was used wrongly, and nothing was written.
            WorkflowError::Step {
                source: StepError::Rejected { .. } | StepError::Missing { .. },
                ..
            } => Exit::usage(format!("nothing was recorded: {e}")),
            _ => from_workflow(&e, "nothing was recorded"),
        })?;
    out.confirmation(&step, &confirmation);
    Ok(EXIT_OK)
}

/// Who is at the keyboard: `user@host`, as a lease names its holder.
fn default_person() -> String {
    let (user, host) = brightpattern_servicenow::lease::who_and_where();
    format!("{user}@{host}")
}
