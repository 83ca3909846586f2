//! The session a command runs in, built once: the spec read and resolved,
//! the credentials from the environment (or a credentials file), the clients
//! and the workflow.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use brightpattern_client::{ApiCredentials, TenantUrl};
use brightpattern_servicenow::spec::{AccountApi, AuthMethod};
use brightpattern_servicenow::steps::oauth_endpoint::SECRET_VARIABLE as OAUTH_SECRET_VARIABLE;
use brightpattern_servicenow::{
    Event, EventHandler, IntegrationSpec, ResolvedSpec, ServiceNowLogin, SpecError, Workflow,
    WorkflowOptions,
};
use servicenow_client::{Credentials, InstanceUrl, OAuthClient, SecretString};

use crate::commands::RunArgs;
use crate::exit::Exit;

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

    /// A `.env` file of `KEY=VALUE` lines, by the usual rules (`export KEY=…`,
    /// single or double quotes, `#` comments, blank lines). A line that does
    /// not parse is named by its number only: its text may hold a secret.
    pub(crate) fn file(path: &std::path::Path) -> Result<Self, Exit> {
        let text = crate::files::read_text(
            path,
            "credentials file",
            crate::files::MAX_SECRET_FILE_BYTES,
        )?;
        let mut values = std::collections::HashMap::new();
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            match item {
                Ok((key, value)) => {
                    values.insert(key, value);
                }
                Err(dotenvy::Error::LineParse(line, _)) => {
                    let number = text
                        .lines()
                        .position(|l| l.contains(line.lines().next().unwrap_or(&line)))
                        .map_or_else(|| "a line".to_owned(), |n| format!("line {}", n + 1));
                    return Err(Exit::usage(format!(
                        "{} {number}: not KEY=VALUE (the .env rules: export, quotes, # comments)",
                        path.display()
                    )));
                }
                Err(_) => {
                    return Err(Exit::usage(format!(
                        "{}: cannot be read as KEY=VALUE lines",
                        path.display()
                    )));
                }
            }
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
            AuthMethod::RefreshToken { client_id } => {
                let secret = SecretString::from(env.required("SERVICENOW_CLIENT_SECRET"));
                let token = SecretString::from(env.required("SERVICENOW_REFRESH_TOKEN"));
                (
                    Credentials::oauth_refresh_token(
                        OAuthClient::new(client_id.clone(), secret),
                        token,
                    ),
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
        // The manual integration account (the default) calls no Bright Pattern
        // API (the Agent Desktop page is read anonymously): no API user is
        // needed. A placeholder login that no token request can succeed with
        // stands in, so a call made by mistake fails loudly at the tenant.
        let manual = spec.integration_account.api == AccountApi::Manual;
        let brightpattern = match (manual, env.value("BRIGHTPATTERN_CLIENT_ID")) {
            (true, None) => ApiCredentials::new(NO_API_USER, SecretString::from(String::new())),
            _ => ApiCredentials::new(
                env.required("BRIGHTPATTERN_CLIENT_ID"),
                env.required("BRIGHTPATTERN_CLIENT_SECRET"),
            ),
        };
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

/// The Bright Pattern login used when the manual integration account needs no
/// API user (never sent with a secret: the manual mode requests no token).
const NO_API_USER: &str = "(no API user: the integration account is manual)";

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
    let mut resolved = spec.resolve().map_err(|e| {
        // Each problem with the line its key stands on.
        let e = match e {
            SpecError::Invalid(problems) => SpecError::Invalid(problems.with_lines(&text)),
            other => other,
        };
        Exit::usage(format!("{}: {e}", path.display()))
    })?;
    // Relative paths in the file are taken from its folder.
    crate::files::anchor(&mut resolved, path);
    let (request, overall) = TIMEOUT_FLAGS.get().copied().unwrap_or_default();
    if let Some(secs) = request {
        resolved.request_timeout = Some(std::time::Duration::from_secs(secs));
    }
    if let Some(secs) = overall.or(resolved.timeout.map(|t| t.as_secs())) {
        start_deadline(secs);
    }
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
    if let Some(timeout) = spec.request_timeout {
        sn = sn.timeout(timeout);
        bp = bp.timeout(timeout);
    }
    let sn = sn.build().map_err(|e| Exit::usage(e.to_string()))?;
    let bp = bp.build().map_err(|e| Exit::usage(e.to_string()))?;
    let secret = options.oauth_client_secret.clone();
    let options = options.oauth_client_secret(secret.or(credentials.oauth_client_secret));
    let mut builder = Workflow::builder(spec, sn, bp, credentials.integration).options(options);
    if let Some(handler) = events {
        builder = builder.on_event(move |e| handler(e));
    }
    let workflow = builder.build();
    // A `[steps.…]` section the tool's steps do not read: refused before any
    // request (the tool registers no steps of its own).
    let problems: Vec<String> = workflow
        .spec_problems()
        .iter()
        .map(ToString::to_string)
        .collect();
    if !problems.is_empty() {
        return Err(Exit::usage(problems.join("\n")));
    }
    Ok(workflow)
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

/// `--request-timeout` and `--timeout` (seconds), when given: they win over
/// the spec's `[network] request_timeout_secs` and `timeout_secs`.
static TIMEOUT_FLAGS: std::sync::OnceLock<(Option<u64>, Option<u64>)> = std::sync::OnceLock::new();

/// When the command must stop (`--timeout`, else the spec's `timeout_secs`).
static DEADLINE: std::sync::Mutex<Option<(tokio::time::Instant, u64)>> =
    std::sync::Mutex::new(None);

/// Sets the timeout flags of this process.
pub(crate) fn set_timeouts(request: Option<u64>, overall: Option<u64>) {
    let _ = TIMEOUT_FLAGS.set((request, overall));
    if let Some(secs) = overall {
        start_deadline(secs);
    }
}

fn start_deadline(secs: u64) {
    let mut deadline = DEADLINE.lock().unwrap_or_else(|p| p.into_inner());
    if deadline.is_none() {
        let at = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        *deadline = Some((at, secs));
    }
}

/// Waits until the command's deadline, once one is set (never without one);
/// gives its seconds.
pub(crate) async fn deadline() -> u64 {
    loop {
        let set = *DEADLINE.lock().unwrap_or_else(|p| p.into_inner());
        match set {
            Some((at, secs)) => {
                tokio::time::sleep_until(at).await;
                return secs;
            }
            None => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// `--quiet`: no progress and no warnings on standard error.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets `--quiet` for the sessions of this process.
pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Shows the workflow's warnings on standard error (the README promises them,
/// such as roles that cannot be checked; not with `--quiet`), and progress
/// when standard error is a terminal.
fn event_handler(progress: bool) -> Option<EventHandler> {
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    let bar: Arc<Mutex<Option<indicatif::ProgressBar>>> = Arc::new(Mutex::new(None));
    Some(Arc::new(move |event: &Event| {
        let mut bar = bar.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Warning { step, message } => {
                let line = servicenow_client::redact::scrub(&format!("warning: {step}: {message}"))
                    .into_owned();
                match bar.as_ref() {
                    Some(b) => b.println(line),
                    None => eprintln!("{line}"),
                }
            }
            Event::Progress { .. } if !progress => {}
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

/// What a workflow command works with: the workflow, and how it
/// authenticates, for people (`ServiceNow dev1 as basic (admin)`).
pub(crate) struct Session {
    /// The workflow.
    pub(crate) workflow: Workflow,
    /// The instance and the authentication method, never a secret.
    pub(crate) auth: String,
    /// The instance and the tenant.
    pub(crate) target: Target,
}

impl Session {
    /// Reads the configuration `args` names and the credentials, and builds
    /// the workflow (taking over another run's lease when `break_lease`).
    pub(crate) fn open(args: &RunArgs, break_lease: bool) -> Result<Self, Exit> {
        let spec = load_spec(&args.config)?;
        let credentials = EnvCredentials::from_env(&spec)?;
        let auth = format!(
            "ServiceNow {} as {}",
            spec.instance.as_str(),
            spec.auth.describe()
        );
        let target = Target {
            instance: spec.instance.as_str().to_owned(),
            tenant: spec.tenant.as_str().to_owned(),
        };
        let mut options = WorkflowOptions::default().reveal_secrets(args.reveal_secrets);
        options.lease = options.lease.break_lease(break_lease);
        let interactive = !args.json && std::io::stderr().is_terminal();
        let workflow =
            build_workflow(spec, credentials, options, event_handler(interactive), None)?;
        Ok(Self {
            workflow,
            auth,
            target,
        })
    }
}

/// The instance and the tenant a spec names, as origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The ServiceNow instance.
    pub(crate) instance: String,
    /// The Bright Pattern tenant.
    pub(crate) tenant: String,
}

/// Refuses to write without `--yes` when no one is at the terminal to ask.
pub(crate) fn require_yes(yes: bool) -> Result<(), Exit> {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(Exit::usage(
            "standard input is not a terminal, so there is no one to ask before writing: pass --yes to go ahead (nothing was written)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("bp-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_credentials_file_follows_the_dotenv_rules() {
        let path = file_with(
            "creds.env",
            "# the admin\nexport SERVICENOW_USERNAME=admin\nSERVICENOW_PASSWORD='p@ss # not a comment'\nBRIGHTPATTERN_CLIENT_ID=\"api.admin\" # a comment\n\nBRIGHTPATTERN_CLIENT_SECRET=s3cret\n",
        );
        let env = Environment::file(&path).unwrap();
        for (key, value) in [
            ("SERVICENOW_USERNAME", "admin"),
            ("SERVICENOW_PASSWORD", "p@ss # not a comment"),
            ("BRIGHTPATTERN_CLIENT_ID", "api.admin"),
            ("BRIGHTPATTERN_CLIENT_SECRET", "s3cret"),
        ] {
            assert_eq!(env.value(key).as_deref(), Some(value), "{key}");
        }
    }

    #[test]
    fn a_line_that_does_not_parse_is_named_by_its_number_only() {
        let path = file_with(
            "bad.env",
            "SERVICENOW_USERNAME=admin\nhunter2-is-the-password\n",
        );
        let Err(err) = Environment::file(&path) else {
            panic!("a line without = is refused")
        };
        assert_eq!(err.code, crate::exit::EXIT_USAGE);
        assert!(
            err.message.contains("line 2: not KEY=VALUE"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("hunter2"), "{}", err.message);
    }
}
