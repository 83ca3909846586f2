//! `bp-servicenow`: sets up Bright Pattern Agent Desktop inside ServiceNow
//! (OpenFrame) — plugins, the OpenFrame configuration, roles, the CORS rule, the
//! OAuth endpoint, the Bright Pattern integration account — and proves it works:
//! `plan` shows what would change, `apply` makes it so, `verify` proves it by
//! effect, `teardown` removes exactly what was created. `bp-servicenow demo` runs
//! the whole job on built-in fakes (feature `demo`, on by default).
//!
//! Install with `cargo install bp-servicenow`, then `bp-servicenow init` writes a
//! starter configuration. `bp-servicenow --help` lists the subcommands, the
//! environment variables and the exit codes.

#![allow(clippy::print_stdout)]

mod cli;
#[cfg(feature = "demo")]
mod demo;
mod files;
mod fleet;
mod output;

fn main() -> std::process::ExitCode {
    cli::main()
}
