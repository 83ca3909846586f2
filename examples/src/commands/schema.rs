//! `bp-servicenow schema`: the JSON Schema of each kind of document the tool
//! prints under `--json` (`crate::documents`), one kind or every one.

use std::path::Path;

use crate::commands::SchemaArgs;
use crate::documents::{KINDS, Kind};
use crate::exit::{EXIT_OK, Exit};

/// Prints a kind's schema, or writes them all.
pub(crate) fn exec(args: &SchemaArgs) -> Result<u8, Exit> {
    if let Some(dir) = &args.out_dir {
        return write_all(dir);
    }
    let name = args.kind.as_deref().unwrap_or_default();
    let kind = Kind::named(name).ok_or_else(|| {
        let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        Exit::usage(format!(
            "no kind of document {name:?}: one of {}",
            names.join(", ")
        ))
    })?;
    #[allow(clippy::print_stdout)] // the schema is the command's output
    {
        print!("{}", text(kind));
    }
    Ok(EXIT_OK)
}

/// A schema as written: pretty JSON, ending in a newline.
pub(crate) fn text(kind: &Kind) -> String {
    let mut text = serde_json::to_string_pretty(&kind.schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes `<kind>.schema.json` for every kind into `dir`.
fn write_all(dir: &Path) -> Result<u8, Exit> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Exit::usage(format!("cannot create {}: {e}", dir.display())))?;
    for kind in KINDS {
        let path = dir.join(format!("{}.schema.json", kind.name));
        std::fs::write(&path, text(kind))
            .map_err(|e| Exit::failure(format!("cannot write {}: {e}", path.display())))?;
    }
    eprintln!("wrote {} JSON Schemas into {}", KINDS.len(), dir.display());
    Ok(EXIT_OK)
}
