//! The `restore` Lambda. Restores the newest backup of a source into a temporary resource, and
//! reports its status for the state machine's wait loop.
//!
//! This build handles `rds-snapshot` sources: action `restore` starts
//! `RestoreDBInstanceFromDBSnapshot` and returns at once; action `status` is one describe (the
//! state machine waits between calls, the Lambda never does). Action `manage_secret` turns on the
//! RDS-managed master secret of an available temp (see [`drill_engine::rds_secret`]), which a
//! restore from a snapshot does not create. Action `copy_snapshot` makes the
//! nightly drill copy of a source's newest automated snapshot (see [`rds::copy_snapshot`]).
//! Action `plan` is the state machine's first step: which configured sources an execution runs.
//!
//! `main.rs` only builds [`Deps`] once and hands every invocation to [`handle`]; tests and the
//! local Lambda host call [`handle`] in process.

use drill_core::deployment::DeploymentConfig;
use drill_core::events::{RestoreRequest, SourceSpec, TempResource};
use drill_core::ErrorKind;
use drill_engine::backupset::{self, TempDbSettings};
use drill_engine::lambda::{parse_event, HandlerError};
use drill_engine::pg::{resolve_secret, Credentials};
use drill_engine::rds::{self, RdsSettings, RestoreInput};
use drill_engine::store::Store;
use serde_json::Value;

/// Typed configuration from the function's environment (see [`RdsSettings`] for the variables).
/// Nothing is required to start: a missing subnet group or security group fails the `restore`
/// action with `Drill.InvalidInput`, not the cold start.
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

/// The restore server's credentials (Secrets Manager in AWS).
async fn server_credentials(
    deps: &Deps,
    server: &drill_core::events::ConnectionSpec,
) -> Result<Credentials, HandlerError> {
    drill_engine::lambda::require_tls(server, deps.config.allow_plaintext)?;
    let secrets = drill_engine::aws::secrets_client(&deps.aws);
    Ok(resolve_secret(&server.secret, Some(&secrets)).await?)
}

fn ser_err(e: serde_json::Error) -> HandlerError {
    HandlerError::new(ErrorKind::CouldNotRun, format!("serialize output: {e}"))
}

/// The deployment configuration (`DRILL_CONFIG_URL`), read on every invocation.
async fn deployment(deps: &Deps) -> Result<DeploymentConfig, HandlerError> {
    let s3 = drill_engine::aws::s3_client(&deps.aws);
    drill_engine::deployment::load(deps.config.config_url.as_deref(), Some(&s3)).await
}

/// Handles one invocation. The payload is parsed here rather than by the runtime so that a bad
/// event surfaces as `Drill.InvalidInput` (never retried) instead of a generic runtime error.
/// What is restored, copied and shared comes from the deployment configuration by the drill's
/// source id; the event only names the drill (and, for `status`, the temp it checks).
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    let request: RestoreRequest = parse_event(payload)?;
    let now = rds::utc_now();
    let config = deployment(deps).await?;
    match request {
        RestoreRequest::Plan { input } => {
            let input = drill_core::deployment::parse_execution_input(&input)?;
            let plan = config.plan(&input)?;
            tracing::info!(sources = plan.sources.len(), "execution planned");
            serde_json::to_value(&plan).map_err(ser_err)
        }
        RestoreRequest::Restore { drill } => {
            let source = config.source(&drill.source_id)?.source.clone();
            match source {
                SourceSpec::RdsSnapshot {
                    instance_identifier,
                    snapshot,
                    max_age_hours,
                    database,
                    parameter_group,
                } => {
                    let input = RestoreInput {
                        source_instance: instance_identifier,
                        selector: snapshot,
                        max_age_hours,
                        database,
                        parameter_group,
                    };
                    let started =
                        rds::restore(&deps.rds, &deps.config.rds, &drill, &input, now).await?;
                    serde_json::to_value(&started).map_err(ser_err)
                }
                SourceSpec::BackupSet {
                    store,
                    server,
                    max_age_hours,
                    no_owner,
                } => {
                    let s3 = drill_engine::aws::s3_client(&deps.aws);
                    let store = Store::open(&store, Some(&s3))?;
                    let credentials = server_credentials(deps, &server).await?;
                    let settings = TempDbSettings::from_rds(&deps.config.rds);
                    let started = backupset::restore(
                        &store,
                        &drill_engine::pg::Database::from_spec(&server, &credentials),
                        &drill,
                        &settings,
                        max_age_hours,
                        no_owner,
                        now,
                    )
                    .await?;
                    serde_json::to_value(&started).map_err(ser_err)
                }
            }
        }
        RestoreRequest::Status { drill, temp, since } => match config.check_temp(&drill, &temp)? {
            TempResource::RdsInstance {
                identifier,
                database,
                ..
            } => {
                let report = rds::status(
                    &deps.rds,
                    &deps.config.rds,
                    &drill,
                    &identifier,
                    &database,
                    since,
                    now,
                )
                .await?;
                serde_json::to_value(&report).map_err(ser_err)
            }
            TempResource::Database { name, server } => {
                let credentials = server_credentials(deps, &server).await?;
                let server = drill_engine::pg::Database::from_spec(&server, &credentials);
                let report = backupset::status(&server, &drill, &name, since, now).await?;
                serde_json::to_value(&report).map_err(ser_err)
            }
        },
        RestoreRequest::ManageSecret { drill, temp } => match config.check_temp(&drill, &temp)? {
            TempResource::RdsInstance { identifier, .. } => {
                let done = drill_engine::rds_secret::enable_managed_secret(
                    &deps.rds,
                    &deps.config.rds,
                    &drill,
                    &identifier,
                )
                .await?;
                serde_json::to_value(&done).map_err(ser_err)
            }
            TempResource::Database { .. } => Err(HandlerError::new(
                ErrorKind::InvalidInput,
                "manage_secret applies to RDS temp instances only".to_owned(),
            )),
        },
        RestoreRequest::CopySnapshot { drill } => {
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
                    format!(
                        "source {:?} has no snapshot_copy configured (or is not an rds-snapshot source)",
                        source.id
                    ),
                ));
            };
            // Checked again here, before any AWS call: the allowlists are the deployment's.
            config.check_copy(&source.id, copy)?;
            let client = rds::client_for_region(&deps.rds, copy.region.as_deref());
            let target = rds::CopyTarget {
                client: &client,
                kms_key_id: copy.kms_key_id.as_deref(),
                share_with: &copy.share_with,
            };
            let outcome = rds::copy_snapshot(
                &deps.rds,
                target,
                &deps.config.rds,
                &drill,
                instance_identifier,
                &drill_core::events::SnapshotSelector::NewestAutomated,
                copy.retention_days,
                now,
            )
            .await?;
            serde_json::to_value(&outcome).map_err(ser_err)
        }
    }
}
