//! The `validate` Lambda. Validates a restored database and writes the drill report.
//!
//! `main.rs` only builds [`Deps`] once and hands every invocation to [`handle`]; tests and the
//! local Lambda host call [`handle`] in process.
//!
//! The report is always written before the function answers. A backup that failed a check makes
//! the invocation fail with `Drill.BackupInvalid` (the state machine routes it to the alert and
//! cleanup path); a check that could not finish, or a server that could not be reached, fails
//! with `Drill.CouldNotRun`.

use drill_core::checks::CheckConfig;
use drill_core::events::ValidateRequest;
use drill_engine::lambda::{parse_event, HandlerError};
use drill_engine::pg::{resolve_secret, ConnectOptions};
use drill_engine::store::Store;
use drill_engine::validate::{load_fingerprint, validate, Target, ValidateInput};
use serde_json::Value;

/// Typed configuration from the function's environment.
#[derive(Debug, Clone)]
pub struct Config {}

impl Config {
    pub fn from_env() -> Result<Self, HandlerError> {
        Ok(Config {})
    }
}

/// Everything a handler needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Deps {
    pub config: Config,
    pub aws: aws_config::SdkConfig,
}

impl Deps {
    pub async fn from_env() -> Result<Self, HandlerError> {
        Ok(Deps {
            config: Config::from_env()?,
            aws: drill_engine::aws::load_config().await,
        })
    }
}

/// Handles one invocation. The payload is parsed here rather than by the runtime so that a bad
/// event surfaces as `Drill.InvalidInput` (never retried) instead of a generic runtime error.
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    let request: ValidateRequest = parse_event(payload)?;
    let config = match &request.checks {
        Some(text) => CheckConfig::from_toml(text)?,
        None => CheckConfig::default(),
    };
    let s3 = drill_engine::aws::s3_client(&deps.aws);
    let history = Store::open(&request.history, Some(&s3))?;
    let manifest = match &request.manifest {
        Some(url) => Some(load_fingerprint(url, Some(&s3)).await?),
        None => None,
    };
    let secrets = drill_engine::aws::secrets_client(&deps.aws);
    let credentials = resolve_secret(&request.target.secret, Some(&secrets)).await?;
    let target = Target::Spec(request.target.clone(), credentials);
    let input = ValidateInput {
        source_id: request.drill.source_id.clone(),
        drill_id: request.drill.drill_id.clone(),
        drill_started_at: request.drill.started_at,
        backup: Some(request.backup.clone()),
        config,
        manifest,
        history: Some(history),
        connect: ConnectOptions::default(),
    };
    let validated = validate(&target, input).await?;
    let url = validated.report_url.unwrap_or_default();
    let report = &validated.report;
    tracing::info!(
        source = %report.source_id,
        drill = %report.drill_id,
        outcome = ?report.outcome,
        report = %url,
        "validation finished"
    );
    if let Some(kind) = report.outcome.error_kind() {
        return Err(HandlerError::new(
            kind,
            format!(
                "validation of {} did not pass: {} (report: {url})",
                report.target,
                report.problem_line()
            ),
        ));
    }
    serde_json::to_value(report.summary(url))
        .map_err(|e| HandlerError::new(drill_core::ErrorKind::CouldNotRun, e.to_string()))
}
