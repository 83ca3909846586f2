//! `bp-servicenow man`: the manual page (roff).

use crate::commands::Cli;
use crate::exit::{EXIT_OK, Exit};

/// Prints the page.
pub(crate) fn exec() -> Result<u8, Exit> {
    clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
        .render(&mut std::io::stdout())
        .map_err(|e| Exit::failure(format!("cannot write the manual page: {e}")))?;
    Ok(EXIT_OK)
}
