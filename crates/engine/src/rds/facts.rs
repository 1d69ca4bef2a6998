//! Describing instances and snapshots: the facts the guards, selection and expiry judge.

use std::collections::BTreeMap;

use aws_sdk_rds::types::{DbInstance, DbSnapshot, Tag};
use chrono::{DateTime, Utc};
use drill_core::events::SnapshotSelector;
use drill_core::guards::InstanceFacts;
use drill_core::snapshots::{self, SnapshotFacts, SnapshotKind};

use super::{api_error, code_of, Client, RdsError};

pub(super) fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// An automated backup's `RestoreWindow` (instance and cluster backups share the type).
pub(super) fn restore_window(
    w: &aws_sdk_rds::types::RestoreWindow,
) -> Option<drill_core::point_in_time::RestoreWindow> {
    Some(drill_core::point_in_time::RestoreWindow {
        earliest: to_chrono(w.earliest_time()?)?,
        latest: to_chrono(w.latest_time()?)?,
    })
}

pub(super) fn tags_of(list: &[Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
        .collect()
}

/// What the guards need to know about an instance.
pub fn instance_facts(db: &DbInstance) -> InstanceFacts {
    InstanceFacts {
        identifier: db.db_instance_identifier().unwrap_or("").to_owned(),
        tags: tags_of(db.tag_list()),
        // Unknown counts as protected: the guard must never pass on missing data.
        deletion_protection: db.deletion_protection().unwrap_or(true),
        created_at: db.instance_create_time().and_then(to_chrono),
    }
}

/// Whether a snapshot is encrypted. `Encrypted`/`StorageEncrypted` is false for one encrypted
/// with an AWS owned key (`StorageEncryptionType` `sse-rds`), which is encrypted all the same;
/// anything but an explicit `none` with a false flag counts as encrypted, so a copy that needs a
/// key is never attempted without one.
pub(super) fn is_encrypted(
    flag: Option<bool>,
    kind: Option<&aws_sdk_rds::types::StorageEncryptionType>,
) -> bool {
    use aws_sdk_rds::types::StorageEncryptionType as T;
    flag.unwrap_or(false) || kind.is_some_and(|k| !matches!(k, T::Unencrypted))
}

/// What selection and expiry need to know about a snapshot.
pub fn snapshot_facts(s: &DbSnapshot) -> SnapshotFacts {
    SnapshotFacts {
        id: s.db_snapshot_identifier().unwrap_or("").to_owned(),
        arn: s.db_snapshot_arn().map(str::to_owned),
        instance: s.db_instance_identifier().unwrap_or("").to_owned(),
        kind: SnapshotKind::from_rds(s.snapshot_type().unwrap_or("")),
        status: s.status().unwrap_or("").to_owned(),
        // A copy's own create time is when it was copied; the data is as old as the original.
        taken_at: s
            .original_snapshot_create_time()
            .or(s.snapshot_create_time())
            .and_then(to_chrono),
        created_at: s.snapshot_create_time().and_then(to_chrono),
        tags: tags_of(s.tag_list()),
        encrypted: is_encrypted(s.encrypted(), s.storage_encryption_type()),
    }
}

/// Describes one instance; `None` when it does not exist.
pub async fn describe_instance(
    client: &Client,
    identifier: &str,
) -> Result<Option<DbInstance>, RdsError> {
    match client
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e) if code_of(&e) == Some("DBInstanceNotFound") => Ok(None),
        Err(e) => Err(api_error("DescribeDBInstances", e)),
    }
}

/// Every instance of the account and region. Tag filters are not used: moto does not support
/// them, and the guards must see the tags themselves anyway.
pub async fn list_instances(client: &Client) -> Result<Vec<DbInstance>, RdsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .describe_db_instances()
            .set_marker(marker.take())
            .max_records(100)
            .send()
            .await
            .map_err(|e| api_error("DescribeDBInstances", e))?;
        out.extend(page.db_instances().iter().cloned());
        match page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// The `Filters` that list the snapshots of instance or cluster `source`. Not the
