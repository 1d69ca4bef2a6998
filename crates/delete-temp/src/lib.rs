//! The `delete-temp` Lambda. Deletes the drill's temporary resource behind every guard; also the
//! janitor for expired ones.
//!
//! Action `delete`: the temp instance of the calling execution, only if every guard of
//! `drill_core::guards` passes. A refusal makes no AWS call and fails with
//! `Drill.GuardViolation`, naming each guard that said no (also logged). Already gone is success.
//! Action `janitor`: drill temps past their expires-at, through the same guards; refusals are
//! reported in the output (and logged) rather than failing the sweep.
//! Action `expire_copies`: a source's expired drill snapshot copies, behind the copy guards
//! (never an automated or untagged snapshot; the newest `keep_newest` copies always stay).
//!
//! `main.rs` only builds [`Deps`] once and hands every invocation to [`handle`]; tests and the
//! local Lambda host call [`handle`] in process.

use drill_core::events::{DeleteRequest, SourceSpec, TempResource};
use drill_core::ErrorKind;
use drill_engine::backupset::{self, TempDbSettings};
use drill_engine::lambda::{parse_event, HandlerError};
use drill_engine::pg::resolve_secret;
use drill_engine::rds::{self, RdsSettings};
use serde_json::Value;

/// Typed configuration from the function's environment (see [`RdsSettings`]: `DRILL_PREFIX`,
/// `DRILL_SOURCES`, `DRILL_PROTECTED`, ...).
#[derive(Debug, Clone)]
pub struct Config {
    pub rds: RdsSettings,
    /// `DRILL_ALLOW_PLAINTEXT=true`: allow `tls = "disable"` (local stacks only).
    pub allow_plaintext: bool,
    /// `DRILL_CONFIG_URL`: the deployment configuration (every source's settings).
    pub config_url: Option<String>,
}

impl Config {
    /// Reads the configuration through `var`: the process environment in Lambda, the function's
    /// configured environment in the local Lambda host.
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<Self, HandlerError> {
        Ok(Config {
            rds: RdsSettings::from_vars(var)?,
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
    pub rds: rds::Client,
}

impl Deps {
    pub fn new(config: Config, aws: aws_config::SdkConfig) -> Self {
        let rds = drill_engine::aws::rds_client(&aws);
        Deps { config, aws, rds }
    }

    pub async fn from_env() -> Result<Self, HandlerError> {
        Ok(Deps::new(
            Config::from_env()?,
            drill_engine::aws::load_config().await,
        ))
    }
}

fn ser_err(e: serde_json::Error) -> HandlerError {
    HandlerError::new(ErrorKind::CouldNotRun, format!("serialize output: {e}"))
}

/// Handles one invocation. The payload is parsed here rather than by the runtime so that a bad
/// event surfaces as `Drill.InvalidInput` (never retried) instead of a generic runtime error.
/// What may be deleted is derived from the deployment configuration by the drill's source id: a
/// `temp` that is not the one this drill's restore created is refused before any call.
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    let request: DeleteRequest = parse_event(payload)?;
    let config = || async {
        let s3 = drill_engine::aws::s3_client(&deps.aws);
        drill_engine::deployment::load(deps.config.config_url.as_deref(), Some(&s3)).await
    };
    match request {
        DeleteRequest::Delete { drill, temp } => {
            let temp = config().await?.check_temp(&drill, &temp)?;
            delete(deps, &drill, temp).await
        }
        DeleteRequest::CleanupRestore { drill } => {
            let config = config().await?;
            let source = config.source(&drill.source_id)?;
            let temp = config.expected_temp(source, &drill)?;
            delete(deps, &drill, temp).await
        }
        DeleteRequest::ExpireCopies { drill } => {
            let config = config().await?;
            let source = config.source(&drill.source_id)?;
            let (
                SourceSpec::RdsSnapshot {
                    instance_identifier,
                    ..
                },
                Some(copy),
            ) = (&source.source, &source.snapshot_copy)
            else {
                return Err(HandlerError::new(
                    ErrorKind::InvalidInput,
                    format!("source {:?} has no snapshot_copy configured", source.id),
                ));
            };
            let client = rds::client_for_region(&deps.rds, copy.region.as_deref());
            let outcome = rds::expire_copies(
                &client,
                &deps.config.rds,
                instance_identifier,
                copy.keep_newest,
                rds::utc_now(),
            )
            .await?;
            tracing::info!(
                expired = outcome.expired.len(),
                kept = outcome.kept.len(),
                refused = outcome.refused.len(),
                "snapshot copies expired"
            );
            serde_json::to_value(&outcome).map_err(ser_err)
        }
        DeleteRequest::Janitor { now } => {
            let now = drill_core::guards::janitor::sweep_time(now, rds::utc_now())
                .map_err(|e| HandlerError::new(ErrorKind::InvalidInput, e.to_string()))?;
            let outcome = rds::janitor(&deps.rds, &deps.config.rds, now).await?;
            tracing::info!(
                deleted = outcome.deleted.len(),
                refused = outcome.refused.len(),
                not_due = outcome.not_due.len(),
                "janitor done"
            );
            serde_json::to_value(&outcome).map_err(ser_err)
        }
    }
}

/// Deletes exactly `temp` (the identifier checked against the configuration) behind the guards.
async fn delete(
    deps: &Deps,
    drill: &drill_core::events::DrillContext,
    temp: TempResource,
) -> Result<Value, HandlerError> {
    match temp {
        TempResource::RdsInstance { identifier, .. } => {
            let outcome = rds::delete_temp(&deps.rds, &deps.config.rds, drill, &identifier).await?;
            serde_json::to_value(&outcome).map_err(ser_err)
        }
        TempResource::Database { name, server } => {
            drill_engine::lambda::require_tls(&server, deps.config.allow_plaintext)?;
            let secrets = drill_engine::aws::secrets_client(&deps.aws);
            let credentials = resolve_secret(&server.secret, Some(&secrets)).await?;
            let settings = TempDbSettings::from_rds(&deps.config.rds);
            let server = drill_engine::pg::Database::from_spec(&server, &credentials);
            let outcome = backupset::delete(&server, &drill.drill_id, &name, &settings).await?;
            serde_json::to_value(&outcome).map_err(ser_err)
        }
    }
}
