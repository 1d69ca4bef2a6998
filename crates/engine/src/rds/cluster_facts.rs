//! Describing Aurora clusters and cluster snapshots: the facts the guards and the snapshot
//! selection judge (the same [`InstanceFacts`] and [`SnapshotFacts`] as for instances).

use aws_sdk_rds::types::{DbCluster, DbClusterSnapshot};
use chrono::{DateTime, Utc};
use drill_core::events::SnapshotSelector;
use drill_core::guards::InstanceFacts;
use drill_core::snapshots::{self, SnapshotFacts, SnapshotKind};

use super::facts::{is_encrypted, source_filter, tags_of, to_chrono, type_for_id};
use super::{api_error, code_of, Client, RdsError};

/// What the guards need to know about a cluster.
pub fn cluster_facts(c: &DbCluster) -> InstanceFacts {
    InstanceFacts {
        identifier: c.db_cluster_identifier().unwrap_or("").to_owned(),
        tags: tags_of(c.tag_list()),
        // Unknown counts as protected: the guard must never pass on missing data.
        deletion_protection: c.deletion_protection().unwrap_or(true),
        created_at: c.cluster_create_time().and_then(to_chrono),
    }
}

/// The identifiers of a cluster's instances (`DBClusterMembers`).
pub fn cluster_members(c: &DbCluster) -> Vec<String> {
    c.db_cluster_members()
        .iter()
        .filter_map(|m| m.db_instance_identifier().map(str::to_owned))
        .collect()
}

/// A cluster snapshot as selection and the guards see snapshots (`instance` = its cluster).
pub fn cluster_snapshot_facts(s: &DbClusterSnapshot) -> SnapshotFacts {
    SnapshotFacts {
        id: s.db_cluster_snapshot_identifier().unwrap_or("").to_owned(),
        arn: s.db_cluster_snapshot_arn().map(str::to_owned),
        instance: s.db_cluster_identifier().unwrap_or("").to_owned(),
        kind: SnapshotKind::from_rds(s.snapshot_type().unwrap_or("")),
        status: s.status().unwrap_or("").to_owned(),
        taken_at: s.snapshot_create_time().and_then(to_chrono),
        created_at: s.snapshot_create_time().and_then(to_chrono),
        tags: tags_of(s.tag_list()),
        encrypted: is_encrypted(s.storage_encrypted(), s.storage_encryption_type()),
    }
}

/// Describes one cluster; `None` when it does not exist.
pub async fn describe_cluster(
    client: &Client,
    identifier: &str,
) -> Result<Option<DbCluster>, RdsError> {
    match client
        .describe_db_clusters()
        .db_cluster_identifier(identifier)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_clusters().first().cloned()),
        Err(e) if code_of(&e) == Some("DBClusterNotFoundFault") => Ok(None),
        Err(e) => Err(api_error("DescribeDBClusters", e)),
    }
}

/// Every cluster of the account and region (the janitor judges each by its own tags).
pub async fn list_clusters(client: &Client) -> Result<Vec<DbCluster>, RdsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .describe_db_clusters()
            .set_marker(marker.take())
            .max_records(100)
            .send()
            .await
            .map_err(|e| api_error("DescribeDBClusters", e))?;
        out.extend(page.db_clusters().iter().cloned());
        match page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Cluster snapshots of `cluster`, or the one named `id` (shared ones included); `snapshot_type`
/// (e.g. `manual`) narrows the listing.
pub(super) async fn cluster_snapshots(
    client: &Client,
    cluster: Option<&str>,
    id: Option<&str>,
    snapshot_type: Option<&str>,
) -> Result<Vec<SnapshotFacts>, RdsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = match client
            .describe_db_cluster_snapshots()
            .set_filters(cluster.map(|c| vec![source_filter("db-cluster-id", c)]))
            .set_db_cluster_snapshot_identifier(id.map(str::to_owned))
            .set_snapshot_type(
                snapshot_type
                    .map(str::to_owned)
                    .or_else(|| id.and_then(type_for_id)),
            )
            .include_shared(id.is_some())
            .set_marker(marker.take())
            .max_records(100)
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) if code_of(&e) == Some("DBClusterSnapshotNotFoundFault") => return Ok(out),
            Err(e) => return Err(api_error("DescribeDBClusterSnapshots", e)),
        };
        out.extend(
            page.db_cluster_snapshots()
                .iter()
                .map(cluster_snapshot_facts),
        );
        match page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// One cluster snapshot by identifier or ARN; empty when not found.
pub(super) async fn find_cluster_snapshot(
    client: &Client,
    id: &str,
) -> Result<Vec<SnapshotFacts>, RdsError> {
    cluster_snapshots(client, None, Some(id), None).await
}

/// Chooses the snapshot of cluster `source` to restore (the selection of instance snapshots).
pub async fn choose_cluster_snapshot(
    client: &Client,
    source: &str,
    selector: &SnapshotSelector,
    max_age_hours: Option<u32>,
    now: DateTime<Utc>,
) -> Result<SnapshotFacts, RdsError> {
    let found = match selector {
        SnapshotSelector::Id { id } => find_cluster_snapshot(client, id).await?,
        _ => cluster_snapshots(client, Some(source), None, None).await?,
    };
    Ok(snapshots::select(
        source,
        selector,
        max_age_hours,
        now,
        &found,
    )?)
}

/// The smallest Serverless v2 minimum capacity `version` of aurora-postgresql allows
/// (`ServerlessV2FeaturesSupport.MinCapacity` of `DescribeDBEngineVersions`); `None` when RDS
/// reports none (the version predates the attribute).
pub async fn version_min_capacity(
    client: &Client,
    version: Option<&str>,
) -> Result<Option<f64>, RdsError> {
    let Some(version) = version else {
        return Ok(None);
    };
    let out = client
        .describe_db_engine_versions()
        .engine(drill_core::deployment::aurora::ENGINE)
        .engine_version(version)
        .send()
        .await
        .map_err(|e| api_error("DescribeDBEngineVersions", e))?;
    Ok(out
        .db_engine_versions()
        .iter()
        .find_map(|v| v.serverless_v2_features_support()?.min_capacity()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_without_deletion_protection_data_counts_as_protected() {
        let c = DbCluster::builder()
            .db_cluster_identifier("rdrill-x")
            .build();
        let f = cluster_facts(&c);
        assert!(f.deletion_protection);
        assert_eq!(f.identifier, "rdrill-x");
        assert!(cluster_members(&c).is_empty());
    }
}
