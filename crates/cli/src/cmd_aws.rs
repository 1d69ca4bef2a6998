//! `drill aws run|status|history`: operate the deployed drill (Step Functions and the report
//! store) from the terminal.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use drill_core::operate::{self, EventKind, ProgressLine, SourceStatus, StackRef};
use drill_core::run_report::RunReport;
use drill_core::{ErrorKind, ExitCode};
use drill_engine::sfn::{execution_arn, Executions, SfnExecutions};
use drill_engine::store::{Store, StoreError};
use serde_json::{json, Value};

use crate::output::{CliError, CliResult, Globals};
use crate::summary::{human_count, human_secs};

const EXAMPLES: &str = "\
The stack is found from `terraform output -json` of the deployment (--outputs), or given
directly (--state-machine and --reports); an operator needs only the policy of the Terraform
output `operator_policy_json`.

Examples:
  terraform -chdir=infra output -json > drill-outputs.json
  drill aws --outputs drill-outputs.json run --sources prod-app --wait
  drill aws --outputs drill-outputs.json status
  drill aws --outputs drill-outputs.json history --source prod-app --last 14 --html trend.html

Exit codes (run --wait, status): 0 every source passed; 1 a backup is invalid; 2 bad input
(unknown source, no stack found); 3 could not run (permission denied, a step failed); 4 a
safety guard refused a destructive action.";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct AwsArgs {
    /// `terraform output -json` of the drill stack. Example: --outputs drill-outputs.json
    #[arg(long, env = "DRILL_TF_OUTPUTS", value_name = "FILE")]
    outputs: Option<PathBuf>,
    /// The state machine's ARN (instead of, or over, --outputs).
    #[arg(long, env = "DRILL_STATE_MACHINE_ARN", value_name = "ARN")]
    state_machine: Option<String>,
    /// Where the run reports are (instead of, or over, --outputs). Example: s3://bucket/reports
    #[arg(long, env = "DRILL_REPORTS_URL", value_name = "URL")]
    reports: Option<String>,
    #[command(subcommand)]
    command: AwsCommand,
}

#[derive(Debug, Subcommand)]
enum AwsCommand {
    /// Start an execution (all configured sources, or the named ones); --wait follows it.
    Run(RunArgs),
    /// What happened in the latest (or the named) execution, per source.
    Status(StatusArgs),
    /// The dated drill reports of one source from the report store.
    History(HistoryArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Source ids to run (comma-separated); default: every configured source.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    sources: Vec<String>,
    /// Follow the execution to its end: one line per source and step, then the summary.
    #[arg(long)]
    wait: bool,
    /// Execution name (default: manual-<UTC time>).
    #[arg(long)]
    name: Option<String>,
    /// Poll interval of --wait, in milliseconds.
    #[arg(long, default_value_t = 2000, hide = true)]
    poll_ms: u64,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// Execution name or ARN (default: the latest).
    execution: Option<String>,
}

#[derive(Debug, Args)]
struct HistoryArgs {
    /// The source id.
    #[arg(long)]
    source: String,
    /// Only the newest N nights.
    #[arg(long, value_name = "N")]
    last: Option<usize>,
    /// Also write the HTML report (the nights table and trend charts).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

pub async fn run(args: AwsArgs, globals: &Globals) -> CliResult {
    let stack = resolve_stack(&args)?;
    let config = drill_engine::aws::load_config().await;
    let sfn = SfnExecutions {
        client: aws_sdk_sfn::Client::new(&config),
    };
    let s3 = drill_engine::aws::s3_client(&config);
    let reports = Store::open(&stack.reports_url, Some(&s3))?;
    match args.command {
        AwsCommand::Run(a) => start(&sfn, &reports, &stack, a, globals).await,
        AwsCommand::Status(a) => status(&sfn, &reports, &stack, a.execution, globals).await,
        AwsCommand::History(a) => history(&reports, a, globals).await,
    }
}

fn resolve_stack(args: &AwsArgs) -> Result<StackRef, CliError> {
    let from_outputs = match &args.outputs {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::usage(format!(
                    "no stack found: cannot read --outputs {}: {e}",
                    path.display()
                ))
            })?;
            Some(StackRef::from_terraform_outputs(&text).map_err(|e| {
                CliError::usage(format!("no stack found in {}: {e}", path.display()))
            })?)
        }
        None => None,
    };
    let state_machine_arn = args
        .state_machine
        .clone()
        .or_else(|| from_outputs.as_ref().map(|s| s.state_machine_arn.clone()));
    let reports_url = args
        .reports
        .clone()
        .or_else(|| from_outputs.as_ref().map(|s| s.reports_url.clone()));
    match (state_machine_arn, reports_url) {
        (Some(state_machine_arn), Some(reports_url)) => Ok(StackRef {
            state_machine_arn,
            reports_url,
        }),
        _ => Err(CliError::usage(
            "no stack found: give --outputs (the file of `terraform output -json` of the drill \
             stack), or both --state-machine and --reports",
        )),
    }
}

