//! The wait loop over a temp Aurora cluster, without any change to the state machine: the same
//! `status` action, one call per loop turn, never a wait.
//!
//! - cluster not `available`: not ready;
//! - cluster available, no instance: creates the one instance (`CreateDBInstance` into the
//!   cluster, which RDS allows only once the restored cluster is available), not ready;
//! - instance not available: not ready;
//! - both available, no managed secret: `secret_needed` (the loop's `manage_secret` action then
//!   turns it on with `ModifyDBCluster`);
//! - all of that: ready, with the cluster (writer) endpoint.
//!
//! Every call first checks the cluster against guards (a)–(d); the instance is created only in a
//! cluster that carries this drill's tags, and carries the same tags itself.

use aws_sdk_rds::types::DbCluster;
use chrono::{DateTime, Utc};
use drill_core::deployment::aurora::{self, AuroraInstance};
use drill_core::events::{
    ConnectionSpec, DrillContext, SecretRef, StatusReport, TempState, TlsMode,
};
use drill_core::guards::{self, tag, Caller, InstanceFacts};
use drill_core::temp_readiness;
use serde::Serialize;

use super::cluster_facts::{cluster_facts, describe_cluster};
use super::facts::{aws_tags, describe_instance, instance_facts};
use super::{api_error, code_of, guard_error, Client, RdsError, RdsSettings};

fn caller(drill: &DrillContext) -> Caller {
    Caller::Execution {
        drill_id: drill.drill_id.clone(),
        started_at: drill.started_at,
    }
}

/// Guards (a)–(d) on a resource of this drill.
fn read_guards(
    settings: &RdsSettings,
    drill: &DrillContext,
    facts: &InstanceFacts,
) -> Result<(), RdsError> {
    let policy = settings.guard_policy_for(Some(&drill.source_id), facts);
    let failures = guards::check_read(&policy, &caller(drill), facts);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(guard_error(&facts.identifier, &failures))
    }
}

/// The temp cluster, described and checked; `None` when gone.
async fn our_cluster(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    identifier: &str,
) -> Result<Option<(DbCluster, InstanceFacts)>, RdsError> {
    let Some(cluster) = describe_cluster(client, identifier).await? else {
        return Ok(None);
    };
    let facts = cluster_facts(&cluster);
    read_guards(settings, drill, &facts)?;
    Ok(Some((cluster, facts)))
}

