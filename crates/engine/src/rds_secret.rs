//! The RDS-managed master secret of a temp instance.
//!
//! `RestoreDBInstanceFromDBSnapshot` takes `ManageMasterUserPassword` for RDS for Oracle only
//! (API reference), so a restored PostgreSQL temp has no managed secret and nobody knows its
//! password. Once it is `available`, the drill turns the secret on with `ModifyDBInstance`
//! (`ManageMasterUserPassword`, `MasterUserSecretKmsKeyId` = the drill's key, `ApplyImmediately`):
//! RDS sets a fresh master password and keeps it in a secret it owns and deletes with the
//! instance. Nothing here sees the password; only the secret's ARN ever leaves RDS.

use drill_core::events::DrillContext;
use drill_core::guards::Caller;
use serde::Serialize;

use crate::rds::{self, Client, RdsError, RdsSettings};

/// What [`enable_managed_secret`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretRequest {
    pub identifier: String,
    /// True when this call asked RDS for the secret; false when the instance already has one
    /// or RDS is already busy turning it on.
    pub requested: bool,
    pub detail: String,
}

/// Turns on the RDS-managed master secret of this drill's temp `identifier`, behind the same
/// guards as the status call (prefix, role tag, owner, not protected). Idempotent: a temp that
/// already has a secret, or is already being modified, is left alone.
pub async fn enable_managed_secret(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    identifier: &str,
) -> Result<SecretRequest, RdsError> {
    let db = rds::describe_instance(client, identifier)
        .await?
        .ok_or_else(|| {
            RdsError::InvalidInput(format!(
                "temp instance {identifier:?} not found: cannot turn on its master secret"
            ))
        })?;
    let facts = rds::instance_facts(&db);
    let policy = settings.guard_policy_for(Some(&drill.source_id), &facts);
    let caller = Caller::Execution {
        drill_id: drill.drill_id.clone(),
        started_at: drill.started_at,
    };
    let failures = rds::read_guard_failures(&policy, &caller, &facts);
    if !failures.is_empty() {
        return Err(rds::guard_error(identifier, &failures));
    }
    if db
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .is_some()
    {
        return Ok(SecretRequest {
            identifier: identifier.to_owned(),
            requested: false,
            detail: "already has an RDS-managed master secret".into(),
        });
    }
    let result = client
        .modify_db_instance()
        .db_instance_identifier(identifier)
        .manage_master_user_password(true)
        .set_master_user_secret_kms_key_id(settings.secret_kms_key_id.clone())
        .apply_immediately(true)
        .send()
        .await;
    match result {
        Ok(_) => {
            tracing::info!(%identifier, "RDS-managed master secret requested");
            Ok(SecretRequest {
                identifier: identifier.to_owned(),
                requested: true,
                detail: "ModifyDBInstance ManageMasterUserPassword requested".into(),
            })
        }
        // A modification already under way (ours, retried): the wait loop sees it finish.
        Err(e) if rds::code_of(&e) == Some("InvalidDBInstanceState") => Ok(SecretRequest {
            identifier: identifier.to_owned(),
            requested: false,
            detail: "instance busy (a modification is under way)".into(),
        }),
        Err(e) => Err(rds::api_error("ModifyDBInstance", e)),
    }
}
