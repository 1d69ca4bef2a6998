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
mod units;

pub use aws::ValidateAws;
pub use event::ValidateEvent;

use drill_core::checks::deadline::Deadline;
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
    /// `DRILL_RDS_PG_OVERRIDE=127.0.0.1:PORT`: connect there instead (local stacks only).
    pub pg_override: Option<drill_core::pg_override::PgOverride>,
    /// `DRILL_CONFIG_URL`: the deployment configuration (checks, database of each source).
    pub config_url: Option<String>,
    /// How `plan_validation` sizes work units (`DRILL_UNIT_THROUGHPUT_MIBPS`,
    /// `DRILL_UNIT_INVOCATION_SECONDS`, `DRILL_UNIT_FILL_PERCENT`, as for the export).
    pub planner: drill_core::units::PlannerSettings,
    /// `DRILL_VALIDATE_CHUNK_MB` (default 64): heap MiB per page range of a big table.
    pub chunk_mb: u64,
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
            pg_override: env.pg_override,
            config_url: env.config_url,
            planner: drill_engine::lambda::planner_settings(var)?,
            chunk_mb: drill_engine::lambda::env_number(
                var,
                "DRILL_VALIDATE_CHUNK_MB",
                64,
                1 << 20,
            )?,
        })
    }
}

/// Everything the handler needs, built once per cold start.
pub type Deps = drill_engine::lambda::Deps<Config>;

/// Handles one invocation with the SDK-backed [`Deps`].
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    dispatch(deps, &deps.config, payload).await
}

/// [`handle`] inside an invocation ending at `deadline_ms` (Lambda's `Context.deadline`,
/// milliseconds since the epoch): no statement of a check outlives it, the report margin aside.
pub async fn handle_until(
    deps: &Deps,
    payload: Value,
    deadline_ms: u64,
) -> Result<Value, HandlerError> {
    dispatch_until(deps, &deps.config, payload, Some(Deadline::at(deadline_ms))).await
}

/// Handles one invocation. The payload is parsed here rather than by the runtime so that a bad
/// event surfaces as `Drill.InvalidInput` (never retried) instead of a generic runtime error.
pub async fn dispatch(
    aws: &impl ValidateAws,
    config: &Config,
    payload: Value,
) -> Result<Value, HandlerError> {
    dispatch_until(aws, config, payload, None).await
}

/// [`dispatch`] with the invocation's deadline (`None`: the configured timeouts alone).
pub async fn dispatch_until(
    aws: &impl ValidateAws,
    config: &Config,
    payload: Value,
    deadline: Option<Deadline>,
) -> Result<Value, HandlerError> {
    match ValidateEvent::parse(payload)? {
        ValidateEvent::Validate(request) => validate_action(aws, config, request, deadline).await,
        ValidateEvent::Report(request) => report_action(aws, config, request).await,
        ValidateEvent::Summary(request) => summary_action(aws, config, request).await,
        ValidateEvent::PlanValidation(request) => {
            units::unit_action(aws, config, request, units::Step::Plan, deadline).await
        }
        ValidateEvent::ValidateUnit(request) => {
            units::unit_action(aws, config, request, units::Step::Unit, deadline).await
        }
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
    deadline: Option<Deadline>,
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
    let request = HistoryRequest {
        history: history_url(config, &request.drill.source_id)?,
        manifest,
        target,
        drill: request.drill,
        backup: request.backup,
        deadline,
        units: request.units,
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
    /// When the invocation ends (`None` outside Lambda).
    pub deadline: Option<Deadline>,
    /// The heavy checks ran per work unit: sum their results.
    pub units: bool,
}

/// The manifest a restored backup is validated against ([`drill_core::manifest::manifest_url_of`]).
fn manifest_of(source: &SourceSpec, backup: &BackupRef) -> Result<Option<String>, HandlerError> {
    drill_core::manifest::manifest_url_of(source, backup)
        .map_err(|e| HandlerError::new(drill_core::ErrorKind::GuardViolation, e.to_string()))
}

/// This source's history store (reports, night-over-night baseline, validation units).
fn history_url(config: &Config, source_id: &str) -> Result<String, HandlerError> {
    let reports = config.reports_url.as_deref().ok_or_else(|| {
        HandlerError::invalid_input("DRILL_REPORTS_URL is not configured for validation")
    })?;
    Ok(format!("{}/{source_id}", reports.trim_end_matches('/')))
}
