//! `drill aws sandbox create|list|connect|diff|delete`: sandboxes of production in AWS, through
//! the deployed sandbox functions (infra/sandbox.tf), never RDS calls from the laptop. Each
//! request carries the caller's own signature of `sts:GetCallerIdentity`, from which the
//! function learns who asks; the laptop needs only `lambda:InvokeFunction` on the two sandbox
//! functions and, for `connect`, read access to its own sandbox's secret.

use std::path::Path;

use clap::{Args, Subcommand};
use drill_core::operate;
use drill_core::sandbox::SandboxInfo;
use drill_core::sandbox_diff::SandboxDiffOutcome;
use drill_core::{ErrorKind, ExitCode};
use drill_engine::sandbox::identity::{default_sts_endpoint, sign_caller_proof};
use serde_json::{json, Value};

use crate::output::{CliError, CliResult, Globals};

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// The sandbox function (default: Terraform output `sandbox_function_name`).
    #[arg(long, env = "DRILL_SANDBOX_FUNCTION", value_name = "NAME")]
    function: Option<String>,
    /// The sandbox delete function (default: output `sandbox_delete_function_name`).
    #[arg(long, env = "DRILL_SANDBOX_DELETE_FUNCTION", value_name = "NAME")]
    delete_function: Option<String>,
    /// The STS endpoint the deployment verifies callers with (default: the region's).
    #[arg(long, env = "DRILL_STS_ENDPOINT", value_name = "URL", hide = true)]
    sts_endpoint: Option<String>,
    #[command(subcommand)]
    command: SandboxCommand,
}

#[derive(Debug, Subcommand)]
enum SandboxCommand {
    /// Restore the newest validated backup of a source as your sandbox.
    Create {
        #[arg(long, value_name = "ID")]
        source: String,
        /// Lifetime, in hours (`4h` or `4`); at most the deployment's maximum.
        #[arg(long, value_name = "HOURS")]
        ttl: Option<String>,
    },
    /// Your sandboxes.
    List,
    /// Start psql on your sandbox (the password never printed).
    Connect { id: String },
    /// What changed in your sandbox against its backup; exit 0 no change, 10 changes,
    /// 11 destructive (the diff runs inside the deployment).
    Diff {
        id: String,
        /// Also write the self-contained HTML report. Example: --html diff.html
        #[arg(long, value_name = "FILE")]
        html: Option<std::path::PathBuf>,
        /// Destructive above this share (0–1] of a table's rows deleted or updated (default 0.10).
        #[arg(long, value_name = "SHARE")]
        max_changed_share: Option<f64>,
    },
    /// Delete your sandbox.
    Delete { id: String },
}

fn output(outputs: Option<&Path>, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(outputs?).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v.get(key)?.get("value")?.as_str().map(str::to_owned)
}

/// Parses `4h` or `4` into whole hours.
fn ttl_hours(ttl: &str) -> Result<u32, CliError> {
    ttl.trim_end_matches('h')
        .parse()
        .ok()
        .filter(|h| *h > 0)
        .ok_or_else(|| CliError::usage(format!("--ttl {ttl:?}: expected whole hours, e.g. 4h")))
}

struct Functions {
    lambda: aws_sdk_lambda::Client,
    config: aws_config::SdkConfig,
    sts_endpoint: String,
    region: String,
}

