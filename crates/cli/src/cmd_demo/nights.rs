//! The demo's three drills: night one on fresh data, night two after a destructive DELETE (its
//! night-over-night check must flag the loss), and a proof that night one's set still restores.

use std::path::Path;
use std::sync::Arc;

use drill_core::checks::{CheckResult, Status};
use drill_core::naming::DEFAULT_PREFIX;
use drill_engine::drill::{self, DrillSpec, RunRecord, SetProof};
use drill_engine::pg::Database;
use drill_engine::store::Store;

use super::{data, DemoArgs};
use crate::output::{drill_error, CliError, Globals};
use crate::progress::Bars;
use crate::summary::{self, human_count, human_secs, Style};

/// What the three drills showed.
pub(super) struct Nights {
    pub(super) generated: data::Generated,
    /// Night one, night two.
    pub(super) records: Vec<RunRecord>,
    /// Rows the incident deleted.
    pub(super) deleted: u64,
    /// Whether night two's row-count check said "data loss suspected".
    pub(super) flagged: bool,
    pub(super) flag_line: String,
    pub(super) proof: SetProof,
}

/// A demo-data error with the hint the CLI gives for its kind.
fn explained(e: data::DemoError) -> CliError {
    let mut e = CliError::from(e);
    if e.hint.is_none() {
        e.hint = crate::output::explain(e.kind, &e.message, None);
    }
    e
}

/// Creates the demo database on `admin` and fills it with `rows` rows.
async fn create_source(
    args: &DemoArgs,
    admin: &Database,
    bars: &Bars,
) -> Result<(Database, data::Generated), CliError> {
    let client = admin
        .connect_as("restore-drill demo")
        .await
        .map_err(|e| drill_error(e.into()))?;
    data::create_database(&client, &args.database)
        .await
        .map_err(explained)?;
    let source = admin.with_database(&args.database);
    bars.say(&format!(
        "creating the learning platform: {} rows in {} …",
        human_count(args.rows),
        source.describe()
    ));
    let generated = data::generate(&source, args.rows)
        .await
        .map_err(explained)?;
    bars.say(&format!(
        "  loaded in {}, keys and indexes in {}",
        human_secs(generated.load_seconds),
        human_secs(generated.keys_seconds)
    ));
    Ok((source, generated))
}

/// One drill of `spec` as `drill_id`, its summary printed unless the output is JSON.
async fn night(
    spec: &mut DrillSpec,
    drill_id: &str,
    label: &str,
    globals: &Globals,
) -> Result<RunRecord, CliError> {
    spec.drill_id = drill_id.to_owned();
    let record = drill::run_labeled(spec, Some(label.into()))
        .await
        .map_err(drill_error)?;
    if !globals.json {
        print!(
            "{}",
            summary::render(&record, Style::for_stdout(globals.json))
        );
    }
    Ok(record)
}

/// Whether the row-count check flagged data loss, and its line for the story.
fn data_loss_flag(checks: &[CheckResult]) -> (bool, String) {
    let row_check = checks.iter().find(|c| c.name == "row_counts");
    let flagged = row_check.is_some_and(|c| {
        c.status == Status::Fail
            && c.details
                .iter()
                .any(|d| d.starts_with("data loss suspected"))
    });
    let line = row_check
        .map(|c| {
            let mut lines = c.details.iter().take(2).cloned().collect::<Vec<_>>();
            if lines.is_empty() {
                lines.push(c.measured.clone());
            }
            lines.join(": ")
        })
        .unwrap_or_else(|| "no row count check ran".into());
    (flagged, line)
}

/// The three drills, under `dir`, with the drill ids `ids`.
pub(super) async fn run(
    args: &DemoArgs,
    globals: &Globals,
    dir: &Path,
    admin: &Database,
    bars: &Arc<Bars>,
    ids: &[String; 3],
) -> Result<Nights, CliError> {
    let (source, generated) = create_source(args, admin, bars).await?;
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
        checks: data::demo_checks(),
        jobs: usize::from(args.jobs),
        protected: Vec::new(),
        observer: bars.observer(),
    };
    let style = Style::for_stdout(globals.json);

    bars.set_context("night 1");
    bars.say(&style.bold("\nnight 1: the nightly drill"));
    let night1 = night(&mut spec, &ids[0], "night 1", globals).await?;

    bars.set_context("night 2");
    bars.say(&style.bold("\nnight 2: someone runs a destructive DELETE on the source"));
    let deleted = data::simulate_incident(&source).await.map_err(explained)?;
    bars.say(&format!(
        "  DELETE FROM homework_submissions WHERE submitted_at < now() - interval '30 days'  → {} rows gone",
        human_count(deleted)
    ));
    let night2 = night(&mut spec, &ids[1], "night 2", globals).await?;
    let (flagged, flag_line) = data_loss_flag(&night2.report.checks);

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
