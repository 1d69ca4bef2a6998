//! Deleting temp Aurora clusters behind every guard, for one drill and for the janitor: the
//! cluster and each of its instances must pass [`drill_core::guards::cluster::check_cluster`];
//! then the instances are deleted, then the cluster with `SkipFinalSnapshot`. RDS refuses to
//! delete a cluster that still has instances not being deleted (`InvalidDBClusterStateFault`):
//! that answer is transient here, so the state machine's retry finds the instances gone.

use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::DbCluster;
use chrono::{DateTime, Utc};
use drill_core::events::{DeleteOutcome, DrillContext};
use drill_core::guards::cluster::{check_cluster, cluster_verdict, ClusterVerdict};
use drill_core::guards::{janitor, Caller, InstanceFacts};

use super::cluster_facts::{cluster_facts, cluster_members, describe_cluster, list_clusters};
use super::delete::delete_instance;
use super::facts::{describe_instance, instance_facts};
use super::{api_error, code_of, guard_error, refusals, Client, RdsError, RdsSettings};

/// The cluster's instances as the guards see them (gone ones left out). An instance the drill
/// asked for but the cluster does not list yet is included too (`extra`).
async fn member_facts(
    client: &Client,
    cluster: &DbCluster,
    extra: Option<&str>,
) -> Result<Vec<InstanceFacts>, RdsError> {
    let mut ids = cluster_members(cluster);
    if let Some(id) = extra.filter(|id| !ids.iter().any(|m| m == id)) {
        ids.push(id.to_owned());
    }
    let mut out = Vec::new();
    for id in ids {
        if let Some(db) = describe_instance(client, &id).await? {
            // A stray instance of that name in another cluster is not this cluster's to judge.
            if db.db_cluster_identifier() == cluster.db_cluster_identifier() {
                out.push(instance_facts(&db));
            }
        }
    }
    Ok(out)
}

/// Deletes the (already checked) instances, then the cluster.
async fn delete_checked(
    client: &Client,
    cluster: &str,
    members: &[InstanceFacts],
    outcome: &mut DeleteOutcome,
) -> Result<(), RdsError> {
    for m in members {
        if delete_instance(client, &m.identifier).await? {
            tracing::info!(identifier = %m.identifier, %cluster, "temp cluster instance deleted");
            outcome.deleted.push(m.identifier.clone());
        } else {
            outcome.already_gone.push(m.identifier.clone());
        }
    }
    match client
        .delete_db_cluster()
        .db_cluster_identifier(cluster)
        .skip_final_snapshot(true)
        // As for instances: the drill never destroys automated backups (the default does), even
        // of a cluster a guard let through by mistake; a temp's expire with its 1-day retention.
        .delete_automated_backups(false)
        .send()
        .await
    {
        Ok(_) => {
            tracing::info!(%cluster, "temp cluster deleted");
            outcome.deleted.push(cluster.to_owned());
            Ok(())
        }
        Err(e) if code_of(&e) == Some("DBClusterNotFoundFault") => {
            outcome.already_gone.push(cluster.to_owned());
            Ok(())
        }
        Err(e)
            if code_of(&e) == Some("InvalidDBClusterStateFault")
                && e.as_service_error()
                    .and_then(|s| s.message())
                    .is_some_and(|m| m.contains("being deleted")) =>
        {
            outcome.already_gone.push(cluster.to_owned());
            Ok(())
        }
        // InvalidDBClusterStateFault (instances still on their way out) is transient: the
        // state machine's retry deletes the cluster.
        Err(e) => Err(api_error("DeleteDBCluster", e)),
    }
}

/// Deletes the temp cluster `identifier` of one drill and its instances, only if every guard
/// passes on all of them. Gone (or already being deleted) is success.
pub async fn delete_cluster_temp(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    identifier: &str,
    instance: &str,
) -> Result<DeleteOutcome, RdsError> {
    let mut outcome = DeleteOutcome::default();
    let Some(cluster) = describe_cluster(client, identifier).await? else {
        // A cluster never made, but maybe its instance (a half-done retry): the same guards.
        if let Some(db) = describe_instance(client, instance).await? {
            let facts = instance_facts(&db);
            return super::delete::delete_temp(client, settings, drill, &facts.identifier).await;
        }
        outcome.already_gone.push(identifier.to_owned());
        return Ok(outcome);
    };
    if cluster.status() == Some("deleting") {
        outcome.already_gone.push(identifier.to_owned());
        return Ok(outcome);
    }
    let facts = cluster_facts(&cluster);
    let members = member_facts(client, &cluster, Some(instance)).await?;
    let policy = settings.guard_policy_for(Some(&drill.source_id), &facts);
    let caller = Caller::Execution {
        drill_id: drill.drill_id.clone(),
        started_at: drill.started_at,
    };
    let failed = check_cluster(&policy, &caller, &facts, &members);
    if let Some((id, failures)) = failed.first() {
        let mut err = guard_error(id, failures);
        if let RdsError::Guard { refusals: all, .. } = &mut err {
            for (id, f) in &failed[1..] {
                all.extend(refusals(id, f));
            }
        }
        return Err(err);
    }
    delete_checked(client, identifier, &members, &mut outcome).await?;
    Ok(outcome)
}

/// Sweeps temp clusters whose expires-at has passed, with their instances, each through every
/// guard. Clusters with neither the prefix nor the role tag are not looked at.
pub async fn cluster_janitor(
    client: &Client,
    settings: &RdsSettings,
    now: DateTime<Utc>,
    outcome: &mut DeleteOutcome,
) -> Result<(), RdsError> {
    let caller = Caller::Janitor { now };
    for cluster in list_clusters(client).await? {
        let facts = cluster_facts(&cluster);
        if !janitor::looks_like_temp(&settings.prefix, &facts)
            || cluster.status() == Some("deleting")
        {
            continue;
        }
        let members = member_facts(client, &cluster, None).await?;
        let policy = settings.guard_policy_for(None, &facts);
        match cluster_verdict(check_cluster(&policy, &caller, &facts, &members)) {
            ClusterVerdict::NotDue => outcome.not_due.push(facts.identifier),
            ClusterVerdict::Refused(failed) => {
                for (id, f) in failed {
                    outcome.refused.extend(refusals(&id, &f));
                }
            }
            ClusterVerdict::Allowed => {
                delete_checked(client, &facts.identifier, &members, outcome).await?;
            }
        }
    }
    Ok(())
}
