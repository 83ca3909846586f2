//! One module per subcommand, each with its `exec`; this one holds the
//! arguments and sends each subcommand to its module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::exit::Exit;
use crate::output::Output;

pub(crate) mod apply;
pub(crate) mod completions;
pub(crate) mod confirm;
#[cfg(feature = "demo")]
pub(crate) mod demo;
pub(crate) mod fleet;
pub(crate) mod init;
pub(crate) mod man;
pub(crate) mod plan;
pub(crate) mod repair;
pub(crate) mod rotate_secret;
pub(crate) mod schema;
pub(crate) mod teardown;
pub(crate) mod verify;

/// What `--help` says after the options.
const AFTER_HELP: &str = "\
Environment:
  SERVICENOW_USERNAME, SERVICENOW_PASSWORD      the ServiceNow administrator who configures
                                                ([servicenow.auth] method = basic or password)
  SERVICENOW_CLIENT_SECRET                      the OAuth client secret (method = password,
                                                refresh_token, client_credentials or jwt;
                                                client_id in the file)
  SERVICENOW_API_KEY                            a REST API key (method = api_key)
  SERVICENOW_REFRESH_TOKEN                      an OAuth refresh token (method = refresh_token,
                                                with SERVICENOW_CLIENT_SECRET)
  SERVICENOW_INTEGRATION_USERNAME, _PASSWORD    the user Bright Pattern acts as (default: the admin;
                                                required with client_credentials, jwt and api_key)
  BRIGHTPATTERN_CLIENT_ID, _CLIENT_SECRET       a Bright Pattern API user (only with
                                                [integration_account] api = \"assumed\")
  SERVICENOW_OAUTH_CLIENT_SECRET                optional: lets verify prove the OAuth client end to end
  PROXY_PASSWORD                                the password of [network] proxy_username
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY             honoured unless [network] proxy is set
  `fleet` rows read the same names after their env_prefix (ACME_SERVICENOW_USERNAME),
  or from their credentials_file (.env rules: KEY=VALUE, export, quotes, comments)

Exit codes:
  0 ok
  1 runtime failure
  2 usage or configuration error, a record with a configured name is not ours
    (adopt it or rename it), or the preflight found the admin lacking roles or
    the instance too old for a step; nothing written
  3 verify (or apply's proofs) found a failure
  4 nothing failed, but something waits for a person (after rotate-secret:
    entering the new secret)
  5 another run holds the integration (nothing written; --break-lease if it is dead)
  6 plan --detailed-exitcode: apply would change something
  fleet: 0 every row ok, 3 any failed or not started, else 5 any locked, else 4 any
    waiting for a person

Start with `bp-servicenow init`, which writes a commented bp-servicenow.toml
(the same as examples/bp-servicenow.example.toml in the source).
Logging: -v shows the libraries' warnings (retries), -vv progress, -vvv every
request; RUST_LOG (for example RUST_LOG=servicenow_client=debug) overrides.";

/// The configuration file used when `--config` is not given.
pub(crate) const DEFAULT_CONFIG: &str = "bp-servicenow.toml";

/// Sets up Bright Pattern Agent Desktop inside ServiceNow (OpenFrame) and proves it
/// works: plan, apply, verify, teardown.
#[derive(Debug, Parser)]
#[command(name = "bp-servicenow", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
    /// More log output on standard error: -v warnings (retries), -vv progress,
    /// -vvv every request. RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    /// Print only results and errors: no progress, no warnings, no libraries'
    /// log lines.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Seconds one request may take (default 60; wins over the spec's
    /// network.request_timeout_secs).
    #[arg(long, global = true, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) request_timeout: Option<u64>,
    /// Seconds the whole command may run before it stops and gives its lease
    /// back (wins over the spec's network.timeout_secs; none by default).
    #[arg(long, global = true, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) timeout: Option<u64>,
    /// Colour on standard output and standard error, each: auto (when it is a
    /// terminal and NO_COLOR is not set), always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub(crate) color: ColorChoice,
}

/// When to colour a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// When the stream is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream that `is_terminal` says is (or is not) one.
    pub(crate) fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none(),
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show what apply would change (reads only); with --detailed-exitcode,
    /// exit 6 when something would change; with --out FILE, save it for
    /// `apply FILE`.
    Plan(PlanArgs),
    /// Make ServiceNow and Bright Pattern match the configuration, or apply
    /// exactly a plan saved by `plan --out FILE`.
    Apply(ApplyArgs),
    /// Check every step and prove it works by its effect; exit 3 when something
    /// failed, 4 when nothing failed but something waits for a person.
    Verify(RunArgs),
    /// Remove what apply created and put adopted records back (never plugins,
    /// never what it did not create); shows what it will do and asks first.
    Teardown(TeardownArgs),
    /// Rebuild an unreadable ledger from what can be proven ours, showing what
    /// was found (nothing else on the instance is changed).
    Repair(WriteArgs),
    /// Record that a person did a manual step (the integration account): who
    /// and when, in the ledger; verify then counts it ok while the step asks
    /// for the same values, and teardown forgets it.
    Confirm(ConfirmArgs),
    /// Replace the OAuth client secret with a new one and show it, with the
    /// checklist that enters it in Bright Pattern (for a secret that was never
    /// shown or is lost; the old one stops working).
    RotateSecret(WriteArgs),
    /// Run plan, apply, verify, apply again and teardown (previewed, then done) on
    /// built-in fakes.
    #[cfg(feature = "demo")]
    Demo,
    /// Run plan, apply, verify or teardown on every row of an inventory (one spec
    /// template, many instances and tenants), a few at a time; exit 0 all ok, 3
    /// any failed, 5 any locked, 4 any waiting for a person.
    Fleet(fleet::FleetArgs),
    /// Write a commented starter configuration (asks for the instance and the
    /// tenant on a terminal; never overwrites).
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), for `man -l -`: the tool's, or a
    /// subcommand's (`man plan` is bp-servicenow-plan(1)); with --out-dir,
    /// write every page the tool's names.
    Man(ManArgs),
    /// Print the JSON Schema of the documents a command prints under --json
    /// (plan, apply, verify, teardown-plan, teardown, repair, rotate-secret,
    /// confirm, fleet); with --out-dir, write every one.
    Schema(SchemaArgs),
}

