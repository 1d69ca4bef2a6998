//! Progress lines from a Step Functions execution history: one per source and step.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// One history event, reduced to what the progress derivation reads.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    pub timestamp: DateTime<Utc>,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A state was entered; `input` is the state's input JSON text.
    Entered {
        state: String,
        input: String,
    },
    /// A state was exited; `output` is the state's output JSON text.
    Exited {
        state: String,
        output: String,
    },
    ExecutionSucceeded,
    ExecutionFailed {
        error: String,
        cause: String,
    },
    /// Aborted or timed out.
    ExecutionEnded {
        how: String,
    },
    Other,
}

/// The drill step a state of statemachine/drill.asl.json belongs to.
pub fn step_of_state(state: &str) -> Option<&'static str> {
    Some(match state {
        "CopySnapshot" | "ExpireCopies" => "snapshot-copy",
        "Restore" => "restore",
        "WaitForTemp" | "CheckTemp" | "TempReady" => "wait",
        "Validate" => "validate",
        // The export runs as plan → Distributed Map of units → finish (its units are child
        // executions: only the Map state itself is in this history).
        "PlanExport" | "ExportUnits" | "FinishExport" => "export",
        "DeleteTemp" | "CleanupAfterFailure" | "CleanupAfterRestoreFailure" => "delete-temp",
        "ReportSuccess" | "ReportFailure" => "report",
        _ => return None,
    })
}

/// The Pass states that record a failure, and the state field holding it.
fn failure_state(state: &str) -> Option<&'static str> {
    match state {
        "RestoreFailed" | "CheckTempFailed" | "TempNotReady" | "ValidateFailed"
        | "ExportFailed" | "DeleteTempFailed" => Some("failure"),
        "SnapshotCopyFailed" | "SnapshotExpiryFailed" => Some("snapshot_copy_failure"),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StepOutcome {
    Ok,
    Failed { error: String, cause: String },
}

/// One finished step of one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressLine {
    pub source: String,
    pub step: String,
    #[serde(flatten)]
    pub outcome: StepOutcome,
    pub seconds: f64,
    pub at: DateTime<Utc>,
}

impl ProgressLine {
    /// `app-logical  restore      ok       0.8s`, `... FAILED   0.3s  Drill.X: cause`.
    pub fn render(&self, source_width: usize) -> String {
        let secs = format!("{:.1}s", self.seconds);
        match &self.outcome {
            StepOutcome::Ok => format!(
                "{:<w$}  {:<13} ok      {secs:>7}",
                self.source,
                self.step,
                w = source_width
            ),
            StepOutcome::Failed { error, cause } => format!(
                "{:<w$}  {:<13} FAILED  {secs:>7}  {error}: {}",
                self.source,
                self.step,
                one_line(cause, 160),
                w = source_width
            ),
        }
    }
}

fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        let mut t: String = flat.chars().take(max).collect();
        t.push('…');
        t
    } else {
        flat
    }
}

/// A Lambda error's cause is the JSON `{"errorMessage", "errorType"}`: show the message.
pub fn readable_cause(cause: &str) -> String {
    serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| cause.to_owned())
}

fn source_of(json: &str) -> Option<(String, Value)> {
    let v: Value = serde_json::from_str(json).ok()?;
    // Inside the drill, states carry `drill`; the report step's output is the outcome itself.
    let id = v
        .get("drill")
        .and_then(|d| d.get("source_id"))
        .or_else(|| v.get("source_id"))?
        .as_str()?
        .to_owned();
    Some((id, v))
}

