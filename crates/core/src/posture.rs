//! Posture audit of a source instance or Aurora cluster: the settings that decide whether its
//! backups would survive a bad day, reported as checks. Read-only: the audit never changes
//! anything, it reports.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the audit requires of every source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PosturePolicy {
    /// Minimum `BackupRetentionPeriod` in days.
    pub min_retention_days: u32,
    /// The newest snapshot (automated or manual) must be at most this old.
    pub rpo_hours: u32,
    /// Automated backups must be replicated to another region.
    #[serde(default)]
    pub require_replication: bool,
}

impl Default for PosturePolicy {
    fn default() -> Self {
        Self {
            min_retention_days: 7,
            rpo_hours: 26,
            require_replication: false,
        }
    }
}

/// What kind of source the facts describe: the ways its automated backups can outlive it differ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PostureSubject {
    /// An RDS instance: its automated backups can be replicated to another region, or retained
    /// by the delete call.
    #[default]
    Instance,
    /// An Aurora cluster: cross-region automated-backup replication is an instance-only
    /// feature, so only retention by DeleteDBCluster (`DeleteAutomatedBackups=false`) keeps them.
    Cluster,
}

/// What RDS reports about the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostureFacts {
    pub subject: PostureSubject,
    pub identifier: String,
    pub deletion_protection: bool,
    pub backup_retention_days: i32,
    /// Newest available snapshot of the source and when its data was taken.
    pub newest_snapshot: Option<(String, DateTime<Utc>)>,
    /// ARNs of cross-region replications of the automated backups.
    pub backup_replications: Vec<String>,
    /// ARNs of retained automated backups of this identifier (an instance or cluster deleted
    /// with `DeleteAutomatedBackups=false`).
    pub retained_backups: Vec<String>,
    /// Whether the instance (or cluster) itself still exists.
    pub instance_exists: bool,
}

