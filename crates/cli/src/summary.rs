//! The final summary table of a drill: steps, durations, RTO, RPO, rows, bytes, checks.

use std::io::IsTerminal;

use drill_core::checks::Status;
use drill_engine::drill::RunRecord;

/// ANSI colours, only when writing to a terminal and `NO_COLOR` is not set.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    fn allowed(tty: bool) -> bool {
        tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    }
    pub fn for_stdout(json: bool) -> Style {
        Style {
            color: !json && Self::allowed(std::io::stdout().is_terminal()),
        }
    }
    pub fn for_stderr(tty: bool) -> Style {
        Style {
            color: Self::allowed(tty),
        }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn cyan(&self, s: &str) -> String {
        self.paint("36", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn status(&self, status: Status) -> String {
        match status {
            Status::Pass => self.green("pass"),
            Status::Fail => self.red("FAIL"),
            Status::Error => self.yellow("error"),
            Status::Incomplete => self.yellow("incomplete"),
            Status::Skipped => "skipped".to_owned(),
        }
    }
}

/// `1,234,567`.
pub fn human_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `12.3 MB` (decimal units, as throughput is usually quoted).
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// `1m05s`, `4.2s`.
pub fn human_secs(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        let whole = s.round() as u64;
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

fn pad(cells: &[String], widths: &[usize]) -> String {
    let visible = |s: &str| {
        // ANSI sequences take no room on screen.
        let mut n = 0;
        let mut esc = false;
        for c in s.chars() {
            match (esc, c) {
                (false, '\x1b') => esc = true,
                (true, 'm') => esc = false,
                (true, _) => {}
                (false, _) => n += 1,
            }
        }
        n
    };
    let mut line = String::new();
    for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(c);
        line.push_str(&" ".repeat(w.saturating_sub(visible(c))));
    }
    line.trim_end().to_owned()
}

/// The summary of one drill, for people.
pub fn render(record: &RunRecord, style: Style) -> String {
    let mut out = String::new();
    let verdict = if record.report.passed {
        style.green("PASS")
    } else if record.checks_failed > 0 {
        style.red("FAIL: backup invalid")
    } else {
        style.yellow("ERROR: could not validate")
    };
    let title = match &record.label {
        Some(l) => format!("{l}: drill {} of {}", record.drill_id, record.source_id),
        None => format!("drill {} of {}", record.drill_id, record.source_id),
    };
    out.push_str(&format!("{}  {verdict}\n", style.bold(&title)));
    let header: Vec<String> = ["STEP", "TIME", "ROWS", "BYTES", "THROUGHPUT"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rows = vec![header];
    for s in &record.steps {
        let rate = match (s.rows, s.seconds > 0.0) {
            (Some(r), true) if r > 0 => {
                let mut t = format!("{} rows/s", human_count((r as f64 / s.seconds) as u64));
                if let Some(b) = s.bytes.filter(|b| *b > 0) {
                    t.push_str(&format!(
                        ", {}/s",
                        human_bytes((b as f64 / s.seconds) as u64)
                    ));
                }
                t
            }
            _ => String::new(),
        };
        rows.push(vec![
            s.step.label().to_owned(),
            human_secs(s.seconds),
            s.rows.map(human_count).unwrap_or_default(),
            s.bytes.map(human_bytes).unwrap_or_default(),
            rate,
        ]);
    }
    let mut widths = vec![0usize; 5];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    for r in &rows {
        out.push_str(&format!("  {}\n", pad(r, &widths)));
    }
    out.push_str(&format!(
        "  RTO {}  RPO {}  rows {}  backup {} ({} of COPY data)  checks {} passed, {} failed, {} errored\n",
        style.bold(&human_secs(record.rto_seconds)),
        record
            .rpo_seconds
            .map(|s| human_secs(s as f64))
            .unwrap_or_else(|| "unknown".into()),
        human_count(record.rows),
        human_bytes(record.backup_bytes),
        human_bytes(record.raw_bytes),
        record.checks_passed,
        record.checks_failed,
        record.checks_errored,
    ));
    // The checks, with the first finding of any that did not pass.
    let mut widths = [0usize; 2];
    for c in &record.report.checks {
        widths[0] = widths[0].max(c.name.chars().count());
    }
    widths[1] = 7;
    for c in &record.report.checks {
        let measured: String = c.measured.chars().take(70).collect();
        out.push_str(&format!(
            "    {}\n",
            pad(
                &[c.name.clone(), style.status(c.status), measured],
                &[widths[0], widths[1], 0]
            )
        ));
        if matches!(c.status, Status::Fail | Status::Error | Status::Incomplete) {
            for d in c.details.iter().take(4) {
                out.push_str(&format!("      - {d}\n"));
            }
        }
    }
    out.push_str(&format!(
        "  backup set {}\n  temp database {} {}\n",
        record.backup_set,
        record.temp_database,
        if record.temp_dropped {
            "dropped (guards passed)"
        } else {
            "was already gone"
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(human_count(2_000_000), "2,000,000");
        assert_eq!(human_count(999), "999");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(45_100_000), "45.1 MB");
        assert_eq!(human_secs(4.25), "4.2s");
        assert_eq!(human_secs(65.0), "1m05s");
    }

    #[test]
    fn padding_ignores_colour_codes() {
        let style = Style { color: true };
        let line = pad(&[style.green("pass"), "x".into()], &[6, 1]);
        assert!(line.ends_with("\x1b[0m    x"), "{line:?}");
    }
}
