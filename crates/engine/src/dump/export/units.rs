//! Export in work units, one Lambda invocation each (Step Functions Distributed Map):
//! [`plan_units`] sizes the units and captures the schema, [`export_unit`] writes one unit's
//! chunks, [`finish_units`] writes the manifest last, once every unit has reported.
//!
//! Consistency: there is no snapshot shared between invocations (an exported snapshot lives only
//! as long as the exporting transaction). Each unit reads in a transaction of its own, and that is
//! consistent with the plan only because the temp restore has NO WRITERS: [`plan_units`] refuses
//! while any other session is connected and sets the database `default_transaction_read_only`
//! before a single unit starts, and every session of ours is read-only. Nothing writes, so every
//! transaction sees the same rows the plan sized.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::Utc;
use drill_core::manifest::{self, ChunkObject, ExportPlan, PlannedTable, UnitResult};
use drill_core::units::{self, PlannerSettings};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use super::catalog::{list_matviews, list_tables, TableInfo};
use super::{
    check_options, check_pg_dump, new_set, open_snapshot, put_small, read_sequences, run_tasks,
    setup_session, tasks, ExportOptions, ExportOutcome,
};
use crate::dump::schema::{dump_section, pg_dump_program};
use crate::dump::{Database, DumpError};
use crate::pg::{quote_ident, PgError};
use crate::store::Store;

/// What [`plan_units`] wrote.
#[derive(Debug, Clone)]
pub struct PlannedSet {
    /// URL of the new (incomplete until [`finish_units`]) backup set.
    pub set_url: String,
    /// URL of the ItemReader input (`units/items.json`).
    pub items_url: String,
    pub plan: ExportPlan,
}

