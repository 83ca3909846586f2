//! The ledger: what this workflow created, kept on the instance so that teardown
//! (on any machine, in any later run) removes exactly that.
//!
//! # Where it lives, and whose it is
//!
//! The ledger is JSON in system properties whose names start with the
//! integration's [`LedgerKey`]: `bp_servicenow.<tenant>.<digest>.` where the digest
//! covers the instance, the tenant and the spec's own names (OpenFrame
//! configuration, CORS rule, OAuth application, integration account). Two
//! configurations on one tenant never share a ledger; a change of names in the spec
//! is a new integration (plan says so when it finds the old one).
//!
//! Every row is created with `ignore_cache = true` (a write to a property whose
//! flag is false flushes the whole system cache on every node) and
//! `is_private = true` (update sets leave private properties out), so keeping
//! the ledger never costs the instance a cache flush and never travels to
//! another instance in an administrator's update set. Rows an older version
//! made without them are listed when read ([`Loaded::unflagged`]) for the next
//! writing run to correct ([`LedgerStore::flag`]).
//!
//! # Every integration on the instance
//!
//! One read brings the ledgers of every integration on the instance (every
//! tenant's), so that records several of them need — the postMessage
//! allow-list entry, role grants — are shared per instance: teardown leaves
//! one that another integration's ledger still records.
//!
//! # Crash-atomic
//!
//! At any moment the ledger reads as the state before a save or after it, never
//! half of it. A ledger that fits in one property lives in the **head** property
//! itself (`<prefix>head`), and a save is one update of that row. A larger one is
//! written as a new **generation** of chunks (`<prefix>g<gen>.<n>`) first; then the
//! head is switched to it in one update; then the old generation is deleted. A
//! kill between any two requests leaves the old head (and its complete
//! generation) or the new one; chunks no head points at are leftovers, ignored when
//! read and removed by the next save.

use std::collections::BTreeMap;

use futures_util::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use servicenow_client::properties::SystemProperty;
use servicenow_client::query::Query;
use servicenow_client::wire::SysId;
use servicenow_client::{Client, Result};

use crate::lease::own_row;

/// The longest chunk written into one property value.
pub const CHUNK_CHARS: usize = 3500;

/// What every ledger property's name starts with, whatever the tenant.
pub const ROOT: &str = "bp_servicenow.";

/// What a property of the ledger says about itself.
const DESCRIPTION: &str = "Managed by bp-servicenow: the records it created, so teardown removes only those. Do not edit; `bp-servicenow repair` rebuilds it.";

/// A record the workflow adopted: it existed, the spec said to take it over, and
/// these were its values before, restored by teardown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adopted {
    /// The record.
    pub sys_id: SysId,
    /// Each field the workflow sets, with the value it had before.
    pub previous: BTreeMap<String, String>,
}

/// What the workflow created (and so may remove) or adopted (and so restores).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// The OpenFrame configuration created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openframe: Option<SysId>,
    /// The OpenFrame configuration adopted (the seed page's step 2 edits CTI's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openframe_adopted: Option<Adopted>,
    /// The postMessage allow-list entry the workflow added (recorded before the
    /// property is written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_list_entry: Option<String>,
    /// Direct grants of the role, by user name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_grants: BTreeMap<String, SysId>,
    /// Group grants of the role, by group name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_grants: BTreeMap<String, SysId>,
    /// The CORS rule created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_rule: Option<SysId>,
    /// The CORS rule adopted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_adopted: Option<Adopted>,
    /// The OAuth application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_application: Option<SysId>,
    /// The Bright Pattern integration account, by name (recorded before it is
    /// created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_account: Option<String>,
    /// The sections of steps registered by the caller, by step id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub steps: BTreeMap<String, serde_json::Value>,
    /// Manual steps a person said are done (`confirm`), by step id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub confirmed: BTreeMap<String, Confirmation>,
    /// A switch of the administrator's current update set that a run made
    /// and has not put back yet (recorded before the switch): the next
    /// writing run puts it back if the run stopped first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_set_switch: Option<UpdateSetSwitch>,
}

