//! The `validate` Lambda. Validates a restored database and writes the drill report.
//!
//! `main.rs` only builds [`Deps`] once and hands every invocation to [`handle`]; tests and the
//! local Lambda host call [`handle`] in process.
//!
//! It also carries the state machine's report step: `{"action": "report", ...}` writes the final
//! report of one source's drill (S3 history, CloudWatch metrics in Embedded Metric Format), and
//! `{"action": "summary", ...}` sums up the fleet and sends the alert when any source failed.
//!
//! The report is always written before the function answers. A backup that failed a check makes
//! the invocation fail with `Drill.BackupInvalid` (the state machine routes it to the alert and
//! cleanup path); a check that could not finish, or a server that could not be reached, fails
//! with `Drill.CouldNotRun`.

use drill_core::checks::CheckConfig;
use drill_core::events::{SourceSpec, ValidateRequest};
use drill_core::run_report::{ReportRequest, RunReport, Summary, SummaryRequest};
use drill_engine::lambda::{parse_event, HandlerError};
use drill_engine::pg::{resolve_secret, Database};
use drill_engine::store::Store;
use drill_engine::validate::{load_fingerprint, validate, ValidateInput};
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

impl Config {
    /// Reads the configuration through `var`: the process environment in Lambda, the function's
    /// configured environment in the local Lambda host.
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<Self, HandlerError> {
        let some = |k: &str| var(k).filter(|v| !v.is_empty());
        Ok(Config {
            reports_url: some("DRILL_REPORTS_URL"),
            alert_topic_arn: some("DRILL_ALERT_TOPIC_ARN"),
            stack: some("DRILL_STACK").unwrap_or_else(|| "restore-drill".to_owned()),
            allow_plaintext: drill_engine::lambda::allow_plaintext(var),
            config_url: var(drill_engine::deployment::CONFIG_URL_VAR),
        })
    }

    pub fn from_env() -> Result<Self, HandlerError> {
        Self::from_vars(&|k| std::env::var(k).ok())
    }
}

/// Everything a handler needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Deps {
    pub config: Config,
    pub aws: aws_config::SdkConfig,
}

impl Deps {
    pub fn new(config: Config, aws: aws_config::SdkConfig) -> Self {
        Deps { config, aws }
    }

    pub async fn from_env() -> Result<Self, HandlerError> {
        Ok(Deps::new(
            Config::from_env()?,
            drill_engine::aws::load_config().await,
        ))
    }
}

fn internal(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::new(drill_core::ErrorKind::CouldNotRun, e.to_string())
}

/// Handles one invocation. The payload is parsed here rather than by the runtime so that a bad
/// event surfaces as `Drill.InvalidInput` (never retried) instead of a generic runtime error.
pub async fn handle(deps: &Deps, mut payload: Value) -> Result<Value, HandlerError> {
    let action = payload
        .as_object_mut()
        .and_then(|o| o.remove("action"))
        .and_then(|a| a.as_str().map(str::to_owned));
    match action.as_deref() {
        None | Some("validate") => validate_action(deps, payload).await,
        Some("report") => report_action(deps, parse_event(payload)?).await,
        Some("summary") => summary_action(deps, parse_event(payload)?).await,
        Some(other) => Err(HandlerError::invalid_input(format!(
            "unknown action {other:?} (expected validate, report or summary)"
        ))),
    }
}

/// The report step: the final report of one source's drill, to S3 and CloudWatch metrics.
async fn report_action(deps: &Deps, request: ReportRequest) -> Result<Value, HandlerError> {
    let root = deps.config.reports_url.as_deref().ok_or_else(|| {
        HandlerError::invalid_input("DRILL_REPORTS_URL is not configured for the report action")
    })?;
    let report = RunReport::assemble(&request, chrono::Utc::now());
    let s3 = drill_engine::aws::s3_client(&deps.aws);
    let store = Store::open(root, Some(&s3))?;
    let body = serde_json::to_vec_pretty(&report).map_err(internal)?;
    store
        .put(&report.key(), bytes::Bytes::from(body), None)
        .await?;
    let url = store.url_of(&report.key());
    // Embedded Metric Format: CloudWatch Logs turns this stdout line into metrics.
    println!("{}", report.emf(&deps.config.stack));
    tracing::info!(source = %report.source_id, drill = %report.drill_id, passed = report.passed,
        failed_step = ?report.failed_step, report = %url, "drill report written");
    Ok(report.outcome(&url))
}

