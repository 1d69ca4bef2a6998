//! What the demo reports: its summary (`summary.json`, `--json`), the notes of its HTML report,
//! the story on the terminal, and its exit code.

use std::path::Path;

use drill_core::ExitCode;
use drill_engine::drill::{RunRecord, SetProof};
use serde::Serialize;

use super::dir::io_err;
use super::nights::Nights;
use super::server::ClusterInfo;
use crate::output::{CliError, Globals};
use crate::summary::{human_bytes, human_count, human_secs, Style};

#[derive(Debug, Serialize)]
pub(super) struct DemoResult {
    pub(super) dir: String,
    pub(super) server: String,
    pub(super) cluster: Option<ClusterInfo>,
    pub(super) rows_requested: u64,
    pub(super) generate_seconds: f64,
    pub(super) nights: Vec<RunRecord>,
    pub(super) deleted_rows: u64,
    pub(super) data_loss_flagged: bool,
    pub(super) night_one_proof: SetProof,
    pub(super) html: String,
    /// Temp databases with the drill prefix left on the server afterwards (always empty unless
    /// a guard refused a drop).
    pub(super) leftover_temp_databases: Vec<String>,
    pub(super) total_seconds: f64,
    pub(super) success: bool,
}

/// The HTML report's notes: what each night showed.
pub(super) fn notes(n: &Nights) -> Vec<String> {
    vec![
        format!(
            "night 1: {} rows of a learning platform (students, courses, enrollments, homework submissions, leaderboard scores) exported, restored into a fresh temporary database, validated, and the temporary database dropped through the guards",
            human_count(n.generated.sizes.total())
        ),
        format!(
            "night 2: a destructive DELETE removed {} homework submissions; the night-over-night check flagged: {}",
            human_count(n.deleted),
            n.flag_line.clone()
        ),
        format!(
            "night 1's backup set is still intact: restored again and verified object by object ({} rows in {})",
            human_count(n.proof.rows),
            human_secs(n.proof.seconds)
        ),
    ]
}

/// Writes `<dir>/summary.json` and prints the result (JSON, or the story).
pub(super) fn report(
    result: &DemoResult,
    nights: &Nights,
    dir: &Path,
    globals: &Globals,
) -> Result<(), CliError> {
    let json = serde_json::to_value(result).unwrap_or_default();
    let path = dir.join("summary.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap_or_default())
        .map_err(|e| io_err("writing", &path, e))?;
    if globals.json {
        globals.print_json(&json);
    } else {
        print_story(result, nights, Style::for_stdout(false));
    }
    Ok(())
}

/// 0 when the demo showed what it should; else what went wrong first.
pub(super) fn exit_code(result: &DemoResult) -> ExitCode {
    if result.success {
        ExitCode::Ok
    } else if !result.nights[0].report.passed {
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
    }
}

/// The story of the demo for a terminal.
pub(super) fn print_story(r: &DemoResult, n: &Nights, style: Style) {
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
