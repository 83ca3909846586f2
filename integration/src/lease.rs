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
//! # Read first, write only to take it
//!
//! A contender reads the rows before it inserts its own: when another run holds
//! the lease it is refused having written nothing. Its row, like every row the
//! tool keeps for itself, is created with `ignore_cache = true` (a write to a
//! property whose flag is false flushes every node's cache) and
//! `is_private = true` (update sets leave private properties out).
//!
//! # Expiry, renewal, and rows that make no sense
//!
//! A lease expires (default ten minutes) unless renewed; the holder renews it at
//! most once per half of that while it runs, and stops when the run has nothing
//! left to write. A lease left by a dead run can be taken over after it
//! expires, or at once with `break_lease`, which reports whose it was
//! ([`Lease::broken`]).
//!
//! Every field of a row is parsed with checked arithmetic: a row that does not
//! parse, or whose times are absurd (expiring before it started, more than a day
//! ahead, starting in the future), is *malformed*: never live, cleared by the
//! next run that takes the lease, and reported ([`Lease::cleared`]). Texts a row
//! carries (who holds it, where) are shown with control characters escaped and
//! cut to [`MAX_TEXT`] characters, whatever the row holds.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use servicenow_client::properties::SystemProperty;
use servicenow_client::query::Query;
use servicenow_client::wire::SysId;
use servicenow_client::{Client, Result};

/// The most characters of a lease row's text (holder, host, operation) that
/// are ever shown.
pub const MAX_TEXT: usize = 120;

/// The longest a lease may run ahead of now before its row is taken for
/// malformed (a lease is renewed every half of its time to live, which is
/// minutes, not days).
pub const MAX_LEASE_AHEAD: Duration = Duration::from_secs(24 * 60 * 60);

/// How far a lease's start may lie in the future (clocks differ) before its row
/// is taken for malformed.
const MAX_CLOCK_SKEW_MS: u64 = 60 * 60 * 1000;

/// Who holds a lease, from when, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct LeaseHolder {
    /// The holder's own id (random per run).
    pub id: String,
    /// Who runs it (`ops (pid 4242)`).
    pub holder: String,
    /// The machine it runs on (empty for rows of older versions, whose
    /// `holder` names it).
    #[serde(default)]
    pub host: String,
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

    /// Reads a lease row's value: its holder, or why the row is malformed.
    /// Texts come back printable and bounded ([`printable`]).
    pub fn parse(value: &str, now_ms: u64) -> std::result::Result<LeaseHolder, String> {
        let mut holder: LeaseHolder = serde_json::from_str(value).map_err(|e| {
            format!(
                "it does not parse ({})",
                printable(&e.to_string(), MAX_TEXT)
            )
        })?;
        for text in [
            &mut holder.id,
            &mut holder.holder,
            &mut holder.host,
            &mut holder.operation,
        ] {
            *text = printable(text, MAX_TEXT);
        }
        let ahead = u64::try_from(MAX_LEASE_AHEAD.as_millis()).unwrap_or(u64::MAX);
        if holder.expires_ms < holder.since_ms {
            return Err(format!(
                "it expires ({}) before it starts ({})",
                when(holder.expires_ms),
                when(holder.since_ms)
            ));
        }
        if holder.since_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(format!(
                "it starts in the future ({})",
                when(holder.since_ms)
            ));
        }
        if holder.expires_ms > now_ms.saturating_add(ahead) {
            return Err(format!(
                "it claims to last until {}, more than a day ahead",
                when(holder.expires_ms)
            ));
        }
        Ok(holder)
    }
}

/// The live holder among an integration's lease rows (the earliest, when
/// several contend), as a reader sees it without taking the lease; malformed
/// rows are never live.
pub(crate) fn live_holder<'a>(
    rows: impl IntoIterator<Item = &'a SystemProperty>,
) -> Option<LeaseHolder> {
    let now = now_ms();
    rows.into_iter()
        .filter_map(|r| LeaseHolder::parse(&r.value, now).ok())
        .filter(|h| h.live(now))
        .min_by_key(|h| h.since_ms)
}

impl fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Printable whatever built it (a row parses into printable texts).
        write!(
            f,
            "{} ({})",
            printable(&self.holder, MAX_TEXT),
            printable(&self.operation, MAX_TEXT)
        )?;
        if !self.host.is_empty() {
            write!(f, " on {}", printable(&self.host, MAX_TEXT))?;
        }
        write!(
            f,
            " since {} (expires {})",
            when(self.since_ms),
            when(self.expires_ms)
        )
    }
}

