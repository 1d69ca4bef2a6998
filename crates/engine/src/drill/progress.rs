//! Progress of a drill, observed rather than reported: a monitor connection polls
//! `pg_stat_progress_copy` (export, restore) and `pg_stat_activity` (the validation's read pass),
//! so the engines need no progress API of their own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

/// A step of the drill, as shown in progress bars and the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Export,
    CreateTemp,
    Restore,
    Validate,
    DropTemp,
}

impl Step {
    pub fn label(self) -> &'static str {
        match self {
            Step::Export => "export",
            Step::CreateTemp => "create temp database",
            Step::Restore => "restore",
            Step::Validate => "validate (full read)",
            Step::DropTemp => "drop temp database",
        }
    }
}

/// What observers hear while a drill runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A step began; `total_rows` when known (estimated for the export).
    Started { step: Step, total_rows: Option<u64> },
    /// Rows and bytes processed so far in the step.
    Advanced { step: Step, rows: u64, bytes: u64 },
    /// The step ended; `rows` processed when known exactly.
    Finished { step: Step, rows: Option<u64> },
}

pub type Observer = Arc<dyn Fn(Progress) + Send + Sync>;

/// An observer that ignores everything.
pub fn no_progress() -> Observer {
    Arc::new(|_| {})
}

const POLL: Duration = Duration::from_millis(250);

/// Polls `pg_stat_progress_copy` for COPY commands in `datname` and reports their summed rows and
/// bytes. Each COPY is keyed by (pid, query start), so a finished one keeps its last count.
pub(super) fn watch_copy(client: Client, datname: String, step: Step, observer: Observer) -> Watch {
    let handle = tokio::spawn(async move {
        let mut seen: HashMap<(i32, String), (u64, u64)> = HashMap::new();
        loop {
            let rows = client
                .query(
                    "SELECT p.pid, a.query_start::text, p.tuples_processed, p.bytes_processed \
                     FROM pg_catalog.pg_stat_progress_copy p \
                     JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid \
                     WHERE p.datname = $1",
                    &[&datname],
                )
                .await;
            // The view needs PostgreSQL 14+; without it there is simply no progress to show.
            let Ok(rows) = rows else { return };
            for r in rows {
                let key = (
                    r.get::<_, i32>(0),
                    r.get::<_, Option<String>>(1).unwrap_or_default(),
                );
                let v = (
                    r.get::<_, i64>(2).max(0) as u64,
                    r.get::<_, i64>(3).max(0) as u64,
                );
                seen.insert(key, v);
            }
            let (rows, bytes) = seen
                .values()
                .fold((0, 0), |(r, b), (r2, b2)| (r + r2, b + b2));
            observer(Progress::Advanced { step, rows, bytes });
            tokio::time::sleep(POLL).await;
        }
    });
    Watch(handle)
}

/// Polls which table the validation's read pass is on (`pg_stat_activity`) and reports the rows
/// of the tables it has finished, from the manifest's counts.
pub(super) fn watch_read(
    client: Client,
    datname: String,
    table_rows: Vec<(String, u64)>,
    observer: Observer,
) -> Watch {
    let handle = tokio::spawn(async move {
        let mut current: Option<usize> = None;
        let mut done = vec![false; table_rows.len()];
        loop {
            let row = client
                .query_opt(
                    "SELECT query FROM pg_catalog.pg_stat_activity \
                     WHERE datname = $1 AND application_name = 'restore-drill validate' \
                       AND state = 'active' LIMIT 1",
                    &[&datname],
                )
                .await;
            let Ok(row) = row else { return };
            let query: Option<String> = row.and_then(|r| r.get(0));
            let now = query.as_deref().and_then(|q| {
                table_rows
                    .iter()
                    .position(|(t, _)| q.contains(&format!("FROM ONLY {t} ")))
            });
            if now != current {
                if let Some(prev) = current {
                    done[prev] = true;
                }
                current = now;
            }
            let rows: u64 = table_rows
                .iter()
                .zip(&done)
                .filter(|(_, d)| **d)
                .map(|((_, r), _)| r)
                .sum();
            observer(Progress::Advanced {
                step: Step::Validate,
                rows,
                bytes: 0,
            });
            tokio::time::sleep(POLL).await;
        }
    });
    Watch(handle)
}

/// A running monitor; stops when dropped.
pub(super) struct Watch(tokio::task::JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}
