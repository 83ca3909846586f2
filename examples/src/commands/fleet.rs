//! `bp-servicenow fleet plan|apply|verify|teardown --inventory FILE`: one spec template,
//! many (instance, tenant, names) rows, run a few at a time with a request
//! budget per instance; one report, and an exit code that sums it up.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use brightpattern_servicenow::IntegrationSpec;
use brightpattern_servicenow::WorkflowOptions;
use brightpattern_servicenow::fleet::{
    FleetMember, FleetOperation, FleetOptions, FleetSummary, Inventory, InventoryRow, run_fleet,
};
use clap::{Args, ValueEnum};
use servicenow_client::RequestBudget;

use crate::exit::{EXIT_HELD, EXIT_MANUAL, EXIT_OK, EXIT_PROBLEMS, Exit};
use crate::output::Output;
use crate::session::{EnvCredentials, Environment, build_workflow, confirm};

/// Options of `fleet`.
#[derive(Debug, Args)]
pub(crate) struct FleetArgs {
    /// What to run on every row.
    pub(crate) operation: FleetCommand,
    /// The inventory (TOML): the spec template and the rows.
    #[arg(long, short)]
    pub(crate) inventory: PathBuf,
    /// Rows run at once (default: the inventory's, else 4).
    #[arg(long)]
    pub(crate) concurrency: Option<usize>,
    /// Print one JSON document on standard output instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Do not ask before applying or tearing down (required when standard
    /// input is not a terminal).
    #[arg(long, short)]
    pub(crate) yes: bool,
    /// With teardown: show what it would remove, restore and leave alone on
    /// every row, and stop (reads only).
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Run only this row (repeatable; for example the rows that failed last time).
    #[arg(long = "row", value_name = "NAME")]
    pub(crate) rows: Vec<String>,
    /// With apply or teardown: take over every row's lease that another run
    /// holds (only when that run is dead: a killed fleet run leaves its rows'
    /// leases until they expire). Each row says whose lease it took.
    #[arg(long)]
    pub(crate) break_lease: bool,
}

/// The operation a fleet runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FleetCommand {
    /// What apply would change, row by row (reads only).
    Plan,
    /// Make every row match its spec.
    Apply,
    /// Check every row and prove it by effect.
    Verify,
    /// Remove what apply created on every row and put adopted records back
    /// (--dry-run to see it first).
    Teardown,
}

/// The exit code of a fleet: 0 all ok, 3 any failed (or could not start), 5 any
/// locked by another run, 4 any waiting for a person — in that order.
pub(crate) fn exit_code(summary: FleetSummary) -> u8 {
    match summary {
        FleetSummary::AllOk => EXIT_OK,
        FleetSummary::AnyLocked => EXIT_HELD,
        FleetSummary::AnyPending => EXIT_MANUAL,
        // Failed, and anything a later version adds: never reported as ok.
        _ => EXIT_PROBLEMS,
    }
}

fn read(path: &Path, what: &str) -> Result<String, Exit> {
    crate::files::read_text(path, what, crate::files::MAX_CONFIG_BYTES)
}

