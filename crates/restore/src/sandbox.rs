//! The sandbox actions of the restore binary (deployed as the sandbox function, infra/sandbox.tf):
//! `sandbox_create`, `sandbox_list`, `sandbox_connect`, `sandbox_diff` (see
//! [`drill_engine::sandbox::remote`]: `connect` makes the base copy before it hands out the
//! secret; `diff` compares the two on the instance). Every one first learns the caller from
//! STS ([`identity::verify_caller`]); the event names only the source, the TTL and a sandbox.
//! What is restored is the newest backup a drill run validated, of a configured source; the
//! maximum TTL, prefix and network are the deployment's. An RDS source's sandbox is an instance
//! ([`sbx`]); a backup-set source's is a database on its restore server ([`server`]).

use chrono::{DateTime, Utc};
use drill_core::deployment::DeploymentConfig;
use drill_core::diff::DiffPolicy;
use drill_core::events::ConnectionSpec;
use drill_core::events::{BackupKind, SnapshotSelector, SourceSpec};
use drill_core::sandbox::{self, SandboxRequest};
use drill_core::ErrorKind;
use drill_engine::lambda::sandbox_servers as servers;
use drill_engine::lambda::{parse_event, to_output, HandlerError};
use drill_engine::rds;
use drill_engine::sandbox::rds as sbx;
use drill_engine::sandbox::{
    identity, newest_validated_backup, remote, secret, server, SandboxSettings,
};
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
                    let (_, owner_id) = identity::verify_caller_with_id(
                        &deps.aws,
                        &settings.sts_endpoint,
                        &settings.sts_region,
                        caller,
                        &binding,
                    )
                    .await?;
                    let owner_id = owner_id.ok_or_else(|| {
                        HandlerError::new(
                            ErrorKind::GuardViolation,
                            "STS answered without the caller's UserId: the sandbox's secret could not be limited to its owner",
                        )
                    })?;
                    let new = DbSandboxAsk {
                        owner_id,
                        source: &source.source,
                        source_id,
                        store,
                        server,
                        owner,
                        expires_at: now + ttl,
                    };
                    return to_output(&create_on_server(deps, settings, new, now).await?);
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
            let mut all = sbx::list(&deps.rds, settings, &owner).await?;
            let config = deps.deployment(deps.config.config_url.as_deref()).await?;
            let plain = deps.config.allow_plaintext;
            for s in servers::connect_all(&config, plain, &deps.aws).await? {
                all.extend(server::list(&s.admin, &s.spec, &settings.prefix, &owner).await?);
            }
            to_output(&all)
        }
        SandboxRequest::SandboxConnect { identifier, caller } => {
            let owner = owner(caller).await?;
            let config = deps.deployment(deps.config.config_url.as_deref()).await?;
            if let Some((s, _)) = on_server(deps, settings, &config, identifier).await? {
                let mut info =
                    server::owned(&s.admin, &s.spec, &settings.prefix, &owner, identifier)
                        .await?
                        .ok_or_else(|| gone(identifier))?;
                let prefix = secret_prefix(settings)?;
                info.secret_arn = Some(
                    drill_core::sandboxdb::secret_name(prefix, identifier)
                        .map_err(|e| HandlerError::new(ErrorKind::InvalidInput, e))?,
                );
                return to_output(&info);
            }
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
            if let Some((s, _)) = on_server(deps, settings, &config, identifier).await? {
                server::owned(&s.admin, &s.spec, &settings.prefix, &owner, identifier)
                    .await?
                    .ok_or_else(|| gone(identifier))?;
                let base = server::base_of(&s.admin, identifier).await?;
                // The sandbox side is read as the sandbox's own role (its secret): whatever its
                // user defined there (policies, views, operators, settings) runs with that
                // role's rights, never the admin's.
                let name = drill_core::sandboxdb::secret_name(secret_prefix(settings)?, identifier)
                    .map_err(|e| HandlerError::new(ErrorKind::InvalidInput, e))?;
                let sm = drill_engine::aws::secrets_client(&deps.aws);
                let secret = drill_core::events::SecretRef::SecretsManager { secret_id: name };
                let creds = drill_engine::pg::resolve_secret(&secret, Some(&sm)).await?;
                if creds.username != *identifier {
                    return Err(HandlerError::new(
                        ErrorKind::GuardViolation,
                        format!("the secret of sandbox {identifier} names another user"),
                    ));
                }
                let b = s.admin.with_database(&base);
                let db = s.admin.with_database(identifier).with_credentials(&creds);
                let budget = settings.diff_budget;
                let out = remote::report(&b, &db, identifier, &policy, budget, &reports, now);
                return to_output(&out.await?);
            }
            let guards = settings.policy(rds_settings, &config);
            let info = sbx::owned(&deps.rds, &guards, &owner, identifier).await?;
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
            format!("source {source_id:?} is a backup set: its sandboxes are databases on its restore server, not instances"),
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

/// A backup-set sandbox to make (the source and its server from the deployment).
struct DbSandboxAsk<'a> {
    /// STS's UserId of the owner: the secret's `drill:owner-id`, which the sandbox users'
    /// policy compares with `aws:userid` (only the owner reads the secret).
    owner_id: String,
    source: &'a SourceSpec,
    source_id: &'a str,
    store: &'a str,
    server: &'a ConnectionSpec,
    owner: String,
    expires_at: DateTime<Utc>,
}