/// `text` as it may be shown on a terminal: control characters (escape, bell,
/// line breaks…) escaped as `\u{1b}`, and cut to `max` characters (`…` marks a
/// cut).
///
/// ```
/// use brightpattern_servicenow::lease::printable;
/// assert_eq!(printable("ops\u{1b}[2J\u{7}", 50), "ops\\u{1b}[2J\\u{7}");
/// assert_eq!(printable(&"x".repeat(1_000_000), 5), "xxxxx…");
/// ```
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// `2026-11-25 14:00:00 UTC`.
/// A time in ms since the Unix epoch, as reports show it (`2026-12-04 01:02:03 UTC`).
pub(crate) fn utc(ms: u64) -> String {
    when(ms)
}

fn when(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    format!("{} UTC", servicenow_client::wire::utc_date_time(secs))
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

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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
    /// Who runs (default `user (pid N)` from the environment).
    pub holder: String,
    /// The machine it runs on (default the host name).
    pub host: String,
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

    /// Names the machine it runs on.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Who runs this process and where: the user (`USER`, `USERNAME`, else
/// `someone`) and the host (`HOSTNAME`, `/etc/hostname`, else
/// `unknown-host`) — what a lease names its holder by, and who a
/// confirmation is by when nobody says.
pub fn who_and_where() -> (String, String) {
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
    (user, host)
}

impl Default for LeaseOptions {
    fn default() -> Self {
        let (user, host) = who_and_where();
        Self {
            ttl: Duration::from_secs(600),
            break_lease: false,
            holder: format!("{user} (pid {})", std::process::id()),
            host,
        }
    }
}

/// A lease row that made no sense, cleared when the lease was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearedRow {
    /// The row's property name (printable).
    pub name: String,
    /// Why it was taken for malformed.
    pub reason: String,
}

impl fmt::Display for ClearedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cleared the malformed lease row {}: {}",
            self.name, self.reason
        )
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
    cleared: Vec<ClearedRow>,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

/// A lease row as read.
struct Row {
    sys_id: SysId,
    name: String,
    holder: std::result::Result<LeaseHolder, String>,
}

/// The body of a row the tool keeps for itself: a string property that never
/// flushes the cache and never travels in an update set.
pub(crate) fn own_row(name: &str, value: &str, description: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "value": value,
        "type": "string",
        "description": description,
        "ignore_cache": "true",
        "is_private": "true",
    })
}

impl Lease {
    /// The lease rows' prefix for an integration.
    pub fn prefix(ledger_prefix: &str) -> String {
        format!("{ledger_prefix}lease.")
    }

    /// Takes the lease of the integration whose ledger prefix is `ledger_prefix`
    /// for `operation`; `Ok(Err(held))` when another run holds it (then nothing
    /// was written).
    pub async fn acquire(
        client: &Client,
        ledger_prefix: &str,
        operation: &str,
        options: &LeaseOptions,
    ) -> Result<std::result::Result<Lease, LeaseHeld>> {
        Self::acquire_at(client, &Self::prefix(ledger_prefix), operation, options).await
    }

