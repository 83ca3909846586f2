//! The `bp-servicenow` command line: argument parsing, credentials from the
//! environment, running the workflow, and exit codes.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use brightpattern_client::{ApiCredentials, TenantUrl};
use brightpattern_servicenow::spec::AuthMethod;
use brightpattern_servicenow::steps::oauth_endpoint::SECRET_VARIABLE as OAUTH_SECRET_VARIABLE;
use brightpattern_servicenow::{
    ApplyError, Event, EventHandler, IntegrationSpec, ResolvedSpec, ServiceNowLogin, Status,
    Workflow, WorkflowError, WorkflowOptions,
};
use clap::{Args, Parser, Subcommand};
use servicenow_client::{Credentials, InstanceUrl, OAuthClient, SecretString};

use crate::output::{Output, Painter};

/// Exit code: success.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: a runtime failure (a request failed, a step failed).
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Exit code: a usage or configuration error.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: verify (or apply's proofs) found a failure.
pub(crate) const EXIT_PROBLEMS: u8 = 3;
/// Exit code: nothing failed, but something waits for a person (a manual step,
/// or a check that cannot be proven from here).
pub(crate) const EXIT_MANUAL: u8 = 4;

/// Exit code: another run holds the integration (nothing was written).
pub(crate) const EXIT_HELD: u8 = 5;

/// The exit code of a run's status.
pub(crate) fn exit_code(status: Status) -> u8 {
    match status {
        Status::Ok => EXIT_OK,
        Status::Pending => EXIT_MANUAL,
        // Failed, and anything a later version adds: never reported as ok.
        _ => EXIT_PROBLEMS,
    }
}

/// What `--help` says after the options.
const AFTER_HELP: &str = "\
Environment:
  SERVICENOW_USERNAME, SERVICENOW_PASSWORD      the ServiceNow administrator who configures
                                                ([servicenow.auth] method = basic or password)
  SERVICENOW_CLIENT_SECRET                      the OAuth client secret (method = password,
                                                client_credentials or jwt; client_id in the file)
  SERVICENOW_API_KEY                            a REST API key (method = api_key)
  SERVICENOW_INTEGRATION_USERNAME, _PASSWORD    the user Bright Pattern acts as (default: the admin;
                                                required with client_credentials, jwt and api_key)
  BRIGHTPATTERN_CLIENT_ID, _CLIENT_SECRET       a Bright Pattern API user
  SERVICENOW_OAUTH_CLIENT_SECRET                optional: lets verify prove the OAuth client end to end
  PROXY_PASSWORD                                the password of [network] proxy_username
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY             honoured unless [network] proxy is set
  `fleet` rows read the same names after their env_prefix (ACME_SERVICENOW_USERNAME),
  or from their credentials_file (KEY=VALUE lines)

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
  fleet: 0 every row ok, 3 any failed or not started, else 5 any locked, else 4 any
    waiting for a person

Start with `bp-servicenow init`, which writes a commented bp-servicenow.toml
(the same as examples/bp-servicenow.example.toml in the source).
Logging: -v shows the libraries' warnings (retries), -vv progress, -vvv every
request; RUST_LOG (for example RUST_LOG=servicenow_client=debug) overrides.";

/// The configuration file used when `--config` is not given.
pub(crate) const DEFAULT_CONFIG: &str = "bp-servicenow.toml";

/// The commented starter configuration `init` writes.
const STARTER: &str = include_str!("../bp-servicenow.example.toml");

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
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show what apply would change (reads only).
    Plan(RunArgs),
    /// Make ServiceNow and Bright Pattern match the configuration.
    Apply(WriteArgs),
    /// Check every step and prove it works by its effect; exit 3 when something
    /// failed, 4 when nothing failed but something waits for a person.
    Verify(RunArgs),
    /// Remove what apply created and put adopted records back (never plugins,
    /// never what it did not create); shows what it will do and asks first.
    Teardown(TeardownArgs),
    /// Rebuild an unreadable ledger from what can be proven ours, showing what
    /// was found (nothing else on the instance is changed).
    Repair(WriteArgs),
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
    Fleet(crate::fleet::FleetArgs),
    /// Write a commented starter configuration (asks for the instance and the
    /// tenant on a terminal; never overwrites).
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), for `man -l -`.
    Man,
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

