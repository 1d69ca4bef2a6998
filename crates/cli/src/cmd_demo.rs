//! `drill demo`: the whole product in one command, locally, in about a minute.
//!
//! Night one: create a learning-platform database, drill it (export → restore into a fresh
//! temporary database → validate → drop the temporary database through the guards). Night two:
//! a destructive DELETE, another drill whose night-over-night check flags "data loss suspected",
//! and a restore of night one's backup set proving it is still intact. Everything the demo
//! started is stopped; only the backup store and the reports stay, under `--dir`.

use std::path::{Path, PathBuf};

use clap::Args;
use drill_core::checks::Status;
use drill_core::naming::DEFAULT_PREFIX;
use drill_core::{ErrorKind, ExitCode};
use drill_engine::demo_data;
use drill_engine::drill::{self, DrillSpec, RunRecord, SetProof};
use drill_engine::localpg::{ClusterOptions, LocalCluster};
use drill_engine::pg::Database;
use drill_engine::store::Store;
use serde::Serialize;

use crate::cmd_run::{new_drill_id, write_html};
use crate::output::{drill_error, CliError, CliResult, Globals};
use crate::progress::{Bars, Mode};
use crate::summary::{self, human_bytes, human_count, human_secs, Style};

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

/// Marks a directory as the demo's, so a second run may replace its contents.
const DIR_MARKER: &str = ".restore-drill-demo";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct DemoArgs {
    /// Rows in the demo database (students, courses, enrollments, homework submissions,
    /// leaderboard scores). Example: --rows 20000
    #[arg(long, default_value_t = 2_000_000, value_parser = clap::value_parser!(u64).range(100..=100_000_000))]
    rows: u64,

    /// Use this PostgreSQL server instead of starting a throwaway one; the demo creates (and
    /// drops again) its own database there, the role needs CREATEDB.
    /// Example: --source postgres://postgres:secret@127.0.0.1:5432/postgres
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "POSTGRES_URL"
    )]
    source: Option<String>,

    /// Directory for the backup store and the reports (created; a previous demo's contents are
    /// replaced). Example: --dir /tmp/drill-demo
    #[arg(long, default_value = "restore-drill-demo", value_name = "DIR")]
    dir: PathBuf,

    /// Where to write the HTML report. Default: <dir>/report.html
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,

    /// Name of the demo database. Example: --database learning_demo
    #[arg(long, default_value = "restore_drill_demo")]
    database: String,

    /// Parallel COPY workers for export and restore. Example: --jobs 4
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
}

#[derive(Debug, Serialize)]
struct ClusterInfo {
    port: u16,
    data_dir: String,
    stopped: bool,
}

#[derive(Debug, Serialize)]
struct DemoResult {
    dir: String,
    server: String,
    cluster: Option<ClusterInfo>,
    rows_requested: u64,
    generate_seconds: f64,
    nights: Vec<RunRecord>,
    deleted_rows: u64,
    data_loss_flagged: bool,
    night_one_proof: SetProof,
    html: String,
    /// Temp databases with the drill prefix left on the server afterwards (always empty unless
    /// a guard refused a drop).
    leftover_temp_databases: Vec<String>,
    total_seconds: f64,
    success: bool,
}

fn usage(msg: String) -> CliError {
    CliError::usage(msg)
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> CliError {
    CliError::new(
        ErrorKind::CouldNotRun,
        format!("{what} {}: {e}", path.display()),
    )
}

/// Creates (or takes back) the demo directory and returns its absolute path.
fn prepare_dir(dir: &Path) -> Result<PathBuf, CliError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err("creating", dir, e))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| io_err("resolving", dir, e))?;
    let mut entries = std::fs::read_dir(&dir)
        .map_err(|e| io_err("reading", &dir, e))?
        .flatten()
        .peekable();
    if entries.peek().is_some() && !dir.join(DIR_MARKER).exists() {
        return Err(usage(format!(
            "--dir {} is not empty and is not a restore-drill demo directory; the demo only \
             replaces its own output",
            dir.display()
        ))
        .with_hint("Choose a new or empty directory with --dir."));
    }
    // Only what an earlier demo wrote is removed.
    for name in ["backups", "history"] {
        let p = dir.join(name);
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(|e| io_err("removing", &p, e))?;
        }
    }
    for name in ["report.html", "summary.json"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    std::fs::write(
        dir.join(DIR_MARKER),
        "written by `drill demo`; it replaces backups/, history/, report.html and summary.json here\n",
    )
    .map_err(|e| io_err("writing in", &dir, e))?;
    Ok(dir)
}

