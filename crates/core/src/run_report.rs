//! The final report of one drill run (the state machine's report step), its CloudWatch metrics,
//! and the fleet summary that decides the alert.
//!
//! The report step receives the whole Step Functions state of one source's drill and must make
//! sense of any of its shapes: a success, a failure at any step (`failure`), a cleanup that failed
//! too (`cleanup_failure`). It never trusts a missing field to mean success.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::events::DrillContext;

pub const FORMAT_VERSION: u32 = 1;
/// CloudWatch namespace of the drill metrics (the alarms in infra/alerts.tf read it).
pub const METRIC_NAMESPACE: &str = "RestoreDrill";

/// Input of the report action of the validate function: one source's whole state, which
/// [`RunReport::assemble`] turns into its [`RunReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    pub drill: DrillContext,
    /// The state machine state of this source's drill (`$`).
    pub state: Value,
}

/// What went wrong, for the report and the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub step: String,
    pub error: String,
    pub cause: String,
}

/// The final report of one drill run in AWS, one source: what every step of the state machine
/// produced or why it failed (the validation as a [`crate::events::ValidateSummary`] pointing at
/// the full [`crate::report::Report`]). Assembled by the report step from the Step Functions
/// state ([`RunReport::assemble`]), written to `<source>/runs/<drill>.json` in the reports store
/// and emitted as CloudWatch metrics ([`RunReport::emf`]); `drill aws status/history` read it.
/// Its local counterpart, for `drill run`, is the engine's `drill::RunRecord`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub format_version: u32,
    pub source_id: String,
    pub drill_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub passed: bool,
    /// The first step that failed, if any.
    pub failed_step: Option<String>,
    pub failure: Option<Failure>,
    /// The cleanup's own failure, when cleanup after a failure failed as well.
    pub cleanup_failure: Option<Failure>,
    /// The nightly snapshot copy and expiry, when the source has one configured.
    pub snapshot_copy: Option<Value>,
    /// A failed snapshot copy or expiry: the drill still ran, but the run does not pass.
    pub snapshot_copy_failure: Option<Failure>,
    pub backup: Option<Value>,
    pub temp: Option<Value>,
    pub validation: Option<Value>,
    pub export: Option<Value>,
    pub cleanup: Option<Value>,
    /// Drill start to validated restore.
    pub rto_seconds: Option<u64>,
    /// Age of the data in the backup.
    pub rpo_seconds: Option<u64>,
    pub rows: Option<u64>,
    pub backup_bytes: Option<u64>,
}

fn failure_of(v: &Value, default_step: &str) -> Option<Failure> {
    let obj = v.as_object()?;
    Some(Failure {
        step: obj
            .get("step")
            .and_then(Value::as_str)
            .unwrap_or(default_step)
            .to_owned(),
        error: obj
            .get("Error")
            .and_then(Value::as_str)
            .unwrap_or("Unknown")
            .to_owned(),
        cause: obj
            .get("Cause")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    })
}

fn present(state: &Value, key: &str) -> Option<Value> {
    state.get(key).filter(|v| !v.is_null()).cloned()
}

impl RunReport {
    /// Builds the report from the state machine state of one source.
    pub fn assemble(request: &ReportRequest, finished_at: DateTime<Utc>) -> RunReport {
        let state = &request.state;
        let failure = state.get("failure").and_then(|f| failure_of(f, "unknown"));
        let cleanup_failure = state
            .get("cleanup_failure")
            .and_then(|f| failure_of(f, "delete-temp"));
        let snapshot_copy_failure = state
            .get("snapshot_copy_failure")
            .and_then(|f| failure_of(f, "snapshot-copy"));
        let snapshot_copy = match (
            present(state, "snapshot_copy"),
            present(state, "snapshot_expiry"),
        ) {
            (None, None) => None,
            (copy, expiry) => Some(json!({"copy": copy, "expiry": expiry})),
        };
        let validation = present(state, "validation");
        let export = present(state, "export");
        let cleanup = present(state, "cleanup");
        let validated = validation
            .as_ref()
            .and_then(|v| v.get("passed"))
            .and_then(Value::as_bool)
            == Some(true);
        // Success needs positive evidence of every step, not just the absence of a failure.
        let passed = failure.is_none()
            && cleanup_failure.is_none()
            && snapshot_copy_failure.is_none()
            && validated
            && export.is_some()
            && cleanup.is_some();
        let failed_step = if passed {
            None
        } else if let Some(f) = &failure {
            Some(f.step.clone())
        } else if cleanup_failure.is_some() {
            Some("delete-temp".to_owned())
        } else if snapshot_copy_failure.is_some() {
            Some("snapshot-copy".to_owned())
        } else if !validated {
            Some("validate".to_owned())
        } else if export.is_none() {
            Some("export".to_owned())
        } else {
            Some("delete-temp".to_owned())
        };
        let num = |v: &Option<Value>, key: &str| {
            v.as_ref().and_then(|v| v.get(key)).and_then(Value::as_u64)
        };
        RunReport {
            format_version: FORMAT_VERSION,
            source_id: request.drill.source_id.clone(),
            drill_id: request.drill.drill_id.clone(),
            started_at: request.drill.started_at,
            finished_at,
            passed,
            failed_step,
            failure,
            cleanup_failure,
            snapshot_copy,
            snapshot_copy_failure,
            backup: state.get("restore").and_then(|r| present(r, "backup")),
            temp: state.get("restore").and_then(|r| present(r, "temp")),
            rto_seconds: num(&validation, "rto_seconds"),
            rpo_seconds: num(&validation, "rpo_seconds"),
            rows: num(&validation, "rows").or_else(|| num(&export, "rows")),
            backup_bytes: num(&export, "compressed_bytes"),
            validation,
            export,
            cleanup,
        }
    }