/// `DBInstanceIdentifier` / `DBClusterIdentifier` parameter: that "must match the identifier of
/// an existing" instance or cluster, and copies are listed where the source is not (another
/// region, or after its deletion); the `db-instance-id` / `db-cluster-id` filters have no such
/// constraint.
pub(super) fn source_filter(name: &str, source: &str) -> aws_sdk_rds::types::Filter {
    aws_sdk_rds::types::Filter::builder()
        .name(name)
        .values(source)
        .build()
}

/// `SnapshotType` for describing snapshot `id` by identifier: "If this identifier is for an
/// automated snapshot, the SnapshotType parameter must also be specified" (automated snapshots
/// are named `rds:...`, also inside an ARN).
pub(super) fn type_for_id(id: &str) -> Option<String> {
    let name = snapshots::SnapshotArn::parse(id).map_or_else(|| id.to_owned(), |a| a.name);
    name.starts_with("rds:").then(|| "automated".to_owned())
}

/// Snapshots of a source instance (`snapshot_type` e.g. `manual` narrows the listing).
pub async fn list_snapshots(
    client: &Client,
    instance: &str,
    snapshot_type: Option<&str>,
) -> Result<Vec<SnapshotFacts>, RdsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .describe_db_snapshots()
            .filters(source_filter("db-instance-id", instance))
            .set_snapshot_type(snapshot_type.map(str::to_owned))
            .set_marker(marker.take())
            .max_records(100)
            .send()
            .await
            .map_err(|e| api_error("DescribeDBSnapshots", e))?;
        out.extend(page.db_snapshots().iter().map(snapshot_facts));
        match page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// One snapshot by identifier or ARN (shared ones included); empty when not found.
pub(super) async fn find_snapshot(
    client: &Client,
    id: &str,
) -> Result<Vec<SnapshotFacts>, RdsError> {
    match client
        .describe_db_snapshots()
        .db_snapshot_identifier(id)
        .set_snapshot_type(type_for_id(id))
        .include_shared(true)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_snapshots().iter().map(snapshot_facts).collect()),
        Err(e) if code_of(&e) == Some("DBSnapshotNotFound") => Ok(Vec::new()),
        Err(e) => Err(api_error("DescribeDBSnapshots", e)),
    }
}

/// Chooses the snapshot of `source` to restore (see [`drill_core::snapshots::select`]).
pub async fn choose_snapshot(
    client: &Client,
    source: &str,
    selector: &SnapshotSelector,
    max_age_hours: Option<u32>,
    now: DateTime<Utc>,
) -> Result<SnapshotFacts, RdsError> {
    let found = match selector {
        SnapshotSelector::Id { id } => find_snapshot(client, id).await?,
        _ => list_snapshots(client, source, None).await?,
    };
    Ok(snapshots::select(
        source,
        selector,
        max_age_hours,
        now,
        &found,
    )?)
}

/// Tags as RDS takes them (built by [`drill_core::guards::tag`]).
pub(super) fn aws_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_deletion_protection_counts_as_protected() {
        let db = DbInstance::builder()
            .db_instance_identifier("rdrill-x")
            .build();
        assert!(instance_facts(&db).deletion_protection);
    }

    #[test]
    fn an_aws_owned_key_counts_as_encrypted_and_automated_ids_ask_for_their_type() {
        use aws_sdk_rds::types::StorageEncryptionType as T;
        assert!(is_encrypted(Some(false), Some(&T::Sse)));
        assert!(is_encrypted(Some(true), None));
        assert!(is_encrypted(None, Some(&T::Cmk)));
        assert!(!is_encrypted(Some(false), Some(&T::Unencrypted)));
        assert!(!is_encrypted(None, None));
        assert_eq!(
            type_for_id("rds:prod-2026-11-30-03-00").as_deref(),
            Some("automated")
        );
        assert_eq!(
            type_for_id(
                "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:rds:prod-2026-11-30-03-00"
            )
            .as_deref(),
            Some("automated")
        );
        assert_eq!(type_for_id("rdrill-prod-1"), None);
        assert_eq!(
            type_for_id("arn:aws:rds:us-east-1:210987654321:snapshot:rdrill-prod-1"),
            None
        );
    }

    #[test]
    fn tags_go_to_rds_and_come_back_unchanged() {
        let tags = drill_core::guards::tag::temp_tags("exec-1", "prod", Utc::now(), "rds:p-1");
        assert_eq!(tags_of(&aws_tags(&tags)), tags);
    }
}