pub async fn run(args: DemoArgs, globals: &Globals) -> CliResult {
    // Check everything the user typed before starting anything.
    let given = match &args.source {
        Some(url) => Some(Database::from_url(url).map_err(|e| drill_error(e.into()))?),
        None => None,
    };
    if !args
        .database
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        || args.database.is_empty()
    {
        return Err(usage(format!(
            "--database {:?} must be lowercase letters, digits and underscores",
            args.database
        )));
    }
    let dir = prepare_dir(&args.dir)?;
    let html_path = args.html.clone().unwrap_or_else(|| dir.join("report.html"));
    let bars = Bars::new(Mode::detect(globals.json));
    let started = std::time::Instant::now();

    // The server: the one given, or a throwaway cluster of our own.
    let mut cluster = None;
    let admin = match given {
        Some(e) => e,
        None => {
            bars.say("starting a throwaway PostgreSQL cluster …");
            let options = ClusterOptions {
                parent: None,
                settings: vec![
                    // Throwaway and rebuilt every run: durability settings only cost time, and
                    // autovacuum would compete with the drill for the two cores.
                    ("autovacuum".into(), "off".into()),
                    ("max_wal_size".into(), "4GB".into()),
                    ("checkpoint_timeout".into(), "30min".into()),
                    ("shared_buffers".into(), "256MB".into()),
                    ("max_connections".into(), "40".into()),
                ],
            };
            let c = tokio::task::spawn_blocking(move || LocalCluster::start(options))
                .await
                .map_err(|e| {
                    CliError::new(ErrorKind::CouldNotRun, format!("starting PostgreSQL: {e}"))
                })??;
            bars.say(&format!(
                "PostgreSQL running on 127.0.0.1:{} (data in {})",
                c.port(),
                c.data_dir().display()
            ));
            let e = Database::from_url(&c.url("postgres")).map_err(|e| drill_error(e.into()))?;
            cluster = Some(c);
            e
        }
    };

    let ids = [
        new_drill_id("demo-n1"),
        new_drill_id("demo-n2"),
        new_drill_id("demo-proof"),
    ];
    // Ctrl-C still cleans up: the cluster is stopped and the demo database dropped.
    let outcome = tokio::select! {
        r = nights(&args, globals, &dir, &admin, &bars, &ids) => r,
        _ = tokio::signal::ctrl_c() => Err(CliError::new(ErrorKind::CouldNotRun, "interrupted (Ctrl-C); cleaned up")),
    };

    // Cleanup, whatever happened.
    let mut leftovers = Vec::new();
    if let Ok(client) = admin.connect_as("restore-drill demo cleanup").await {
        leftovers = drill::temp_databases_of(&client, &ids)
            .await
            .unwrap_or_default();
        if cluster.is_none() {
            if let Err(e) = demo_data::drop_database(&client, &args.database).await {
                bars.say(&format!("warning: could not drop the demo database: {e}"));
            }
        }
    }
    let cluster_info = match cluster.take() {
        Some(mut c) => {
            let info = ClusterInfo {
                port: c.port(),
                data_dir: c.data_dir().display().to_string(),
                stopped: false,
            };
            let stopped = tokio::task::spawn_blocking(move || {
                let r = c.stop();
                drop(c); // removes the data directory
                r
            })
            .await;
            let stopped = matches!(stopped, Ok(Ok(())));
            if !stopped {
                bars.say("warning: the throwaway PostgreSQL did not stop cleanly; it was killed");
            }
            Some(ClusterInfo { stopped, ..info })
        }
        None => None,
    };
    let mut nights_out = outcome?;
    let history = Store::open(&format!("file://{}/history", dir.display()), None)?;
    let notes = vec![
        format!(
            "night 1: {} rows of a learning platform (students, courses, enrollments, homework submissions, leaderboard scores) exported, restored into a fresh temporary database, validated, and the temporary database dropped through the guards",
            human_count(nights_out.generated.sizes.total())
        ),
        format!(
            "night 2: a destructive DELETE removed {} homework submissions; the night-over-night check flagged: {}",
            human_count(nights_out.deleted),
            nights_out.flag_line.clone()
        ),
        format!(
            "night 1's backup set is still intact: restored again and verified object by object ({} rows in {})",
            human_count(nights_out.proof.rows),
            human_secs(nights_out.proof.seconds)
        ),
    ];
    write_html(
        &html_path,
        &history,
        "restore-drill demo: learning platform",
        &notes,
    )
    .await?;

    let night1_ok = nights_out.records[0].report.passed;
    let flagged = nights_out.flagged;
    let success = night1_ok && flagged && leftovers.is_empty();
    let result = DemoResult {
        dir: dir.display().to_string(),
        server: admin.describe(),
        cluster: cluster_info,
        rows_requested: args.rows,
        generate_seconds: nights_out.generated.load_seconds + nights_out.generated.keys_seconds,
        nights: std::mem::take(&mut nights_out.records),
        deleted_rows: nights_out.deleted,
        data_loss_flagged: flagged,
        night_one_proof: nights_out.proof.clone(),
        html: html_path.display().to_string(),
        leftover_temp_databases: leftovers,
        total_seconds: started.elapsed().as_secs_f64(),
        success,
    };
    let json = serde_json::to_value(&result).unwrap_or_default();
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_vec_pretty(&json).unwrap_or_default(),
    )
    .map_err(|e| io_err("writing", &dir.join("summary.json"), e))?;

    if globals.json {
        globals.print_json(&json);
    } else {
        print_story(&result, &nights_out, Style::for_stdout(false));
    }
    Ok(if success {
        ExitCode::Ok
    } else if !night1_ok {
        result.nights[0]
            .report
            .outcome
            .error_kind()
            .map(|k| k.exit_code())
            .unwrap_or(ExitCode::CouldNotRun)
    } else if !result.leftover_temp_databases.is_empty() {
        ExitCode::GuardViolation
    } else {
        ExitCode::BackupInvalid
    })
}

