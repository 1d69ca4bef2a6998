//! The checks of one validation after `connect`: catalog, the two data passes side by side,
//! freshness, the SQL assertions; each verdict from [`drill_core::checks`].

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use drill_core::checks::{self, Baseline, CheckResult, Fingerprint, IntegrityPass, Status};
use drill_core::report::{Report, TableRead};
use tokio_postgres::Client;

use super::catalog::catalog;
use super::clock::{Bound, Clock};
use super::passes::{integrity_pass, newest_row, read_pass};
use super::{not_run, planned_checks, ValidateInput};
use crate::pg::Database;
use drill_core::checks::deadline::out_of_time;
use drill_core::units_validate::Summed;

/// What the checks after `connect` produced, for the report.
#[derive(Debug, Default)]
pub(super) struct Checked {
    pub checks: Vec<CheckResult>,
    /// Per-table reads of the read pass.
    pub tables: Vec<TableRead>,
    /// The measured fingerprint (with counts when they were read).
    pub fingerprint: Option<Fingerprint>,
    /// Newest rows of the freshness tables (for the measured RPO).
    pub newest_rows: Vec<DateTime<Utc>>,
}

/// Runs every check after `connect` on `client` (read-only session of `target`), a second
/// connection for amcheck, and a read-only role's connection for the SQL assertions.
pub(super) async fn run_checks(
    target: &Database,
    client: &mut Client,
    version_num: i32,
    input: &ValidateInput,
    previous: Option<&Report>,
    clock: &Clock,
    units: Option<&Summed>,
) -> Checked {
    let mut done = Checked::default();
    let out = &mut done.checks;
    let config = &input.config;
    let t = Instant::now();
    let bounded = match clock.bound(client).await {
        Ok(Bound::Go { .. }) => Ok(()),
        Ok(Bound::OutOfTime) => Err(None),
        Err(e) => Err(Some(e)),
    };
    if let Err(why) = bounded {
        let n = planned_checks(config).len();
        out.push(match why {
            None => {
                CheckResult::new("schema", Status::Incomplete).measured(out_of_time(0, n, "checks"))
            }
            Some(e) => CheckResult::new("schema", Status::Error).measured(e),
        });
        for name in planned_checks(config).into_iter().skip(1) {
            out.push(not_run(&name, "not run: the catalog could not be read"));
        }
        return done;
    }
    let catalog = match catalog(client, &config.exclude_schemas).await {
        Ok(c) => c,
        Err(e) => {
            out.push(
                CheckResult::new("schema", Status::Error)
                    .measured(format!("{e}"))
                    .took(t.elapsed()),
            );
            for name in planned_checks(config).into_iter().skip(1) {
                out.push(not_run(&name, "not run: the catalog could not be read"));
            }
            return done;
        }
    };
    let catalog_time = t.elapsed();

    // Count + full read on this connection, amcheck on a second one at the same time.
    let need_read = config.full_read.enabled || config.row_counts.enabled;
    let read = async {
        if need_read {
            Some(read_pass(client, &catalog.tables, config.full_read.enabled, clock).await)
        } else {
            None
        }
    };
    let integrity = async {
        if !config.integrity.enabled {
            return None;
        }
        let mut opts = target.options().clone();
        // Bounded until each amcheck call sets its own (budget and deadline).
        opts.statement_timeout = Some(
            clock
                .timeout_now()
                .unwrap_or(drill_core::checks::deadline::MIN_STATEMENT),
        );
        opts.application_name = "restore-drill amcheck".into();
        Some(match target.clone().with_options(opts).connect().await {
            Ok(second) => {
                integrity_pass(&second, &catalog, &config.integrity, version_num, clock).await
            }
            Err(e) => IntegrityPass {
                errors: vec![format!("second connection for amcheck: {e}")],
                ..Default::default()
            },
        })
    };
    // Run per work unit already: their sums stand in for both passes.
    let (read, integrity) = match units {
        Some(s) => (
            need_read.then(|| s.read.clone()),
            config.integrity.enabled.then(|| s.integrity.clone()),
        ),
        None => tokio::join!(read, integrity),
    };
    let tell = |r: CheckResult| match units {
        Some(s) => s.tell(r),
        None => r,
    };

    // schema
    let mut measured = catalog.fingerprint.clone();
    if let Some(read) = &read {
        for (info, table) in catalog.tables.iter().zip(measured.tables.iter_mut()) {
            let q = info.qualified();
            table.rows = read.reads.iter().find(|r| r.table == q).map(|r| r.rows);
        }
    }
    let prev_fp = previous.and_then(|r| r.fingerprint.as_ref());
    let schema_baseline = input
        .manifest
        .as_ref()
        .map(|m| (m, Baseline::Manifest))
        .or(prev_fp.map(|p| (p, Baseline::PreviousDrill)));
    out.push(
        checks::evaluate_schema(&measured, schema_baseline, &config.schema).took(catalog_time),
    );

    // row_counts
    let mut rc = checks::evaluate_row_counts(
        &measured,
        input.manifest.as_ref(),
        prev_fp,
        &config.row_counts,
    );
    if let Some(read) = &read {
        rc = if config.row_counts.enabled {
            checks::with_count_failures(rc, read)
        } else {
            rc.took(read.duration)
        };
    }
    out.push(tell(rc));

    // freshness
    let backup_time = input
        .backup
        .as_ref()
        .map(|b| b.taken_at)
        .unwrap_or(input.drill_started_at);
    for ft in &config.freshness.tables {
        let t = Instant::now();
        let newest = match clock.bound(client).await {
            Ok(Bound::Go { .. }) => newest_row(client, ft).await,
            Ok(Bound::OutOfTime) => {
                out.push(
                    CheckResult::new(format!("freshness:{}", ft.table), Status::Incomplete)
                        .measured("ran out of time before the query"),
                );
                continue;
            }
            Err(e) => Err(e),
        };
        match newest {
            Ok(newest) => {
                if let Some(n) = newest {
                    done.newest_rows.push(n);
                }
                out.push(
                    checks::evaluate_freshness(
                        ft,
                        newest,
                        backup_time,
                        Duration::from_secs(config.freshness.max_lag_seconds),
                    )
                    .took(t.elapsed()),
                );
            }
            Err(e) => out.push(
                CheckResult::new(format!("freshness:{}", ft.table), Status::Error)
                    .measured(format!("query failed: {e}"))
                    .expected(format!("max({}) within the RPO", ft.column))
                    .took(t.elapsed()),
            ),
        }
    }

    // integrity
    out.push(match integrity {
        Some(pass) => tell(checks::evaluate_integrity(
            pass,
            config.integrity.time_budget_seconds,
        )),
        None => CheckResult::skipped("integrity", "disabled"),
    });

    // full_read
    out.push(match (&read, config.full_read.enabled) {
        (Some(read), true) => tell(checks::evaluate_full_read(read)),
        _ => CheckResult::skipped("full_read", "disabled"),
    });

    // sql: as a read-only role, one statement each (see crate::assertions), each bounded by the
    // time left when the role connects.
    match clock.timeout_now() {
        Some(timeout) => {
            let mut opts = target.options().clone();
            opts.statement_timeout = Some(timeout);
            let target = target.clone().with_options(opts);
            crate::assertions::run_all(&target, client, &config.sql, out).await;
        }
        None => out.extend(config.sql.iter().map(|a| {
            CheckResult::new(format!("sql:{}", a.name), Status::Incomplete)
                .measured("ran out of time before the query")
        })),
    }

    if let Some(read) = read {
        done.tables = read.reads;
    }
    done.fingerprint = Some(measured);
    done
}