/// Options of `schema`.
#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    /// The kind of document (its `kind`: the command, or teardown-plan for
    /// `teardown --dry-run`).
    #[arg(required_unless_present = "out_dir")]
    pub(crate) kind: Option<String>,
    /// Write KIND.schema.json for every kind into this directory.
    #[arg(long)]
    pub(crate) out_dir: Option<PathBuf>,
}

/// Options of `man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The subcommand whose page to print (the tool's page without it).
    pub(crate) subcommand: Option<String>,
    /// Write bp-servicenow.1 and a page per subcommand into this directory.
    #[arg(long)]
    pub(crate) out_dir: Option<PathBuf>,
}

/// Options of `init`.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Where to write it.
    #[arg(long, short, default_value = DEFAULT_CONFIG)]
    pub(crate) config: PathBuf,
    /// The ServiceNow instance: a name (dev12345) or an https origin.
    #[arg(long)]
    pub(crate) instance: Option<String>,
    /// The Bright Pattern tenant: a name (example) or an https origin.
    #[arg(long)]
    pub(crate) tenant: Option<String>,
}

/// Options of the reading subcommands.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The configuration file (TOML); `bp-servicenow init` writes one.
    #[arg(long, short, default_value = DEFAULT_CONFIG)]
    pub(crate) config: PathBuf,
    /// Print one JSON document on standard output instead of tables.
    #[arg(long)]
    pub(crate) json: bool,
    /// Show secrets in manual instructions (masked by default).
    #[arg(long)]
    pub(crate) reveal_secrets: bool,
}

