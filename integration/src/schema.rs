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
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use crate::report::SCHEMA_VERSION;

/// The generator the document schemas come from: JSON Schema 2020-12, as
/// the types serialise (so a key written every time is required).
pub fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
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
            let required = schema.as_value()["required"].as_array().unwrap().clone();
            let mut keys: Vec<&str> = required.iter().map(|k| k.as_str().unwrap()).collect();
            keys.sort_unstable();
            let before = keys.len();
            keys.dedup();
            assert_eq!(
                keys.len(),
                before,
                "{}: {required:?}",
                schema.as_value()["title"]
            );
        }
    }
}
