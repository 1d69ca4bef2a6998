//! The snapshot calls the drill's copies make, over the two kinds RDS keeps apart: a DB
//! instance's snapshots (`CopyDBSnapshot`, `ModifyDBSnapshotAttribute`, `DeleteDBSnapshot`) and
//! an Aurora cluster's (`CopyDBClusterSnapshot`, `ModifyDBClusterSnapshotAttribute`,
//! `DeleteDBClusterSnapshot`). The parameters and the `restore` attribute are the same; the
//! error codes differ (`DBSnapshotAlreadyExists` and `DBClusterSnapshotAlreadyExistsFault`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use drill_core::events::SnapshotSelector;
use drill_core::snapshots::{SnapshotFacts, SnapshotOf};

use super::cluster_facts::{choose_cluster_snapshot, cluster_snapshots, find_cluster_snapshot};
use super::facts::{aws_tags, choose_snapshot, find_snapshot, list_snapshots};
use super::{api_error, code_of, Client, RdsError};

/// The snapshots of instance or cluster `source` (`snapshot_type` e.g. `manual` narrows it).
pub(super) async fn list(
    client: &Client,
    of: SnapshotOf,
    source: &str,
    snapshot_type: Option<&str>,
) -> Result<Vec<SnapshotFacts>, RdsError> {
    match of {
        SnapshotOf::Instance => list_snapshots(client, source, snapshot_type).await,
        SnapshotOf::Cluster => cluster_snapshots(client, Some(source), None, snapshot_type).await,
    }
}

/// One snapshot by identifier or ARN (shared ones included); empty when not found.
pub(super) async fn find(
    client: &Client,
    of: SnapshotOf,
    id: &str,
) -> Result<Vec<SnapshotFacts>, RdsError> {
    match of {
        SnapshotOf::Instance => find_snapshot(client, id).await,
        SnapshotOf::Cluster => find_cluster_snapshot(client, id).await,
    }
}

/// The snapshot of `source` that `selector` picks (see [`drill_core::snapshots::select`]).
pub(super) async fn choose(
    client: &Client,
    of: SnapshotOf,
    source: &str,
    selector: &SnapshotSelector,
    now: DateTime<Utc>,
) -> Result<SnapshotFacts, RdsError> {
    match of {
        SnapshotOf::Instance => choose_snapshot(client, source, selector, None, now).await,
        SnapshotOf::Cluster => choose_cluster_snapshot(client, source, selector, None, now).await,
    }
}

/// Copies `from` to `to` with exactly `tags` (never the source's: `CopyTags` false). Returns
/// false when `to` already exists (the caller checks whose it is).
pub(super) async fn copy(
    client: &Client,
    of: SnapshotOf,
    from: &str,
    to: &str,
    kms_key_id: Option<&str>,
    tags: &BTreeMap<String, String>,
) -> Result<bool, RdsError> {
    let kms_key_id = kms_key_id.map(str::to_owned);
    let tags = Some(aws_tags(tags));
    match of {
        SnapshotOf::Instance => {
            match client
                .copy_db_snapshot()
                .source_db_snapshot_identifier(from)
                .target_db_snapshot_identifier(to)
                .set_kms_key_id(kms_key_id)
                .copy_tags(false)
                .set_tags(tags)
                .send()
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if code_of(&e) == Some("DBSnapshotAlreadyExists") => Ok(false),
                Err(e) => Err(api_error("CopyDBSnapshot", e)),
            }
        }
        SnapshotOf::Cluster => {
            match client
                .copy_db_cluster_snapshot()
                .source_db_cluster_snapshot_identifier(from)
                .target_db_cluster_snapshot_identifier(to)
                .set_kms_key_id(kms_key_id)
                .copy_tags(false)
                .set_tags(tags)
                .send()
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if code_of(&e) == Some("DBClusterSnapshotAlreadyExistsFault") => Ok(false),
                Err(e) => Err(api_error("CopyDBClusterSnapshot", e)),
            }
        }
    }
}

/// The accounts a snapshot is shared with (its `restore` attribute).
pub async fn shared_with(
    client: &Client,
    of: SnapshotOf,
    snapshot: &str,
) -> Result<Vec<String>, RdsError> {
    let attributes = match of {
        SnapshotOf::Instance => {
            let out = client
                .describe_db_snapshot_attributes()
                .db_snapshot_identifier(snapshot)
                .send()
                .await
                .map_err(|e| api_error("DescribeDBSnapshotAttributes", e))?;
            out.db_snapshot_attributes_result()
                .map(|r| r.db_snapshot_attributes())
                .unwrap_or_default()
                .iter()
                .filter(|a| a.attribute_name() == Some("restore"))
                .flat_map(|a| a.attribute_values().iter().cloned())
                .collect()
        }
        SnapshotOf::Cluster => {
            let out = client
                .describe_db_cluster_snapshot_attributes()
                .db_cluster_snapshot_identifier(snapshot)
                .send()
                .await
                .map_err(|e| api_error("DescribeDBClusterSnapshotAttributes", e))?;
            out.db_cluster_snapshot_attributes_result()
                .map(|r| r.db_cluster_snapshot_attributes())
                .unwrap_or_default()
                .iter()
                .filter(|a| a.attribute_name() == Some("restore"))
                .flat_map(|a| a.attribute_values().iter().cloned())
                .collect()
        }
    };
    Ok(attributes)
}

/// Adds `accounts` to the snapshot's `restore` attribute.
pub(super) async fn share(
    client: &Client,
    of: SnapshotOf,
    snapshot: &str,
    accounts: Vec<String>,
) -> Result<(), RdsError> {
    match of {
        SnapshotOf::Instance => client
            .modify_db_snapshot_attribute()
            .db_snapshot_identifier(snapshot)
            .attribute_name("restore")
            .set_values_to_add(Some(accounts))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("ModifyDBSnapshotAttribute", e)),
        SnapshotOf::Cluster => client
            .modify_db_cluster_snapshot_attribute()
            .db_cluster_snapshot_identifier(snapshot)
            .attribute_name("restore")
            .set_values_to_add(Some(accounts))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("ModifyDBClusterSnapshotAttribute", e)),
    }
}

/// Deletes a snapshot; false when it was already gone.
pub(super) async fn delete(client: &Client, of: SnapshotOf, id: &str) -> Result<bool, RdsError> {
    match of {
        SnapshotOf::Instance => {
            match client
                .delete_db_snapshot()
                .db_snapshot_identifier(id)
                .send()
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if code_of(&e) == Some("DBSnapshotNotFound") => Ok(false),
                Err(e) => Err(api_error("DeleteDBSnapshot", e)),
            }
        }
        SnapshotOf::Cluster => {
            match client
                .delete_db_cluster_snapshot()
                .db_cluster_snapshot_identifier(id)
                .send()
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if code_of(&e) == Some("DBClusterSnapshotNotFoundFault") => Ok(false),
                Err(e) => Err(api_error("DeleteDBClusterSnapshot", e)),
            }
        }
    }
}