/// Options of `plan`.
#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// The common options.
    #[command(flatten)]
    pub(crate) run: RunArgs,
    /// Exit 6 when apply would change something (0 when nothing), like
    /// Terraform's -detailed-exitcode; the other exit codes are unchanged.
    #[arg(long)]
    pub(crate) detailed_exitcode: bool,
    /// Also save the plan (secrets masked) to this file, for `apply FILE`,
    /// which applies exactly it or refuses.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// Options of `apply`.
#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// A plan saved by `plan --out FILE`: apply exactly it (without asking:
    /// it is what was reviewed), or refuse with exit 2, writing nothing, when
    /// the instance or the tenant has moved away from it since.
    #[arg(value_name = "FILE")]
    pub(crate) plan: Option<PathBuf>,
    /// The writing options.
    #[command(flatten)]
    pub(crate) write: WriteArgs,
}

/// Options of the writing subcommands.
#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    /// The common options.
    #[command(flatten)]
    pub(crate) run: RunArgs,
    /// Do not ask before writing (required when standard input is not a
    /// terminal: scripts and CI must say so).
    #[arg(long, short)]
    pub(crate) yes: bool,
    /// Take over the integration's lease even when another run holds it (after a
    /// run died); says whose it was.
    #[arg(long)]
    pub(crate) break_lease: bool,
}

/// Options of `confirm`.
#[derive(Debug, Args)]
pub(crate) struct ConfirmArgs {
    /// The options of every writing subcommand.
    #[command(flatten)]
    pub(crate) write: WriteArgs,
    /// The step a person did (`integration_account`).
    pub(crate) step: String,
    /// Who did it (default: user@host).
    #[arg(long)]
    pub(crate) by: Option<String>,
}

/// Options of `teardown`.
#[derive(Debug, Args)]
pub(crate) struct TeardownArgs {
    /// The options of every writing subcommand.
    #[command(flatten)]
    pub(crate) write: WriteArgs,
    /// Show what teardown would remove, restore and leave alone, and stop
    /// (reads only; no --yes needed).
    #[arg(long)]
    pub(crate) dry_run: bool,
}

impl Command {
    /// The command's name in its JSON documents, when it prints JSON.
    pub(crate) fn json_name(&self) -> Option<&'static str> {
        let (json, name) = match self {
            Command::Plan(a) => (a.run.json, "plan"),
            Command::Verify(a) => (a.json, "verify"),
            Command::Apply(a) => (a.write.run.json, "apply"),
            Command::Teardown(t) => (t.write.run.json, "teardown"),
            Command::Repair(w) => (w.run.json, "repair"),
            Command::RotateSecret(w) => (w.run.json, "rotate-secret"),
            Command::Confirm(c) => (c.write.run.json, "confirm"),
            Command::Fleet(f) => (f.json, "fleet"),
            _ => (false, ""),
        };
        json.then_some(name)
    }
}

/// Runs one subcommand; gives its exit code.
pub(crate) async fn run(command: Command, out: &Output) -> Result<u8, Exit> {
    match command {
        Command::Plan(args) => plan::exec(args, out).await,
        Command::Verify(args) => verify::exec(args, out).await,
        Command::Apply(args) => apply::exec(args, out).await,
        Command::Teardown(args) => teardown::exec(args, out).await,
        Command::Repair(args) => repair::exec(args, out).await,
        Command::RotateSecret(args) => rotate_secret::exec(args, out).await,
        Command::Confirm(args) => confirm::exec(args, out).await,
        #[cfg(feature = "demo")]
        Command::Demo => demo::exec(out).await,
        Command::Fleet(args) => fleet::exec(args, out).await,
        Command::Init(args) => init::exec(&args),
        Command::Completions { shell } => completions::exec(shell),
        Command::Man(args) => man::exec(&args),
        Command::Schema(args) => schema::exec(&args),
    }
}
