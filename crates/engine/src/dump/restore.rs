//! Restore: manifest first, then pre-data, data in parallel (verified while loading), post-data,
//! sequences, then the populated materialized views refreshed in dependency order (pg_dump's
//! schema creates them `WITH NO DATA`; their contents are the query's over the restored data, as
//! `pg_restore` does). Any mismatch stops the restore with an error naming the table and object.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use drill_core::manifest::{self, Manifest, ObjectEntry, SequenceValue};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use super::pipe::{load_object, LoadError};
use super::{qualified, Database, DumpError, SESSION_SETUP};
use crate::pg::{error_text, PgError};
use crate::store::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Parallel COPY workers (each one connection).
    pub jobs: usize,
    /// Leave out ownership and privileges (see [`super::schema::strip_ownership`]): for a
    /// target server without the source's roles.
    pub no_owner: bool,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        Self {
            jobs: 2,
            no_owner: false,
        }
    }
}

/// What a successful restore loaded.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreOutcome {
    pub backup_set: String,
    pub target: String,
    pub source_database: String,
    pub snapshot_at: DateTime<Utc>,
    pub tables: u32,
    pub rows: u64,
    pub objects: u32,
    pub sequences: u32,
    /// Materialized views refreshed (the populated ones; unpopulated ones stay so).
    pub materialized_views: u32,
    pub compressed_bytes: u64,
}

/// Reads and checks the manifest of a set.
pub async fn read_manifest(set: &Store) -> Result<Manifest, DumpError> {
    let bytes = match set.get(manifest::MANIFEST_KEY).await {
        Ok(b) => b,
        Err(StoreError::NotFound(_)) => {
            return Err(DumpError::NoManifest {
                set: set.url_of(""),
            })
        }
        Err(e) => return Err(e.into()),
    };
    manifest::parse(&bytes).map_err(|source| DumpError::Manifest {
        set: set.url_of(manifest::MANIFEST_KEY),
        source,
    })
}

/// Fetches a small object and checks it against its entry.
async fn get_verified(set: &Store, entry: &ObjectEntry, what: &str) -> Result<Vec<u8>, DumpError> {
    let bytes = set.get(&entry.key).await.map_err(|e| match e {
        StoreError::NotFound(_) => DumpError::Corrupt {
            table: format!("({what})"),
            key: entry.key.clone(),
            reason: "missing from the backup set".into(),
        },
        other => other.into(),
    })?;
    let observed = manifest::Observed {
        sha256: hex::encode(Sha256::digest(&bytes)),
        compressed_bytes: bytes.len() as u64,
        raw_bytes: bytes.len() as u64,
        rows: None,
    };
    manifest::verify_object(entry, &observed).map_err(|source| DumpError::Mismatch {
        table: format!("({what})"),
        source,
    })?;
    Ok(bytes.to_vec())
}

/// Refuses a target that holds anything a restore could collide with or mix into.
async fn check_empty(client: &Client, target: &str) -> Result<(), DumpError> {
    let row = client
        .query_one(
            "SELECT \
               (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
                  ON n.oid = c.relnamespace \
                WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'), \
               (SELECT min(n.nspname || '.' || c.relname) FROM pg_catalog.pg_class c \
                  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'), \
               (SELECT count(*) FROM pg_catalog.pg_namespace \
                WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\\_%'), \
               (SELECT count(*) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n \
                  ON n.oid = p.pronamespace \
                WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'), \
               (SELECT count(*) FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n \
                  ON n.oid = t.typnamespace \
                WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'), \
               (SELECT count(*) FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql')",
            &[],
        )
        .await
        .map_err(PgError::query("checking that the target is empty"))?;
    let n = |i: usize| row.get::<_, i64>(i);
    let mut found = Vec::new();
    if n(0) > 0 {
        let first: Option<String> = row.get(1);
        found.push(format!(
            "{} relations, e.g. {}",
            n(0),
            first.unwrap_or_default()
        ));
    }
    for (i, what) in [
        (2, "schemas"),
        (3, "functions"),
        (4, "types"),
        (5, "extensions"),
    ] {
        if n(i) > 0 {
            found.push(format!("{} {what}", n(i)));
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(DumpError::TargetNotEmpty {
            target: target.to_owned(),
            found: found.join(", "),
        })
    }
}

