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

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::events::{Refusal, SnapshotSelector};
use crate::guards::{expires_at, tag, Guard, GuardFailure};

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

    fn label(&self) -> &str {
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

/// Settings for expiring drill-made copies of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyPolicy {
    pub prefix: String,
    pub source_id: String,
    /// This many newest drill copies are kept even when expired (at least 1).
    pub keep_newest: usize,
}

/// The guards a drill-made copy must pass before it may be deleted; all failures are returned.
pub fn copy_guards(
    policy: &CopyPolicy,
    now: DateTime<Utc>,
    snap: &SnapshotFacts,
) -> Vec<GuardFailure> {
    let mut out = ownership_guards(policy, snap);
    let fail = |guard, reason: String| GuardFailure { guard, reason };
    match expires_at(&snap.tags) {
        Some(t) if t < now => {}
        Some(t) => out.push(fail(
            Guard::Owner,
            format!("not expired: expires at {}", t.to_rfc3339()),
        )),
        None => out.push(fail(
            Guard::Owner,
            format!("no valid {} tag", tag::EXPIRES_AT),
        )),
    }
    out
}

/// The guards proving a snapshot is a copy the drill made of `policy.source_id` (every guard of
/// [`copy_guards`] but expiry): the condition for sharing it with another account.
pub fn ownership_guards(policy: &CopyPolicy, snap: &SnapshotFacts) -> Vec<GuardFailure> {
    let mut out = Vec::new();
    let fail = |guard, reason: String| GuardFailure { guard, reason };
    if policy.prefix.is_empty() || !snap.id.starts_with(&policy.prefix) {
        out.push(fail(
            Guard::Prefix,
            format!("identifier does not start with {:?}", policy.prefix),
        ));
    }
    if snap.tags.get(tag::ROLE).map(String::as_str) != Some(tag::ROLE_SNAPSHOT_COPY) {
        out.push(fail(
            Guard::RoleTag,
            format!("tag {} is not {:?}", tag::ROLE, tag::ROLE_SNAPSHOT_COPY),
        ));
    }
    if snap.kind != SnapshotKind::Manual {
        out.push(fail(
            Guard::NotProtected,
            format!(
                "{} snapshots are never deleted by the drill",
                snap.kind.label()
            ),
        ));
    }
    let source_tag = snap.tags.get(tag::SOURCE).map(String::as_str);
    if source_tag != Some(policy.source_id.as_str())
        || !snap.instance.eq_ignore_ascii_case(&policy.source_id)
    {
        out.push(fail(
            Guard::Owner,
            format!("not a copy of source {:?}", policy.source_id),
        ));
    }
    if snap.tags.get(tag::EXECUTION).is_none_or(|v| v.is_empty()) {
        out.push(fail(
            Guard::CreatedByDrill,
            format!("no {} tag", tag::EXECUTION),
        ));
    }
    out
}

/// The parts of a snapshot ARN, `arn:<partition>:rds:<region>:<account>:snapshot:<name>`. The
/// name of an automated snapshot holds a colon itself (`rds:prod-2026-11-22-03-10`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotArn {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub name: String,
}

