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

use crate::model::{Action, Change, FieldChange};
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

/// The record a step manages among those with its configured name, whose it
/// is, and the others (reported, never touched).
#[derive(Debug, Clone)]
pub(crate) struct Picked<R> {
    /// The one the ledger records (as created or adopted), else the first.
    pub(crate) record: Option<R>,
    /// Whose it is, by the ledger.
    pub(crate) ownership: Ownership,
    /// The others' sys_ids.
    pub(crate) duplicates: Vec<SysId>,
}

impl<R> Picked<R> {
    /// Picks among `all` (the records with the configured name) by what the
    /// ledger recorded as created and adopted.
    pub(crate) fn among(
        all: Vec<R>,
        sys_id: impl Fn(&R) -> &SysId,
        created: Option<&SysId>,
        adopted: Option<&SysId>,
    ) -> Self {
        let (record, others) = pick(all, |r| {
            let id = Some(sys_id(r));
            id == created || id == adopted
        });
        Picked {
            ownership: Ownership::of(record.as_ref().map(&sys_id), created, adopted),
            duplicates: others.iter().map(|r| sys_id(r).clone()).collect(),
            record,
        }
    }
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

/// What a step will do to the one record it finds by a configured name,
/// decided once from what it observed ([`decide`](RecordPlan::decide)): the
/// step's `change` renders it ([`change`](RecordPlan::change)) and its `apply`
/// carries it out. `W` is the record as it should be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RecordPlan<W> {
    /// A record with the name is someone else's and the spec does not adopt
    /// it: what is said of it.
    Refuse(String),
    /// None has the name: create this one.
    Create(W),
    /// The record differs in these columns (old and new values). One created
    /// here is written whole; one adopted now ([`Ownership::Foreign`]) or
    /// before gets only these columns, each previous value recorded first
    /// ([`adopts`](RecordPlan::adopts)).
    Update {
        /// The record.
        sys_id: SysId,
        /// As it should be.
        want: W,
        /// What differs.
        differing: Vec<FieldChange>,
        /// Whose it is.
        ownership: Ownership,
    },
    /// The record is as it should be.
    Unchanged,
}

impl<W> RecordPlan<W> {
    /// Decides from the managed record's sys_id (when one has the name), whose
    /// it is, whether the spec adopts it, and what differs from `want`.
    pub(crate) fn decide(
        found: Option<&SysId>,
        ownership: Ownership,
        adopt: bool,
        refusal: impl FnOnce() -> String,
        want: W,
        differing: Vec<FieldChange>,
    ) -> Self {
        match found {
            None => RecordPlan::Create(want),
            Some(_) if ownership == Ownership::Foreign && !adopt => RecordPlan::Refuse(refusal()),
            Some(_) if differing.is_empty() => RecordPlan::Unchanged,
            Some(sys_id) => RecordPlan::Update {
                sys_id: sys_id.clone(),
                want,
                differing,
                ownership,
            },
        }
    }

    /// Whether applying it adopts: only the differing columns are written, and
    /// their previous values are recorded first.
    pub(crate) fn adopts(&self) -> bool {
        matches!(
            self,
            RecordPlan::Update {
                ownership: Ownership::Adopted | Ownership::Foreign,
                ..
            }
        )
    }

    /// The plan as plans and reports show it: `created` gives the fields a
    /// new record shows; taking over someone else's record is an adoption,
    /// with a warning saying teardown restores it. `kind` and `name` say what
    /// the record is (`CORS rule`, its name).
    pub(crate) fn change(
        &self,
        kind: &str,
        name: &str,
        created: impl FnOnce(&W) -> Vec<FieldChange>,
    ) -> Change {
        match self {
            RecordPlan::Refuse(why) => Change::of(Action::Refuse, Vec::new()).with_warning(why),
            RecordPlan::Create(want) => Change::of(Action::Create, created(want)),
            RecordPlan::Unchanged => Change::unchanged(),
            RecordPlan::Update {
                differing,
                ownership,
                ..
            } => {
                let change = Change::of(Action::Update, differing.clone());
                if *ownership != Ownership::Foreign {
                    return change;
                }
                let mut change = change.with_warning(format!(
                    "adopting {kind} {name:?}: the previous value of every field changed is recorded, and teardown restores it"
                ));
                change.action = Action::Adopt;
                change
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: char) -> SysId {
        SysId::parse(&c.to_string().repeat(32)).unwrap()
    }

    fn differs() -> Vec<FieldChange> {
        vec![FieldChange::new("active", Some("false".into()), "true")]
    }

    #[test]
    fn a_plan_is_decided_from_whose_the_record_is_and_what_differs() {
        let refusal = || "not ours".to_owned();
        let decide = |found: Option<&SysId>, ownership, adopt, differing| {
            RecordPlan::decide(found, ownership, adopt, refusal, (), differing)
        };
        let a = id('a');
        assert_eq!(
            decide(None, Ownership::Absent, false, differs()),
            RecordPlan::Create(())
        );
        assert_eq!(
            decide(Some(&a), Ownership::Foreign, false, differs()),
            RecordPlan::Refuse("not ours".into())
        );
        // Someone else's record is refused even when nothing differs.
        assert!(matches!(
            decide(Some(&a), Ownership::Foreign, false, Vec::new()),
            RecordPlan::Refuse(_)
        ));
        assert_eq!(
            decide(Some(&a), Ownership::Created, false, Vec::new()),
            RecordPlan::Unchanged
        );
        let adopting = decide(Some(&a), Ownership::Foreign, true, differs());
        assert!(adopting.adopts());
        let change = adopting.change("CORS rule", "BP", |_| Vec::new());
        assert_eq!(change.action, Action::Adopt);
        assert!(change.warnings[0].contains("teardown restores it"));
        let ours = decide(Some(&a), Ownership::Created, false, differs());
        assert!(!ours.adopts());
        assert_eq!(
            ours.change("CORS rule", "BP", |_| Vec::new()).action,
            Action::Update
        );
        let adopted_before = decide(Some(&a), Ownership::Adopted, true, differs());
        assert!(adopted_before.adopts());
        assert_eq!(
            adopted_before
                .change("CORS rule", "BP", |_| Vec::new())
                .action,
            Action::Update,
            "adopted in an earlier run: an update now"
        );
    }
}