/// One status call of the wait loop for a temp cluster and its instance `instance`.
#[allow(clippy::too_many_arguments)]
pub async fn cluster_status(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    identifier: &str,
    instance: &str,
    database: &str,
    spec: &AuroraInstance,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<StatusReport, RdsError> {
    let elapsed_seconds = (now - since.unwrap_or(drill.started_at))
        .num_seconds()
        .max(0) as u64;
    let report = |state, detail: String| StatusReport {
        state,
        connection: None,
        elapsed_seconds,
        detail,
    };
    let Some((cluster, facts)) = our_cluster(client, settings, drill, identifier).await? else {
        return Ok(report(TempState::Gone, "cluster not found".into()));
    };
    let raw = cluster.status().unwrap_or("unknown").to_owned();
    let base = temp_readiness::normalize_status(&raw);
    if base != TempState::Available {
        return Ok(report(base, format!("cluster {raw}")));
    }
    let Some(db) = describe_instance(client, instance).await? else {
        create_instance(client, identifier, instance, spec, &facts).await?;
        return Ok(report(
            TempState::Creating,
            format!("cluster {raw}; instance {instance} requested"),
        ));
    };
    let member = instance_facts(&db);
    read_guards(settings, drill, &member)?;
    if db.db_cluster_identifier() != Some(identifier) {
        return Err(RdsError::Guard {
            message: format!(
                "refused: instance {instance:?} is not in temp cluster {identifier:?}"
            ),
            refusals: Vec::new(),
        });
    }
    let instance_raw = db.db_instance_status().unwrap_or("unknown");
    let instance_state = temp_readiness::normalize_status(instance_raw);
    if instance_state != TempState::Available {
        return Ok(report(
            instance_state,
            format!("cluster {raw}; instance {instance_raw}"),
        ));
    }
    let secret = cluster.master_user_secret();
    let secret_arn = secret.and_then(|s| s.secret_arn());
    let secret_status =
        secret_arn.map(|_| secret.and_then(|s| s.secret_status()).unwrap_or("unknown"));
    let endpoint = cluster.endpoint().map(str::to_owned);
    let (state, detail) = temp_readiness::readiness(base, &raw, endpoint.is_some(), secret_status);
    let connection = match (state, endpoint, secret_arn) {
        (TempState::Available, Some(host), Some(arn)) => Some(ConnectionSpec {
            host,
            port: cluster
                .port()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(5432),
            database: database.to_owned(),
            secret: SecretRef::SecretsManager {
                secret_id: arn.to_owned(),
            },
            tls: TlsMode::VerifyFull,
        }),
        _ => None,
    };
    Ok(StatusReport {
        state,
        connection,
        elapsed_seconds,
        detail,
    })
}

/// Creates the temp's one instance in the (checked) cluster, with the cluster's drill tags
/// (guards (b), (c), (f) then hold for the instance too). Idempotent: an instance of that name
/// made by this execution is fine; anything else under that name is refused.
async fn create_instance(
    client: &Client,
    cluster: &str,
    instance: &str,
    spec: &AuroraInstance,
    cluster_facts: &InstanceFacts,
) -> Result<(), RdsError> {
    let drill_tags: std::collections::BTreeMap<String, String> = cluster_facts
        .tags
        .iter()
        .filter(|(k, _)| k.starts_with("drill:"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let result = client
        .create_db_instance()
        .db_instance_identifier(instance)
        .db_cluster_identifier(cluster)
        .engine(aurora::ENGINE)
        .db_instance_class(spec.class())
        // For Aurora, public access is the instance's setting.
        .publicly_accessible(false)
        .auto_minor_version_upgrade(false)
        .set_tags(Some(aws_tags(&drill_tags)))
        .send()
        .await;
    match result {
        Ok(_) => {
            tracing::info!(%cluster, %instance, class = spec.class(), "temp cluster instance requested");
            Ok(())
        }
        Err(e) if code_of(&e) == Some("DBInstanceAlreadyExists") => {
            let tags = describe_instance(client, instance)
                .await?
                .map(|db| instance_facts(&db).tags)
                .unwrap_or_default();
            let execution = cluster_facts
                .tags
                .get(tag::EXECUTION)
                .cloned()
                .unwrap_or_default();
            super::check_reuse(instance, &execution, tag::ROLE_TEMP, &tags)
        }
        Err(e) => Err(api_error("CreateDBInstance", e)),
    }
}

/// What [`enable_cluster_secret`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterSecretRequest {
    pub identifier: String,
    pub requested: bool,
    pub detail: String,
}

/// Turns on the RDS-managed master secret of this drill's temp cluster (`ModifyDBCluster`
/// `ManageMasterUserPassword`, the drill's KMS key, `ApplyImmediately`): neither cluster restore
/// call accepts ManageMasterUserPassword. Behind guards (a)–(d); idempotent.
pub async fn enable_cluster_secret(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    identifier: &str,
) -> Result<ClusterSecretRequest, RdsError> {
    let (cluster, _) = our_cluster(client, settings, drill, identifier)
        .await?
        .ok_or_else(|| {
            RdsError::InvalidInput(format!(
                "temp cluster {identifier:?} not found: cannot turn on its master secret"
            ))
        })?;
    let answer = |requested, detail: &str| ClusterSecretRequest {
        identifier: identifier.to_owned(),
        requested,
        detail: detail.to_owned(),
    };
    if cluster
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .is_some()
    {
        return Ok(answer(false, "already has an RDS-managed master secret"));
    }
    match client
        .modify_db_cluster()
        .db_cluster_identifier(identifier)
        .manage_master_user_password(true)
        .set_master_user_secret_kms_key_id(settings.secret_kms_key_id.clone())
        .apply_immediately(true)
        .send()
        .await
    {
        Ok(_) => {
            tracing::info!(%identifier, "RDS-managed master secret of the temp cluster requested");
            Ok(answer(
                true,
                "ModifyDBCluster ManageMasterUserPassword requested",
            ))
        }
        Err(e) if code_of(&e) == Some("InvalidDBClusterStateFault") => {
            Ok(answer(false, "cluster busy (a modification is under way)"))
        }
        Err(e) => Err(api_error("ModifyDBCluster", e)),
    }
}