impl SnapshotArn {
    pub fn parse(arn: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.splitn(7, ':').collect();
        match parts.as_slice() {
            ["arn", partition, "rds", region, account, "snapshot", name]
                if !partition.is_empty()
                    && !region.is_empty()
                    && account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && !name.is_empty() =>
            {
                Some(SnapshotArn {
                    partition: (*partition).to_owned(),
                    region: (*region).to_owned(),
                    account: (*account).to_owned(),
                    name: (*name).to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// How `CopyDBSnapshot` must name the snapshot to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    /// `SourceDBSnapshotIdentifier`: the identifier for a copy within the region and account,
    /// else the ARN.
    pub identifier: String,
    /// The region the snapshot is in.
    pub region: String,
    pub cross_region: bool,
}

/// Why a snapshot cannot be copied where it was asked to go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    #[error("snapshot {id:?}: RDS did not report its ARN, which a copy to another region or from another account needs")]
    NoArn { id: String },
    #[error("snapshot {id:?}: {arn:?} is not an RDS snapshot ARN")]
    BadArn { id: String, arn: String },
    #[error("snapshot {id:?} is in {source_region} and the copy would go to {destination}: GovCloud copies across regions need a presigned URL, which restore-drill does not build; copy within the region")]
    GovCloud {
        id: String,
        source_region: String,
        destination: String,
    },
    #[error("snapshot {id:?} is encrypted and is copied {how}: name a KMS key of {destination} (--kms-key-id / kms_key_id)")]
    NeedsKmsKey {
        id: String,
        how: &'static str,
        destination: String,
    },
}

/// What a copy is asked to do besides copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyAsk<'a> {
    /// Region of the client that found the snapshot.
    pub source_region: &'a str,
    /// Region the copy is made in.
    pub destination_region: &'a str,
    pub kms_key_id: Option<&'a str>,
    /// The copy will be shared with other accounts.
    pub sharing: bool,
}

/// Decides how to name `snap` in a `CopyDBSnapshot` called in the destination region. A copy to
/// another region, or of a snapshot shared from another account, names the source by ARN and,
/// when the snapshot is encrypted, needs a KMS key of the destination (RDS cannot use the
/// source's key there). An encrypted copy that is to be shared needs a customer managed key too:
/// RDS refuses to share snapshots encrypted with the default `aws/rds` key.
pub fn copy_source(snap: &SnapshotFacts, ask: &CopyAsk<'_>) -> Result<CopySource, CopyError> {
    let (destination_region, kms_key_id) = (ask.destination_region, ask.kms_key_id);
    let shared = !matches!(snap.kind, SnapshotKind::Automated | SnapshotKind::Manual);
    let arn = match (&snap.arn, SnapshotArn::parse(&snap.id)) {
        // A shared snapshot is listed under its ARN.
        (_, Some(parsed)) => parsed,
        (Some(arn), None) => SnapshotArn::parse(arn).ok_or_else(|| CopyError::BadArn {
            id: snap.id.clone(),
            arn: arn.clone(),
        })?,
        // Without an ARN only a copy within the region can name the snapshot.
        (None, None) if shared || ask.source_region != destination_region => {
            return Err(CopyError::NoArn {
                id: snap.id.clone(),
            })
        }
        (None, None) if snap.encrypted && ask.sharing && kms_key_id.is_none() => {
            return Err(CopyError::NeedsKmsKey {
                id: snap.id.clone(),
                how: "to be shared (aws/rds-encrypted snapshots cannot be shared)",
                destination: destination_region.to_owned(),
            })
        }
        (None, None) => {
            return Ok(CopySource {
                identifier: snap.id.clone(),
                region: destination_region.to_owned(),
                cross_region: false,
            })
        }
    };
    let cross_region = arn.region != destination_region;
    if cross_region
        && (arn.region.starts_with("us-gov-") || destination_region.starts_with("us-gov-"))
    {
        return Err(CopyError::GovCloud {
            id: snap.id.clone(),
            source_region: arn.region,
            destination: destination_region.to_owned(),
        });
    }
    if (cross_region || shared || ask.sharing) && snap.encrypted && kms_key_id.is_none() {
        return Err(CopyError::NeedsKmsKey {
            id: snap.id.clone(),
            how: if cross_region {
                "to another region"
            } else if shared {
                "from another account"
            } else {
                "to be shared (aws/rds-encrypted snapshots cannot be shared)"
            },
            destination: destination_region.to_owned(),
        });
    }
    let by_arn = cross_region || shared;
    Ok(CopySource {
        identifier: if by_arn {
            snap.arn.clone().unwrap_or_else(|| snap.id.clone())
        } else {
            snap.id.clone()
        },
        region: arn.region,
        cross_region,
    })
}

/// How long RDS may take to make a copy before the drill calls it stuck.
pub const COPY_STUCK_AFTER: chrono::Duration = chrono::Duration::hours(24);

/// Problems with the drill's copies of a source (already filtered to ours): a copy RDS failed
/// to make, or one still not available a day after it was started. Each names the copy.
pub fn copy_problems(copies: &[SnapshotFacts], now: DateTime<Utc>) -> Vec<String> {
    copies
        .iter()
        .filter_map(|c| match c.status.as_str() {
            "available" => None,
            "creating" | "copying" | "pending" => {
                let started = c.created_at?;
                (now - started > COPY_STUCK_AFTER).then(|| {
                    format!(
                        "copy {:?} is still {} after {} h",
                        c.id,
                        c.status,
                        (now - started).num_hours()
                    )
                })
            }
            other => Some(format!("copy {:?} is {other:?}", c.id)),
        })
        .collect()
}

/// Checks the account ids a drill copy may be shared with: each exactly 12 digits. `all` is
/// refused by name: it would make the snapshot, a full copy of production, public.
pub fn validate_share_accounts(accounts: &[String]) -> Result<(), String> {
    for a in accounts {
        if a.eq_ignore_ascii_case("all") {
            return Err(
                "share_with: \"all\" would make the snapshot public; name 12-digit account ids"
                    .into(),
            );
        }
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "share_with: {a:?} is not a 12-digit AWS account id"
            ));
        }
    }
    Ok(())
}