async fn run_script(client: &Client, sql: &str, what: &str, key: &str) -> Result<(), DumpError> {
    // One simple-query message: the server runs it as one implicit transaction, so a failing
    // statement leaves nothing half-created.
    client.batch_execute(sql).await.map_err(|e| {
        let mut reason = error_text(&e);
        if role_problem(&reason) {
            reason.push_str(
                "; roles are not part of a backup: create the source's roles on this server, \
                 or, where only ownership and privileges name them, restore without them \
                 (--no-owner, no_owner = true)",
            );
        }
        DumpError::Schema {
            what: what.to_owned(),
            key: key.to_owned(),
            reason,
        }
    })
}

/// Whether a schema error comes from a role the target server lacks or the user may not use.
fn role_problem(reason: &str) -> bool {
    (reason.contains("role \"") && reason.contains("does not exist"))
        || reason.contains("must be member of role")
        || reason.contains("must be able to SET ROLE")
}

fn copy_in_sql(t: &manifest::TableEntry) -> String {
    let table = qualified(&t.schema, &t.name);
    if t.columns.is_empty() {
        return format!("COPY {table} FROM STDIN");
    }
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| crate::pg::quote_ident(&c.name))
        .collect();
    format!("COPY {table} ({}) FROM STDIN", cols.join(", "))
}

