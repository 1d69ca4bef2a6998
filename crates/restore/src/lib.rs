//! The `restore` Lambda. Restores the newest backup of a source into a temporary resource, and
//! reports its status for the state machine's wait loop.
//!
//! This build handles `rds-snapshot` sources: action `restore` starts
//! `RestoreDBInstanceFromDBSnapshot` (or, for a source whose deployment configuration says
//! `restore.mode = point-in-time`, `RestoreDBInstanceToPointInTime`) and returns at once; action `status` is one describe (the
//! state machine waits between calls, the Lambda never does). Action `manage_secret` turns on the
//! RDS-managed master secret of an available temp (see [`drill_engine::rds_secret`]), which a
//! restore from a snapshot does not create. Action `copy_snapshot` makes the
//! nightly drill copy of a source's newest automated snapshot (see [`rds::copy_snapshot`]).
//! An `aurora-cluster` source restores a cluster snapshot (or a point in time) to a temp cluster;
//! its `status` creates the cluster's one instance once the cluster is available (see
//! [`rds::cluster_status`]), and `manage_secret` turns on the cluster's managed secret.
//! Action `plan` is the state machine's first step: which configured sources an execution runs.
//!
//! `main.rs` only serves [`handle`]; tests and the local Lambda host call [`handle`] in process.
//! The handler reaches AWS through [`RestoreAws`] ([`aws`]), so [`dispatch`] is unit-tested
//! with a fake.

pub mod aws;
pub mod sandbox;
#[cfg(test)]
mod tests;

pub use aws::{ClusterTemp, RestoreAws};

use chrono::{DateTime, Utc};
use drill_core::events::{RestoreRequest, SourceSpec, TempResource};
use drill_core::point_in_time::RestoreMode;
use drill_core::ErrorKind;
use drill_engine::lambda::{parse_event, to_output, FromVars, HandlerError, Vars};
use drill_engine::rds::{self, ClusterInput, PointInTimeInput, RdsSettings, RestoreInput};
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

/// Handles one invocation. The payload is parsed here rather than by the runtime so that a bad
/// event surfaces as `Drill.InvalidInput` (never retried) instead of a generic runtime error.
/// What is restored, copied and shared comes from the deployment configuration by the drill's
/// source id; the event only names the drill (and, for `status`, the temp it checks).
pub async fn dispatch(
    aws: &impl RestoreAws,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let request: RestoreRequest = parse_event(payload)?;
    let config = aws.deployment().await?;
    match request {
        RestoreRequest::Plan { input } => {
            let input = drill_core::deployment::parse_execution_input(&input)?;
            let plan = config.plan(&input)?;
            tracing::info!(sources = plan.sources.len(), "execution planned");
            to_output(&plan)
        }
        RestoreRequest::Restore { drill } => {
            let source = config.source(&drill.source_id)?;
            match source.source.clone() {
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
                    match &source.restore {
                        RestoreMode::Snapshot => aws.restore_snapshot(&drill, &input, now).await,
                        RestoreMode::PointInTime {
                            moment,
                            seed,
                            replicated_from,
                        } => {
                            let pitr = PointInTimeInput {
                                moment: *moment,
                                seed: *seed,
                                replicated_from: replicated_from.clone(),
                            };
                            aws.restore_point_in_time(&drill, &input, &pitr, now).await
                        }
                    }
                }
                SourceSpec::AuroraCluster {
                    cluster_identifier,
                    snapshot,
                    max_age_hours,
                    database,
                    cluster_parameter_group,
                    instance,
                } => {
                    let input = ClusterInput {
                        source_cluster: cluster_identifier,
                        selector: snapshot,
                        max_age_hours,
                        database,
                        cluster_parameter_group,
                        instance,
                    };
                    match &source.restore {
                        RestoreMode::Snapshot => {
                            aws.restore_cluster(&drill, &input, None, now).await
                        }
                        RestoreMode::PointInTime {
                            moment,
                            seed,
                            replicated_from,
                        } => {
                            let pitr = PointInTimeInput {
                                moment: *moment,
                                seed: *seed,
                                replicated_from: replicated_from.clone(),
                            };
                            aws.restore_cluster(&drill, &input, Some(&pitr), now).await
                        }
                    }
                }
                SourceSpec::BackupSet {
                    store,
                    server,
                    max_age_hours,
                    no_owner,
                } => {
                    aws.restore_backup_set(&drill, &store, &server, max_age_hours, no_owner, now)
                        .await
                }
            }
        }
        RestoreRequest::Status { drill, temp, since } => match config.check_temp(&drill, &temp)? {
            TempResource::RdsInstance {
                identifier,
                database,
                ..
            } => {
                aws.instance_status(&drill, &identifier, &database, since, now)
                    .await
            }
            TempResource::RdsCluster {
                identifier,
                instance,
                database,
            } => {
                // The instance to create comes from the configuration, never from the event.
                let spec = match &config.source(&drill.source_id)?.source {
                    SourceSpec::AuroraCluster { instance, .. } => instance.clone(),
                    _ => Default::default(),
                };
                let temp = ClusterTemp {
                    identifier: &identifier,
                    instance: &instance,
                    database: &database,
                    spec: &spec,
                };
                aws.cluster_status(&drill, temp, since, now).await
            }
            TempResource::Database { name, server } => {
                aws.database_status(&drill, &server, &name, since, now)
                    .await
            }
        },
        RestoreRequest::ManageSecret { drill, temp } => match config.check_temp(&drill, &temp)? {
            TempResource::RdsInstance { identifier, .. } => {
                aws.manage_secret(&drill, &identifier).await
            }
            TempResource::RdsCluster { identifier, .. } => {
                aws.manage_cluster_secret(&drill, &identifier).await
            }
            TempResource::Database { .. } => Err(HandlerError::new(
                ErrorKind::InvalidInput,
                "manage_secret applies to RDS temp instances only".to_owned(),
            )),
        },
        RestoreRequest::CopySnapshot { drill } => {
            let source = config.source(&drill.source_id)?;
            let (Some((of, identifier)), Some(copy)) =
                (source.source.copied_snapshots(), &source.snapshot_copy)
            else {
                return Err(HandlerError::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "source {:?} has no snapshot_copy configured (or is a backup-set source, which has no snapshots)",
                        source.id
                    ),
                ));
            };
            // Checked again here, before any AWS call: the allowlists are the deployment's.
            config.check_copy(&source.id, copy)?;
            aws.copy_snapshot(&drill, of, identifier, copy, now).await
        }
    }
}
