//! JSON Schemas of the documents the reports become ([`report::document`]),
//! derived from the report types themselves (`schemars`), so a schema cannot
//! drift from what is printed.
//!
//! A document is a report's own keys under three of every document's:
//! `schema_version` ([`SCHEMA_VERSION`]), `kind` (the command) and `status`.
//! The schemas describe documents as they are *written*: every key is
//! required (keys are stable: empty lists are `[]`, missing values `null`),
//! and unknown keys are allowed, since adding a key keeps the version.
//!
//! ```
//! use brightpattern_servicenow::{Plan, schema};
//!
//! let plan = schema::document::<Plan>("plan", &["ok", "held", "failed"]);
//! let json = plan.as_value();
//! assert_eq!(json["properties"]["kind"]["const"], "plan");
//! assert!(json["required"].as_array().unwrap().contains(&"steps".into()));
//! ```
//!
//! [`report::document`]: crate::report::document
//! [`SCHEMA_VERSION`]: crate::report::SCHEMA_VERSION

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use crate::report::SCHEMA_VERSION;

/// The generator the document schemas come from: JSON Schema 2020-12, as
/// the types serialise (so a key written every time is required).
/// The descriptions are the types' own documentation, read as text: an
/// intra-doc link keeps only its words.
pub fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .with_transform(RecursiveTransform(plain_descriptions as fn(&mut Schema)))
        .into_generator()
}

/// A description without rustdoc's intra-doc links.
fn plain_descriptions(schema: &mut Schema) {
    if let Some(Value::String(text)) = schema.get_mut("description") {
        *text = without_doc_links(text);
    }
}

/// `` [`Plan`] `` and `` [`Plan`](crate::Plan) `` as `` `Plan` ``; a link to
/// a web address stays as it is.
fn without_doc_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[`") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find("`]") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let (code, tail) = after.split_at(end + 1);
        let tail = &tail[1..];
        match tail.strip_prefix('(').and_then(|t| t.split_once(')')) {
            Some((target, _)) if target.contains("://") => {
                out.push_str(&rest[start..start + 1 + end + 2 + target.len() + 2]);
                rest = &tail[target.len() + 2..];
                continue;
            }
            Some((target, after_link)) if !target.contains(char::is_whitespace) => {
                out.push_str(code);
                rest = after_link;
            }
            _ => {
                out.push_str(code);
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The schema of the documents of `kind` whose report is an `R`, with the
/// `status` values it may carry.
pub fn document<R: JsonSchema>(kind: &str, statuses: &[&str]) -> Schema {
    let mut schema = generator().into_root_schema_for::<R>();
    schema.insert(
        "title".into(),
        format!("bp-servicenow {kind} document").into(),
    );
    with_header(&mut schema, kind, statuses);
    schema
}

/// Adds the keys every document carries to the object schema `schema`.
pub fn with_header(schema: &mut Schema, kind: &str, statuses: &[&str]) {
    let object = schema.ensure_object();
    let header = [
        (
            "schema_version",
            serde_json::json!({
                "description": "The version of the documents' shape: raised when a key is removed or changes meaning.",
                "const": SCHEMA_VERSION,
            }),
        ),
        (
            "kind",
            serde_json::json!({ "description": "The command.", "const": kind }),
        ),
        (
            "status",
            serde_json::json!({
                "description": "How the run stands, matching the exit code: ok, pending (a person must act), failed, held (another run holds the integration), error.",
                "enum": statuses,
            }),
        ),
    ];
    let properties = object
        .entry("properties")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Value::Object(properties) = properties {
        for (key, value) in &header {
            properties.insert((*key).into(), value.clone());
        }
    }
    let required = object
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(required) = required {
        for (key, _) in header.iter().rev() {
            if !required.iter().any(|k| k == key) {
                required.insert(0, (*key).into());
            }
        }
    }
}

/// `T`'s own schema (not a reference to it), its parts defined in
/// `generator`: for a document nested in another (a fleet row's).
pub fn inline<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    let reference = generator.subschema_for::<T>();
    let name = reference
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .map(str::to_owned);
    match name.and_then(|n| generator.definitions().get(&n).cloned()) {
        Some(definition) => Schema::try_from(definition).unwrap_or(reference),
        None => reference,
    }
}

/// The keys a document's schema requires more than once: a report's own
/// field and a flattened part's under one name (the later one would win).
#[cfg(test)]
pub(crate) fn keys_written_twice(schema: &Schema) -> Vec<String> {
    let mut keys: Vec<&str> = schema.as_value()["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    let mut twice: Vec<String> = keys
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0].to_owned())
        .collect();
    twice.dedup();
    twice
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ApplyReport, Plan};

    #[test]
    fn every_key_a_document_writes_is_required() {
        let schema = document::<ApplyReport>("apply", &["ok", "pending", "failed"]);
        let required: Vec<&str> = schema.as_value()["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        for key in [
            "schema_version",
            "kind",
            "status",
            "steps",
            "proofs",
            "writes",
            "lease_broken",
            "bookkeeping",
            "update_set",
        ] {
            assert!(required.contains(&key), "{key} not required: {required:?}");
        }
        assert_eq!(schema.as_value()["properties"]["kind"]["const"], "apply");
    }

    #[test]
    fn descriptions_keep_the_words_of_intra_doc_links() {
        assert_eq!(
            without_doc_links("see [`Plan`], [`held`](crate::Held) and [`x`](https://e.org/x)."),
            "see `Plan`, `held` and [`x`](https://e.org/x)."
        );
        assert_eq!(without_doc_links("a [`broken"), "a [`broken");
        assert_eq!(without_doc_links("[`a`] (not a link)"), "`a` (not a link)");
        let plan = document::<Plan>("plan", &["ok"]);
        assert!(
            !plan.as_value().to_string().contains("[`"),
            "no intra-doc link left in the plan's schema"
        );
    }

    #[test]
    fn a_key_required_twice_is_found() {
        let schema = schemars::json_schema!({ "required": ["a", "b", "a", "a"] });
        assert_eq!(keys_written_twice(&schema), ["a"]);
    }

    /// Two fields serialised under one key (a report's own and a flattened
    /// part's) would print the key twice, the later one winning: none does.
    #[test]
    fn no_report_writes_a_key_twice() {
        use crate::report::{
            RepairReport, SecretRotation, TeardownPlan, TeardownReport, VerifyReport,
        };
        for schema in [
            document::<Plan>("plan", &["ok"]),
            document::<ApplyReport>("apply", &["ok"]),
            document::<VerifyReport>("verify", &["ok"]),
            document::<TeardownPlan>("teardown-plan", &["ok"]),
            document::<TeardownReport>("teardown", &["ok"]),
            document::<RepairReport>("repair", &["ok"]),
            document::<SecretRotation>("rotate-secret", &["ok"]),
        ] {
            assert_eq!(
                keys_written_twice(&schema),
                Vec::<String>::new(),
                "{}",
                schema.as_value()["title"]
            );
        }
    }
}
