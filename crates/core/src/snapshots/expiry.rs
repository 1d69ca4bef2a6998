//! Which drill-made snapshot copies may be shared or expired: the copy guards, and the expiry plan
//! that always keeps the newest copies.

use chrono::{DateTime, Utc};

use super::{SnapshotFacts, SnapshotKind};
use crate::events::Refusal;
use crate::guards::{expires_at, tag, verdict, Guard, GuardFailure, Verdict};

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
    match expires_at(&snap.tags) {
        Some(t) if t < now => {}
        Some(t) => out.push(GuardFailure::not_due(Guard::Owner, t)),
        None => out.push(GuardFailure::new(
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
    if policy.prefix.is_empty() || !snap.id.starts_with(&policy.prefix) {
        out.push(GuardFailure::new(
            Guard::Prefix,
            format!("identifier does not start with {:?}", policy.prefix),
        ));
    }
    if snap.tags.get(tag::ROLE).map(String::as_str) != Some(tag::ROLE_SNAPSHOT_COPY) {
        out.push(GuardFailure::new(
            Guard::RoleTag,
            format!("tag {} is not {:?}", tag::ROLE, tag::ROLE_SNAPSHOT_COPY),
        ));
    }
    if snap.kind != SnapshotKind::Manual {
        out.push(GuardFailure::new(
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
        out.push(GuardFailure::new(
            Guard::Owner,
            format!("not a copy of source {:?}", policy.source_id),
        ));
    }
    if snap.tags.get(tag::EXECUTION).is_none_or(|v| v.is_empty()) {
        out.push(GuardFailure::new(
            Guard::CreatedByDrill,
            format!("no {} tag", tag::EXECUTION),
        ));
    }
    out
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
        match verdict(copy_guards(policy, now, snap)) {
            Verdict::Allowed if kept_newest < policy.keep_newest.max(1) => {
                kept_newest += 1;
                plan.kept.push(snap.id.clone());
            }
            Verdict::Allowed => plan.expire.push(snap.id.clone()),
            Verdict::NotDue => {
                kept_newest += 1;
                plan.kept.push(snap.id.clone());
            }
            Verdict::Refused(failures) => plan
                .refused
                .extend(failures.iter().map(|f| f.to_refusal(&snap.id))),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{copy, now, policy, snap};
    use super::*;
    use crate::guards::FailureKind;

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
        let not_due = &copy_guards(&policy(), now(), &c)[0];
        assert_eq!(
            (not_due.guard, not_due.kind),
            (Guard::Owner, FailureKind::NotDue)
        );
        c.tags.remove(tag::EXPIRES_AT);
        let no_expiry = &copy_guards(&policy(), now(), &c)[0];
        assert_eq!(
            (no_expiry.guard, no_expiry.kind),
            (Guard::Owner, FailureKind::Refused)
        );
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
