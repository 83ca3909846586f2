//! `bp-servicenow man`: the manual pages (roff): the tool's, which names a
//! page per subcommand (`bp-servicenow-plan(1)`, …), and each of those.

use std::path::Path;

use crate::commands::{Cli, ManArgs};
use crate::exit::{EXIT_OK, Exit};

/// Prints a page, or writes them all.
pub(crate) fn exec(args: &ManArgs) -> Result<u8, Exit> {
    let mut tool = <Cli as clap::CommandFactory>::command();
    tool.build();
    if let Some(dir) = &args.out_dir {
        return write_all(&tool, dir);
    }
    let page = match &args.subcommand {
        None => tool,
        Some(name) => subcommand_page(&tool, name)?,
    };
    clap_mangen::Man::new(page)
        .render(&mut std::io::stdout())
        .map_err(|e| Exit::failure(format!("cannot write the manual page: {e}")))?;
    Ok(EXIT_OK)
}

/// The page of one subcommand, titled as the tool's page names it.
fn subcommand_page(tool: &clap::Command, name: &str) -> Result<clap::Command, Exit> {
    let sub = tool.find_subcommand(name).ok_or_else(|| {
        let names: Vec<&str> = tool
            .get_subcommands()
            .map(clap::Command::get_name)
            .collect();
        Exit::usage(format!(
            "no subcommand {name:?}: one of {}",
            names.join(", ")
        ))
    })?;
    let title = format!("{}-{}", tool.get_name(), sub.get_name());
    Ok(sub.clone().name(title))
}

/// Writes the tool's page and every page it names.
fn write_all(tool: &clap::Command, dir: &Path) -> Result<u8, Exit> {
    let write = |command: clap::Command| -> Result<(), Exit> {
        let path = dir.join(format!("{}.1", command.get_name()));
        let mut text = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut text)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|e| Exit::failure(format!("cannot write {}: {e}", path.display())))
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| Exit::usage(format!("cannot create {}: {e}", dir.display())))?;
    write(tool.clone())?;
    for sub in tool.get_subcommands() {
        write(subcommand_page(tool, sub.get_name())?)?;
    }
    eprintln!("wrote the manual pages into {}", dir.display());
    Ok(EXIT_OK)
}
