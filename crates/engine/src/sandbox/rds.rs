//! The RDS side of sandboxes: restore one (isolated like the drill's temps), list the caller's,
//! turn on a sandbox's managed secret, delete one, sweep the expired. Every call that touches an
//! existing instance is preceded by a fresh describe and the sandbox guards; a refusal makes no
//! call.

use aws_sdk_rds::types::{DbInstance, Tag};
use chrono::{DateTime, Duration, Utc};
use drill_core::events::{DeleteOutcome, Refusal};
use drill_core::guards::sandbox::{
    check_sandbox, looks_like_sandbox, SandboxCaller, SandboxPolicy,
};
use drill_core::guards::{self, tag, GuardFailure, Verdict};
use drill_core::sandbox::{self, SandboxInfo, OWNER};

use super::SandboxSettings;
use crate::rds::{self, api_error, guard_error, Client, RdsError, RdsSettings};

/// What to restore as a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSandbox {
    pub source_id: String,
    /// The validated snapshot (identifier or ARN).
    pub snapshot: String,
    pub database: String,
    pub parameter_group: Option<String>,
    pub owner: String,
    pub ttl: Duration,
}

fn info(db: &DbInstance) -> SandboxInfo {
    let facts = rds::instance_facts(db);
    let get = |k: &str| facts.tags.get(k).cloned().unwrap_or_default();
    SandboxInfo {
        identifier: facts.identifier.clone(),
        source_id: get(tag::SOURCE),
        owner: get(OWNER),
        expires_at: guards::expires_at(&facts.tags),
        status: db.db_instance_status().unwrap_or("unknown").to_owned(),
        restored_from: get(tag::RESTORED_FROM),
        endpoint: db.endpoint().and_then(|e| e.address()).map(str::to_owned),
        port: db.endpoint().and_then(|e| e.port()),
        database: db.db_name().map(str::to_owned),
        secret_arn: db
            .master_user_secret()
            .and_then(|s| s.secret_arn())
            .map(str::to_owned),
    }
}

/// Restores `new.snapshot` into a new sandbox instance: the drill's subnet group and security
/// groups, not public, no backups, no deletion protection, tagged with role, owner and expiry.
pub async fn create(
    client: &Client,
    rds_settings: &RdsSettings,
    settings: &SandboxSettings,
    new: &NewSandbox,
    now: DateTime<Utc>,
) -> Result<SandboxInfo, RdsError> {
    let invalid = |m: &str| RdsError::InvalidInput(m.to_owned());
    let subnet_group = rds_settings.subnet_group.clone().ok_or_else(|| {
        invalid(
            "DRILL_SUBNET_GROUP is not set: a sandbox must go into the drill's own subnet group",
        )
    })?;
    if rds_settings.security_groups.is_empty() {
        return Err(invalid(
            "DRILL_SECURITY_GROUPS is not set: a sandbox must use the drill's own security group",
        ));
    }
    let class = rds_settings
        .instance_classes
        .first()
        .ok_or_else(|| invalid("no instance class configured (DRILL_INSTANCE_CLASS)"))?;
    let identifier = sandbox::identifier(&settings.prefix, &new.source_id, &new.owner, now);
    let expires_at = now + new.ttl;
    let tags: Vec<Tag> = sandbox::tags(&new.owner, &new.source_id, expires_at, &new.snapshot)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let call = client
        .restore_db_instance_from_db_snapshot()
        .db_instance_identifier(&identifier)
        .db_snapshot_identifier(&new.snapshot);
    let out = crate::rds::isolated_instance!(
        call,
        class: class,
        subnet_group: &subnet_group,
        security_groups: rds_settings.security_groups.clone(),
        parameter_group: new.parameter_group.clone(),
        tags: tags,
    )
    .send()
    .await
    .map_err(|e| api_error("RestoreDBInstanceFromDBSnapshot", e))?;
    tracing::info!(%identifier, snapshot = %new.snapshot, owner = %new.owner, "sandbox restore started");
    let mut made = out.db_instance().map(info).unwrap_or(SandboxInfo {
        identifier: identifier.clone(),
        source_id: new.source_id.clone(),
        owner: new.owner.clone(),
        expires_at: None,
        status: "creating".into(),
        restored_from: new.snapshot.clone(),
        endpoint: None,
        port: None,
        database: None,
        secret_arn: None,
    });
    made.expires_at = Some(expires_at);
    made.database = Some(new.database.clone());
    Ok(made)
}

/// The caller's own sandboxes (anything with the sandbox prefix or role, owned by `owner`).
pub async fn list(
    client: &Client,
    settings: &SandboxSettings,
    owner: &str,
) -> Result<Vec<SandboxInfo>, RdsError> {
    let mut out = Vec::new();
    for db in rds::list_instances(client).await? {
        let facts = rds::instance_facts(&db);
        if looks_like_sandbox(&settings.prefix, &facts)
            && facts.tags.get(OWNER).map(String::as_str) == Some(owner)
        {
            out.push(info(&db));
        }
    }
    out.sort_by(|a, b| a.identifier.cmp(&b.identifier));
    Ok(out)
}

