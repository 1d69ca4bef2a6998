//! What a check says: its [`Status`], the [`CheckResult`] a report lists, and the [`Outcome`] of
//! a whole validation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ErrorKind;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    /// The backup is wrong: what was measured contradicts what was expected.
    Fail,
    /// The check could not be completed (timeout, query error, missing extension): the backup
    /// is neither proven good nor proven bad.
    Error,
    /// Not configured, disabled, or nothing to compare against.
    Skipped,
    /// The check ran out of the invocation's time before it covered everything: never valid.
    Incomplete,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Skipped => "skipped",
            Status::Incomplete => "incomplete",
        }
    }
}

/// Result of one check as it appears in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    /// `connect`, `schema`, `row_counts`, `freshness:<table>`, `integrity`, `full_read`,
    /// `sql:<name>`.
    pub name: String,
    pub status: Status,
    /// What was measured, for people (`2000000 rows in 4 tables`, `lag 3h12m`).
    pub measured: String,
    /// What was expected (`= manifest`, `lag <= 26h`).
    pub expected: String,
    pub duration_ms: u64,
    /// One line per finding (a removed index, a table that lost rows, a corrupt index).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl CheckResult {
    pub fn new(name: impl Into<String>, status: Status) -> Self {
        Self {
            name: name.into(),
            status,
            measured: String::new(),
            expected: String::new(),
            duration_ms: 0,
            details: Vec::new(),
        }
    }
    pub fn measured(mut self, m: impl Into<String>) -> Self {
        self.measured = m.into();
        self
    }
    pub fn expected(mut self, e: impl Into<String>) -> Self {
        self.expected = e.into();
        self
    }
    pub fn details(mut self, d: Vec<String>) -> Self {
        self.details = d;
        self
    }
    pub fn took(mut self, d: Duration) -> Self {
        self.duration_ms = d.as_millis().try_into().unwrap_or(u64::MAX);
        self
    }
    pub fn skipped(name: impl Into<String>, why: impl Into<String>) -> Self {
        Self::new(name, Status::Skipped).measured(why)
    }
}

/// Verdict over all checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every check passed or was skipped, and at least one passed.
    Pass,
    /// At least one check failed: the backup is invalid.
    BackupInvalid,
    /// No check failed, but at least one errored (or none ran): validity is unknown.
    CouldNotRun,
    /// No check failed, but at least one ran out of the invocation's time ("ran out of time after
    /// N of M tables/units"): a failed drill, never a pass.
    Incomplete,
}

impl Outcome {
    /// A failure outranks an error: a proven-bad backup is reported as such even when another
    /// check could not finish.
    pub fn of(results: &[CheckResult]) -> Outcome {
        if results.iter().any(|r| r.status == Status::Fail) {
            Outcome::BackupInvalid
        } else if results.iter().any(|r| r.status == Status::Incomplete) {
            Outcome::Incomplete
        } else if results.iter().any(|r| r.status == Status::Error)
            || !results.iter().any(|r| r.status == Status::Pass)
        {
            Outcome::CouldNotRun
        } else {
            Outcome::Pass
        }
    }

    pub fn error_kind(self) -> Option<ErrorKind> {
        match self {
            Outcome::Pass => None,
            Outcome::BackupInvalid => Some(ErrorKind::BackupInvalid),
            // Out of time is a drill that could not finish: the state machine's failure path.
            Outcome::CouldNotRun | Outcome::Incomplete => Some(ErrorKind::CouldNotRun),
        }
    }
}

/// `3h12m`, `45s`, `2d4h`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86400, (s % 86400) / 3600, (s % 3600) / 60, s % 60);
    if days > 0 {
        format!("{days}d{h}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{sec:02}s")
    } else if d.as_millis() < 10_000 && d.as_secs() < 10 && d.subsec_millis() > 0 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{sec}s")
    }
}