/// A failure that ends the program with a given exit code.
#[derive(Debug)]
pub(crate) struct Exit {
    /// The exit code.
    pub(crate) code: u8,
    /// What to print on standard error.
    pub(crate) message: String,
}

impl Exit {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    pub(crate) fn failure(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_FAILURE,
            message: message.into(),
        }
    }

    fn held(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_HELD,
            message: message.into(),
        }
    }
}

/// The credentials, all from the environment.
pub(crate) struct EnvCredentials {
    servicenow: Credentials,
    integration: ServiceNowLogin,
    brightpattern: ApiCredentials,
    oauth_client_secret: Option<SecretString>,
    proxy_password: Option<SecretString>,
}

/// Where a run's credentials come from: the process environment (optionally
/// under a prefix, for a fleet row), or a file of `KEY=VALUE` lines. The
/// variables are checked together: every missing one is named in one error.
pub(crate) struct Environment {
    source: Source,
    missing: Vec<String>,
}

enum Source {
    /// Environment variables, each name after this prefix.
    Variables(String),
    /// The values of a credentials file (and its path, for errors).
    File(
        std::path::PathBuf,
        std::collections::HashMap<String, String>,
    ),
}

impl Environment {
    /// The process environment, unprefixed.
    pub(crate) fn process() -> Self {
        Self::prefixed("")
    }

    /// The process environment, each name after `prefix` (`ACME_`).
    pub(crate) fn prefixed(prefix: &str) -> Self {
        Self {
            source: Source::Variables(prefix.to_owned()),
            missing: Vec::new(),
        }
    }

    /// A file of `KEY=VALUE` lines (blank lines and `#` comments skipped;
    /// values may be quoted).
    pub(crate) fn file(path: &std::path::Path) -> Result<Self, Exit> {
        let text = crate::files::read_text(
            path,
            "credentials file",
            crate::files::MAX_SECRET_FILE_BYTES,
        )?;
        let mut values = std::collections::HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(Exit::usage(format!(
                    "{} line {}: not KEY=VALUE",
                    path.display(),
                    number + 1
                )));
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            values.insert(key.trim().to_owned(), value.to_owned());
        }
        Ok(Self {
            source: Source::File(path.to_owned(), values),
            missing: Vec::new(),
        })
    }

    fn value(&self, name: &str) -> Option<String> {
        match &self.source {
            Source::Variables(prefix) => std::env::var(format!("{prefix}{name}")).ok(),
            Source::File(_, values) => values.get(name).cloned(),
        }
        .filter(|v| !v.is_empty())
    }

    fn required(&mut self, name: &'static str) -> String {
        match self.value(name) {
            Some(v) => v,
            None => {
                let shown = match &self.source {
                    Source::Variables(prefix) => format!("{prefix}{name}"),
                    Source::File(..) => name.to_owned(),
                };
                self.missing.push(shown);
                String::new()
            }
        }
    }

    fn optional(&self, name: &str) -> Option<SecretString> {
        self.value(name).map(SecretString::from)
    }

    fn where_missing(&self) -> String {
        match &self.source {
            Source::Variables(_) => format!(
                "missing environment variable{}",
                if self.missing.len() == 1 { "" } else { "s" }
            ),
            Source::File(path, _) => format!("{} lacks", path.display()),
        }
    }
}

