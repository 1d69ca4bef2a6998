//! Guards (a)–(f), each one independent check of one fact about an instance (see the list in
//! [`super`]).

use std::collections::BTreeMap;

use super::{
    expires_at, tag, Caller, Guard, GuardFailure, GuardPolicy, GuardResult, InstanceFacts,
    MAX_TEMP_LIFETIME,
};

fn tag_value<'a>(facts: &'a InstanceFacts, key: &str) -> Option<&'a str> {
    facts.tags.get(key).map(String::as_str)
}

/// (a) The identifier starts with the drill prefix (and the prefix is not empty, which would
/// match everything).
pub fn check_prefix(policy: &GuardPolicy, facts: &InstanceFacts) -> GuardResult {
    if policy.prefix.is_empty() {
        return Err(GuardFailure::new(
            Guard::Prefix,
            "no drill prefix is configured",
        ));
    }
    if facts.identifier.starts_with(&policy.prefix) {
        Ok(())
    } else {
        Err(GuardFailure::new(
            Guard::Prefix,
            format!("identifier does not start with {:?}", policy.prefix),
        ))
    }
}

/// (b) Tag `drill:role` = `temp`.
pub fn check_role_tag(facts: &InstanceFacts) -> GuardResult {
    check_role(&facts.tags, tag::ROLE_TEMP)
}

/// Tag `drill:role` = `role`: guard (b) for any resource the drill makes.
pub fn check_role(tags: &BTreeMap<String, String>, role: &str) -> GuardResult {
    match tags.get(tag::ROLE).map(String::as_str) {
        Some(r) if r == role => Ok(()),
        Some(other) => Err(GuardFailure::new(
            Guard::RoleTag,
            format!("tag {} is {other:?}, not {role:?}", tag::ROLE),
        )),
        None => Err(GuardFailure::new(
            Guard::RoleTag,
            format!("no {} tag", tag::ROLE),
        )),
    }
}

/// Tag `drill:execution` equals `drill_id`: guard (c) for an execution, on any resource.
pub fn check_execution(drill_id: &str, tags: &BTreeMap<String, String>) -> GuardResult {
    match tags.get(tag::EXECUTION).filter(|v| !v.is_empty()) {
        Some(e) if e == drill_id => Ok(()),
        Some(e) => Err(GuardFailure::new(
            Guard::Owner,
            format!("belongs to execution {e:?}, not {drill_id:?}"),
        )),
        None => Err(GuardFailure::new(
            Guard::Owner,
            format!("no {} tag", tag::EXECUTION),
        )),
    }
}

/// (c) For an execution: tag `drill:execution` equals its id. For the janitor: the resource
/// carries an execution tag and its `drill:expires-at` has passed.
pub fn check_owner(caller: &Caller, facts: &InstanceFacts) -> GuardResult {
    let execution = tag_value(facts, tag::EXECUTION).filter(|v| !v.is_empty());
    match caller {
        Caller::Execution { drill_id, .. } => check_execution(drill_id, &facts.tags),
        Caller::Janitor { now } => {
            if execution.is_none() {
                return Err(GuardFailure::new(
                    Guard::Owner,
                    format!("no {} tag", tag::EXECUTION),
                ));
            }
            match expires_at(&facts.tags) {
                Some(t) if t < *now => Ok(()),
                Some(t) => Err(GuardFailure::not_due(Guard::Owner, t)),
                None => Err(GuardFailure::new(
                    Guard::Owner,
                    format!("no valid {} tag", tag::EXPIRES_AT),
                )),
            }
        }
    }
}

/// (d) Not a configured source, nor protected. Compared case-insensitively: RDS identifiers are.
pub fn check_not_protected(policy: &GuardPolicy, facts: &InstanceFacts) -> GuardResult {
    let id = facts.identifier.to_ascii_lowercase();
    if policy.sources.iter().any(|s| s.to_ascii_lowercase() == id) {
        return Err(GuardFailure::new(
            Guard::NotProtected,
            "is a configured source instance",
        ));
    }
    if policy
        .protected
        .iter()
        .any(|s| s.to_ascii_lowercase() == id)
    {
        return Err(GuardFailure::new(
            Guard::NotProtected,
            "is in the protected list",
        ));
    }
    Ok(())
}

