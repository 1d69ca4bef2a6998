//! The read-only posture audit of a source instance or Aurora cluster (or of what is left of it:
//! its retained automated backups).

use chrono::{DateTime, Utc};
use drill_core::posture::{self, PostureCheck, PosturePolicy, PostureSubject};
use drill_core::snapshots::SnapshotKind;

use super::cluster_backups::retained_cluster_backups;
use super::cluster_facts::{cluster_snapshots, describe_cluster};
use super::facts::{describe_instance, list_snapshots};
use super::{Client, RdsError};

/// The facts of a source that no longer exists: only its retained automated backups (none: an
/// error, there is nothing to audit).
fn gone(
    subject: PostureSubject,
    source: &str,
    retained: Vec<String>,
) -> Result<posture::PostureFacts, RdsError> {
    if retained.is_empty() {
        let what = match subject {
            PostureSubject::Instance => "instance",
            PostureSubject::Cluster => "cluster",
        };
        return Err(RdsError::InvalidInput(format!(
            "source {what} {source:?} not found, and no retained automated backups of it"
        )));
    }
    Ok(posture::PostureFacts {
        subject,
        identifier: source.to_owned(),
        deletion_protection: false,
        backup_retention_days: 0,
        newest_snapshot: None,
        backup_replications: Vec::new(),
        retained_backups: retained,
        instance_exists: false,
    })
}

/// The newest available automated or manual snapshot, with when its data was taken.
fn newest_available(
    snapshots: Vec<drill_core::snapshots::SnapshotFacts>,
) -> Option<(String, DateTime<Utc>)> {
    snapshots
        .into_iter()
        .filter(|s| {
            s.status == "available"
                && matches!(s.kind, SnapshotKind::Automated | SnapshotKind::Manual)
        })
        .filter_map(|s| Some((s.id, s.taken_at?)))
        .max_by_key(|(_, t)| *t)
}

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
        let facts = gone(PostureSubject::Instance, source, retained)?;
        return Ok(posture::audit(policy, &facts, now));
    };
    let newest = list_snapshots(client, source, None).await?;
    let newest = newest_available(newest);
    let facts = posture::PostureFacts {
        subject: PostureSubject::Instance,
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

/// Audits one source Aurora cluster against `policy`. Read-only. Aurora has no cross-region
/// automated-backup replication, so a live cluster's backups survive its deletion only if the
/// delete call retains them, which nothing on the live cluster records: that check fails.
pub async fn audit_cluster(
    client: &Client,
    source: &str,
    policy: &PosturePolicy,
    now: DateTime<Utc>,
) -> Result<Vec<PostureCheck>, RdsError> {
    let retained = retained_cluster_backups(client, source)
        .await?
        .into_iter()
        .map(|b| b.facts.arn)
        .collect();
    let Some(cluster) = describe_cluster(client, source).await? else {
        let facts = gone(PostureSubject::Cluster, source, retained)?;
        return Ok(posture::audit(policy, &facts, now));
    };
    let newest = cluster_snapshots(client, Some(source), None, None).await?;
    let newest = newest_available(newest);
    let facts = posture::PostureFacts {
        subject: PostureSubject::Cluster,
        identifier: source.to_owned(),
        // Unknown counts as off: the audit must not pass on missing data.
        deletion_protection: cluster.deletion_protection().unwrap_or(false),
        backup_retention_days: cluster.backup_retention_period().unwrap_or(0),
        newest_snapshot: newest,
        backup_replications: Vec::new(),
        retained_backups: retained,
        instance_exists: true,
    };
    Ok(posture::audit(policy, &facts, now))
}
