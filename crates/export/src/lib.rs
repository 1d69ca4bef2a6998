//! The `export` Lambda. Streams a logical backup set of the validated temporary restore to the backup store.
//!
//! `main.rs` only serves [`handle`]; tests and the local Lambda host call [`handle`] in process.
//! The work is the same library code as `drill export` ([`drill_engine::dump::export`]), reached
//! through [`ExportAws`] ([`aws`]) so [`dispatch`] is unit-tested with a fake.

pub mod aws;
#[cfg(test)]
mod tests;
mod units;

pub use aws::ExportAws;

use std::path::PathBuf;

use drill_core::events::{ExportRequest, ExportUnitsRequest};
use drill_core::units::PlannerSettings;
use drill_engine::lambda::{env_number, parse_event, FromVars, FunctionEnv, HandlerError, Vars};
use serde_json::Value;

/// Typed configuration from the function's environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DRILL_EXPORT_JOBS` (default 2): parallel COPY workers.
    pub jobs: usize,
    /// `DRILL_EXPORT_CHUNK_MB` (default 64): heap MiB per data chunk.
    pub chunk_mb: u64,
    /// `DRILL_PG_DUMP`: the `pg_dump` binary (in a Lambda layer); default: found on the host.
    pub pg_dump: Option<PathBuf>,
    /// `DRILL_ALLOW_PLAINTEXT=true`: allow `tls = "disable"` (local stacks only).
    pub allow_plaintext: bool,
    /// `DRILL_RDS_PG_OVERRIDE=127.0.0.1:PORT`: connect there instead (local stacks only).
    pub pg_override: Option<drill_core::pg_override::PgOverride>,
    /// `DRILL_CONFIG_URL`: the deployment configuration (destination, Object Lock days).
    pub config_url: Option<String>,
    /// How `plan_units` sizes work units: `DRILL_UNIT_THROUGHPUT_MIBPS` (MiB/s one invocation
    /// exports), `DRILL_UNIT_INVOCATION_SECONDS` (the function's timeout), `DRILL_UNIT_FILL_PERCENT`.
    pub planner: PlannerSettings,
}

impl FromVars for Config {
    fn from_vars(var: Vars<'_>) -> Result<Self, HandlerError> {
        let env = FunctionEnv::from_vars(var)?;
        Ok(Config {
            jobs: env_number(var, "DRILL_EXPORT_JOBS", 2, 64)? as usize,
            chunk_mb: env_number(var, "DRILL_EXPORT_CHUNK_MB", 64, 1 << 20)?,
            pg_dump: var("DRILL_PG_DUMP")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            allow_plaintext: env.allow_plaintext,
            pg_override: env.pg_override,
            config_url: env.config_url,
            planner: drill_engine::lambda::planner_settings(var)?,
        })
    }
}

/// Everything the handler needs, built once per cold start.
pub type Deps = drill_engine::lambda::Deps<Config>;

/// Handles one invocation with the SDK-backed [`Deps`].
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    dispatch(deps, payload).await
}

/// Handles one invocation. The payload is parsed here rather than by the runtime so that a bad
/// event surfaces as `Drill.InvalidInput` (never retried) instead of a generic runtime error.
pub async fn dispatch(aws: &impl ExportAws, payload: Value) -> Result<Value, HandlerError> {
    // With an action: one step of the work-unit export; without: the whole export in one go.
    if payload.get("action").is_some() {
        let request: ExportUnitsRequest = parse_event(payload)?;
        let (request, destination, lock_days) = units::checked(aws, request).await?;
        return aws.units(request, &destination, lock_days).await;
    }
    let request: ExportRequest = parse_event(payload)?;
    // Destination, lock mode and days are the deployment's, by source id; the connection must be
    // this drill's temp.
    let config = aws.deployment().await?;
    config.source(&request.drill.source_id)?;
    let source = config.check_connection(&request.drill, &request.source)?;
    let destination = config.export_destination(&request.drill.source_id);
    // One day beyond the configured days: the retain-until date is fixed when the export
    // starts, and the bucket policy refuses writes with fewer than the configured days left.
    let lock_days = config.object_lock_days.saturating_add(1);
    let request = ExportRequest { source, ..request };
    aws.export(&request, &destination, lock_days).await
}
