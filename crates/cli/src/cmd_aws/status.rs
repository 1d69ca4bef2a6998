//! `drill aws status`: per source of one execution, its result, failed step, RTO/RPO and temp.

use drill_core::operate::{self, ProgressLine, SourceStatus, StackRef};
use drill_core::run_report::RunReport;
use drill_core::{ErrorKind, ExitCode};
use drill_engine::sfn::{execution_arn, ExecutionInfo, Executions};
use drill_engine::sfn_follow::Follow;
use drill_engine::store::{Store, StoreError};
use serde_json::json;

use super::{secs, table};
use crate::output::{CliError, CliResult, Globals};
use crate::summary::human_count;

/// One execution as the commands show it.
pub(super) struct Execution {
    pub info: ExecutionInfo,
    /// Per planned source: from its report, or what the history says.
    pub sources: Vec<SourceStatus>,
    pub lines: Vec<ProgressLine>,
    /// The run reports found, in source order.
    pub reports: Vec<RunReport>,
}

impl Execution {
    /// Still running: 0; else by the worst failure (the CLI's exit codes).
    pub fn exit_code(&self) -> ExitCode {
        if self.info.status == "RUNNING" {
            return ExitCode::Ok;
        }
        let error = self
            .info
            .error
            .as_deref()
            .filter(|_| self.info.status != "SUCCEEDED");
        operate::exit_code(&self.sources, error)
    }
}

/// Per source of one execution: its report, or what the history says.
pub(super) async fn statuses<E: Executions>(
    sfn: &E,
    reports: &Store,
    execution: &str,
) -> Result<Execution, CliError> {
    let info = sfn.describe(execution).await?;
    // Each source's steps are in its child execution (`Sources` is a Distributed Map).
    let events = Follow::default().history(sfn, &info.arn).await?;
    let lines = operate::progress(&events);
    let ended = info.status != "RUNNING";
    let mut out = Vec::new();
    let mut found = Vec::new();
    for source in operate::planned_sources(&events).unwrap_or_default() {
        let key = format!("{source}/runs/{}-{source}.json", info.name);
        match reports.get(&key).await {
            Ok(bytes) => {
                let report: RunReport = serde_json::from_slice(&bytes).map_err(|e| {
                    CliError::new(
                        ErrorKind::CouldNotRun,
                        format!("report {} is not a run report: {e}", reports.url_of(&key)),
                    )
                })?;
                out.push(SourceStatus::of_report(&report));
                found.push(report);
            }
            Err(StoreError::NotFound(_)) => {
                out.push(SourceStatus::of_progress(&source, &lines, ended))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Execution {
        info,
        sources: out,
        lines,
        reports: found,
    })
}

pub(super) async fn status<E: Executions>(
    sfn: &E,
    reports: &Store,
    stack: &StackRef,
    execution: Option<String>,
    globals: &Globals,
) -> CliResult {
    let arn = match execution {
        Some(e) if e.starts_with("arn:") => e,
        Some(name) => execution_arn(&stack.state_machine_arn, &name).ok_or_else(|| {
            CliError::usage(format!(
                "{} is not a state machine ARN",
                stack.state_machine_arn
            ))
        })?,
        None => {
            sfn.latest(&stack.state_machine_arn)
                .await?
                .ok_or_else(|| {
                    CliError::new(
                        ErrorKind::InvalidInput,
                        format!("{} has no executions yet", stack.state_machine_arn),
                    )
                    .with_hint("Start one with `drill aws run --wait`.")
                })?
                .arn
        }
    };
    let ex = statuses(sfn, reports, &arn).await?;
    let code = ex.exit_code();
    let (info, sources) = (&ex.info, &ex.sources);
    if globals.json {
        globals.print_json(&json!({
            "execution": info.name, "arn": info.arn, "status": info.status,
            "started_at": info.started_at, "error": info.error, "cause": info.cause,
            "sources": sources,
        }));
    } else {
        print!("{}", render_status(info, sources));
    }
    Ok(code)
}

fn render_status(info: &ExecutionInfo, sources: &[SourceStatus]) -> String {
    let mut out = format!(
        "execution {}  {}  started {}\n",
        info.name,
        info.status,
        info.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if sources.is_empty() {
        if let (Some(e), Some(c)) = (&info.error, &info.cause) {
            out.push_str(&format!(
                "  no source ran: {e}: {}\n",
                operate::readable_cause(c)
            ));
        }
        return out;
    }
    let mut rows = vec![[
        "SOURCE",
        "RESULT",
        "FAILED STEP",
        "RTO",
        "RPO",
        "ROWS",
        "TEMP",
        "TEMP GONE",
    ]
    .map(String::from)
    .to_vec()];
    for s in sources {
        rows.push(vec![
            s.source.clone(),
            s.result.clone(),
            s.failed_step.clone().unwrap_or_else(|| "-".into()),
            secs(s.rto_seconds),
            secs(s.rpo_seconds),
            s.rows.map(human_count).unwrap_or_else(|| "-".into()),
            s.temp.clone().unwrap_or_else(|| "-".into()),
            s.temp_state.label().into(),
        ]);
    }
    out.push_str(&table(rows));
    for s in sources.iter().filter(|s| s.result != "passed") {
        if let (Some(step), Some(error)) = (&s.failed_step, &s.error) {
            out.push_str(&format!(
                "  {}: {step} failed: {error}: {}\n",
                s.source,
                s.cause.as_deref().unwrap_or("")
            ));
        }
    }
    let passed = sources.iter().filter(|s| s.result == "passed").count();
    out.push_str(&format!("  {passed} of {} sources passed\n", sources.len()));
    out
}
