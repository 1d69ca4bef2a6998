//! The invocation's deadline as the checks see it: before each statement, `statement_timeout` is
//! set to what [`drill_core::checks::deadline`] allows (the configured timeout or the time left
//! before the deadline minus the report margin, whichever is smaller), so no statement outlives
//! the invocation and the report is always written. Without a deadline (the CLI), the configured
//! timeout applies.

use std::time::Duration;

use drill_core::checks::deadline::{self, Allowance, Deadline};
use tokio_postgres::Client;

use super::passes::pg_message;

/// Milliseconds since the epoch, as Lambda's `Context.deadline` counts.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub deadline: Option<Deadline>,
    /// The configured `statement_timeout`.
    pub configured: Duration,
}

/// The outcome of bounding the next statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// Go: the timeout was set; `by_deadline` = a cancellation means out of time.
    Go { by_deadline: bool },
    /// Too little time left to start.
    OutOfTime,
}

impl Clock {
    /// What a statement configured for `configured` may run for now.
    pub fn allow(&self, configured: Duration) -> Allowance {
        deadline::allow(self.deadline.as_ref(), configured, now_ms())
    }

    /// Sets `statement_timeout` on `client` for its next statement (at most `configured`).
    pub async fn bound_to(&self, client: &Client, configured: Duration) -> Result<Bound, String> {
        match self.allow(configured) {
            Allowance::OutOfTime => Ok(Bound::OutOfTime),
            Allowance::Run { timeout, bounded } => {
                // Whole milliseconds, never 0 (0 would mean no timeout at all).
                let ms = timeout.as_millis().max(1);
                client
                    .batch_execute(&format!("SET statement_timeout = {ms}"))
                    .await
                    .map_err(|e| pg_message(&e))?;
                Ok(Bound::Go {
                    by_deadline: bounded,
                })
            }
        }
    }

    /// [`Self::bound_to`] with the configured statement timeout.
    pub async fn bound(&self, client: &Client) -> Result<Bound, String> {
        self.bound_to(client, self.configured).await
    }

    /// The configured timeout clamped to the time left (connection options); `None`: out of time.
    pub fn timeout_now(&self) -> Option<Duration> {
        match self.allow(self.configured) {
            Allowance::OutOfTime => None,
            Allowance::Run { timeout, .. } => Some(timeout),
        }
    }
}