struct Nights {
    generated: demo_data::Generated,
    records: Vec<RunRecord>,
    deleted: u64,
    flagged: bool,
    flag_line: String,
    proof: SetProof,
}

async fn nights(
    args: &DemoArgs,
    globals: &Globals,
    dir: &Path,
    admin: &Database,
    bars: &std::sync::Arc<Bars>,
    ids: &[String; 3],
) -> Result<Nights, CliError> {
    let client = admin
        .connect_as("restore-drill demo")
        .await
        .map_err(|e| drill_error(e.into()))?;
    demo_data::create_database(&client, &args.database)
        .await
        .map_err(|e| with_explained(CliError::from(e)))?;
    let source = admin.with_database(&args.database);
    bars.say(&format!(
        "creating the learning platform: {} rows in {} …",
        human_count(args.rows),
        source.describe()
    ));
    let generated = demo_data::generate(&source, args.rows)
        .await
        .map_err(|e| with_explained(CliError::from(e)))?;
    bars.say(&format!(
        "  loaded in {}, keys and indexes in {}",
        human_secs(generated.load_seconds),
        human_secs(generated.keys_seconds)
    ));

    let store = Store::open(&format!("file://{}/backups", dir.display()), None)?;
    let history = Store::open(&format!("file://{}/history", dir.display()), None)?;
    let mut spec = DrillSpec {
        source_id: "learning-platform".into(),
        drill_id: ids[0].clone(),
        prefix: DEFAULT_PREFIX.into(),
        source: source.clone(),
        restore_server: admin.clone(),
        store: store.clone(),
        history,
        checks: demo_data::demo_checks(),
        jobs: usize::from(args.jobs),
        protected: Vec::new(),
        observer: bars.observer(),
    };
    let style = Style::for_stdout(globals.json);

    bars.set_context("night 1");
    bars.say(&style.bold("\nnight 1: the nightly drill"));
    let night1 = drill::run_labeled(&spec, Some("night 1".into()))
        .await
        .map_err(drill_error)?;
    if !globals.json {
        print!("{}", summary::render(&night1, style));
    }

    bars.set_context("night 2");
    bars.say(&style.bold("\nnight 2: someone runs a destructive DELETE on the source"));
    let deleted = demo_data::simulate_incident(&source)
        .await
        .map_err(|e| with_explained(CliError::from(e)))?;
    bars.say(&format!(
        "  DELETE FROM homework_submissions WHERE submitted_at < now() - interval '30 days'  → {} rows gone",
        human_count(deleted)
    ));
    spec.drill_id = ids[1].clone();
    let night2 = drill::run_labeled(&spec, Some("night 2".into()))
        .await
        .map_err(drill_error)?;
    if !globals.json {
        print!("{}", summary::render(&night2, style));
    }
    let row_check = night2.report.checks.iter().find(|c| c.name == "row_counts");
    let flagged = row_check.is_some_and(|c| {
        c.status == Status::Fail
            && c.details
                .iter()
                .any(|d| d.starts_with("data loss suspected"))
    });
    let flag_line = row_check
        .map(|c| {
            let mut lines = c.details.iter().take(2).cloned().collect::<Vec<_>>();
            if lines.is_empty() {
                lines.push(c.measured.clone());
            }
            lines.join(": ")
        })
        .unwrap_or_else(|| "no row count check ran".into());

    bars.set_context("proof");
    bars.say(
        &style.bold("\nis night 1's backup still good? restoring it again, every object verified"),
    );
    spec.drill_id = ids[2].clone();
    let set_rel = night1
        .backup_set
        .strip_prefix(&store.url_of(""))
        .unwrap_or(&night1.backup_set)
        .trim_matches('/')
        .to_owned();
    let proof = drill::prove_restorable(&spec, &store.child(&set_rel))
        .await
        .map_err(drill_error)?;
    Ok(Nights {
        generated,
        records: vec![night1, night2],
        deleted,
        flagged,
        flag_line,
        proof,
    })
}

