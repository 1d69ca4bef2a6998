//! `drill demo`: the whole product in one command, locally, in about a minute.
//!
//! Night one: create a learning-platform database, drill it (export → restore into a fresh
//! temporary database → validate → drop the temporary database through the guards). Night two:
//! a destructive DELETE, another drill whose night-over-night check flags "data loss suspected",
//! and a restore of night one's backup set proving it is still intact. Everything the demo
//! started is stopped; only the backup store and the reports stay, under `--dir`.
//!
//! Here: the arguments and the order of things. `server`: the PostgreSQL the demo uses and its
//! cleanup; `data`: the demo database; `nights`: the three drills; `story`: what it reports;
//! `dir`: the output directory.

mod data;
mod dir;
mod load;
mod nights;
mod server;
mod story;

use std::path::PathBuf;

use clap::Args;
use drill_engine::pg::Database;
use drill_engine::store::Store;

use crate::cmd_run::{new_drill_id, write_html};
use crate::output::{drill_error, CliError, CliResult, Globals};
use crate::progress::{Bars, Mode};
use server::Server;
use story::DemoResult;

const EXAMPLES: &str = "\
Examples:
  drill demo                              # throwaway PostgreSQL, 2,000,000 rows, ./restore-drill-demo
  drill demo --rows 20000 --dir /tmp/demo # small and quick
  DATABASE_URL=postgres://postgres:pw@127.0.0.1:5432/postgres drill demo
                                          # use your server (role needs CREATEDB)
  drill demo --json > demo.json           # machine-readable result, no progress bars

What it leaves: <dir>/backups (the backup sets), <dir>/history (reports and run records),
<dir>/report.html (or --html) and <dir>/summary.json. It stops the PostgreSQL it started and
drops every database it created.

Exit codes:
  0  the demo showed what it should: night one passed, night two flagged data loss, and night
     one's backup set restored intact
  1  a drill found a backup invalid where the demo did not expect it
  2  usage error: bad option or URL, or --dir holds something that is not a demo
  3  could not run: PostgreSQL missing or unreachable, permission denied, disk full, ...
  4  a safety guard refused to drop a database";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct DemoArgs {
    /// Rows in the demo database (students, courses, enrollments, homework submissions,
    /// leaderboard scores). Example: --rows 20000
    #[arg(long, default_value_t = 2_000_000, value_parser = clap::value_parser!(u64).range(100..=100_000_000))]
    pub(super) rows: u64,

    /// Use this PostgreSQL server instead of starting a throwaway one; the demo creates (and
    /// drops again) its own database there, the role needs CREATEDB.
    /// Example: --source postgres://postgres:secret@127.0.0.1:5432/postgres
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "POSTGRES_URL"
    )]
    pub(super) source: Option<String>,

    /// Directory for the backup store and the reports (created; a previous demo's contents are
    /// replaced). Example: --dir /tmp/drill-demo
    #[arg(long, default_value = "restore-drill-demo", value_name = "DIR")]
    pub(super) dir: PathBuf,

    /// Where to write the HTML report. Default: <dir>/report.html
    #[arg(long, value_name = "FILE")]
    pub(super) html: Option<PathBuf>,

    /// Name of the demo database. Example: --database learning_demo
    #[arg(long, default_value = "restore_drill_demo")]
    pub(super) database: String,

    /// Parallel COPY workers for export and restore. Example: --jobs 4
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(super) jobs: u16,

    /// Only fill this (empty) database with the learning platform and its QA test data, then
    /// exit: a source for trying `drill sandbox`. Example: --load-into postgres://u:p@h/db
    #[arg(long, hide = true, value_name = "POSTGRES_URL")]
    pub(super) load_into: Option<String>,
}

/// The demo database's name: a plain identifier, checked before anything starts.
fn check_database_name(name: &str) -> Result<(), CliError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(CliError::usage(format!(
            "--database {name:?} must be lowercase letters, digits and underscores"
        )));
    }
    Ok(())
}

pub async fn run(args: DemoArgs, globals: &Globals) -> CliResult {
    if let Some(url) = &args.load_into {
        return load::run(url, args.rows, globals).await;
    }
    // Check everything the user typed before starting anything.
    let given = match &args.source {
        Some(url) => Some(Database::from_url(url).map_err(|e| drill_error(e.into()))?),
        None => None,
    };
    check_database_name(&args.database)?;
    let dir = dir::prepare_dir(&args.dir)?;
    let html_path = args.html.clone().unwrap_or_else(|| dir.join("report.html"));
    let bars = Bars::new(Mode::detect(globals.json));
    let started = std::time::Instant::now();

    let server = Server::start(given, &bars).await?;
    let ids = [
        new_drill_id("demo-n1"),
        new_drill_id("demo-n2"),
        new_drill_id("demo-proof"),
    ];
    // Ctrl-C still cleans up: the cluster is stopped and the demo database dropped.
    let outcome = tokio::select! {
        r = nights::run(&args, globals, &dir, &server.admin, &bars, &ids) => r,
        _ = tokio::signal::ctrl_c() => Err(CliError::new(drill_core::ErrorKind::CouldNotRun, "interrupted (Ctrl-C); cleaned up")),
    };
    let server_name = server.admin.describe();
    let cleaned = server.clean_up(&ids, &args.database, &bars).await;
    let mut nights = outcome?;

    let history = Store::open(&format!("file://{}/history", dir.display()), None)?;
    let title = "restore-drill demo: learning platform";
    write_html(&html_path, &history, title, &story::notes(&nights)).await?;
    let success = nights.records[0].report.passed && nights.flagged && cleaned.leftovers.is_empty();
    let result = DemoResult {
        dir: dir.display().to_string(),
        server: server_name,
        cluster: cleaned.cluster,
        rows_requested: args.rows,
        generate_seconds: nights.generated.load_seconds + nights.generated.keys_seconds,
        nights: std::mem::take(&mut nights.records),
        deleted_rows: nights.deleted,
        data_loss_flagged: nights.flagged,
        night_one_proof: nights.proof.clone(),
        html: html_path.display().to_string(),
        leftover_temp_databases: cleaned.leftovers,
        total_seconds: started.elapsed().as_secs_f64(),
        success,
    };
    story::report(&result, &nights, &dir, globals)?;
    Ok(story::exit_code(&result))
}