/// The fleet summary: one alert naming every failed source.
async fn summary_action(deps: &Deps, request: SummaryRequest) -> Result<Value, HandlerError> {
    let summary = Summary::of(&request);
    let mut alerted = false;
    if let (Some((subject, body)), Some(topic)) =
        (summary.alert(), deps.config.alert_topic_arn.as_deref())
    {
        let sns = aws_sdk_sns::Client::new(&deps.aws);
        sns.publish()
            .topic_arn(topic)
            .subject(subject)
            .message(body)
            .send()
            .await
            .map_err(|e| {
                HandlerError::new(
                    drill_core::ErrorKind::Transient,
                    format!(
                        "publishing the alert to {topic}: {}",
                        aws_smithy_types::error::display::DisplayErrorContext(&e)
                    ),
                )
            })?;
        alerted = true;
    }
    let mut out = serde_json::to_value(&summary).map_err(internal)?;
    out["alerted"] = Value::Bool(alerted);
    Ok(out)
}

async fn validate_action(deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    let request: ValidateRequest = parse_event(payload)?;
    let s3 = drill_engine::aws::s3_client(&deps.aws);
    // Checks, history and the database come from the deployment, by source id.
    let deployment =
        drill_engine::deployment::load(deps.config.config_url.as_deref(), Some(&s3)).await?;
    let source = deployment.source(&request.drill.source_id)?;
    let target_spec = deployment.check_connection(&request.drill, &request.target)?;
    let manifest_url = manifest_of(&source.source, &request.backup)?;
    let config = match &source.checks {
        Some(text) => CheckConfig::from_toml(text)?,
        None => CheckConfig::default(),
    };
    let reports = deps.config.reports_url.as_deref().ok_or_else(|| {
        HandlerError::invalid_input("DRILL_REPORTS_URL is not configured for validation")
    })?;
    let request = HistoryRequest {
        history: format!(
            "{}/{}",
            reports.trim_end_matches('/'),
            request.drill.source_id
        ),
        manifest: manifest_url,
        target: target_spec,
        drill: request.drill,
        backup: request.backup,
    };
    let history = Store::open(&request.history, Some(&s3))?;
    let manifest = match &request.manifest {
        Some(url) => Some(load_fingerprint(url, Some(&s3)).await?),
        None => None,
    };
    let secrets = drill_engine::aws::secrets_client(&deps.aws);
    drill_engine::lambda::require_tls(&request.target, deps.config.allow_plaintext)?;
    let credentials = resolve_secret(&request.target.secret, Some(&secrets)).await?;
    let target = Database::from_spec(&request.target, &credentials);
    let input = ValidateInput {
        source_id: request.drill.source_id.clone(),
        drill_id: request.drill.drill_id.clone(),
        drill_started_at: request.drill.started_at,
        backup: Some(request.backup.clone()),
        config,
        manifest,
        history: Some(history),
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

/// What validation works with after the request was checked against the deployment.
struct HistoryRequest {
    drill: drill_core::events::DrillContext,
    target: drill_core::events::ConnectionSpec,
    backup: drill_core::events::BackupRef,
    manifest: Option<String>,
    history: String,
}

/// The manifest a restored backup is validated against ([`drill_core::manifest::manifest_url_of`]).
fn manifest_of(
    source: &SourceSpec,
    backup: &drill_core::events::BackupRef,
) -> Result<Option<String>, HandlerError> {
    drill_core::manifest::manifest_url_of(source, backup)
        .map_err(|e| HandlerError::new(drill_core::ErrorKind::GuardViolation, e.to_string()))
}
