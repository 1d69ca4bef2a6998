//! The local drill: export a source to a backup store, restore the new set into a fresh temporary
//! database, validate it, drop the temporary database through the guards, and record the run.
//!
//! `drill demo` and `drill run` drive it; the Lambdas do the same steps one per function. What
//! is allowed (which database may be dropped) is decided by [`drill_core::tempdb`]; this module
//! only gathers the facts and carries out the decision.
//!
//! Where things live: [`progress`] (observed progress), [`temp`] (the temp database behind the
//! guards), [`record`] (run records); this file runs the steps.

use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use drill_core::checks::{CheckConfig, Fingerprint, Status};
use drill_core::events::{BackupKind, BackupRef, Refusal};
use drill_core::naming::NamingError;
use drill_core::report::Report;
use drill_core::tempdb::{self, DropPolicy};
use drill_core::{Classified, ErrorKind};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::dump::{self, Database, DumpError, ExportOptions, RestoreOptions};
use crate::pg::{quote_ident, PgError};
use crate::store::{Store, StoreError};
use crate::validate::{self, ValidateError, ValidateInput};

mod progress;
mod record;
mod temp;

pub use progress::{no_progress, Observer, Progress, Step};
use progress::{watch_copy, watch_read};
pub use record::{load_runs, RunRecord, StepRecord};
pub use temp::{create_temp, drop_temp, temp_databases_of};

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error(transparent)]
    Validate(#[from] ValidateError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Naming(#[from] NamingError),
    #[error("creating the temporary database {name}: {source}")]
    CreateTemp {
        name: String,
        #[source]
        source: PgError,
    },
    #[error("refused to drop database {name}: {}", describe_refusals(.refusals))]
    DropRefused {
        name: String,
        refusals: Vec<Refusal>,
    },
    #[error("{0}")]
    InvalidInput(String),
}

fn describe_refusals(refusals: &[Refusal]) -> String {
    refusals
        .iter()
        .map(|r| format!("guard {} ({})", r.guard, r.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Classified for DrillError {
    fn kind(&self) -> ErrorKind {
        match self {
            DrillError::Pg(e) => e.kind(),
            DrillError::Dump(e) => e.kind(),
            DrillError::Validate(e) => e.kind(),
            DrillError::Store(e) => e.kind(),
            DrillError::Naming(_) | DrillError::InvalidInput(_) => ErrorKind::InvalidInput,
            DrillError::CreateTemp { source, .. } => source.kind(),
            DrillError::DropRefused { .. } => ErrorKind::GuardViolation,
        }
    }
}

impl DrillError {
    /// SQLSTATE of the server error behind this one, when there is one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DrillError::Pg(PgError::Query { code, .. })
            | DrillError::CreateTemp {
                source: PgError::Query { code, .. },
                ..
            }
            | DrillError::Dump(DumpError::Pg(PgError::Query { code, .. }))
            | DrillError::Validate(ValidateError::Pg(PgError::Query { code, .. })) => {
                code.as_deref()
            }
            _ => None,
        }
    }
}

// ---------------------------------------------------------------- the drill

/// One local drill.
#[derive(Clone)]
pub struct DrillSpec {
    pub source_id: String,
    pub drill_id: String,
    /// Prefix of the temporary database (guard `prefix`).
    pub prefix: String,
    /// The database to export.
    pub source: Database,
    /// An administrative database on the server where the temporary database is created (the
    /// role needs CREATEDB there).
    pub restore_server: Database,
    /// Where backup sets are written (`file:///dir` or `s3://bucket/prefix`).
    pub store: Store,
    /// Report history of this source (night-over-night checks; run records for the charts).
    pub history: Store,
    pub checks: CheckConfig,
    pub jobs: usize,
    /// Databases never dropped, besides the source and the maintenance databases.
    pub protected: Vec<String>,
    pub observer: Observer,
}

impl std::fmt::Debug for DrillSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrillSpec")
            .field("source_id", &self.source_id)
            .field("drill_id", &self.drill_id)
            .field("source", &self.source.describe())
            .field("restore_server", &self.restore_server.describe())
            .finish()
    }
}

/// Estimated rows of the user tables of the connected database (planner statistics).
async fn estimated_rows(client: &Client) -> Option<u64> {
    let row = client
        .query_one(
            "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::int8 \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' \
               AND n.nspname NOT LIKE 'pg\\_%'",
            &[],
        )
        .await
        .ok()?;
    let n = row.get::<_, i64>(0);
    (n > 0).then_some(n as u64)
}

fn drop_policy(spec: &DrillSpec) -> DropPolicy {
    DropPolicy {
        prefix: spec.prefix.clone(),
        drill_id: spec.drill_id.clone(),
        source_database: spec.source.database_name(),
        session_database: spec.restore_server.database_name(),
        protected: spec.protected.clone(),
    }
}