/// How long to wait for the sessions of the previous step (validation) to end.
const OTHER_SESSIONS_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Refuses while another session is connected to the temp database, waiting a little for the
/// connections of the step before to close.
async fn check_alone(main: &Client) -> Result<(), DumpError> {
    let started = std::time::Instant::now();
    loop {
        let row = main
            .query_one(
                "SELECT count(*), coalesce(string_agg(DISTINCT coalesce(application_name, ''), ', '), '') \
                 FROM pg_catalog.pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_catalog.pg_backend_pid()",
                &[],
            )
            .await
            .map_err(PgError::query("listing other sessions"))?;
        let others: i64 = row.get(0);
        if others == 0 {
            return Ok(());
        }
        if started.elapsed() > OTHER_SESSIONS_GRACE {
            let apps: String = row.get(1);
            return Err(DumpError::Internal(format!(
                "{others} other session(s) connected to the temp database (applications: {apps:?}): \
                 a unit export needs a database without writers"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Makes every new session of the temp database read-only (existing ones: there are none).
async fn set_read_only(main: &Client, database: &str) -> Result<(), DumpError> {
    // A retried plan (PlanExport retries) finds the setting from the first attempt, so this
    // session started read-only and could not ALTER: make it read-write first (own transaction).
    main.batch_execute("SET default_transaction_read_only = off")
        .await
        .map_err(PgError::query("making the plan session read-write"))?;
    main.batch_execute(&format!(
        "ALTER DATABASE {} SET default_transaction_read_only = on",
        quote_ident(database)
    ))
    .await
    .map_err(PgError::query(
        "setting the temp database default_transaction_read_only",
    ))?;
    Ok(())
}

fn planned_tables(tables: &[TableInfo]) -> Vec<PlannedTable> {
    tables
        .iter()
        .map(|t| PlannedTable {
            schema: t.schema.clone(),
            name: t.name.clone(),
            columns: t.columns.clone(),
            pages: t.pages,
        })
        .collect()
}

fn table_infos(plan: &ExportPlan) -> Vec<TableInfo> {
    plan.tables
        .iter()
        .map(|t| TableInfo {
            schema: t.schema.clone(),
            name: t.name.clone(),
            columns: t.columns.clone(),
            pages: t.pages,
        })
        .collect()
}

fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<Vec<u8>, DumpError> {
    serde_json::to_vec_pretty(value).map_err(|e| DumpError::Internal(format!("{what}: {e}")))
}

/// Sizes the units, captures schema and sequences, and writes them with the plan and the
/// ItemReader list into a new set below `dest`.
pub async fn plan_units(
    source: &Database,
    dest: &Store,
    options: &ExportOptions,
    drill_id: &str,
    settings: &PlannerSettings,
) -> Result<PlannedSet, DumpError> {
    check_options(options)?;
    settings
        .check()
        .map_err(|e| DumpError::InvalidInput(e.to_string()))?;
    let started_at = Utc::now();
    let main = source.connect().await?;
    setup_session(&main, "export plan").await?;
    let program = pg_dump_program(options.pg_dump.as_ref());
    check_pg_dump(&main, &program).await?;
    let database: String = main
        .query_one("SELECT current_database()::text", &[])
        .await
        .map_err(PgError::query("reading the database name"))?
        .get(0);
    // No writers from here on (see the module comment).
    check_alone(&main).await?;
    set_read_only(&main, &database).await?;

    let snap = open_snapshot(&main).await?;
    let tables = list_tables(&main).await?;
    let sequences = read_sequences(&main).await?;
    let materialized_views = list_matviews(&main).await?;
    let schema = crate::validate::catalog(&main, &[]).await?.fingerprint;
    let sizes = tasks::sizes(&tables);
    let block_size = snap.block_size.max(1) as u64;
    let unit_plan = units::plan(&sizes, block_size, options.chunk_bytes, settings)
        .map_err(|e| DumpError::InvalidInput(e.to_string()))?;

    let label = options.source_label.as_deref().unwrap_or(&snap.database);
    let set = new_set(dest, label, started_at).await?;
    let retention = options.retention.as_ref();
    let (pre, post) = tokio::try_join!(
        dump_section(source, &program, "pre-data", &snap.id),
        dump_section(source, &program, "post-data", &snap.id)
    )?;
    let pre_data = put_small(&set, manifest::PRE_DATA_KEY, pre.into_bytes(), retention).await?;
    let post_data = put_small(&set, manifest::POST_DATA_KEY, post.into_bytes(), retention).await?;
    let seq_json = to_json("sequences", &sequences)?;
    let sequences = put_small(&set, manifest::SEQUENCES_KEY, seq_json, retention).await?;
    let _ = main.batch_execute("COMMIT").await;

    let plan = ExportPlan {
        drill_id: drill_id.to_owned(),
        server_version: snap.server_version,
        database: snap.database,
        encoding: snap.encoding,
        planned_at: snap.taken_at,
        data_taken_at: options.data_taken_at,
        block_size,
        budget_bytes: unit_plan.budget_bytes,
        throughput_bytes_per_second: settings.throughput_bytes_per_second,
        tables: planned_tables(&tables),
        units: unit_plan.units,
        pre_data,
        post_data,
        sequences,
        schema,
        materialized_views,
    };
    let items: Vec<serde_json::Value> = plan
        .units
        .iter()
        .map(|u| serde_json::json!({ "unit": u.unit }))
        .collect();
    put_small(&set, manifest::PLAN_KEY, to_json("plan", &plan)?, retention).await?;
    put_small(
        &set,
        manifest::ITEMS_KEY,
        to_json("items", &items)?,
        retention,
    )
    .await?;
    tracing::info!(
        set = set.url_of(""),
        units = plan.units.len(),
        budget_bytes = plan.budget_bytes,
        "export planned"
    );
    Ok(PlannedSet {
        set_url: set.url_of(""),
        items_url: set.url_of(manifest::ITEMS_KEY),
        plan,
    })
}

/// The plan of `set`, refused if it belongs to another drill.
async fn read_plan(set: &Store, drill_id: &str) -> Result<ExportPlan, DumpError> {
    let body = set.get(manifest::PLAN_KEY).await?;
    let plan: ExportPlan = serde_json::from_slice(&body).map_err(|e| DumpError::Manifest {
        set: set.url_of(""),
        source: manifest::ManifestError::Inconsistent(format!("{}: {e}", manifest::PLAN_KEY)),
    })?;
    if plan.drill_id != drill_id {
        return Err(DumpError::InvalidInput(format!(
            "the plan of {} belongs to drill {:?}, not {drill_id:?}",
            set.url_of(""),
            plan.drill_id
        )));
    }
    Ok(plan)
}

async fn read_result(set: &Store, unit: u32) -> Result<Option<UnitResult>, DumpError> {
    let key = manifest::unit_result_key(unit);
    match set.get(&key).await {
        Ok(body) => serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| DumpError::Internal(format!("{}: {e}", set.url_of(&key)))),
        Err(crate::store::StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Exports unit `unit` of the planned `set` (its chunks on `options.jobs` connections, each in a
/// read-only transaction of its own: see the module comment) and records what it wrote. A unit
/// that already reported (a retry after a lost answer) answers with its result again.
pub async fn export_unit(
    source: &Database,
    set: &Store,
    unit: u32,
    drill_id: &str,
    options: &ExportOptions,
) -> Result<UnitResult, DumpError> {
    check_options(options)?;
    let plan = read_plan(set, drill_id).await?;
    let planned = plan.units.iter().find(|u| u.unit == unit).ok_or_else(|| {
        DumpError::InvalidInput(format!(
            "the plan has units 0..{}, not {unit}",
            plan.units.len()
        ))
    })?;
    if let Some(done) = read_result(set, unit).await? {
        return Ok(done);
    }
    let started_at = Utc::now();
    let attempt = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let task_list: Vec<tasks::Task> = planned.chunks.iter().copied().map(Into::into).collect();
    let done = run_tasks(
        source,
        set,
        None,
        Some(&attempt),
        table_infos(&plan),
        task_list,
        options,
    )
    .await?;
    let mut objects: Vec<ChunkObject> = done
        .into_iter()
        .map(|(table, chunk, object)| ChunkObject {
            table,
            chunk,
            object,
        })
        .collect();
    objects.sort_by_key(|o| (o.table, o.chunk));
    let result = UnitResult {
        unit,
        started_at,
        finished_at: Utc::now(),
        objects,
    };
    let key = manifest::unit_result_key(unit);
    match set
        .put(
            &key,
            Bytes::from(to_json("unit result", &result)?),
            options.retention.as_ref(),
        )
        .await
    {
        Ok(()) => Ok(result),
        // Another attempt of this unit finished first: its result stands.
        Err(crate::store::StoreError::AlreadyExists(_)) => read_result(set, unit)
            .await?
            .ok_or_else(|| DumpError::Internal(format!("{key} vanished"))),
        Err(e) => Err(e.into()),
    }
}

/// Checks that every unit of `set` reported and writes the manifest, last. A missing unit leaves
/// the set without a manifest (never restored) and fails naming the unit.
pub async fn finish_units(
    set: &Store,
    drill_id: &str,
    options: &ExportOptions,
) -> Result<ExportOutcome, DumpError> {
    let plan = read_plan(set, drill_id).await?;
    let mut results = BTreeMap::new();
    for u in &plan.units {
        if let Some(r) = read_result(set, u.unit).await? {
            results.insert(u.unit, r);
        }
    }
    let started_at = plan.planned_at;
    let manifest = manifest::assemble(
        &plan,
        &results,
        started_at,
        Utc::now(),
        env!("CARGO_PKG_VERSION"),
    )
    .map_err(|e| DumpError::Internal(format!("{}: {e}", set.url_of(""))))?;
    manifest::check(&manifest).map_err(|e| DumpError::Internal(format!("manifest: {e}")))?;
    let body = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| DumpError::Internal(format!("manifest: {e}")))?;
    let manifest_sha256 = hex::encode(Sha256::digest(&body));
    set.put(
        manifest::MANIFEST_KEY,
        Bytes::from(body),
        options.retention.as_ref(),
    )
    .await?;
    Ok(ExportOutcome {
        set_url: set.url_of(""),
        manifest,
        manifest_sha256,
    })
}
