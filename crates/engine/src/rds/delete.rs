//! Deleting temp instances behind every guard: one drill's own temp, and the janitor's sweep of
//! expired ones (temp clusters and their instances included, see `cluster_delete.rs`).

use aws_sdk_rds::error::ProvideErrorMetadata;
use chrono::{DateTime, Utc};
use drill_core::events::{DeleteOutcome, DrillContext};
use drill_core::guards::{self, janitor, Caller, Verdict};

use super::facts::{describe_instance, instance_facts, list_instances};
use super::{api_error, code_of, guard_error, refusals, Client, RdsError, RdsSettings};

/// Deletes after the guards passed (the caller's: temps' or sandboxes'); gone or already
/// deleting counts as gone.
pub(crate) async fn delete_instance(client: &Client, identifier: &str) -> Result<bool, RdsError> {
    match client
        .delete_db_instance()
        .db_instance_identifier(identifier)
        .skip_final_snapshot(true)
        // RDS deletes automated backups with the instance by default. A temp has none
        // (BackupRetentionPeriod=0); should any delete ever reach an instance that has them,
        // the drill must not be what destroys them.
        .delete_automated_backups(false)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if code_of(&e) == Some("DBInstanceNotFound") => Ok(false),
        Err(e)
            if code_of(&e) == Some("InvalidDBInstanceState")
                && e.as_service_error()
                    .and_then(|s| s.message())
                    .is_some_and(|m| m.contains("already being deleted")) =>
        {
            Ok(false)
        }
        Err(e) => Err(api_error("DeleteDBInstance", e)),
    }
}

/// Deletes the temp instance of one drill, only if every guard passes. Gone (or already being
/// deleted) is success. A guard failure makes no AWS call and returns [`RdsError::Guard`].
pub async fn delete_temp(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    identifier: &str,
) -> Result<DeleteOutcome, RdsError> {
    let mut outcome = DeleteOutcome::default();
    let Some(db) = describe_instance(client, identifier).await? else {
        outcome.already_gone.push(identifier.to_owned());
        return Ok(outcome);
    };
    if db.db_instance_status() == Some("deleting") {
        outcome.already_gone.push(identifier.to_owned());
        return Ok(outcome);
    }
    let facts = instance_facts(&db);
    let policy = settings.guard_policy_for(Some(&drill.source_id), &facts);
    let caller = Caller::Execution {
        drill_id: drill.drill_id.clone(),
        started_at: drill.started_at,
    };
    let failures = guards::check_all(&policy, &caller, &facts);
    if !failures.is_empty() {
        return Err(guard_error(identifier, &failures));
    }
    if delete_instance(client, identifier).await? {
        tracing::info!(%identifier, drill_id = %drill.drill_id, "temp instance deleted");
        outcome.deleted.push(identifier.to_owned());
    } else {
        outcome.already_gone.push(identifier.to_owned());
    }
    Ok(outcome)
}

/// Sweeps drill temp instances whose expires-at has passed, each through every guard. Instances
/// that carry neither the prefix nor the role tag are not looked at; look-alikes that fail a
/// guard are reported as refusals (and logged), not deleted; temps not yet expired are `not_due`.
pub async fn janitor(
    client: &Client,
    settings: &RdsSettings,
    now: DateTime<Utc>,
) -> Result<DeleteOutcome, RdsError> {
    let mut outcome = DeleteOutcome::default();
    let caller = Caller::Janitor { now };
    for db in list_instances(client).await? {
        let facts = instance_facts(&db);
        // An instance of a cluster is judged with its cluster (all or nothing), below.
        if !janitor::looks_like_temp(&settings.prefix, &facts)
            || db.db_instance_status() == Some("deleting")
            || db.db_cluster_identifier().is_some()
        {
            continue;
        }
        let policy = settings.guard_policy_for(None, &facts);
        match guards::verdict(guards::check_all(&policy, &caller, &facts)) {
            Verdict::NotDue => outcome.not_due.push(facts.identifier),
            Verdict::Refused(failures) => outcome
                .refused
                .extend(refusals(&facts.identifier, &failures)),
            Verdict::Allowed => {
                if delete_instance(client, &facts.identifier).await? {
                    tracing::info!(identifier = %facts.identifier, "janitor deleted expired temp instance");
                    outcome.deleted.push(facts.identifier);
                } else {
                    outcome.already_gone.push(facts.identifier);
                }
            }
        }
    }
    super::cluster_janitor(client, settings, now, &mut outcome).await?;
    Ok(outcome)
}
