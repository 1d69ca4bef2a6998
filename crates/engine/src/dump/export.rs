//! Export: one consistent snapshot, read by parallel workers, streamed into a new backup set.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::Utc;
use drill_core::events::ExportSummary;
use drill_core::manifest::{
    self, Column, Manifest, MatView, ObjectEntry, SequenceValue, TableEntry,
};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use super::pipe::{copy_out_to_store, PipeError};
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

#[derive(Debug, Clone)]
struct TableInfo {
    schema: String,
    name: String,
    columns: Vec<Column>,
    /// Heap pages at snapshot time (pages added later hold no row visible to the snapshot).
    pages: u64,
}

#[derive(Debug, Clone)]
struct Task {
    table: usize,
    chunk: u32,
    /// Page range `[start, end)`; `None` = the whole table; `end: None` = to the end.
    range: Option<(u64, Option<u64>)>,
}

fn copy_sql(t: &TableInfo, range: Option<(u64, Option<u64>)>) -> String {
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| crate::pg::quote_ident(&c.name))
        .collect();
    let table = qualified(&t.schema, &t.name);
    match range {
        None if cols.is_empty() => format!("COPY {table} TO STDOUT"),
        None => format!("COPY {table} ({}) TO STDOUT", cols.join(", ")),
        Some((start, end)) => {
            // ONLY: inheritance children are tables of their own and exported separately.
            let mut q = format!(
                "COPY (SELECT {} FROM ONLY {table} WHERE ctid >= '({start},0)'::pg_catalog.tid",
                cols.join(", ")
            );
            if let Some(end) = end {
                q.push_str(&format!(" AND ctid < '({end},0)'::pg_catalog.tid"));
            }
            q.push_str(") TO STDOUT");
            q
        }
    }
}

/// Splits tables into tasks, biggest tables first so the long tasks start early.
fn plan(tables: &[TableInfo], pages_per_chunk: u64) -> Vec<Task> {
    let mut order: Vec<usize> = (0..tables.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(tables[i].pages));
    let mut tasks = Vec::new();
    for i in order {
        let pages = tables[i].pages;
        let chunks = pages.div_ceil(pages_per_chunk.max(1)).max(1);
        if chunks == 1 {
            tasks.push(Task {
                table: i,
                chunk: 0,
                range: None,
            });
            continue;
        }
        for c in 0..chunks {
            let start = c * pages_per_chunk;
            // The last chunk is open-ended: never miss a row in a page counted late.
            let end = (c + 1 < chunks).then_some((c + 1) * pages_per_chunk);
            tasks.push(Task {
                table: i,
                chunk: c as u32,
                range: Some((start, end)),
            });
        }
    }
    tasks
}

async fn setup_session(client: &Client, what: &str) -> Result<(), DumpError> {
    client
        .batch_execute(&format!("{SESSION_SETUP} SET row_security = off;"))
        .await
        .map_err(PgError::query(format!("{what}: session setup")))?;
    Ok(())
}

async fn list_tables(client: &Client) -> Result<Vec<TableInfo>, DumpError> {
    // Leaf tables only (partitions included, partitioned parents hold no rows); not system
    // schemas, not tables that belong to an extension (its script recreates them).
    let rows = client
        .query(
            "SELECT c.oid, n.nspname, c.relname, \
                    (pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::int8)::int8 \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' \
               AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                               WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                                 AND d.objid = c.oid AND d.deptype = 'e') \
             ORDER BY n.nspname, c.relname",
            &[],
        )
        .await
        .map_err(PgError::query("listing tables"))?;
    let oids: Vec<u32> = rows.iter().map(|r| r.get(0)).collect();
    let mut tables: Vec<TableInfo> = rows
        .iter()
        .map(|r| TableInfo {
            schema: r.get(1),
            name: r.get(2),
            columns: Vec::new(),
            pages: r.get::<_, i64>(3).max(0) as u64,
        })
        .collect();
    // Generated columns are recomputed on load, dropped ones are gone: neither is copied.
    let cols = client
        .query(
            "SELECT a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) \
             FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped \
               AND a.attgenerated = '' \
             ORDER BY a.attrelid, a.attnum",
            &[&oids],
        )
        .await
        .map_err(PgError::query("listing columns"))?;
    let index: std::collections::HashMap<u32, usize> =
        oids.iter().enumerate().map(|(i, o)| (*o, i)).collect();
    for r in cols {
        let oid: u32 = r.get(0);
        if let Some(&i) = index.get(&oid) {
            tables[i].columns.push(Column {
                name: r.get(1),
                type_name: r.get(2),
            });
        }
    }
    Ok(tables)
}

