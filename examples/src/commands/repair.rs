//! `bp-servicenow repair`: rebuild a damaged ledger from what can be proven
//! this integration's.

use crate::commands::WriteArgs;
use crate::exit::{EXIT_OK, Exit, from_workflow};
use crate::output::Output;
use crate::session::{Session, confirm, require_yes};

/// Repairs the ledger.
pub(crate) async fn exec(args: WriteArgs, out: &Output) -> Result<u8, Exit> {
    require_yes(args.yes)?;
    let session = Session::open(&args.run, args.break_lease)?;
    if !args.yes && !confirm("Rebuild the ledger of this integration?") {
        return Err(Exit::failure("nothing changed"));
    }
    let report = session
        .workflow
        .repair()
        .await
        .map_err(|e| from_workflow(&e, "nothing was changed"))?;
    out.repair(&report);
    Ok(EXIT_OK)
}
