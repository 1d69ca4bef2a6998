//! The `row_counts` and `freshness` verdicts, and the measured RPO.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{human_duration, CheckResult, Fingerprint, FreshnessTable, RowCountConfig, Status};

/// Compares exact row counts (the `rows` of `measured`) with the manifest (exact) and with the
/// last good drill (a drop beyond tolerance is "data loss suspected").
pub fn evaluate_row_counts(
    measured: &Fingerprint,
    manifest: Option<&Fingerprint>,
    previous: Option<&Fingerprint>,
    config: &RowCountConfig,
) -> CheckResult {
    const NAME: &str = "row_counts";
    if !config.enabled {
        return CheckResult::skipped(NAME, "disabled");
    }
    let total: u64 = measured.total_rows();
    let counted = measured.tables.iter().filter(|t| t.rows.is_some()).count();
    let summary = format!("{total} rows in {counted} tables");
    let count_of = |schema: &str, name: &str| -> u64 {
        measured
            .table(schema, name)
            .and_then(|t| t.rows)
            .unwrap_or(0)
    };
    if measured.tables.is_empty() && !config.allow_empty {
        return CheckResult::new(NAME, Status::Fail)
            .measured("no user tables")
            .expected("at least one table (row_counts.allow_empty = false)")
            .details(vec![
                "the restored database has no user tables: wrong database, an empty backup, or \
                 every schema excluded"
                    .to_owned(),
            ]);
    }
    let mut details = Vec::new();
    let mut expected = Vec::new();
    if let Some(manifest) = manifest {
        expected.push("= manifest".to_owned());
        for et in &manifest.tables {
            let Some(want) = et.rows else { continue };
            let present = measured.table(&et.schema, &et.name).is_some();
            let got = count_of(&et.schema, &et.name);
            if !present {
                details.push(format!(
                    "{}: table missing, manifest has {want} rows",
                    et.qualified()
                ));
            } else if got != want {
                details.push(format!(
                    "{}: {got} rows, manifest has {want}",
                    et.qualified()
                ));
            }
        }
    }
    let mut loss = Vec::new();
    if let Some(previous) = previous {
        expected.push(format!(
            "no drop > {}% vs last good drill",
            config.max_drop_percent
        ));
        for pt in &previous.tables {
            let Some(before) = pt.rows else { continue };
            let now = count_of(&pt.schema, &pt.name);
            if now >= before || before == 0 {
                continue;
            }
            let drop = (before - now) as f64 * 100.0 / before as f64;
            let tolerance = config.tolerance_for(&pt.qualified());
            if drop > tolerance {
                loss.push(format!(
                    "{}: {before} -> {now} rows (-{drop:.1}%, tolerance {tolerance}%)",
                    pt.qualified()
                ));
            }
        }
    }
    if !loss.is_empty() {
        details.insert(
            0,
            format!(
                "data loss suspected: {} table(s) shrank beyond tolerance since the last good drill",
                loss.len()
            ),
        );
        details.extend(loss);
    }
    if manifest.is_none() && previous.is_none() {
        return CheckResult::new(NAME, Status::Pass)
            .measured(summary)
            .expected("exact counts (no manifest or earlier good drill to compare)");
    }
    let status = if details.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    let measured_text = if details.first().is_some_and(|d| d.starts_with("data loss")) {
        format!("{summary}; data loss suspected")
    } else {
        summary
    };
    CheckResult::new(NAME, status)
        .measured(measured_text)
        .expected(expected.join("; "))
        .details(details)
}

/// Freshness of one table: `newest` is `max(column)`, `None` when the table is empty.
pub fn evaluate_freshness(
    table: &FreshnessTable,
    newest: Option<DateTime<Utc>>,
    backup_time: DateTime<Utc>,
    default_max_lag: Duration,
) -> CheckResult {
    let name = format!("freshness:{}", table.table);
    let max_lag = table
        .max_lag_seconds
        .map(Duration::from_secs)
        .unwrap_or(default_max_lag);
    let expected = format!(
        "max({}) within {} of backup time {}",
        table.column,
        human_duration(max_lag),
        backup_time.to_rfc3339()
    );
    let Some(newest) = newest else {
        return CheckResult::new(name, Status::Fail)
            .measured("no rows (max is NULL)")
            .expected(expected);
    };
    let lag = backup_time.signed_duration_since(newest);
    let lag_secs = lag.num_seconds();
    let status = if lag_secs > max_lag.as_secs() as i64 {
        Status::Fail
    } else {
        Status::Pass
    };
    let measured = if lag_secs >= 0 {
        format!(
            "newest {} (lag {})",
            newest.to_rfc3339(),
            human_duration(Duration::from_secs(lag_secs as u64))
        )
    } else {
        format!(
            "newest {} ({} after the backup time)",
            newest.to_rfc3339(),
            human_duration(Duration::from_secs(lag_secs.unsigned_abs()))
        )
    };
    CheckResult::new(name, status)
        .measured(measured)
        .expected(expected)
}

/// Measured RPO: how much data would have been lost had production died when the drill started —
/// the drill start minus the newest row found by the freshness checks, or minus the backup time
/// when no freshness table is configured.
pub fn measured_rpo(
    drill_started: DateTime<Utc>,
    backup_time: Option<DateTime<Utc>>,
    newest_rows: &[DateTime<Utc>],
) -> Option<u64> {
    let reference = newest_rows.iter().max().copied().or(backup_time)?;
    Some(
        drill_started
            .signed_duration_since(reference)
            .num_seconds()
            .max(0) as u64,
    )
}
