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
//! `main.rs` only serves [`handle`]; tests and the local Lambda host call [`handle`] in process.
//! The handler reaches AWS through [`DeleteAws`] ([`aws`]), so [`dispatch`] is unit-tested
//! with a fake.

pub mod aws;
pub mod sandbox;
#[cfg(test)]
mod tests;

pub use aws::DeleteAws;

use chrono::{DateTime, Utc};
use drill_core::events::{DeleteRequest, DrillContext, TempResource};
use drill_core::ErrorKind;
use drill_engine::lambda::{parse_event, FromVars, HandlerError, Vars};
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

impl FromVars for Config {
    fn from_vars(var: Vars<'_>) -> Result<Self, HandlerError> {
        let env = drill_engine::lambda::FunctionEnv::from_vars(var)?;
        Ok(Config {
            rds: RdsSettings::from_vars(var)?,
            allow_plaintext: env.allow_plaintext,
            config_url: env.config_url,
        })
    }
}

/// Everything the handler needs, built once per cold start.
pub type Deps = drill_engine::lambda::Deps<Config>;

/// Handles one invocation with the SDK-backed [`Deps`].
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    if sandbox::routes(&payload) {
        return sandbox::handle(deps, payload).await;
    }
    dispatch(deps, payload, rds::utc_now()).await
}

/// The clock the janitor judges expiry by ([`drill_core::guards::janitor::sweep_time`]): a
/// replayed `now` from the event may lie in the past, never far in the future.
pub fn janitor_now(
    requested: Option<DateTime<Utc>>,
    real_now: DateTime<Utc>,
) -> Result<DateTime<Utc>, HandlerError> {
    drill_core::guards::janitor::sweep_time(requested, real_now)
        .map_err(|e| HandlerError::new(ErrorKind::InvalidInput, e.to_string()))
}

/// Handles one invocation. The payload is parsed here rather than by the runtime so that a bad
/// event surfaces as `Drill.InvalidInput` (never retried) instead of a generic runtime error.
/// What may be deleted is derived from the deployment configuration by the drill's source id: a
/// `temp` that is not the one this drill's restore created is refused before any call.
pub async fn dispatch(
    aws: &impl DeleteAws,
    payload: Value,
    real_now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    match parse_event(payload)? {
        DeleteRequest::Delete { drill, temp } => {
            let temp = aws.deployment().await?.check_temp(&drill, &temp)?;
            delete(aws, &drill, temp).await
        }
        DeleteRequest::CleanupRestore { drill } => {
            let config = aws.deployment().await?;
            let source = config.source(&drill.source_id)?;
            let temp = config.expected_temp(source, &drill)?;
            delete(aws, &drill, temp).await
        }
        DeleteRequest::ExpireCopies { drill } => {
            let config = aws.deployment().await?;
            let source = config.source(&drill.source_id)?;
            let (Some((of, identifier)), Some(copy)) =
                (source.source.copied_snapshots(), &source.snapshot_copy)
            else {
                return Err(HandlerError::new(
                    ErrorKind::InvalidInput,
                    format!("source {:?} has no snapshot_copy configured", source.id),
                ));
            };
            aws.expire_copies(of, identifier, copy, real_now).await
        }
        DeleteRequest::Janitor { now } => aws.janitor(janitor_now(now, real_now)?).await,
    }
}

/// Deletes exactly `temp` (the identifier checked against the configuration) behind the guards.
async fn delete(
    aws: &impl DeleteAws,
    drill: &DrillContext,
    temp: TempResource,
) -> Result<Value, HandlerError> {
    match temp {
        TempResource::RdsInstance { identifier, .. } => {
            aws.delete_instance(drill, &identifier).await
        }
        TempResource::RdsCluster {
            identifier,
            instance,
            ..
        } => aws.delete_cluster(drill, &identifier, &instance).await,
        TempResource::Database { name, server } => aws.delete_database(drill, &server, &name).await,
    }
}
