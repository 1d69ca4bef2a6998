//! `drill sandbox`: a disposable copy of production for a risky change, and the diff a person
//! reads before the change goes to production.
//!
//! Here: the arguments and the local commands; `report`: the diff as a table, JSON and HTML.

pub(crate) mod report;

use std::path::PathBuf;

use chrono::Utc;
use clap::{Args, Subcommand};
use drill_core::diff::DiffPolicy;
use drill_core::runconfig::RunConfig;
use drill_core::sandboxdb;
use drill_core::ExitCode;
use drill_engine::sandbox::local::{self, CreateSpec, DeleteSpec, Entry};

use crate::cmd_export::open_store;
use crate::cmd_run::endpoint;
use crate::output::{CliError, CliResult, Globals};

const EXAMPLES: &str = "\
Workflow (try it on a copy first):
  drill sandbox create --config drill.toml --source prod-app --ttl 4h
  drill sandbox connect <ID>              # psql on the sandbox; run the risky change there
  drill sandbox diff <ID>                 # what it did, per table; --json, --html diff.html
  drill sandbox delete <ID>               # or let `drill sandbox janitor` sweep it at expiry

The sandbox is the newest backup set of the source whose drill passed (drill run), restored
into <prefix>sbx-<source>-<time>-<hash> on the configured restore server, with a read-only copy
<ID>-base taken right after the restore: the diff compares against it. Its connection (0600
files, password only in a pgpass file) is kept under --state-dir.

Configuration: the drill configuration of `drill run`, plus an optional table
  [sandbox]
  max_ttl_hours = 24        # --ttl may not ask for more
  max_changed_share = 0.10  # diff: destructive above this share of a table's rows deleted/updated

Exit codes of `diff`:
  0   no change
  10  changes (none destructive): read them before applying the change to production
  11  destructive: a table emptied or dropped, a column dropped, or more than max_changed_share
      of a table's rows deleted or updated
  2   usage error (unknown sandbox, bad option); 3 could not run; 4 a guard refused a drop";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct SandboxArgs {
    /// Directory of the sandbox registry (0700; one 0600 JSON and pgpass file per sandbox).
    /// Default: $XDG_STATE_HOME/restore-drill/sandboxes or ~/.local/state/restore-drill/sandboxes
    #[arg(long, global = true, env = "DRILL_SANDBOX_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: SandboxCommand,
}

#[derive(Debug, Subcommand)]
enum SandboxCommand {
    /// Restore the newest validated backup set of a configured source as a sandbox.
    Create(CreateArgs),
    /// Start psql on a sandbox (the password reaches psql through PGPASSFILE, never printed).
    Connect(ConnectArgs),
    /// What changed in a sandbox against the backup it came from; exit 0 / 10 / 11.
    Diff(DiffArgs),
    /// Your sandboxes in the registry, with their expiry.
    List,
    /// Drop a sandbox and its base, through the guards.
    Delete(IdArgs),
    /// Drop your expired sandboxes on the configured server (run it from cron).
    Janitor(ConfigArgs),
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// The drill configuration (as for `drill run`). Example: --config /etc/restore-drill/app.toml
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

#[derive(Debug, Args)]
struct CreateArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The source to copy: must be the configuration's source_id. Example: --source prod-app
    #[arg(long)]
    source: String,
    /// Lifetime; the janitor drops the sandbox after it (at most [sandbox].max_ttl_hours).
    /// Example: --ttl 90m, --ttl 4h, --ttl 1d
    #[arg(long, default_value = "4h")]
    ttl: String,
}

#[derive(Debug, Args)]
struct IdArgs {
    /// The sandbox (its database name, as `create` and `list` print it).
    id: String,
}

#[derive(Debug, Args)]
struct ConnectArgs {
    id: String,
    /// More psql arguments after `--`. Example: -- -c 'SELECT count(*) FROM students'
    #[arg(last = true)]
    psql_args: Vec<String>,
}

