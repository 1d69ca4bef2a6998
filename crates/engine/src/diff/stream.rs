//! One side of the diff: a task that runs every table's query in one read-only REPEATABLE READ
//! transaction (one consistent snapshot), fetches through a portal in batches and hands the
//! batches over a bounded channel — so memory stays flat whatever the table size, and both
//! servers work while the merge consumes.

use drill_core::diff::{KeyPart, KeyedRow};
use tokio::sync::mpsc;
use tokio_postgres::{Client, IsolationLevel, Row};

use super::catalog::Plan;
use crate::pg::PgError;

/// Rows per portal fetch.
const BATCH: i32 = 10_000;
/// Batches in flight per side: the whole memory budget of a side.
const IN_FLIGHT: usize = 2;

pub enum Msg {
    Rows(Vec<KeyedRow>),
    /// The current table is complete.
    End,
}

/// Starts streaming `plans` in order from `client`.
pub fn spawn(
    mut client: Client,
    plans: Vec<Plan>,
    side: &'static str,
) -> (
    mpsc::Receiver<Msg>,
    tokio::task::JoinHandle<Result<(), PgError>>,
) {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let task = tokio::spawn(async move {
        let t = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(PgError::query(format!("starting the {side} snapshot")))?;
        for plan in &plans {
            let context = || format!("reading the {side} rows ({})", plan.sql);
            let stmt = t
                .prepare(&plan.sql)
                .await
                .map_err(PgError::query(context()))?;
            let portal = t
                .bind(&stmt, &[])
                .await
                .map_err(PgError::query(context()))?;
            loop {
                let rows = t
                    .query_portal(&portal, BATCH)
                    .await
                    .map_err(PgError::query(context()))?;
                let last = rows.len() < BATCH as usize;
                let batch = rows.iter().map(|r| decode(r, &plan.key_integer)).collect();
                if tx.send(Msg::Rows(batch)).await.is_err() {
                    return Ok(()); // the merge stopped (it has its own error)
                }
                if last {
                    break;
                }
            }
            if tx.send(Msg::End).await.is_err() {
                return Ok(());
            }
        }
        Ok(())
    });
    (rx, task)
}

fn decode(row: &Row, key_integer: &[bool]) -> KeyedRow {
    let key = key_integer
        .iter()
        .enumerate()
        .map(|(i, &integer)| {
            if integer {
                KeyPart::Int(row.get(i))
            } else {
                KeyPart::Text(row.get(i))
            }
        })
        .collect();
    KeyedRow {
        key,
        hash: row.get(key_integer.len()),
    }
}

/// The rows of the current table as a blocking iterator (for the merge on a blocking thread).
/// `complete` tells afterwards whether the table's end marker arrived: a side that failed
/// mid-table closes its channel early, and a merge of a truncated stream must not count.
pub struct TableRows<'a> {
    rx: &'a mut mpsc::Receiver<Msg>,
    batch: std::vec::IntoIter<KeyedRow>,
    pub complete: bool,
    done: bool,
}

impl<'a> TableRows<'a> {
    pub fn new(rx: &'a mut mpsc::Receiver<Msg>) -> Self {
        TableRows {
            rx,
            batch: Vec::new().into_iter(),
            complete: false,
            done: false,
        }
    }
}

impl Iterator for &mut TableRows<'_> {
    type Item = KeyedRow;

    fn next(&mut self) -> Option<KeyedRow> {
        loop {
            if let Some(row) = self.batch.next() {
                return Some(row);
            }
            if self.done {
                return None;
            }
            match self.rx.blocking_recv() {
                Some(Msg::Rows(rows)) => self.batch = rows.into_iter(),
                Some(Msg::End) => {
                    self.complete = true;
                    self.done = true;
                }
                None => self.done = true,
            }
        }
    }
}