struct Timer {
    steps: Vec<StepRecord>,
    observer: Observer,
}

impl Timer {
    fn start(&self, step: Step, total_rows: Option<u64>) -> Instant {
        (self.observer)(Progress::Started { step, total_rows });
        Instant::now()
    }
    fn done(&mut self, step: Step, t: Instant, rows: Option<u64>, bytes: Option<u64>) -> f64 {
        (self.observer)(Progress::Finished { step, rows });
        let seconds = t.elapsed().as_secs_f64();
        self.steps.push(StepRecord {
            step,
            seconds,
            rows,
            bytes,
        });
        seconds
    }
}

/// Runs one drill. A drill whose checks fail is still `Ok` (the record says so); `Err` means it
/// could not run. The temp database is dropped (through the guards) whatever happened after it
/// was created.
pub async fn run(spec: &DrillSpec) -> Result<RunRecord, DrillError> {
    run_labeled(spec, None).await
}

/// [`run`] with a label for the charts (`night 1`).
pub async fn run_labeled(spec: &DrillSpec, label: Option<String>) -> Result<RunRecord, DrillError> {
    let started_at = Utc::now();
    let mut timer = Timer {
        steps: Vec::new(),
        observer: spec.observer.clone(),
    };

    // Export.
    let monitor = spec.source.connect_as("restore-drill progress").await?;
    let total = estimated_rows(&monitor).await;
    let t = timer.start(Step::Export, total);
    let watch = watch_copy(
        monitor,
        spec.source.database_name(),
        Step::Export,
        spec.observer.clone(),
    );
    let options = ExportOptions {
        jobs: spec.jobs,
        source_label: Some(spec.source_id.clone()),
        ..ExportOptions::default()
    };
    let exported = dump::export(&spec.source, &spec.store, &options).await;
    drop(watch);
    let exported = exported?;
    let totals = exported.manifest.totals();
    timer.done(
        Step::Export,
        t,
        Some(totals.rows),
        Some(totals.compressed_bytes),
    );

    // Restore into a fresh temp database.
    let restore_started = Utc::now();
    let name =
        tempdb::temp_database_name(&spec.prefix, &spec.source_id, &spec.drill_id, started_at)?;
    let admin = spec
        .restore_server
        .connect_as("restore-drill admin")
        .await?;
    let t = timer.start(Step::CreateTemp, None);
    create_temp(&admin, &name, &spec.drill_id).await?;
    timer.done(Step::CreateTemp, t, None, None);

    let body =
        restore_and_validate(spec, &mut timer, &admin, &name, &exported, restore_started).await;
    // A set that did not restore and validate is marked, so it is never picked as the newest.
    let failure = match &body {
        Err(e) => Some(format!("restore or validation could not finish: {e}")),
        Ok((report, _, _)) if !report.passed => Some("validation failed".to_owned()),
        Ok(_) => None,
    };
    if let Some(reason) = failure {
        let set = spec.store.child(&set_path(&spec.store, &exported.set_url));
        crate::backupset::mark_drill_failed(&set, &spec.drill_id, &reason).await?;
    }

    let t = timer.start(Step::DropTemp, None);
    let dropped = drop_temp(&admin, &name, &drop_policy(spec)).await;
    timer.done(Step::DropTemp, t, None, None);
    let (report, report_url, rto_seconds) = body?;
    let dropped = dropped?;

    let record = RunRecord {
        source_id: spec.source_id.clone(),
        drill_id: spec.drill_id.clone(),
        label,
        started_at,
        finished_at: Utc::now(),
        backup_set: exported.set_url.clone(),
        manifest_sha256: exported.manifest_sha256.clone(),
        temp_database: name,
        temp_dropped: dropped,
        steps: timer.steps,
        tables: totals.tables,
        rows: totals.rows,
        raw_bytes: totals.raw_bytes,
        backup_bytes: totals.compressed_bytes,
        rto_seconds,
        rpo_seconds: report.rpo_seconds,
        checks_passed: report.count(Status::Pass),
        checks_failed: report.count(Status::Fail),
        checks_errored: report.count(Status::Error),
        report,
        report_url,
    };
    let body = serde_json::to_vec_pretty(&record)
        .map_err(|e| DrillError::InvalidInput(format!("run record: {e}")))?;
    spec.history
        .put(&record.history_key(), Bytes::from(body), None)
        .await?;
    Ok(record)
}

