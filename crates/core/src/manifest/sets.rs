//! Backup sets of a source's store: which one a drill restores (the newest complete set whose
//! drill did not fail, not older than the source allows), how a new one is named, and which
//! manifest a restored set is validated against.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use super::{encode_name, DRILL_FAILED_KEY, MANIFEST_KEY};
use crate::events::{BackupKind, BackupRef, SourceSpec};

/// Which set of a source's store to restore: the newest complete one (with a manifest) whose
/// drill did not fail. Set directories start with a UTC timestamp, so name order is time order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetChoice {
    /// Path of the chosen set relative to the store.
    pub set: Option<String>,
    /// Newer complete sets passed over because their drill failed, newest first.
    pub skipped_failed: Vec<String>,
}

/// Chooses among `keys` (every key under a source's store) as [`SetChoice`] says.
pub fn choose_newest_set(keys: &[String]) -> SetChoice {
    let failed: HashSet<&str> = keys
        .iter()
        .filter_map(|k| k.strip_suffix(&format!("/{DRILL_FAILED_KEY}")))
        .collect();
    let mut complete: Vec<&str> = keys
        .iter()
        .filter_map(|k| k.strip_suffix(&format!("/{MANIFEST_KEY}")))
        .collect();
    let last = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
    complete.sort_by(|a, b| last(b).cmp(&last(a)).then_with(|| b.cmp(a)));
    let mut choice = SetChoice::default();
    for set in complete {
        if failed.contains(set) {
            choice.skipped_failed.push(set.to_owned());
        } else {
            choice.set = Some(set.to_owned());
            break;
        }
    }
    choice
}

/// The newest set holds data older than its source allows: backups have stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooOld {
    pub taken_at: DateTime<Utc>,
    pub age_hours: i64,
    pub max_hours: u32,
}

/// The max-age rule of a backup-set source: a set whose data (as of `data_as_of`, see
/// [`super::Manifest::data_as_of`]) is more than `max_hours` old at `now` is refused; no limit
/// allows any age.
pub fn check_max_age(
    data_as_of: DateTime<Utc>,
    now: DateTime<Utc>,
    max_hours: Option<u32>,
) -> Result<(), TooOld> {
    let Some(max_hours) = max_hours else {
        return Ok(());
    };
    let age = now - data_as_of;
    if age > Duration::hours(i64::from(max_hours)) {
        return Err(TooOld {
            taken_at: data_as_of,
            age_hours: age.num_hours(),
            max_hours,
        });
    }
    Ok(())
}

/// A backup that claims to be a set of a backup-set source but is not one of its store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused: backup {id:?} is not a backup set of the configured store {store}")]
pub struct ManifestUrlError {
    pub id: String,
    pub store: String,
}

/// The manifest a restored backup is validated against by default: a backup set must match its
/// own manifest exactly, and must lie in the store its source is configured with (the backup
/// comes from the event, the store from the deployment). An RDS snapshot has none.
pub fn manifest_url_of(
    source: &SourceSpec,
    backup: &BackupRef,
) -> Result<Option<String>, ManifestUrlError> {
    match source {
        SourceSpec::BackupSet { store, .. } => {
            let inside = backup
                .id
                .strip_prefix(store.trim_end_matches('/'))
                .is_some_and(|rest| rest.starts_with('/'));
            if backup.kind != BackupKind::BackupSet || !inside {
                return Err(ManifestUrlError {
                    id: backup.id.clone(),
                    store: store.clone(),
                });
            }
            Ok(Some(format!(
                "{}/{MANIFEST_KEY}",
                backup.id.trim_end_matches('/')
            )))
        }
        SourceSpec::RdsSnapshot { .. } | SourceSpec::AuroraCluster { .. } => Ok(None),
    }
}