    /// Where the report goes, relative to the reports root.
    pub fn key(&self) -> String {
        format!("{}/runs/{}.json", self.source_id, self.drill_id)
    }

    /// One CloudWatch Embedded Metric Format record: a log line CloudWatch turns into metrics.
    pub fn emf(&self, stack: &str) -> Value {
        let mut metrics = vec![json!({"Name": "DrillPassed", "Unit": "Count"})];
        let mut record = json!({
            "Stack": stack,
            "Source": self.source_id,
            "DrillId": self.drill_id,
            "DrillPassed": if self.passed { 1 } else { 0 },
        });
        for (name, unit, value) in [
            ("RTOSeconds", "Seconds", self.rto_seconds),
            ("RPOSeconds", "Seconds", self.rpo_seconds),
            ("Rows", "Count", self.rows),
            ("BackupBytes", "Bytes", self.backup_bytes),
        ] {
            if let Some(v) = value {
                metrics.push(json!({"Name": name, "Unit": unit}));
                record[name] = json!(v);
            }
        }
        record["_aws"] = json!({
            "Timestamp": self.finished_at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["Stack"], ["Stack", "Source"]],
                "Metrics": metrics,
            }],
        });
        record
    }

    /// What the state machine carries on for the fleet summary.
    pub fn outcome(&self, report_url: &str) -> Value {
        json!({
            "source_id": self.source_id,
            "passed": self.passed,
            "failed_step": self.failed_step,
            "report": report_url,
        })
    }
}

/// Input of the summary action: the outcome of every source's drill in one execution (the
/// report step's outputs, as the state machine's Map collected them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryRequest {
    pub execution: String,
    pub results: Vec<Value>,
}

/// The fleet verdict of one execution: how many sources passed and failed, and which step each
/// failure was in. Not stored; it decides the one SNS alert ([`Summary::alert`]) of the night.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub execution: String,
    pub passed: u32,
    pub failed: u32,
    /// `source: step` for every failed source.
    pub failures: Vec<String>,
}

impl Summary {
    pub fn of(request: &SummaryRequest) -> Summary {
        let mut s = Summary {
            execution: request.execution.clone(),
            passed: 0,
            failed: 0,
            failures: Vec::new(),
        };
        for r in &request.results {
            // Anything that does not positively say passed counts as failed.
            if r.get("passed").and_then(Value::as_bool) == Some(true) {
                s.passed += 1;
            } else {
                s.failed += 1;
                s.failures.push(format!(
                    "{}: {} failed ({})",
                    r.get("source_id").and_then(Value::as_str).unwrap_or("?"),
                    r.get("failed_step").and_then(Value::as_str).unwrap_or("?"),
                    r.get("report")
                        .and_then(Value::as_str)
                        .unwrap_or("no report"),
                ));
            }
        }
        s
    }

