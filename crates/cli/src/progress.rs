//! Progress bars with throughput for the drill's long steps, drawn on stderr.
//!
//! Drawn only when stderr is a terminal and not in `--json` mode; otherwise each step prints one
//! plain line when it ends (or nothing with `--json`), so logs and pipes stay readable. Written
//! by hand rather than with a progress crate: one bar at a time is all the drill needs.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drill_engine::drill::{Observer, Progress, Step};

use crate::summary::{human_bytes, human_count, Style};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Animated bars on a terminal.
    Bars,
    /// One line per finished step.
    Lines,
    /// Nothing (`--json`).
    Quiet,
}

impl Mode {
    pub fn detect(json: bool) -> Mode {
        if json {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Lines
        }
    }
}

struct Current {
    step: Step,
    total: Option<u64>,
    rows: u64,
    bytes: u64,
    started: Instant,
    drawn: Option<Instant>,
}

/// Renders [`Progress`] events.
pub struct Bars {
    mode: Mode,
    style: Style,
    current: Mutex<Option<Current>>,
    /// Prefix of every line (`night 1`).
    context: Mutex<String>,
    finished: Mutex<HashMap<Step, u32>>,
}

impl Bars {
    pub fn new(mode: Mode) -> Arc<Bars> {
        Arc::new(Bars {
            mode,
            style: Style::for_stderr(mode == Mode::Bars),
            current: Mutex::new(None),
            context: Mutex::new(String::new()),
            finished: Mutex::new(HashMap::new()),
        })
    }

    pub fn observer(self: &Arc<Self>) -> Observer {
        let me = self.clone();
        Arc::new(move |p| me.on(p))
    }

    pub fn set_context(&self, context: &str) {
        *self.context.lock().expect("context") = context.to_owned();
    }

    /// A line of narration (not in `--json` mode).
    pub fn say(&self, text: &str) {
        if self.mode != Mode::Quiet {
            self.clear();
            eprintln!("{text}");
        }
    }

    fn clear(&self) {
        if self.mode == Mode::Bars {
            eprint!("\r\x1b[2K");
        }
    }

    fn on(&self, p: Progress) {
        if self.mode == Mode::Quiet {
            return;
        }
        let mut cur = self.current.lock().expect("progress");
        match p {
            Progress::Started { step, total_rows } => {
                *cur = Some(Current {
                    step,
                    total: total_rows,
                    rows: 0,
                    bytes: 0,
                    started: Instant::now(),
                    drawn: None,
                });
                if let Some(c) = cur.as_mut() {
                    self.draw(c, false);
                }
            }
            Progress::Advanced { step, rows, bytes } => {
                if let Some(c) = cur.as_mut().filter(|c| c.step == step) {
                    // Counters only grow: a poll that missed a finished COPY must not move back.
                    c.rows = c.rows.max(rows);
                    c.bytes = c.bytes.max(bytes);
                    self.draw(c, false);
                }
            }
            Progress::Finished { step, rows } => {
                if let Some(mut c) = cur.take().filter(|c| c.step == step) {
                    if let Some(r) = rows {
                        c.rows = r;
                    }
                    *self
                        .finished
                        .lock()
                        .expect("finished")
                        .entry(step)
                        .or_default() += 1;
                    self.draw(&mut c, true);
                }
            }
        }
    }

    fn draw(&self, c: &mut Current, done: bool) {
        let now = Instant::now();
        if !done {
            if self.mode != Mode::Bars {
                return;
            }
            // Redraw at most ten times a second.
            if c.drawn
                .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
            {
                return;
            }
        }
        c.drawn = Some(now);
        let secs = c.started.elapsed().as_secs_f64().max(1e-3);
        let context = self.context.lock().expect("context").clone();
        let label = format!("{context:>8} {:<21}", c.step.label());
        let mut rate = String::new();
        if c.rows > 0 {
            rate.push_str(&format!(
                "{} rows/s",
                human_count((c.rows as f64 / secs) as u64)
            ));
        }
        if c.bytes > 0 {
            rate.push_str(&format!(
                "  {}/s",
                human_bytes((c.bytes as f64 / secs) as u64)
            ));
        }
        let mut err = std::io::stderr().lock();
        if done {
            if self.mode == Mode::Bars {
                let _ = write!(err, "\r\x1b[2K");
            }
            let rows = if c.rows > 0 {
                format!("  {} rows", human_count(c.rows))
            } else {
                String::new()
            };
            let _ = writeln!(
                err,
                "{label} {} {:>6.1}s{rows}  {rate}",
                self.style.green("done"),
                secs
            );
            return;
        }
        let width = 28usize;
        let (bar, pct) = match c.total.filter(|t| *t > 0) {
            Some(t) => {
                let f = (c.rows as f64 / t as f64).clamp(0.0, 1.0);
                let filled = (f * width as f64).round() as usize;
                (
                    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled)),
                    format!("{:>3.0}%", f * 100.0),
                )
            }
            None => {
                // Unknown total: a bouncing block shows that work goes on.
                let pos = ((secs * 8.0) as usize) % width;
                let mut s: Vec<&str> = vec!["░"; width];
                s[pos] = "█";
                (s.concat(), "    ".to_owned())
            }
        };
        let _ = write!(
            err,
            "\r\x1b[2K{label} {} {pct} {:>6.1}s  {}",
            self.style.cyan(&bar),
            secs,
            rate
        );
        let _ = err.flush();
    }
}
