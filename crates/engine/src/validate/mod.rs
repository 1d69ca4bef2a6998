//! Validation of a restored database: gathers facts from PostgreSQL, asks `drill_core::checks`
//! what they mean, and writes the report to the source's history store.
//!
//! Passes over the data are kept few because the data can be large and the restored volume
//! cold: one read pass per table gives the exact row count *and* the full read (every row is
//! formed whole, which fetches every TOAST value), while amcheck runs on a second connection at
//! the same time. Catalog, freshness and assertion queries are small.
//!
//! The reading connection is `default_transaction_read_only`: a user assertion can never change
//! the database that is exported next. The amcheck connection may create the extension (in a
//! schema of its own, dropped again) when the restore lacks it.

mod catalog;
mod clock;
mod history;
mod passes;
mod run;
mod units;

use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use drill_core::checks::deadline::Deadline;
use drill_core::checks::{self, CheckConfig, CheckResult, Fingerprint, Status};
use drill_core::events::BackupRef;
use drill_core::report::{Report, REPORT_FORMAT};
use drill_core::units_validate::Summed;
use drill_core::{Classified, ErrorKind};

use crate::pg::{Database, PgError};
use crate::store::{Store, StoreError};

pub use catalog::{catalog, fingerprint, BtreeIndex, Catalog, TableInfo};
pub use history::{load_fingerprint, previous_good_report};
pub(crate) use passes::{is_timeout, pg_message};
pub use units::{load_units, plan_validation, units_store, validate_unit};

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error(transparent)]
    Config(#[from] checks::ConfigError),
    #[error("expected fingerprint {url}: {reason}")]
    Manifest { url: String, reason: String },
    #[error("report: {0}")]
    Report(String),
}

impl Classified for ValidateError {
    fn kind(&self) -> ErrorKind {
        match self {
            ValidateError::Store(e) => e.kind(),
            ValidateError::Pg(e) => e.kind(),
            ValidateError::Config(e) => e.kind(),
            ValidateError::Manifest { .. } => ErrorKind::InvalidInput,
            ValidateError::Report(_) => ErrorKind::CouldNotRun,
        }
    }
}

/// Everything one validation needs besides the target.
#[derive(Debug, Clone)]
pub struct ValidateInput {
    pub source_id: String,
    pub drill_id: String,
    pub drill_started_at: DateTime<Utc>,
    pub backup: Option<BackupRef>,
    pub config: CheckConfig,
    /// Expected fingerprint from the backup manifest (exact counts).
    pub manifest: Option<Fingerprint>,
    /// This source's report history; `None` = no night-over-night comparison, report not kept.
    pub history: Option<Store>,
}

/// A finished validation: the sealed report and where it was written.
#[derive(Debug, Clone)]
pub struct Validated {
    pub report: Report,
    pub report_url: Option<String>,
}

pub(super) fn not_run(name: &str, why: &str) -> CheckResult {
    CheckResult::skipped(name, why)
}