async fn restore_and_validate(
    spec: &DrillSpec,
    timer: &mut Timer,
    admin: &Client,
    name: &str,
    exported: &dump::ExportOutcome,
    restore_started: DateTime<Utc>,
) -> Result<(Report, Option<String>, f64), DrillError> {
    let temp = spec.restore_server.with_database(name);
    let set = spec.store.child(&set_path(&spec.store, &exported.set_url));
    let manifest = &exported.manifest;
    let rows = manifest.totals().rows;

    let t = timer.start(Step::Restore, Some(rows));
    let restored = restore_watched(spec, &set, name).await?;
    let restore_secs = timer.done(
        Step::Restore,
        t,
        Some(restored.rows),
        Some(restored.compressed_bytes),
    );

    let table_rows: Vec<(String, u64)> = manifest
        .tables
        .iter()
        .map(|t| {
            (
                format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name)),
                t.rows,
            )
        })
        .collect();
    let monitor = spec
        .restore_server
        .connect_as("restore-drill progress")
        .await?;
    let _ = admin; // the admin session stays open: the drop must not depend on a new login
    let t = timer.start(Step::Validate, Some(rows));
    let watch = watch_read(monitor, name.to_owned(), table_rows, spec.observer.clone());
    let input = ValidateInput {
        source_id: spec.source_id.clone(),
        drill_id: spec.drill_id.clone(),
        // RTO and RPO are measured from the start of the restore: the moment a real recovery
        // would begin from this backup.
        drill_started_at: restore_started,
        backup: Some(BackupRef {
            kind: BackupKind::BackupSet,
            id: exported.set_url.clone(),
            taken_at: manifest.snapshot_at,
        }),
        config: spec.checks.clone(),
        manifest: Some(Fingerprint::from_manifest(manifest)),
        history: Some(spec.history.clone()),
    };
    let validated = validate::validate(&temp, input).await;
    drop(watch);
    let validated = validated?;
    let read_bytes: u64 = validated.report.tables.iter().map(|t| t.bytes).sum();
    let validate_secs = timer.done(
        Step::Validate,
        t,
        Some(validated.report.total_rows()),
        Some(read_bytes),
    );
    Ok((
        validated.report,
        validated.report_url,
        restore_secs + validate_secs,
    ))
}

/// Restores `set` into the temp database `name` on the restore server, its COPY progress
/// observed from a monitor connection.
async fn restore_watched(
    spec: &DrillSpec,
    set: &Store,
    name: &str,
) -> Result<dump::RestoreOutcome, DrillError> {
    let monitor = spec
        .restore_server
        .connect_as("restore-drill progress")
        .await?;
    let _watch = watch_copy(
        monitor,
        name.to_owned(),
        Step::Restore,
        spec.observer.clone(),
    );
    let options = RestoreOptions {
        jobs: spec.jobs,
        no_owner: false,
    };
    let temp = spec.restore_server.with_database(name);
    Ok(dump::restore(set, &temp, &options).await?)
}

/// The part of `set_url` below the store's own URL.
fn set_path(store: &Store, set_url: &str) -> String {
    let base = store.url_of("");
    set_url
        .strip_prefix(base.trim_end_matches('/'))
        .unwrap_or(set_url)
        .trim_matches('/')
        .to_owned()
}

/// Proof that an earlier backup set is still intact: restore it (every object verified against
/// its manifest while loading) into a fresh temp database, then drop that database through the
/// guards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetProof {
    pub backup_set: String,
    pub temp_database: String,
    pub tables: u32,
    pub rows: u64,
    pub seconds: f64,
    pub temp_dropped: bool,
}

pub async fn prove_restorable(spec: &DrillSpec, set: &Store) -> Result<SetProof, DrillError> {
    let started = Instant::now();
    let name =
        tempdb::temp_database_name(&spec.prefix, &spec.source_id, &spec.drill_id, Utc::now())?;
    let admin = spec
        .restore_server
        .connect_as("restore-drill admin")
        .await?;
    create_temp(&admin, &name, &spec.drill_id).await?;
    let total = dump::read_manifest(set).await.ok().map(|m| m.totals().rows);
    (spec.observer)(Progress::Started {
        step: Step::Restore,
        total_rows: total,
    });
    let restored = restore_watched(spec, set, &name).await;
    (spec.observer)(Progress::Finished {
        step: Step::Restore,
        rows: restored.as_ref().ok().map(|r| r.rows),
    });
    let dropped = drop_temp(&admin, &name, &drop_policy(spec)).await;
    let restored = restored?;
    Ok(SetProof {
        backup_set: restored.backup_set,
        temp_database: name,
        tables: restored.tables,
        rows: restored.rows,
        seconds: started.elapsed().as_secs_f64(),
        temp_dropped: dropped?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_paths_are_relative_to_the_store() {
        let store = Store::open("file:///tmp/b", None).unwrap();
        assert_eq!(set_path(&store, "file:///tmp/b/app/2026-x/"), "app/2026-x");
    }
}