/// Runs a fleet.
pub(crate) async fn exec(args: FleetArgs, out: &Output) -> Result<u8, Exit> {
    let inventory = Inventory::from_toml(&read(&args.inventory, "inventory")?)
        .map_err(|e| Exit::usage(format!("{}: {e}", args.inventory.display())))?;
    let base = args
        .inventory
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let unknown: Vec<&str> = args
        .rows
        .iter()
        .filter(|name| !inventory.rows.iter().any(|r| &&r.name == name))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(Exit::usage(format!(
            "{}: no row named {} (nothing was run)",
            args.inventory.display(),
            unknown.join(", ")
        )));
    }
    let chosen: Vec<&InventoryRow> = inventory
        .rows
        .iter()
        .filter(|r| args.rows.is_empty() || args.rows.contains(&r.name))
        .collect();
    let template_path = base.join(&inventory.template);
    let template = IntegrationSpec::from_toml(&read(&template_path, "template")?)
        .map_err(|e| Exit::usage(format!("{}: {e}", template_path.display())))?;
    let operation = match (args.operation, args.dry_run) {
        (FleetCommand::Teardown, true) => FleetOperation::TeardownPlan,
        (FleetCommand::Teardown, false) => FleetOperation::Teardown,
        (_, true) => {
            return Err(Exit::usage(
                "--dry-run goes with teardown (plan is apply's dry run); nothing was run",
            ));
        }
        (FleetCommand::Plan, false) => FleetOperation::Plan,
        (FleetCommand::Apply, false) => FleetOperation::Apply,
        (FleetCommand::Verify, false) => FleetOperation::Verify,
    };
    if args.break_lease && !matches!(operation, FleetOperation::Apply | FleetOperation::Teardown) {
        return Err(Exit::usage(
            "--break-lease goes with apply or teardown (the others take no lease); nothing was run",
        ));
    }
    let asking = match operation {
        FleetOperation::Apply => Some("Apply to"),
        FleetOperation::Teardown => Some("Tear down"),
        _ => None,
    };
    if let Some(verb) = asking.filter(|_| !args.yes) {
        if !std::io::stdin().is_terminal() {
            return Err(Exit::usage(
                "standard input is not a terminal, so there is no one to ask before writing: pass --yes to go ahead (nothing was written)",
            ));
        }
        if !confirm(&format!("{verb} {} integrations?", chosen.len())) {
            return Err(Exit::failure("nothing was written"));
        }
    }
    let concurrency = args.concurrency.unwrap_or(inventory.concurrency).max(1);
    // One budget per instance, shared by its rows.
    let mut budgets: HashMap<String, RequestBudget> = HashMap::new();
    let rate = inventory.requests_per_second;
    let members = chosen.iter().map(|row| {
        member(
            row,
            &template,
            &template_path,
            &base,
            args.break_lease,
            |instance| {
                budgets
                    .entry(instance.to_owned())
                    .or_insert_with(|| RequestBudget::per_second(rate).with_burst(rate))
                    .clone()
            },
        )
    });
    let mut options = FleetOptions::default().concurrency(concurrency);
    if !args.json && std::io::stderr().is_terminal() {
        // One line per row as it finishes, on standard error.
        let total = chosen.len();
        let done = std::sync::atomic::AtomicUsize::new(0);
        options = options.on_row(move |row| {
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            eprintln!(
                "[{n}/{total}] {} {}: {}",
                row.name,
                row.outcome,
                row.summary.lines().next().unwrap_or_default()
            );
        });
    }
    let report = run_fleet(members, operation, &options).await;
    out.fleet(&report);
    Ok(exit_code(report.summary()))
}

/// Builds one row's workflow, or says why it cannot be.
fn member(
    row: &InventoryRow,
    template: &IntegrationSpec,
    template_path: &Path,
    base: &Path,
    break_lease: bool,
    budget_for: impl FnOnce(&str) -> RequestBudget,
) -> FleetMember {
    let built = (|| {
        let mut spec =
            Inventory::row_spec(template, row).map_err(|e| Exit::usage(e.to_string()))?;
        // The template's relative paths are taken from its folder.
        crate::files::anchor(&mut spec, template_path);
        // The credentials file is named by the inventory: taken from its folder.
        let env = match (&row.env_prefix, &row.credentials_file) {
            (_, Some(file)) => Environment::file(&base.join(file))?,
            (Some(prefix), None) => Environment::prefixed(prefix),
            (None, None) => Environment::process(),
        };
        let credentials = EnvCredentials::from(&spec, env)?;
        let budget = budget_for(spec.instance.as_str());
        let mut options = WorkflowOptions::default();
        options.lease = options.lease.break_lease(break_lease);
        build_workflow(spec, credentials, options, None, Some(budget))
    })();
    match built {
        Ok(workflow) => FleetMember::new(&row.name, workflow),
        Err(exit) => FleetMember::not_started(&row.name, exit.message),
    }
}
