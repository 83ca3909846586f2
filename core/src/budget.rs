//! A shared allowance of requests per second, so that many clients of one
//! service (a fleet of integrations on one instance) stay under its rate limits.
//!
//! Give the same [`RequestBudget`] to every client of a host
//! ([`TransportOptions::request_budget`](crate::TransportOptions::request_budget));
//! each HTTP attempt — retries, redirects and token requests included — waits
//! for its turn. The budget spaces requests evenly (`per_second`), allowing a
//! short burst; waiting happens before sending, never by failing.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use bpsn_core::RequestBudget;
//!
//! let budget = RequestBudget::per_second(10).with_burst(5);
//! let started = tokio::time::Instant::now();
//! for _ in 0..15 {
//!     budget.acquire().await;
//! }
//! // 5 at once, then one every 100 ms.
//! assert!(started.elapsed() >= std::time::Duration::from_millis(1000));
//! assert_eq!(budget.stats().acquired, 15);
//! # }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Requests per second shared by every client that holds a clone.
#[derive(Clone)]
pub struct RequestBudget {
    inner: Arc<Inner>,
}

struct Inner {
    interval: Duration,
    burst: u32,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When the next request would be due if no burst were allowed.
    next_due: Option<Instant>,
    acquired: u64,
    delayed: u64,
    waited: Duration,
}

/// What a budget has handed out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetStats {
    /// Requests let through.
    pub acquired: u64,
    /// Of those, how many had to wait.
    pub delayed: u64,
    /// The time they waited, added up.
    pub waited: Duration,
}

impl RequestBudget {
    /// At most `per_second` requests a second on average (at least 1), with a
    /// burst of one.
    pub fn per_second(per_second: u32) -> Self {
        Self {
            inner: Arc::new(Inner {
                interval: Duration::from_secs(1) / per_second.max(1),
                burst: 1,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Lets up to `burst` requests through at once after a quiet spell (at least 1).
    pub fn with_burst(self, burst: u32) -> Self {
        let interval = self.inner.interval;
        Self {
            inner: Arc::new(Inner {
                interval,
                burst: burst.max(1),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The average spacing of requests.
    pub fn interval(&self) -> Duration {
        self.inner.interval
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        let wait = {
            let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let due = state.next_due.map_or(now, |d| d.max(now));
            // A burst lets a request go up to (burst - 1) intervals early.
            let allowance = self.inner.interval * (self.inner.burst - 1);
            let start = due.checked_sub(allowance).unwrap_or(now).max(now);
            state.next_due = Some(due + self.inner.interval);
            state.acquired += 1;
            let wait = start - now;
            if !wait.is_zero() {
                state.delayed += 1;
                state.waited += wait;
            }
            wait
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// What the budget has handed out so far.
    pub fn stats(&self) -> BudgetStats {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        BudgetStats {
            acquired: state.acquired,
            delayed: state.delayed,
            waited: state.waited,
        }
    }
}

impl fmt::Debug for RequestBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBudget")
            .field("interval", &self.inner.interval)
            .field("burst", &self.inner.burst)
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_after_the_burst_and_clones_share_the_budget() {
        let budget = RequestBudget::per_second(4).with_burst(2);
        let other = budget.clone();
        let started = Instant::now();
        for i in 0..6 {
            if i % 2 == 0 {
                budget.acquire().await;
            } else {
                other.acquire().await;
            }
        }
        // Two at once, then four more 250 ms apart.
        assert_eq!(started.elapsed(), Duration::from_millis(1000));
        let stats = budget.stats();
        assert_eq!((stats.acquired, stats.delayed), (6, 4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_spell_refills_the_burst() {
        let budget = RequestBudget::per_second(10).with_burst(3);
        for _ in 0..3 {
            budget.acquire().await;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        let started = Instant::now();
        for _ in 0..3 {
            budget.acquire().await;
        }
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
