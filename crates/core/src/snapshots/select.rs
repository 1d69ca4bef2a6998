//! Which snapshot a drill restores: the newest of a kind, or one named explicitly, never older
//! than the maximum age; failing loudly with what was found.

use chrono::{DateTime, Utc};

use super::{SnapshotFacts, SnapshotKind};
use crate::events::SnapshotSelector;

/// Why no snapshot could be selected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("source {source_id:?}: no snapshot found")]
    NoSnapshots { source_id: String },
    #[error("source {source_id:?}: no available {wanted} snapshot; found {found}")]
    NoneMatching {
        source_id: String,
        wanted: String,
        found: String,
    },
    #[error("source {source_id:?}: newest {wanted} snapshot {id:?} is {age_hours} h old, more than the maximum of {max_age_hours} h; found {found}")]
    TooOld {
        source_id: String,
        wanted: String,
        id: String,
        age_hours: i64,
        max_age_hours: u32,
        found: String,
    },
    #[error("source {source_id:?}: snapshot {id:?} was taken of instance {instance:?}, not of the source")]
    WrongSource {
        source_id: String,
        id: String,
        instance: String,
    },
    #[error("source {source_id:?}: snapshot {id:?} is {status:?}, not available")]
    NotAvailable {
        source_id: String,
        id: String,
        status: String,
    },
}

fn wanted(selector: &SnapshotSelector) -> String {
    match selector {
        SnapshotSelector::Newest => "automated or manual".to_owned(),
        SnapshotSelector::NewestAutomated => "automated".to_owned(),
        SnapshotSelector::NewestManual => "manual".to_owned(),
        SnapshotSelector::Id { id } => format!("snapshot {id:?}"),
    }
}

/// Summary of what was found, newest first, for error messages (at most 5 listed).
fn summarize(found: &[SnapshotFacts], now: DateTime<Utc>) -> String {
    let mut sorted: Vec<&SnapshotFacts> = found.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.taken_at));
    let mut parts: Vec<String> = sorted
        .iter()
        .take(5)
        .map(|s| {
            let age = s
                .taken_at
                .map(|t| format!("{} h old", (now - t).num_hours()))
                .unwrap_or_else(|| "no time yet".to_owned());
            format!("{} ({}, {}, {age})", s.id, s.kind.label(), s.status)
        })
        .collect();
    if sorted.len() > 5 {
        parts.push(format!("and {} more", sorted.len() - 5));
    }
    format!("{} snapshot(s): {}", found.len(), parts.join(", "))
}

/// Chooses the snapshot to restore among `found` (the snapshots RDS lists for the source, or the
/// one named by an explicit id).
pub fn select(
    source_id: &str,
    selector: &SnapshotSelector,
    max_age_hours: Option<u32>,
    now: DateTime<Utc>,
    found: &[SnapshotFacts],
) -> Result<SnapshotFacts, SelectionError> {
    if found.is_empty() {
        return Err(SelectionError::NoSnapshots {
            source_id: source_id.to_owned(),
        });
    }
    if let SnapshotSelector::Id { id } = selector {
        let snap = found
            .iter()
            .find(|s| &s.id == id || s.arn.as_deref() == Some(id.as_str()))
            .ok_or_else(|| SelectionError::NoneMatching {
                source_id: source_id.to_owned(),
                wanted: wanted(selector),
                found: summarize(found, now),
            })?;
        if !snap.instance.eq_ignore_ascii_case(source_id) {
            return Err(SelectionError::WrongSource {
                source_id: source_id.to_owned(),
                id: snap.id.clone(),
                instance: snap.instance.clone(),
            });
        }
        if snap.status != "available" {
            return Err(SelectionError::NotAvailable {
                source_id: source_id.to_owned(),
                id: snap.id.clone(),
                status: snap.status.clone(),
            });
        }
        return check_age(source_id, selector, max_age_hours, now, snap, found);
    }
    let newest = found
        .iter()
        .filter(|s| s.instance.eq_ignore_ascii_case(source_id))
        .filter(|s| s.status == "available" && s.taken_at.is_some())
        .filter(|s| match selector {
            SnapshotSelector::Newest => {
                matches!(s.kind, SnapshotKind::Automated | SnapshotKind::Manual)
            }
            SnapshotSelector::NewestAutomated => s.kind == SnapshotKind::Automated,
            SnapshotSelector::NewestManual => s.kind == SnapshotKind::Manual,
            SnapshotSelector::Id { .. } => false,
        })
        // Ties broken by id so the choice is deterministic.
        .max_by(|a, b| a.taken_at.cmp(&b.taken_at).then_with(|| a.id.cmp(&b.id)))
        .ok_or_else(|| SelectionError::NoneMatching {
            source_id: source_id.to_owned(),
            wanted: wanted(selector),
            found: summarize(found, now),
        })?;
    check_age(source_id, selector, max_age_hours, now, newest, found)
}

