//! `bp-servicenow rotate-secret`: a new OAuth client secret, shown once with
//! the checklist that enters it in Bright Pattern (exit 4: a person must).

use brightpattern_servicenow::Status;

use crate::commands::WriteArgs;
use crate::exit::{Exit, exit_code, from_workflow};
use crate::output::Output;
use crate::session::{Session, confirm, require_yes};

/// Rotates the secret.
pub(crate) async fn exec(args: WriteArgs, out: &Output) -> Result<u8, Exit> {
    require_yes(args.yes)?;
    let session = Session::open(&args.run, args.break_lease)?;
    if !args.yes
        && !confirm(
            "Replace the OAuth client secret? The integration account stops working until the new one is entered.",
        )
    {
        return Err(Exit::failure("nothing changed"));
    }
    let rotation = session
        .workflow
        .rotate_secret()
        .await
        .map_err(|e| from_workflow(&e, "nothing was changed"))?;
    out.rotation(&rotation);
    // A person must enter it now.
    Ok(exit_code(Status::Pending))
}