impl EnvCredentials {
    /// Reads what the spec's authentication method needs — `SERVICENOW_USERNAME`
    /// and `SERVICENOW_PASSWORD` (basic, password grant), `SERVICENOW_CLIENT_SECRET`
    /// (password grant, client credentials), `SERVICENOW_API_KEY` — and
    /// `SERVICENOW_INTEGRATION_USERNAME` / `_PASSWORD` (default: the admin; required
    /// when the admin has no password), `BRIGHTPATTERN_CLIENT_ID`,
    /// `BRIGHTPATTERN_CLIENT_SECRET`, and `PROXY_PASSWORD` with a proxy user.
    /// Every missing one is named at once.
    pub(crate) fn from_env(spec: &ResolvedSpec) -> Result<Self, Exit> {
        Self::from(spec, Environment::process())
    }

    /// As [`from_env`](Self::from_env), reading from `env`.
    pub(crate) fn from(spec: &ResolvedSpec, mut env: Environment) -> Result<Self, Exit> {
        let admin_login = |env: &mut Environment| {
            let user = env.required("SERVICENOW_USERNAME");
            let password = SecretString::from(env.required("SERVICENOW_PASSWORD"));
            (user, password)
        };
        let (servicenow, admin) = match &spec.auth {
            AuthMethod::Password { client_id } => {
                let (user, password) = admin_login(&mut env);
                let secret = SecretString::from(env.required("SERVICENOW_CLIENT_SECRET"));
                (
                    Credentials::oauth_password(
                        OAuthClient::new(client_id.clone(), secret),
                        user.clone(),
                        password.clone(),
                    ),
                    Some((user, password)),
                )
            }
            AuthMethod::ClientCredentials { client_id } => {
                let secret = SecretString::from(env.required("SERVICENOW_CLIENT_SECRET"));
                (
                    Credentials::oauth_client_credentials(OAuthClient::new(
                        client_id.clone(),
                        secret,
                    )),
                    None,
                )
            }
            AuthMethod::ApiKey => (
                Credentials::api_key(env.required("SERVICENOW_API_KEY")),
                None,
            ),
            AuthMethod::Jwt {
                client_id,
                key_file,
                key_id,
                subject,
            } => {
                let secret = SecretString::from(env.required("SERVICENOW_CLIENT_SECRET"));
                let pem = crate::files::read_text(
                    std::path::Path::new(key_file),
                    "JWT key file (servicenow.auth.key_file)",
                    crate::files::MAX_SECRET_FILE_BYTES,
                )?;
                let key = servicenow_client::JwtSigningKey::from_pem(pem.into(), key_id.clone())
                    .map_err(|e| {
                        Exit::usage(format!("servicenow.auth.key_file ({key_file}): {e}"))
                    })?;
                (
                    Credentials::oauth_jwt_bearer(
                        OAuthClient::new(client_id.clone(), secret),
                        key,
                        subject.clone(),
                    ),
                    None,
                )
            }
            // Basic, and anything a later version adds.
            _ => {
                let (user, password) = admin_login(&mut env);
                (
                    Credentials::basic(user.clone(), password.clone()),
                    Some((user, password)),
                )
            }
        };
        let integration = match (env.value("SERVICENOW_INTEGRATION_USERNAME"), admin) {
            (Some(user), _) => ServiceNowLogin {
                username: user,
                password: SecretString::from(env.required("SERVICENOW_INTEGRATION_PASSWORD")),
            },
            (_, Some((username, password))) => ServiceNowLogin { username, password },
            (_, None) => {
                // Without an admin password, the integration user must be named.
                env.required("SERVICENOW_INTEGRATION_USERNAME");
                env.required("SERVICENOW_INTEGRATION_PASSWORD");
                ServiceNowLogin {
                    username: String::new(),
                    password: SecretString::from(String::new()),
                }
            }
        };
        let brightpattern = ApiCredentials::new(
            env.required("BRIGHTPATTERN_CLIENT_ID"),
            env.required("BRIGHTPATTERN_CLIENT_SECRET"),
        );
        let proxy_password = if spec.proxy_username.is_some() {
            Some(SecretString::from(env.required("PROXY_PASSWORD")))
        } else {
            None
        };
        if !env.missing.is_empty() {
            return Err(Exit::usage(format!(
                "{} {} (ServiceNow authentication: {}; see bp-servicenow --help)",
                env.where_missing(),
                env.missing.join(", "),
                spec.auth.describe()
            )));
        }
        Ok(Self {
            servicenow,
            integration,
            brightpattern,
            oauth_client_secret: env.optional(OAUTH_SECRET_VARIABLE),
            proxy_password,
        })
    }
}

