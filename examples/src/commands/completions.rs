//! `bp-servicenow completions <shell>`: a shell completion script.

use crate::commands::Cli;
use crate::exit::{EXIT_OK, Exit};

/// Prints the script.
pub(crate) fn exec(shell: clap_complete::Shell) -> Result<u8, Exit> {
    clap_complete::generate(
        shell,
        &mut <Cli as clap::CommandFactory>::command(),
        "bp-servicenow",
        &mut std::io::stdout(),
    );
    Ok(EXIT_OK)
}
