//! One run at a time per integration: a lease on the instance.
//!
//! The Table API documents no unique constraint, so the lease is made of what it
//! offers: each contender inserts a row of its own (a system property
//! `<ledger prefix>lease.<holder id>` holding who, where, since when, until when),
//! then reads every lease row of the integration. A contender whose row is the
//! only live one holds the lease; any other deletes its row and is refused at once
//! ([`LeaseHeld`], exit code 5 in the command-line tool), naming the holder. Two
//! contenders that insert at the same moment may both see each other: both step
//! back, and each tries once more after a short random pause, so one of them gets
//! it. No two contenders ever both hold it: the one that read first saw only
//! itself, so the other's row was not yet there, so the other's read sees the
//! first's row.
//!
//! A lease expires (default ten minutes) unless renewed; the holder renews it
//! while it runs. A lease left by a dead run can be taken over after it expires,
//! or at once with `break_lease`, which reports whose it was.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use servicenow_client::properties::SystemProperty;
use servicenow_client::query::Query;
use servicenow_client::wire::SysId;
use servicenow_client::{Client, Result};

/// Who holds a lease, from when, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHolder {
    /// The holder's own id (random per run).
    pub id: String,
    /// Who runs it (`user@host`).
    pub holder: String,
    /// The operation (`apply`, `teardown`, `repair`).
    pub operation: String,
    /// When it was taken (UNIX milliseconds).
    pub since_ms: u64,
    /// When it expires unless renewed (UNIX milliseconds).
    pub expires_ms: u64,
}

impl LeaseHolder {
    fn live(&self, now_ms: u64) -> bool {
        self.expires_ms > now_ms
    }
}

/// The live holder among an integration's lease rows (the earliest, when
/// several contend), as a reader sees it without taking the lease.
pub(crate) fn live_holder<'a>(
    rows: impl IntoIterator<Item = &'a SystemProperty>,
) -> Option<LeaseHolder> {
    let now = now_ms();
    rows.into_iter()
        .filter_map(|r| serde_json::from_str::<LeaseHolder>(&r.value).ok())
        .filter(|h| h.live(now))
        .min_by_key(|h| h.since_ms)
}

impl fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) since {} (expires {})",
            self.holder,
            self.operation,
            when(self.since_ms),
            when(self.expires_ms)
        )
    }
}

/// `2026-11-25 14:00:00 UTC`.
fn when(ms: u64) -> String {
    format!(
        "{} UTC",
        servicenow_client::wire::utc_date_time((ms / 1000) as i64)
    )
}

/// Another run holds the integration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "another run holds this integration: held by {holder}; wait for it, or if that run is dead, run again with --break-lease"
)]
pub struct LeaseHeld {
    /// The holder.
    pub holder: LeaseHolder,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How leases are taken: start from [`LeaseOptions::default`] and set what differs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LeaseOptions {
    /// How long a lease lasts unless renewed (default 10 minutes).
    pub ttl: Duration,
    /// Take the lease over even when another run holds it (after showing whose it
    /// was, in [`Lease::broken`]).
    pub break_lease: bool,
    /// Who runs (default `user@host` from the environment).
    pub holder: String,
}

impl LeaseOptions {
    /// Sets how long a lease lasts unless renewed.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Takes the lease over even when another run holds it.
    pub fn break_lease(mut self, break_lease: bool) -> Self {
        self.break_lease = break_lease;
        self
    }

    /// Names who runs.
    pub fn holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }
}

impl Default for LeaseOptions {
    fn default() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "someone".into());
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown-host".into());
        Self {
            ttl: Duration::from_secs(600),
            break_lease: false,
            holder: format!("{user}@{host} pid {}", std::process::id()),
        }
    }
}

/// A lease held by this run. Renewed in the background while it lives; released
/// by [`Lease::release`] (or, if the run dies, when it expires).
///
/// Dropping a lease without [`release`](Lease::release) stops its renewal but
/// cannot delete its row (that needs a request, and `Drop` cannot wait for
/// one): other runs see it held until its `ttl` has passed.
#[derive(Debug)]
pub struct Lease {
    client: Client,
    row: SysId,
    holder: LeaseHolder,
    broken: Vec<LeaseHolder>,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

impl Lease {
    /// The lease rows' prefix for an integration.
    pub fn prefix(ledger_prefix: &str) -> String {
        format!("{ledger_prefix}lease.")
    }

