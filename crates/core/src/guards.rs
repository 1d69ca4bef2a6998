//! The guards in front of every destructive RDS call the drill makes.
//!
//! The incident this project answers: a delete aimed at "temporary" things removed production.
//! So a temp instance is only deleted (or modified) when **every** guard below passes, each an
//! independent check of a different fact, so that one wrong assumption (a name that happens to
//! match, a tag someone copied) is not enough:
//!
//! - (a) [`check_prefix`]: the identifier carries the drill prefix;
//! - (b) [`check_role_tag`]: tag `drill:role` = `temp`;
//! - (c) [`check_owner`]: tag `drill:execution` equals the calling execution, or for the janitor
//!   `drill:expires-at` is in the past;
//! - (d) [`check_not_protected`]: not a configured source, nor in the protected list;
//! - (e) [`check_deletion_protection_off`]: `DeletionProtection` is false. The drill never turns
//!   it off itself, so anything protected stays out of reach;
//! - (f) [`check_created_by_drill`]: created after the drill started, and restored from a snapshot
//!   (tag `drill:restored-from`, set only by the restore).
//!
//! [`check_all`] returns every failure, not just the first, so a refusal explains itself fully.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::events::Refusal;

/// Tag keys and values the drill writes on what it creates, and the guards read.
pub mod tag {
    /// What the resource is to the drill: [`ROLE_TEMP`] or [`ROLE_SNAPSHOT_COPY`].
    pub const ROLE: &str = "drill:role";
    pub const ROLE_TEMP: &str = "temp";
    pub const ROLE_SNAPSHOT_COPY: &str = "snapshot-copy";
    /// The drill execution (Step Functions execution name) that created the resource.
    pub const EXECUTION: &str = "drill:execution";
    /// The source instance the resource was made from.
    pub const SOURCE: &str = "drill:source";
    /// RFC 3339 time after which the janitor (or snapshot expiry) may remove the resource.
    pub const EXPIRES_AT: &str = "drill:expires-at";
    /// The snapshot a temp instance was restored from; only the restore sets it (guard f).
    pub const RESTORED_FROM: &str = "drill:restored-from";
    /// The snapshot (identifier or ARN) a drill copy was made from; for people and audits.
    pub const COPIED_FROM: &str = "drill:copied-from";
}

/// The longest a temp instance may legitimately live; the janitor's guard (f) refuses an
/// instance whose expires-at lies further than this after its creation (a tag written by hand).
pub const MAX_TEMP_LIFETIME: Duration = Duration::hours(72);

/// One guard, named as it appears in refusals and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Guard {
    /// (a)
    Prefix,
    /// (b)
    RoleTag,
    /// (c)
    Owner,
    /// (d)
    NotProtected,
    /// (e)
    DeletionProtection,
    /// (f)
    CreatedByDrill,
}

impl Guard {
    pub const ALL: [Guard; 6] = [
        Guard::Prefix,
        Guard::RoleTag,
        Guard::Owner,
        Guard::NotProtected,
        Guard::DeletionProtection,
        Guard::CreatedByDrill,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Guard::Prefix => "prefix",
            Guard::RoleTag => "role-tag",
            Guard::Owner => "owner",
            Guard::NotProtected => "not-protected",
            Guard::DeletionProtection => "deletion-protection",
            Guard::CreatedByDrill => "created-by-drill",
        }
    }
}

impl std::fmt::Display for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What AWS reports about an instance, as the guards need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFacts {
    pub identifier: String,
    pub tags: BTreeMap<String, String>,
    pub deletion_protection: bool,
    /// `InstanceCreateTime`; absent while RDS is still creating the instance.
    pub created_at: Option<DateTime<Utc>>,
}

/// Configuration the guards compare against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardPolicy {
    pub prefix: String,
    /// Identifiers of configured source instances (never deletable, whatever their tags).
    pub sources: Vec<String>,
    /// Further identifiers that must never be touched.
    pub protected: Vec<String>,
}

