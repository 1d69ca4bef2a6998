//! The sandbox actions of the delete-temp binary (deployed as the sandbox delete function,
//! infra/sandbox.tf): `sandbox_delete` (the caller's own sandbox, the caller learnt from STS)
//! and `sandbox_janitor` (expired sandboxes, on the deployment's schedule). Both go through the
//! sandbox guards of `drill_core::guards::sandbox`; a refusal changes nothing.

use chrono::{DateTime, Utc};
use drill_core::sandbox::SandboxRequest;
use drill_core::ErrorKind;
use drill_engine::lambda::{parse_event, to_output, HandlerError};
use drill_engine::rds;
use drill_engine::sandbox::rds as sbx;
use drill_engine::sandbox::{identity, SandboxSettings};
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
            let out = sbx::delete(&deps.rds, &policy, &owner, &identifier).await?;
            to_output(&out)
        }
        SandboxRequest::SandboxJanitor { now } => {
            let now = crate::janitor_now(now, real_now)?;
            to_output(&sbx::janitor(&deps.rds, &policy, now).await?)
        }
        _ => Err(HandlerError::new(
            ErrorKind::InvalidInput,
            "sandbox_create, sandbox_list and sandbox_connect are actions of the sandbox function",
        )),
    }
}
