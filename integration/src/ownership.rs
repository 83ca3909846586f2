//! The ownership protocol's undo, written once for every record a step finds
//! by a configured name (OpenFrame configuration, CORS rule, OAuth
//! application): what the ledger says this integration created is deleted,
//! what it adopted is put back — each only when the record itself still agrees
//! (it still has the name the spec gives, and whatever proof the kind asks
//! for, such as the OAuth application's mark). Everything else is reported and
//! left alone. Writes go through [`Context::write`], so a teardown preview runs
//! this same code and sends nothing.
//!
//! A record kind says how to read, find, delete and restore its records
//! ([`RecordKind`]); [`undo`] decides.

use std::collections::BTreeMap;

use async_trait::async_trait;
use servicenow_client::Result;
use servicenow_client::wire::SysId;

use crate::ledger::Adopted;
use crate::report::{Removal, RemovalOutcome};
use crate::step::{Context, StepResult};

/// A record read back by its sys_id.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// Its name now.
    pub(crate) name: String,
    /// Why, despite the ledger, it is not proven this integration's (a mark
    /// missing), when that is so.
    pub(crate) unproven: Option<String>,
}

/// What the protocol needs of one kind of named record.
#[async_trait]
pub(crate) trait RecordKind: Send + Sync {
    /// For people: `CORS rule`.
    fn kind(&self) -> &'static str;

    /// The record named `name`, for people: `CORS rule "Bright Pattern"`.
    fn resource(&self, name: &str) -> String {
        format!("{} {name:?}", self.kind())
    }

    /// The record with this sys_id, when it exists.
    async fn read(&self, ctx: &Context, id: &SysId) -> Result<Option<Found>>;

    /// A record with this name, when one exists (reported, never touched,
    /// when the ledger names none).
    async fn find(&self, ctx: &Context, name: &str) -> Result<Option<SysId>>;

    /// Deletes it.
    async fn delete(&self, ctx: &Context, id: &SysId) -> Result<()>;

    /// Puts these previous values back.
    async fn restore(
        &self,
        ctx: &Context,
        id: &SysId,
        previous: &BTreeMap<String, String>,
    ) -> Result<()>;
}

/// What the ledger says this integration did to the record named `name`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recorded<'a> {
    /// It created this one.
    pub(crate) created: Option<&'a SysId>,
    /// It adopted this one (with the previous values), which must still have
    /// the name `adopted_as` (the spec's adopted name).
    pub(crate) adopted: Option<&'a Adopted>,
    /// The name the adopted record must still have.
    pub(crate) adopted_as: &'a str,
    /// The columns the step sets: the only ones put back.
    pub(crate) managed_fields: &'a [&'a str],
}

/// Undoes what `recorded` says, deciding from the spec's `name` and the record
/// itself. The caller clears its ledger entries afterwards.
pub(crate) async fn undo<K: RecordKind>(
    kind: &K,
    ctx: &Context,
    name: &str,
    recorded: Recorded<'_>,
) -> StepResult<Vec<Removal>> {
    let resource = kind.resource(name);
    let mut removals = Vec::new();
    if let Some(adopted) = recorded.adopted {
        let id = &adopted.sys_id;
        let resource = kind.resource(recorded.adopted_as);
        removals.push(match kind.read(ctx, id).await? {
            None => Removal::new(
                &resource,
                RemovalOutcome::AlreadyGone,
                format!("{id} no longer exists"),
            ),
            Some(found) if found.name != recorded.adopted_as => Removal::new(
                &resource,
                RemovalOutcome::LeftAlone,
                format!(
                    "the ledger names {id}, which is the {} {:?}, not the adopted one: nothing restored",
                    kind.kind(),
                    found.name
                ),
            ),
            Some(_) => {
                let (previous, refused) = adopted.restorable(recorded.managed_fields);
                ctx.write(kind.restore(ctx, id, &previous)).await?;
                Removal::restored(&resource, &previous, &refused)
            }
        });
    }
    match recorded.created {
        Some(id) => removals.push(match kind.read(ctx, id).await? {
            None => Removal::new(
                &resource,
                RemovalOutcome::AlreadyGone,
                format!("{id} no longer exists"),
            ),
            Some(found) if found.name != name => Removal::new(
                &resource,
                RemovalOutcome::LeftAlone,
                format!(
                    "the ledger names {id}, which is the {} {:?}, not ours",
                    kind.kind(),
                    found.name
                ),
            ),
            Some(Found {
                unproven: Some(why),
                ..
            }) => Removal::new(
                &resource,
                RemovalOutcome::LeftAlone,
                format!("{id} {why}: not proven ours"),
            ),
            Some(_) => {
                ctx.write(kind.delete(ctx, id)).await?;
                Removal::new(
                    &resource,
                    RemovalOutcome::Removed,
                    format!("created by bp-servicenow ({id})"),
                )
            }
        }),
        None if recorded.adopted.is_some() => {}
        None => {
            if let Some(found) = kind.find(ctx, name).await? {
                removals.push(Removal::new(
                    &resource,
                    RemovalOutcome::LeftAlone,
                    format!("{found} was not created by bp-servicenow"),
                ));
            }
        }
    }
    Ok(removals)
}