/// A person's word that a manual step is done (`bp-servicenow confirm
/// <step>`): who, when, and the values the step asked for then. It counts only
/// while the step asks for the same values (a new OAuth application, say, makes
/// the step pending again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Confirmation {
    /// Who confirmed it.
    pub by: String,
    /// When, in ms since the Unix epoch.
    pub at_ms: u64,
    /// The values the manual step asked for, by label (secrets left out).
    pub values: BTreeMap<String, String>,
}

impl Confirmation {
    /// The values of `manual` a confirmation is bound to: every field by its
    /// label, a secret's only as whether it was known.
    pub fn values_of(manual: &crate::model::ManualStep) -> BTreeMap<String, String> {
        manual
            .fields
            .iter()
            .map(|f| {
                let value = match &f.value {
                    crate::model::ManualValue::Text(text) => text.clone(),
                    crate::model::ManualValue::Secret(_) => "(a secret)".to_owned(),
                };
                (f.label.clone(), value)
            })
            .collect()
    }
}

/// A run's switch of the administrator's current update set
/// (`[servicenow] update_set`), kept until the previous choice is back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateSetSwitch {
    /// The administrator (`sys_user`).
    pub user: SysId,
    /// The update set the run made current.
    pub update_set: SysId,
    /// What the administrator's `sys_update_set` preference was before.
    pub previous: servicenow_client::update_sets::PreviousPreference,
}

impl Adopted {
    /// Records the previous value of each field about to change that is not
    /// recorded yet (a field changed before keeps its first, original value).
    pub fn remember<'a>(
        existing: Option<&Adopted>,
        sys_id: &SysId,
        changes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Adopted {
        let mut adopted = match existing {
            Some(a) if &a.sys_id == sys_id => a.clone(),
            _ => Adopted {
                sys_id: sys_id.clone(),
                previous: BTreeMap::new(),
            },
        };
        for (field, old) in changes {
            adopted
                .previous
                .entry(field.to_owned())
                .or_insert_with(|| old.to_owned());
        }
        adopted
    }
}

impl Adopted {
    /// The previous values teardown may put back: only those of `fields`, the
    /// fields the step sets (a ledger edited to name another field is not
    /// obeyed). The fields left out are returned too, to be reported.
    pub fn restorable(&self, fields: &[&str]) -> (BTreeMap<String, String>, Vec<String>) {
        let (ok, refused): (BTreeMap<_, _>, BTreeMap<_, _>) = self
            .previous
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .partition(|(k, _)| fields.contains(&k.as_str()));
        (ok, refused.into_keys().collect())
    }
}

impl Ledger {
    /// Whether it records nothing.
    pub fn is_empty(&self) -> bool {
        self == &Ledger::default()
    }
}

/// The identity of one integration: instance, tenant and the spec's names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LedgerKey {
    tenant: String,
    digest: String,
}

fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// FNV-1a, 64 bits: stable across runs, platforms and versions (the key must not
/// change when the tool is upgraded).
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0x1f)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

impl LedgerKey {
    /// The key of the integration between `instance` and `tenant` with these names
    /// (OpenFrame configuration, CORS rule, OAuth application, integration account).
    pub fn new(instance: &str, tenant_host: &str, names: &[&str]) -> Self {
        let mut parts = vec![instance, tenant_host];
        parts.extend_from_slice(names);
        Self {
            tenant: sanitize(tenant_host),
            digest: format!("{:016x}", fnv1a(&parts)),
        }
    }

    /// The prefix of every property of this integration (`bp_servicenow.<tenant>.<digest>.`).
    pub fn prefix(&self) -> String {
        format!("{}{}.", Self::tenant_prefix_of(&self.tenant), self.digest)
    }

    /// The prefix shared by every integration with this tenant.
    pub fn tenant_prefix(&self) -> String {
        Self::tenant_prefix_of(&self.tenant)
    }