/// Who asks for the destructive action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A drill execution cleaning up (or preparing) its own temp instance.
    Execution {
        drill_id: String,
        started_at: DateTime<Utc>,
    },
    /// The janitor sweeping instances left behind by executions that died.
    Janitor { now: DateTime<Utc> },
}

/// One guard that said no, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardFailure {
    pub guard: Guard,
    pub reason: String,
}

impl GuardFailure {
    fn new(guard: Guard, reason: impl Into<String>) -> Self {
        Self {
            guard,
            reason: reason.into(),
        }
    }

    /// As reported in events and logs.
    pub fn to_refusal(&self, identifier: &str) -> Refusal {
        Refusal {
            identifier: identifier.to_owned(),
            guard: self.guard.name().to_owned(),
            reason: self.reason.clone(),
        }
    }
}

pub type GuardResult = Result<(), GuardFailure>;

fn tag<'a>(facts: &'a InstanceFacts, key: &str) -> Option<&'a str> {
    facts.tags.get(key).map(String::as_str)
}

/// Parses the `drill:expires-at` tag.
pub fn expires_at(tags: &BTreeMap<String, String>) -> Option<DateTime<Utc>> {
    tags.get(tag::EXPIRES_AT)
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        .map(|t| t.with_timezone(&Utc))
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
    match tag(facts, tag::ROLE) {
        Some(tag::ROLE_TEMP) => Ok(()),
        Some(other) => Err(GuardFailure::new(
            Guard::RoleTag,
            format!("tag {} is {other:?}, not {:?}", tag::ROLE, tag::ROLE_TEMP),
        )),
        None => Err(GuardFailure::new(
            Guard::RoleTag,
            format!("no {} tag", tag::ROLE),
        )),
    }
}