fn with_explained(mut e: CliError) -> CliError {
    if e.hint.is_none() {
        e.hint = crate::output::explain(e.kind, &e.message, None);
    }
    e
}

fn print_story(r: &DemoResult, n: &Nights, style: Style) {
    println!("\n{}", style.bold("what the demo proved"));
    let mark = |ok: bool| {
        if ok {
            style.green("✔")
        } else {
            style.red("✘")
        }
    };
    let n1 = &r.nights[0];
    let n2 = &r.nights[1];
    println!(
        "  {} night 1: backup of {} rows restored and validated in {} (RTO), {} checks passed",
        mark(n1.report.passed),
        human_count(n1.rows),
        human_secs(n1.rto_seconds),
        n1.checks_passed
    );
    println!(
        "  {} night 2: after the DELETE of {} rows the drill failed {} check(s) and flagged \"{}\"",
        mark(r.data_loss_flagged),
        human_count(r.deleted_rows),
        n2.checks_failed,
        n.flag_line
    );
    println!(
        "  {} night 1's backup set is intact: {} rows restored and verified again in {}",
        mark(true),
        human_count(r.night_one_proof.rows),
        human_secs(r.night_one_proof.seconds)
    );
    println!(
        "  {} cleaned up: temporary databases dropped through the guards{}",
        mark(r.leftover_temp_databases.is_empty() && r.cluster.as_ref().is_none_or(|c| c.stopped)),
        if r.cluster.is_some() {
            ", throwaway PostgreSQL stopped and removed"
        } else {
            ", demo database dropped"
        }
    );
    println!(
        "\n  backups  {}/backups ({} per night)\n  reports  {}/history\n  HTML     {}\n  total    {}",
        r.dir,
        human_bytes(n1.backup_bytes),
        r.dir,
        r.html,
        human_secs(r.total_seconds)
    );
}