/// Reads and resolves a configuration file.
pub(crate) fn load_spec(path: &std::path::Path) -> Result<ResolvedSpec, Exit> {
    if !path.exists() {
        return Err(Exit::usage(format!(
            "{} does not exist: write a starter configuration with `bp-servicenow init`, or pass --config",
            path.display()
        )));
    }
    let text = crate::files::read_text(path, "configuration", crate::files::MAX_CONFIG_BYTES)?;
    let spec = IntegrationSpec::from_toml(&text)
        .map_err(|e| Exit::usage(format!("{}: {e}", path.display())))?;
    let mut resolved = spec
        .resolve()
        .map_err(|e| Exit::usage(format!("{}: {e}", path.display())))?;
    // Relative paths in the file are taken from its folder.
    crate::files::anchor(&mut resolved, path);
    Ok(resolved)
}

/// Builds the workflow for a spec with the given credentials.
pub(crate) fn build_workflow(
    spec: ResolvedSpec,
    credentials: EnvCredentials,
    options: WorkflowOptions,
    events: Option<EventHandler>,
    budget: Option<servicenow_client::RequestBudget>,
) -> Result<Workflow, Exit> {
    let proxy = spec.proxy.clone().map(|proxy| {
        match (&spec.proxy_username, credentials.proxy_password.clone()) {
            (Some(user), Some(password)) => proxy.with_credentials(user.clone(), password),
            _ => proxy,
        }
    });
    let mut sn = servicenow_client::Client::builder(
        InstanceUrl::clone(&spec.instance),
        credentials.servicenow,
    );
    let mut bp = brightpattern_client::Client::builder(
        TenantUrl::clone(&spec.tenant),
        credentials.brightpattern,
    );
    if let Some(budget) = budget {
        sn = sn.request_budget(budget);
    }
    if let Some(proxy) = proxy {
        sn = sn.proxy(proxy.clone());
        bp = bp.proxy(proxy);
    }
    let (roots, identity) = tls_files("servicenow.tls", &spec.servicenow_tls)?;
    if let Some(roots) = roots {
        sn = sn.root_certificates(roots);
    }
    if let Some(identity) = identity {
        sn = sn.client_identity(identity);
    }
    let (roots, identity) = tls_files("brightpattern.tls", &spec.brightpattern_tls)?;
    if let Some(roots) = roots {
        bp = bp.root_certificates(roots);
    }
    if let Some(identity) = identity {
        bp = bp.client_identity(identity);
    }
    let sn = sn.build().map_err(|e| Exit::usage(e.to_string()))?;
    let bp = bp.build().map_err(|e| Exit::usage(e.to_string()))?;
    let secret = options.oauth_client_secret.clone();
    let options = options.oauth_client_secret(secret.or(credentials.oauth_client_secret));
    let mut builder = Workflow::builder(spec, sn, bp, credentials.integration).options(options);
    if let Some(handler) = events {
        builder = builder.on_event(move |e| handler(e));
    }
    Ok(builder.build())
}

/// Reads the TLS files a spec section names: root certificates, and a client
/// certificate with its key. A file that cannot be read or parsed is a usage
/// error naming it (never its contents).
fn tls_files(
    section: &str,
    tls: &brightpattern_servicenow::spec::TlsSection,
) -> Result<
    (
        Option<servicenow_client::RootCertificates>,
        Option<servicenow_client::ClientIdentity>,
    ),
    Exit,
