//! The sandbox actions of the delete-temp binary (deployed as the sandbox delete function,
//! infra/sandbox.tf): `sandbox_delete` (the caller's own sandbox, the caller learnt from STS)
//! and `sandbox_janitor` (expired sandboxes, on the deployment's schedule). Both go through the
//! sandbox guards of `drill_core::guards::sandbox` (a backup-set sandbox's database, role and
//! secret through those of `drill_core::sandboxdb`); a refusal changes nothing.

use chrono::{DateTime, Utc};
use drill_core::events::DeleteOutcome;
use drill_core::sandbox::SandboxRequest;
use drill_core::sandboxdb::SandboxDropPolicy;
use drill_core::ErrorKind;
use drill_engine::lambda::sandbox_servers::{self as servers, Server};
use drill_engine::lambda::{parse_event, to_output, HandlerError};
use drill_engine::rds;
use drill_engine::sandbox::rds as sbx;
use drill_engine::sandbox::{identity, secret, server, SandboxSettings};
use serde_json::Value;

use crate::Deps;

/// Whether this invocation is the sandbox handler's (see the restore binary's twin).
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
    real_now: DateTime<Utc>,
) -> Result<Value, HandlerError> {
    let request: SandboxRequest = parse_event(payload)?;
    let binding = request.binding();
    let config = deps.deployment(deps.config.config_url.as_deref()).await?;
    let policy = settings.policy(&deps.config.rds, &config);
    match request {
        SandboxRequest::SandboxDelete { identifier, caller } => {
            let owner = identity::verify_caller(
                &deps.aws,
                &settings.sts_endpoint,
                &settings.sts_region,
                &caller,
                &binding,
            )
            .await?;
            let plain = deps.config.allow_plaintext;
            let found =
                servers::locate(&config, &settings.prefix, &identifier, plain, &deps.aws).await?;
            if let Some((s, _)) = found {
                let protected = &deps.config.rds.protected;
                let guards =
                    server::drop_policy(&settings.prefix, &owner, None, &s.admin, protected);
                return to_output(&drop_on_server(deps, settings, &s, &identifier, &guards).await?);
            }
            let out = sbx::delete(&deps.rds, &policy, &owner, &identifier).await?;
            to_output(&out)
        }
        SandboxRequest::SandboxJanitor { now } => {
            let now = crate::janitor_now(now, real_now)?;
            let mut out = sbx::janitor(&deps.rds, &policy, now).await?;
            let plain = deps.config.allow_plaintext;
            for s in servers::connect_all(&config, plain, &deps.aws).await? {
                for m in server::markers(&s.admin, &settings.prefix).await? {
                    if m.expires_at > now {
                        out.not_due.push(m.database);
                        continue;
                    }
                    let protected = &deps.config.rds.protected;
                    let guards = server::drop_policy(
                        &settings.prefix,
                        &m.owner,
                        Some(now),
                        &s.admin,
                        protected,
                    );
                    match drop_on_server(deps, settings, &s, &m.database, &guards).await {
                        Ok(o) => out.deleted.extend(o.deleted),
                        Err(e) => {
                            tracing::error!(sandbox = %m.database, error = %e, "janitor could not drop an expired sandbox");
                            out.refused.push(drill_core::events::Refusal {
                                identifier: m.database.clone(),
                                guard: "janitor".into(),
                                reason: e.to_string(),
                            });
                        }
                    }
                }
            }
            to_output(&out)
        }
        _ => Err(HandlerError::new(
            ErrorKind::InvalidInput,
            "sandbox_create, sandbox_list and sandbox_connect are actions of the sandbox function",
        )),
    }
}

/// Drops a backup-set sandbox (base, database, role) and then its secret, each behind the guards.
async fn drop_on_server(
    deps: &Deps,
    settings: &SandboxSettings,
    s: &Server,
    identifier: &str,
    guards: &SandboxDropPolicy,
) -> Result<DeleteOutcome, HandlerError> {
    let mut out = DeleteOutcome {
        deleted: server::drop_sandbox(&s.admin, identifier, guards).await?,
        ..Default::default()
    };
    let prefix = settings.secret_prefix.as_deref().ok_or_else(|| {
        HandlerError::new(
            ErrorKind::InvalidInput,
            "DRILL_SANDBOX_SECRET_PREFIX is not set: the sandbox's secret cannot be found",
        )
    })?;
    let sm = drill_engine::aws::secrets_client(&deps.aws);
    if secret::delete(&sm, prefix, identifier, guards).await? {
        out.deleted.push(format!("secret {prefix}{identifier}"));
    }
    tracing::info!(sandbox = %identifier, deleted = ?out.deleted, "backup-set sandbox deleted");
    Ok(out)
}
