//! `drill aws run|status|history`: operate the deployed drill (Step Functions and the report
//! store) from the terminal.
//!
//! [`watch`]: `run` (and `--wait`); [`status`]: `status`; [`history`]: `history`. Here: the
//! arguments, finding the stack, and the small table helpers they share.

mod history;
mod sandbox;
mod status;
mod watch;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use drill_core::operate::{self, StackRef};
use drill_core::ErrorKind;
use drill_engine::sfn::SfnExecutions;
use drill_engine::store::Store;

use crate::output::{CliError, CliResult, Globals};
use crate::summary::human_secs;

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
    /// Sandboxes: on-demand copies of production from the newest validated backup.
    Sandbox(sandbox::SandboxArgs),
}

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// Source ids to run (comma-separated); default: every configured source.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub(super) sources: Vec<String>,
    /// Follow the execution to its end: one line per source and step, then the summary.
    #[arg(long)]
    pub(super) wait: bool,
    /// Execution name (default: manual-<UTC time>).
    #[arg(long)]
    pub(super) name: Option<String>,
    /// Poll interval of --wait, in milliseconds.
    #[arg(long, default_value_t = 2000, hide = true)]
    pub(super) poll_ms: u64,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// Execution name or ARN (default: the latest).
    execution: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct HistoryArgs {
    /// The source id.
    #[arg(long)]
    pub(super) source: String,
    /// Only the newest N nights.
    #[arg(long, value_name = "N")]
    pub(super) last: Option<usize>,
    /// Also write the HTML report (the nights table and trend charts).
    #[arg(long, value_name = "FILE")]
    pub(super) html: Option<PathBuf>,
}

pub async fn run(args: AwsArgs, globals: &Globals) -> CliResult {
    if let AwsCommand::Sandbox(a) = &args.command {
        return sandbox::run(args.outputs.as_deref(), a, globals).await;
    }
    let stack = resolve_stack(&args)?;
    let config = drill_engine::aws::load_config().await;
    let sfn = SfnExecutions {
        client: aws_sdk_sfn::Client::new(&config),
    };
    let s3 = drill_engine::aws::s3_client(&config);
    let reports = Store::open(&stack.reports_url, Some(&s3))?;
    match args.command {
        AwsCommand::Run(a) => watch::start(&sfn, &reports, &stack, a, globals).await,
        AwsCommand::Status(a) => status::status(&sfn, &reports, &stack, a.execution, globals).await,
        AwsCommand::History(a) => history::history(&reports, a, globals).await,
        AwsCommand::Sandbox(_) => unreachable!("handled above"),
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

#[cfg(test)]
mod tests {
    use super::*;

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
