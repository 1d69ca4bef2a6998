//! Error kinds shared by every component, and how they surface to the state machine and the shell.
//!
//! Libraries keep their own `thiserror` enums; each variant maps to one [`ErrorKind`]. The kind
//! decides the Lambda `error_type` (what the ASL `Retry`/`Catch` match on) and the CLI exit code.

use serde::{Deserialize, Serialize};

/// Why something failed, in the terms the state machine routes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Worth retrying with backoff: throttling, a network blip, an instance not ready yet.
    Transient,
    /// A safety guard refused a destructive action. Never retried.
    GuardViolation,
    /// The backup itself is bad: corrupt, incomplete, stale, or it failed validation. Never retried.
    BackupInvalid,
    /// The request or configuration is wrong (bad event, bad URL, unknown source). Never retried.
    InvalidInput,
    /// The drill could not run for a reason that is neither of the above (permissions, a server
    /// that is down, a bug). Not retried by the state machine; a person has to look.
    CouldNotRun,
}

impl ErrorKind {
    /// All kinds, for tests and documentation.
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::Transient,
        ErrorKind::GuardViolation,
        ErrorKind::BackupInvalid,
        ErrorKind::InvalidInput,
        ErrorKind::CouldNotRun,
    ];

    /// The Lambda `error_type`; the ASL matches these names in `Retry` and `Catch`.
    pub const fn error_type(self) -> &'static str {
        match self {
            ErrorKind::Transient => "Drill.Transient",
            ErrorKind::GuardViolation => "Drill.GuardViolation",
            ErrorKind::BackupInvalid => "Drill.BackupInvalid",
            ErrorKind::InvalidInput => "Drill.InvalidInput",
            ErrorKind::CouldNotRun => "Drill.CouldNotRun",
        }
    }

    /// Whether the state machine may retry this kind.
    pub const fn retryable(self) -> bool {
        matches!(self, ErrorKind::Transient)
    }

    /// The `drill` exit code for this kind.
    pub const fn exit_code(self) -> ExitCode {
        match self {
            ErrorKind::BackupInvalid => ExitCode::BackupInvalid,
            ErrorKind::InvalidInput => ExitCode::Usage,
            ErrorKind::GuardViolation => ExitCode::GuardViolation,
            ErrorKind::Transient | ErrorKind::CouldNotRun => ExitCode::CouldNotRun,
        }
    }
}

/// Exit codes of the `drill` command, documented in `drill --help` and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Everything ran and every check passed.
    Ok = 0,
    /// The backup is invalid: a check failed, or the backup set is corrupt or incomplete.
    BackupInvalid = 1,
    /// Bad command line, configuration or URL.
    Usage = 2,
    /// The drill could not run (server unreachable, permissions, disk full, ...).
    CouldNotRun = 3,
    /// A safety guard refused a destructive action.
    GuardViolation = 4,
    /// `drill sandbox diff`: the sandbox changed, nothing destructive ([`crate::diff`]).
    DiffChanges = crate::diff::EXIT_CHANGES,
    /// `drill sandbox diff`: a destructive change (table emptied or dropped, ...).
    DiffDestructive = crate::diff::EXIT_DESTRUCTIVE,
}

impl ExitCode {
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// An error that knows which [`ErrorKind`] it is. Every library error enum implements it, so the
/// Lambda glue and the CLI can route any of them without knowing the concrete type.
pub trait Classified: std::error::Error {
    fn kind(&self) -> ErrorKind;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_are_distinct_and_prefixed() {
        let names: std::collections::HashSet<_> =
            ErrorKind::ALL.iter().map(|k| k.error_type()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        assert!(names.iter().all(|n| n.starts_with("Drill.")));
    }

    #[test]
    fn only_transient_errors_are_retryable() {
        for kind in ErrorKind::ALL {
            assert_eq!(kind.retryable(), kind == ErrorKind::Transient, "{kind:?}");
        }
    }

    #[test]
    fn backup_invalid_and_could_not_run_exit_differently() {
        assert_ne!(
            ErrorKind::BackupInvalid.exit_code(),
            ErrorKind::CouldNotRun.exit_code()
        );
        assert_eq!(ErrorKind::InvalidInput.exit_code().code(), 2);
        assert_eq!(ExitCode::Ok.code(), 0);
    }
}
