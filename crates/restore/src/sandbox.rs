//! The sandbox actions of the restore binary (deployed as the sandbox function, infra/sandbox.tf):
//! `sandbox_create`, `sandbox_list`, `sandbox_connect`. Every one first learns the caller from
//! STS ([`identity::verify_caller`]); the event names only the source, the TTL and a sandbox.
//! What is restored is the newest backup a drill run validated, of a configured source; the
//! maximum TTL, prefix and network are the deployment's.

use chrono::{DateTime, Utc};
use drill_core::events::{BackupKind, SnapshotSelector, SourceSpec};
use drill_core::sandbox::{self, SandboxRequest};
use drill_core::ErrorKind;
use drill_engine::lambda::{parse_event, to_output, HandlerError};
use drill_engine::rds;
use drill_engine::sandbox::rds as sbx;
use drill_engine::sandbox::{identity, newest_validated_backup, SandboxSettings};
use drill_engine::store::Store;
use serde_json::Value;

use crate::Deps;

/// Whether this invocation is the sandbox handler's: a sandbox action, or any action on a
/// function deployed as sandbox-only (which then refuses what is not a sandbox action).
pub fn routes(payload: &Value) -> bool {
    SandboxRequest::is_sandbox_action(payload)
        || std::env::var("DRILL_SANDBOX_ONLY").as_deref() == Ok("true")
}

/// Handles a sandbox action with the settings of the function's environment.
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    let settings = SandboxSettings::from_env()?;
    dispatch(deps, &settings, payload, rds::utc_now()).await
}

pub async fn dispatch(
    deps: &Deps,
    settings: &SandboxSettings,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let request: SandboxRequest = parse_event(payload)?;
    let owner = |caller| {
        identity::verify_caller(
            &deps.aws,
            &settings.sts_endpoint,
            &settings.sts_region,
            caller,
        )
    };
    let rds_settings = &deps.config.rds;
    match &request {
        SandboxRequest::SandboxCreate {
            source_id,
            ttl_hours,
            caller,
        } => {
            let owner = owner(caller).await?;
            let ttl = sandbox::ttl(*ttl_hours, settings.max_ttl_hours)?;
            let config = deps.deployment(deps.config.config_url.as_deref()).await?;
            let source = config.source(source_id)?;
            let SourceSpec::RdsSnapshot {
                instance_identifier,
                database,
                parameter_group,
                ..
            } = &source.source
            else {
                return Err(HandlerError::new(
                    ErrorKind::InvalidInput,
                    format!("source {source_id:?} is a backup set: AWS sandboxes are made from RDS snapshots only (use `drill sandbox create` locally)"),
                ));
            };
            let reports_url = settings.reports_url.as_deref().ok_or_else(|| {
                HandlerError::new(ErrorKind::InvalidInput, "DRILL_REPORTS_URL is not set: the sandbox function cannot tell which backups were validated")
            })?;
            let reports = Store::open(reports_url, Some(&deps.s3))?;
            let backup = newest_validated_backup(&reports, source_id).await?;
            if backup.kind != BackupKind::RdsSnapshot {
                return Err(HandlerError::new(
                    ErrorKind::InvalidInput,
                    format!("the newest validated backup of {source_id:?} is not an RDS snapshot"),
                ));
            }
            // Described again: it must still be an available snapshot of this source's instance.
            let snap = rds::choose_snapshot(
                &deps.rds,
                instance_identifier,
                &SnapshotSelector::Id { id: backup.id },
                None,
                now,
            )
            .await?;
            let new = sbx::NewSandbox {
                source_id: source_id.clone(),
                snapshot: snap.arn.clone().unwrap_or(snap.id),
                database: database.clone(),
                parameter_group: parameter_group.clone(),
                owner,
                ttl,
            };
            to_output(&sbx::create(&deps.rds, rds_settings, settings, &new, now).await?)
        }
        SandboxRequest::SandboxList { caller } => {
            let owner = owner(caller).await?;
            to_output(&sbx::list(&deps.rds, settings, &owner).await?)
        }
        SandboxRequest::SandboxConnect { identifier, caller } => {
            let owner = owner(caller).await?;
            let config = deps.deployment(deps.config.config_url.as_deref()).await?;
            let policy = settings.policy(rds_settings, &config);
            let key = rds_settings.secret_kms_key_id.clone();
            to_output(&sbx::connect(&deps.rds, &policy, key, &owner, identifier).await?)
        }
        SandboxRequest::SandboxDelete { .. } | SandboxRequest::SandboxJanitor { .. } => {
            Err(HandlerError::new(
                ErrorKind::InvalidInput,
                "sandbox_delete and sandbox_janitor are actions of the sandbox delete function",
            ))
        }
    }
}
