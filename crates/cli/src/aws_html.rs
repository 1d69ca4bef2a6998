//! The deployed drill's run reports as the records `drill run`'s summary and the HTML report
//! (nights table, trend charts) draw.

use drill_core::operate::ProgressLine;
use drill_core::report::Report;
use drill_core::run_report::RunReport;
use drill_engine::drill::{RunRecord, Step, StepRecord};
use drill_engine::store::Store;
use serde_json::{json, Value};

/// One record per night; the validation report is read from the store when it lies there.
pub async fn records(reports: &Store, nights: &[RunReport]) -> Vec<RunRecord> {
    let mut out = Vec::new();
    for r in nights {
        let url = r
            .validation
            .as_ref()
            .and_then(|v| v.get("report"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let root = reports.url_of("");
        let full = match url.strip_prefix(root.as_str()) {
            Some(key) if !key.is_empty() => reports
                .get(key)
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<Report>(&b).ok()),
            _ => None,
        };
        let report = full.unwrap_or_else(|| minimal(r));
        let count = |k: &str| {
            r.validation
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_u64)
                .unwrap_or(0) as u32
        };
        out.push(RunRecord {
            source_id: r.source_id.clone(),
            drill_id: r.drill_id.clone(),
            label: Some(r.started_at.format("%Y-%m-%d").to_string()),
            started_at: r.started_at,
            finished_at: r.finished_at,
            backup_set: r
                .backup
                .as_ref()
                .and_then(|b| b.get("id"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            manifest_sha256: String::new(),
            temp_database: r
                .temp
                .as_ref()
                // An RDS temp is named by `identifier`, a temp database by `name`.
                .and_then(|t| t.get("identifier").or_else(|| t.get("name")))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            temp_dropped: r.cleanup.is_some() && r.cleanup_failure.is_none(),
            steps: Vec::new(),
            tables: 0,
            rows: r.rows.unwrap_or(0),
            raw_bytes: 0,
            backup_bytes: r.backup_bytes.unwrap_or(0),
            rto_seconds: r.rto_seconds.unwrap_or(0) as f64,
            rpo_seconds: r.rpo_seconds,
            checks_passed: count("checks_passed"),
            checks_failed: count("checks_failed"),
            checks_errored: count("checks_errored"),
            report,
            report_url: (!url.is_empty()).then(|| url.to_owned()),
        });
    }
    out
}

/// As [`records`], with each record's steps timed from the execution's progress lines.
pub async fn records_with_steps(
    reports: &Store,
    nights: &[RunReport],
    lines: &[ProgressLine],
) -> Vec<RunRecord> {
    let mut out = records(reports, nights).await;
    for r in &mut out {
        r.steps = steps_of(lines, &r.source_id, r.rows);
    }
    out
}

/// The deployed steps as `drill run`'s: the restore and its wait are one restore, the report
/// step has no counterpart.
fn steps_of(lines: &[ProgressLine], source: &str, rows: u64) -> Vec<StepRecord> {
    let mut out: Vec<StepRecord> = Vec::new();
    for l in lines.iter().filter(|l| l.source == source) {
        let step = match l.step.as_str() {
            "restore" | "wait" => Step::Restore,
            "validate" => Step::Validate,
            "export" => Step::Export,
            "delete-temp" => Step::DropTemp,
            _ => continue,
        };
        match out.iter_mut().find(|s| s.step == step) {
            Some(s) => s.seconds += l.seconds,
            None => out.push(StepRecord {
                step,
                seconds: l.seconds,
                rows: (step == Step::Validate && rows > 0).then_some(rows),
                bytes: None,
            }),
        }
    }
    out
}

/// A night that never reached validation: a report with no checks that did not pass.
fn minimal(r: &RunReport) -> Report {
    let v = json!({
        "format_version": 1,
        "source_id": r.source_id,
        "drill_id": r.drill_id,
        "target": "",
        "drill_started_at": r.started_at,
        "validation_started_at": r.finished_at,
        "finished_at": r.finished_at,
        "outcome": "could_not_run",
        "passed": false,
        "rto_seconds": r.rto_seconds.unwrap_or(0),
        "checks": [],
    });
    serde_json::from_value(v).expect("a minimal report deserialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_night_without_validation_is_not_a_pass() {
        let r: RunReport = serde_json::from_value(json!({
            "format_version": 1, "source_id": "a", "drill_id": "n-a",
            "started_at": "2026-11-22T03:00:00Z", "finished_at": "2026-11-22T03:01:00Z",
            "passed": false, "failed_step": "restore", "failure": null, "cleanup_failure": null,
            "snapshot_copy": null, "snapshot_copy_failure": null, "backup": null, "temp": null,
            "validation": null, "export": null, "cleanup": null, "rto_seconds": null,
            "rpo_seconds": null, "rows": null, "backup_bytes": null
        }))
        .unwrap();
        assert!(!minimal(&r).passed);
    }
}