/// (e) `DeletionProtection` is off. The drill never turns it off, so this keeps every protected
/// instance out of reach however it is named or tagged.
pub fn check_deletion_protection_off(facts: &InstanceFacts) -> GuardResult {
    if facts.deletion_protection {
        Err(GuardFailure::new(
            Guard::DeletionProtection,
            "deletion protection is on (the drill never turns it off)",
        ))
    } else {
        Ok(())
    }
}

/// (f) Created by a drill restore: restored from a snapshot (tag `drill:restored-from`), and
/// created after the calling drill started. The janitor has no start time; it requires the
/// instance to have been created before its expires-at and at most [`MAX_TEMP_LIFETIME`] earlier.
/// An instance whose creation time RDS does not report yet is refused (the caller retries).
pub fn check_created_by_drill(caller: &Caller, facts: &InstanceFacts) -> GuardResult {
    if tag_value(facts, tag::RESTORED_FROM).is_none_or(str::is_empty) {
        return Err(GuardFailure::new(
            Guard::CreatedByDrill,
            format!("not restored by a drill (no {} tag)", tag::RESTORED_FROM),
        ));
    }
    let Some(created) = facts.created_at else {
        return Err(GuardFailure::new(
            Guard::CreatedByDrill,
            "creation time not reported yet",
        ));
    };
    match caller {
        Caller::Execution { started_at, .. } => {
            if created >= *started_at {
                Ok(())
            } else {
                Err(GuardFailure::new(
                    Guard::CreatedByDrill,
                    format!(
                        "created at {}, before the drill started at {}",
                        created.to_rfc3339(),
                        started_at.to_rfc3339()
                    ),
                ))
            }
        }
        Caller::Janitor { .. } => match expires_at(&facts.tags) {
            Some(exp) if created <= exp && exp - created <= MAX_TEMP_LIFETIME => Ok(()),
            Some(exp) => Err(GuardFailure::new(
                Guard::CreatedByDrill,
                format!(
                    "created at {} does not fit a drill lifetime ending {}",
                    created.to_rfc3339(),
                    exp.to_rfc3339()
                ),
            )),
            None => Err(GuardFailure::new(
                Guard::CreatedByDrill,
                format!("no valid {} tag", tag::EXPIRES_AT),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{exec, policy, t, temp};
    use super::super::FailureKind;
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn prefix_guard() {
        let mut f = temp();
        assert!(check_prefix(&policy(), &f).is_ok());
        f.identifier = "prod-db".into();
        assert_eq!(
            check_prefix(&policy(), &f).unwrap_err().guard,
            Guard::Prefix
        );
        // Prefix in the middle is not the prefix.
        f.identifier = "x-rdrill-foo".into();
        assert!(check_prefix(&policy(), &f).is_err());
        // An empty prefix would match every instance in the account.
        let mut p = policy();
        p.prefix.clear();
        assert!(check_prefix(&p, &temp()).is_err());
    }

    #[test]
    fn role_tag_guard() {
        let mut f = temp();
        assert!(check_role_tag(&f).is_ok());
        f.tags.insert(tag::ROLE.into(), "Temp".into());
        assert!(check_role_tag(&f).is_err());
        f.tags
            .insert(tag::ROLE.into(), tag::ROLE_SNAPSHOT_COPY.into());
        assert!(check_role_tag(&f).is_err());
        f.tags.remove(tag::ROLE);
        assert_eq!(check_role_tag(&f).unwrap_err().guard, Guard::RoleTag);
    }

    #[test]
    fn owner_guard_for_an_execution() {
        let mut f = temp();
        assert!(check_owner(&exec(), &f).is_ok());
        f.tags.insert(tag::EXECUTION.into(), "exec-2".into());
        let e = check_owner(&exec(), &f).unwrap_err();
        assert_eq!(e.guard, Guard::Owner);
        assert!(e.reason.contains("exec-2"), "{}", e.reason);
        f.tags.remove(tag::EXECUTION);
        assert!(check_owner(&exec(), &f).is_err());
        // An execution never gets to delete because something expired: that is the janitor's call.
        let mut expired = temp();
        expired.tags.insert(tag::EXECUTION.into(), "other".into());
        expired
            .tags
            .insert(tag::EXPIRES_AT.into(), "2000-01-01T00:00:00Z".into());
        assert!(check_owner(&exec(), &expired).is_err());
    }

    #[test]
    fn owner_guard_for_the_janitor() {
        let f = temp(); // expires 2026-11-23T03:00Z
        let before = Caller::Janitor { now: t(20) };
        let after = Caller::Janitor {
            now: Utc.with_ymd_and_hms(2026, 11, 23, 3, 0, 1).unwrap(),
        };
        // Not expired yet is "not due", typed as such; every other failure is a refusal.
        assert_eq!(
            check_owner(&before, &f).unwrap_err().kind,
            FailureKind::NotDue
        );
        assert!(check_owner(&after, &f).is_ok());
        let mut bad = temp();
        bad.tags.insert(tag::EXPIRES_AT.into(), "tomorrow".into());
        assert_eq!(
            check_owner(&after, &bad).unwrap_err().kind,
            FailureKind::Refused
        );
        let mut anon = temp();
        anon.tags.remove(tag::EXECUTION);
        assert_eq!(
            check_owner(&before, &anon).unwrap_err().kind,
            FailureKind::Refused
        );
    }

    #[test]
    fn not_protected_guard() {
        let mut f = temp();
        assert!(check_not_protected(&policy(), &f).is_ok());
        f.identifier = "PROD-DB".into();
        assert_eq!(
            check_not_protected(&policy(), &f).unwrap_err().guard,
            Guard::NotProtected
        );
        f.identifier = "rdrill-keep-me".into();
        assert!(check_not_protected(&policy(), &f).is_err());
    }

    #[test]
    fn deletion_protection_guard() {
        let mut f = temp();
        assert!(check_deletion_protection_off(&f).is_ok());
        f.deletion_protection = true;
        assert_eq!(
            check_deletion_protection_off(&f).unwrap_err().guard,
            Guard::DeletionProtection
        );
    }

    #[test]
    fn created_by_drill_guard_for_an_execution() {
        let mut f = temp();
        assert!(check_created_by_drill(&exec(), &f).is_ok());
        f.created_at = Some(t(3)); // same instant as the start: still ours
        assert!(check_created_by_drill(&exec(), &f).is_ok());
        f.created_at = Some(t(2));
        assert_eq!(
            check_created_by_drill(&exec(), &f).unwrap_err().guard,
            Guard::CreatedByDrill
        );
        f.created_at = None;
        assert!(check_created_by_drill(&exec(), &f).is_err());
        let mut not_restored = temp();
        not_restored.tags.remove(tag::RESTORED_FROM);
        assert!(check_created_by_drill(&exec(), &not_restored).is_err());
    }

    #[test]
    fn created_by_drill_guard_for_the_janitor() {
        let janitor = Caller::Janitor { now: t(23) };
        let f = temp(); // created 04:00, expires next day 03:00
        assert!(check_created_by_drill(&janitor, &f).is_ok());
        let mut ancient = temp();
        ancient.created_at = Some(Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap());
        assert!(check_created_by_drill(&janitor, &ancient).is_err());
        let mut after_expiry = temp();
        after_expiry.created_at = Some(Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap());
        assert!(check_created_by_drill(&janitor, &after_expiry).is_err());
    }
}