    /// Subject and body of the alert, when one is due.
    pub fn alert(&self) -> Option<(String, String)> {
        if self.failed == 0 {
            return None;
        }
        let subject = format!(
            "restore-drill: {} of {} sources failed their drill",
            self.failed,
            self.failed + self.passed
        );
        let body = format!(
            "Execution {}\n\n{}\n\nA failed drill means last night's backup is unproven. Read the \
             reports above; the state machine's execution history shows the failing step's input.",
            self.execution,
            self.failures.join("\n")
        );
        Some((subject, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill() -> DrillContext {
        DrillContext {
            drill_id: "exec-1-prod".into(),
            source_id: "prod".into(),
            started_at: "2026-11-22T03:00:00Z".parse().unwrap(),
        }
    }

    fn success_state() -> Value {
        json!({
            "entry": {"id": "prod"},
            "restore": {"temp": {"kind": "database"}, "backup": {"kind": "backup-set", "id": "s3://b/x", "taken_at": "2026-11-22T02:00:00Z"}},
            "status": {"state": "available"},
            "validation": {"passed": true, "rto_seconds": 120, "rpo_seconds": 3700, "rows": 15000},
            "export": {"rows": 15000, "compressed_bytes": 4096},
            "cleanup": {"deleted": ["rdrill-x"], "already_gone": [], "refused": []}
        })
    }

    fn report(state: Value) -> RunReport {
        RunReport::assemble(
            &ReportRequest {
                drill: drill(),
                state,
            },
            "2026-11-22T03:10:00Z".parse().unwrap(),
        )
    }

    #[test]
    fn a_complete_run_passes_with_its_numbers() {
        let r = report(success_state());
        assert!(r.passed);
        assert_eq!(r.failed_step, None);
        assert_eq!((r.rto_seconds, r.rpo_seconds), (Some(120), Some(3700)));
        assert_eq!(r.backup_bytes, Some(4096));
        assert_eq!(r.key(), "prod/runs/exec-1-prod.json");
    }

    #[test]
    fn the_failing_step_is_named() {
        let mut s = success_state();
        s["failure"] =
            json!({"step": "export", "Error": "Drill.CouldNotRun", "Cause": "no bucket"});
        let r = report(s);
        assert!(!r.passed);
        assert_eq!(r.failed_step.as_deref(), Some("export"));
        assert_eq!(r.failure.unwrap().error, "Drill.CouldNotRun");
    }

    #[test]
    fn missing_evidence_is_a_failure_not_a_pass() {
        for key in ["validation", "export", "cleanup"] {
            let mut s = success_state();
            s.as_object_mut().unwrap().remove(key);
            let r = report(s);
            assert!(!r.passed, "without {key}");
            assert!(r.failed_step.is_some());
        }
        let mut s = success_state();
        s["validation"]["passed"] = json!(false);
        assert_eq!(report(s).failed_step.as_deref(), Some("validate"));
    }

    #[test]
    fn a_failed_snapshot_copy_fails_the_run_but_keeps_the_drill_results() {
        let mut state = success_state();
        state["snapshot_copy_failure"] = json!({"step": "snapshot-copy", "Error": "Drill.InvalidInput", "Cause": "no automated snapshot"});
        let r = report(state.clone());
        assert!(!r.passed);
        assert_eq!(r.failed_step.as_deref(), Some("snapshot-copy"));
        assert_eq!(
            r.snapshot_copy_failure.as_ref().unwrap().error,
            "Drill.InvalidInput"
        );
        assert_eq!(
            r.rows,
            Some(15000),
            "the drill's own results are still reported"
        );
        // A successful copy is carried into the report and the run passes.
        state
            .as_object_mut()
            .unwrap()
            .remove("snapshot_copy_failure");
        state["snapshot_copy"] = json!({"copy": "rdrill-prod-1", "created": true});
        state["snapshot_expiry"] = json!({"expired": ["rdrill-prod-0"], "kept": [], "refused": []});
        let r = report(state);
        assert!(r.passed);
        let copy = r.snapshot_copy.unwrap();
        assert_eq!(copy["copy"]["copy"], "rdrill-prod-1");
        assert_eq!(copy["expiry"]["expired"][0], "rdrill-prod-0");
        assert!(report(success_state()).snapshot_copy.is_none());
    }

    #[test]
    fn a_failed_cleanup_fails_the_drill() {
        let mut s = success_state();
        s["cleanup_failure"] = json!({"Error": "Drill.GuardViolation", "Cause": "guard owner"});
        let r = report(s);
        assert!(!r.passed);
        assert_eq!(r.failed_step.as_deref(), Some("delete-temp"));
    }

    #[test]
    fn emf_carries_the_metrics_the_alarms_read() {
        let e = report(success_state()).emf("restore-drill");
        assert_eq!(
            e["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            METRIC_NAMESPACE
        );
        assert_eq!(
            e["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["Stack"])
        );
        assert_eq!(e["DrillPassed"], 1);
        assert_eq!(e["RTOSeconds"], 120);
        let names: Vec<&str> = e["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for n in names {
            assert!(e.get(n).is_some(), "metric {n} has no value");
        }
    }

    #[test]
    fn summary_alerts_only_on_failure_and_counts_unknowns_as_failed() {
        let ok = SummaryRequest {
            execution: "e".into(),
            results: vec![json!({"source_id": "a", "passed": true})],
        };
        assert!(Summary::of(&ok).alert().is_none());
        let bad = SummaryRequest {
            execution: "e".into(),
            results: vec![
                json!({"source_id": "a", "passed": true}),
                json!({"source_id": "b", "passed": false, "failed_step": "validate", "report": "s3://r"}),
                json!({"source_id": "c"}),
            ],
        };
        let s = Summary::of(&bad);
        assert_eq!((s.passed, s.failed), (1, 2));
        let (subject, body) = s.alert().unwrap();
        assert!(subject.contains("2 of 3"), "{subject}");
        assert!(body.contains("b: validate failed (s3://r)"), "{body}");
    }
}
