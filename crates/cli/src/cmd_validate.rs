//! `drill validate`: run the checks against a restored database, print the report, keep it in
//! the history store.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Args;
use drill_core::checks::{CheckConfig, Outcome};
use drill_core::events::BackupRef;
use drill_core::{ErrorKind, ExitCode};
use drill_engine::pg::{ConnectOptions, Database};
use drill_engine::store::Store;
use drill_engine::validate::{load_fingerprint, validate, ValidateInput};

use crate::output::{CliError, CliResult, Globals};

const EXAMPLES: &str = "\
Examples:
  # Default checks against a local restore, report printed only
  drill validate --target postgres://postgres@127.0.0.1:5432/app_restore --source-id prod-app

  # Night-over-night comparison: keep reports under a directory (or s3://bucket/reports/prod-app)
  drill validate --target \"$RESTORE_URL\" --source-id prod-app \\
      --config checks.toml --history file:///var/lib/drill/reports/prod-app \\
      --backup-time 2026-11-22T02:10:00Z

  # Compare with the expected fingerprint of a backup set, JSON report on stdout
  drill validate --target \"$RESTORE_URL\" --source-id prod-app \\
      --manifest s3://backups/prod-app/set-20261122 --json

TLS: hosts other than loopback are verified (verify-full) against the shipped Amazon RDS CA
bundle; --ca-bundle or DRILL_CA_BUNDLE names another one; ?sslmode=disable turns TLS off.
The check configuration format and the report format are described in docs/validation.md.

Exit codes:
  0  every check passed
  1  backup invalid: at least one check failed
  2  usage error: bad option, configuration or URL
  3  could not run: server unreachable, or a check could not finish";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ValidateArgs {
    /// Database to validate: postgres://user:password@host:port/database[?sslmode=...]. Prefer
    /// the DRILL_TARGET_URL environment variable: a password on the command line is visible to
    /// other users of the machine.
    #[arg(long, env = "DRILL_TARGET_URL", hide_env_values = true)]
    target: String,

    /// Source database this restore is of; names its report history.
    #[arg(long)]
    source_id: String,

    /// Check configuration (TOML); defaults apply when absent.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Report history of this source (file:///dir or s3://bucket/prefix): the previous good
    /// report drives the night-over-night checks, and this report is added.
    #[arg(long, value_name = "URL")]
    history: Option<String>,

    /// Expected fingerprint of the restored backup: the backup set's URL or its manifest.json
    /// (or a report / fingerprint JSON; file:// or s3://). Schema and exact row counts must
    /// match it.
    #[arg(long, value_name = "URL")]
    manifest: Option<String>,

    /// Backup, drill and connection details (boxed: keeps the command enum small).
    #[command(flatten)]
    more: Box<MoreArgs>,
}

#[derive(Debug, Args)]
struct MoreArgs {
    /// When the backup's data was taken (RFC 3339): freshness is measured against it. Default:
    /// now.
    #[arg(long, value_name = "RFC3339")]
    backup_time: Option<DateTime<Utc>>,

    /// Identifier of the backup, for the report.
    #[arg(long, value_name = "ID")]
    backup_id: Option<String>,

    /// Drill identifier for the report (default: cli-<random>).
    #[arg(long)]
    drill_id: Option<String>,

    /// When the drill started (RFC 3339), for the RTO (default: now).
    #[arg(long, value_name = "RFC3339")]
    drill_started_at: Option<DateTime<Utc>>,

    /// CA bundle for verify-full (default: DRILL_CA_BUNDLE, else the Amazon RDS bundle).
    #[arg(long, value_name = "PEM")]
    ca_bundle: Option<PathBuf>,

    /// Connect timeout in seconds.
    #[arg(long, default_value_t = 10)]
    connect_timeout: u64,
}

pub async fn run(args: ValidateArgs, globals: &Globals) -> CliResult {
    let started = args.more.drill_started_at.unwrap_or_else(Utc::now);
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::usage(format!("reading --config {}: {e}", path.display()))
            })?;
            CheckConfig::from_toml(&text).map_err(|e| {
                CliError::from(e).with_hint("The file format is described in docs/validation.md.")
            })?
        }
        None => CheckConfig::default(),
    };
    // Reject a malformed URL as a usage error before anything else happens.
    let target = Database::from_url(&args.target)?;

    let needs_s3 = [&args.history, &args.manifest]
        .iter()
        .any(|u| u.as_deref().is_some_and(|u| u.starts_with("s3://")));
    let s3 = if needs_s3 {
        let aws = drill_engine::aws::load_config().await;
        Some(drill_engine::aws::s3_client(&aws))
    } else {
        None
    };
    let history = args
        .history
        .as_deref()
        .map(|u| Store::open(u, s3.as_ref()))
        .transpose()?;
    let manifest = match &args.manifest {
        Some(url) => Some(load_fingerprint(url, s3.as_ref()).await?),
        None => None,
    };
    let backup = args.more.backup_time.map(|taken_at| BackupRef {
        kind: drill_core::events::BackupKind::Cli,
        id: args
            .more
            .backup_id
            .clone()
            .unwrap_or_else(|| "unknown".into()),
        taken_at,
    });
    let mut connect = ConnectOptions {
        connect_timeout: std::time::Duration::from_secs(args.more.connect_timeout.max(1)),
        ..ConnectOptions::default()
    };
    if let Some(ca) = &args.more.ca_bundle {
        connect.ca_bundle = Some(ca.clone());
    }
    let input = ValidateInput {
        source_id: args.source_id.clone(),
        drill_id: args
            .more
            .drill_id
            .clone()
            .unwrap_or_else(|| format!("cli-{}", uuid_like())),
        drill_started_at: started,
        backup,
        config,
        manifest,
        history,
    };
    let target = target.with_options(connect);
    let validated = validate(&target, input).await?;
    let report = &validated.report;
    if globals.json {
        globals.print_json(&serde_json::to_value(report).map_err(|e| {
            CliError::new(
                ErrorKind::CouldNotRun,
                format!("serialising the report: {e}"),
            )
        })?);
    } else {
        print!("{}", report.render_table());
        match &validated.report_url {
            Some(url) => println!("\nreport: {url}"),
            None => println!("\nreport not kept (no --history)"),
        }
    }
    Ok(match report.outcome {
        Outcome::Pass => ExitCode::Ok,
        Outcome::BackupInvalid => ExitCode::BackupInvalid,
        Outcome::CouldNotRun | Outcome::Incomplete => ExitCode::CouldNotRun,
    })
}

/// A short random id without another dependency: time and process id.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", nanos & 0xffff_ffff_ffff, std::process::id())
}