    /// Takes the lease of the integration whose ledger prefix is `ledger_prefix`
    /// for `operation`; `Ok(Err(held))` when another run holds it.
    pub async fn acquire(
        client: &Client,
        ledger_prefix: &str,
        operation: &str,
        options: &LeaseOptions,
    ) -> Result<std::result::Result<Lease, LeaseHeld>> {
        let prefix = Self::prefix(ledger_prefix);
        let table = client.table::<SystemProperty>();
        let mut broken = Vec::new();
        for attempt in 0..3 {
            let id = format!("{:016x}", rand::random::<u64>());
            let now = now_ms();
            let holder = LeaseHolder {
                id: id.clone(),
                holder: options.holder.clone(),
                operation: operation.to_owned(),
                since_ms: now,
                expires_ms: now + options.ttl.as_millis() as u64,
            };
            // A client-chosen sys_id: when the insert's answer is lost, the row
            // can still be removed, so a failed start does not strand a lease.
            let chosen = SysId::generate();
            let mine = match table
                .create_with_id(
                    &chosen,
                    &serde_json::json!({
                        "name": format!("{prefix}{id}"),
                        "value": serde_json::to_string(&holder).unwrap_or_default(),
                        "type": "string",
                        "description": "bp-servicenow: the run that holds this integration. Expires by itself.",
                    }),
                )
                .await
            {
                Ok(row) => row,
                Err(e) => {
                    let _ = table.delete(&chosen).await;
                    return Err(e);
                }
            };
            let others: Vec<(SysId, Option<LeaseHolder>)> = Self::rows(client, &prefix)
                .await?
                .into_iter()
                .filter(|(row, _)| row != &mine.sys_id)
                .collect();
            let now = now_ms();
            let mut live: Vec<LeaseHolder> = Vec::new();
            for (row, other) in others {
                match other {
                    Some(other) if other.live(now) && !options.break_lease => live.push(other),
                    // Dead (expired, unreadable) or broken on purpose: cleared.
                    Some(other) => {
                        if other.live(now) {
                            broken.push(other);
                        }
                        let _ = table.delete(&row).await;
                    }
                    None => {
                        let _ = table.delete(&row).await;
                    }
                }
            }
            if live.is_empty() {
                let lease = Lease {
                    client: client.clone(),
                    row: mine.sys_id,
                    holder,
                    broken,
                    renewal: None,
                };
                return Ok(Ok(lease.renewing(options.ttl)));
            }
            table.delete(&mine.sys_id).await?;
            live.sort_by_key(|h| h.since_ms);
            // A holder that started clearly before us holds it: refuse at once.
            // Near-simultaneous contenders both step back and try once more.
            let clearly_first = live.iter().any(|h| h.since_ms + 2_000 < holder.since_ms);
            if clearly_first || attempt == 2 {
                return Ok(Err(LeaseHeld {
                    holder: live.remove(0),
                }));
            }
            tokio::time::sleep(Duration::from_millis(20 + rand::random::<u64>() % 200)).await;
            let still: Vec<LeaseHolder> = Self::rows(client, &prefix)
                .await?
                .into_iter()
                .filter_map(|(_, h)| h)
                .filter(|h| h.live(now_ms()))
                .collect();
            if let Some(first) = still.into_iter().min_by_key(|h| h.since_ms) {
                return Ok(Err(LeaseHeld { holder: first }));
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    async fn rows(client: &Client, prefix: &str) -> Result<Vec<(SysId, Option<LeaseHolder>)>> {
        let rows: Vec<SystemProperty> = client
            .table::<SystemProperty>()
            .list(Query::new().starts_with("name", prefix))
            .try_collect()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.sys_id, serde_json::from_str(&r.value).ok()))
            .collect())
    }

    /// Who held the lease before this run broke it.
    pub fn broken(&self) -> &[LeaseHolder] {
        &self.broken
    }

    /// This run's lease.
    pub fn holder(&self) -> &LeaseHolder {
        &self.holder
    }

    fn renewing(mut self, ttl: Duration) -> Self {
        let client = self.client.clone();
        let row = self.row.clone();
        let holder = Arc::new(self.holder.clone());
        self.renewal = Some(tokio::spawn(async move {
            let table = client.table::<SystemProperty>();
            loop {
                tokio::time::sleep(ttl / 3).await;
                let mut renewed = (*holder).clone();
                renewed.expires_ms = now_ms() + ttl.as_millis() as u64;
                let value = serde_json::to_string(&renewed).unwrap_or_default();
                if let Err(e) = table
                    .update(&row, &serde_json::json!({ "value": value }))
                    .await
                {
                    tracing::warn!(error = %e, "could not renew the lease");
                }
            }
        }));
        self
    }

    /// Gives the lease back.
    pub async fn release(mut self) -> Result<()> {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        self.client
            .table::<SystemProperty>()
            .delete(&self.row)
            .await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
    }
}
