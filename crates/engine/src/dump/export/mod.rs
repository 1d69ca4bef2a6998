//! Export: one consistent snapshot, read by parallel workers, streamed into a new backup set.
//!
//! This file runs the phases in order (snapshot, catalog, workers, schema, manifest last);
//! `catalog.rs` reads what to export, `tasks.rs` cuts it into COPY tasks, `worker.rs` runs them
//! on connections that joined the snapshot.

mod catalog;
mod tasks;
mod units;
mod worker;

pub use units::{export_unit, finish_units, plan_units, PlannedSet};

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::Utc;
use drill_core::events::ExportSummary;
use drill_core::manifest::{self, Manifest, MatView, ObjectEntry, SequenceValue, TableEntry};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use catalog::{list_matviews, list_tables, read_sequences, TableInfo};
use worker::Worker;

use super::schema::{dump_section, pg_dump_major, pg_dump_program};
use super::{qualified, Database, DumpError, DEFAULT_CHUNK_BYTES, SESSION_SETUP};
use crate::pg::{error_text, PgError};
use crate::store::{Retention, Store};

/// How to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Parallel COPY workers (each one connection).
    pub jobs: usize,
    /// Heap bytes per data chunk; bigger tables are split by ctid page ranges.
    pub chunk_bytes: u64,
    /// Object Lock retention put on every object.
    pub retention: Option<Retention>,
    /// `pg_dump` to use (default: see `DRILL_PG_DUMP`).
    pub pg_dump: Option<PathBuf>,
    /// First path segment of the set (default: the database name).
    pub source_label: Option<String>,
    /// When the exported data was taken, if it is a restore of an older backup.
    pub data_taken_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            jobs: 2,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            retention: None,
            pg_dump: None,
            source_label: None,
            data_taken_at: None,
        }
    }
}

/// A finished export.
#[derive(Debug, Clone)]
pub struct ExportOutcome {
    /// URL of the backup set (the directory/prefix holding `manifest.json`).
    pub set_url: String,
    pub manifest: Manifest,
    pub manifest_sha256: String,
}

impl ExportOutcome {
    pub fn summary(&self) -> ExportSummary {
        let t = self.manifest.totals();
        ExportSummary {
            backup_set: self.set_url.clone(),
            tables: t.tables,
            rows: t.rows,
            raw_bytes: t.raw_bytes,
            compressed_bytes: t.compressed_bytes,
            manifest_sha256: self.manifest_sha256.clone(),
        }
    }
}

async fn setup_session(client: &Client, what: &str) -> Result<(), DumpError> {
    client
        .batch_execute(&format!("{SESSION_SETUP} SET row_security = off;"))
        .await
        .map_err(PgError::query(format!("{what}: session setup")))?;
    Ok(())
}

/// Writes a small whole object and returns its manifest entry.
async fn put_small(
    set: &Store,
    key: &str,
    body: Vec<u8>,
    retention: Option<&Retention>,
) -> Result<ObjectEntry, DumpError> {
    let entry = ObjectEntry {
        key: key.to_owned(),
        raw_bytes: body.len() as u64,
        compressed_bytes: body.len() as u64,
        sha256: hex::encode(Sha256::digest(&body)),
        rows: None,
    };
    set.put(key, Bytes::from(body), retention).await?;
    Ok(entry)
}

/// What the main connection saw when it exported its snapshot.
struct Snapshot {
    id: String,
    taken_at: chrono::DateTime<Utc>,
    server_version: String,
    database: String,
    encoding: String,
    block_size: i64,
}

fn check_options(options: &ExportOptions) -> Result<(), DumpError> {
    if options.jobs == 0 || options.jobs > 64 {
        return Err(DumpError::InvalidInput(format!(
            "jobs must be between 1 and 64 (got {})",
            options.jobs
        )));
    }
    if options.chunk_bytes < 1024 * 1024 {
        return Err(DumpError::InvalidInput(format!(
            "chunk size must be at least 1 MiB (got {} bytes)",
            options.chunk_bytes
        )));
    }
    Ok(())
}