/// (c) For an execution: tag `drill:execution` equals its id. For the janitor: the resource
/// carries an execution tag and its `drill:expires-at` has passed.
pub fn check_owner(caller: &Caller, facts: &InstanceFacts) -> GuardResult {
    let execution = tag(facts, tag::EXECUTION).filter(|v| !v.is_empty());
    match caller {
        Caller::Execution { drill_id, .. } => match execution {
            Some(e) if e == drill_id => Ok(()),
            Some(e) => Err(GuardFailure::new(
                Guard::Owner,
                format!("belongs to execution {e:?}, not {drill_id:?}"),
            )),
            None => Err(GuardFailure::new(
                Guard::Owner,
                format!("no {} tag", tag::EXECUTION),
            )),
        },
        Caller::Janitor { now } => {
            if execution.is_none() {
                return Err(GuardFailure::new(
                    Guard::Owner,
                    format!("no {} tag", tag::EXECUTION),
                ));
            }
            match expires_at(&facts.tags) {
                Some(t) if t < *now => Ok(()),
                Some(t) => Err(GuardFailure::new(
                    Guard::Owner,
                    format!("not expired: expires at {}", t.to_rfc3339()),
                )),
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
    if tag(facts, tag::RESTORED_FROM).is_none_or(str::is_empty) {
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

/// Runs every guard and returns all failures; empty means the action is allowed.
pub fn check_all(
    policy: &GuardPolicy,
    caller: &Caller,
    facts: &InstanceFacts,
) -> Vec<GuardFailure> {
    [
        check_prefix(policy, facts),
        check_role_tag(facts),
        check_owner(caller, facts),
        check_not_protected(policy, facts),
        check_deletion_protection_off(facts),
        check_created_by_drill(caller, facts),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect()
}

/// One line naming every failed guard, for error messages and logs.
pub fn describe_failures(identifier: &str, failures: &[GuardFailure]) -> String {
    let parts: Vec<String> = failures
        .iter()
        .map(|f| format!("guard {}: {}", f.guard, f.reason))
        .collect();
    format!("refused to touch {identifier:?}: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, 0, 0).unwrap()
    }

    fn policy() -> GuardPolicy {
        GuardPolicy {
            prefix: "rdrill-".into(),
            sources: vec!["prod-db".into()],
            protected: vec!["rdrill-keep-me".into()],
        }
    }

    fn exec() -> Caller {
        Caller::Execution {
            drill_id: "exec-1".into(),
            started_at: t(3),
        }
    }

    /// A temp instance every guard accepts for `exec()`.
    fn temp() -> InstanceFacts {
        let tags = [
            (tag::ROLE, tag::ROLE_TEMP),
            (tag::EXECUTION, "exec-1"),
            (tag::SOURCE, "prod-db"),
            (tag::EXPIRES_AT, "2026-11-23T03:00:00Z"),
            (tag::RESTORED_FROM, "rds:prod-db-2026-11-22-00-00"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        InstanceFacts {
            identifier: "rdrill-prod-db-202611220300-abcd1234".into(),
            tags,
            deletion_protection: false,
            created_at: Some(t(4)),
        }
    }

    fn failed(f: &[GuardFailure]) -> Vec<Guard> {
        f.iter().map(|f| f.guard).collect()
    }

    #[test]
    fn legitimate_temp_passes_every_guard() {
        assert!(check_all(&policy(), &exec(), &temp()).is_empty());
    }

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
        assert!(check_owner(&before, &f).is_err());
        assert!(check_owner(&after, &f).is_ok());
        let mut bad = temp();
        bad.tags.insert(tag::EXPIRES_AT.into(), "tomorrow".into());
        assert!(check_owner(&after, &bad).is_err());
        let mut anon = temp();
        anon.tags.remove(tag::EXECUTION);
        assert!(check_owner(&after, &anon).is_err());
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

    #[test]
    fn check_all_reports_every_failure() {
        let source = InstanceFacts {
            identifier: "prod-db".into(),
            tags: BTreeMap::new(),
            deletion_protection: true,
            created_at: Some(t(1)),
        };
        assert_eq!(
            failed(&check_all(&policy(), &exec(), &source)),
            Guard::ALL.to_vec()
        );
        let msg = describe_failures("prod-db", &check_all(&policy(), &exec(), &source));
        for g in Guard::ALL {
            assert!(msg.contains(g.name()), "{msg}");
        }
    }

    #[test]
    fn each_guard_alone_blocks_an_otherwise_perfect_temp() {
        // One mutation per guard; exactly that guard must fail.
        let mut cases: Vec<(Guard, InstanceFacts, GuardPolicy)> = Vec::new();
        let mut f = temp();
        f.identifier = "other-prod-db-202611220300-abcd1234".into();
        cases.push((Guard::Prefix, f, policy()));
        let mut f = temp();
        f.tags.remove(tag::ROLE);
        cases.push((Guard::RoleTag, f, policy()));
        let mut f = temp();
        f.tags.insert(tag::EXECUTION.into(), "exec-9".into());
        cases.push((Guard::Owner, f, policy()));
        let mut p = policy();
        p.protected.push(temp().identifier);
        cases.push((Guard::NotProtected, temp(), p));
        let mut f = temp();
        f.deletion_protection = true;
        cases.push((Guard::DeletionProtection, f, policy()));
        let mut f = temp();
        f.created_at = Some(t(1));
        cases.push((Guard::CreatedByDrill, f, policy()));
        for (guard, facts, pol) in cases {
            assert_eq!(failed(&check_all(&pol, &exec(), &facts)), vec![guard]);
        }
    }

    #[test]
    fn refusal_names_the_guard() {
        let f = check_role_tag(&InstanceFacts {
            identifier: "x".into(),
            tags: BTreeMap::new(),
            deletion_protection: false,
            created_at: None,
        })
        .unwrap_err();
        let r = f.to_refusal("rdrill-x");
        assert_eq!(r.guard, "role-tag");
        assert_eq!(r.identifier, "rdrill-x");
    }
}