> {
    let read = |key: &str, path: &str| {
        crate::files::read(
            std::path::Path::new(path),
            &format!("{section}.{key} file"),
            crate::files::MAX_SECRET_FILE_BYTES,
        )
        .map_err(|e| Exit::usage(format!("{section}.{key}: {}", e.message)))
    };
    let roots =
        match &tls.root_certificates {
            Some(path) => {
                let pem = read("root_certificates", path)?;
                let roots = if tls.roots_only {
                    servicenow_client::RootCertificates::only(&pem)
                } else {
                    servicenow_client::RootCertificates::added(&pem)
                };
                Some(roots.map_err(|e| {
                    Exit::usage(format!("{section}.root_certificates ({path}): {e}"))
                })?)
            }
            None => None,
        };
    let identity = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let mut pem = String::from_utf8_lossy(&read("client_cert", cert)?).into_owned();
            pem.push('\n');
            pem.push_str(&String::from_utf8_lossy(&read("client_key", key)?));
            Some(
                servicenow_client::ClientIdentity::from_pem(pem.into())
                    .map_err(|e| Exit::usage(format!("{section}.client_cert / client_key: {e}")))?,
            )
        }
        _ => None,
    };
    Ok((roots, identity))
}

/// Shows plugin activation progress on standard error when it is a terminal.
fn progress_handler(enabled: bool) -> Option<EventHandler> {
    if !enabled {
        return None;
    }
    let bar: Arc<Mutex<Option<indicatif::ProgressBar>>> = Arc::new(Mutex::new(None));
    Some(Arc::new(move |event: &Event| {
        let mut bar = bar.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Progress {
                percent, message, ..
            } => {
                let b = bar.get_or_insert_with(|| {
                    let b = indicatif::ProgressBar::new(100);
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{spinner} {msg} [{bar:30}] {pos}%",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    b
                });
                b.set_message(message.clone());
                b.set_position(u64::from(*percent));
            }
            Event::StepFinished { .. } => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
            }
            _ => {}
        }
    }))
}

pub(crate) fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// A workflow operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Plan,
    Apply,
    Verify,
    Teardown,
    TeardownPreview,
    Repair,
    RotateSecret,
}