/// pg_dump refuses servers of a newer major: find out before any data is read.
async fn check_pg_dump(main: &Client, program: &std::path::Path) -> Result<(), DumpError> {
    let client_major = pg_dump_major(program).await?;
    let row = main
        .query_one(
            "SELECT current_setting('server_version_num')::int8, current_setting('server_version')",
            &[],
        )
        .await
        .map_err(PgError::query("reading the server version"))?;
    drill_core::pgversion::check_pairing(
        &program.display().to_string(),
        client_major,
        drill_core::pgversion::server_major(row.get(0)),
        row.get(1),
    )
    .map_err(DumpError::PgDumpTooOld)
}

/// Starts the read-only snapshot transaction the workers and pg_dump join.
async fn open_snapshot(main: &Client) -> Result<Snapshot, DumpError> {
    main.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .map_err(PgError::query("starting the snapshot transaction"))?;
    let row = main
        .query_one(
            "SELECT pg_catalog.pg_export_snapshot(), current_setting('server_version'), \
                    current_database(), pg_catalog.pg_encoding_to_char(d.encoding), \
                    current_setting('block_size')::int8 \
             FROM pg_catalog.pg_database d WHERE d.datname = current_database()",
            &[],
        )
        .await
        .map_err(PgError::query("exporting the snapshot"))?;
    Ok(Snapshot {
        taken_at: Utc::now(),
        id: row.get(0),
        server_version: row.get(1),
        database: row.get(2),
        encoding: row.get(3),
        block_size: row.get(4),
    })
}

/// Keeps tables from being dropped or rewritten under the workers (pg_dump does the same).
async fn lock_tables(main: &Client, tables: &[TableInfo]) -> Result<(), DumpError> {
    let names: Vec<String> = tables
        .iter()
        .map(|t| qualified(&t.schema, &t.name))
        .collect();
    for group in names.chunks(500) {
        main.batch_execute(&format!(
            "LOCK TABLE {} IN ACCESS SHARE MODE",
            group.join(", ")
        ))
        .await
        .map_err(PgError::query("locking tables"))?;
    }
    Ok(())
}

/// The new, empty set below `dest`; one that already holds objects is refused.
async fn new_set(
    dest: &Store,
    label: &str,
    started_at: chrono::DateTime<Utc>,
) -> Result<Store, DumpError> {
    let short_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let set = dest.child(&manifest::set_name(label, started_at, &short_id));
    if !set.list("").await?.is_empty() {
        return Err(DumpError::Internal(format!(
            "{} already holds objects; refusing to write into it",
            set.url_of("")
        )));
    }
    Ok(set)
}

/// Runs every task on `jobs` workers; returns each table's objects in chunk order.
async fn export_data(
    source: &Database,
    set: &Store,
    snapshot: &str,
    tables: Vec<TableInfo>,
    options: &ExportOptions,
    pages_per_chunk: u64,
) -> Result<Vec<Vec<ObjectEntry>>, DumpError> {
    let tasks = tasks::plan(&tables, pages_per_chunk);
    let done = run_tasks(
        source,
        set,
        Some(snapshot),
        None,
        tables.clone(),
        tasks,
        options,
    )
    .await?;
    let mut objects: Vec<Vec<(u32, ObjectEntry)>> = vec![Vec::new(); tables.len()];
    for (t, c, o) in done {
        objects[t].push((c, o));
    }
    Ok(objects
        .into_iter()
        .map(|mut objs| {
            objs.sort_by_key(|(c, _)| *c);
            objs.into_iter().map(|(_, o)| o).collect()
        })
        .collect())
}

