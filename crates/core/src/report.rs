//! The drill report: a versioned JSON document (documented in `docs/validation.md`) and its
//! rendering as a table for people.
//!
//! A report is written once to the history store of its source; the newest *passing* report is
//! the baseline of the next night's comparisons, through its [`Fingerprint`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::checks::{human_duration, CheckResult, Fingerprint, Outcome, Status};
use crate::events::{BackupRef, ValidateSummary};

/// Version of the report format; bumped on any incompatible change.
pub const REPORT_FORMAT: u32 = 1;

/// One table as read by the drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRead {
    /// `schema.table`.
    pub table: String,
    pub rows: u64,
    /// Bytes of row data read, TOAST included (sum of `pg_column_size` of every row).
    pub bytes: u64,
    pub duration_ms: u64,
}

/// The validation report of one restored database: every check and its result, the tables
/// read, the measured fingerprint. Written once by the validate step (the validate Lambda, or
/// `drill validate` / `drill run`) to `reports/<time>-<drill>.<outcome>.json` in the source's
/// history store; the newest passing one is the next drill's baseline.
///
/// Not the other report types: [`ValidateSummary`] is this report's short form (counts and the
/// URL of this report) that the state machine carries on; [`crate::run_report::RunReport`] is a
/// whole AWS run (every step, the validation as that summary); the engine's `drill::RunRecord`
/// is a whole local `drill run`/`drill demo` run. `docs/architecture.md` has the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Always [`REPORT_FORMAT`] for reports written by this version.
    pub format_version: u32,
    pub source_id: String,
    pub drill_id: String,
    /// The backup restored, when known (the CLI may validate any database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupRef>,
    /// `host:port/database` validated; never credentials.
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    pub drill_started_at: DateTime<Utc>,
    pub validation_started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `pass`, `backup_invalid` or `could_not_run` (see [`Outcome`]).
    pub outcome: Outcome,
    /// True only when `outcome` is `pass`.
    pub passed: bool,
    /// Drill start to the end of validation: the recovery time so far.
    pub rto_seconds: u64,
    /// See [`crate::checks::measured_rpo`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_seconds: Option<u64>,
    pub checks: Vec<CheckResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableRead>,
    /// The restored database as measured (tables, columns, counts, indexes, constraints): the
    /// next drill's baseline when this report passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// The report the night-over-night checks compared against, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_report: Option<String>,
}

impl Report {
    /// Sets `outcome` and `passed` from the checks: the only way they are computed, so a report
    /// can never say pass while a check failed or errored.
    pub fn seal(&mut self) {
        self.outcome = Outcome::of(&self.checks);
        self.passed = self.outcome == Outcome::Pass;
    }

    pub fn count(&self, status: Status) -> u32 {
        self.checks.iter().filter(|c| c.status == status).count() as u32
    }

    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// Key of this report in its history store: sortable by time, outcome visible in the name so
    /// the newest good report is found without reading every report.
    pub fn history_key(&self) -> String {
        format!(
            "reports/{}-{}.{}.json",
            self.finished_at.format("%Y%m%dT%H%M%S%3fZ"),
            sanitize(&self.drill_id),
            outcome_tag(self.outcome)
        )
    }

    pub fn summary(&self, report_url: String) -> ValidateSummary {
        ValidateSummary {
            passed: self.passed,
            checks_passed: self.count(Status::Pass),
            checks_failed: self.count(Status::Fail),
            checks_errored: self.count(Status::Error),
            rto_seconds: self.rto_seconds,
            rpo_seconds: self.rpo_seconds,
            rows: self.total_rows(),
            report: report_url,
        }
    }

    /// One line naming what went wrong, for error messages and the Lambda error.
    pub fn problem_line(&self) -> String {
        let bad: Vec<String> = self
            .checks
            .iter()
            .filter(|c| matches!(c.status, Status::Fail | Status::Error | Status::Incomplete))
            .map(|c| {
                let first = c.details.first().unwrap_or(&c.measured);
                format!("{} {}: {}", c.name, c.status.as_str(), first)
            })
            .collect();
        bad.join("; ")
    }