fn failure_fields(v: Option<&Value>) -> (String, String) {
    let get = |k: &str| {
        v.and_then(|f| f.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let error = get("Error");
    (
        if error.is_empty() {
            "Unknown".into()
        } else {
            error
        },
        readable_cause(&get("Cause")),
    )
}

/// Every finished step of every source, in history order. Call it on the whole history each
/// poll and print the lines beyond those already printed: the history only grows.
pub fn progress(events: &[HistoryEvent]) -> Vec<ProgressLine> {
    // Per source: the step running and since when.
    let mut current: Vec<(String, &'static str, DateTime<Utc>)> = Vec::new();
    let mut lines = Vec::new();
    let close = |current: &mut Vec<(String, &'static str, DateTime<Utc>)>,
                 source: &str|
     -> Option<(&'static str, DateTime<Utc>)> {
        let i = current.iter().position(|(s, _, _)| s == source)?;
        let (_, step, since) = current.remove(i);
        Some((step, since))
    };
    for e in events {
        match &e.kind {
            EventKind::Entered { state, input } => {
                let Some((source, v)) = source_of(input) else {
                    continue;
                };
                if let Some(step) = step_of_state(state) {
                    let running = current
                        .iter()
                        .find(|(s, _, _)| *s == source)
                        .map(|(_, st, _)| *st);
                    if running == Some(step) {
                        continue; // the wait loop, once more
                    }
                    if let Some((prev, since)) = close(&mut current, &source) {
                        // A cleanup that failed is caught into `cleanup_failure` and goes on
                        // to the report: the cleanup step failed, even though nothing stopped.
                        let outcome = match v.get("cleanup_failure") {
                            Some(f) if prev == "delete-temp" && !f.is_null() => {
                                let (error, cause) = failure_fields(Some(f));
                                StepOutcome::Failed { error, cause }
                            }
                            _ => StepOutcome::Ok,
                        };
                        lines.push(line(&source, prev, outcome, since, e.timestamp));
                    }
                    current.push((source, step, e.timestamp));
                } else if state == "ReportFailed" {
                    let since = close(&mut current, &source)
                        .map(|(_, s)| s)
                        .unwrap_or(e.timestamp);
                    let (error, cause) = failure_fields(v.get("report_failure"));
                    lines.push(line(
                        &source,
                        "report",
                        StepOutcome::Failed { error, cause },
                        since,
                        e.timestamp,
                    ));
                }
            }
            EventKind::Exited { state, output } => {
                let Some((source, v)) = source_of(output) else {
                    continue;
                };
                if let Some(field) = failure_state(state) {
                    let f = v.get(field);
                    let step = f
                        .and_then(|f| f.get("step"))
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_owned();
                    let since = close(&mut current, &source)
                        .map(|(_, s)| s)
                        .unwrap_or(e.timestamp);
                    let (error, cause) = failure_fields(f);
                    lines.push(ProgressLine {
                        source,
                        step,
                        outcome: StepOutcome::Failed { error, cause },
                        seconds: secs(since, e.timestamp),
                        at: e.timestamp,
                    });
                } else if step_of_state(state) == Some("report") {
                    if let Some((_, since)) = close(&mut current, &source) {
                        lines.push(line(&source, "report", StepOutcome::Ok, since, e.timestamp));
                    }
                }
            }
            _ => {}
        }
    }
    lines
}

fn secs(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}

fn line(
    source: &str,
    step: &str,
    outcome: StepOutcome,
    since: DateTime<Utc>,
    at: DateTime<Utc>,
) -> ProgressLine {
    ProgressLine {
        source: source.to_owned(),
        step: step.to_owned(),
        outcome,
        seconds: secs(since, at),
        at,
    }
}

/// The source ids the Plan step chose (its output `{"sources": [{"id": ..}, ..]}`).
pub fn planned_sources(events: &[HistoryEvent]) -> Option<Vec<String>> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Exited { state, output } if state == "Plan" => {
            let v: Value = serde_json::from_str(output).ok()?;
            // A caught Plan failure exits with the input (ids as strings) and `failure`.
            if v.get("failure").is_some() {
                return None;
            }
            Some(
                v.get("sources")?
                    .as_array()?
                    .iter()
                    .filter_map(|s| s.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect(),
            )
        }
        _ => None,
    })
}

/// Whether the execution ended, and how (from the history's last events).
pub fn execution_end(events: &[HistoryEvent]) -> Option<EventKind> {
    events.iter().rev().find_map(|e| match &e.kind {
        k @ (EventKind::ExecutionSucceeded
        | EventKind::ExecutionFailed { .. }
        | EventKind::ExecutionEnded { .. }) => Some(k.clone()),
        _ => None,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::SourceStatus;
    use super::*;
    use serde_json::json;

    pub(crate) fn at(s: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_558_000 + i64::from(s), 0).unwrap()
    }
    fn entered(s: u32, state: &str, input: Value) -> HistoryEvent {
        HistoryEvent {
            timestamp: at(s),
            kind: EventKind::Entered {
                state: state.into(),
                input: input.to_string(),
            },
        }
    }
    fn exited(s: u32, state: &str, output: Value) -> HistoryEvent {
        HistoryEvent {
            timestamp: at(s),
            kind: EventKind::Exited {
                state: state.into(),
                output: output.to_string(),
            },
        }
    }
    fn d(src: &str) -> Value {
        json!({"drill": {"source_id": src}})
    }
    fn with(src: &str, k: &str, v: Value) -> Value {
        let mut x = d(src);
        x[k] = v;
        x
    }

    fn steps(lines: &[ProgressLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| match &l.outcome {
                StepOutcome::Ok => format!("{} {} ok {}", l.source, l.step, l.seconds),
                StepOutcome::Failed { error, .. } => {
                    format!("{} {} {error} {}", l.source, l.step, l.seconds)
                }
            })
            .collect()
    }

    #[test]
    fn a_successful_drill_gives_one_line_per_step_and_the_wait_loop_once() {
        let mut ev = vec![exited(0, "Plan", json!({"sources": [{"id": "a"}]}))];
        for (t, s) in [
            (1, "Restore"),
            (3, "WaitForTemp"),
            (4, "CheckTemp"),
            (5, "TempReady"),
            (6, "WaitForTemp"),
            (7, "CheckTemp"),
            (8, "Validate"),
            (12, "PlanExport"),
            (13, "ExportUnits"),
            (14, "FinishExport"),
            (15, "DeleteTemp"),
            (16, "ReportSuccess"),
        ] {
            ev.push(entered(t, s, d("a")));
        }
        ev.push(exited(
            17,
            "ReportSuccess",
            json!({"source_id": "a", "passed": true}),
        ));
        let lines = progress(&ev);
        assert_eq!(
            steps(&lines),
            [
                "a restore ok 2",
                "a wait ok 5",
                "a validate ok 4",
                "a export ok 3",
                "a delete-temp ok 1",
                "a report ok 1"
            ]
        );
        assert_eq!(planned_sources(&ev), Some(vec!["a".to_owned()]));
        // A refused plan exits with its input and the failure: no sources planned.
        let refused = exited(
            0,
            "Plan",
            json!({"sources": ["x"], "failure": {"Error": "Drill.InvalidInput"}}),
        );
        assert_eq!(planned_sources(&[refused]), None);
        assert!(lines[0].render(3).starts_with("a    restore       ok"));
    }

    #[test]
    fn a_failed_step_names_its_error_and_the_cleanup_and_report_follow() {
        let failure = json!({"step": "validate", "Error": "Drill.BackupInvalid", "Cause": "enough students: 500 < 1000000"});
        let ev = vec![
            entered(0, "Restore", d("a")),
            entered(2, "Validate", d("b")),
            entered(3, "WaitForTemp", d("a")),
            entered(4, "Validate", d("a")),
            exited(6, "ValidateFailed", with("a", "failure", failure)),
            entered(6, "CleanupAfterFailure", d("a")),
            entered(7, "ReportFailure", d("a")),
            exited(8, "ReportFailure", d("a")),
        ];
        let lines = progress(&ev);
        assert_eq!(
            steps(&lines),
            [
                "a restore ok 3",
                "a wait ok 1",
                "a validate Drill.BackupInvalid 2",
                "a delete-temp ok 1",
                "a report ok 1"
            ]
        );
        assert!(lines[2].render(1).contains("FAILED"));
        assert!(lines[2].render(1).contains("enough students"));
        let st = SourceStatus::of_progress("a", &lines, true);
        assert_eq!(st.failed_step.as_deref(), Some("validate"));
        assert_eq!(st.error.as_deref(), Some("Drill.BackupInvalid"));
        // b is still validating: nothing finished for it yet.
        assert!(lines.iter().all(|l| l.source == "a"));
        assert_eq!(
            SourceStatus::of_progress("b", &lines, false).result,
            "running"
        );
    }

    #[test]
    fn a_failed_cleanup_and_a_failed_report_are_failures() {
        let ev = vec![
            entered(0, "CleanupAfterFailure", d("a")),
            entered(
                1,
                "ReportFailure",
                with(
                    "a",
                    "cleanup_failure",
                    json!({"Error": "Drill.GuardViolation", "Cause": "owner tag"}),
                ),
            ),
            entered(
                2,
                "ReportFailed",
                with(
                    "a",
                    "report_failure",
                    json!({"Error": "Drill.CouldNotRun", "Cause": "no bucket"}),
                ),
            ),
        ];
        assert_eq!(
            steps(&progress(&ev)),
            [
                "a delete-temp Drill.GuardViolation 1",
                "a report Drill.CouldNotRun 1"
            ]
        );
    }
}
