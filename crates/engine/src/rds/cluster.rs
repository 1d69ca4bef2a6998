//! Restoring an Aurora PostgreSQL cluster to a tagged temp cluster: from a cluster snapshot
//! (`RestoreDBClusterFromSnapshot`) or to a point in time (`RestoreDBClusterToPointInTime`,
//! full copy, from the live cluster or its retained automated backups). Both calls restore the
//! cluster only; its one instance is created by the wait loop once the cluster is available
//! ([`super::cluster_status`]). Returns at once.

use chrono::{DateTime, Duration, Utc};
use drill_core::deployment::aurora::{self, AuroraInstance};
use drill_core::events::{
    BackupKind, BackupRef, DrillContext, RestoreStarted, SnapshotSelector, TempResource,
};
use drill_core::guards::tag;
use drill_core::naming;
use drill_core::point_in_time;

use super::cluster_backups::{cluster_pitr_source, ClusterPitrSource};
use super::cluster_facts::{
    choose_cluster_snapshot, cluster_facts, describe_cluster, find_cluster_snapshot,
    version_min_capacity,
};
use super::facts::aws_tags;
use super::restore::check_placement;
use super::{api_error, check_reuse, code_of, Client, PointInTimeInput, RdsError, RdsSettings};

/// What to restore (from the source's `aurora-cluster` configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInput {
    pub source_cluster: String,
    pub selector: SnapshotSelector,
    pub max_age_hours: Option<u32>,
    pub database: String,
    pub cluster_parameter_group: Option<String>,
    pub instance: AuroraInstance,
}

/// The temp cluster's identifier and its instance's.
pub fn cluster_temp_names(
    settings: &RdsSettings,
    drill: &DrillContext,
    source: &str,
) -> Result<(String, String), RdsError> {
    let (cluster, instance) =
        aurora::temp_names(&settings.prefix, source, &drill.drill_id, drill.started_at)
            .map_err(|e| RdsError::InvalidInput(e.to_string()))?;
    for id in [&cluster, &instance] {
        if !naming::is_valid_rds_identifier(id) {
            return Err(RdsError::InvalidInput(format!(
                "derived identifier {id:?} is not valid for RDS"
            )));
        }
    }
    Ok((cluster, instance))
}

/// The settings every temp cluster gets, whichever restore call makes it (the SDK's builders
/// share no trait). Checked in the API reference for Aurora: BackupRetentionPeriod is 1 to 35
/// (no 0 as for instances: 1 is the minimum), DeletionProtection off (the drill never turns it
/// off later), the drill's subnet group and security groups, no tags copied to snapshots, the
/// Serverless v2 range a `db.serverless` instance needs before it can be added. Public access
/// is an instance setting for Aurora (RestoreDBClusterToPointInTime's PubliclyAccessible is for
/// Multi-AZ DB clusters only): the instance is created with PubliclyAccessible=false.
/// ManageMasterUserPassword is accepted by neither call: the secret is turned on with
/// ModifyDBCluster once the cluster is available.
macro_rules! isolated_cluster {
    ($call:expr, subnet_group: $subnet:expr, security_groups: $sgs:expr,
     parameter_group: $pg:expr, scaling: $scaling:expr, tags: $tags:expr $(,)?) => {
        $call
            .db_subnet_group_name($subnet)
            .set_vpc_security_group_ids(Some($sgs))
            .set_db_cluster_parameter_group_name($pg)
            .backup_retention_period(1)
            .deletion_protection(false)
            .copy_tags_to_snapshot(false)
            .set_serverless_v2_scaling_configuration($scaling)
            .set_tags(Some($tags))
    };
}

/// The scaling configuration of the temp (`None` for a provisioned instance class).
async fn scaling(
    client: &Client,
    instance: &AuroraInstance,
    engine_version: Option<&str>,
) -> Result<Option<aws_sdk_rds::types::ServerlessV2ScalingConfiguration>, RdsError> {
    if !instance.is_serverless() {
        return Ok(None);
    }
    let floor = version_min_capacity(client, engine_version).await?;
    let capacity = instance
        .capacity(floor)
        .map_err(RdsError::InvalidInput)?
        .expect("a serverless instance has a capacity");
    Ok(Some(
        aws_sdk_rds::types::ServerlessV2ScalingConfiguration::builder()
            .min_capacity(capacity.min)
            .max_capacity(capacity.max)
            .build(),
    ))
}

