//! The diff for people: a table on the terminal and a self-contained HTML page in the style of
//! the drill report (same CSS, no script, no network).

use drill_core::diff::{DiffReport, Matching, TableChange, TableDiff, Verdict};

use crate::html::{escape, CSS};
use crate::summary::{human_count, human_secs};

fn matching(t: &TableDiff) -> &'static str {
    match &t.matching {
        Some(Matching::PrimaryKey(_)) => "by key",
        Some(Matching::RowHash) => "by row hash",
        None => "",
    }
}

fn change(t: &TableDiff) -> &'static str {
    match t.change {
        TableChange::Unchanged => "unchanged",
        TableChange::Changed => "changed",
        TableChange::Added => "added",
        TableChange::Dropped => "DROPPED",
    }
}

fn columns(t: &TableDiff) -> String {
    let mut parts = Vec::new();
    parts.extend(t.columns_added.iter().map(|c| format!("+{c}")));
    parts.extend(t.columns_dropped.iter().map(|c| format!("-{c}")));
    parts.extend(t.columns_retyped.iter().cloned());
    parts.join(", ")
}

/// The terminal table: changed tables only (all unchanged is said in one line).
pub fn table(name: &str, r: &DiffReport) -> String {
    let mut out = format!(
        "diff of sandbox {name} against its base ({} tables, {})\n\n",
        r.tables.len(),
        human_secs(r.seconds)
    );
    let changed: Vec<&TableDiff> = r.changed_tables().collect();
    if !changed.is_empty() {
        out.push_str(&format!(
            "  {:<36} {:>10} {:>10} {:>10} {:>10} {:>10}  {:<10} columns\n",
            "table", "base rows", "inserted", "deleted", "updated", "now", "status"
        ));
        for t in changed {
            out.push_str(&format!(
                "  {:<36} {:>10} {:>10} {:>10} {:>10} {:>10}  {:<10} {}\n",
                t.display_name(),
                human_count(t.rows.base_rows),
                human_count(t.rows.inserted),
                human_count(t.rows.deleted),
                human_count(t.rows.updated),
                human_count(t.rows.sandbox_rows),
                change(t),
                columns(t)
            ));
        }
        out.push('\n');
    }
    for s in r
        .sequences
        .iter()
        .filter(|s| s.change != TableChange::Unchanged)
    {
        out.push_str(&format!(
            "  sequence {}.{}: {:?} → {:?}\n",
            s.schema, s.name, s.base_value, s.sandbox_value
        ));
    }
    out.push_str(&format!("verdict: {}\n", r.verdict.label().to_uppercase()));
    for f in &r.findings {
        out.push_str(&format!("  - {f}\n"));
    }
    if r.verdict == Verdict::Destructive {
        out.push_str("\nDo not apply this change to production as it is.\n");
    }
    out
}

/// The HTML page.
pub fn html(name: &str, r: &DiffReport) -> String {
    let class = match r.verdict {
        Verdict::NoChange => "pass",
        Verdict::Changes => "error",
        Verdict::Destructive => "fail",
    };
    let mut rows = String::new();
    for t in r.changed_tables() {
        let samples = [
            ("inserted", &t.rows.sample_inserted),
            ("deleted", &t.rows.sample_deleted),
            ("updated", &t.rows.sample_updated),
        ]
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(k, s)| format!("<li>{k}: {}</li>", escape(&s.join("; "))))
        .collect::<String>();
        rows.push_str(&format!(
            "<tr data-table=\"{}\"><td>{}<ul class=\"details\">{samples}</ul></td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&t.display_name()),
            escape(&t.display_name()),
            change(t),
            t.rows.base_rows,
            t.rows.inserted,
            t.rows.deleted,
            t.rows.updated,
            t.rows.sandbox_rows,
            matching(t),
            escape(&columns(t)),
        ));
    }
    let findings: String = r
        .findings
        .iter()
        .map(|f| format!("<li>{}</li>", escape(f)))
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>sandbox diff {n}</title>\
         <style>{CSS}</style></head><body><h1>Sandbox diff: {n}</h1>\
         <p class=\"sub\">{sb} against its base {b}, {secs}; destructive above {share:.1} % of a \
         table's rows deleted or updated</p>\
         <p><span class=\"verdict {class}\" id=\"verdict\">{verdict}</span></p>\
         <ul class=\"notes\">{findings}</ul>\
         <h2>Changed tables</h2><table><tr><th>table</th><th>status</th><th>base rows</th>\
         <th>inserted</th><th>deleted</th><th>updated</th><th>now</th><th>matched</th>\
         <th>columns</th></tr>{rows}</table>\
         <p class=\"sub\">{unchanged} tables unchanged.</p></body></html>\n",
        n = escape(name),
        sb = escape(&r.sandbox),
        b = escape(&r.base),
        secs = human_secs(r.seconds),
        share = r.policy.max_changed_share * 100.0,
        verdict = r.verdict.label(),
        unchanged = r.tables.len() - r.changed_tables().count(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use drill_core::diff::{ColumnChanges, DiffPolicy, RowCounts};

    fn report() -> DiffReport {
        let rows = RowCounts {
            base_rows: 10,
            sandbox_rows: 0,
            deleted: 10,
            sample_deleted: vec!["<1>".into()],
            ..RowCounts::default()
        };
        let t = TableDiff::compared(
            "public",
            "students",
            Matching::PrimaryKey(vec!["id".into()]),
            rows,
            ColumnChanges::default(),
        );
        DiffReport::new(
            "h/s".into(),
            "h/b".into(),
            vec![t],
            vec![],
            DiffPolicy::default(),
            1.0,
        )
    }

    #[test]
    fn the_table_names_the_emptied_table_and_the_verdict() {
        let text = table("sbx", &report());
        assert!(text.contains("public.students"), "{text}");
        assert!(text.contains("verdict: DESTRUCTIVE"), "{text}");
        assert!(text.contains("emptied (10 rows deleted)"), "{text}");
    }

    #[test]
    fn the_html_is_escaped_and_self_contained() {
        let page = html("sbx<x>", &report());
        assert!(page.contains("sbx&lt;x&gt;") && !page.contains("sbx<x>"));
        assert!(page.contains("&lt;1&gt;"));
        assert!(page.contains("class=\"verdict fail\""));
        assert!(
            !page.contains("<script") && !page.contains("http://") && !page.contains("https://")
        );
    }
}
