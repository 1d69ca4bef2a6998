//! Test fixtures of snapshot selection and expiry: snapshots of source `prod`, and drill copies.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{CopyPolicy, SnapshotFacts, SnapshotKind};
use crate::guards::tag;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

pub fn snap(id: &str, kind: SnapshotKind, hours_old: i64) -> SnapshotFacts {
    SnapshotFacts {
        id: id.into(),
        arn: Some(format!("arn:aws:rds:us-east-1:123456789012:snapshot:{id}")),
        instance: "prod".into(),
        kind,
        status: "available".into(),
        taken_at: Some(now() - Duration::hours(hours_old)),
        created_at: Some(now() - Duration::hours(hours_old)),
        tags: BTreeMap::new(),
        encrypted: false,
    }
}

pub fn found() -> Vec<SnapshotFacts> {
    vec![
        snap("rds:prod-a", SnapshotKind::Automated, 30),
        snap("rds:prod-b", SnapshotKind::Automated, 6),
        snap("manual-1", SnapshotKind::Manual, 2),
        snap("manual-0", SnapshotKind::Manual, 50),
        snap("shared", SnapshotKind::Other("shared".into()), 1),
    ]
}

/// A drill copy of `prod` (tags as the copy writes them), expired an hour ago or due in one.
pub fn copy(id: &str, hours_old: i64, expired: bool) -> SnapshotFacts {
    let mut s = snap(id, SnapshotKind::Manual, hours_old);
    let exp = if expired {
        now() - Duration::hours(1)
    } else {
        now() + Duration::hours(1)
    };
    s.tags = tag::snapshot_copy_tags("exec-1", "prod", exp, "rds:prod-a");
    s
}

pub fn policy() -> CopyPolicy {
    CopyPolicy {
        prefix: "rdrill-".into(),
        source_id: "prod".into(),
        keep_newest: 1,
    }
}