/// The instance `identifier` after every sandbox guard for `caller`; `None` when it is gone.
async fn guarded(
    client: &Client,
    policy: &SandboxPolicy,
    caller: &SandboxCaller,
    identifier: &str,
) -> Result<Option<DbInstance>, RdsError> {
    let Some(db) = rds::describe_instance(client, identifier).await? else {
        return Ok(None);
    };
    let failures = check_sandbox(policy, caller, &rds::instance_facts(&db));
    if failures.is_empty() {
        Ok(Some(db))
    } else {
        Err(guard_error(identifier, &failures))
    }
}

/// The caller's own sandbox `identifier`, after every sandbox guard (what `sandbox_diff` reads).
pub async fn owned(
    client: &Client,
    policy: &SandboxPolicy,
    owner: &str,
    identifier: &str,
) -> Result<SandboxInfo, RdsError> {
    let caller = SandboxCaller::Owner {
        principal: owner.to_owned(),
    };
    let db = guarded(client, policy, &caller, identifier)
        .await?
        .ok_or_else(|| RdsError::InvalidInput(format!("no sandbox {identifier:?}")))?;
    Ok(info(&db))
}

/// Where the caller's sandbox is and its secret's ARN; once it is available without a secret,
/// turns on its RDS-managed master secret (no password passes through the drill).
pub async fn connect(
    client: &Client,
    policy: &SandboxPolicy,
    secret_kms_key_id: Option<String>,
    owner: &str,
    identifier: &str,
) -> Result<SandboxInfo, RdsError> {
    let mut found = owned(client, policy, owner, identifier).await?;
    if found.status == "available" && found.secret_arn.is_none() {
        client
            .modify_db_instance()
            .db_instance_identifier(identifier)
            .manage_master_user_password(true)
            .set_master_user_secret_kms_key_id(secret_kms_key_id)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| api_error("ModifyDBInstance", e))?;
        tracing::info!(%identifier, "sandbox master secret requested");
        if let Some(db) = rds::describe_instance(client, identifier).await? {
            found = info(&db);
        }
    }
    Ok(found)
}

/// Deletes the caller's own sandbox behind every sandbox guard. Gone is success.
pub async fn delete(
    client: &Client,
    policy: &SandboxPolicy,
    owner: &str,
    identifier: &str,
) -> Result<DeleteOutcome, RdsError> {
    let caller = SandboxCaller::Owner {
        principal: owner.to_owned(),
    };
    let mut outcome = DeleteOutcome::default();
    match guarded(client, policy, &caller, identifier).await? {
        Some(db) if db.db_instance_status() != Some("deleting") => {
            if rds::delete_instance(client, identifier).await? {
                tracing::info!(%identifier, %owner, "sandbox deleted");
                outcome.deleted.push(identifier.to_owned());
            } else {
                outcome.already_gone.push(identifier.to_owned());
            }
        }
        _ => outcome.already_gone.push(identifier.to_owned()),
    }
    Ok(outcome)
}

fn refusals(identifier: &str, failures: &[GuardFailure]) -> Vec<Refusal> {
    failures
        .iter()
        .map(|f| {
            tracing::error!(%identifier, guard = %f.guard, reason = %f.reason, "sandbox guard refused");
            f.to_refusal(identifier)
        })
        .collect()
}

/// Sweeps sandboxes whose expiry has passed, each through every sandbox guard; look-alikes are
/// reported as refusals, sandboxes not yet expired as not due.
pub async fn janitor(
    client: &Client,
    policy: &SandboxPolicy,
    now: DateTime<Utc>,
) -> Result<DeleteOutcome, RdsError> {
    let mut outcome = DeleteOutcome::default();
    let caller = SandboxCaller::Janitor { now };
    for db in rds::list_instances(client).await? {
        let facts = rds::instance_facts(&db);
        if !looks_like_sandbox(&policy.base.prefix, &facts)
            || db.db_instance_status() == Some("deleting")
        {
            continue;
        }
        match guards::verdict(check_sandbox(policy, &caller, &facts)) {
            Verdict::NotDue => outcome.not_due.push(facts.identifier),
            Verdict::Refused(f) => outcome.refused.extend(refusals(&facts.identifier, &f)),
            Verdict::Allowed => {
                if rds::delete_instance(client, &facts.identifier).await? {
                    tracing::info!(identifier = %facts.identifier, "janitor deleted expired sandbox");
                    outcome.deleted.push(facts.identifier);
                } else {
                    outcome.already_gone.push(facts.identifier);
                }
            }
        }
    }
    Ok(outcome)
}