/// One posture check result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostureCheck {
    pub source: String,
    /// Stable name: `deletion-protection`, `backup-retention`, `snapshot-age`,
    /// `backup-replication`, `backups-survive-deletion`.
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// Audits one source.
pub fn audit(
    policy: &PosturePolicy,
    facts: &PostureFacts,
    now: DateTime<Utc>,
) -> Vec<PostureCheck> {
    let check = |name: &str, passed: bool, detail: String| PostureCheck {
        source: facts.identifier.clone(),
        name: name.to_owned(),
        passed,
        detail,
    };
    // Whether a point in time stays restorable after the instance is deleted. Retaining the
    // automated backups is a choice of the DeleteDBInstance call (DeleteAutomatedBackups,
    // default true: deleted with the instance) that RDS does not record on a live instance, so
    // before a deletion only a replication proves they survive; after it, a retained backup.
    let survive = if !facts.backup_replications.is_empty() {
        (
            true,
            format!(
                "automated backups are replicated ({}): they survive the instance's deletion",
                facts.backup_replications.join(", ")
            ),
        )
    } else if !facts.retained_backups.is_empty() {
        (
            true,
            format!(
                "automated backups retained after deletion: {}",
                facts.retained_backups.join(", ")
            ),
        )
    } else {
        (false, match facts.subject {
            PostureSubject::Instance => "automated backups would go with the instance: they are not replicated to another region (StartDBInstanceAutomatedBackupsReplication), and retaining them on delete is a choice of the delete call (DeleteAutomatedBackups defaults to true) that RDS does not record",
            PostureSubject::Cluster => "automated backups would go with the cluster: Aurora has no cross-region automated-backup replication (an instance-only feature), and retaining them is a choice of DeleteDBCluster (DeleteAutomatedBackups defaults to true) that RDS does not record; keep snapshot copies elsewhere (snapshot_copy, or drill copy-snapshot --cluster)",
        }.to_owned())
    };
    let survive = check("backups-survive-deletion", survive.0, survive.1);
    if !facts.instance_exists {
        // Nothing else to audit on an instance that is gone.
        return vec![survive];
    }
    let mut out = vec![
        survive,
        check(
            "deletion-protection",
            facts.deletion_protection,
            if facts.deletion_protection {
                "deletion protection is on".to_owned()
            } else {
                format!(
                    "deletion protection is off: one API call can delete this {}",
                    match facts.subject {
                        PostureSubject::Instance => "instance",
                        PostureSubject::Cluster => "cluster",
                    }
                )
            },
        ),
        check(
            "backup-retention",
            facts.backup_retention_days >= 0
                && facts.backup_retention_days as u32 >= policy.min_retention_days,
            format!(
                "backup retention {} day(s), required at least {}",
                facts.backup_retention_days, policy.min_retention_days
            ),
        ),
    ];
    out.push(match &facts.newest_snapshot {
        Some((id, taken)) => {
            let age = now - *taken;
            check(
                "snapshot-age",
                age <= chrono::Duration::hours(i64::from(policy.rpo_hours)),
                format!(
                    "newest snapshot {id} is {} h old, RPO {} h",
                    age.num_hours(),
                    policy.rpo_hours
                ),
            )
        }
        None => check("snapshot-age", false, "no available snapshot".to_owned()),
    });
    if policy.require_replication {
        out.push(check(
            "backup-replication",
            !facts.backup_replications.is_empty(),
            if facts.subject == PostureSubject::Cluster {
                "Aurora clusters cannot replicate automated backups to another region (an instance-only feature)".to_owned()
            } else if facts.backup_replications.is_empty() {
                "automated backups are not replicated to another region".to_owned()
            } else {
                format!("replicated to {}", facts.backup_replications.join(", "))
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn good() -> PostureFacts {
        PostureFacts {
            subject: PostureSubject::Instance,
            identifier: "prod".into(),
            deletion_protection: true,
            backup_retention_days: 14,
            newest_snapshot: Some(("rds:prod-x".into(), now() - Duration::hours(3))),
            backup_replications: vec!["arn:aws:rds:eu-west-1:1:auto-backup:x".into()],
            retained_backups: Vec::new(),
            instance_exists: true,
        }
    }

    fn by_name<'a>(checks: &'a [PostureCheck], name: &str) -> &'a PostureCheck {
        checks.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn a_well_kept_source_passes_everything() {
        let policy = PosturePolicy {
            require_replication: true,
            ..PosturePolicy::default()
        };
        let checks = audit(&policy, &good(), now());
        assert_eq!(checks.len(), 5);
        assert!(checks.iter().all(|c| c.passed), "{checks:?}");
    }

    #[test]
    fn each_weakness_fails_its_own_check() {
        let policy = PosturePolicy {
            require_replication: true,
            ..PosturePolicy::default()
        };
        let mut f = good();
        f.deletion_protection = false;
        assert!(!by_name(&audit(&policy, &f, now()), "deletion-protection").passed);
        let mut f = good();
        f.backup_retention_days = 6;
        assert!(!by_name(&audit(&policy, &f, now()), "backup-retention").passed);
        let mut f = good();
        f.backup_retention_days = 0;
        assert!(!by_name(&audit(&policy, &f, now()), "backup-retention").passed);
        let mut f = good();
        f.newest_snapshot = Some(("old".into(), now() - Duration::hours(27)));
        let c = audit(&policy, &f, now());
        assert!(!by_name(&c, "snapshot-age").passed);
        assert!(by_name(&c, "snapshot-age").detail.contains("27 h"));
        let mut f = good();
        f.newest_snapshot = None;
        assert!(!by_name(&audit(&policy, &f, now()), "snapshot-age").passed);
        let mut f = good();
        f.backup_replications.clear();
        assert!(!by_name(&audit(&policy, &f, now()), "backup-replication").passed);
    }

    #[test]
    fn backups_survive_deletion_only_when_replicated_or_already_retained() {
        let policy = PosturePolicy::default();
        let survive = |f: &PostureFacts| {
            by_name(&audit(&policy, f, now()), "backups-survive-deletion").clone()
        };
        assert!(survive(&good()).passed);
        let mut f = good();
        f.backup_replications.clear();
        let c = survive(&f);
        assert!(!c.passed, "{c:?}");
        assert!(c.detail.contains("DeleteAutomatedBackups"), "{}", c.detail);
        f.instance_exists = false;
        f.retained_backups = vec!["arn:aws:rds:us-east-1:1:auto-backup:ab-x".into()];
        let checks = audit(&policy, &f, now());
        assert_eq!(
            checks.len(),
            1,
            "a gone instance has only this check: {checks:?}"
        );
        assert!(
            checks[0].passed && checks[0].detail.contains("ab-x"),
            "{checks:?}"
        );
        f.retained_backups.clear();
        assert!(!audit(&policy, &f, now())[0].passed);
    }

    #[test]
    fn a_cluster_survives_its_deletion_only_by_retained_backups() {
        let policy = PosturePolicy {
            require_replication: true,
            ..PosturePolicy::default()
        };
        let live = PostureFacts {
            subject: PostureSubject::Cluster,
            identifier: "orders-aurora".into(),
            backup_replications: Vec::new(),
            ..good()
        };
        let checks = audit(&policy, &live, now());
        let survive = by_name(&checks, "backups-survive-deletion");
        assert!(!survive.passed, "{survive:?}");
        assert!(
            survive.detail.contains("DeleteDBCluster"),
            "{}",
            survive.detail
        );
        assert!(
            survive.detail.contains("instance-only"),
            "{}",
            survive.detail
        );
        let replication = by_name(&checks, "backup-replication");
        assert!(!replication.passed);
        assert!(
            replication.detail.contains("Aurora"),
            "{}",
            replication.detail
        );
        // The rest of a well-kept cluster passes.
        for name in ["deletion-protection", "backup-retention", "snapshot-age"] {
            assert!(by_name(&checks, name).passed, "{name}: {checks:?}");
        }
        let mut unprotected = live.clone();
        unprotected.deletion_protection = false;
        let c = audit(&policy, &unprotected, now());
        assert!(by_name(&c, "deletion-protection")
            .detail
            .contains("cluster"));
        // Gone, with retained cluster automated backups: they survived.
        let gone = PostureFacts {
            instance_exists: false,
            retained_backups: vec!["arn:aws:rds:us-east-1:1:cluster-auto-backup:cab-x".into()],
            ..live
        };
        let checks = audit(&policy, &gone, now());
        assert_eq!(checks.len(), 1, "{checks:?}");
        assert!(checks[0].passed && checks[0].detail.contains("cab-x"));
    }

    #[test]
    fn replication_is_only_checked_where_configured() {
        let checks = audit(&PosturePolicy::default(), &good(), now());
        assert!(checks.iter().all(|c| c.name != "backup-replication"));
    }
}