/// What expiry decided for the snapshots of one source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiryPlan {
    /// Drill copies to delete: every guard passed.
    pub expire: Vec<String>,
    /// Drill copies kept: not expired yet, or among the newest kept on purpose.
    pub kept: Vec<String>,
    /// Snapshots that look like drill copies (prefix or role tag) but failed a guard other than
    /// "not expired yet": someone should look at them.
    pub refused: Vec<Refusal>,
}

/// Decides which snapshots to expire. Snapshots with neither the prefix nor the drill's role tag
/// are not ours and are ignored entirely.
pub fn plan_expiry(policy: &CopyPolicy, now: DateTime<Utc>, snaps: &[SnapshotFacts]) -> ExpiryPlan {
    let mut plan = ExpiryPlan::default();
    let mut ours: Vec<&SnapshotFacts> = snaps
        .iter()
        .filter(|s| {
            (!policy.prefix.is_empty() && s.id.starts_with(&policy.prefix))
                || s.tags.get(tag::ROLE).map(String::as_str) == Some(tag::ROLE_SNAPSHOT_COPY)
        })
        .collect();
    ours.sort_by(|a, b| (b.taken_at, b.created_at, &b.id).cmp(&(a.taken_at, a.created_at, &a.id)));
    let mut kept_newest = 0;
    for snap in ours {
        let failures = copy_guards(policy, now, snap);
        if failures.is_empty() {
            if kept_newest < policy.keep_newest.max(1) {
                kept_newest += 1;
                plan.kept.push(snap.id.clone());
            } else {
                plan.expire.push(snap.id.clone());
            }
            continue;
        }
        let only_not_expired = failures
            .iter()
            .all(|f| f.guard == Guard::Owner && f.reason.starts_with("not expired"));
        if only_not_expired {
            kept_newest += 1;
            plan.kept.push(snap.id.clone());
        } else {
            plan.refused
                .extend(failures.iter().map(|f| f.to_refusal(&snap.id)));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn snap(id: &str, kind: SnapshotKind, hours_old: i64) -> SnapshotFacts {
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

    fn found() -> Vec<SnapshotFacts> {
        vec![
            snap("rds:prod-a", SnapshotKind::Automated, 30),
            snap("rds:prod-b", SnapshotKind::Automated, 6),
            snap("manual-1", SnapshotKind::Manual, 2),
            snap("manual-0", SnapshotKind::Manual, 50),
            snap("shared", SnapshotKind::Other("shared".into()), 1),
        ]
    }

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

    fn copy(id: &str, hours_old: i64, expired: bool) -> SnapshotFacts {
        let mut s = snap(id, SnapshotKind::Manual, hours_old);
        let exp = if expired {
            now() - Duration::hours(1)
        } else {
            now() + Duration::hours(1)
        };
        for (k, v) in [
            (tag::ROLE, tag::ROLE_SNAPSHOT_COPY.to_owned()),
            (tag::SOURCE, "prod".to_owned()),
            (tag::EXECUTION, "exec-1".to_owned()),
            (tag::EXPIRES_AT, exp.to_rfc3339()),
        ] {
            s.tags.insert(k.to_owned(), v);
        }
        s
    }

    fn policy() -> CopyPolicy {
        CopyPolicy {
            prefix: "rdrill-".into(),
            source_id: "prod".into(),
            keep_newest: 1,
        }
    }

    #[test]
    fn expiry_only_deletes_expired_drill_copies_and_keeps_the_newest() {
        let mut automated_tagged = copy("rdrill-auto", 40, true);
        automated_tagged.kind = SnapshotKind::Automated;
        let mut untagged = snap("rdrill-untagged", SnapshotKind::Manual, 40);
        untagged.tags.clear();
        let mut other_source = copy("rdrill-other", 40, true);
        other_source
            .tags
            .insert(tag::SOURCE.into(), "staging".into());
        let snaps = vec![
            copy("rdrill-newest", 1, true),
            copy("rdrill-old", 30, true),
            copy("rdrill-fresh", 20, false),
            automated_tagged,
            untagged,
            other_source,
            snap("manual-person", SnapshotKind::Manual, 100),
            snap("rds:prod-a", SnapshotKind::Automated, 100),
        ];
        let plan = plan_expiry(&policy(), now(), &snaps);
        assert_eq!(plan.expire, vec!["rdrill-old".to_owned()]);
        assert!(plan.kept.contains(&"rdrill-newest".to_owned()));
        assert!(plan.kept.contains(&"rdrill-fresh".to_owned()));
        let refused: Vec<&str> = plan.refused.iter().map(|r| r.identifier.as_str()).collect();
        assert!(refused.contains(&"rdrill-auto"));
        assert!(refused.contains(&"rdrill-untagged"));
        assert!(refused.contains(&"rdrill-other"));
        assert!(!refused.contains(&"manual-person") && !refused.contains(&"rds:prod-a"));
    }

    #[test]
    fn each_copy_guard_alone_refuses() {
        assert!(copy_guards(&policy(), now(), &copy("rdrill-x", 5, true)).is_empty());
        let mut c = copy("x", 5, true);
        assert_eq!(copy_guards(&policy(), now(), &c)[0].guard, Guard::Prefix);
        c = copy("rdrill-x", 5, true);
        c.kind = SnapshotKind::Automated;
        assert_eq!(
            copy_guards(&policy(), now(), &c)[0].guard,
            Guard::NotProtected
        );
        c = copy("rdrill-x", 5, true);
        c.tags.remove(tag::ROLE);
        assert_eq!(copy_guards(&policy(), now(), &c)[0].guard, Guard::RoleTag);
        c = copy("rdrill-x", 5, true);
        c.tags.remove(tag::EXECUTION);
        assert_eq!(
            copy_guards(&policy(), now(), &c)[0].guard,
            Guard::CreatedByDrill
        );
        c = copy("rdrill-x", 5, false);
        assert_eq!(copy_guards(&policy(), now(), &c)[0].guard, Guard::Owner);
    }

    /// A copy asked from us-east-1 into `destination`, not shared.
    fn ask<'a>(destination: &'a str, kms_key_id: Option<&'a str>) -> CopyAsk<'a> {
        CopyAsk {
            source_region: "us-east-1",
            destination_region: destination,
            kms_key_id,
            sharing: false,
        }
    }

    #[test]
    fn a_copy_to_be_shared_needs_a_customer_key_when_encrypted_and_an_arn_across_regions() {
        let mut auto = snap("rds:prod-b", SnapshotKind::Automated, 6);
        auto.encrypted = true;
        let sharing = CopyAsk {
            sharing: true,
            ..ask("us-east-1", None)
        };
        let err = copy_source(&auto, &sharing).unwrap_err();
        assert!(err.to_string().contains("cannot be shared"), "{err}");
        let with_key = CopyAsk {
            kms_key_id: Some("arn:aws:kms:us-east-1:1:key/k"),
            ..sharing
        };
        assert!(copy_source(&auto, &with_key).is_ok());
        auto.encrypted = false;
        assert!(copy_source(&auto, &sharing).is_ok());
        // No ARN reported: only a copy within the region can name it.
        auto.arn = None;
        assert!(copy_source(&auto, &ask("us-east-1", None)).is_ok());
        assert!(matches!(
            copy_source(&auto, &ask("eu-west-1", None)),
            Err(CopyError::NoArn { .. })
        ));
    }

    #[test]
    fn failed_and_stuck_copies_are_problems_fresh_ones_are_not() {
        let mut ok = copy("rdrill-ok", 30, false);
        ok.status = "available".into();
        let mut fresh = copy("rdrill-fresh", 2, false);
        fresh.status = "creating".into();
        let mut stuck = copy("rdrill-stuck", 30, false);
        stuck.status = "creating".into();
        let mut failed = copy("rdrill-failed", 1, false);
        failed.status = "failed".into();
        let problems = copy_problems(&[ok, fresh, stuck, failed], now());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("rdrill-stuck") && problems[0].contains("30 h"));
        assert!(problems[1].contains("rdrill-failed") && problems[1].contains("failed"));
    }

    #[test]
    fn snapshot_arns_keep_the_colon_of_automated_names() {
        let a = SnapshotArn::parse(
            "arn:aws:rds:eu-west-1:123456789012:snapshot:rds:prod-2026-11-22-03-10",
        )
        .unwrap();
        assert_eq!(a.region, "eu-west-1");
        assert_eq!(a.account, "123456789012");
        assert_eq!(a.name, "rds:prod-2026-11-22-03-10");
        for bad in [
            "rds:prod-2026",
            "arn:aws:rds:eu-west-1:123456789012:db:prod",
            "arn:aws:rds:eu-west-1:1234:snapshot:x",
            "arn:aws:rds::123456789012:snapshot:x",
            "arn:aws:rds:eu-west-1:123456789012:snapshot:",
        ] {
            assert_eq!(SnapshotArn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn same_region_copies_use_the_identifier_others_the_arn() {
        let auto = snap("rds:prod-b", SnapshotKind::Automated, 6);
        let same = copy_source(&auto, &ask("us-east-1", None)).unwrap();
        assert_eq!(same.identifier, "rds:prod-b");
        assert!(!same.cross_region);
        let other = copy_source(&auto, &ask("eu-west-1", None)).unwrap();
        assert_eq!(
            other.identifier,
            "arn:aws:rds:us-east-1:123456789012:snapshot:rds:prod-b"
        );
        assert_eq!(other.region, "us-east-1");
        assert!(other.cross_region);
        // Shared from another account: listed under its ARN, copied by ARN even in-region.
        let mut shared = snap("x", SnapshotKind::Other("shared".into()), 1);
        shared.id = "arn:aws:rds:us-east-1:210987654321:snapshot:rdrill-prod-1".into();
        shared.arn = Some(shared.id.clone());
        let s = copy_source(&shared, &ask("us-east-1", None)).unwrap();
        assert_eq!(s.identifier, shared.id);
        assert!(!s.cross_region);
    }

    #[test]
    fn encrypted_copies_across_regions_or_accounts_need_a_key() {
        let mut auto = snap("rds:prod-b", SnapshotKind::Automated, 6);
        auto.encrypted = true;
        // In-region: RDS keeps the source's key.
        assert!(copy_source(&auto, &ask("us-east-1", None)).is_ok());
        let err = copy_source(&auto, &ask("eu-west-1", None)).unwrap_err();
        assert!(matches!(err, CopyError::NeedsKmsKey { .. }));
        assert!(err.to_string().contains("eu-west-1") && err.to_string().contains("rds:prod-b"));
        assert!(copy_source(
            &auto,
            &ask("eu-west-1", Some("arn:aws:kms:eu-west-1:1:key/k"))
        )
        .is_ok());
        let mut shared = snap(
            "arn:aws:rds:us-east-1:210987654321:snapshot:s",
            SnapshotKind::Other("shared".into()),
            1,
        );
        shared.encrypted = true;
        let err = copy_source(&shared, &ask("us-east-1", None)).unwrap_err();
        assert!(err.to_string().contains("from another account"), "{err}");
    }

    #[test]
    fn govcloud_and_missing_arns_are_refused() {
        let mut gov = snap("rds:prod-b", SnapshotKind::Automated, 6);
        gov.arn = Some("arn:aws-us-gov:rds:us-gov-west-1:123456789012:snapshot:rds:prod-b".into());
        assert!(matches!(
            copy_source(
                &gov,
                &CopyAsk {
                    source_region: "us-gov-west-1",
                    ..ask("us-gov-east-1", None)
                }
            ),
            Err(CopyError::GovCloud { .. })
        ));
        assert!(copy_source(
            &gov,
            &CopyAsk {
                source_region: "us-gov-west-1",
                ..ask("us-gov-west-1", None)
            }
        )
        .is_ok());
        let mut no_arn = snap("shared-x", SnapshotKind::Other("shared".into()), 1);
        no_arn.arn = None;
        assert!(matches!(
            copy_source(&no_arn, &ask("us-east-1", None)),
            Err(CopyError::NoArn { .. })
        ));
        let mut bad = snap("rds:prod-b", SnapshotKind::Automated, 6);
        bad.arn = Some("not-an-arn".into());
        assert!(matches!(
            copy_source(&bad, &ask("us-east-1", None)),
            Err(CopyError::BadArn { .. })
        ));
    }

    #[test]
    fn sharing_never_goes_public_and_needs_account_ids() {
        assert!(validate_share_accounts(&["210987654321".into()]).is_ok());
        assert!(validate_share_accounts(&[]).is_ok());
        let err = validate_share_accounts(&["ALL".into()]).unwrap_err();
        assert!(err.contains("public"), "{err}");
        for bad in ["12345", "21098765432a", " 210987654321"] {
            let err = validate_share_accounts(&[bad.into()]).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn ownership_guards_ignore_expiry_but_nothing_else() {
        // An unexpired drill copy may be shared ...
        assert!(ownership_guards(&policy(), &copy("rdrill-x", 5, false)).is_empty());
        // ... a person's manual snapshot or an automated one may not.
        let person = snap("rdrill-by-hand", SnapshotKind::Manual, 5);
        assert!(!ownership_guards(&policy(), &person).is_empty());
        let mut auto = copy("rdrill-x", 5, false);
        auto.kind = SnapshotKind::Automated;
        assert_eq!(
            ownership_guards(&policy(), &auto)[0].guard,
            Guard::NotProtected
        );
    }
}
