//! `drill aws history`: the dated run reports of one source, as a table, JSON or the HTML report.

use drill_core::operate;
use drill_core::run_report::RunReport;
use drill_core::{ErrorKind, ExitCode};
use drill_engine::store::Store;
use serde_json::Value;

use super::{secs, table, HistoryArgs};
use crate::output::{CliError, CliResult, Globals};
use crate::summary::human_count;

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

pub(super) async fn history(reports: &Store, a: HistoryArgs, globals: &Globals) -> CliResult {
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