impl Functions {
    async fn invoke(&self, function: &str, mut event: Value) -> Result<Value, CliError> {
        // The proof is bound to this request: the function recomputes the same value.
        let field = |k: &str| event[k].as_str().unwrap_or("").to_owned();
        let subject = [field("identifier"), field("source_id")].concat();
        let binding = drill_core::sandbox::binding(&field("action"), &subject);
        let caller = sign_caller_proof(&self.config, &self.sts_endpoint, &self.region, &binding)
            .await
            .map_err(|e| CliError::new(ErrorKind::CouldNotRun, e.to_string()))?;
        event["caller"] = serde_json::to_value(caller).expect("a proof serializes");
        let out = self
            .lambda
            .invoke()
            .function_name(function)
            .payload(aws_smithy_types::Blob::new(event.to_string()))
            .send()
            .await
            .map_err(|e| {
                CliError::new(
                    ErrorKind::CouldNotRun,
                    format!(
                        "cannot invoke {function}: {}",
                        aws_smithy_types::error::display::DisplayErrorContext(e)
                    ),
                )
            })?;
        let body: Value = out
            .payload()
            .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
            .unwrap_or(Value::Null);
        if out.function_error().is_some() {
            let kind = body["errorType"]
                .as_str()
                .and_then(operate::kind_of_error)
                .unwrap_or(ErrorKind::CouldNotRun);
            let msg = body["errorMessage"]
                .as_str()
                .unwrap_or("the function failed");
            return Err(CliError::new(kind, format!("{function}: {msg}")));
        }
        Ok(body)
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, CliError> {
    serde_json::from_value(v)
        .map_err(|e| CliError::new(ErrorKind::CouldNotRun, format!("unexpected answer: {e}")))
}

fn line(s: &SandboxInfo) -> String {
    let expires = s.expires_at.map(|t| t.to_rfc3339()).unwrap_or("-".into());
    format!(
        "  {}  {}  {}  expires {expires}",
        s.identifier, s.source_id, s.status
    )
}

pub async fn run(outputs: Option<&Path>, a: &SandboxArgs, globals: &Globals) -> CliResult {
    let config = drill_engine::aws::load_config().await;
    let region = config
        .region()
        .map(|r| r.to_string())
        .ok_or_else(|| CliError::usage("no AWS region configured (AWS_REGION)"))?;
    let name = |given: &Option<String>, key: &str| {
        given
            .clone()
            .or_else(|| output(outputs, key))
            .ok_or_else(|| {
                CliError::usage(format!(
                    "no sandbox function: give --outputs (with output {key}) or the function name"
                ))
            })
    };
    let f = Functions {
        lambda: aws_sdk_lambda::Client::new(&config),
        sts_endpoint: a
            .sts_endpoint
            .clone()
            .unwrap_or_else(|| default_sts_endpoint(&region)),
        region,
        config,
    };
    let print = |v: &Value, human: String| {
        if globals.json {
            println!("{v}");
        } else {
            print!("{human}");
        }
    };
    match &a.command {
        SandboxCommand::Create { source, ttl } => {
            operate::check_source_id(source)
                .map_err(|e| CliError::usage(format!("--source: {e}")))?;
            let mut event = json!({"action": "sandbox_create", "source_id": source});
            if let Some(t) = ttl {
                event["ttl_hours"] = ttl_hours(t)?.into();
            }
            let v = f
                .invoke(&name(&a.function, "sandbox_function_name")?, event)
                .await?;
            let s: SandboxInfo = parse(v.clone())?;
            print(
                &v,
                format!(
                    "sandbox {} {} from {} (owner {})\n{}\n",
                    s.identifier,
                    // A backup-set sandbox is restored before the answer; an instance is not.
                    if s.status == "available" {
                        "is ready, restored"
                    } else {
                        "is being restored"
                    },
                    s.restored_from,
                    s.owner,
                    line(&s)
                ),
            );
        }
        SandboxCommand::List => {
            let v = f
                .invoke(
                    &name(&a.function, "sandbox_function_name")?,
                    json!({"action": "sandbox_list"}),
                )
                .await?;
            let list: Vec<SandboxInfo> = parse(v.clone())?;
            let human = if list.is_empty() {
                "no sandboxes\n".to_owned()
            } else {
                list.iter().map(|s| line(s) + "\n").collect()
            };
            print(&v, human);
        }
        SandboxCommand::Connect { id } => {
            let event = json!({"action": "sandbox_connect", "identifier": id});
            let s: SandboxInfo = parse(
                f.invoke(&name(&a.function, "sandbox_function_name")?, event)
                    .await?,
            )?;
            return connect(&f.config, &s).await;
        }
        SandboxCommand::Delete { id } => {
            let event = json!({"action": "sandbox_delete", "identifier": id});
            let v = f
                .invoke(
                    &name(&a.delete_function, "sandbox_delete_function_name")?,
                    event,
                )
                .await?;
            print(&v, format!("sandbox {id} deleted\n"));
        }
        SandboxCommand::Diff {
            id,
            html,
            max_changed_share,
        } => {
            let mut event = json!({"action": "sandbox_diff", "identifier": id});
            if let Some(share) = max_changed_share {
                drill_core::diff::DiffPolicy::new(*share)
                    .map_err(|e| CliError::usage(format!("--max-changed-share: {e}")))?;
                event["max_changed_share"] = json!(share);
            }
            let out: SandboxDiffOutcome = parse(
                f.invoke(&name(&a.function, "sandbox_function_name")?, event)
                    .await?,
            )?;
            return print_diff(&out, html.as_deref(), globals);
        }
    }
    Ok(ExitCode::Ok)
}

/// The diff as `drill sandbox diff` prints it locally: table, `--json`, `--html`; its exit code.
fn print_diff(out: &SandboxDiffOutcome, html: Option<&Path>, globals: &Globals) -> CliResult {
    let report = &out.report;
    if let Some(path) = html {
        std::fs::write(
            path,
            crate::cmd_sandbox::report::html(&out.identifier, report),
        )
        .map_err(|e| {
            CliError::new(
                ErrorKind::CouldNotRun,
                format!("writing the HTML report {}: {e}", path.display()),
            )
        })?;
    }
    if globals.json {
        globals.print_json(&serde_json::to_value(report).unwrap_or_default());
    } else {
        print!(
            "{}",
            crate::cmd_sandbox::report::table(&out.identifier, report)
        );
        println!("  report kept at {}", out.report_url);
    }
    Ok(report.verdict.exit())
}

/// Reads the sandbox's RDS-managed secret with the caller's own rights and starts psql with it
/// in the environment (never on the command line nor on screen), TLS verified.
async fn connect(config: &aws_config::SdkConfig, s: &SandboxInfo) -> CliResult {
    let (Some(host), Some(secret)) = (&s.endpoint, &s.secret_arn) else {
        return Err(CliError::new(
            ErrorKind::CouldNotRun,
            format!(
                "sandbox {} is {}: its endpoint or secret is not ready yet",
                s.identifier, s.status
            ),
        )
        .with_hint("Run `drill aws sandbox connect` again in a few minutes."));
    };
    let sm = aws_sdk_secretsmanager::Client::new(config);
    let value = sm
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| {
            CliError::new(
                ErrorKind::CouldNotRun,
                format!(
                    "cannot read the sandbox's secret: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(e)
                ),
            )
        })?;
    let creds: Value = value
        .secret_string()
        .and_then(|t| serde_json::from_str(t).ok())
        .ok_or_else(|| {
            CliError::new(
                ErrorKind::CouldNotRun,
                "the sandbox's secret is not the RDS JSON",
            )
        })?;
    let status = std::process::Command::new("psql")
        .env("PGHOST", host)
        .env("PGPORT", s.port.unwrap_or(5432).to_string())
        .env("PGDATABASE", s.database.as_deref().unwrap_or("postgres"))
        .env("PGUSER", creds["username"].as_str().unwrap_or(""))
        .env("PGPASSWORD", creds["password"].as_str().unwrap_or(""))
        .env("PGSSLMODE", "verify-full")
        .status()
        .map_err(|e| CliError::new(ErrorKind::CouldNotRun, format!("cannot start psql: {e}")))?;
    if status.success() {
        Ok(ExitCode::Ok)
    } else {
        Err(CliError::new(
            ErrorKind::CouldNotRun,
            format!("psql exited with {status}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_takes_whole_hours() {
        assert_eq!(ttl_hours("4h").unwrap(), 4);
        assert_eq!(ttl_hours("12").unwrap(), 12);
        assert!(ttl_hours("0h").is_err());
        assert!(ttl_hours("90m").unwrap_err().message.contains("--ttl"));
    }
}