/// A restore call's outcome: started, or already started by this execution (its tags).
async fn settle<T, E, R>(
    client: &Client,
    drill: &DrillContext,
    op: &'static str,
    identifier: &str,
    result: Result<T, aws_sdk_rds::error::SdkError<E, R>>,
) -> Result<Option<std::collections::BTreeMap<String, String>>, RdsError>
where
    E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(None),
        Err(e) if code_of(&e) == Some("DBClusterAlreadyExistsFault") => {
            let tags = describe_cluster(client, identifier)
                .await?
                .map(|c| cluster_facts(&c).tags)
                .unwrap_or_default();
            check_reuse(identifier, &drill.drill_id, tag::ROLE_TEMP, &tags)?;
            tracing::info!(%identifier, "cluster restore already started by this execution");
            Ok(Some(tags))
        }
        Err(e) => Err(api_error(op, e)),
    }
}

fn started(
    identifier: String,
    instance: String,
    input: &ClusterInput,
    backup: BackupRef,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> RestoreStarted {
    RestoreStarted {
        temp: TempResource::RdsCluster {
            identifier,
            instance,
            database: input.database.clone(),
        },
        backup,
        expires_at,
        restore_started_at: now,
    }
}

/// Starts restoring the selected cluster snapshot into a new temp cluster.
pub async fn restore_cluster(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    input: &ClusterInput,
    now: DateTime<Utc>,
) -> Result<RestoreStarted, RdsError> {
    let subnet_group = check_placement(settings)?;
    let source = &input.source_cluster;
    let snap =
        choose_cluster_snapshot(client, source, &input.selector, input.max_age_hours, now).await?;
    let (identifier, instance) = cluster_temp_names(settings, drill, source)?;
    let engine_version = client
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(&snap.id)
        .set_snapshot_type(super::facts::type_for_id(&snap.id))
        .include_shared(true)
        .send()
        .await
        .map_err(|e| api_error("DescribeDBClusterSnapshots", e))?
        .db_cluster_snapshots()
        .first()
        .and_then(|s| s.engine_version().map(str::to_owned));
    let scaling = scaling(client, &input.instance, engine_version.as_deref()).await?;
    let expires_at = now + Duration::hours(i64::from(settings.temp_ttl_hours));
    // The ARN, not an automated snapshot's `rds:` identifier: RDS refuses tag values so prefixed.
    let snapshot_ref = snap.arn.clone().unwrap_or_else(|| snap.id.clone());
    let tags = aws_tags(&tag::temp_tags(
        &drill.drill_id,
        source,
        expires_at,
        &snapshot_ref,
    ));
    let call = client
        .restore_db_cluster_from_snapshot()
        .db_cluster_identifier(&identifier)
        // Own snapshots by name; a shared one's identifier is its ARN.
        .snapshot_identifier(&snap.id)
        // Required by the API; the snapshot's engine.
        .engine(aurora::ENGINE);
    let result = isolated_cluster!(
        call,
        subnet_group: &subnet_group,
        security_groups: settings.security_groups.clone(),
        parameter_group: input.cluster_parameter_group.clone(),
        scaling: scaling,
        tags: tags,
    )
    .send()
    .await;
    let reused = settle(
        client,
        drill,
        "RestoreDBClusterFromSnapshot",
        &identifier,
        result,
    )
    .await?;
    // A retry after a newer snapshot appeared: report the one restored.
    let restored_from = reused
        .as_ref()
        .and_then(|t| t.get(tag::RESTORED_FROM))
        .filter(|id| **id != snapshot_ref);
    let snap = match restored_from {
        Some(id) => find_cluster_snapshot(client, id)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                RdsError::InvalidInput(format!(
                    "temp cluster {identifier} was restored from snapshot {id}, which no longer exists"
                ))
            })?,
        None => snap,
    };
    tracing::info!(%identifier, snapshot = %snap.id, %source, "cluster restore started");
    let backup = BackupRef {
        kind: BackupKind::RdsSnapshot,
        id: snap.arn.clone().unwrap_or_else(|| snap.id.clone()),
        taken_at: snap.taken_at.unwrap_or(now),
    };
    Ok(started(
        identifier, instance, input, backup, expires_at, now,
    ))
}

