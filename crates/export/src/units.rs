//! The work-unit actions of the export Lambda (`plan_units`, `export_unit`, `finish`), run by the
//! state machine's Distributed Map for databases larger than one invocation. Every location is
//! the deployment's: the set must lie below this source's configured destination, and the plan
//! in it must be this drill's.

use drill_core::events::{ExportUnitsRequest, PlannedUnits, S3Location, UnitSummary};
use drill_core::manifest::check_set_url;
use drill_engine::dump::{self, ExportOptions};
use drill_engine::lambda::{database, to_output, HandlerError};
use drill_engine::store::{Retention, Store};
use serde_json::Value;

use crate::{Deps, ExportAws};

fn options(deps: &Deps, source_id: &str, lock_days: u32) -> Result<ExportOptions, HandlerError> {
    Ok(ExportOptions {
        jobs: deps.config.jobs,
        chunk_bytes: deps.config.chunk_mb * 1024 * 1024,
        retention: Some(Retention::for_days(
            drill_core::deployment::OBJECT_LOCK_MODE,
            lock_days,
        )?),
        pg_dump: deps.config.pg_dump.clone(),
        source_label: Some(source_id.to_owned()),
        data_taken_at: None,
    })
}

fn store(deps: &Deps, url: &str) -> Result<Store, HandlerError> {
    Ok(Store::open(url, Some(&deps.s3))?)
}

/// `s3://bucket/key` as the ItemReader's parameters.
fn s3_location(url: &str) -> Option<S3Location> {
    let (bucket, key) = url.strip_prefix("s3://")?.split_once('/')?;
    Some(S3Location {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    })
}

pub(crate) async fn units_action(
    deps: &Deps,
    request: ExportUnitsRequest,
    destination: &str,
    lock_days: u32,
) -> Result<Value, HandlerError> {
    match request {
        ExportUnitsRequest::PlanUnits {
            drill,
            source,
            data_taken_at,
        } => {
            let db = database(
                &source,
                deps.config.allow_plaintext,
                deps.config.pg_override.as_ref(),
                &deps.aws,
            )
            .await?;
            let options = ExportOptions {
                data_taken_at,
                ..options(deps, &drill.source_id, lock_days)?
            };
            let planned = dump::plan_units(
                &db,
                &store(deps, destination)?,
                &options,
                &drill.drill_id,
                &deps.config.planner,
            )
            .await?;
            to_output(&PlannedUnits {
                items: s3_location(&planned.items_url),
                set: planned.set_url,
                units: planned.plan.units.len() as u32,
                budget_bytes: planned.plan.budget_bytes,
                total_bytes: planned.plan.tables.iter().map(|t| t.pages).sum::<u64>()
                    * planned.plan.block_size,
            })
        }
        ExportUnitsRequest::ExportUnit {
            drill,
            source,
            set,
            unit,
        } => {
            let db = database(
                &source,
                deps.config.allow_plaintext,
                deps.config.pg_override.as_ref(),
                &deps.aws,
            )
            .await?;
            let options = options(deps, &drill.source_id, lock_days)?;
            let result =
                dump::export_unit(&db, &store(deps, &set)?, unit, &drill.drill_id, &options)
                    .await?;
            tracing::info!(unit, objects = result.objects.len(), "unit exported");
            to_output(&UnitSummary {
                unit,
                objects: result.objects.len() as u32,
                rows: result.objects.iter().filter_map(|o| o.object.rows).sum(),
                compressed_bytes: result
                    .objects
                    .iter()
                    .map(|o| o.object.compressed_bytes)
                    .sum(),
            })
        }
        ExportUnitsRequest::Finish { drill, set } => {
            let options = options(deps, &drill.source_id, lock_days)?;
            let outcome =
                dump::finish_units(&store(deps, &set)?, &drill.drill_id, &options).await?;
            to_output(&outcome.summary())
        }
    }
}

/// Checks an untrusted units request against the deployment; answers it with the checked
/// connection in place of the given one.
pub(crate) async fn checked(
    aws: &impl ExportAws,
    request: ExportUnitsRequest,
) -> Result<(ExportUnitsRequest, String, u32), HandlerError> {
    let config = aws.deployment().await?;
    let drill = match &request {
        ExportUnitsRequest::PlanUnits { drill, .. }
        | ExportUnitsRequest::ExportUnit { drill, .. }
        | ExportUnitsRequest::Finish { drill, .. } => drill.clone(),
    };
    config.source(&drill.source_id)?;
    let destination = config.export_destination(&drill.source_id);
    let lock_days = config.object_lock_days.saturating_add(1);
    let set_ok = |set: &str| {
        check_set_url(&destination, set)
            .map_err(|e| HandlerError::new(drill_core::ErrorKind::GuardViolation, e))
    };
    let request = match request {
        ExportUnitsRequest::PlanUnits {
            drill,
            source,
            data_taken_at,
        } => ExportUnitsRequest::PlanUnits {
            source: config.check_connection(&drill, &source)?,
            drill,
            data_taken_at,
        },
        ExportUnitsRequest::ExportUnit {
            drill,
            source,
            set,
            unit,
        } => {
            set_ok(&set)?;
            ExportUnitsRequest::ExportUnit {
                source: config.check_connection(&drill, &source)?,
                drill,
                set,
                unit,
            }
        }
        ExportUnitsRequest::Finish { drill, set } => {
            set_ok(&set)?;
            ExportUnitsRequest::Finish { drill, set }
        }
    };
    Ok((request, destination, lock_days))
}
