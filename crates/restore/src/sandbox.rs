//! The sandbox actions of the restore binary (deployed as the sandbox function, infra/sandbox.tf):
//! `sandbox_create`, `sandbox_list`, `sandbox_connect`, `sandbox_diff` (see
//! [`drill_engine::sandbox::remote`]: `connect` makes the base copy before it hands out the
//! secret; `diff` compares the two on the instance). Every one first learns the caller from
//! STS ([`identity::verify_caller`]); the event names only the source, the TTL and a sandbox.
//! What is restored is the newest backup a drill run validated, of a configured source; the
//! maximum TTL, prefix and network are the deployment's.

use chrono::{DateTime, Utc};
use drill_core::deployment::DeploymentConfig;
use drill_core::diff::DiffPolicy;
use drill_core::events::{BackupKind, SnapshotSelector, SourceSpec};
use drill_core::sandbox::{self, SandboxRequest};
use drill_core::ErrorKind;
use drill_engine::lambda::{parse_event, to_output, HandlerError};
use drill_engine::rds;
use drill_engine::sandbox::rds as sbx;
use drill_engine::sandbox::{identity, newest_validated_backup, remote, SandboxSettings};
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
    let binding = request.binding();
    let owner = |caller| {
        identity::verify_caller(
            &deps.aws,
            &settings.sts_endpoint,
            &settings.sts_region,
            caller,
            &binding,
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
            let (instance_identifier, database, parameter_group) = match &source.source {
                SourceSpec::RdsSnapshot {
                    instance_identifier,
                    database,
                    parameter_group,
                    ..
                } => (instance_identifier, database, parameter_group),
                SourceSpec::BackupSet { store, server, .. } => {
                    return Err(backup_set_refused(source_id, store, server))
                }
                SourceSpec::AuroraCluster { .. } => return Err(aurora_refused(source_id)),
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
            let mut info = sbx::connect(&deps.rds, &policy, key, &owner, identifier).await?;
            // The secret is handed out only once the base copy exists: nobody has changed the
            // sandbox before its base is taken.
            match remote::admin(&deps.aws, &settings.reach, &info).await? {
                None => info.secret_arn = None,
                Some(admin) => {
                    let database = database_of(&config, &info.source_id)?;
                    remote::ensure_base(&admin, identifier, &database).await?;
                }
            }
            to_output(&info)
        }
        SandboxRequest::SandboxDiff {
            identifier,
            max_changed_share,
            caller,
        } => {
            let owner = owner(caller).await?;
            let config = deps.deployment(deps.config.config_url.as_deref()).await?;
            let guards = settings.policy(rds_settings, &config);
            let info = sbx::owned(&deps.rds, &guards, &owner, identifier).await?;
            let policy = DiffPolicy::new(
                max_changed_share.unwrap_or(DiffPolicy::default().max_changed_share),
            )
            .map_err(|e| {
                HandlerError::new(ErrorKind::InvalidInput, format!("max_changed_share: {e}"))
            })?;
            let url = settings.diff_reports_url.as_deref().ok_or_else(|| {
                HandlerError::new(ErrorKind::InvalidInput, "DRILL_SANDBOX_REPORTS_URL is not set: the sandbox function has nowhere to write diff reports")
            })?;
            let reports = Store::open(url, Some(&deps.s3))?;
            let admin = remote::admin(&deps.aws, &settings.reach, &info)
                .await?
                .ok_or_else(|| {
                    HandlerError::new(
                        ErrorKind::CouldNotRun,
                        format!("sandbox {identifier} is {} without its secret yet: run `drill aws sandbox connect {identifier}` first", info.status),
                    )
                })?;
            let database = database_of(&config, &info.source_id)?;
            let out = remote::diff(
                &admin,
                identifier,
                &database,
                &policy,
                settings.diff_budget,
                &reports,
                now,
            )
            .await?;
            to_output(&out)
        }
        SandboxRequest::SandboxDelete { .. } | SandboxRequest::SandboxJanitor { .. } => {
            Err(HandlerError::new(
                ErrorKind::InvalidInput,
                "sandbox_delete and sandbox_janitor are actions of the sandbox delete function",
            ))
        }
    }
}

/// The database a sandbox of `source_id` holds: the deployment's, by the sandbox's source tag.
fn database_of(config: &DeploymentConfig, source_id: &str) -> Result<String, HandlerError> {
    match &config.source(source_id)?.source {
        SourceSpec::RdsSnapshot { database, .. } => Ok(database.clone()),
        SourceSpec::BackupSet { .. } => Err(HandlerError::new(
            ErrorKind::InvalidInput,
            format!("source {source_id:?} is a backup set: no AWS sandbox is made from it"),
        )),
        SourceSpec::AuroraCluster { .. } => Err(aurora_refused(source_id)),
    }
}

/// Sandboxes are RDS instances restored from an instance snapshot; an Aurora source's backups
/// are cluster snapshots, which this function has no rights to restore (infra/sandbox.tf).
fn aurora_refused(source_id: &str) -> HandlerError {
    HandlerError::new(
        ErrorKind::InvalidInput,
        format!(
            "source {source_id:?} is an Aurora cluster: sandboxes are made of RDS instance sources only"
        ),
    )
}

/// Why no AWS sandbox is made of a backup-set source. The nightly drill restores such a set into
/// a temp database on the source's restore server, reached with that server's admin secret; a
/// sandbox there would hand its user that admin secret (every database on the server), and the
/// deployment has no per-sandbox role nor secret to give instead. So it is refused, by name.
fn backup_set_refused(
    source_id: &str,
    store: &str,
    server: &drill_core::events::ConnectionSpec,
) -> HandlerError {
    HandlerError::new(
        ErrorKind::InvalidInput,
        format!(
            "source {source_id:?} is a backup set ({store}): the only place this deployment restores \
             it is the restore server {}:{}, through that server's admin secret, which a sandbox \
             user must not get; AWS sandboxes are made from RDS snapshots only. Make a local \
             sandbox of the same backup store with `drill sandbox create --config <file> --source {source_id}`",
            server.host, server.port
        ),
    )
}
