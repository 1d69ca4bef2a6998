//! The `validate` Lambda. Validates a restored database and writes the drill report.
//!
//! `main.rs` only serves [`handle`]; tests and the local Lambda host call [`handle`] in process.
//! The handler reaches AWS through [`ValidateAws`] ([`aws`]), so [`dispatch`] is unit-tested
//! with a fake. Its event is a [`ValidateEvent`] ([`event`]), tagged by `action`.
//!
//! It also carries the state machine's report step: `{"action": "report", ...}` writes the final
//! report of one source's drill (S3 history, CloudWatch metrics in Embedded Metric Format), and
//! `{"action": "summary", ...}` sums up the fleet and sends the alert when any source failed.
//!
//! The report is always written before the function answers. A backup that failed a check makes
//! the invocation fail with `Drill.BackupInvalid` (the state machine routes it to the alert and
//! cleanup path); a check that could not finish, or a server that could not be reached, fails
//! with `Drill.CouldNotRun`.

pub mod aws;
pub mod event;
#[cfg(test)]
mod tests;

pub use aws::ValidateAws;
pub use event::ValidateEvent;

use drill_core::checks::CheckConfig;
use drill_core::events::{BackupRef, ConnectionSpec, DrillContext, SourceSpec, ValidateRequest};
use drill_core::run_report::{ReportRequest, RunReport, Summary, SummaryRequest};
use drill_engine::lambda::{to_output, FromVars, FunctionEnv, HandlerError, Vars};
use serde_json::Value;

/// Typed configuration from the function's environment.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `DRILL_REPORTS_URL`: where final drill reports go (`s3://bucket/reports`); required by the
    /// report action.
    pub reports_url: Option<String>,
    /// `DRILL_ALERT_TOPIC_ARN`: SNS topic for failure alerts (summary action).
    pub alert_topic_arn: Option<String>,
    /// `DRILL_STACK`: the metrics' `Stack` dimension.
    pub stack: String,
    /// `DRILL_ALLOW_PLAINTEXT=true`: allow `tls = "disable"` (local stacks only).
    pub allow_plaintext: bool,
    /// `DRILL_CONFIG_URL`: the deployment configuration (checks, database of each source).
    pub config_url: Option<String>,
}

impl FromVars for Config {
    fn from_vars(var: Vars<'_>) -> Result<Self, HandlerError> {
        let some = |k: &str| var(k).filter(|v| !v.is_empty());
        let env = FunctionEnv::from_vars(var)?;
        Ok(Config {
            reports_url: some("DRILL_REPORTS_URL"),
            alert_topic_arn: some("DRILL_ALERT_TOPIC_ARN"),
            stack: some("DRILL_STACK").unwrap_or_else(|| "restore-drill".to_owned()),
            allow_plaintext: env.allow_plaintext,
            config_url: env.config_url,
        })
    }
}

/// Everything the handler needs, built once per cold start.
pub type Deps = drill_engine::lambda::Deps<Config>;

/// Handles one invocation with the SDK-backed [`Deps`].
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    dispatch(deps, &deps.config, payload).await
}

/// Handles one invocation. The payload is parsed here rather than by the runtime so that a bad
/// event surfaces as `Drill.InvalidInput` (never retried) instead of a generic runtime error.
pub async fn dispatch(
    aws: &impl ValidateAws,
    config: &Config,
    payload: Value,
) -> Result<Value, HandlerError> {
    match ValidateEvent::parse(payload)? {
        ValidateEvent::Validate(request) => validate_action(aws, config, request).await,
        ValidateEvent::Report(request) => report_action(aws, config, request).await,
        ValidateEvent::Summary(request) => summary_action(aws, config, request).await,
    }
}

/// The report step: the final report of one source's drill, to S3 and CloudWatch metrics.
async fn report_action(
    aws: &impl ValidateAws,
    config: &Config,
    request: ReportRequest,
) -> Result<Value, HandlerError> {
    let root = config.reports_url.as_deref().ok_or_else(|| {
        HandlerError::invalid_input("DRILL_REPORTS_URL is not configured for the report action")
    })?;
    let report = RunReport::assemble(&request, chrono::Utc::now());
    let body = serde_json::to_vec_pretty(&report)
        .map_err(|e| HandlerError::new(drill_core::ErrorKind::CouldNotRun, e.to_string()))?;
    let url = aws.put_report(root, &report.key(), body).await?;
    // Embedded Metric Format: CloudWatch Logs turns this stdout line into metrics.
    println!("{}", report.emf(&config.stack));
    tracing::info!(source = %report.source_id, drill = %report.drill_id, passed = report.passed,
        failed_step = ?report.failed_step, report = %url, "drill report written");
    Ok(report.outcome(&url))
}

/// The fleet summary: one alert naming every failed source.
async fn summary_action(
    aws: &impl ValidateAws,
    config: &Config,
    request: SummaryRequest,
) -> Result<Value, HandlerError> {
    let summary = Summary::of(&request);
    let mut alerted = false;
    if let (Some((subject, body)), Some(topic)) =
        (summary.alert(), config.alert_topic_arn.as_deref())
    {
        aws.publish_alert(topic, &subject, &body).await?;
        alerted = true;
    }
    let mut out = to_output(&summary)?;
    out["alerted"] = Value::Bool(alerted);
    Ok(out)
}

async fn validate_action(
    aws: &impl ValidateAws,
    config: &Config,
    request: ValidateRequest,
) -> Result<Value, HandlerError> {
    // Checks, history and the database come from the deployment, by source id.
    let deployment = aws.deployment().await?;
    let source = deployment.source(&request.drill.source_id)?;
    let target = deployment.check_connection(&request.drill, &request.target)?;
    let manifest = manifest_of(&source.source, &request.backup)?;
    let checks = match &source.checks {
        Some(text) => CheckConfig::from_toml(text)?,
        None => CheckConfig::default(),
    };
    let reports = config.reports_url.as_deref().ok_or_else(|| {
        HandlerError::invalid_input("DRILL_REPORTS_URL is not configured for validation")
    })?;
    let request = HistoryRequest {
        history: format!(
            "{}/{}",
            reports.trim_end_matches('/'),
            request.drill.source_id
        ),
        manifest,
        target,
        drill: request.drill,
        backup: request.backup,
    };
    aws.validate(&request, checks).await
}

/// What validation works with after the request was checked against the deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRequest {
    pub drill: DrillContext,
    /// The temp, as the deployment gives it to this drill.
    pub target: ConnectionSpec,
    pub backup: BackupRef,
    /// The backup set's manifest, for a backup-set source.
    pub manifest: Option<String>,
    /// Where this source's reports (and the night-over-night history) live.
    pub history: String,
}

/// The manifest a restored backup is validated against ([`drill_core::manifest::manifest_url_of`]).
fn manifest_of(source: &SourceSpec, backup: &BackupRef) -> Result<Option<String>, HandlerError> {
    drill_core::manifest::manifest_url_of(source, backup)
        .map_err(|e| HandlerError::new(drill_core::ErrorKind::GuardViolation, e.to_string()))
}