/// Runs one subcommand.
async fn run(command: Command, out: &Output) -> Result<u8, Exit> {
    let (operation, args, yes, break_lease) = match command {
        Command::Plan(a) => (Operation::Plan, a, true, false),
        Command::Verify(a) => (Operation::Verify, a, true, false),
        Command::Apply(w) => (Operation::Apply, w.run, w.yes, w.break_lease),
        Command::Teardown(t) if t.dry_run => (Operation::TeardownPreview, t.write.run, true, false),
        Command::Teardown(t) => (
            Operation::Teardown,
            t.write.run,
            t.write.yes,
            t.write.break_lease,
        ),
        Command::Repair(w) => (Operation::Repair, w.run, w.yes, w.break_lease),
        Command::RotateSecret(w) => (Operation::RotateSecret, w.run, w.yes, w.break_lease),
        #[cfg(feature = "demo")]
        Command::Demo => {
            return crate::demo::run(out)
                .await
                .map_err(|e| Exit::failure(e.to_string()));
        }
        Command::Init(args) => return init(&args),
        Command::Fleet(args) => return crate::fleet::run(args, out).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "bp-servicenow",
                &mut std::io::stdout(),
            );
            return Ok(EXIT_OK);
        }
        Command::Man => {
            let page = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
            page.render(&mut std::io::stdout())
                .map_err(|e| Exit::failure(format!("cannot write the manual page: {e}")))?;
            return Ok(EXIT_OK);
        }
    };
    let writes = !matches!(
        operation,
        Operation::Plan | Operation::Verify | Operation::TeardownPreview
    );
    if writes && !yes && !std::io::stdin().is_terminal() {
        return Err(Exit::usage(
            "standard input is not a terminal, so there is no one to ask before writing: pass --yes to go ahead (nothing was written)",
        ));
    }
    let spec = load_spec(&args.config)?;
    let credentials = EnvCredentials::from_env(&spec)?;
    let auth = format!(
        "ServiceNow {} as {}",
        spec.instance.as_str(),
        spec.auth.describe()
    );
    let mut options = WorkflowOptions::default().reveal_secrets(args.reveal_secrets);
    options.lease = options.lease.break_lease(break_lease);
    let interactive = !args.json && std::io::stderr().is_terminal();
    let workflow = build_workflow(
        spec,
        credentials,
        options,
        progress_handler(interactive),
        None,
    )?;
    let ask = !yes;
    let reveal = args.reveal_secrets;
    match operation {
        Operation::Plan => {
            let plan = workflow
                .plan()
                .await
                .map_err(|e| Exit::failure(chain(&e)))?;
            out.plan(&plan, reveal, &auth);
            Ok(EXIT_OK)
        }
        Operation::Verify => {
            let report = workflow
                .verify()
                .await
                .map_err(|e| Exit::failure(chain(&e)))?;
            out.verify(&report, reveal, &auth);
            Ok(exit_code(report.status))
        }
        Operation::Apply => {
            if ask {
                let plan = workflow
                    .plan()
                    .await
                    .map_err(|e| Exit::failure(chain(&e)))?;
                out.plan(&plan, reveal, &auth);
                if !plan.has_changes() && !plan.steps.iter().any(|s| s.manual.is_some()) {
                    return Ok(EXIT_OK);
                }
                if !confirm("Apply these changes?") {
                    return Err(Exit::failure("not applied"));
                }
            }
            match workflow.apply().await {
                Ok(report) => {
                    out.apply(&report, reveal);
                    if report.status() == Status::Failed {
                        eprintln!(
                            "error: written, but not working: {}",
                            report
                                .proofs
                                .iter()
                                .filter(|c| c.status == Status::Failed)
                                .map(|c| format!(
                                    "{} ({})",
                                    c.check,
                                    c.hint.as_deref().unwrap_or(&c.detail)
                                ))
                                .collect::<Vec<_>>()
                                .join("; ")
                        );
                    }
                    Ok(exit_code(report.status()))
                }
                Err(e) => {
                    if let Some(report) = e.report() {
                        out.apply(report, reveal);
                    }
                    Err(match &e {
                        _ if e.held().is_some() => Exit::held(e.to_string()),
                        ApplyError::NotStarted(
                            WorkflowError::Taken(_) | WorkflowError::Preflight(_),
                        ) => Exit::usage(e.to_string()),
                        _ => Exit::failure(chain(&e)),
                    })
                }
            }
        }
        Operation::TeardownPreview => {
            let preview = workflow
                .teardown_plan()
                .await
                .map_err(|e| Exit::failure(chain(&e)))?;
            out.teardown_plan(&preview);
            Ok(EXIT_OK)
        }
        Operation::Teardown => {
            if ask {
                let preview = workflow
                    .teardown_plan()
                    .await
                    .map_err(|e| Exit::failure(chain(&e)))?;
                out.teardown_plan(&preview);
                // A refusal (exit 2) or another run's lease (exit 5) is
                // teardown's own to report, with nothing written.
                let held = preview.held_by.is_some() && !break_lease;
                if !preview.would_refuse() && !held {
                    if preview.removals().next().is_none() {
                        return Ok(EXIT_OK);
                    }
                    if !confirm("Tear down as shown?") {
                        return Err(Exit::failure("nothing removed"));
                    }
                }
            }
            let report = workflow.teardown().await.map_err(|e| match e {
                WorkflowError::Held(_) => Exit::held(format!("nothing was removed: {e}")),
                WorkflowError::Preflight(_) => Exit::usage(e.to_string()),
                e => Exit::failure(chain(&e)),
            })?;
            out.teardown(&report);
            Ok(EXIT_OK)
        }
        Operation::RotateSecret => {
            if ask
                && !confirm(
                    "Replace the OAuth client secret? The integration account stops working until the new one is entered.",
                )
            {
                return Err(Exit::failure("nothing changed"));
            }
            let rotation = workflow.rotate_secret().await.map_err(|e| match e {
                WorkflowError::Held(_) => Exit::held(format!("nothing was changed: {e}")),
                WorkflowError::Preflight(_) => Exit::usage(e.to_string()),
                e => Exit::failure(chain(&e)),
            })?;
            out.rotation(&rotation);
            // A person must enter it now.
            Ok(exit_code(Status::Pending))
        }
        Operation::Repair => {
            if ask && !confirm("Rebuild the ledger of this integration?") {
                return Err(Exit::failure("nothing changed"));
            }
            let report = workflow.repair().await.map_err(|e| match e {
                WorkflowError::Held(_) => Exit::held(format!("nothing was changed: {e}")),
                e => Exit::failure(chain(&e)),
            })?;
            out.repair(&report);
            Ok(EXIT_OK)
        }
    }
}

