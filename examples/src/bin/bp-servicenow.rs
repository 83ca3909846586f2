//! `bp-servicenow`: plan, apply, verify and tear down the Bright Pattern ↔
//! ServiceNow OpenFrame integration; `bp-servicenow demo` runs it on built-in fakes.

fn main() -> std::process::ExitCode {
    bp_servicenow::cli::main()
}