    /// Takes the lease whose rows are named `<rows_prefix><holder id>`.
    pub(crate) async fn acquire_at(
        client: &Client,
        prefix: &str,
        operation: &str,
        options: &LeaseOptions,
    ) -> Result<std::result::Result<Lease, LeaseHeld>> {
        // Read first: a lease another run holds is refused with nothing written.
        if !options.break_lease
            && let Some(first) = Self::live(&Self::rows(client, prefix).await?, None)
        {
            return Ok(Err(LeaseHeld { holder: first }));
        }
        let table = client.table::<SystemProperty>();
        let mut broken = Vec::new();
        let mut cleared = Vec::new();
        for attempt in 0..3 {
            let id = format!("{:016x}", rand::random::<u64>());
            let now = now_ms();
            let holder = LeaseHolder {
                id: id.clone(),
                holder: options.holder.clone(),
                host: options.host.clone(),
                operation: operation.to_owned(),
                since_ms: now,
                expires_ms: now.saturating_add(options.ttl_ms()),
            };
            // A client-chosen sys_id: when the insert's answer is lost, the row
            // can still be removed, so a failed start does not strand a lease.
            let chosen = SysId::generate();
            // Known before it is sent: an interrupted run gives it back even
            // when the create's answer never came.
            held_rows().push((client.clone(), chosen.clone()));
            let forget = |row: &SysId| held_rows().retain(|(_, r)| r != row);
            let mine = match table
                .create_with_id(
                    &chosen,
                    &own_row(
                        &format!("{prefix}{id}"),
                        &serde_json::to_string(&holder).unwrap_or_default(),
                        "bp-servicenow: the run that holds this integration. Expires by itself.",
                    ),
                )
                .await
            {
                Ok(row) => row,
                Err(e) => {
                    if table.delete(&chosen).await.is_ok() {
                        forget(&chosen);
                    }
                    return Err(e);
                }
            };
            if mine.sys_id != chosen {
                // An instance that chose its own sys_id: remember that one.
                forget(&chosen);
                held_rows().push((client.clone(), mine.sys_id.clone()));
            }
            let now = now_ms();
            let mut live: Vec<LeaseHolder> = Vec::new();
            for row in Self::rows(client, prefix).await? {
                if row.sys_id == mine.sys_id {
                    continue;
                }
                match row.holder {
                    Ok(other) if other.live(now) && !options.break_lease => live.push(other),
                    // Dead (expired) or broken on purpose: cleared.
                    Ok(other) => {
                        if other.live(now) {
                            broken.push(other);
                        }
                        let _ = table.delete(&row.sys_id).await;
                    }
                    Err(reason) => {
                        cleared.push(ClearedRow {
                            name: printable(&row.name, MAX_TEXT),
                            reason,
                        });
                        let _ = table.delete(&row.sys_id).await;
                    }
                }
            }
            if live.is_empty() {
                let lease = Lease {
                    client: client.clone(),
                    row: mine.sys_id,
                    holder,
                    broken,
                    cleared,
                    renewal: None,
                };
                return Ok(Ok(lease.renewing(options.ttl)));
            }
            table.delete(&mine.sys_id).await?;
            forget(&mine.sys_id);
            live.sort_by_key(|h| h.since_ms);
            // A holder that started clearly before us holds it: refuse at once.
            // Near-simultaneous contenders both step back and try once more.
            let clearly_first = live
                .iter()
                .any(|h| h.since_ms.saturating_add(2_000) < holder.since_ms);
            if clearly_first || attempt == 2 {
                return Ok(Err(LeaseHeld {
                    holder: live.remove(0),
                }));
            }
            tokio::time::sleep(Duration::from_millis(20 + rand::random::<u64>() % 200)).await;
            if let Some(first) = Self::live(&Self::rows(client, prefix).await?, None) {
                return Ok(Err(LeaseHeld { holder: first }));
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// Who holds the lease at `prefix` now, read without taking it (one read).
    pub(crate) async fn holder_at(client: &Client, prefix: &str) -> Result<Option<LeaseHolder>> {
        Ok(Self::live(&Self::rows(client, prefix).await?, None))
    }

    /// The earliest live holder among `rows` (other than `except`).
    fn live(rows: &[Row], except: Option<&SysId>) -> Option<LeaseHolder> {
        let now = now_ms();
        rows.iter()
            .filter(|r| Some(&r.sys_id) != except)
            .filter_map(|r| r.holder.as_ref().ok())
            .filter(|h| h.live(now))
            .min_by_key(|h| h.since_ms)
            .cloned()
    }

    async fn rows(client: &Client, prefix: &str) -> Result<Vec<Row>> {
        let rows: Vec<SystemProperty> = client
            .table::<SystemProperty>()
            .list(Query::new().starts_with("name", prefix))
            .try_collect()
            .await?;
        let now = now_ms();
        Ok(rows
            .into_iter()
            .map(|r| Row {
                holder: LeaseHolder::parse(&r.value, now),
                sys_id: r.sys_id,
                name: r.name,
            })
            .collect())
    }

    /// Who held the lease before this run broke it (`break_lease`).
    pub fn broken(&self) -> &[LeaseHolder] {
        &self.broken
    }

    /// The malformed lease rows this run cleared when it took the lease.
    pub fn cleared(&self) -> &[ClearedRow] {
        &self.cleared
    }

    /// This run's lease.
    pub fn holder(&self) -> &LeaseHolder {
        &self.holder
    }

    fn renewing(mut self, ttl: Duration) -> Self {
        let client = self.client.clone();
        let row = self.row.clone();
        let holder = self.holder.clone();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.renewal = Some(tokio::spawn(async move {
            let table = client.table::<SystemProperty>();
            loop {
                // At most one renewal per half of the time to live.
                tokio::time::sleep(ttl / 2).await;
                let mut renewed = holder.clone();
                renewed.expires_ms = now_ms().saturating_add(ttl_ms);
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

    /// Stops renewing the lease (nothing is left to write) without giving it
    /// back: it stays held until [`release`](Lease::release) or its expiry.
    pub fn stop_renewing(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
    }

    /// Gives the lease back.
    pub async fn release(mut self) -> Result<()> {
        self.stop_renewing();
        let released = self
            .client
            .table::<SystemProperty>()
            .delete(&self.row)
            .await;
        if released.is_ok() || released.as_ref().is_err_and(|e| e.is_not_found()) {
            held_rows().retain(|(_, row)| row != &self.row);
        }
        released
    }
}

/// The lease and lock rows this process took and has not given back (a
/// dropped lease stays here: its row lives on until it expires).
fn held_rows() -> std::sync::MutexGuard<'static, Vec<(Client, SysId)>> {
    static HELD: std::sync::OnceLock<std::sync::Mutex<Vec<(Client, SysId)>>> =
        std::sync::OnceLock::new();
    HELD.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Gives back every lease and instance lock this process still holds,
/// released or not — for a program interrupted mid-run (Ctrl-C), so that the
/// next run does not wait for them to expire. What the run wrote before is in
/// its ledger (apply again to finish). Returns how many rows were deleted.
pub async fn give_back_all() -> usize {
    let rows: Vec<(Client, SysId)> = std::mem::take(&mut *held_rows());
    let mut given = 0;
    for (client, row) in rows {
        match client.table::<SystemProperty>().delete(&row).await {
            Ok(()) => given += 1,
            Err(e) if e.is_not_found() => {}
            Err(_) => {}
        }
    }
    given
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop_renewing();
    }
}

/// How the instance lock is taken: start from [`InstanceLockOptions::default`]
/// (the instance lock of the shared-records module: it lives 60 s unless renewed, waited for up to 120 s) and set
/// what differs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InstanceLockOptions {
    /// How long the lock lives unless renewed: a holder that dies frees it
    /// after this (default 60 s).
    pub ttl: Duration,
    /// How long a run waits for it before giving up (default 120 s).
    pub wait: Duration,
}

impl Default for InstanceLockOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            wait: Duration::from_secs(120),
        }
    }
}

impl InstanceLockOptions {
    /// Sets how long the lock lives unless renewed.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets how long a run waits for it.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn row(since: u64, expires: u64) -> String {
        serde_json::json!({
            "id": "a", "holder": "ops", "operation": "apply",
            "since_ms": since, "expires_ms": expires
        })
        .to_string()
    }

    #[test]
    fn absurd_times_are_malformed_never_a_panic() {
        assert!(LeaseHolder::parse(&row(NOW, NOW + 600_000), NOW).is_ok());
        for (since, expires) in [
            (NOW, u64::MAX),
            (u64::MAX, u64::MAX),
            (NOW, NOW - 1),
            (u64::MAX - 1, 0),
            (NOW + 2 * MAX_CLOCK_SKEW_MS, NOW + 2 * MAX_CLOCK_SKEW_MS + 1),
        ] {
            let reason = LeaseHolder::parse(&row(since, expires), NOW).unwrap_err();
            assert!(!reason.is_empty(), "{since} {expires}");
        }
        for junk in [
            "",
            "{}",
            "null",
            r#"{"id":1}"#,
            r#"{"id":"a","holder":"x","operation":"y","since_ms":-1,"expires_ms":2}"#,
            r#"{"id":"a","holder":"x","operation":"y","since_ms":1e300,"expires_ms":2}"#,
        ] {
            assert!(LeaseHolder::parse(junk, NOW).is_err(), "{junk:?}");
        }
        // Whatever the times, displaying never panics.
        let odd = LeaseHolder {
            id: "a".into(),
            holder: "x".into(),
            host: String::new(),
            operation: "y".into(),
            since_ms: u64::MAX,
            expires_ms: 0,
        };
        assert!(!odd.to_string().is_empty());
    }

    #[test]
    fn a_holder_s_text_is_shown_escaped_and_bounded() {
        let hostile = serde_json::json!({
            "id": "a", "holder": format!("ops\u{1b}]0;pwned\u{7}{}", "x".repeat(1 << 20)),
            "host": "jump\nhost", "operation": "apply\r",
            "since_ms": NOW, "expires_ms": NOW + 1
        })
        .to_string();
        let holder = LeaseHolder::parse(&hostile, NOW).unwrap();
        let shown = holder.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.len() < 600, "{} characters", shown.len());
        assert!(shown.contains("ops\\u{1b}]0;pwned\\u{7}"), "{shown}");
        assert!(shown.contains(" on jump\\u{a}host"), "{shown}");
    }
}
