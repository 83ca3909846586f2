//! The ledger: what this workflow created, kept on the instance so that teardown
//! (on any machine, in any later run) removes exactly that.
//!
//! The ledger is JSON in system properties named
//! `bp_servicenow.ledger.<tenant>.<n>` (chunks of at most [`CHUNK_CHARS`]
//! characters, so a thousand grant ids fit). A record with the workflow's name
//! that is not in the ledger was made by someone else: the workflow may update it
//! to match the spec, but teardown leaves it alone and says so.

use std::collections::BTreeMap;

use futures_util::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use servicenow_client::properties::SystemProperty;
use servicenow_client::query::Query;
use servicenow_client::wire::SysId;
use servicenow_client::{Client, Result};

/// The longest chunk written into one property value.
pub const CHUNK_CHARS: usize = 3500;

/// What the workflow created (and so may remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// The OpenFrame configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openframe: Option<SysId>,
    /// The postMessage allow-list entry the workflow added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_list_entry: Option<String>,
    /// Direct grants of the role, by user name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_grants: BTreeMap<String, SysId>,
    /// Group grants of the role, by group name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_grants: BTreeMap<String, SysId>,
    /// The CORS rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_rule: Option<SysId>,
    /// The OAuth application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_application: Option<SysId>,
    /// The Bright Pattern integration account, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_account: Option<String>,
}

impl Ledger {
    /// Whether it records nothing.
    pub fn is_empty(&self) -> bool {
        self == &Ledger::default()
    }
}

/// Where a ledger is kept: system properties of the instance.
#[derive(Debug, Clone)]
pub struct LedgerStore {
    client: Client,
    prefix: String,
}

struct Chunk {
    sys_id: SysId,
    index: usize,
    value: String,
}

impl LedgerStore {
    /// The ledger of the integration with this tenant host.
    pub fn new(client: Client, tenant_host: &str) -> Self {
        let key: String = tenant_host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            client,
            prefix: format!("bp_servicenow.ledger.{key}."),
        }
    }

    /// The property names' prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn chunks(&self) -> Result<Vec<Chunk>> {
        Ok(self.chunks_and(&[]).await?.0)
    }

    /// The ledger's chunks and, in the same request, the properties named in `also`.
    async fn chunks_and(&self, also: &[&str]) -> Result<(Vec<Chunk>, Vec<SystemProperty>)> {
        let mut query = Query::new().starts_with("name", self.prefix.clone());
        for name in also {
            query = query.or().eq("name", *name);
        }
        let rows: Vec<SystemProperty> = self
            .client
            .table::<SystemProperty>()
            .list(query)
            .try_collect()
            .await?;
        let (rows, others): (Vec<SystemProperty>, Vec<SystemProperty>) = rows
            .into_iter()
            .partition(|p| p.name.starts_with(&self.prefix));
        let mut chunks: Vec<Chunk> = rows
            .into_iter()
            .filter_map(|p| {
                let index = p.name.strip_prefix(&self.prefix)?.parse().ok()?;
                Some(Chunk {
                    sys_id: p.sys_id,
                    index,
                    value: p.value,
                })
            })
            .collect();
        chunks.sort_by_key(|c| c.index);
        Ok((chunks, others))
    }

    /// Reads the ledger (empty when there is none). One request.
    pub async fn load(&self) -> Result<Ledger> {
        Ok(self.load_with(&[]).await?.0)
    }

    /// Reads the ledger and, in the same request, the properties named in `also`.
    pub async fn load_with(&self, also: &[&str]) -> Result<(Ledger, Vec<SystemProperty>)> {
        let (chunks, others) = self.chunks_and(also).await?;
        Ok((self.parse(&chunks)?, others))
    }

    fn parse(&self, chunks: &[Chunk]) -> Result<Ledger> {
        if chunks.is_empty() {
            return Ok(Ledger::default());
        }
        let text: String = chunks.iter().map(|c| c.value.as_str()).collect();
        serde_json::from_str(&text).map_err(|e| {
            servicenow_client::Error::from(servicenow_client::error::InvalidInput::new(
                "ledger",
                format!(
                    "the properties {}* do not hold a readable ledger ({e}); fix or delete them",
                    self.prefix
                ),
            ))
        })
    }

    /// Writes the ledger, touching only the chunks that change; an empty ledger
    /// removes every chunk.
    pub async fn save(&self, ledger: &Ledger) -> Result<()> {
        let existing = self.chunks().await?;
        let text = if ledger.is_empty() {
            String::new()
        } else {
            serde_json::to_string(ledger).unwrap_or_default()
        };
        let wanted: Vec<String> = text
            .chars()
            .collect::<Vec<_>>()
            .chunks(CHUNK_CHARS)
            .map(|c| c.iter().collect())
            .collect();
        let table = self.client.table::<SystemProperty>();
        for (index, value) in wanted.iter().enumerate() {
            match existing.iter().find(|c| c.index == index) {
                Some(chunk) if &chunk.value == value => {}
                Some(chunk) => {
                    table
                        .update(&chunk.sys_id, &serde_json::json!({ "value": value }))
                        .await?;
                }
                None => {
                    table
                        .create(&serde_json::json!({
                            "name": format!("{}{index}", self.prefix),
                            "value": value,
                            "type": "string",
                            "description": "Managed by bp-servicenow: the records it created, so teardown removes only those. Do not edit.",
                        }))
                        .await?;
                }
            }
        }
        for chunk in existing.iter().filter(|c| c.index >= wanted.len()) {
            table.delete(&chunk.sys_id).await?;
        }
        Ok(())
    }
}