/// Starts restoring the source cluster to the moment `pitr` picks inside its restore window
/// (`EarliestRestorableTime` to `LatestRestorableTime`), as a full copy: from the live cluster,
/// or once it is gone from its retained automated backups ([`cluster_pitr_source`]).
pub async fn restore_cluster_point_in_time(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    input: &ClusterInput,
    pitr: &PointInTimeInput,
    now: DateTime<Utc>,
) -> Result<RestoreStarted, RdsError> {
    let subnet_group = check_placement(settings)?;
    let source = &input.source_cluster;
    if pitr.replicated_from.is_some() {
        return Err(RdsError::InvalidInput(
            "replicated_from is for rds-snapshot sources only".into(),
        ));
    }
    let from = cluster_pitr_source(client, source).await?;
    let window = from.window().ok_or_else(|| {
        RdsError::InvalidInput(format!(
            "source cluster {source:?} reports no restore window"
        ))
    })?;
    let seed = pitr
        .seed
        .unwrap_or_else(|| point_in_time::derive_seed(&drill.drill_id, &drill.source_id));
    let chosen = point_in_time::choose(source, pitr.moment, seed, window)
        .map_err(|e| RdsError::InvalidInput(e.to_string()))?;
    if let Some(max) = input.max_age_hours {
        if now - chosen.at > Duration::hours(i64::from(max)) {
            return Err(RdsError::InvalidInput(format!(
                "the chosen moment {} of {source:?} is older than the allowed {max} h",
                chosen.at
            )));
        }
    }
    let (identifier, instance) = cluster_temp_names(settings, drill, source)?;
    let scaling = scaling(client, &input.instance, from.engine_version()).await?;
    let expires_at = now + Duration::hours(i64::from(settings.temp_ttl_hours));
    // Guard (f) reads this tag: the source cluster's ARN, or the retained backup's.
    let mut tags = tag::temp_tags(
        &drill.drill_id,
        source,
        expires_at,
        from.restored_from(source),
    );
    tags.insert(tag::MOMENT.to_owned(), chosen.tag_value());
    let restore_time = (!chosen.use_latest()).then(|| {
        aws_smithy_types::DateTime::from_secs_and_nanos(
            chosen.at.timestamp(),
            chosen.at.timestamp_subsec_nanos(),
        )
    });
    let call = client
        .restore_db_cluster_to_point_in_time()
        .db_cluster_identifier(&identifier);
    let call = match &from {
        ClusterPitrSource::Live(_) => call.source_db_cluster_identifier(source),
        ClusterPitrSource::Retained(b) => call.source_db_cluster_resource_id(&b.resource_id),
    };
    let call = call
        // A full copy proves the backups; copy-on-write would be a clone of the live volume.
        .restore_type("full-copy")
        .set_restore_to_time(restore_time)
        .set_use_latest_restorable_time(chosen.use_latest().then_some(true));
    let result = isolated_cluster!(
        call,
        subnet_group: &subnet_group,
        security_groups: settings.security_groups.clone(),
        parameter_group: input.cluster_parameter_group.clone(),
        scaling: scaling,
        tags: aws_tags(&tags),
    )
    .send()
    .await;
    let reused = settle(
        client,
        drill,
        "RestoreDBClusterToPointInTime",
        &identifier,
        result,
    )
    .await?;
    let chosen = super::pitr::moment_restored(&identifier, chosen, reused.as_ref())?;
    let described = chosen.describe(source);
    let from_retained = matches!(from, ClusterPitrSource::Retained(_));
    tracing::info!(%identifier, %source, moment = %described, from_retained, "cluster point-in-time restore started");
    let backup = BackupRef {
        kind: BackupKind::RdsPointInTime,
        id: described,
        taken_at: chosen.at,
    };
    Ok(started(
        identifier, instance, input, backup, expires_at, now,
    ))
}
