//! Validation in work units (see [`drill_core::units_validate`]): [`plan_validation`] sizes the
//! units with the export's planner and writes them below the source's history store,
//! [`validate_unit`] runs the heavy checks of one unit and writes its facts there, and
//! [`load_units`] reads them back for the finishing validation, which sums them into one report.
//!
//! Units read page ranges in separate invocations without a shared snapshot: consistent only
//! because the temp restore has no writers (the reading sessions are read-only, and the restored
//! temp is reachable only by the drill).

use bytes::Bytes;
use drill_core::checks::deadline::Deadline;
use drill_core::checks::{CheckConfig, IntegrityPass};
use drill_core::units::{self, PlannerSettings, TableSize};
use drill_core::units_validate::{
    self as uv, PlannedRead, Summed, UnitChecks, ValidationPlan, ITEMS_KEY, PLAN_KEY,
};

use super::catalog::{catalog, Catalog};
use super::clock::Clock;
use super::passes::{integrity_pass, read_items, ReadItem};
use super::ValidateError;
use crate::pg::{Database, PgError};
use crate::store::{Store, StoreError};

/// Where a drill's unit files live in the source's history store.
pub fn units_store(history: &Store, drill_id: &str) -> Store {
    history.child(&uv::units_prefix(drill_id))
}

async fn session(
    target: &Database,
    clock: &Clock,
    app: &str,
    read_only: bool,
) -> Result<(tokio_postgres::Client, i32), ValidateError> {
    let mut options = target.options().clone();
    options.statement_timeout = Some(
        clock
            .timeout_now()
            .unwrap_or(drill_core::checks::deadline::MIN_STATEMENT),
    );
    options.application_name = app.into();
    let client = target.clone().with_options(options).connect().await?;
    if read_only {
        client
            .batch_execute("SET default_transaction_read_only = on")
            .await
            .map_err(PgError::query("making the session read-only"))?;
    }
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int4", &[])
        .await
        .map_err(PgError::query("reading the server version"))?
        .get(0);
    Ok((client, version))
}

fn json<T: serde::Serialize>(value: &T) -> Result<Bytes, ValidateError> {
    serde_json::to_vec_pretty(value)
        .map(Bytes::from)
        .map_err(|e| ValidateError::Report(e.to_string()))
}

/// Sizes the units of `target` and writes the plan and the ItemReader list; answers with the
/// plan and the URL of the list.
pub async fn plan_validation(
    target: &Database,
    config: &CheckConfig,
    history: &Store,
    drill_id: &str,
    settings: &PlannerSettings,
    chunk_bytes: u64,
    deadline: Option<Deadline>,
) -> Result<(ValidationPlan, String), ValidateError> {
    let clock = Clock {
        deadline,
        configured: config.statement_timeout(),
    };
    let (client, _) = session(target, &clock, "restore-drill validate plan", true).await?;
    let cat = catalog(&client, &config.exclude_schemas).await?;
    let block_size: i64 = client
        .query_one("SELECT current_setting('block_size')::int8", &[])
        .await
        .map_err(PgError::query("reading the block size"))?
        .get(0);
    let block_size = block_size.max(1) as u64;
    let mut tables = Vec::new();
    for t in cat.tables.iter().filter(|t| t.kind == "r") {
        let bytes: i64 = client
            .query_one("SELECT pg_relation_size($1::oid::regclass)", &[&t.oid])
            .await
            .map_err(PgError::query("sizing a table"))?
            .get(0);
        tables.push(PlannedRead {
            table: t.qualified(),
            pages: bytes.max(0) as u64 / block_size,
        });
    }
    let sizes: Vec<TableSize> = tables
        .iter()
        .map(|t| TableSize { pages: t.pages })
        .collect();
    let unit_plan = units::plan(&sizes, block_size, chunk_bytes, settings)
        .map_err(|e| ValidateError::Report(e.to_string()))?;
    let plan = ValidationPlan {
        drill_id: drill_id.to_owned(),
        block_size,
        budget_bytes: unit_plan.budget_bytes,
        tables,
        units: unit_plan.units,
    };
    let items: Vec<serde_json::Value> = plan
        .units
        .iter()
        .map(|u| serde_json::json!({ "unit": u.unit }))
        .collect();
    let store = units_store(history, drill_id);
    store.put(PLAN_KEY, json(&plan)?, None).await?;
    store.put(ITEMS_KEY, json(&items)?, None).await?;
    tracing::info!(
        units = plan.units.len(),
        budget_bytes = plan.budget_bytes,
        "validation planned"
    );
    Ok((plan, store.url_of(ITEMS_KEY)))
}