/// Name of a new backup set below a store: `<source>/<UTC timestamp>-<short id>`.
pub fn set_name(source: &str, at: DateTime<Utc>, short_id: &str) -> String {
    let mut src = encode_name(source);
    if src.is_empty() {
        src.push_str("db");
    }
    format!("{src}/{}-{short_id}", at.format("%Y%m%dT%H%M%SZ"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn set_names_sort_by_time() {
        let a = set_name(
            "app",
            Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            "ab12",
        );
        let b = set_name(
            "app",
            Utc.with_ymd_and_hms(2026, 1, 10, 0, 0, 0).unwrap(),
            "0000",
        );
        assert_eq!(a, "app/20260102T030405Z-ab12");
        assert!(a < b);
    }

    #[test]
    fn the_newest_set_whose_drill_did_not_fail_is_chosen() {
        let keys: Vec<String> = [
            "app/20260101T000000Z-aaaa/manifest.json",
            "app/20260102T000000Z-bbbb/manifest.json",
            "app/20260103T000000Z-cccc/manifest.json",
            "app/20260103T000000Z-cccc/drill-failed.json",
            // incomplete: no manifest
            "app/20260104T000000Z-dddd/schema/pre-data.sql",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = choose_newest_set(&keys);
        assert_eq!(c.set.as_deref(), Some("app/20260102T000000Z-bbbb"));
        assert_eq!(
            c.skipped_failed,
            vec!["app/20260103T000000Z-cccc".to_owned()]
        );
        assert_eq!(choose_newest_set(&keys[3..]), SetChoice::default());
    }

    #[test]
    fn incomplete_sets_are_never_chosen_and_sources_are_told_apart_by_path() {
        let keys: Vec<String> = [
            "app/20261120T030000Z-aaaa/manifest.json",
            "app/20261121T030000Z-bbbb/manifest.json",
            "app/20261122T030000Z-cccc/data/public.t.0000.copy.zst", // no manifest: incomplete
            "other/20261121T040000Z-dddd/manifest.json",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        // Name order of the set directory is time order, whatever the path above it.
        assert_eq!(
            choose_newest_set(&keys).set.as_deref(),
            Some("other/20261121T040000Z-dddd")
        );
        assert_eq!(choose_newest_set(&keys[2..3]).set, None);
        assert_eq!(choose_newest_set(&[]).set, None);
    }

    #[test]
    fn sets_older_than_the_limit_are_refused() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let at = |h: i64| now - Duration::hours(h) - Duration::minutes(1);
        assert_eq!(check_max_age(at(1000), now, None), Ok(()));
        assert_eq!(check_max_age(at(23), now, Some(24)), Ok(()));
        // Exactly at the limit is still allowed; a minute past it is not.
        assert_eq!(
            check_max_age(now - Duration::hours(24), now, Some(24)),
            Ok(())
        );
        assert_eq!(
            check_max_age(at(24), now, Some(24)),
            Err(TooOld {
                taken_at: at(24),
                age_hours: 24,
                max_hours: 24
            })
        );
        assert_eq!(
            check_max_age(at(30), now, Some(24)).unwrap_err().age_hours,
            30
        );
    }

    fn backup(kind: BackupKind, id: &str) -> BackupRef {
        BackupRef {
            kind,
            id: id.into(),
            taken_at: Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn a_restored_set_is_validated_against_its_own_manifest_in_the_configured_store() {
        let source: SourceSpec = serde_json::from_value(serde_json::json!({
            "kind": "backup-set", "store": "s3://b/backups/app/",
            "server": {"host": "h", "port": 5432, "database": "postgres",
                       "secret": {"env": {"var": "X"}}}
        }))
        .unwrap();
        let set = "s3://b/backups/app/app/20261122T000000Z-aaaa/";
        assert_eq!(
            manifest_url_of(&source, &backup(BackupKind::BackupSet, set)).unwrap(),
            Some("s3://b/backups/app/app/20261122T000000Z-aaaa/manifest.json".into())
        );
        for (kind, id) in [
            // another store, a prefix that only looks alike, the store itself, another kind
            (BackupKind::BackupSet, "s3://b/other/app/x"),
            (BackupKind::BackupSet, "s3://b/backups/app-evil/x"),
            (BackupKind::BackupSet, "s3://b/backups/app"),
            (BackupKind::RdsSnapshot, set),
        ] {
            let err = manifest_url_of(&source, &backup(kind, id)).unwrap_err();
            assert_eq!(err.id, id);
            assert!(err.to_string().contains("s3://b/backups/app/"), "{err}");
        }
        let rds: SourceSpec = serde_json::from_value(serde_json::json!({
            "kind": "rds-snapshot", "instance_identifier": "prod", "database": "app"
        }))
        .unwrap();
        assert_eq!(
            manifest_url_of(&rds, &backup(BackupKind::RdsSnapshot, "snap")).unwrap(),
            None
        );
    }
}
