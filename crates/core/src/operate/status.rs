//! A source's status (from its run report, or the history when there is none) and the exit code.

use serde::Serialize;
use serde_json::Value;

use super::progress::{readable_cause, ProgressLine, StepOutcome};
use crate::run_report::RunReport;
use crate::{ErrorKind, ExitCode};

/// What became of the temporary resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TempState {
    /// Deleted by this drill's cleanup.
    Deleted,
    /// Already gone when the cleanup looked.
    AlreadyGone,
    /// The cleanup refused it (a guard) or failed: it may still exist.
    Left,
    /// No report says.
    Unknown,
}

impl TempState {
    pub fn label(self) -> &'static str {
        match self {
            TempState::Deleted => "gone (deleted)",
            TempState::AlreadyGone => "gone (already)",
            TempState::Left => "STILL THERE?",
            TempState::Unknown => "unknown",
        }
    }
}

/// One source's outcome in one execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceStatus {
    pub source: String,
    /// `passed`, `failed`, `running` or `no report`.
    pub result: String,
    pub failed_step: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub rto_seconds: Option<u64>,
    pub rpo_seconds: Option<u64>,
    pub rows: Option<u64>,
    pub temp: Option<String>,
    pub temp_state: TempState,
}

fn names(v: Option<&Value>, key: &str) -> Vec<String> {
    v.and_then(|c| c.get(key))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl SourceStatus {
    /// From the drill's run report.
    pub fn of_report(r: &RunReport) -> SourceStatus {
        let temp = r.temp.as_ref().and_then(|t| {
            ["identifier", "database", "name"]
                .iter()
                .find_map(|k| t.get(*k).and_then(Value::as_str).map(str::to_owned))
        });
        let cleanup = r.cleanup.as_ref();
        let (deleted, gone, refused) = (
            names(cleanup, "deleted"),
            names(cleanup, "already_gone"),
            names(cleanup, "refused"),
        );
        let has = |list: &[String]| match &temp {
            Some(t) => list.iter().any(|x| x == t),
            None => !list.is_empty(),
        };
        // Refusal or a failed cleanup wins: never claim a resource is gone on partial evidence.
        let temp_state = if r.cleanup_failure.is_some() || has(&refused) {
            TempState::Left
        } else if has(&deleted) {
            TempState::Deleted
        } else if has(&gone) {
            TempState::AlreadyGone
        } else {
            TempState::Unknown
        };
        let failure = r
            .failure
            .as_ref()
            .or(r.cleanup_failure.as_ref())
            .or(r.snapshot_copy_failure.as_ref());
        SourceStatus {
            source: r.source_id.clone(),
            result: if r.passed { "passed" } else { "failed" }.into(),
            failed_step: r.failed_step.clone(),
            error: failure.map(|f| f.error.clone()),
            cause: failure.map(|f| readable_cause(&f.cause)),
            rto_seconds: r.rto_seconds,
            rpo_seconds: r.rpo_seconds,
            rows: r.rows,
            temp,
            temp_state,
        }
    }

    /// A source without a report yet: what the history says (running, or the failing step).
    pub fn of_progress(source: &str, lines: &[ProgressLine], ended: bool) -> SourceStatus {
        let failed = lines
            .iter()
            .find(|l| l.source == source && matches!(l.outcome, StepOutcome::Failed { .. }));
        let (error, cause) = match failed.map(|l| &l.outcome) {
            Some(StepOutcome::Failed { error, cause }) => {
                (Some(error.clone()), Some(cause.clone()))
            }
            _ => (None, None),
        };
        SourceStatus {
            source: source.to_owned(),
            result: if ended { "no report" } else { "running" }.into(),
            failed_step: failed.map(|l| l.step.clone()),
            error,
            cause,
            rto_seconds: None,
            rpo_seconds: None,
            rows: None,
            temp: None,
            temp_state: TempState::Unknown,
        }
    }
}

/// The error kind an ASL error name stands for (`Drill.BackupInvalid`, ...).
pub fn kind_of_error(error: &str) -> Option<ErrorKind> {
    ErrorKind::ALL.into_iter().find(|k| k.error_type() == error)
}

/// The exit code of a finished execution, as the CLI's: 0 when every source passed; otherwise
/// a guard refusal (4) before an invalid backup (1) before bad input (2) before could-not-run (3).
pub fn exit_code(statuses: &[SourceStatus], execution_error: Option<&str>) -> ExitCode {
    if statuses.is_empty() {
        return match execution_error {
            None => ExitCode::Ok,
            Some(e) => kind_of_error(e)
                .map(ErrorKind::exit_code)
                .unwrap_or(ExitCode::CouldNotRun),
        };
    }
    if statuses.iter().all(|s| s.result == "passed") && execution_error.is_none() {
        return ExitCode::Ok;
    }
    let codes: Vec<ExitCode> = statuses
        .iter()
        .filter(|s| s.result != "passed")
        .map(|s| {
            s.error
                .as_deref()
                .and_then(kind_of_error)
                .map(ErrorKind::exit_code)
                // A failure without a known kind (a report that failed, an unknown error) is
                // something a person must look at.
                .unwrap_or(ExitCode::CouldNotRun)
        })
        .collect();
    for wanted in [
        ExitCode::GuardViolation,
        ExitCode::BackupInvalid,
        ExitCode::Usage,
    ] {
        if codes.contains(&wanted) {
            return wanted;
        }
    }
    ExitCode::CouldNotRun
}

#[cfg(test)]
mod tests {
    use super::super::progress::tests::at;
    use super::*;
    use serde_json::json;

    fn report(passed: bool, failure: Option<(&str, &str)>, cleanup: Value) -> RunReport {
        RunReport {
            format_version: 1,
            source_id: "a".into(),
            drill_id: "n1-a".into(),
            started_at: at(0),
            finished_at: at(60),
            passed,
            failed_step: failure.map(|(s, _)| s.to_owned()),
            failure: failure.map(|(s, e)| crate::run_report::Failure {
                step: s.into(),
                error: e.into(),
                cause: "why".into(),
            }),
            cleanup_failure: None,
            snapshot_copy: None,
            snapshot_copy_failure: None,
            backup: None,
            temp: Some(json!({"kind": "database", "identifier": "rdrill-a-1"})),
            validation: None,
            export: None,
            cleanup: Some(cleanup),
            rto_seconds: Some(12),
            rpo_seconds: Some(3600),
            rows: Some(10),
            backup_bytes: None,
        }
    }

    #[test]
    fn status_says_whether_the_temp_is_gone_only_on_evidence() {
        let s = SourceStatus::of_report(&report(
            true,
            None,
            json!({"deleted": ["rdrill-a-1"], "already_gone": [], "refused": []}),
        ));
        assert_eq!(
            (s.result.as_str(), s.temp_state),
            ("passed", TempState::Deleted)
        );
        assert_eq!(s.temp.as_deref(), Some("rdrill-a-1"));
        let s = SourceStatus::of_report(&report(
            false,
            Some(("restore", "Drill.BackupInvalid")),
            json!({"deleted": [], "already_gone": ["rdrill-a-1"], "refused": []}),
        ));
        assert_eq!(s.temp_state, TempState::AlreadyGone);
        assert_eq!(s.error.as_deref(), Some("Drill.BackupInvalid"));
        // Another resource deleted does not make this one gone; a refusal means it may be there.
        let other = json!({"deleted": ["rdrill-other"], "already_gone": [], "refused": []});
        assert_eq!(
            SourceStatus::of_report(&report(true, None, other)).temp_state,
            TempState::Unknown
        );
        let refused = json!({"deleted": [], "already_gone": [], "refused": ["rdrill-a-1"]});
        assert_eq!(
            SourceStatus::of_report(&report(false, None, refused)).temp_state,
            TempState::Left
        );
    }

    #[test]
    fn exit_codes_follow_the_worst_failure() {
        let ok = SourceStatus::of_report(&report(true, None, json!({})));
        let bad =
            |e: &str| SourceStatus::of_report(&report(false, Some(("validate", e)), json!({})));
        assert_eq!(exit_code(std::slice::from_ref(&ok), None), ExitCode::Ok);
        assert_eq!(
            exit_code(
                &[ok.clone(), bad("Drill.BackupInvalid")],
                Some("Drill.Failed")
            ),
            ExitCode::BackupInvalid
        );
        assert_eq!(
            exit_code(
                &[bad("Drill.BackupInvalid"), bad("Drill.GuardViolation")],
                None
            ),
            ExitCode::GuardViolation
        );
        assert_eq!(
            exit_code(&[bad("Lambda.Unknown")], None),
            ExitCode::CouldNotRun
        );
        // The plan refused the input: no source ran.
        assert_eq!(exit_code(&[], Some("Drill.InvalidInput")), ExitCode::Usage);
        assert_eq!(
            exit_code(&[], Some("States.Timeout")),
            ExitCode::CouldNotRun
        );
    }
}
