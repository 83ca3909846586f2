//! Records that several integrations on one instance need: the postMessage
//! allow-list property (one comma-separated value holding every tenant's
//! origin) and the role grants of `sn_openframe_user` (a grant serves every
//! integration whose agents hold it, whatever its tenant).
//!
//! # Whose they are
//!
//! An integration needs a shared record when its ledger records it — because
//! it created it, or because it found it made by another integration and
//! recorded that it uses it too. Teardown removes a shared record only when no
//! other integration's ledger on the instance still records it; the last one
//! to go removes it. A shared record no ledger records (made by a person) is
//! never removed.
//!
//! # One change at a time, on the whole instance
//!
//! Deciding and changing a shared record happen under the **instance lock**:
//! a lease of its own (`bp_servicenow_shared.lock.<id>` in `sys_properties`),
//! taken by every integration on the instance around its change of a shared
//! record, and given back at once (it lives seconds, not minutes). Under it a
//! run reads the other integrations' ledgers and the record again, decides,
//! writes, and saves its own ledger before it gives the lock back — so the
//! next run to decide sees what this one did: no duplicate grant, no entry
//! lost, none left behind. The lock is separate from each integration's own
//! lease, which says only that one run at a time works on that integration.
//!
//! In a preview the lock is not taken (a preview writes nothing): the decision
//! is made on what was read.

use std::time::{Duration, Instant};

pub use crate::lease::InstanceLockOptions;
use crate::lease::{Lease, LeaseOptions};
use crate::step::{Context, StepError, StepResult};

/// The prefix of the instance lock's rows (outside every ledger's prefix).
pub const LOCK_PREFIX: &str = "bp_servicenow_shared.lock.";

/// Whether a run holds the instance lock now (one read of its rows).
pub(crate) async fn instance_lock_held(ctx: &Context) -> StepResult<bool> {
    Ok(Lease::holder_at(&ctx.servicenow, LOCK_PREFIX)
        .await?
        .is_some())
}

/// Runs `change` under the instance lock, after reading the other
/// integrations' ledgers (and the allow-list) again, and saves the ledger
/// before giving the lock back, whatever `change` did. In a preview it runs
/// `change` alone.
pub(crate) async fn under_instance_lock<T, F>(
    ctx: &Context,
    purpose: &str,
    change: impl FnOnce() -> F,
) -> StepResult<T>
where
    F: std::future::Future<Output = StepResult<T>>,
{
    if ctx.is_preview() {
        return change().await;
    }
    let lock = acquire(ctx, purpose).await?;
    let result = async {
        ctx.refresh_shared().await?;
        let result = change().await;
        // Saved before the lock is given back, failure or not: the next run to
        // decide must see what this one recorded.
        let saved = ctx.save_ledger().await;
        match (result, saved) {
            (Ok(value), Ok(())) => Ok(value),
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(StepError::Ledger(e)),
        }
    }
    .await;
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "could not give the instance lock back; it expires by itself");
    }
    result
}

/// Takes the instance lock, waiting (with jittered pauses) while another run
/// holds it, up to [`InstanceLockOptions::wait`].
async fn acquire(ctx: &Context, purpose: &str) -> StepResult<Lease> {
    let lock = &ctx.options.instance_lock;
    let options = LeaseOptions {
        ttl: lock.ttl,
        break_lease: false,
        ..ctx.options.lease.clone()
    };
    let started = Instant::now();
    loop {
        match Lease::acquire_at(&ctx.servicenow, LOCK_PREFIX, purpose, &options).await? {
            Ok(lock) => return Ok(lock),
            Err(held) if started.elapsed() >= lock.wait => {
                return Err(StepError::Rejected {
                    what: format!("changing {purpose}, records several integrations share"),
                    reason: format!(
                        "the instance lock for shared records stayed held for {}s: held by {}",
                        lock.wait.as_secs(),
                        held.holder
                    ),
                    hint: format!(
                        "run again when that run ends; a lock left by a dead run frees itself after {}s",
                        lock.ttl.as_secs()
                    ),
                });
            }
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(30 + rand::random::<u64>() % 220)).await;
            }
        }
    }
}
