//! The local drill: export a source to a backup store, restore the new set into a fresh temporary
//! database, validate it, drop the temporary database through the guards, and record the run.
//!
//! `drill demo` and `drill run` drive it; the Lambdas do the same steps one per function. What
//! is allowed (which database may be dropped) is decided by [`drill_core::tempdb`]; this module
//! only gathers the facts and carries out the decision.
//!
//! Progress is observed, not reported by the engines: a monitor connection polls
//! `pg_stat_progress_copy` (export, restore) and `pg_stat_activity` (full read), so the export,
//! restore and validation engines need no progress API of their own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use drill_core::checks::{CheckConfig, Fingerprint, Status};
use drill_core::events::{BackupKind, BackupRef, Refusal};
use drill_core::naming::NamingError;
use drill_core::report::Report;
use drill_core::tempdb::{self, DropPolicy, TempDbFacts};
use drill_core::{Classified, ErrorKind};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::dump::{self, Database, DumpError, ExportOptions, RestoreOptions};
use crate::pg::{quote_ident, PgError};
use crate::store::{Store, StoreError};
use crate::validate::{self, ValidateError, ValidateInput};

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

// ---------------------------------------------------------------- progress

/// A step of the drill, as shown in progress bars and the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Export,
    CreateTemp,
    Restore,
    Validate,
    DropTemp,
}

impl Step {
    pub fn label(self) -> &'static str {
        match self {
            Step::Export => "export",
            Step::CreateTemp => "create temp database",
            Step::Restore => "restore",
            Step::Validate => "validate (full read)",
            Step::DropTemp => "drop temp database",
        }
    }
}

/// What observers hear while a drill runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A step began; `total_rows` when known (estimated for the export).
    Started { step: Step, total_rows: Option<u64> },
    /// Rows and bytes processed so far in the step.
    Advanced { step: Step, rows: u64, bytes: u64 },
    /// The step ended; `rows` processed when known exactly.
    Finished { step: Step, rows: Option<u64> },
}

pub type Observer = Arc<dyn Fn(Progress) + Send + Sync>;

/// An observer that ignores everything.
pub fn no_progress() -> Observer {
    Arc::new(|_| {})
}

const POLL: Duration = Duration::from_millis(250);

/// Polls `pg_stat_progress_copy` for COPY commands in `datname` and reports their summed rows and
/// bytes. Each COPY is keyed by (pid, query start), so a finished one keeps its last count.
fn watch_copy(client: Client, datname: String, step: Step, observer: Observer) -> Watch {
    let handle = tokio::spawn(async move {
        let mut seen: HashMap<(i32, String), (u64, u64)> = HashMap::new();
        loop {
            let rows = client
                .query(
                    "SELECT p.pid, a.query_start::text, p.tuples_processed, p.bytes_processed \
                     FROM pg_catalog.pg_stat_progress_copy p \
                     JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid \
                     WHERE p.datname = $1",
                    &[&datname],
                )
                .await;
            // The view needs PostgreSQL 14+; without it there is simply no progress to show.
            let Ok(rows) = rows else { return };
            for r in rows {
                let key = (
                    r.get::<_, i32>(0),
                    r.get::<_, Option<String>>(1).unwrap_or_default(),
                );
                let v = (
                    r.get::<_, i64>(2).max(0) as u64,
                    r.get::<_, i64>(3).max(0) as u64,
                );
                seen.insert(key, v);
            }
            let (rows, bytes) = seen
                .values()
                .fold((0, 0), |(r, b), (r2, b2)| (r + r2, b + b2));
            observer(Progress::Advanced { step, rows, bytes });
            tokio::time::sleep(POLL).await;
        }
    });
    Watch(handle)
}

/// Polls which table the validation's read pass is on (`pg_stat_activity`) and reports the rows
/// of the tables it has finished, from the manifest's counts.
fn watch_read(
    client: Client,
    datname: String,
    table_rows: Vec<(String, u64)>,
    observer: Observer,
) -> Watch {
    let handle = tokio::spawn(async move {
        let mut current: Option<usize> = None;
        let mut done = vec![false; table_rows.len()];
        loop {
            let row = client
                .query_opt(
                    "SELECT query FROM pg_catalog.pg_stat_activity \
                     WHERE datname = $1 AND application_name = 'restore-drill validate' \
                       AND state = 'active' LIMIT 1",
                    &[&datname],
                )
                .await;
            let Ok(row) = row else { return };
            let query: Option<String> = row.and_then(|r| r.get(0));
            let now = query.as_deref().and_then(|q| {
                table_rows
                    .iter()
                    .position(|(t, _)| q.contains(&format!("FROM ONLY {t} ")))
            });
            if now != current {
                if let Some(prev) = current {
                    done[prev] = true;
                }
                current = now;
            }
            let rows: u64 = table_rows
                .iter()
                .zip(&done)
                .filter(|(_, d)| **d)
                .map(|((_, r), _)| r)
                .sum();
            observer(Progress::Advanced {
                step: Step::Validate,
                rows,
                bytes: 0,
            });
            tokio::time::sleep(POLL).await;
        }
    });
    Watch(handle)
}

/// A running monitor; stops when dropped.
struct Watch(tokio::task::JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
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

/// Duration and volume of one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: Step,
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// A finished drill (passed or not): what the summary, `--json` and the HTML report show, and
/// what is kept in the history as `runs/<time>-<drill>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub source_id: String,
    pub drill_id: String,
    /// A label for charts (`night 1`), when the caller gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub backup_set: String,
    pub manifest_sha256: String,
    pub temp_database: String,
    pub temp_dropped: bool,
    pub steps: Vec<StepRecord>,
    pub tables: u32,
    pub rows: u64,
    /// COPY text bytes exported.
    pub raw_bytes: u64,
    /// Bytes stored in the backup set (compressed).
    pub backup_bytes: u64,
    /// Restore start to the end of validation: how long getting a proven copy back takes.
    pub rto_seconds: f64,
    /// See [`drill_core::checks::measured_rpo`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_seconds: Option<u64>,
    pub checks_passed: u32,
    pub checks_failed: u32,
    pub checks_errored: u32,
    pub report: Report,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_url: Option<String>,
}

