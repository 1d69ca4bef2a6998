//! The read-only posture audit of a source instance (or of what is left of it: its retained
//! automated backups).

use chrono::{DateTime, Utc};
use drill_core::posture::{self, PostureCheck, PosturePolicy};
use drill_core::snapshots::SnapshotKind;

use super::facts::{describe_instance, list_snapshots};
use super::{Client, RdsError};

/// Audits one source instance against `policy`. Read-only.
pub async fn audit(
    client: &Client,
    source: &str,
    policy: &PosturePolicy,
    now: DateTime<Utc>,
) -> Result<Vec<PostureCheck>, RdsError> {
    let db = describe_instance(client, source).await?;
    let retained: Vec<String> = super::list_automated_backups(client)
        .await?
        .into_iter()
        .filter(|b| b.instance == source && b.status == "retained")
        .map(|b| b.arn)
        .collect();
    let Some(db) = db else {
        if retained.is_empty() {
            return Err(RdsError::InvalidInput(format!(
                "source instance {source:?} not found, and no retained automated backups of it"
            )));
        }
        let facts = posture::PostureFacts {
            identifier: source.to_owned(),
            deletion_protection: false,
            backup_retention_days: 0,
            newest_snapshot: None,
            backup_replications: Vec::new(),
            retained_backups: retained,
            instance_exists: false,
        };
        return Ok(posture::audit(policy, &facts, now));
    };
    let newest = list_snapshots(client, source, None)
        .await?
        .into_iter()
        .filter(|s| {
            s.status == "available"
                && matches!(s.kind, SnapshotKind::Automated | SnapshotKind::Manual)
        })
        .filter_map(|s| Some((s.id, s.taken_at?)))
        .max_by_key(|(_, t)| *t);
    let facts = posture::PostureFacts {
        identifier: source.to_owned(),
        // Unknown counts as off: the audit must not pass on missing data.
        deletion_protection: db.deletion_protection().unwrap_or(false),
        backup_retention_days: db.backup_retention_period().unwrap_or(0),
        newest_snapshot: newest,
        backup_replications: db
            .db_instance_automated_backups_replications()
            .iter()
            .filter_map(|r| r.db_instance_automated_backups_arn().map(str::to_owned))
            .collect(),
        retained_backups: retained,
        instance_exists: true,
    };
    Ok(posture::audit(policy, &facts, now))
}
