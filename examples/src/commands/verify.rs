//! `bp-servicenow verify`: every step checked and proven by effect (reads
//! only; exit 0 ok, 3 a failure, 4 waiting for a person).

use crate::commands::RunArgs;
use crate::exit::{Exit, exit_code, from_workflow};
use crate::output::Output;
use crate::session::Session;

/// Verifies.
pub(crate) async fn exec(args: RunArgs, out: &Output) -> Result<u8, Exit> {
    let session = Session::open(&args, false)?;
    let report = session
        .workflow
        .verify()
        .await
        .map_err(|e| from_workflow(&e, "nothing was verified"))?;
    out.verify(&report, args.reveal_secrets, &session.auth);
    Ok(exit_code(report.status))
}