/// Restores the set at `set` into `target`, which must be an empty database.
pub async fn restore(
    set: &Store,
    target: &Database,
    options: &RestoreOptions,
) -> Result<RestoreOutcome, DumpError> {
    if options.jobs == 0 || options.jobs > 64 {
        return Err(DumpError::InvalidInput(format!(
            "jobs must be between 1 and 64 (got {})",
            options.jobs
        )));
    }
    let manifest = Arc::new(read_manifest(set).await?);
    // The small objects are checked before anything is written to the target.
    let pre = get_verified(set, &manifest.pre_data, "pre-data schema").await?;
    let post = get_verified(set, &manifest.post_data, "post-data schema").await?;
    let seq_bytes = get_verified(set, &manifest.sequences, "sequences").await?;
    let sequences: Vec<SequenceValue> =
        serde_json::from_slice(&seq_bytes).map_err(|e| DumpError::Corrupt {
            table: "(sequences)".into(),
            key: manifest.sequences.key.clone(),
            reason: format!("not valid sequence JSON: {e}"),
        })?;
    let text = |b: Vec<u8>, key: &str| {
        String::from_utf8(b).map_err(|_| DumpError::Corrupt {
            table: "(schema)".into(),
            key: key.to_owned(),
            reason: "not UTF-8".into(),
        })
    };
    let mut pre = super::schema::for_any_server(&text(pre, &manifest.pre_data.key)?);
    let mut post = super::schema::for_any_server(&text(post, &manifest.post_data.key)?);
    if options.no_owner {
        pre = super::schema::strip_ownership(&pre);
        post = super::schema::strip_ownership(&post);
    }

    let main = target.connect().await?;
    check_empty(&main, &target.describe()).await?;
    run_script(&main, &pre, "pre-data schema", &manifest.pre_data.key).await?;

    // Data: every object is a task; biggest first.
    let mut tasks: Vec<(usize, usize)> = manifest
        .tables
        .iter()
        .enumerate()
        .flat_map(|(t, table)| (0..table.objects.len()).map(move |o| (t, o)))
        .collect();
    tasks.sort_by_key(|&(t, o)| std::cmp::Reverse(manifest.tables[t].objects[o].compressed_bytes));
    let workers = options.jobs.min(tasks.len()).max(1);
    let object_count = tasks.len() as u32;
    let queue = Arc::new(Mutex::new(VecDeque::from(tasks)));
    let loaded = Arc::new(Mutex::new(vec![0u64; manifest.tables.len()]));
    let mut set_workers = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (queue, manifest, loaded, set, target) = (
            queue.clone(),
            manifest.clone(),
            loaded.clone(),
            set.clone(),
            target.clone(),
        );
        set_workers.spawn(async move {
            let client = target.connect().await?;
            client
                .batch_execute(SESSION_SETUP)
                .await
                .map_err(PgError::query("restore worker: session setup"))?;
            loop {
                let Some((t, o)) = queue.lock().expect("queue").pop_front() else {
                    break;
                };
                let table = &manifest.tables[t];
                let entry = &table.objects[o];
                let name = table.display_name();
                let reader = set.reader(&entry.key).await.map_err(|e| match e {
                    StoreError::NotFound(_) => DumpError::Corrupt {
                        table: name.clone(),
                        key: entry.key.clone(),
                        reason: "missing from the backup set".into(),
                    },
                    other => other.into(),
                })?;
                let rows = load_object(&client, &copy_in_sql(table), reader, entry)
                    .await
                    .map_err(|e| match e {
                        LoadError::Mismatch(source) => DumpError::Mismatch {
                            table: name.clone(),
                            source,
                        },
                        LoadError::Corrupt(reason) => DumpError::Corrupt {
                            table: name.clone(),
                            key: entry.key.clone(),
                            reason,
                        },
                        LoadError::Store(e) => DumpError::Store(e),
                        LoadError::Server(reason) => DumpError::Load {
                            table: name.clone(),
                            key: entry.key.clone(),
                            reason,
                        },
                    })?;
                tracing::debug!(key = entry.key, rows, "object loaded");
                loaded.lock().expect("loaded")[t] += rows;
            }
            Ok::<(), DumpError>(())
        });
    }
    super::join_workers(set_workers, "restore").await?;
    let loaded = loaded.lock().expect("loaded").clone();
    for (table, rows) in manifest.tables.iter().zip(&loaded) {
        manifest::verify_table_rows(table, *rows).map_err(|source| DumpError::Mismatch {
            table: table.display_name(),
            source,
        })?;
    }

    // Index builds dominate post-data; more sort memory makes them faster (session only).
    let _ = main
        .batch_execute("SET maintenance_work_mem = '256MB'")
        .await;
    run_script(&main, &post, "post-data schema", &manifest.post_data.key).await?;
    for s in &sequences {
        main.execute(
            "SELECT pg_catalog.setval($1::text::pg_catalog.regclass, $2::int8, $3::bool)",
            &[&qualified(&s.schema, &s.name), &s.last_value, &s.is_called],
        )
        .await
        .map_err(|e| DumpError::Schema {
            what: format!("sequence {}.{}", s.schema, s.name),
            key: manifest.sequences.key.clone(),
            reason: error_text(&e),
        })?;
    }
    let mut refreshed = 0;
    for mv in manifest.materialized_views.iter().filter(|m| m.populated) {
        main.batch_execute(&format!(
            "REFRESH MATERIALIZED VIEW {}",
            qualified(&mv.schema, &mv.name)
        ))
        .await
        .map_err(|e| DumpError::Schema {
            what: format!("materialized view {}.{}", mv.schema, mv.name),
            key: manifest::MANIFEST_KEY.into(),
            reason: format!("refresh: {}", error_text(&e)),
        })?;
        refreshed += 1;
    }
    let totals = manifest.totals();
    Ok(RestoreOutcome {
        backup_set: set.url_of(""),
        target: target.describe(),
        source_database: manifest.database.clone(),
        snapshot_at: manifest.snapshot_at,
        tables: totals.tables,
        rows: loaded.iter().sum(),
        objects: object_count,
        sequences: sequences.len() as u32,
        materialized_views: refreshed,
        compressed_bytes: totals.compressed_bytes,
    })
}
