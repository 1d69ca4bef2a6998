//! A source cluster's automated backups: its live restore window, or once the cluster is gone
//! its retained automated backups (`DescribeDBClusterAutomatedBackups`), which
//! `RestoreDBClusterToPointInTime` restores by `SourceDbClusterResourceId`. Aurora has no
//! cross-region replication of automated backups (that is for instances), so a cluster's point
//! in time lives in its own region only.

use aws_sdk_rds::types::{DbCluster, DbClusterAutomatedBackup, Filter};
use drill_core::point_in_time::{self, AutomatedBackupFacts, RestoreWindow};

use super::cluster_facts::describe_cluster;
use super::facts::{restore_window, to_chrono};
use super::{api_error, code_of, Client, RdsError};

/// A retained automated backup of a deleted cluster: what the selection judges, and what the
/// restore call and the scaling floor need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedClusterBackup {
    pub facts: AutomatedBackupFacts,
    /// `DbClusterResourceId`: the restore names a deleted cluster's backups by it.
    pub resource_id: String,
    pub engine_version: Option<String>,
}

fn retained_backup(b: &DbClusterAutomatedBackup) -> RetainedClusterBackup {
    RetainedClusterBackup {
        facts: AutomatedBackupFacts {
            arn: b
                .db_cluster_automated_backups_arn()
                .unwrap_or("")
                .to_owned(),
            instance: b.db_cluster_identifier().unwrap_or("").to_owned(),
            region: b.region().map(str::to_owned),
            status: b.status().unwrap_or("").to_owned(),
            window: b.restore_window().and_then(restore_window),
        },
        resource_id: b.db_cluster_resource_id().unwrap_or("").to_owned(),
        engine_version: b.engine_version().map(str::to_owned),
    }
}

/// The retained automated backups of the cluster once named `cluster`. Not asked by
/// `DBClusterIdentifier`: that parameter "must match the identifier of an existing DB cluster"
/// (API reference), and a deleted cluster is exactly the case this is for; the `status` filter
/// narrows the list to deleted clusters' backups, the identifier is matched here.
pub async fn retained_cluster_backups(
    client: &Client,
    cluster: &str,
) -> Result<Vec<RetainedClusterBackup>, RdsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = match client
            .describe_db_cluster_automated_backups()
            .filters(Filter::builder().name("status").values("retained").build())
            .set_marker(marker.take())
            .max_records(100)
            .send()
            .await
        {
            Ok(page) => page,
            // The API's error for "none": no backups to restore from, not a failed call.
            Err(e) if code_of(&e) == Some("DBClusterAutomatedBackupNotFoundFault") => {
                return Ok(out)
            }
            Err(e) => return Err(api_error("DescribeDBClusterAutomatedBackups", e)),
        };
        out.extend(
            page.db_cluster_automated_backups()
                .iter()
                .filter(|b| b.db_cluster_identifier() == Some(cluster))
                .filter(|b| b.status() == Some("retained"))
                .map(retained_backup),
        );
        match page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Where a cluster's point in time is restored from.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterPitrSource {
    /// The live cluster (`SourceDBClusterIdentifier`).
    Live(Box<DbCluster>),
    /// The cluster is gone; its retained automated backups (`SourceDbClusterResourceId`).
    Retained(RetainedClusterBackup),
}

impl ClusterPitrSource {
    pub fn window(&self) -> Option<RestoreWindow> {
        match self {
            Self::Live(c) => c
                .earliest_restorable_time()
                .and_then(to_chrono)
                .zip(c.latest_restorable_time().and_then(to_chrono))
                .map(|(earliest, latest)| RestoreWindow { earliest, latest }),
            Self::Retained(b) => b.facts.window,
        }
    }

    pub fn engine_version(&self) -> Option<&str> {
        match self {
            Self::Live(c) => c.engine_version(),
            Self::Retained(b) => b.engine_version.as_deref(),
        }
    }

    /// What the temp's `drill:restored-from` tag names: the cluster's or the backup's ARN.
    pub fn restored_from<'a>(&'a self, source: &'a str) -> &'a str {
        match self {
            Self::Live(c) => c.db_cluster_arn().unwrap_or(source),
            Self::Retained(b) => &b.facts.arn,
        }
    }
}

/// The live source cluster, or else the retained automated backup that reaches furthest (a
/// cluster deleted, re-created under the same name and deleted again leaves several).
pub async fn cluster_pitr_source(
    client: &Client,
    source: &str,
) -> Result<ClusterPitrSource, RdsError> {
    if let Some(cluster) = describe_cluster(client, source).await? {
        return Ok(ClusterPitrSource::Live(Box::new(cluster)));
    }
    let own_region = client.config().region().map(|r| r.as_ref().to_owned());
    let retained = retained_cluster_backups(client, source).await?;
    let facts: Vec<AutomatedBackupFacts> = retained.iter().map(|b| b.facts.clone()).collect();
    let picked = point_in_time::pick_backup(&facts, source, own_region.as_deref(), None)
        .and_then(|p| retained.iter().find(|b| b.facts.arn == p.arn))
        .filter(|b| !b.resource_id.is_empty());
    match picked {
        Some(b) => Ok(ClusterPitrSource::Retained(b.clone())),
        None => Err(RdsError::InvalidInput(format!(
            "source cluster {source:?} not found, and no retained automated backups of it (deleted without DeleteAutomatedBackups=false, or past their retention)"
        ))),
    }
}
