//! Which RDS snapshot a drill restores, and which drill-made snapshot copies may be expired.
//!
//! Selection fails loudly: no snapshot, or none young enough, is an error naming the source and
//! listing what was found, never a silent fallback to something older.
//!
//! Expiry only ever considers **manual** snapshots the drill itself made (drill prefix, tag
//! `drill:role` = `snapshot-copy`, tag `drill:source` = this source, an execution tag) and whose
//! `drill:expires-at` has passed; the newest copies are always kept so one survives the source
//! instance's deletion. Automated snapshots and untagged snapshots are never candidates.
//!
//! Copies to another region name their source by ARN; copies to another account are made in this
//! account and then shared with the other account's ids (never with `all`, which would make
//! the snapshot public), and only copies the drill made are ever shared.

//!
//! Where things live: the facts in this file, selection in `select.rs`, the copy and expiry
//! guards in `expiry.rs`, how a copy names its source and may be shared in `copy.rs`.

mod copy;
mod expiry;
mod select;

#[cfg(test)]
pub(crate) mod fixtures;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub use copy::{
    copy_problems, copy_source, validate_share_accounts, CopyAsk, CopyError, CopySource,
    SnapshotArn, COPY_STUCK_AFTER,
};
pub use expiry::{copy_guards, ownership_guards, plan_expiry, CopyPolicy, ExpiryPlan};
pub use select::{select, SelectionError};

/// Whose snapshots: a DB instance's (`CopyDBSnapshot`, ARN resource `snapshot`) or an Aurora
/// cluster's (`CopyDBClusterSnapshot`, ARN resource `cluster-snapshot`). Selection, the copy
/// guards and expiry treat both alike; [`copy_source`] knows where RDS does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum SnapshotOf {
    #[default]
    Instance,
    Cluster,
}

impl SnapshotOf {
    /// The resource type in the snapshot's ARN.
    pub fn arn_resource(self) -> &'static str {
        match self {
            SnapshotOf::Instance => "snapshot",
            SnapshotOf::Cluster => "cluster-snapshot",
        }
    }
}

/// RDS `SnapshotType`, reduced to what selection cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotKind {
    Automated,
    Manual,
    /// Shared from another account, public, AWS Backup, ...: only restored when named explicitly.
    Other(String),
}

impl SnapshotKind {
    pub fn from_rds(snapshot_type: &str) -> Self {
        match snapshot_type {
            "automated" => SnapshotKind::Automated,
            "manual" => SnapshotKind::Manual,
            other => SnapshotKind::Other(other.to_owned()),
        }
    }

    pub(crate) fn label(&self) -> &str {
        match self {
            SnapshotKind::Automated => "automated",
            SnapshotKind::Manual => "manual",
            SnapshotKind::Other(s) => s,
        }
    }
}

/// What RDS reports about a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFacts {
    /// `DBSnapshotIdentifier` (an ARN for shared snapshots).
    pub id: String,
    pub arn: Option<String>,
    /// `DBInstanceIdentifier` of the instance the snapshot was taken of.
    pub instance: String,
    pub kind: SnapshotKind,
    /// `Status`; only `available` snapshots can be restored.
    pub status: String,
    /// When the data was taken: `OriginalSnapshotCreateTime` for copies, else
    /// `SnapshotCreateTime`. Absent while the snapshot is being created.
    pub taken_at: Option<DateTime<Utc>>,
    /// `SnapshotCreateTime` of this snapshot itself (for a copy: when it was copied); orders
    /// copies of the same original.
    pub created_at: Option<DateTime<Utc>>,
    pub tags: BTreeMap<String, String>,
    /// `Encrypted`: copies of encrypted snapshots to another region or from another account
    /// need a KMS key of the destination.
    pub encrypted: bool,
}