async fn read_plan(store: &Store, drill_id: &str) -> Result<ValidationPlan, ValidateError> {
    let body = store.get(PLAN_KEY).await?;
    let plan: ValidationPlan = serde_json::from_slice(&body)
        .map_err(|e| ValidateError::Report(format!("{}: {e}", store.url_of(PLAN_KEY))))?;
    if plan.drill_id != drill_id {
        return Err(ValidateError::Report(format!(
            "the validation plan {} belongs to drill {:?}, not {drill_id:?}",
            store.url_of(PLAN_KEY),
            plan.drill_id
        )));
    }
    Ok(plan)
}

/// Runs `full_read` (its chunks) and amcheck (the tables whose first chunk it holds) of one
/// unit within `deadline`, and writes what it found. What the deadline left out is recorded
/// (`out_of_time`), not an error.
pub async fn validate_unit(
    target: &Database,
    config: &CheckConfig,
    history: &Store,
    drill_id: &str,
    unit: u32,
    deadline: Option<Deadline>,
) -> Result<UnitChecks, ValidateError> {
    let store = units_store(history, drill_id);
    let plan = read_plan(&store, drill_id).await?;
    let planned = plan.units.iter().find(|u| u.unit == unit).ok_or_else(|| {
        ValidateError::Report(format!(
            "the plan has {} units, not {unit}",
            plan.units.len()
        ))
    })?;
    let clock = Clock {
        deadline,
        configured: config.statement_timeout(),
    };
    let (client, version) = session(target, &clock, "restore-drill validate unit", true).await?;
    let cat = catalog(&client, &config.exclude_schemas).await?;
    let find = |q: &str| cat.tables.iter().find(|t| t.qualified() == q);
    let mut items = Vec::new();
    for c in &planned.chunks {
        let name = &plan.tables[c.table].table;
        let table = find(name).ok_or_else(|| {
            ValidateError::Report(format!("planned table {name} is not in the catalog"))
        })?;
        items.push(ReadItem {
            table,
            pages: c.pages,
        });
    }
    let need_read = config.full_read.enabled || config.row_counts.enabled;
    let read = if need_read {
        read_items(&client, &items, config.full_read.enabled, &clock).await
    } else {
        Default::default()
    };
    let integrity = if config.integrity.enabled {
        let whole: Vec<u32> = planned
            .chunks
            .iter()
            .filter(|c| c.chunk == 0)
            .filter_map(|c| find(&plan.tables[c.table].table).map(|t| t.oid))
            .collect();
        let sub = Catalog {
            fingerprint: cat.fingerprint.clone(),
            tables: cat
                .tables
                .iter()
                .filter(|t| whole.contains(&t.oid))
                .cloned()
                .collect(),
            btree_indexes: cat
                .btree_indexes
                .iter()
                .filter(|i| whole.contains(&i.table_oid))
                .cloned()
                .collect(),
        };
        Some(amcheck(target, &sub, config, version, &clock).await)
    } else {
        None
    };
    let result = UnitChecks {
        unit,
        read,
        integrity,
    };
    store.put(&uv::unit_key(unit), json(&result)?, None).await?;
    Ok(result)
}

async fn amcheck(
    target: &Database,
    sub: &Catalog,
    config: &CheckConfig,
    version: i32,
    clock: &Clock,
) -> IntegrityPass {
    // amcheck may need CREATE EXTENSION (in a schema of its own): not read-only, as in one call.
    match session(target, clock, "restore-drill amcheck", false).await {
        Ok((second, _)) => {
            // Units run at once and each creates and drops the amcheck schema: one at a time
            // (a session advisory lock, released when this session ends).
            if let Err(e) = second
                .batch_execute("SELECT pg_advisory_lock(7301160016)")
                .await
            {
                return IntegrityPass {
                    errors: vec![format!("waiting for the amcheck lock: {e}")],
                    ..Default::default()
                };
            }
            integrity_pass(&second, sub, &config.integrity, version, clock).await
        }
        Err(e) => IntegrityPass {
            errors: vec![format!("second connection for amcheck: {e}")],
            ..Default::default()
        },
    }
}

/// Every unit's result of `drill_id`, summed (a unit without a result is named as such).
pub async fn load_units(history: &Store, drill_id: &str) -> Result<Summed, ValidateError> {
    let store = units_store(history, drill_id);
    let plan = read_plan(&store, drill_id).await?;
    let mut results = Vec::new();
    for u in &plan.units {
        match store.get(&uv::unit_key(u.unit)).await {
            Ok(body) => results.push(serde_json::from_slice::<UnitChecks>(&body).map_err(|e| {
                ValidateError::Report(format!("{}: {e}", store.url_of(&uv::unit_key(u.unit))))
            })?),
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(uv::sum(&plan, &results))
}
