//! Restoring a source to a point in time (`RestoreDBInstanceToPointInTime`), from the live
//! instance's automated backups or, once the instance is gone, from its retained or replicated
//! automated backups (`SourceDBInstanceAutomatedBackupsArn`). Same temp settings, tags and guards
//! as a snapshot restore; returns at once (the wait loop polls [`super::status`]).

use std::collections::BTreeMap;

use aws_sdk_rds::types::DbInstanceAutomatedBackup;
use chrono::{DateTime, Duration, Utc};
use drill_core::events::{BackupKind, BackupRef, DrillContext, RestoreStarted};
use drill_core::guards::tag;
use drill_core::point_in_time::{self, AutomatedBackupFacts, ChosenMoment, Moment};

use super::facts::{aws_tags, describe_instance, restore_window};
use super::restore::{check_placement, restore_with_fallback, started, temp_identifier};
use super::{api_error, Client, RdsError, RdsSettings, RestoreInput};

/// How to pick the moment (from the source's [`point_in_time::RestoreMode::PointInTime`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointInTimeInput {
    pub moment: Moment,
    /// The configured seed; `None`: derived from the execution name and the source id.
    pub seed: Option<u64>,
    /// Restore from the automated backups replicated into the drill's region from this region.
    pub replicated_from: Option<String>,
}

/// What the guards and the selection need to know about an automated backup.
pub fn automated_backup_facts(b: &DbInstanceAutomatedBackup) -> AutomatedBackupFacts {
    AutomatedBackupFacts {
        arn: b
            .db_instance_automated_backups_arn()
            .unwrap_or("")
            .to_owned(),
        instance: b.db_instance_identifier().unwrap_or("").to_owned(),
        region: b.region().map(str::to_owned),
        status: b.status().unwrap_or("").to_owned(),
        window: b.restore_window().and_then(restore_window),
    }
}

/// Every automated backup the region holds: live instances', retained ones and replicas. Not
/// filtered by `DBInstanceIdentifier`: that parameter "must match the identifier of an existing
/// DB instance" (API reference), and a deleted source is exactly the case this is for.
pub async fn list_automated_backups(
    client: &Client,
) -> Result<Vec<AutomatedBackupFacts>, RdsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .describe_db_instance_automated_backups()
            .set_marker(marker.take())
            .max_records(100)
            .send()
            .await
            .map_err(|e| api_error("DescribeDBInstanceAutomatedBackups", e))?;
        out.extend(
            page.db_instance_automated_backups()
                .iter()
                .map(automated_backup_facts),
        );
        match page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Starts restoring `input.source_instance` to the moment `pitr` picks inside the restore window
/// of its automated backups.
pub async fn restore_point_in_time(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    input: &RestoreInput,
    pitr: &PointInTimeInput,
    now: DateTime<Utc>,
) -> Result<RestoreStarted, RdsError> {
    let subnet_group = check_placement(settings)?;
    let source = &input.source_instance;
    let own_region = client.config().region().map(|r| r.as_ref().to_owned());
    let backups = list_automated_backups(client).await?;
    let backup = point_in_time::pick_backup(
        &backups,
        source,
        own_region.as_deref(),
        pitr.replicated_from.as_deref(),
    )
    .ok_or_else(|| {
        RdsError::InvalidInput(format!(
            "no automated backups of {source:?} to restore a point in time from{} (BackupRetentionPeriod 0, or deleted with the instance)",
            pitr.replicated_from
                .as_deref()
                .map(|r| format!(" replicated from {r}"))
                .unwrap_or_default()
        ))
    })?;
    // The live instance while it exists in this region (a replica's source never does here).
    let live = pitr.replicated_from.is_none()
        && backup.status == "active"
        && describe_instance(client, source).await?.is_some();
    let window = backup.window.ok_or_else(|| {
        RdsError::InvalidInput(format!(
            "automated backup {} has no restore window",
            backup.arn
        ))
    })?;
    let seed = pitr
        .seed
        .unwrap_or_else(|| point_in_time::derive_seed(&drill.drill_id, &drill.source_id));
    let chosen = point_in_time::choose(source, pitr.moment, seed, window)
        .map_err(|e| RdsError::InvalidInput(e.to_string()))?;
    if let Some(max) = input.max_age_hours {
        let age = now - chosen.at;
        if age > Duration::hours(i64::from(max)) {
            return Err(RdsError::InvalidInput(format!(
                "the chosen moment {} of {source:?} is {} h old, older than the allowed {max} h: its automated backups have stopped",
                chosen.at,
                age.num_hours()
            )));
        }
    }
    let identifier = temp_identifier(settings, drill, source)?;
    let expires_at = now + Duration::hours(i64::from(settings.temp_ttl_hours));
    // Guard (f) reads this tag; it names the automated backup restored (tag values allow ARNs).
    let mut tags = tag::temp_tags(&drill.drill_id, source, expires_at, &backup.arn);
    tags.insert(tag::MOMENT.to_owned(), chosen.tag_value());
    let tags = aws_tags(&tags);
    let restore_time = (!chosen.use_latest()).then(|| {
        aws_smithy_types::DateTime::from_secs_and_nanos(
            chosen.at.timestamp(),
            chosen.at.timestamp_subsec_nanos(),
        )
    });
    let reused = restore_with_fallback(
        client,
        settings,
        drill,
        "RestoreDBInstanceToPointInTime",
        &identifier,
        |class| {
            let call = client
                .restore_db_instance_to_point_in_time()
                .target_db_instance_identifier(&identifier);
            let call = if live {
                call.source_db_instance_identifier(source)
            } else {
                call.source_db_instance_automated_backups_arn(&backup.arn)
            };
            // The same settings as a snapshot restore (all accepted by this call for
            // PostgreSQL); ManageMasterUserPassword again "applies to RDS for Oracle only".
            let call = call
                .set_restore_time(restore_time)
                .set_use_latest_restorable_time(chosen.use_latest().then_some(true));
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
    let chosen = moment_restored(&identifier, chosen, reused.as_ref())?;
    let described = chosen.describe(source);
    tracing::info!(%identifier, %source, moment = %described, from_retained = !live, "point-in-time restore started");
    let backup = BackupRef {
        kind: BackupKind::RdsPointInTime,
        id: described,
        taken_at: chosen.at,
    };
    Ok(started(&identifier, input, backup, expires_at, now))
}

/// The moment a point-in-time temp holds: `chosen` when this call started the restore; on a
/// retry of the execution (`reused`: the existing temp's tags) the moment its `drill:moment` tag
/// records, since the restore window has moved on since the first attempt.
pub(super) fn moment_restored(
    identifier: &str,
    chosen: ChosenMoment,
    reused: Option<&BTreeMap<String, String>>,
) -> Result<ChosenMoment, RdsError> {
    let Some(tags) = reused else {
        return Ok(chosen);
    };
    tags.get(tag::MOMENT)
        .and_then(|v| ChosenMoment::from_tag_value(v))
        .ok_or_else(|| {
            RdsError::InvalidInput(format!(
                "temp {identifier} of this execution does not record the moment it was restored to (tag {})",
                tag::MOMENT
            ))
        })
}