#[derive(Debug, Args)]
struct DiffArgs {
    id: String,
    /// Also write a self-contained HTML report. Example: --html diff.html
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Destructive above this share (0–1] of a table's rows deleted or updated.
    /// Default: the configuration's [sandbox].max_changed_share, else 0.10
    #[arg(long, value_name = "SHARE")]
    max_changed_share: Option<f64>,
    /// Read [sandbox] settings from this drill configuration.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub async fn run(args: SandboxArgs, globals: &Globals) -> CliResult {
    let dir = state_dir(args.state_dir)?;
    match args.command {
        SandboxCommand::Create(a) => create(a, &dir, globals).await,
        SandboxCommand::Connect(a) => connect(a, &dir).await,
        SandboxCommand::Diff(a) => diff(a, &dir, globals).await,
        SandboxCommand::List => list(&dir, globals),
        SandboxCommand::Delete(a) => delete(a, &dir, globals).await,
        SandboxCommand::Janitor(a) => janitor(a, &dir, globals).await,
    }
}

fn state_dir(given: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(d) = given {
        return Ok(d);
    }
    let base = match (std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME")) {
        (Some(x), _) if !x.is_empty() => PathBuf::from(x),
        (_, Some(h)) if !h.is_empty() => PathBuf::from(h).join(".local/state"),
        _ => {
            return Err(CliError::usage(
                "no --state-dir, DRILL_SANDBOX_DIR, XDG_STATE_HOME or HOME: say where the sandbox registry lives",
            ))
        }
    };
    Ok(base.join("restore-drill/sandboxes"))
}

/// Who asks: the local user (owner of the sandboxes they create; the guards compare it).
fn local_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var) {
            if !u.is_empty() {
                return u;
            }
        }
    }
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    format!("uid-{uid}")
}

fn read_config(path: &PathBuf) -> Result<RunConfig, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("reading --config {}: {e}", path.display())))?;
    RunConfig::from_toml(&text).map_err(|e| {
        CliError::from(e)
            .with_hint("`drill run --help` and `drill sandbox --help` show the format.")
    })
}

async fn create(args: CreateArgs, dir: &std::path::Path, globals: &Globals) -> CliResult {
    let config = read_config(&args.config.config)?;
    if args.source != config.source_id {
        return Err(CliError::usage(format!(
            "--source {:?} is not the configured source ({:?} in {})",
            args.source,
            config.source_id,
            args.config.config.display()
        )));
    }
    let ttl =
        sandboxdb::parse_ttl(&args.ttl).map_err(|e| CliError::usage(format!("--ttl: {e}")))?;
    let expires_at = sandboxdb::expiry(Utc::now(), ttl, config.sandbox.max_ttl_hours)
        .map_err(|e| CliError::usage(format!("--ttl: {e}")))?;
    let spec = CreateSpec {
        source_id: config.source_id.clone(),
        prefix: config.prefix.clone(),
        store: open_store(&config.store).await?,
        history: open_store(&config.history_url()).await?,
        server: endpoint(&config.restore_server()).await?,
        owner: local_user(),
        expires_at,
        jobs: usize::from(config.jobs),
        state_dir: dir.to_path_buf(),
    };
    if !globals.json {
        eprintln!(
            "sandbox of {}: restoring its newest validated backup set on {} …",
            spec.source_id,
            spec.server.describe()
        );
    }
    let entry = local::create(&spec).await?;
    if globals.json {
        globals.print_json(&serde_json::to_value(&entry).unwrap_or_default());
    } else {
        print_entry(&entry);
        println!(
            "\n  next: drill sandbox connect {0}   then   drill sandbox diff {0}",
            entry.name
        );
    }
    Ok(ExitCode::Ok)
}

fn print_entry(e: &Entry) {
    println!("sandbox  {}", e.name);
    println!("  source      {}", e.source_id);
    println!("  backup set  {}", e.backup_set);
    println!(
        "  base        {} (read-only copy taken right after the restore)",
        e.base
    );
    println!("  server      {}:{}", e.server.host, e.server.port);
    println!("  owner       {}", e.owner);
    println!("  expires at  {}", e.expires_at.to_rfc3339());
}

