//! A self-contained HTML report: inline CSS and inline SVG, no script, no network, so it opens
//! from a file on an air-gapped machine or as a mail attachment.
//!
//! It shows the newest drill's checks and, from the history, one chart per measure (RTO, backup
//! size, rows) across nights, so a drop in rows or a creeping RTO is visible at a glance.

use drill_core::checks::Status;
use drill_engine::drill::RunRecord;

use crate::summary::{human_bytes, human_count, human_secs};

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

pub(crate) const CSS: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;color:#1d2430;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
.sub{color:#5b6473}
.verdict{display:inline-block;padding:.15rem .6rem;border-radius:4px;font-weight:600}
.pass{background:#e3f6e8;color:#17692f}.fail{background:#fde7e7;color:#a11d1d}
.error{background:#fff3d6;color:#8a5a00}.skipped{background:#eef0f3;color:#5b6473}
table{border-collapse:collapse;width:100%;margin-top:.6rem}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e2e5ea;vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:#5b6473}
td.num{text-align:right;font-variant-numeric:tabular-nums}
ul.details{margin:.2rem 0 0 1rem;padding:0;color:#5b6473;font-size:.9rem}
.notes li{margin:.2rem 0}
.charts{display:flex;flex-wrap:wrap;gap:1rem}
.chart{border:1px solid #e2e5ea;border-radius:6px;padding:.4rem}
svg text{font:11px system-ui,sans-serif;fill:#5b6473}
";

struct Series<'a> {
    id: &'a str,
    title: &'a str,
    color: &'a str,
    values: Vec<f64>,
    fmt: fn(f64) -> String,
}

/// One small line chart: a point per night, labelled with its value.
fn chart(series: &Series<'_>, labels: &[String]) -> String {
    let (w, h) = (340.0, 200.0);
    // Room on both sides for the centred labels of the first and last points.
    let (left, right, top, bottom) = (56.0, 44.0, 28.0, 34.0);
    let max = series
        .values
        .iter()
        .cloned()
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let n = series.values.len();
    let x = |i: usize| {
        if n <= 1 {
            left + (w - left - right) / 2.0
        } else {
            left + (w - left - right) * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / (max * 1.1));
    let mut svg = format!(
        "<svg class=\"chart-svg\" data-series=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        series.id,
        escape(series.title)
    );
    svg.push_str(&format!(
        "<text x=\"8\" y=\"16\" style=\"font-weight:600;fill:#1d2430\">{}</text>",
        escape(series.title)
    ));
    // Axes and a reference line at the maximum.
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#c7ccd4\"/>",
        h - bottom,
        w - right,
        h - bottom
    ));
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#eef0f3\" stroke-dasharray=\"3 3\"/><text x=\"4\" y=\"{}\">{}</text>",
        y(max),
        w - right,
        y(max),
        y(max) + 4.0,
        escape(&(series.fmt)(max))
    ));
    if n > 1 {
        let points: Vec<String> = series
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
            series.color,
            points.join(" ")
        ));
    }
    for (i, v) in series.values.iter().enumerate() {
        let label = labels.get(i).cloned().unwrap_or_default();
        let value = (series.fmt)(*v);
        svg.push_str(&format!(
            "<circle class=\"point\" data-night=\"{}\" data-value=\"{v}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{}\"><title>{}: {}</title></circle>",
            escape(&label),
            x(i),
            y(*v),
            series.color,
            escape(&label),
            escape(&value)
        ));
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x(i),
            y(*v) - 8.0,
            escape(&value)
        ));
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x(i),
            h - bottom + 16.0,
            escape(&label)
        ));
    }
    svg.push_str("</svg>");
    format!("<div class=\"chart\">{svg}</div>")
}

fn status_class(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Error => "error",
        Status::Incomplete => "error",
        Status::Skipped => "skipped",
    }
}

fn run_label(i: usize, r: &RunRecord) -> String {
    r.label.clone().unwrap_or_else(|| format!("#{}", i + 1))
}