fn secret_prefix(settings: &SandboxSettings) -> Result<&str, HandlerError> {
    settings.secret_prefix.as_deref().ok_or_else(|| {
        HandlerError::new(
            ErrorKind::InvalidInput,
            "DRILL_SANDBOX_SECRET_PREFIX is not set: the sandbox function has nowhere to keep a backup-set sandbox's credentials",
        )
    })
}

fn gone(identifier: &str) -> HandlerError {
    HandlerError::new(
        ErrorKind::InvalidInput,
        format!("no sandbox {identifier} (`drill aws sandbox list` shows yours)"),
    )
}

/// The restore server holding backup-set sandbox `identifier`, if one does.
async fn on_server(
    deps: &Deps,
    settings: &SandboxSettings,
    config: &DeploymentConfig,
    identifier: &str,
) -> Result<Option<(servers::Server, drill_core::sandboxdb::SandboxMarker)>, HandlerError> {
    let plain = deps.config.allow_plaintext;
    servers::locate(config, &settings.prefix, identifier, plain, &deps.aws).await
}

/// The newest validated set of a backup-set source, restored into a sandbox database on the
/// source's restore server (as the nightly drill restores it there), owned by a login role of
/// its own whose credentials go to a Secrets Manager secret of the sandbox; the server's admin
/// secret stays in the function.
async fn create_on_server(
    deps: &Deps,
    settings: &SandboxSettings,
    ask: DbSandboxAsk<'_>,
    now: DateTime<Utc>,
) -> Result<drill_core::sandbox::SandboxInfo, HandlerError> {
    let secret_prefix = secret_prefix(settings)?;
    let reports_url = settings.reports_url.as_deref().ok_or_else(|| {
        HandlerError::new(ErrorKind::InvalidInput, "DRILL_REPORTS_URL is not set: the sandbox function cannot tell which backups were validated")
    })?;
    let reports = Store::open(reports_url, Some(&deps.s3))?;
    let backup = newest_validated_backup(&reports, ask.source_id).await?;
    // The run report is data: its set must lie in the store the deployment configures.
    drill_core::manifest::manifest_url_of(ask.source, &backup).map_err(|e| {
        HandlerError::new(
            ErrorKind::GuardViolation,
            format!("the newest validated backup of {:?}: {e}", ask.source_id),
        )
    })?;
    let store = Store::open(ask.store, Some(&deps.s3))?;
    let relative = backup.id[ask.store.trim_end_matches('/').len()..].trim_matches('/');
    if relative.split('/').any(|p| p == ".." || p == ".") {
        return Err(HandlerError::new(
            ErrorKind::GuardViolation,
            format!(
                "the newest validated backup of {:?} is not a plain path under its store: {}",
                ask.source_id, backup.id
            ),
        ));
    }
    let admin =
        drill_engine::lambda::database(ask.server, deps.config.allow_plaintext, None, &deps.aws)
            .await?;
    let new = server::NewDbSandbox {
        source_id: ask.source_id.to_owned(),
        prefix: settings.prefix.clone(),
        set: store.child(relative),
        owner: ask.owner.clone(),
        expires_at: ask.expires_at,
        jobs: 2,
    };
    let made = server::create(&admin, ask.server, &new, now).await?;
    let sm = drill_engine::aws::secrets_client(&deps.aws);
    let kms = deps.config.rds.secret_kms_key_id.as_deref();
    match secret::create(
        &sm,
        secret_prefix,
        &made.marker,
        &ask.owner_id,
        ask.server,
        &made.credentials,
        kms,
    )
    .await
    {
        Ok(arn) => Ok(drill_core::sandbox::SandboxInfo {
            secret_arn: Some(arn),
            ..made.info
        }),
        Err(e) => {
            let policy = server::drop_policy(&settings.prefix, &ask.owner, None, &admin, &[]);
            if let Err(drop) = server::drop_sandbox(&admin, &made.marker.database, &policy).await {
                tracing::error!(sandbox = %made.marker.database, error = %drop, "could not drop a sandbox whose secret failed");
            }
            Err(e.into())
        }
    }
}
