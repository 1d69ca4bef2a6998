//! The guards in front of deleting (or touching) a sandbox: the same kind as the temps' (see
//! [`super`]), each one independent fact, all of which must pass:
//!
//! - prefix: the identifier carries the sandbox prefix (not empty);
//! - role tag: `drill:role` = `sandbox` (a drill temp, `temp`, is refused);
//! - owner: tag `drill:owner` equals the caller's principal ARN as STS confirmed it, or for the
//!   janitor, `drill:expires-at` has passed (else "not due");
//! - not protected: not a configured source, nor in the protected list;
//! - deletion protection off (the drill never turns it off);
//! - created by the drill: restored from a snapshot (`drill:restored-from`), has a creation time,
//!   and an expiry no further than the deployment's maximum TTL after its creation (a tag edited
//!   by hand to keep a sandbox forever, or to make a look-alike expire, fails).

use chrono::{DateTime, Duration, Utc};

use super::{
    check_deletion_protection_off, check_not_protected, check_prefix, check_role, expires_at,
    failures, tag, Guard, GuardFailure, GuardPolicy, GuardResult, InstanceFacts,
};
use crate::sandbox::{OWNER, ROLE_SANDBOX};

/// Slack on the creation-to-expiry check: the creation time RDS reports comes after the restore
/// call that computed the expiry.
const CREATION_SLACK: Duration = Duration::minutes(30);

/// Who asks to touch a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxCaller {
    /// A person, by the principal ARN STS confirmed for their signature.
    Owner { principal: String },
    /// The sandbox janitor sweeping expired sandboxes.
    Janitor { now: DateTime<Utc> },
}

/// What the sandbox guards compare against (the deployment's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPolicy {
    /// Prefix, sources and protected identifiers; `prefix` is the sandbox prefix.
    pub base: GuardPolicy,
    pub max_ttl: Duration,
}

/// Owner: the caller's own sandbox, or (janitor) an expired one.
pub fn check_sandbox_owner(caller: &SandboxCaller, facts: &InstanceFacts) -> GuardResult {
    match caller {
        SandboxCaller::Owner { principal } => {
            match facts.tags.get(OWNER).filter(|o| !o.is_empty()) {
                Some(o) if o == principal => Ok(()),
                Some(o) => Err(GuardFailure::new(
                    Guard::Owner,
                    format!("belongs to {o:?}, not to the caller {principal:?}"),
                )),
                None => Err(GuardFailure::new(Guard::Owner, format!("no {OWNER} tag"))),
            }
        }
        SandboxCaller::Janitor { now } => match expires_at(&facts.tags) {
            Some(t) if t <= *now => Ok(()),
            Some(t) => Err(GuardFailure::not_due(Guard::Owner, t)),
            None => Err(GuardFailure::new(
                Guard::Owner,
                format!("no valid {} tag", tag::EXPIRES_AT),
            )),
        },
    }
}

/// Created by the drill: restored from a snapshot, with an expiry within the maximum TTL of its
/// creation.
pub fn check_sandbox_created(policy: &SandboxPolicy, facts: &InstanceFacts) -> GuardResult {
    let refuse = |why: String| Err(GuardFailure::new(Guard::CreatedByDrill, why));
    if facts
        .tags
        .get(tag::RESTORED_FROM)
        .is_none_or(|v| v.is_empty())
    {
        return refuse(format!("no {} tag", tag::RESTORED_FROM));
    }
    let (Some(created), Some(expires)) = (facts.created_at, expires_at(&facts.tags)) else {
        return refuse("no creation time or no valid expiry".into());
    };
    if expires - created > policy.max_ttl + CREATION_SLACK {
        return refuse(format!(
            "expires {} after its creation, more than the maximum TTL of {} h",
            expires - created,
            policy.max_ttl.num_hours()
        ));
    }
    Ok(())
}

/// Every sandbox guard; empty means the action is allowed.
pub fn check_sandbox(
    policy: &SandboxPolicy,
    caller: &SandboxCaller,
    facts: &InstanceFacts,
) -> Vec<GuardFailure> {
    failures([
        check_prefix(&policy.base, facts),
        check_role(&facts.tags, ROLE_SANDBOX),
        check_sandbox_owner(caller, facts),
        check_not_protected(&policy.base, facts),
        check_deletion_protection_off(facts),
        check_sandbox_created(policy, facts),
    ])
}

