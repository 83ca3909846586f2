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

mod commands;
mod documents;
mod exit;
mod files;
mod output;
mod session;

use std::process::ExitCode;

use clap::Parser as _;

use crate::commands::Cli;
use crate::exit::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::output::{Output, Painter};

/// Standard error, each write scrubbed of every secret the process holds
/// (`servicenow_client::redact`): a log line may quote what a server said.
struct ScrubbedStderr;

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(servicenow_client::redact::scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Sends the libraries' `tracing` output to standard error: `RUST_LOG` when set,
/// else by the number of `-v`.
fn init_logging(verbose: u8, quiet: bool, ansi: bool) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        _ if quiet => "off",
        0 => "error",
        1 => "warn",
        2 => "info",
        _ => "debug",
    };
    let filter = match quiet {
        true => EnvFilter::new(level),
        false => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(|| ScrubbedStderr)
        .with_target(true)
        .without_time()
        .try_init();
}

/// The program.
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    use std::io::IsTerminal as _;
    let stderr_colour = cli.color.enabled(std::io::stderr().is_terminal());
    init_logging(cli.verbose, cli.quiet, stderr_colour);
    session::set_quiet(cli.quiet);
    session::set_timeouts(cli.request_timeout, cli.timeout);
    let painter = Painter::new(cli.color.enabled(std::io::stdout().is_terminal()));
    let out = Output::new(cli.command.json_name(), painter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let interrupted = || async {
        // Ctrl-C: stop, and give back what this run holds on the instance.
        let given = brightpattern_servicenow::lease::give_back_all().await;
        Err(exit::Exit::failure(format!(
            "interrupted: {given} lease or lock row(s) given back; what was written before is in the ledger (run apply again to finish, or teardown)"
        )))
    };
    let run = async {
        tokio::select! {
            result = commands::run(cli.command, &out) => result,
            Ok(()) = tokio::signal::ctrl_c() => interrupted().await,
            secs = session::deadline() => {
                let given = brightpattern_servicenow::lease::give_back_all().await;
                Err(exit::Exit::failure(format!(
                    "timed out after {secs} s (--timeout, [network] timeout_secs): {given} lease or lock row(s) given back; what was written before is in the ledger (run apply again to finish)"
                )))
            }
        }
    };
    match runtime.block_on(run) {
        Ok(code) => ExitCode::from(code),
        Err(exit) => {
            // The last line of defence: an error may quote what a server said.
            let message = servicenow_client::redact::scrub(&exit.message);
            eprintln!("error: {message}");
            out.error(exit.code, &message);
            ExitCode::from(exit.code)
        }
    }
}