impl RunRecord {
    pub fn passed(&self) -> bool {
        self.report.passed
    }

    /// Key under the history store: sortable by time.
    pub fn history_key(&self) -> String {
        let id: String = self
            .drill_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!(
            "runs/{}-{id}.json",
            self.finished_at.format("%Y%m%dT%H%M%S%3fZ")
        )
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

/// Creates the temp database and marks it as this drill's.
pub async fn create_temp(admin: &Client, name: &str, drill_id: &str) -> Result<(), DrillError> {
    let create = format!("CREATE DATABASE {} TEMPLATE template0", quote_ident(name));
    admin
        .batch_execute(&create)
        .await
        .map_err(|e| DrillError::CreateTemp {
            name: name.to_owned(),
            source: PgError::query("CREATE DATABASE")(e),
        })?;
    // The marker is the owner guard's fact; a database without it is never dropped by us.
    // An E'' literal with backslashes and quotes escaped is safe whatever the server's
    // standard_conforming_strings; the drill id comes from execution input.
    let comment = format!(
        "COMMENT ON DATABASE {} IS E'{}'",
        quote_ident(name),
        tempdb::ownership_marker(drill_id)
            .replace('\\', "\\\\")
            .replace('\'', "\\'")
    );
    admin
        .batch_execute(&comment)
        .await
        .map_err(|e| DrillError::CreateTemp {
            name: name.to_owned(),
            source: PgError::query("COMMENT ON DATABASE")(e),
        })?;
    Ok(())
}

/// Drops a temp database only when every guard of [`tempdb::check_drop`] passes.
pub async fn drop_temp(
    admin: &Client,
    name: &str,
    policy: &DropPolicy,
) -> Result<bool, DrillError> {
    let row = admin
        .query_opt(
            "SELECT d.datname::text, pg_catalog.shobj_description(d.oid, 'pg_database'), \
                    d.datistemplate, current_database()::text \
             FROM pg_catalog.pg_database d WHERE d.datname = $1",
            &[&name],
        )
        .await
        .map_err(PgError::query("reading the temp database's catalog entry"))?;
    let Some(row) = row else { return Ok(false) };
    let facts = TempDbFacts {
        name: row.get(0),
        comment: row.get(1),
        is_template: row.get(2),
    };
    let mut policy = policy.clone();
    policy.session_database = row.get(3);
    tempdb::check_drop(&facts, &policy).map_err(|refusals| DrillError::DropRefused {
        name: name.to_owned(),
        refusals,
    })?;
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .await
        .map_err(PgError::query(format!("dropping {name}")))?;
    Ok(true)
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

    let monitor = spec
        .restore_server
        .connect_as("restore-drill progress")
        .await?;
    let t = timer.start(Step::Restore, Some(rows));
    let watch = watch_copy(
        monitor,
        name.to_owned(),
        Step::Restore,
        spec.observer.clone(),
    );
    let restored = dump::restore(
        &set,
        &temp,
        &RestoreOptions {
            jobs: spec.jobs,
            no_owner: false,
        },
    )
    .await;
    drop(watch);
    let restored = restored?;
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
    let temp = spec.restore_server.with_database(&name);
    let monitor = spec
        .restore_server
        .connect_as("restore-drill progress")
        .await?;
    let total = dump::read_manifest(set).await.ok().map(|m| m.totals().rows);
    (spec.observer)(Progress::Started {
        step: Step::Restore,
        total_rows: total,
    });
    let watch = watch_copy(monitor, name.clone(), Step::Restore, spec.observer.clone());
    let restored = dump::restore(
        set,
        &temp,
        &RestoreOptions {
            jobs: spec.jobs,
            no_owner: false,
        },
    )
    .await;
    drop(watch);
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

/// Every run record in a history store, oldest first. Unreadable records are skipped (logged).
pub async fn load_runs(history: &Store) -> Result<Vec<RunRecord>, StoreError> {
    let mut keys = history.list("runs/").await?;
    keys.sort();
    let mut out = Vec::new();
    for key in keys.iter().filter(|k| k.ends_with(".json")) {
        let body = history.get(key).await?;
        match serde_json::from_slice::<RunRecord>(&body) {
            Ok(r) => out.push(r),
            Err(e) => tracing::warn!(key = %key, error = %e, "skipping unreadable run record"),
        }
    }
    Ok(out)
}

/// Temp databases on the server that carry the ownership marker of one of `drill_ids` (to
/// prove a cleanup complete; other drills' databases on a shared server are not counted).
pub async fn temp_databases_of(
    admin: &Client,
    drill_ids: &[String],
) -> Result<Vec<String>, PgError> {
    let rows = admin
        .query(
            "SELECT datname::text, pg_catalog.shobj_description(oid, 'pg_database') \
             FROM pg_catalog.pg_database ORDER BY 1",
            &[],
        )
        .await
        .map_err(PgError::query("listing temp databases"))?;
    Ok(rows
        .iter()
        .filter(|r| {
            r.get::<_, Option<String>>(1)
                .as_deref()
                .and_then(tempdb::marker_drill_id)
                .is_some_and(|id| drill_ids.iter().any(|d| d == id))
        })
        .map(|r| r.get(0))
        .collect())
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