/// Whether `list` and the janitor look at an instance: it carries the sandbox prefix or role.
pub fn looks_like_sandbox(prefix: &str, facts: &InstanceFacts) -> bool {
    (!prefix.is_empty() && facts.identifier.starts_with(prefix))
        || facts.tags.get(tag::ROLE).map(String::as_str) == Some(ROLE_SANDBOX)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{failed, t, temp};
    use super::super::{verdict, Verdict};
    use super::*;

    const ALICE: &str = "arn:aws:iam::123456789012:user/alice";

    fn policy() -> SandboxPolicy {
        SandboxPolicy {
            base: GuardPolicy {
                prefix: "rsbx-".into(),
                sources: vec!["prod-db".into()],
                protected: vec!["rsbx-keep".into()],
            },
            max_ttl: Duration::hours(8),
        }
    }

    fn alice() -> SandboxCaller {
        SandboxCaller::Owner {
            principal: ALICE.into(),
        }
    }

    /// Alice's sandbox, created at 04:00, expiring at 08:00.
    fn sandbox() -> InstanceFacts {
        InstanceFacts {
            identifier: "rsbx-prod-db-202611220400-abcd1234".into(),
            tags: crate::sandbox::tags(ALICE, "prod-db", t(8), "rdrill-copy-1"),
            deletion_protection: false,
            created_at: Some(t(4)),
        }
    }

    #[test]
    fn the_owners_own_sandbox_passes() {
        assert!(check_sandbox(&policy(), &alice(), &sandbox()).is_empty());
    }

    #[test]
    fn each_guard_alone_blocks_an_otherwise_perfect_sandbox() {
        let bob = SandboxCaller::Owner {
            principal: "arn:aws:iam::123456789012:user/bob".into(),
        };
        let mut cases: Vec<(Guard, InstanceFacts, SandboxPolicy, SandboxCaller)> = Vec::new();
        let mut f = sandbox();
        f.identifier = "prod-db-copy".into();
        cases.push((Guard::Prefix, f, policy(), alice()));
        let mut f = sandbox();
        f.tags.insert(tag::ROLE.into(), tag::ROLE_TEMP.into());
        cases.push((Guard::RoleTag, f, policy(), alice()));
        cases.push((Guard::Owner, sandbox(), policy(), bob));
        let mut p = policy();
        p.base.protected.push(sandbox().identifier);
        cases.push((Guard::NotProtected, sandbox(), p, alice()));
        let mut f = sandbox();
        f.deletion_protection = true;
        cases.push((Guard::DeletionProtection, f, policy(), alice()));
        let mut f = sandbox();
        f.tags
            .insert(tag::EXPIRES_AT.into(), tag::expires_at_value(t(23)));
        cases.push((Guard::CreatedByDrill, f, policy(), alice()));
        for (guard, facts, pol, caller) in cases {
            assert_eq!(failed(&check_sandbox(&pol, &caller, &facts)), vec![guard]);
        }
    }

    #[test]
    fn a_drill_temp_and_a_production_look_alike_are_refused() {
        let mut drill_temp = temp();
        drill_temp.identifier = "rsbx-looks-like-a-temp".into();
        let got = failed(&check_sandbox(&policy(), &alice(), &drill_temp));
        assert!(
            got.contains(&Guard::RoleTag) && got.contains(&Guard::Owner),
            "{got:?}"
        );
        let prod = InstanceFacts {
            identifier: "prod-db".into(),
            tags: Default::default(),
            deletion_protection: true,
            created_at: Some(t(1)),
        };
        assert_eq!(
            failed(&check_sandbox(&policy(), &alice(), &prod)),
            [
                Guard::Prefix,
                Guard::RoleTag,
                Guard::Owner,
                Guard::NotProtected,
                Guard::DeletionProtection,
                Guard::CreatedByDrill
            ]
        );
    }

    #[test]
    fn the_janitor_takes_expired_sandboxes_only() {
        let early = SandboxCaller::Janitor { now: t(7) };
        assert_eq!(
            verdict(check_sandbox(&policy(), &early, &sandbox())),
            Verdict::NotDue
        );
        let late = SandboxCaller::Janitor { now: t(8) };
        assert!(check_sandbox(&policy(), &late, &sandbox()).is_empty());
        let mut untagged = sandbox();
        untagged.tags.remove(tag::EXPIRES_AT);
        assert!(matches!(
            verdict(check_sandbox(&policy(), &late, &untagged)),
            Verdict::Refused(_)
        ));
    }

    #[test]
    fn only_sandboxes_are_looked_at() {
        assert!(looks_like_sandbox("rsbx-", &sandbox()));
        assert!(!looks_like_sandbox("rsbx-", &temp()));
        assert!(!looks_like_sandbox("", &temp()));
    }
}