async fn connect(args: ConnectArgs, dir: &std::path::Path) -> CliResult {
    let entry = local::find(dir, &args.id)?;
    // psql of the local PostgreSQL installation, else whichever is on PATH.
    let psql = drill_engine::pgbin::pg_bindir()
        .map(|d| d.join("psql"))
        .ok()
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("psql"));
    let status = local::psql(dir, &entry, &psql)
        .args(&args.psql_args)
        .status()
        .map_err(|e| {
            CliError::new(
                drill_core::ErrorKind::CouldNotRun,
                format!("starting {}: {e}", psql.display()),
            )
            .with_hint("Install the PostgreSQL client (psql) or put it on PATH.")
        })?;
    Ok(if status.success() {
        ExitCode::Ok
    } else {
        ExitCode::CouldNotRun
    })
}

async fn diff(args: DiffArgs, dir: &std::path::Path, globals: &Globals) -> CliResult {
    let share = match (args.max_changed_share, &args.config) {
        (Some(s), _) => s,
        (None, Some(c)) => read_config(c)?.sandbox.max_changed_share,
        (None, None) => DiffPolicy::default().max_changed_share,
    };
    let policy =
        DiffPolicy::new(share).map_err(|e| CliError::usage(format!("--max-changed-share: {e}")))?;
    let entry = local::find(dir, &args.id)?;
    let base = entry.database(dir, &entry.base)?;
    let sandbox = entry.database(dir, &entry.name)?;
    let report = drill_engine::diff::diff(&base, &sandbox, &policy)
        .await
        .map_err(drill_engine::sandbox::SandboxError::from)?;
    if let Some(path) = &args.html {
        std::fs::write(path, report::html(&entry.name, &report)).map_err(|e| {
            CliError::new(
                drill_core::ErrorKind::CouldNotRun,
                format!("writing the HTML report {}: {e}", path.display()),
            )
        })?;
    }
    if globals.json {
        globals.print_json(&serde_json::to_value(&report).unwrap_or_default());
    } else {
        print!("{}", report::table(&entry.name, &report));
    }
    Ok(report.verdict.exit())
}

fn list(dir: &std::path::Path, globals: &Globals) -> CliResult {
    let entries = local::list(dir)?;
    if globals.json {
        globals.print_json(&serde_json::to_value(&entries).unwrap_or_default());
        return Ok(ExitCode::Ok);
    }
    if entries.is_empty() {
        println!("no sandboxes in {}", dir.display());
    }
    let now = Utc::now();
    for e in &entries {
        let state = if e.expires_at <= now { "EXPIRED" } else { "" };
        println!(
            "{:<50} {:<14} expires {} {state}",
            e.name,
            e.source_id,
            e.expires_at.format("%Y-%m-%d %H:%M UTC")
        );
    }
    Ok(ExitCode::Ok)
}

fn delete_spec(
    dir: &std::path::Path,
    prefix: &str,
    source: &str,
    protected: &[String],
) -> DeleteSpec {
    DeleteSpec {
        prefix: prefix.to_owned(),
        user: local_user(),
        source_database: source.to_owned(),
        protected: protected.to_vec(),
        state_dir: dir.to_path_buf(),
    }
}

async fn delete(args: IdArgs, dir: &std::path::Path, globals: &Globals) -> CliResult {
    let entry = local::find(dir, &args.id)?;
    // The prefix is the one the sandbox was named with: everything before "sbx-".
    let prefix = entry
        .name
        .split_once("sbx-")
        .map(|(p, _)| p.to_owned())
        .unwrap_or_default();
    let dropped = local::delete(&delete_spec(dir, &prefix, "", &[]), &entry).await?;
    report_dropped(&dropped, globals);
    Ok(ExitCode::Ok)
}

async fn janitor(args: ConfigArgs, dir: &std::path::Path, globals: &Globals) -> CliResult {
    let config = read_config(&args.config)?;
    let server = endpoint(&config.restore_server()).await?;
    let spec = delete_spec(
        dir,
        &config.prefix,
        &config.source.database,
        &config.protected,
    );
    let dropped = local::sweep(&spec, &server, Utc::now()).await?;
    report_dropped(&dropped, globals);
    Ok(ExitCode::Ok)
}

fn report_dropped(dropped: &[String], globals: &Globals) {
    if globals.json {
        globals.print_json(&serde_json::json!({ "dropped": dropped }));
    } else if dropped.is_empty() {
        println!("nothing to drop");
    } else {
        for d in dropped {
            println!("dropped {d}");
        }
    }
}
