//! Restoring the selected snapshot into a new, tagged temp instance (returns at once; the wait
//! loop polls [`super::status`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use drill_core::events::{BackupRef, DrillContext, RestoreStarted, SnapshotSelector, TempResource};
use drill_core::guards::tag;
use drill_core::naming;

use super::facts::{aws_tags, choose_snapshot, describe_instance, find_snapshot, instance_facts};
use super::{api_error, check_reuse, code_of, Client, RdsError, RdsSettings};
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};

/// What to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreInput {
    pub source_instance: String,
    pub selector: SnapshotSelector,
    pub max_age_hours: Option<u32>,
    /// Database inside the instance that later steps validate and export.
    pub database: String,
    /// DB parameter group of the temp (`None`: the engine family's default).
    pub parameter_group: Option<String>,
}

/// The identifier of the temp instance of this drill (stable across retries of the same
/// execution, so a retried restore finds its own instance instead of making a second one).
pub fn temp_identifier(
    settings: &RdsSettings,
    drill: &DrillContext,
    source: &str,
) -> Result<String, RdsError> {
    let id = naming::temp_identifier(&settings.prefix, source, &drill.drill_id, drill.started_at)
        .map_err(|e| RdsError::InvalidInput(e.to_string()))?;
    if !naming::is_valid_rds_identifier(&id) {
        return Err(RdsError::InvalidInput(format!(
            "derived identifier {id:?} is not valid for RDS"
        )));
    }
    Ok(id)
}

/// Where every temp goes: the drill's own subnet group and security groups, one of its classes.
/// Missing settings are refused before any call.
pub(super) fn check_placement(settings: &RdsSettings) -> Result<String, RdsError> {
    let subnet_group = settings.subnet_group.clone().ok_or_else(|| {
        RdsError::InvalidInput(
            "DRILL_SUBNET_GROUP is not set: the temp instance must go into the drill's own subnet group"
                .into(),
        )
    })?;
    if settings.security_groups.is_empty() {
        return Err(RdsError::InvalidInput(
            "DRILL_SECURITY_GROUPS is not set: the temp instance must use the drill's own security group"
                .into(),
        ));
    }
    if settings.instance_classes.is_empty() {
        return Err(RdsError::InvalidInput(
            "no instance class configured for the temp (DRILL_INSTANCE_CLASS)".into(),
        ));
    }
    Ok(subnet_group)
}

/// Runs `attempt` (one restore call) with each configured class in turn while RDS answers
/// `InsufficientDBInstanceCapacity`; then settles the outcome: started, or already started by
/// this execution (a retry finds its own instance; anything else under that name is not ours).
pub(super) async fn restore_with_fallback<T, E, R, F, Fut>(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    op: &'static str,
    identifier: &str,
    mut attempt: F,
) -> Result<Option<BTreeMap<String, String>>, RdsError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let mut out_of_capacity = Vec::new();
    let mut result = None;
    for class in &settings.instance_classes {
        match attempt(class.clone()).await {
            Err(e) if code_of(&e) == Some("InsufficientDBInstanceCapacity") => {
                tracing::warn!(%identifier, %class, "no capacity for this instance class; trying the next");
                out_of_capacity.push(class.clone());
            }
            other => {
                result = Some(other);
                break;
            }
        }
    }
    let Some(result) = result else {
        return Err(RdsError::Api {
            op,
            code: "InsufficientDBInstanceCapacity".into(),
            message: format!(
                "no capacity for any configured instance class ({}); add classes to DRILL_INSTANCE_CLASS",
                out_of_capacity.join(", ")
            ),
            transient: false,
        });
    };
    match result {
        Ok(_) => Ok(None),
        // A retry of this execution: the instance's tags say what it was restored from.
        Err(e) if code_of(&e) == Some("DBInstanceAlreadyExists") => {
            let tags = describe_instance(client, identifier)
                .await?
                .map(|db| instance_facts(&db).tags)
                .unwrap_or_default();
            check_reuse(identifier, &drill.drill_id, tag::ROLE_TEMP, &tags)?;
            tracing::info!(%identifier, "restore already started by this execution");
            Ok(Some(tags))
        }
        Err(e) => Err(api_error(op, e)),
    }
}

/// Starts restoring the selected snapshot into a new temp instance; returns at once (the state
/// machine polls [`status`]).
pub async fn restore(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    input: &RestoreInput,
    now: DateTime<Utc>,
) -> Result<RestoreStarted, RdsError> {
    let subnet_group = check_placement(settings)?;
    let snap = choose_snapshot(
        client,
        &input.source_instance,
        &input.selector,
        input.max_age_hours,
        now,
    )
    .await?;
    let identifier = temp_identifier(settings, drill, &input.source_instance)?;
    let expires_at = now + Duration::hours(i64::from(settings.temp_ttl_hours));
    // The ARN, not an automated snapshot's `rds:` identifier: RDS refuses tag values so prefixed.
    let snapshot_ref = snap.arn.clone().unwrap_or_else(|| snap.id.clone());
    let tags = aws_tags(&tag::temp_tags(
        &drill.drill_id,
        &input.source_instance,
        expires_at,
        &snapshot_ref,
    ));
    let reused = restore_with_fallback(
        client,
        settings,
        drill,
        "RestoreDBInstanceFromDBSnapshot",
        &identifier,
        |class| {
            let call = client
                .restore_db_instance_from_db_snapshot()
                .db_instance_identifier(&identifier)
                .db_snapshot_identifier(&snap.id);
            super::settings::isolated_instance!(
                call,
                class: class,
                subnet_group: &subnet_group,
                security_groups: settings.security_groups.clone(),
                parameter_group: input.parameter_group.clone(),
                tags: tags.clone(),
            )
            .send()
        },
    )
    .await?;
    // A newer snapshot may have appeared since the first attempt: report the one restored.
    let restored_from = reused
        .as_ref()
        .and_then(|tags| tags.get(tag::RESTORED_FROM))
        .filter(|id| **id != snapshot_ref);
    let snap = match restored_from {
        Some(id) => find_snapshot(client, id)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                RdsError::InvalidInput(format!(
                    "temp {identifier} was restored from snapshot {id}, which no longer exists"
                ))
            })?,
        None => snap,
    };
    tracing::info!(%identifier, snapshot = %snap.id, source = %input.source_instance, "restore started");
    let backup = BackupRef {
        kind: drill_core::events::BackupKind::RdsSnapshot,
        id: snap.arn.clone().unwrap_or_else(|| snap.id.clone()),
        taken_at: snap.taken_at.unwrap_or(now),
    };
    Ok(started(&identifier, input, backup, expires_at, now))
}

/// What the restore step hands on: the temp instance and the backup it restores.
pub(super) fn started(
    identifier: &str,
    input: &RestoreInput,
    backup: BackupRef,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> RestoreStarted {
    RestoreStarted {
        temp: TempResource::RdsInstance {
            identifier: identifier.to_owned(),
            secret_id: None,
            database: input.database.clone(),
        },
        backup,
        expires_at,
        restore_started_at: now,
    }
}