/// The report for `runs` (oldest first; the last one is shown in detail), with `notes` (one line
/// each) under the title.
pub fn render(title: &str, runs: &[RunRecord], notes: &[String]) -> String {
    let mut body = String::new();
    body.push_str(&format!("<h1>{}</h1>", escape(title)));
    let Some(latest) = runs.last() else {
        body.push_str("<p>No drill has run yet.</p>");
        return page(title, &body);
    };
    let (verdict, class) = if latest.report.passed {
        ("PASS", "pass")
    } else if latest.checks_failed > 0 {
        ("FAIL: backup invalid", "fail")
    } else {
        ("ERROR: could not validate", "error")
    };
    body.push_str(&format!(
        "<p class=\"sub\">source <b>{}</b> · latest drill <b>{}</b> · finished {} · <span class=\"verdict {class}\" id=\"verdict\">{verdict}</span></p>",
        escape(&latest.source_id),
        escape(&latest.drill_id),
        escape(&latest.finished_at.to_rfc3339()),
    ));
    if !notes.is_empty() {
        body.push_str("<ul class=\"notes\">");
        for n in notes {
            body.push_str(&format!("<li>{}</li>", escape(n)));
        }
        body.push_str("</ul>");
    }

    body.push_str("<h2>Nights</h2><table id=\"nights\"><thead><tr><th>night</th><th>drill</th><th>result</th><th>RTO</th><th>RPO</th><th>rows</th><th>backup size</th><th>checks passed / failed / errored</th></tr></thead><tbody>");
    for (i, r) in runs.iter().enumerate() {
        let (v, c) = if r.report.passed {
            ("pass", "pass")
        } else if r.checks_failed > 0 {
            ("fail", "fail")
        } else {
            ("error", "error")
        };
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><span class=\"verdict {c}\">{v}</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} / {} / {}</td></tr>",
            escape(&run_label(i, r)),
            escape(&r.drill_id),
            human_secs(r.rto_seconds),
            r.rpo_seconds.map(|s| human_secs(s as f64)).unwrap_or_else(|| "unknown".into()),
            human_count(r.rows),
            human_bytes(r.backup_bytes),
            r.checks_passed,
            r.checks_failed,
            r.checks_errored
        ));
    }
    body.push_str("</tbody></table>");

    let labels: Vec<String> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| run_label(i, r))
        .collect();
    let series = [
        Series {
            id: "rto",
            title: "RTO (restore + validation)",
            color: "#2f6fdf",
            values: runs.iter().map(|r| r.rto_seconds).collect(),
            fmt: human_secs,
        },
        Series {
            id: "backup-size",
            title: "Backup size",
            color: "#8a4fd8",
            values: runs.iter().map(|r| r.backup_bytes as f64).collect(),
            fmt: |v| human_bytes(v as u64),
        },
        Series {
            id: "rows",
            title: "Rows restored",
            color: "#d9822b",
            values: runs.iter().map(|r| r.rows as f64).collect(),
            fmt: |v| human_count(v as u64),
        },
    ];
    body.push_str("<h2>History</h2><div class=\"charts\" id=\"charts\">");
    for s in &series {
        body.push_str(&chart(s, &labels));
    }
    body.push_str("</div>");

    body.push_str(&format!(
        "<h2>Checks of {}</h2><table id=\"checks\"><thead><tr><th>check</th><th>status</th><th>measured</th><th>expected</th><th>time</th></tr></thead><tbody>",
        escape(&run_label(runs.len() - 1, latest))
    ));
    for c in &latest.report.checks {
        let mut measured = escape(&c.measured);
        if !c.details.is_empty() {
            measured.push_str("<ul class=\"details\">");
            for d in &c.details {
                measured.push_str(&format!("<li>{}</li>", escape(d)));
            }
            measured.push_str("</ul>");
        }
        body.push_str(&format!(
            "<tr class=\"check\" data-status=\"{}\"><td>{}</td><td><span class=\"verdict {}\">{}</span></td><td>{measured}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            c.status.as_str(),
            escape(&c.name),
            status_class(c.status),
            c.status.as_str(),
            escape(&c.expected),
            human_secs(c.duration_ms as f64 / 1000.0)
        ));
    }
    body.push_str("</tbody></table>");

    body.push_str("<h2>Steps of the latest drill</h2><table id=\"steps\"><thead><tr><th>step</th><th>time</th><th>rows</th><th>bytes</th></tr></thead><tbody>");
    for s in &latest.steps {
        body.push_str(&format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(s.step.label()),
            human_secs(s.seconds),
            s.rows.map(human_count).unwrap_or_default(),
            s.bytes.map(human_bytes).unwrap_or_default()
        ));
    }
    body.push_str(&format!(
        "</tbody></table><p class=\"sub\">backup set {} · temp database {} {}</p>",
        escape(&latest.backup_set),
        escape(&latest.temp_database),
        if latest.temp_dropped {
            "dropped through the guards"
        } else {
            "already gone"
        }
    ));
    page(title, &body)
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>{body}<p class=\"sub\">generated by restore-drill {}</p></body></html>\n",
        escape(title),
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn a_chart_has_one_point_per_night_and_no_external_reference() {
        let s = Series {
            id: "rows",
            title: "Rows",
            color: "#000",
            values: vec![10.0, 4.0],
            fmt: |v| format!("{v}"),
        };
        let svg = chart(&s, &["night 1".into(), "night 2".into()]);
        assert_eq!(svg.matches("<circle class=\"point\"").count(), 2);
        assert!(svg.contains("data-night=\"night 2\""));
        assert!(svg.contains("<polyline"));
        // Only the SVG namespace URI, never a fetchable resource.
        assert!(!svg
            .replace("http://www.w3.org/2000/svg", "")
            .contains("http"));
    }
}