async fn read_sequences(client: &Client) -> Result<Vec<SequenceValue>, DumpError> {
    let rows = client
        .query(
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'S' AND n.nspname <> 'information_schema' \
               AND n.nspname NOT LIKE 'pg\\_%' \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                               WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                                 AND d.objid = c.oid AND d.deptype = 'e') \
             ORDER BY 1, 2",
            &[],
        )
        .await
        .map_err(PgError::query("listing sequences"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let (schema, name): (String, String) = (r.get(0), r.get(1));
        let q = format!(
            "SELECT last_value, is_called FROM {}",
            qualified(&schema, &name)
        );
        let row = client
            .query_one(&q, &[])
            .await
            .map_err(PgError::query(format!("reading sequence {schema}.{name}")))?;
        out.push(SequenceValue {
            schema,
            name,
            last_value: row.get(0),
            is_called: row.get(1),
        });
    }
    Ok(out)
}

/// Materialized views (not of extensions) in refresh order: a view over another materialized
/// view, directly or through plain views, comes after it.
async fn list_matviews(client: &Client) -> Result<Vec<MatView>, DumpError> {
    let rows = client
        .query(
            "SELECT c.oid, n.nspname, c.relname, c.relkind::text, c.relispopulated \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('m', 'v') AND n.nspname <> 'information_schema' \
               AND n.nspname NOT LIKE 'pg\\_%' \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                               WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                                 AND d.objid = c.oid AND d.deptype = 'e') \
             ORDER BY 2, 3",
            &[],
        )
        .await
        .map_err(PgError::query("listing materialized views"))?;
    if !rows.iter().any(|r| r.get::<_, String>(3) == "m") {
        return Ok(Vec::new());
    }
    let oids: Vec<u32> = rows.iter().map(|r| r.get(0)).collect();
    // A view's query is its _RETURN rule; the rule depends on the relations it reads.
    let edges = client
        .query(
            "SELECT DISTINCT r.ev_class, d.refobjid FROM pg_catalog.pg_rewrite r \
             JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass \
              AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
             WHERE r.ev_class = ANY($1) AND d.refobjid = ANY($1) AND d.refobjid <> r.ev_class",
            &[&oids],
        )
        .await
        .map_err(PgError::query("reading view dependencies"))?;
    let index: std::collections::HashMap<u32, usize> =
        oids.iter().enumerate().map(|(i, o)| (*o, i)).collect();
    let edges: Vec<(usize, usize)> = edges
        .iter()
        .filter_map(|r| Some((*index.get(&r.get(0))?, *index.get(&r.get(1))?)))
        .collect();
    Ok(manifest::dependency_order(oids.len(), &edges)
        .into_iter()
        .map(|i| &rows[i])
        .filter(|r| r.get::<_, String>(3) == "m")
        .map(|r| MatView {
            schema: r.get(1),
            name: r.get(2),
            populated: r.get(4),
        })
        .collect())
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

/// Exports `source` into a new backup set below `dest`. Nothing existing is overwritten or
/// deleted; the manifest is written last, after every other object is complete.
pub async fn export(
    source: &Database,
    dest: &Store,
    options: &ExportOptions,
) -> Result<ExportOutcome, DumpError> {
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
    let started_at = Utc::now();
    let main = source.connect().await?;
    setup_session(&main, "export").await?;
    // pg_dump refuses servers of a newer major: find out before any data is read.
    let program = pg_dump_program(options.pg_dump.as_ref());
    let client_major = pg_dump_major(&program).await?;
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
    .map_err(DumpError::PgDumpTooOld)?;
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
    let snapshot_at = Utc::now();
    let snapshot: String = row.get(0);
    let server_version: String = row.get(1);
    let database: String = row.get(2);
    let encoding: String = row.get(3);
    let block_size: i64 = row.get(4);

    let tables = list_tables(&main).await?;
    if !tables.is_empty() {
        // Keep tables from being dropped or rewritten under the workers (pg_dump does the same).
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
    }
    let sequences = read_sequences(&main).await?;
    let materialized_views = list_matviews(&main).await?;
    // The schema as validation will read it, from the same snapshot with the same query.
    let mut schema = crate::validate::catalog(&main, &[]).await?.fingerprint;

    let label = options
        .source_label
        .clone()
        .unwrap_or_else(|| database.clone());
    let short_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let set_name = manifest::set_name(&label, started_at, &short_id);
    let set = dest.child(&set_name);
    if !set.list("").await?.is_empty() {
        return Err(DumpError::Internal(format!(
            "{} already holds objects; refusing to write into it",
            set.url_of("")
        )));
    }
    let retention = options.retention.as_ref();

    // Schema, against the same snapshot, while the data is read.
    let schema_job = {
        let (db, program, snapshot) = (source.clone(), program.clone(), snapshot.clone());
        tokio::spawn(async move {
            tokio::try_join!(
                dump_section(&db, &program, "pre-data", &snapshot),
                dump_section(&db, &program, "post-data", &snapshot)
            )
        })
    };

    let pages_per_chunk = (options.chunk_bytes / block_size.max(1) as u64).max(1);
    let tasks = plan(&tables, pages_per_chunk);
    let workers = options.jobs.min(tasks.len()).max(1);
    let queue = Arc::new(Mutex::new(VecDeque::from(tasks)));
    let tables = Arc::new(tables);
    let mut set_workers = tokio::task::JoinSet::new();
    for w in 0..workers {
        let (queue, tables, source, set, snapshot) = (
            queue.clone(),
            tables.clone(),
            source.clone(),
            set.clone(),
            snapshot.clone(),
        );
        let retention = options.retention.clone();
        set_workers.spawn(async move {
            let client = source.connect().await?;
            setup_session(&client, "export worker").await?;
            client
                .batch_execute(&format!(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'"
                ))
                .await
                .map_err(PgError::query(format!("worker {w}: joining the snapshot")))?;
            let mut done = Vec::new();
            loop {
                let Some(task) = queue.lock().expect("queue").pop_front() else {
                    break;
                };
                let t = &tables[task.table];
                let key = manifest::data_key(&t.schema, &t.name, task.chunk);
                let writer = set.writer(&key, retention.as_ref()).await?;
                let sql = copy_sql(t, task.range);
                let produced = copy_out_to_store(&client, &sql, writer).await.map_err(|e| {
                    let table = format!("{}.{}", t.schema, t.name);
                    match e {
                        PipeError::Store(s) => DumpError::Store(s),
                        PipeError::Pg(reason) => DumpError::Load {
                            table,
                            key: key.clone(),
                            reason: format!("reading: {reason}"),
                        },
                        PipeError::Other(reason) => DumpError::Load {
                            table,
                            key: key.clone(),
                            reason,
                        },
                    }
                })?;
                tracing::debug!(key, rows = produced.rows, bytes = produced.compressed_bytes, "object written");
                done.push((
                    task.table,
                    task.chunk,
                    ObjectEntry {
                        key,
                        raw_bytes: produced.raw_bytes,
                        compressed_bytes: produced.compressed_bytes,
                        sha256: produced.sha256,
                        rows: Some(produced.rows),
                    },
                ));
            }
            let _ = client.batch_execute("COMMIT").await;
            Ok::<_, DumpError>(done)
        });
    }
    let mut objects: Vec<Vec<(u32, ObjectEntry)>> = vec![Vec::new(); tables.len()];
    let finished = match super::join_workers(set_workers, "export").await {
        Ok(finished) => finished,
        Err(e) => {
            schema_job.abort();
            return Err(e);
        }
    };
    for done in finished {
        for (t, c, o) in done {
            objects[t].push((c, o));
        }
    }
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

    let table_entries: Vec<TableEntry> = tables
        .iter()
        .zip(objects)
        .map(|(t, mut objs)| {
            objs.sort_by_key(|(c, _)| *c);
            let objects: Vec<ObjectEntry> = objs.into_iter().map(|(_, o)| o).collect();
            TableEntry {
                schema: t.schema.clone(),
                name: t.name.clone(),
                columns: t.columns.clone(),
                rows: objects.iter().filter_map(|o| o.rows).sum(),
                objects,
            }
        })
        .collect();
    for t in &mut schema.tables {
        t.rows = table_entries
            .iter()
            .find(|e| e.schema == t.schema && e.name == t.name)
            .map(|e| e.rows);
    }
    let manifest = Manifest {
        format_version: manifest::FORMAT_VERSION,
        tool: "restore-drill".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        server_version,
        database,
        encoding,
        snapshot_at,
        data_taken_at: options.data_taken_at,
        started_at,
        finished_at: Utc::now(),
        data_format: manifest::DATA_FORMAT.into(),
        pre_data,
        post_data,
        sequences,
        tables: table_entries,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pages: u64) -> TableInfo {
        TableInfo {
            schema: "s".into(),
            name: format!("t{pages}"),
            columns: vec![Column {
                name: "a\"b".into(),
                type_name: "integer".into(),
            }],
            pages,
        }
    }

    #[test]
    fn big_tables_are_chunked_first_and_the_last_chunk_is_open() {
        let tables = vec![table(3), table(25), table(0)];
        let tasks = plan(&tables, 10);
        assert_eq!(tasks.len(), 5);
        assert_eq!(tasks[0].table, 1);
        assert_eq!(tasks[0].range, Some((0, Some(10))));
        assert_eq!(tasks[2].range, Some((20, None)));
        assert_eq!((tasks[3].table, tasks[3].range), (0, None));
        assert_eq!((tasks[4].table, tasks[4].range), (2, None));
    }

    #[test]
    fn copy_statements_quote_names_and_bound_chunks() {
        let t = table(1);
        assert_eq!(copy_sql(&t, None), r#"COPY "s"."t1" ("a""b") TO STDOUT"#);
        let q = copy_sql(&t, Some((10, Some(20))));
        assert!(q.contains(r#"FROM ONLY "s"."t1""#), "{q}");
        assert!(
            q.contains("ctid >= '(10,0)'") && q.contains("ctid < '(20,0)'"),
            "{q}"
        );
        assert!(!copy_sql(&t, Some((20, None))).contains("ctid <"));
    }
}