fn check_age(
    source_id: &str,
    selector: &SnapshotSelector,
    max_age_hours: Option<u32>,
    now: DateTime<Utc>,
    snap: &SnapshotFacts,
    found: &[SnapshotFacts],
) -> Result<SnapshotFacts, SelectionError> {
    if let (Some(max), Some(taken)) = (max_age_hours, snap.taken_at) {
        let age = now - taken;
        if age > chrono::Duration::hours(i64::from(max)) {
            return Err(SelectionError::TooOld {
                source_id: source_id.to_owned(),
                wanted: wanted(selector),
                id: snap.id.clone(),
                age_hours: age.num_hours(),
                max_age_hours: max,
                found: summarize(found, now),
            });
        }
    }
    Ok(snap.clone())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{found, now, snap};
    use super::*;

    #[test]
    fn newest_of_each_kind() {
        let pick = |sel| select("prod", &sel, None, now(), &found()).unwrap().id;
        assert_eq!(pick(SnapshotSelector::NewestAutomated), "rds:prod-b");
        assert_eq!(pick(SnapshotSelector::NewestManual), "manual-1");
        // Shared snapshots are only restored when named explicitly.
        assert_eq!(pick(SnapshotSelector::Newest), "manual-1");
        assert_eq!(
            pick(SnapshotSelector::Id {
                id: "rds:prod-a".into()
            }),
            "rds:prod-a"
        );
        assert_eq!(
            pick(SnapshotSelector::Id {
                id: "arn:aws:rds:us-east-1:123456789012:snapshot:shared".into()
            }),
            "shared"
        );
    }

    #[test]
    fn unavailable_and_other_sources_are_skipped() {
        let mut f = found();
        f[2].status = "creating".into();
        let mut other = snap("other-newest", SnapshotKind::Manual, 0);
        other.instance = "not-prod".into();
        f.push(other);
        let s = select("prod", &SnapshotSelector::NewestManual, None, now(), &f).unwrap();
        assert_eq!(s.id, "manual-0");
    }

    #[test]
    fn too_old_names_source_and_what_was_found() {
        let err = select(
            "prod",
            &SnapshotSelector::NewestAutomated,
            Some(4),
            now(),
            &found(),
        )
        .unwrap_err();
        assert!(
            matches!(err, SelectionError::TooOld { age_hours: 6, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("\"prod\"") && msg.contains("rds:prod-b"),
            "{msg}"
        );
        assert!(msg.contains("5 snapshot(s)"), "{msg}");
        // Young enough passes.
        assert!(select(
            "prod",
            &SnapshotSelector::NewestAutomated,
            Some(7),
            now(),
            &found()
        )
        .is_ok());
    }

    #[test]
    fn none_matching_and_none_at_all() {
        let only_auto = vec![snap("rds:prod-a", SnapshotKind::Automated, 1)];
        let err = select(
            "prod",
            &SnapshotSelector::NewestManual,
            None,
            now(),
            &only_auto,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("no available manual snapshot") && msg.contains("rds:prod-a (automated"),
            "{msg}"
        );
        let err = select("prod", &SnapshotSelector::Newest, None, now(), &[]).unwrap_err();
        assert_eq!(
            err,
            SelectionError::NoSnapshots {
                source_id: "prod".into()
            }
        );
        let err = select(
            "prod",
            &SnapshotSelector::Id { id: "nope".into() },
            None,
            now(),
            &found(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"nope\""), "{err}");
    }

    #[test]
    fn explicit_id_must_be_of_the_source_and_available() {
        let mut other = snap("x", SnapshotKind::Manual, 1);
        other.instance = "staging".into();
        let err = select(
            "prod",
            &SnapshotSelector::Id { id: "x".into() },
            None,
            now(),
            &[other],
        )
        .unwrap_err();
        assert!(matches!(err, SelectionError::WrongSource { .. }));
        let mut busy = snap("y", SnapshotKind::Manual, 1);
        busy.status = "creating".into();
        let err = select(
            "prod",
            &SnapshotSelector::Id { id: "y".into() },
            None,
            now(),
            &[busy],
        )
        .unwrap_err();
        assert!(matches!(err, SelectionError::NotAvailable { .. }));
        // An explicit id is still held to the maximum age.
        let err = select(
            "prod",
            &SnapshotSelector::Id {
                id: "manual-0".into(),
            },
            Some(24),
            now(),
            &found(),
        )
        .unwrap_err();
        assert!(matches!(err, SelectionError::TooOld { .. }));
    }
}
