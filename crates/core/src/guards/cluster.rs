//! The guards for a temp Aurora cluster: the cluster and every one of its instances must pass
//! every guard ([`super::check_all`]) before anything is deleted. One instance that is not the
//! drill's (someone added a reader to the temp, or the "temp" is production) refuses the whole
//! deletion: the instances go first and the cluster after, so deleting "ours" of a cluster that
//! also holds someone else's instance would still take a database away from them.

use super::{check_all, verdict, Caller, GuardFailure, GuardPolicy, InstanceFacts, Verdict};

/// The failures of each resource (cluster first, then its instances) that failed a guard.
pub fn check_cluster(
    policy: &GuardPolicy,
    caller: &Caller,
    cluster: &InstanceFacts,
    members: &[InstanceFacts],
) -> Vec<(String, Vec<GuardFailure>)> {
    std::iter::once(cluster)
        .chain(members)
        .map(|f| (f.identifier.clone(), check_all(policy, caller, f)))
        .filter(|(_, failures)| !failures.is_empty())
        .collect()
}

/// A sweep's verdict on a cluster and its instances: allowed only when everything passes, not due
/// when "not expired yet" is the only objection anywhere.
pub fn cluster_verdict(failed: Vec<(String, Vec<GuardFailure>)>) -> ClusterVerdict {
    let all: Vec<GuardFailure> = failed.iter().flat_map(|(_, f)| f.clone()).collect();
    match verdict(all) {
        Verdict::Allowed => ClusterVerdict::Allowed,
        Verdict::NotDue => ClusterVerdict::NotDue,
        Verdict::Refused(_) => ClusterVerdict::Refused(failed),
    }
}

/// [`Verdict`] for a cluster, naming the resource of each failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterVerdict {
    Allowed,
    NotDue,
    Refused(Vec<(String, Vec<GuardFailure>)>),
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::fixtures::{exec, failed, policy, t, temp};
    use super::super::{tag, Guard};
    use super::*;

    fn cluster() -> InstanceFacts {
        temp()
    }

    fn member() -> InstanceFacts {
        let mut m = temp();
        m.identifier = "rdrill-prod-db-w-202611220300-abcd1234".into();
        m
    }

    fn names(f: &[(String, Vec<GuardFailure>)]) -> Vec<(&str, Vec<Guard>)> {
        f.iter().map(|(id, g)| (id.as_str(), failed(g))).collect()
    }

    #[test]
    fn our_cluster_with_our_instance_passes() {
        assert!(check_cluster(&policy(), &exec(), &cluster(), &[member()]).is_empty());
        assert!(check_cluster(&policy(), &exec(), &cluster(), &[]).is_empty());
    }

    #[test]
    fn a_production_cluster_is_refused_with_and_without_deletion_protection() {
        for protected in [true, false] {
            let prod = InstanceFacts {
                identifier: "prod-db".into(),
                tags: BTreeMap::from([("env".into(), "prod".into())]),
                deletion_protection: protected,
                created_at: Some(t(1)),
            };
            let f = check_cluster(&policy(), &exec(), &prod, &[]);
            let mut want = vec![
                Guard::Prefix,
                Guard::RoleTag,
                Guard::Owner,
                Guard::NotProtected,
                Guard::DeletionProtection,
                Guard::CreatedByDrill,
            ];
            if !protected {
                want.retain(|g| *g != Guard::DeletionProtection);
            }
            assert_eq!(names(&f), vec![("prod-db", want)]);
        }
    }

    #[test]
    fn a_lookalike_without_tags_and_another_executions_cluster_are_refused() {
        let mut lookalike = cluster();
        lookalike.tags.clear();
        let f = check_cluster(&policy(), &exec(), &lookalike, &[member()]);
        assert_eq!(
            names(&f)[0].1,
            [Guard::RoleTag, Guard::Owner, Guard::CreatedByDrill]
        );
        let mut other = cluster();
        other.tags.insert(tag::EXECUTION.into(), "exec-2".into());
        let f = check_cluster(&policy(), &exec(), &other, &[]);
        assert_eq!(
            names(&f),
            vec![(other.identifier.as_str(), vec![Guard::Owner])]
        );
    }

    #[test]
    fn an_instance_that_is_not_ours_refuses_the_whole_cluster() {
        let reader = InstanceFacts {
            identifier: "analytics-reader".into(),
            tags: BTreeMap::new(),
            deletion_protection: false,
            created_at: Some(t(5)),
        };
        let f = check_cluster(&policy(), &exec(), &cluster(), &[member(), reader]);
        assert_eq!(
            names(&f),
            vec![(
                "analytics-reader",
                vec![
                    Guard::Prefix,
                    Guard::RoleTag,
                    Guard::Owner,
                    Guard::CreatedByDrill
                ]
            )]
        );
        assert!(matches!(cluster_verdict(f), ClusterVerdict::Refused(_)));
    }

    #[test]
    fn the_janitor_keeps_a_cluster_not_yet_expired() {
        let now = t(3) + chrono::Duration::hours(25);
        let early = Caller::Janitor { now: t(5) };
        let late = Caller::Janitor { now };
        let f = check_cluster(&policy(), &early, &cluster(), &[member()]);
        assert_eq!(cluster_verdict(f), ClusterVerdict::NotDue);
        let f = check_cluster(&policy(), &late, &cluster(), &[member()]);
        assert_eq!(cluster_verdict(f), ClusterVerdict::Allowed);
        let mut protected = member();
        protected.deletion_protection = true;
        let f = check_cluster(&policy(), &late, &cluster(), &[protected]);
        assert!(matches!(cluster_verdict(f), ClusterVerdict::Refused(_)));
    }
}