    fn tenant_prefix_of(tenant: &str) -> String {
        format!("{ROOT}{tenant}.")
    }

    /// The short form that marks records (`<tenant>.<digest>`).
    pub fn short(&self) -> String {
        format!("{}.{}", self.tenant, self.digest)
    }
}

/// What the head property holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
enum Head {
    /// The whole ledger, in the head itself.
    Inline { ledger: Box<Ledger> },
    /// The ledger in `chunks` chunks of generation `generation`.
    Chunked { generation: u64, chunks: usize },
}

/// A ledger as read: its content and the rows it lives in.
#[derive(Debug, Clone, Default)]
struct Stored {
    head: Option<SystemProperty>,
    generation: u64,
    /// Chunk rows of every generation: (generation, index, row).
    chunks: Vec<(u64, usize, SystemProperty)>,
    /// The integration's lease rows ([`crate::lease`]), read with it.
    leases: Vec<SystemProperty>,
}

impl Stored {
    /// The rows (head, chunks, leases) that lack `ignore_cache` or `is_private`.
    fn unflagged(&self) -> Vec<SysId> {
        self.head
            .iter()
            .chain(self.chunks.iter().map(|(_, _, row)| row))
            .chain(self.leases.iter())
            .filter(|row| row.ignore_cache != Some(true) || row.is_private != Some(true))
            .map(|row| row.sys_id.clone())
            .collect()
    }
}

/// Why a ledger could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the ledger {prefix}* cannot be read: {reason}; run `bp-servicenow repair` to rebuild it from the records' marks"
)]
pub struct CorruptLedger {
    /// The properties' prefix.
    pub prefix: String,
    /// What is wrong.
    pub reason: String,
}

/// Where a ledger is kept: system properties of the instance.
#[derive(Debug, Clone)]
pub struct LedgerStore {
    client: Client,
    key: LedgerKey,
}

impl LedgerStore {
    /// The ledger of the integration with this key.
    pub fn new(client: Client, key: LedgerKey) -> Self {
        Self { client, key }
    }

    /// The integration's key.
    pub fn key(&self) -> &LedgerKey {
        &self.key
    }

    /// The same store on a read-only client (a preview's: saving fails).
    pub(crate) fn read_only(&self) -> Self {
        Self {
            client: self.client.read_only(),
            key: self.key.clone(),
        }
    }

    /// The property names' prefix.
    pub fn prefix(&self) -> String {
        self.key.prefix()
    }

    fn head_name(&self) -> String {
        format!("{}head", self.prefix())
    }

