//! The diff of an AWS sandbox, decided here and run inside the deployment (engine
//! `sandbox::remote`): the sandbox RDS instance is in the drill's private subnets, so the laptop
//! cannot reach it and gets no RDS rights. The sandbox function makes the base copy on the same
//! instance before it hands out the sandbox's secret, and later diffs the two there.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::diff::DiffReport;
use crate::sandbox::SandboxError;

/// Suffix of the read-only base copy of a sandbox's database (`<db>_base`, same instance).
pub const BASE_SUFFIX: &str = "_base";
/// The COMMENT on a base copy: says what made it (the diff refuses a base it did not make).
pub const BASE_COMMENT: &str = "restore-drill sandbox base";
/// The longest the diff runs in one invocation: the function's 900 s timeout less room to
/// write the report and answer. A database that does not fit is reported as incomplete
/// (could not run), never as "no change".
pub const DEFAULT_DIFF_BUDGET_SECONDS: u64 = 840;

/// The base copy's database name for a sandbox database `database` (PostgreSQL's 63 bytes).
pub fn base_database(database: &str) -> Result<String, SandboxError> {
    let base = format!("{database}{BASE_SUFFIX}");
    if database.is_empty() || base.len() > 63 {
        return Err(SandboxError::Invalid(format!(
            "database {database:?}: its base copy {base:?} would not be a valid PostgreSQL name (1 to 63 bytes)"
        )));
    }
    Ok(base)
}

/// The comment marking the base copy of sandbox `identifier`.
pub fn base_comment(identifier: &str) -> String {
    format!("{BASE_COMMENT} of {identifier}")
}

/// Where the diff report of `identifier` made at `at` goes, under the sandbox reports prefix.
pub fn report_key(identifier: &str, at: DateTime<Utc>) -> String {
    format!("{identifier}/diff-{}.json", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// What `sandbox_diff` answers: the report (the CLI prints it as locally) and where it is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxDiffOutcome {
    pub identifier: String,
    pub report_url: String,
    pub report: DiffReport,
}

/// Why the diff of a sandbox stopped short: the message the caller sees. Never a verdict.
pub fn incomplete(identifier: &str, budget_seconds: u64) -> String {
    format!(
        "diff of {identifier} incomplete: it did not finish within {budget_seconds} s, the most \
         one invocation of the sandbox function may take; no verdict (the database is too big \
         to diff in AWS in one invocation: diff a local sandbox of a backup set instead)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_is_a_valid_name_next_to_the_database() {
        assert_eq!(base_database("app").unwrap(), "app_base");
        assert!(base_database(&"x".repeat(58)).is_ok());
        let err = base_database(&"x".repeat(59)).unwrap_err().to_string();
        assert!(err.contains("63"), "{err}");
        assert!(base_database("").is_err());
    }

    #[test]
    fn reports_are_kept_per_sandbox_and_never_overwritten() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T03:00:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            report_key("rsbx-a", t),
            "rsbx-a/diff-20261122T030000.123Z.json"
        );
        assert_ne!(
            report_key("rsbx-a", t),
            report_key("rsbx-a", t + chrono::Duration::milliseconds(1))
        );
        let msg = incomplete("rsbx-a", 840);
        assert!(msg.contains("incomplete") && msg.contains("840 s"), "{msg}");
        assert!(!msg.contains("no change"), "{msg}");
    }
}
