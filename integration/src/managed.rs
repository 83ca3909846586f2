//! The ownership protocol's vocabulary, shared by every step that manages a
//! record found by a configured name (OpenFrame configuration, CORS rule,
//! OAuth application, properties): whose the record is by the ledger, which of
//! several with the name is managed, and what is said of the others.
//!
//! Names are not unique on the platform: when several records share one, the
//! one the ledger records is managed (else the first), and the others are
//! reported by plan and verify and never touched. Undoing what the ledger
//! records (delete what was created, restore what was adopted, each only when
//! the record itself still agrees) is written once, in the crate's private
//! `ownership` module, for every kind of named record.

use servicenow_client::wire::SysId;

use crate::report::Check;

/// Whose a record with the configured name is, by the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ownership {
    /// There is none.
    Absent,
    /// This integration created it.
    Created,
    /// This integration adopted it (its previous values are recorded).
    Adopted,
    /// Someone else's.
    Foreign,
}

impl Ownership {
    /// Whose `found` is, given what the ledger recorded as created and adopted.
    pub fn of(found: Option<&SysId>, created: Option<&SysId>, adopted: Option<&SysId>) -> Self {
        match found {
            None => Ownership::Absent,
            Some(id) if created == Some(id) => Ownership::Created,
            Some(id) if adopted == Some(id) => Ownership::Adopted,
            Some(_) => Ownership::Foreign,
        }
    }
}

/// Splits records that share a name into the one to manage — the one `ours`
/// says is recorded, else the first — and the others.
pub fn pick<R>(mut all: Vec<R>, ours: impl Fn(&R) -> bool) -> (Option<R>, Vec<R>) {
    let at = all.iter().position(&ours).unwrap_or(0);
    if all.is_empty() {
        return (None, all);
    }
    let picked = all.remove(at);
    (Some(picked), all)
}

/// What plan and verify say of other records that share a configured name.
pub(crate) fn duplicates_text(kind: &str, name: &str, others: &[SysId]) -> String {
    format!(
        "{} more {kind}(s) named {name:?} ({}): bp-servicenow manages the one its ledger records and leaves these alone",
        others.len(),
        others
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The failing check verify gives for records that share a configured name.
pub(crate) fn duplicates_check(
    check: &str,
    kind: &str,
    name: &str,
    others: &[SysId],
) -> Option<Check> {
    (!others.is_empty()).then(|| {
        Check::fail(
            format!("{check} is the only one with its name"),
            duplicates_text(kind, name, others),
            "delete the extra ones by hand: bp-servicenow never deletes what it cannot prove it made",
        )
    })
}