fn kind_of(error: &str) -> ErrorKind {
    operate::kind_of_error(error).unwrap_or(ErrorKind::CouldNotRun)
}

async fn start<E: Executions>(
    sfn: &E,
    reports: &Store,
    stack: &StackRef,
    a: RunArgs,
    globals: &Globals,
) -> CliResult {
    for id in &a.sources {
        operate::check_source_id(id).map_err(|e| CliError::usage(format!("--sources: {e}")))?;
    }
    // The input form the deployment defines: source ids only ({} = every configured source).
    let input = if a.sources.is_empty() {
        json!({})
    } else {
        json!({ "sources": a.sources })
    };
    let name = a
        .name
        .unwrap_or_else(|| format!("manual-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    let arn = sfn
        .start(&stack.state_machine_arn, &name, &input.to_string())
        .await?;
    if !globals.json {
        println!("started execution {name}\n  {arn}");
    }
    let poll = Duration::from_millis(a.poll_ms.max(50));
    // Wait for the plan, even without --wait: an unknown source id fails it at once.
    let planned = loop {
        let events = sfn.history(&arn).await?;
        if let Some(p) = operate::planned_sources(&events) {
            break p;
        }
        if operate::execution_end(&events).is_some() {
            // Ended before planning: the input was refused (the description has the error).
            let info = sfn.describe(&arn).await?;
            let (error, cause) = match operate::execution_end(&events) {
                Some(EventKind::ExecutionFailed { error, cause }) if !error.is_empty() => {
                    (error, cause)
                }
                _ => (
                    info.error.unwrap_or_default(),
                    info.cause.unwrap_or_default(),
                ),
            };
            if info.status == "SUCCEEDED" {
                break Vec::new();
            }
            return Err(CliError::new(
                kind_of(&error),
                format!(
                    "execution {name} ended {} before any source ran: {error}: {}",
                    info.status,
                    operate::readable_cause(&cause)
                ),
            )
            .with_hint(
                "Name only source ids configured in the deployment (drill.json of the stack).",
            ));
        }
        tokio::time::sleep(poll).await;
    };
    if !globals.json {
        println!("sources: {}", planned.join(", "));
    }
    if !a.wait {
        if globals.json {
            globals.print_json(&json!({"execution": name, "arn": arn, "sources": planned}));
        } else {
            println!("follow it with: drill aws status {name}");
        }
        return Ok(ExitCode::Ok);
    }
    let width = planned.iter().map(String::len).max().unwrap_or(6);
    let mut printed = 0;
    loop {
        let events = sfn.history(&arn).await?;
        let lines = operate::progress(&events);
        if !globals.json {
            for l in &lines[printed.min(lines.len())..] {
                println!("{}", l.render(width));
            }
        }
        printed = lines.len();
        if operate::execution_end(&events).is_some() {
            break;
        }
        tokio::time::sleep(poll).await;
    }
    status(sfn, reports, stack, Some(arn), globals).await
}

/// Per source of one execution: its report, or what the history says.
async fn statuses<E: Executions>(
    sfn: &E,
    reports: &Store,
    execution: &str,
) -> Result<
    (
        drill_engine::sfn::ExecutionInfo,
        Vec<SourceStatus>,
        Vec<ProgressLine>,
    ),
    CliError,
> {
    let info = sfn.describe(execution).await?;
    let events = sfn.history(&info.arn).await?;
    let lines = operate::progress(&events);
    let ended = info.status != "RUNNING";
    let mut out = Vec::new();
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
            }
            Err(StoreError::NotFound(_)) => {
                out.push(SourceStatus::of_progress(&source, &lines, ended))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((info, out, lines))
}

async fn status<E: Executions>(
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
    let (info, sources, _) = statuses(sfn, reports, &arn).await?;
    let running = info.status == "RUNNING";
    let code = if running {
        ExitCode::Ok
    } else {
        let error = info.error.as_deref().filter(|_| info.status != "SUCCEEDED");
        operate::exit_code(&sources, error)
    };
    if globals.json {
        globals.print_json(&json!({
            "execution": info.name, "arn": info.arn, "status": info.status,
            "started_at": info.started_at, "error": info.error, "cause": info.cause,
            "sources": sources,
        }));
    } else {
        print!("{}", render_status(&info, &sources));
    }
    Ok(code)
}

fn secs(v: Option<u64>) -> String {
    v.map(|s| human_secs(s as f64))
        .unwrap_or_else(|| "-".into())
}

fn table(rows: Vec<Vec<String>>) -> String {
    let mut widths = vec![0usize; rows.first().map(Vec::len).unwrap_or(0)];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::from("  ");
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            line.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn render_status(info: &drill_engine::sfn::ExecutionInfo, sources: &[SourceStatus]) -> String {
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

/// The run reports of `source`, oldest first.
async fn load_history(reports: &Store, source: &str) -> Result<Vec<RunReport>, CliError> {
    let mut out = Vec::new();
    for key in reports.list(&format!("{source}/runs/")).await? {
        if !key.ends_with(".json") {
            continue;
        }
        let bytes = reports.get(&key).await?;
        let r: RunReport = serde_json::from_slice(&bytes).map_err(|e| {
            CliError::new(
                ErrorKind::CouldNotRun,
                format!("report {} is not a run report: {e}", reports.url_of(&key)),
            )
        })?;
        out.push(r);
    }
    out.sort_by_key(|r| r.started_at);
    Ok(out)
}

async fn history(reports: &Store, a: HistoryArgs, globals: &Globals) -> CliResult {
    operate::check_source_id(&a.source).map_err(|e| CliError::usage(format!("--source: {e}")))?;
    let mut nights = load_history(reports, &a.source).await?;
    if nights.is_empty() {
        return Err(CliError::usage(format!(
            "no drill reports of source {:?} under {}",
            a.source,
            reports.url_of(&format!("{}/runs/", a.source))
        ))
        .with_hint("Check the source id (drill aws status lists the sources of the latest run)."));
    }
    if let Some(n) = a.last {
        let skip = nights.len().saturating_sub(n);
        nights.drain(..skip);
    }
    if let Some(path) = &a.html {
        let records = crate::aws_html::records(reports, &nights).await;
        let page = crate::html::render(
            &format!("restore-drill: {} (deployed)", a.source),
            &records,
            &[format!(
                "{} nights from {}",
                nights.len(),
                reports.url_of(&a.source)
            )],
        );
        std::fs::write(path, page).map_err(|e| {
            CliError::new(
                ErrorKind::CouldNotRun,
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
    }
    if globals.json {
        globals.print_json(&serde_json::to_value(&nights).unwrap_or(Value::Null));
    } else {
        print!("{}", render_history(&nights));
    }
    Ok(ExitCode::Ok)
}

fn render_history(nights: &[RunReport]) -> String {
    let mut rows = vec![[
        "NIGHT",
        "DRILL",
        "RESULT",
        "FAILED STEP",
        "RTO",
        "RPO",
        "ROWS",
    ]
    .map(String::from)
    .to_vec()];
    for r in nights {
        rows.push(vec![
            r.started_at.format("%Y-%m-%d %H:%M").to_string(),
            r.drill_id.clone(),
            if r.passed { "pass" } else { "FAIL" }.into(),
            r.failed_step.clone().unwrap_or_else(|| "-".into()),
            secs(r.rto_seconds),
            secs(r.rpo_seconds),
            r.rows.map(human_count).unwrap_or_else(|| "-".into()),
        ]);
    }
    table(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drill_core::operate::HistoryEvent;
    use drill_engine::sfn::{ExecutionInfo, SfnError};
    use std::sync::Mutex;

    /// A service whose history is scripted: each `history` call reveals one more event batch.
    struct Scripted {
        batches: Vec<Vec<HistoryEvent>>,
        calls: Mutex<usize>,
        started: Mutex<Vec<String>>,
        deny: bool,
    }

    fn at(s: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_764_558_000 + s, 0).unwrap()
    }
    fn ev(s: i64, kind: EventKind) -> HistoryEvent {
        HistoryEvent {
            timestamp: at(s),
            kind,
        }
    }
    fn entered(s: i64, state: &str, src: &str) -> HistoryEvent {
        ev(
            s,
            EventKind::Entered {
                state: state.into(),
                input: json!({"drill": {"source_id": src}}).to_string(),
            },
        )
    }

    impl Executions for Scripted {
        async fn start(&self, _: &str, name: &str, input: &str) -> Result<String, SfnError> {
            if self.deny {
                return Err(SfnError::AccessDenied(
                    "StartExecution: AccessDeniedException: not authorized".into(),
                ));
            }
            self.started.lock().unwrap().push(input.to_owned());
            Ok(format!("arn:aws:states:r:1:execution:sm:{name}"))
        }
        async fn describe(&self, execution: &str) -> Result<ExecutionInfo, SfnError> {
            let done = *self.calls.lock().unwrap() >= self.batches.len();
            Ok(ExecutionInfo {
                arn: execution.into(),
                name: execution.rsplit(':').next().unwrap().into(),
                status: if done { "FAILED" } else { "RUNNING" }.into(),
                started_at: at(0),
                error: Some("Drill.Failed".into()),
                cause: None,
            })
        }
        async fn latest(&self, _: &str) -> Result<Option<ExecutionInfo>, SfnError> {
            Ok(None)
        }
        async fn history(&self, _: &str) -> Result<Vec<HistoryEvent>, SfnError> {
            let mut c = self.calls.lock().unwrap();
            *c = (*c + 1).min(self.batches.len());
            Ok(self.batches[..*c].concat())
        }
    }

    fn stack() -> StackRef {
        StackRef {
            state_machine_arn: "arn:aws:states:r:1:stateMachine:sm".into(),
            reports_url: "file:///nonexistent-drill-reports".into(),
        }
    }

    fn scripted(batches: Vec<Vec<HistoryEvent>>, deny: bool) -> Scripted {
        Scripted {
            batches,
            calls: Mutex::new(0),
            started: Mutex::new(Vec::new()),
            deny,
        }
    }

    fn args(sources: &[&str], wait: bool) -> RunArgs {
        RunArgs {
            sources: sources.iter().map(|s| s.to_string()).collect(),
            wait,
            name: Some("n1".into()),
            poll_ms: 1,
        }
    }

    #[tokio::test]
    async fn a_followed_run_without_report_exits_by_the_failure_kind() {
        let tmp = tempfile::tempdir().unwrap();
        let reports = Store::open(&format!("file://{}", tmp.path().display()), None).unwrap();
        let fail = json!({"drill": {"source_id": "a"}, "failure": {"step": "restore", "Error": "Drill.BackupInvalid", "Cause": "no backup"}});
        let sfn = scripted(
            vec![
                vec![ev(
                    0,
                    EventKind::Exited {
                        state: "Plan".into(),
                        output: json!({"sources": [{"id": "a"}]}).to_string(),
                    },
                )],
                vec![entered(1, "Restore", "a")],
                vec![ev(
                    3,
                    EventKind::Exited {
                        state: "RestoreFailed".into(),
                        output: fail.to_string(),
                    },
                )],
                vec![ev(
                    4,
                    EventKind::ExecutionFailed {
                        error: "Drill.Failed".into(),
                        cause: "x".into(),
                    },
                )],
            ],
            false,
        );
        let code = start(
            &sfn,
            &reports,
            &stack(),
            args(&["a"], true),
            &Globals::new(true, 0),
        )
        .await
        .unwrap();
        assert_eq!(code, ExitCode::BackupInvalid);
        assert_eq!(sfn.started.lock().unwrap()[0], r#"{"sources":["a"]}"#);
    }

    #[tokio::test]
    async fn a_refused_plan_is_a_usage_error_even_without_wait() {
        let sfn = scripted(
            vec![vec![ev(
                0,
                EventKind::ExecutionFailed {
                    error: "Drill.InvalidInput".into(),
                    cause: "unknown source id \"nope\"".into(),
                },
            )]],
            false,
        );
        let reports = Store::open("file:///nonexistent-drill-reports", None).unwrap();
        let err = start(
            &sfn,
            &reports,
            &stack(),
            args(&["nope"], false),
            &Globals::new(true, 0),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind.exit_code(), ExitCode::Usage);
        assert!(err.message.contains("unknown source id"), "{}", err.message);
    }

    #[tokio::test]
    async fn denied_permission_and_bad_ids_are_clear_errors() {
        let sfn = scripted(vec![vec![]], true);
        let reports = Store::open("file:///nonexistent-drill-reports", None).unwrap();
        let err = start(
            &sfn,
            &reports,
            &stack(),
            args(&[], false),
            &Globals::new(true, 0),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind.exit_code(), ExitCode::CouldNotRun);
        assert!(err.message.contains("permission denied"), "{}", err.message);
        let err = start(
            &sfn,
            &reports,
            &stack(),
            args(&["a/../b"], false),
            &Globals::new(true, 0),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind.exit_code(), ExitCode::Usage);
        assert!(sfn.started.lock().unwrap().is_empty(), "nothing started");
    }

    #[test]
    fn no_stack_is_a_usage_error() {
        let a = AwsArgs {
            outputs: None,
            state_machine: Some("arn:aws:states:r:1:stateMachine:sm".into()),
            reports: None,
            command: AwsCommand::Status(StatusArgs { execution: None }),
        };
        let err = resolve_stack(&a).unwrap_err();
        assert!(err.message.contains("no stack found"), "{}", err.message);
    }
}
