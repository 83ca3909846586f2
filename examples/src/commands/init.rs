//! `bp-servicenow init`: write a commented starter configuration (asks for
//! the instance and the tenant on a terminal; never overwrites).

use std::io::{BufRead, IsTerminal, Write};

use brightpattern_servicenow::IntegrationSpec;

use crate::commands::InitArgs;
use crate::exit::{EXIT_OK, Exit};

/// The commented starter configuration `init` writes.
const STARTER: &str = include_str!("../../bp-servicenow.example.toml");

/// Writes the starter configuration, asking for what the flags do not give when
/// a person is at the terminal; never overwrites.
pub(crate) fn exec(args: &InitArgs) -> Result<u8, Exit> {
    if args.config.exists() {
        return Err(Exit::usage(format!(
            "{} exists already: bp-servicenow init never overwrites (remove it, or pass --config for another file)",
            args.config.display()
        )));
    }
    let terminal = std::io::stdin().is_terminal();
    // Asks for `what` (its flag `flag`) until the answer is not empty; an
    // end of input stops.
    let ask = |what: &str, flag: &str, example: &str| -> Result<String, Exit> {
        if !terminal {
            return Err(Exit::usage(format!(
                "pass --{flag} (standard input is not a terminal to ask on)"
            )));
        }
        loop {
            eprint!("{what} (for example {example}): ");
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            let read = std::io::stdin()
                .lock()
                .read_line(&mut answer)
                .map_err(|e| Exit::usage(format!("cannot read the {what}: {e}")))?;
            if read == 0 {
                return Err(Exit::usage(format!(
                    "no {what} given (end of input): nothing was written"
                )));
            }
            let answer = answer.trim();
            if !answer.is_empty() {
                return Ok(answer.to_owned());
            }
            eprintln!("the {what} is needed: a name or an https origin");
        }
    };
    let instance = match &args.instance {
        Some(i) => i.clone(),
        None => ask("ServiceNow instance", "instance", "dev12345")?,
    };
    let tenant = match &args.tenant {
        Some(t) => t.clone(),
        None => ask("Bright Pattern tenant", "tenant", "example")?,
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
