//! Configurations and drills the deployment tests share.

use super::*;
use crate::events::{ConnectionSpec, SecretRef, SnapshotSelector, TlsMode};
use chrono::TimeZone;

pub(super) fn rds(id: &str, instance: &str) -> SourceConfig {
    SourceConfig {
        id: id.into(),
        source: SourceSpec::RdsSnapshot {
            instance_identifier: instance.into(),
            snapshot: SnapshotSelector::Newest,
            max_age_hours: None,
            database: "app".into(),
            parameter_group: None,
        },
        checks: None,
        snapshot_copy: None,
        restore: Default::default(),
    }
}

pub(super) fn server() -> ConnectionSpec {
    ConnectionSpec {
        host: "scratch.example".into(),
        port: 5432,
        database: "postgres".into(),
        secret: SecretRef::SecretsManager {
            secret_id: "arn:secret".into(),
        },
        tls: TlsMode::VerifyFull,
    }
}

pub(super) fn config() -> DeploymentConfig {
    DeploymentConfig {
        temp_prefix: "rdrill-".into(),
        backups_url: "s3://b/backups".into(),
        object_lock_days: 35,
        copy_accounts: vec!["210987654321".into()],
        copy_regions: vec!["eu-west-1".into()],
        sources: vec![
            rds("prod-app", "prod-app"),
            SourceConfig {
                id: "logical".into(),
                source: SourceSpec::BackupSet {
                    store: "s3://b/backups/prod-app".into(),
                    server: server(),
                    max_age_hours: None,
                    no_owner: false,
                },
                checks: None,
                snapshot_copy: None,
                restore: Default::default(),
            },
        ],
    }
}

pub(super) fn drill(source: &str) -> DrillContext {
    DrillContext {
        drill_id: "night-1-x".into(),
        source_id: source.into(),
        started_at: chrono::Utc.with_ymd_and_hms(2026, 11, 21, 3, 0, 0).unwrap(),
    }
}

pub(super) fn copy(region: Option<&str>, accounts: &[&str]) -> SnapshotCopySpec {
    SnapshotCopySpec {
        region: region.map(str::to_owned),
        kms_key_id: None,
        share_with: accounts.iter().map(|a| (*a).to_owned()).collect(),
        retention_days: 7,
        keep_newest: 2,
    }
}