/// An error with every cause under it, one per line (the host and the reason a
/// connection failed are in the causes).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(&format!("\n  caused by: {line}"));
        }
        source = cause.source();
    }
    text
}

/// Writes the starter configuration, asking for what the flags do not give when
/// a person is at the terminal; never overwrites.
fn init(args: &InitArgs) -> Result<u8, Exit> {
    if args.config.exists() {
        return Err(Exit::usage(format!(
            "{} exists already: bp-servicenow init never overwrites (remove it, or pass --config for another file)",
            args.config.display()
        )));
    }
    let terminal = std::io::stdin().is_terminal();
    let ask = |what: &str, example: &str| -> Result<String, Exit> {
        if !terminal {
            return Err(Exit::usage(format!(
                "pass --{what} (standard input is not a terminal to ask on)"
            )));
        }
        eprint!("ServiceNow {what} (for example {example}): ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| Exit::usage(format!("cannot read the {what}: {e}")))?;
        Ok(answer.trim().to_owned())
    };
    let instance = match &args.instance {
        Some(i) => i.clone(),
        None => ask("instance", "dev12345")?,
    };
    let tenant = match &args.tenant {
        Some(t) => t.clone(),
        None => ask("tenant", "example")?,
    };
    let text = STARTER
        .replacen(
            "instance = \"dev12345\"",
            &format!("instance = {}", toml_string(&instance)),
            1,
        )
        .replacen(
            "tenant = \"example\"",
            &format!("tenant = {}", toml_string(&tenant)),
            1,
        );
    // Checked before it is written: a bad instance or tenant is said now.
    IntegrationSpec::from_toml(&text)
        .and_then(|spec| spec.resolve().map(|_| ()))
        .map_err(|e| Exit::usage(format!("the configuration would not be valid: {e}")))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&args.config)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|e| Exit::usage(format!("cannot write {}: {e}", args.config.display())))?;
    eprintln!(
        "wrote {}: review the users and groups in [access], set the credentials in the environment (bp-servicenow --help), then run bp-servicenow plan",
        args.config.display()
    );
    Ok(EXIT_OK)
}

/// A TOML basic string.
fn toml_string(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned())
}

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
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "error",
        1 => "warn",
        2 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| ScrubbedStderr)
        .with_target(true)
        .without_time()
        .try_init();
}

/// The program.
pub(crate) fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose);
    let json = match &cli.command {
        Command::Plan(a) | Command::Verify(a) => a.json,
        Command::Init(_) | Command::Completions { .. } | Command::Man => false,
        Command::Fleet(f) => f.json,
        Command::Teardown(t) => t.write.run.json,
        Command::Apply(w) | Command::Repair(w) | Command::RotateSecret(w) => w.run.json,
        #[cfg(feature = "demo")]
        Command::Demo => false,
    };
    let out = Output::new(json, Painter::for_stdout());
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
    match runtime.block_on(run(cli.command, &out)) {
        Ok(code) => ExitCode::from(code),
        Err(exit) => {
            // The last line of defence: an error may quote what a server said.
            eprintln!("error: {}", servicenow_client::redact::scrub(&exit.message));
            ExitCode::from(exit.code)
        }
    }
}