    /// The report as a table for people.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let verdict = match self.outcome {
            Outcome::Pass => "PASS",
            Outcome::BackupInvalid => "FAIL: backup invalid",
            Outcome::CouldNotRun => "ERROR: could not validate",
            Outcome::Incomplete => "INCOMPLETE: ran out of time",
        };
        out.push_str(&format!(
            "restore-drill validation report (format {})\n",
            self.format_version
        ));
        out.push_str(&format!(
            "source {}  drill {}  target {}{}\n",
            self.source_id,
            self.drill_id,
            self.target,
            self.server_version
                .as_ref()
                .map(|v| format!("  (PostgreSQL {v})"))
                .unwrap_or_default()
        ));
        if let Some(b) = &self.backup {
            out.push_str(&format!(
                "backup {} {} taken {}\n",
                b.kind,
                b.id,
                b.taken_at.to_rfc3339()
            ));
        }
        let secs = |s: u64| human_duration(std::time::Duration::from_secs(s));
        out.push_str(&format!(
            "result {verdict}  RTO so far {}  RPO measured {}  rows {}\n\n",
            secs(self.rto_seconds),
            self.rpo_seconds
                .map(secs)
                .unwrap_or_else(|| "unknown".into()),
            self.total_rows()
        ));
        let rows: Vec<[String; 5]> = self
            .checks
            .iter()
            .map(|c| {
                [
                    c.name.clone(),
                    c.status.as_str().to_owned(),
                    c.measured.clone(),
                    c.expected.clone(),
                    human_duration(std::time::Duration::from_millis(c.duration_ms)),
                ]
            })
            .collect();
        let header = ["CHECK", "STATUS", "MEASURED", "EXPECTED", "TIME"].map(str::to_owned);
        // Long texts are truncated in the table; the JSON report keeps them whole.
        let cap = [32usize, 7, 48, 48, 8];
        let clip = |s: &str, n: usize| -> String {
            if s.chars().count() <= n {
                s.to_owned()
            } else {
                let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
                t.push('…');
                t
            }
        };
        let mut widths = [0usize; 5];
        for row in std::iter::once(&header).chain(rows.iter()) {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(clip(cell, cap[i]).chars().count());
            }
        }
        let line = |row: &[String; 5]| -> String {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{:<w$}", clip(c, cap[i]), w = widths[i]))
                .collect();
            format!("{}\n", cells.join("  ").trim_end())
        };
        out.push_str(&line(&header));
        for (row, check) in rows.iter().zip(&self.checks) {
            out.push_str(&line(row));
            for d in check.details.iter().take(20) {
                out.push_str(&format!("    - {d}\n"));
            }
            if check.details.len() > 20 {
                out.push_str(&format!(
                    "    - ... {} more in the JSON report\n",
                    check.details.len() - 20
                ));
            }
        }
        out
    }
}

fn outcome_tag(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::BackupInvalid => "fail",
        Outcome::CouldNotRun => "error",
        Outcome::Incomplete => "incomplete",
    }
}

/// Whether a history key names a passing report.
pub fn is_passing_key(key: &str) -> bool {
    key.starts_with("reports/") && key.ends_with(".pass.json")
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(statuses: &[Status]) -> Report {
        let t: DateTime<Utc> = "2026-03-01T03:00:00Z".parse().unwrap();
        let mut r = Report {
            format_version: REPORT_FORMAT,
            source_id: "prod".into(),
            drill_id: "d/1".into(),
            backup: None,
            target: "h:5432/app".into(),
            server_version: Some("15.8".into()),
            drill_started_at: t,
            validation_started_at: t,
            finished_at: t + chrono::Duration::seconds(90),
            outcome: Outcome::Pass,
            passed: true,
            rto_seconds: 90,
            rpo_seconds: Some(3600),
            checks: statuses
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    CheckResult::new(format!("c{i}"), *s)
                        .measured("m")
                        .details(vec![format!("detail {i}")])
                })
                .collect(),
            tables: vec![TableRead {
                table: "public.a".into(),
                rows: 7,
                bytes: 70,
                duration_ms: 1,
            }],
            fingerprint: None,
            baseline_report: None,
        };
        r.seal();
        r
    }

    #[test]
    fn sealing_decides_pass_from_the_checks_only() {
        assert!(report(&[Status::Pass, Status::Skipped]).passed);
        let r = report(&[Status::Pass, Status::Error]);
        assert!(!r.passed);
        assert_eq!(r.outcome, Outcome::CouldNotRun);
        let r = report(&[Status::Fail, Status::Error]);
        assert!(!r.passed);
        assert_eq!(r.outcome, Outcome::BackupInvalid);
        assert_eq!(r.problem_line(), "c0 fail: detail 0; c1 error: detail 1");
    }

    #[test]
    fn json_round_trips_and_is_versioned() {
        let r = report(&[Status::Pass]);
        let text = serde_json::to_string(&r).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["format_version"], 1);
        assert_eq!(v["outcome"], "pass");
        assert_eq!(v["checks"][0]["status"], "pass");
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn history_keys_sort_by_time_and_mark_the_outcome() {
        let good = report(&[Status::Pass]);
        let mut bad = report(&[Status::Fail]);
        bad.finished_at += chrono::Duration::seconds(1);
        assert_eq!(
            good.history_key(),
            "reports/20260301T030130000Z-d_1.pass.json"
        );
        assert!(is_passing_key(&good.history_key()));
        assert!(!is_passing_key(&bad.history_key()));
        assert!(bad.history_key() > good.history_key());
    }

    #[test]
    fn summary_counts_and_table_rendering() {
        let r = report(&[Status::Pass, Status::Fail, Status::Error, Status::Skipped]);
        let s = r.summary("file:///r.json".into());
        assert_eq!(
            (
                s.passed,
                s.checks_passed,
                s.checks_failed,
                s.checks_errored,
                s.rows
            ),
            (false, 1, 1, 1, 7)
        );
        let table = r.render_table();
        assert!(table.contains("FAIL: backup invalid"), "{table}");
        assert!(table.contains("RTO so far 1m30s"), "{table}");
        assert!(table.contains("RPO measured 1h00m"), "{table}");
        assert!(table.contains("    - detail 1"), "{table}");
        let c1 = table.lines().find(|l| l.starts_with("c1 ")).unwrap();
        assert!(c1.contains("fail"), "{c1}");
    }
}