/// Runs `tasks` on `jobs` workers (joined to `snapshot` if given); returns every object written.
async fn run_tasks(
    source: &Database,
    set: &Store,
    snapshot: Option<&str>,
    attempt: Option<&str>,
    tables: Vec<TableInfo>,
    tasks: Vec<tasks::Task>,
    options: &ExportOptions,
) -> Result<Vec<worker::Done>, DumpError> {
    let workers = options.jobs.min(tasks.len()).max(1);
    let queue = Arc::new(Mutex::new(VecDeque::from(tasks)));
    let tables = Arc::new(tables);
    let mut set_workers = tokio::task::JoinSet::new();
    for number in 0..workers {
        let worker = Worker {
            number,
            queue: queue.clone(),
            tables: tables.clone(),
            source: source.clone(),
            set: set.clone(),
            snapshot: snapshot.map(str::to_owned),
            retention: options.retention.clone(),
            attempt: attempt.map(str::to_owned),
        };
        set_workers.spawn(worker.run());
    }
    Ok(super::join_workers(set_workers, "export")
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// The manifest's table entries, and the exported row counts put into the schema fingerprint.
fn table_entries(
    tables: &[TableInfo],
    objects: Vec<Vec<ObjectEntry>>,
    schema: &mut drill_core::checks::Fingerprint,
) -> Vec<TableEntry> {
    let names = tables
        .iter()
        .map(|t| (t.schema.clone(), t.name.clone(), t.columns.clone()))
        .collect();
    manifest::table_entries(names, objects, schema)
}

/// Exports `source` into a new backup set below `dest`. Nothing existing is overwritten or
/// deleted; the manifest is written last, after every other object is complete.
pub async fn export(
    source: &Database,
    dest: &Store,
    options: &ExportOptions,
) -> Result<ExportOutcome, DumpError> {
    check_options(options)?;
    let started_at = Utc::now();
    let main = source.connect().await?;
    setup_session(&main, "export").await?;
    let program = pg_dump_program(options.pg_dump.as_ref());
    check_pg_dump(&main, &program).await?;
    let snap = open_snapshot(&main).await?;

    let tables = list_tables(&main).await?;
    lock_tables(&main, &tables).await?;
    let sequences: Vec<SequenceValue> = read_sequences(&main).await?;
    let materialized_views: Vec<MatView> = list_matviews(&main).await?;
    // The schema as validation will read it, from the same snapshot with the same query.
    let mut schema = crate::validate::catalog(&main, &[]).await?.fingerprint;

    let label = options.source_label.as_deref().unwrap_or(&snap.database);
    let set = new_set(dest, label, started_at).await?;
    let retention = options.retention.as_ref();

    // Schema, against the same snapshot, while the data is read.
    let schema_job = {
        let (db, program, snapshot) = (source.clone(), program.clone(), snap.id.clone());
        tokio::spawn(async move {
            tokio::try_join!(
                dump_section(&db, &program, "pre-data", &snapshot),
                dump_section(&db, &program, "post-data", &snapshot)
            )
        })
    };
    let pages_per_chunk = (options.chunk_bytes / snap.block_size.max(1) as u64).max(1);
    let objects = match export_data(
        source,
        &set,
        &snap.id,
        tables.clone(),
        options,
        pages_per_chunk,
    )
    .await
    {
        Ok(objects) => objects,
        Err(e) => {
            schema_job.abort();
            return Err(e);
        }
    };
    let (pre, post) = schema_job
        .await
        .map_err(|e| DumpError::Internal(format!("schema task: {e}")))??;

    let pre_data = put_small(&set, manifest::PRE_DATA_KEY, pre.into_bytes(), retention).await?;
    let post_data = put_small(&set, manifest::POST_DATA_KEY, post.into_bytes(), retention).await?;
    let seq_json = serde_json::to_vec_pretty(&sequences)
        .map_err(|e| DumpError::Internal(format!("sequences: {e}")))?;
    let sequences = put_small(&set, manifest::SEQUENCES_KEY, seq_json, retention).await?;
    main.batch_execute("COMMIT")
        .await
        .map_err(|e| DumpError::Internal(format!("ending the snapshot: {}", error_text(&e))))?;

    let tables = table_entries(&tables, objects, &mut schema);
    let manifest = Manifest {
        format_version: manifest::FORMAT_VERSION,
        tool: "restore-drill".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        server_version: snap.server_version,
        database: snap.database,
        encoding: snap.encoding,
        snapshot_at: snap.taken_at,
        data_taken_at: options.data_taken_at,
        started_at,
        finished_at: Utc::now(),
        data_format: manifest::DATA_FORMAT.into(),
        pre_data,
        post_data,
        sequences,
        tables,
        schema: Some(schema),
        materialized_views,
    };
    // What we write must be what a restore accepts.
    manifest::check(&manifest).map_err(|e| DumpError::Internal(format!("manifest: {e}")))?;
    let body = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| DumpError::Internal(format!("manifest: {e}")))?;
    let manifest_sha256 = hex::encode(Sha256::digest(&body));
    set.put(manifest::MANIFEST_KEY, Bytes::from(body), retention)
        .await?;
    Ok(ExportOutcome {
        set_url: set.url_of(""),
        manifest,
        manifest_sha256,
    })
}
