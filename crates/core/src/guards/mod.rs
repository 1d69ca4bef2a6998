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
//! [`check_all`] returns every failure, not just the first, so a refusal explains itself fully;
//! [`verdict`] tells a sweep "not due yet" from a refusal by the failures' [`FailureKind`].
//!
//! Where things live: the guards themselves in `checks.rs`, the tags in [`tag`] (with the one
//! function that builds a temp's tags), the janitor's own rules in [`janitor`].

mod checks;
pub mod cluster;
pub mod janitor;
pub mod sandbox;
pub mod tag;

#[cfg(test)]
pub(crate) mod fixtures;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::events::Refusal;

pub use checks::{
    check_created_by_drill, check_deletion_protection_off, check_execution, check_not_protected,
    check_owner, check_prefix, check_role, check_role_tag,
};

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

/// Whether a failed guard is a refusal, or only says "not yet": a sweep (janitor, snapshot
/// expiry) keeps a resource that is merely not due and reports one that was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The resource must not be touched (by this caller): someone should look at it.
    Refused,
    /// The resource is the drill's but its expires-at has not passed yet.
    NotDue,
}

/// One guard that said no, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardFailure {
    pub guard: Guard,
    pub reason: String,
    pub kind: FailureKind,
}

impl GuardFailure {
    /// A refusal.
    pub fn new(guard: Guard, reason: impl Into<String>) -> Self {
        Self {
            guard,
            reason: reason.into(),
            kind: FailureKind::Refused,
        }
    }

    /// "Not expired yet": the only failure a sweep leaves alone without reporting it.
    pub fn not_due(guard: Guard, expires: DateTime<Utc>) -> Self {
        Self {
            guard,
            reason: format!("not expired: expires at {}", expires.to_rfc3339()),
            kind: FailureKind::NotDue,
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

/// Parses the `drill:expires-at` tag.
pub fn expires_at(tags: &BTreeMap<String, String>) -> Option<DateTime<Utc>> {
    tags.get(tag::EXPIRES_AT)
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn failures(results: impl IntoIterator<Item = GuardResult>) -> Vec<GuardFailure> {
    results.into_iter().filter_map(Result::err).collect()
}

/// Runs every guard and returns all failures; empty means the action is allowed.
pub fn check_all(
    policy: &GuardPolicy,
    caller: &Caller,
    facts: &InstanceFacts,
) -> Vec<GuardFailure> {
    let mut out = check_read(policy, caller, facts);
    out.extend(failures([
        check_deletion_protection_off(facts),
        check_created_by_drill(caller, facts),
    ]));
    out
}

/// Guards (a)–(d), the ones a call on a running temp of this execution must pass (status, turning
/// on its secret): prefix, role tag, owner, not protected.
pub fn check_read(
    policy: &GuardPolicy,
    caller: &Caller,
    facts: &InstanceFacts,
) -> Vec<GuardFailure> {
    failures([
        check_prefix(policy, facts),
        check_role_tag(facts),
        check_owner(caller, facts),
        check_not_protected(policy, facts),
    ])
}

/// The guards before an execution takes over a resource that already exists under the name it
/// was about to create (a retry): it must carry `role` and this execution's tag.
pub fn check_reuse(
    drill_id: &str,
    role: &str,
    tags: &BTreeMap<String, String>,
) -> Vec<GuardFailure> {
    failures([check_role(tags, role), check_execution(drill_id, tags)])
}

/// What a sweep does with one resource, from the failures of its guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every guard passed.
    Allowed,
    /// Only "not expired yet" said no: keep it, nothing to report.
    NotDue,
    /// Refused: keep it and report every failure.
    Refused(Vec<GuardFailure>),
}

/// Classifies the failures of [`check_all`] (or of the snapshot copy guards) for a sweep.
pub fn verdict(failures: Vec<GuardFailure>) -> Verdict {
    if failures.is_empty() {
        Verdict::Allowed
    } else if failures.iter().all(|f| f.kind == FailureKind::NotDue) {
        Verdict::NotDue
    } else {
        Verdict::Refused(failures)
    }
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
    use super::fixtures::{exec, failed, policy, t, temp};
    use super::*;

    #[test]
    fn legitimate_temp_passes_every_guard() {
        assert!(check_all(&policy(), &exec(), &temp()).is_empty());
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
    fn read_guards_are_a_to_d_only() {
        let mut f = temp();
        f.deletion_protection = true;
        f.created_at = None;
        assert!(check_read(&policy(), &exec(), &f).is_empty());
        f.tags.insert(tag::EXECUTION.into(), "exec-9".into());
        f.identifier = "prod-db".into();
        assert_eq!(
            failed(&check_read(&policy(), &exec(), &f)),
            [Guard::Prefix, Guard::Owner, Guard::NotProtected]
        );
    }

    #[test]
    fn reuse_needs_the_role_and_this_execution() {
        let tags = temp().tags;
        assert!(check_reuse("exec-1", tag::ROLE_TEMP, &tags).is_empty());
        assert_eq!(
            failed(&check_reuse("exec-2", tag::ROLE_TEMP, &tags)),
            [Guard::Owner]
        );
        assert_eq!(
            failed(&check_reuse("exec-1", tag::ROLE_SNAPSHOT_COPY, &tags)),
            [Guard::RoleTag]
        );
        assert_eq!(
            failed(&check_reuse("exec-1", tag::ROLE_TEMP, &BTreeMap::new())),
            [Guard::RoleTag, Guard::Owner]
        );
    }

    #[test]
    fn only_not_due_failures_make_a_not_due_verdict() {
        assert_eq!(verdict(Vec::new()), Verdict::Allowed);
        let not_due = GuardFailure::not_due(Guard::Owner, t(5));
        assert_eq!(not_due.kind, FailureKind::NotDue);
        assert!(not_due.reason.contains("not expired"), "{}", not_due.reason);
        assert_eq!(verdict(vec![not_due.clone()]), Verdict::NotDue);
        // A refusal whose text happens to read "not expired" is still a refusal.
        let lookalike = GuardFailure::new(Guard::Owner, "not expired: says who");
        assert_eq!(
            verdict(vec![lookalike.clone()]),
            Verdict::Refused(vec![lookalike.clone()])
        );
        let both = vec![not_due, GuardFailure::new(Guard::DeletionProtection, "on")];
        assert_eq!(verdict(both.clone()), Verdict::Refused(both));
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