/// The check names a run reports besides `connect`, for the "could not run" report.
pub(super) fn planned_checks(config: &CheckConfig) -> Vec<String> {
    let mut names: Vec<String> = ["schema", "row_counts"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.extend(
        config
            .freshness
            .tables
            .iter()
            .map(|t| format!("freshness:{}", t.table)),
    );
    names.push("integrity".into());
    names.push("full_read".into());
    names.extend(config.sql.iter().map(|a| format!("sql:{}", a.name)));
    names
}

/// Validates `target`, writes the report to the history store (when there is one) and returns
/// it. A failed or errored check is a report outcome, not an `Err`: `Err` means no report could
/// be produced or kept (history unreadable or unwritable).
pub async fn validate(target: &Database, input: ValidateInput) -> Result<Validated, ValidateError> {
    validate_until(target, input, None).await
}

/// [`validate`] inside an invocation that ends at `deadline` (Lambda's `Context.deadline`):
/// every statement's timeout stays below the time left minus the report margin, and a check the
/// deadline cuts short is `incomplete` (see [`drill_core::checks::deadline`]).
pub async fn validate_until(
    target: &Database,
    input: ValidateInput,
    deadline: Option<Deadline>,
) -> Result<Validated, ValidateError> {
    validate_with(target, input, deadline, None).await
}

/// [`validate_until`] with the heavy checks already run per work unit: `units` (their facts
/// summed, [`load_units`]) stand in for the read pass and amcheck; the cheap checks run here.
pub async fn validate_with(
    target: &Database,
    input: ValidateInput,
    deadline: Option<Deadline>,
    units: Option<Summed>,
) -> Result<Validated, ValidateError> {
    let validation_started_at = Utc::now();
    let previous = match &input.history {
        Some(h) => previous_good_report(h, &input.source_id).await?,
        None => None,
    };
    let config = &input.config;
    let clock = clock::Clock {
        deadline,
        configured: config.statement_timeout(),
    };
    let mut options = target.options().clone();
    // Each check sets its own bound again before it runs (clock); this one covers the connect.
    options.statement_timeout = Some(
        clock
            .timeout_now()
            .unwrap_or(drill_core::checks::deadline::MIN_STATEMENT),
    );
    options.application_name = "restore-drill validate".into();
    let target = &target.clone().with_options(options);

    let mut checked = run::Checked::default();
    let mut server_version = None;

    let t0 = Instant::now();
    let connected = async {
        let client = target.connect().await?;
        let row = client
            .query_one(
                "SELECT current_setting('server_version'), \
                        current_setting('server_version_num')::int4, current_database()::text",
                &[],
            )
            .await
            .map_err(PgError::query("reading the server version"))?;
        client
            .batch_execute("SET default_transaction_read_only = on")
            .await
            .map_err(PgError::query("making the session read-only"))?;
        let version: String = row.get(0);
        let num: i32 = row.get(1);
        let db: String = row.get(2);
        Ok::<_, PgError>((client, version, num, db))
    }
    .await;
    match connected {
        Err(e) => {
            checked.checks.push(
                CheckResult::new("connect", Status::Error)
                    .measured(e.to_string())
                    .expected(format!("{} reachable", target.describe()))
                    .took(t0.elapsed()),
            );
            for name in planned_checks(config) {
                checked
                    .checks
                    .push(not_run(&name, "not run: could not connect"));
            }
        }
        Ok((mut client, version, version_num, db)) => {
            server_version = Some(version.clone());
            let connect = CheckResult::new("connect", Status::Pass)
                .measured(format!("PostgreSQL {version}, database {db}"))
                .expected("server reachable, database exists")
                .took(t0.elapsed());
            let previous = previous.as_ref().map(|(_, r)| r);
            checked = run::run_checks(
                target,
                &mut client,
                version_num,
                &input,
                previous,
                &clock,
                units.as_ref(),
            )
            .await;
            checked.checks.insert(0, connect);
        }
    }

    let finished_at = Utc::now();
    let backup_time = input.backup.as_ref().map(|b| b.taken_at);
    let mut report = Report {
        format_version: REPORT_FORMAT,
        source_id: input.source_id.clone(),
        drill_id: input.drill_id.clone(),
        backup: input.backup.clone(),
        target: target.describe(),
        server_version,
        drill_started_at: input.drill_started_at,
        validation_started_at,
        finished_at,
        outcome: checks::Outcome::CouldNotRun,
        passed: false,
        rto_seconds: finished_at
            .signed_duration_since(input.drill_started_at)
            .num_seconds()
            .max(0) as u64,
        rpo_seconds: checks::measured_rpo(
            input.drill_started_at,
            backup_time,
            &checked.newest_rows,
        ),
        checks: checked.checks,
        tables: checked.tables,
        fingerprint: checked.fingerprint,
        baseline_report: previous.map(|(url, _)| url),
    };
    report.seal();

    let report_url = match &input.history {
        Some(h) => {
            let key = report.history_key();
            let body = serde_json::to_vec_pretty(&report)
                .map_err(|e| ValidateError::Report(e.to_string()))?;
            h.put(&key, Bytes::from(body), None).await?;
            Some(h.url_of(&key))
        }
        None => None,
    };
    Ok(Validated { report, report_url })
}