    /// Reads the ledger's rows and, in the same request, the properties named in
    /// `also` and the heads of every other integration on the instance.
    #[allow(clippy::type_complexity)]
    async fn read(
        &self,
        also: &[&str],
    ) -> Result<(Stored, Vec<SystemProperty>, Vec<(String, Stored)>)> {
        let prefix = self.prefix();
        let mut query = Query::new().starts_with("name", ROOT);
        for name in also {
            query = query.or().eq("name", *name);
        }
        let rows: Vec<SystemProperty> = self
            .client
            .table::<SystemProperty>()
            .list(query.order_by("name"))
            .try_collect()
            .await?;
        let mut by_integration: BTreeMap<String, Stored> = BTreeMap::new();
        let mut others = Vec::new();
        for row in rows {
            let Some(rest) = row.name.strip_prefix(ROOT) else {
                others.push(row);
                continue;
            };
            // <tenant>.<digest>.<rest>
            let mut parts = rest.splitn(3, '.');
            let (Some(tenant), Some(digest), Some(rest)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let integration = format!("{ROOT}{tenant}.{digest}.");
            let stored = by_integration.entry(integration).or_default();
            if rest == "head" {
                stored.head = Some(row);
            } else if rest.starts_with("lease.") {
                stored.leases.push(row);
            } else if let Some((generation, index)) = rest
                .strip_prefix('g')
                .and_then(|r| r.split_once('.'))
                .and_then(|(g, i)| Some((g.parse().ok()?, i.parse().ok()?)))
            {
                stored.chunks.push((generation, index, row));
            }
        }
        for stored in by_integration.values_mut() {
            stored.chunks.sort_by_key(|(g, i, _)| (*g, *i));
        }
        let stored = by_integration.remove(&prefix).unwrap_or_default();
        // The other integrations on the instance: those with a head.
        let neighbours = by_integration
            .into_iter()
            .filter(|(_, s)| s.head.is_some())
            .collect();
        Ok((stored, others, neighbours))
    }

    fn parse(&self, stored: &mut Stored) -> std::result::Result<Ledger, CorruptLedger> {
        parse_stored(&self.prefix(), stored)
    }
}

fn parse_stored(prefix: &str, stored: &mut Stored) -> std::result::Result<Ledger, CorruptLedger> {
    {
        let corrupt = |reason: String| CorruptLedger {
            prefix: prefix.to_owned(),
            reason,
        };
        let Some(head) = &stored.head else {
            // No head: nothing saved yet (leftover chunks of a save killed before
            // its first head are not a ledger).
            return Ok(Ledger::default());
        };
        let parsed: Head = serde_json::from_str(&head.value)
            .map_err(|e| corrupt(format!("its head does not parse ({e})")))?;
        match parsed {
            Head::Inline { ledger } => Ok(*ledger),
            Head::Chunked { generation, chunks } => {
                stored.generation = generation;
                let parts: Vec<&str> = stored
                    .chunks
                    .iter()
                    .filter(|(g, _, _)| *g == generation)
                    .map(|(_, _, row)| row.value.as_str())
                    .collect();
                if parts.len() != chunks {
                    return Err(corrupt(format!(
                        "generation {generation} should have {chunks} chunks, {} found",
                        parts.len()
                    )));
                }
                serde_json::from_str(&parts.concat())
                    .map_err(|e| corrupt(format!("generation {generation} does not parse ({e})")))
            }
        }
    }
}

impl LedgerStore {
    /// The raw text of every property of this ledger (head and chunks of every
    /// generation), for [`repair`](crate::Workflow::repair) to salvage what a
    /// damaged ledger still says.
    pub async fn raw_text(&self) -> Result<String> {
        let (stored, _, _) = self.read(&[]).await?;
        Ok(stored
            .head
            .iter()
            .map(|h| h.value.as_str())
            .chain(stored.chunks.iter().map(|(_, _, r)| r.value.as_str()))
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// Reads the ledger (empty when there is none). One request.
    pub async fn load(&self) -> Result<std::result::Result<Ledger, CorruptLedger>> {
        Ok(self.load_with(&[]).await?.ledger)
    }

    /// Reads the ledger and, in the same request, the properties named in `also`
    /// and the other integrations on the instance.
    pub async fn load_with(&self, also: &[&str]) -> Result<Loaded> {
        let (mut stored, properties, neighbours) = self.read(also).await?;
        let ledger = self.parse(&mut stored);
        let held = crate::lease::live_holder(&stored.leases);
        let unflagged = stored.unflagged();
        let tenant_prefix = self.key.tenant_prefix();
        let mut other_integrations = Vec::new();
        let mut neighbour_ledgers = Vec::new();
        for (prefix, mut stored) in neighbours {
            if let Ok(ledger) = parse_stored(&prefix, &mut stored) {
                neighbour_ledgers.push(ledger);
            }
            if prefix.starts_with(&tenant_prefix) {
                other_integrations.push(prefix);
            }
        }
        Ok(Loaded {
            ledger,
            properties,
            other_integrations,
            neighbours: neighbour_ledgers,
            held,
            unflagged,
        })
    }

    /// Marks rows of this ledger `ignore_cache = true` and `is_private = true`
    /// (rows an older version made without them): one update each.
    pub async fn flag(&self, rows: &[SysId]) -> Result<()> {
        let table = self.client.table::<SystemProperty>();
        for row in rows {
            table
                .update(
                    row,
                    &serde_json::json!({ "ignore_cache": "true", "is_private": "true" }),
                )
                .await?;
        }
        Ok(())
    }

    /// Writes the ledger so that a reader sees either the old one or this one; an
    /// empty ledger removes every property of it.
    pub async fn save(&self, ledger: &Ledger) -> Result<()> {
        let (mut stored, _, _) = self.read(&[]).await?;
        // A corrupt head is replaced; its chunks are leftovers.
        let _ = self.parse(&mut stored);
        let table = self.client.table::<SystemProperty>();
        if ledger.is_empty() {
            for (_, _, row) in &stored.chunks {
                table.delete(&row.sys_id).await?;
            }
            if let Some(head) = &stored.head {
                table.delete(&head.sys_id).await?;
            }
            return Ok(());
        }
        let text = serde_json::to_string(ledger).unwrap_or_default();
        let inline = serde_json::to_string(&Head::Inline {
            ledger: Box::new(ledger.clone()),
        })
        .unwrap_or_default();
        let head_value = if inline.chars().count() <= CHUNK_CHARS {
            inline
        } else {
            // Above every generation present, leftovers of a killed save included.
            let generation = stored
                .chunks
                .iter()
                .map(|(g, _, _)| *g)
                .max()
                .unwrap_or(0)
                .max(stored.generation)
                + 1;
            let chunks: Vec<String> = text
                .chars()
                .collect::<Vec<_>>()
                .chunks(CHUNK_CHARS)
                .map(|c| c.iter().collect())
                .collect();
            for (index, value) in chunks.iter().enumerate() {
                table
                    .create(&own_row(
                        &format!("{}g{generation}.{index}", self.prefix()),
                        value,
                        DESCRIPTION,
                    ))
                    .await?;
            }
            serde_json::to_string(&Head::Chunked {
                generation,
                chunks: chunks.len(),
            })
            .unwrap_or_default()
        };
        match &stored.head {
            Some(head) if head.value == head_value => {}
            Some(head) => {
                table
                    .update(&head.sys_id, &serde_json::json!({ "value": head_value }))
                    .await?;
            }
            None => {
                table
                    .create(&own_row(&self.head_name(), &head_value, DESCRIPTION))
                    .await?;
            }
        }
        // The head now points at the new generation (or holds the ledger): every
        // older chunk is a leftover.
        let current: Option<u64> = serde_json::from_str::<Head>(&head_value)
            .ok()
            .and_then(|h| match h {
                Head::Chunked { generation, .. } => Some(generation),
                Head::Inline { .. } => None,
            });
        for (generation, _, row) in &stored.chunks {
            if Some(*generation) != current {
                table.delete(&row.sys_id).await?;
            }
        }
        Ok(())
    }
}

/// A ledger as loaded, with what was read alongside it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The ledger, or why it cannot be read.
    pub ledger: std::result::Result<Ledger, CorruptLedger>,
    /// The properties asked for.
    pub properties: Vec<SystemProperty>,
    /// The prefixes of the tenant's other integrations (other spec names).
    pub other_integrations: Vec<String>,
    /// The ledgers (those that can be read) of every other integration on the
    /// instance, whatever its tenant: what they created or share, and so what
    /// a shared record (an allow-list entry, a grant) is still needed by.
    pub neighbours: Vec<Ledger>,
    /// The run that holds the integration's lease now, if one does (read in the
    /// same request; nothing is taken). Read by a run that holds the lease
    /// itself, this is that run.
    pub held: Option<crate::lease::LeaseHolder>,
    /// This integration's rows (head, chunks, leases) that lack
    /// `ignore_cache = true` or `is_private = true`: made by an older
    /// version, corrected by the next writing run ([`LedgerStore::flag`]).
    pub unflagged: Vec<SysId>,
}
