//! The invocation's deadline and what it allows: every statement a check runs gets a
//! `statement_timeout` (and amcheck its budget) no larger than the time left before the deadline,
//! minus [`REPORT_MARGIN`] for writing the report. A check that cannot finish in time is reported
//! [`Status::Incomplete`](super::Status::Incomplete), never cut off by Lambda and never valid.
//!
//! Times are milliseconds since the Unix epoch, as Lambda's `Context.deadline` gives them, so this
//! stays pure: the engine passes "now" in.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Kept free before the deadline: closing the pass, sealing the report, writing it to S3 (one
/// small PUT, retried by the SDK) and answering. 20 s covers a few slow S3 round trips.
pub const REPORT_MARGIN: Duration = Duration::from_secs(20);

/// Below this, a statement is not started: it could not do useful work, and a timeout of 0 means
/// "no timeout" to PostgreSQL.
pub const MIN_STATEMENT: Duration = Duration::from_millis(500);

/// When this invocation ends, and how much of it the report keeps for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// Lambda's `Context.deadline`: milliseconds since the epoch.
    pub at_epoch_ms: u64,
    /// Kept free for the report ([`REPORT_MARGIN`] unless a test says otherwise).
    pub margin_ms: u64,
}

/// What a statement may run for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Run it with this `statement_timeout`; `bounded` says the deadline (not the configured
    /// timeout) set it, so a cancellation means "out of time", not "too slow".
    Run { timeout: Duration, bounded: bool },
    /// Too little time left to start it.
    OutOfTime,
}

impl Deadline {
    /// The Lambda deadline with the standard report margin.
    pub fn at(at_epoch_ms: u64) -> Self {
        Self {
            at_epoch_ms,
            margin_ms: REPORT_MARGIN.as_millis() as u64,
        }
    }

    /// Time left for checks at `now_ms` (the margin already taken off).
    pub fn left(&self, now_ms: u64) -> Duration {
        Duration::from_millis(
            self.at_epoch_ms
                .saturating_sub(self.margin_ms)
                .saturating_sub(now_ms),
        )
    }

    /// The timeout of a statement configured to run at most `configured`, started at `now_ms`.
    pub fn allow(&self, configured: Duration, now_ms: u64) -> Allowance {
        let left = self.left(now_ms);
        if left < MIN_STATEMENT {
            Allowance::OutOfTime
        } else if left < configured {
            Allowance::Run {
                timeout: left,
                bounded: true,
            }
        } else {
            Allowance::Run {
                timeout: configured,
                bounded: false,
            }
        }
    }
}

/// The allowance without a deadline (the CLI): the configured timeout.
pub fn allow(deadline: Option<&Deadline>, configured: Duration, now_ms: u64) -> Allowance {
    match deadline {
        Some(d) => d.allow(configured, now_ms),
        None => Allowance::Run {
            timeout: configured,
            bounded: false,
        },
    }
}

/// "ran out of time after 3 of 10 tables": the reason an incomplete check gives.
pub fn out_of_time(done: usize, total: usize, what: &str) -> String {
    format!("ran out of time after {done} of {total} {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn the_timeout_is_the_smaller_of_the_configured_one_and_the_time_left_minus_the_margin() {
        let d = Deadline::at(NOW + 900_000);
        // 900 s left, 20 s margin: a 300 s timeout fits as configured.
        assert_eq!(
            d.allow(Duration::from_secs(300), NOW),
            Allowance::Run {
                timeout: Duration::from_secs(300),
                bounded: false
            }
        );
        // 100 s left: 80 s after the margin, and the deadline set it.
        assert_eq!(
            d.allow(Duration::from_secs(300), NOW + 800_000),
            Allowance::Run {
                timeout: Duration::from_secs(80),
                bounded: true
            }
        );
        assert_eq!(d.left(NOW + 800_000), Duration::from_secs(80));
    }

    #[test]
    fn no_statement_starts_inside_the_margin_or_after_the_deadline() {
        let d = Deadline::at(NOW + 20_400);
        assert_eq!(d.left(NOW), Duration::from_millis(400));
        assert_eq!(d.allow(Duration::from_secs(300), NOW), Allowance::OutOfTime);
        // Past the deadline: nothing left, never an underflow into a huge timeout.
        assert_eq!(d.left(NOW + 60_000), Duration::ZERO);
        assert_eq!(
            d.allow(Duration::from_secs(1), NOW + 60_000),
            Allowance::OutOfTime
        );
        let tight = Deadline {
            at_epoch_ms: NOW + 600,
            margin_ms: 0,
        };
        assert_eq!(
            tight.allow(Duration::from_secs(5), NOW),
            Allowance::Run {
                timeout: Duration::from_millis(600),
                bounded: true
            }
        );
    }

    #[test]
    fn without_a_deadline_the_configured_timeout_applies() {
        assert_eq!(
            allow(None, Duration::from_secs(7), NOW),
            Allowance::Run {
                timeout: Duration::from_secs(7),
                bounded: false
            }
        );
        assert_eq!(
            out_of_time(3, 10, "tables"),
            "ran out of time after 3 of 10 tables"
        );
    }
}
