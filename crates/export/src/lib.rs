//! The `export` Lambda. Streams a logical backup set of the validated temporary restore to the backup store.
//!
//! `main.rs` only builds [`Deps`] once and hands every invocation to [`handle`]; tests and the
//! local Lambda host call [`handle`] in process. The work is the same library code as
//! `drill export` ([`drill_engine::dump::export`]).

use std::path::PathBuf;

use drill_core::events::{ExportRequest, SecretRef};
use drill_engine::dump::{self, Database, ExportOptions};
use drill_engine::lambda::{parse_event, HandlerError};
use drill_engine::store::{Retention, S3Client, Store};
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
    /// `DRILL_CONFIG_URL`: the deployment configuration (destination, Object Lock days).
    pub config_url: Option<String>,
}

fn env_number(
    var: &dyn Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, HandlerError> {
    match var(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(HandlerError::new(
                drill_core::ErrorKind::InvalidInput,
                format!("{name}={v:?} must be a number between 1 and {max}"),
            )),
        },
    }
}

impl Config {
    /// Reads the configuration through `var`: the process environment in Lambda, the function's
    /// configured environment in the local Lambda host.
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<Self, HandlerError> {
        Ok(Config {
            jobs: env_number(var, "DRILL_EXPORT_JOBS", 2, 64)? as usize,
            chunk_mb: env_number(var, "DRILL_EXPORT_CHUNK_MB", 64, 1 << 20)?,
            pg_dump: var("DRILL_PG_DUMP")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            allow_plaintext: drill_engine::lambda::allow_plaintext(var),
            config_url: var(drill_engine::deployment::CONFIG_URL_VAR),
        })
    }

    pub fn from_env() -> Result<Self, HandlerError> {
        Self::from_vars(&|k| std::env::var(k).ok())
    }
}

/// Everything a handler needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Deps {
    pub config: Config,
    pub aws: aws_config::SdkConfig,
    pub s3: S3Client,
}

impl Deps {
    pub fn new(config: Config, aws: aws_config::SdkConfig) -> Self {
        Deps {
            config,
            s3: drill_engine::aws::s3_client(&aws),
            aws,
        }
    }

    pub async fn from_env() -> Result<Self, HandlerError> {
        Ok(Deps::new(
            Config::from_env()?,
            drill_engine::aws::load_config().await,
        ))
    }
}

/// Handles one invocation. The payload is parsed here rather than by the runtime so that a bad
/// event surfaces as `Drill.InvalidInput` (never retried) instead of a generic runtime error.
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    let request: ExportRequest = parse_event(payload)?;
    // Destination, lock mode and days are the deployment's, by source id; the connection must be
    // this drill's temp.
    let config =
        drill_engine::deployment::load(deps.config.config_url.as_deref(), Some(&deps.s3)).await?;
    config.source(&request.drill.source_id)?;
    let source_spec = config.check_connection(&request.drill, &request.source)?;
    let destination = config.export_destination(&request.drill.source_id);
    let store = Store::open(&destination, Some(&deps.s3))?;
    // One day beyond the configured days: the retain-until date is fixed when the export
    // starts, and the bucket policy refuses writes with fewer than the configured days left.
    let retention = Some(Retention::for_days(
        drill_core::deployment::OBJECT_LOCK_MODE,
        config.object_lock_days.saturating_add(1),
    )?);
    let request = ExportRequest {
        source: source_spec,
        ..request
    };
    drill_engine::lambda::require_tls(&request.source, deps.config.allow_plaintext)?;
    let secrets = match &request.source.secret {
        SecretRef::SecretsManager { .. } => Some(drill_engine::aws::secrets_client(&deps.aws)),
        SecretRef::Env { .. } => None,
    };
    let credentials =
        drill_engine::pg::resolve_secret(&request.source.secret, secrets.as_ref()).await?;
    let source = Database::from_spec(&request.source, &credentials);
    // Fail fast with a connection error before anything is written.
    drop(source.connect().await?);
    let options = ExportOptions {
        jobs: deps.config.jobs,
        chunk_bytes: deps.config.chunk_mb * 1024 * 1024,
        retention,
        pg_dump: deps.config.pg_dump.clone(),
        source_label: Some(request.drill.source_id.clone()),
        data_taken_at: request.data_taken_at,
    };
    tracing::info!(
        drill_id = request.drill.drill_id,
        source = source.describe(),
        destination = destination,
        "export starting"
    );
    let outcome = dump::export(&source, &store, &options).await?;
    let summary = outcome.summary();
    tracing::info!(
        backup_set = summary.backup_set,
        tables = summary.tables,
        rows = summary.rows,
        "export finished"
    );
    serde_json::to_value(&summary)
        .map_err(|e| HandlerError::new(drill_core::ErrorKind::CouldNotRun, e.to_string()))
}
