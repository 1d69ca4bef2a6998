//! `drill run --config drill.toml`: the local drill against a real database.

use std::path::PathBuf;

use clap::Args;
use drill_core::events::SecretRef;
use drill_core::runconfig::RunConfig;
use drill_core::ExitCode;
use drill_engine::drill::{self, DrillSpec};
use drill_engine::pg::resolve_secret;
use drill_engine::pg::Database;
use drill_engine::store::Store;

use crate::cmd_export::open_store;
use crate::output::{drill_error, CliError, CliResult, Globals};
use crate::progress::{Bars, Mode};
use crate::{html, summary};

const EXAMPLES: &str = "\
Configuration (TOML; the [source] and [restore_server] tables are the Lambdas' connection specs,
[checks] is the validate Lambda's check configuration, see docs/validation.md):

  source_id = \"prod-app\"                       # names reports, backup sets, temp databases
  store = \"file:///var/backups/restore-drill\"  # or s3://bucket/prefix
  # history = \"file:///var/lib/restore-drill/prod-app\"   default: <store>/history/<source_id>
  # prefix = \"rdrill-\"     temp database prefix (drop guard)
  # jobs = 2               parallel COPY workers
  # protected = [\"billing\"]  databases never dropped (the source always is)

  [source]
  host = \"db.internal\"
  port = 5432
  database = \"app\"
  secret = { env = { var = \"DRILL_SOURCE_URL\" } }   # a postgres:// URL or {\"username\",\"password\"} JSON
  # tls = \"verify-full\"   (default; \"disable\" only for local servers)

  # [restore_server]       where temp databases are created (role needs CREATEDB);
  # host = ...             default: the source's server, database \"postgres\"

  [checks.row_counts]
  max_drop_percent = 5.0
  [[checks.freshness.tables]]
  table = \"public.orders\"
  column = \"created_at\"
  [[checks.sql]]
  name = \"users_exist\"
  query = \"SELECT count(*) FROM users\"
  expect = { at_least = 1 }

Examples:
  DRILL_SOURCE_URL=postgres://drill:secret@db.internal/app drill run --config drill.toml
  drill run --config drill.toml --html drill-report.html
  drill run --config drill.toml --json > result.json

What it does: export the source to a new backup set in the store, create a temporary database
<prefix><source>-<time>-<id> marked with COMMENT ON DATABASE, restore the set into it (every
object verified), validate it (schema, exact row counts, freshness, amcheck, full read, your SQL
assertions, night-over-night drops), drop the temporary database only if every guard passes,
and keep the report and a run record in the history.

Exit codes:
  0  every check passed
  1  backup invalid: a check failed (e.g. data loss suspected), or the backup set is corrupt
  2  usage error: bad option, configuration or URL
  3  could not run: server unreachable, permission denied, disk full, ...
  4  a safety guard refused to drop a database";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct RunArgs {
    /// The drill configuration (TOML, format below). Example: --config /etc/restore-drill/app.toml
    #[arg(long, value_name = "FILE")]
    config: PathBuf,

    /// Also write a self-contained HTML report (checks, and charts of RTO, backup size and rows
    /// per night from the history). Example: --html report.html
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,

    /// Label of this run in charts and the summary. Example: --label 2026-11-22
    #[arg(long)]
    label: Option<String>,
}

/// Resolves a connection spec's secret (environment variable, or Secrets Manager through the
/// default AWS configuration).
pub async fn endpoint(spec: &drill_core::events::ConnectionSpec) -> Result<Database, CliError> {
    let secrets = match spec.secret {
        SecretRef::SecretsManager { .. } => {
            let aws = drill_engine::aws::load_config().await;
            Some(drill_engine::aws::secrets_client(&aws))
        }
        SecretRef::Env { .. } => None,
    };
    let credentials = resolve_secret(&spec.secret, secrets.as_ref())
        .await
        .map_err(|e| {
            CliError::from(e).with_hint(
                "Set the environment variable named in the secret reference to a \
                 postgres://user:password@host/db URL (or the {\"username\",\"password\"} JSON \
                 of an RDS secret), or fix the Secrets Manager secret id.",
            )
        })?;
    Ok(Database::from_spec(spec, &credentials))
}

pub async fn run(args: RunArgs, globals: &Globals) -> CliResult {
    let text = std::fs::read_to_string(&args.config).map_err(|e| {
        CliError::usage(format!("reading --config {}: {e}", args.config.display())).with_hint(
            "Pass the path of a drill configuration file; `drill run --help` shows the format.",
        )
    })?;
    let config = RunConfig::from_toml(&text).map_err(|e| {
        CliError::from(e).with_hint("`drill run --help` shows the format with an example.")
    })?;
    let source = endpoint(&config.source).await?;
    let restore_server = endpoint(&config.restore_server()).await?;
    let store = open_store(&config.store).await?;
    let history = open_store(&config.history_url()).await?;

    let bars = Bars::new(Mode::detect(globals.json));
    let spec = DrillSpec {
        source_id: config.source_id.clone(),
        drill_id: new_drill_id("run"),
        prefix: config.prefix.clone(),
        source,
        restore_server,
        store,
        history: history.clone(),
        checks: config.checks.clone(),
        jobs: usize::from(config.jobs),
        protected: config.protected.clone(),
        observer: bars.observer(),
    };
    bars.say(&format!(
        "drill {} of {}: export {} → restore into a temporary database on {}",
        spec.drill_id,
        spec.source_id,
        spec.source.describe(),
        spec.restore_server.describe()
    ));
    let record = drill::run_labeled(&spec, args.label.clone())
        .await
        .map_err(drill_error)?;
    if let Some(path) = &args.html {
        write_html(
            path,
            &history,
            &format!("restore-drill: {}", config.source_id),
            &[],
        )
        .await?;
    }
    if globals.json {
        globals.print_json(&serde_json::to_value(&record).unwrap_or_default());
    } else {
        print!(
            "{}",
            summary::render(&record, summary::Style::for_stdout(false))
        );
        if let Some(path) = &args.html {
            println!("  HTML report {}", path.display());
        }
    }
    Ok(if record.report.passed {
        ExitCode::Ok
    } else {
        record
            .report
            .outcome
            .error_kind()
            .map(|k| k.exit_code())
            .unwrap_or(ExitCode::CouldNotRun)
    })
}

/// Writes the HTML report from every run in `history`.
pub async fn write_html(
    path: &std::path::Path,
    history: &Store,
    title: &str,
    notes: &[String],
) -> Result<(), CliError> {
    let runs = drill::load_runs(history).await?;
    let page = html::render(title, &runs, notes);
    std::fs::write(path, page).map_err(|e| {
        CliError::new(
            drill_core::ErrorKind::CouldNotRun,
            format!("writing the HTML report {}: {e}", path.display()),
        )
    })
}

/// A drill id unique enough for temp names and history keys: kind, time, process, a counter.
pub fn new_drill_id(kind: &str) -> String {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{kind}-{}-{:05x}{:04x}{seq}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        std::process::id() & 0xfffff,
        nanos & 0xffff
    )
}
