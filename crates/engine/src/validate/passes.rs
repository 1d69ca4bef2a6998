//! The data passes of a validation: one read pass per table (exact count and, for the full
//! read, every row formed whole), amcheck within its time budget, and the newest row of a
//! freshness table. They gather facts; [`drill_core::checks`] gives the verdicts.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use drill_core::checks::{self, IntegrityPass, ReadFailure, ReadPass};
use drill_core::report::TableRead;
use tokio_postgres::Client;

use super::catalog::{Catalog, TableInfo};
use super::clock::{Bound, Clock};
use crate::pg::quote_ident;

/// A query error in a few words with its SQLSTATE (never a connection string).
pub(crate) fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            s
        }
    }
}

/// SQLSTATE class XX: `data_corrupted`, `index_corrupted`, internal errors from reading damaged
/// pages. These mean the restored data is bad, not that the check could not run.
fn is_corruption(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| db.code().code().starts_with("XX"))
}

pub(crate) fn is_timeout(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
}

/// One pass per table: the exact count and, when `full`, every row formed whole (all columns,
/// TOAST fetched) with its size summed. Each statement is bounded by `clock`; the tables the
/// deadline leaves unread are named in `out_of_time`.
pub(super) async fn read_pass(
    client: &Client,
    tables: &[TableInfo],
    full: bool,
    clock: &Clock,
) -> ReadPass {
    let items: Vec<ReadItem<'_>> = tables
        .iter()
        .filter(|t| t.kind == "r")
        .map(|table| ReadItem { table, pages: None })
        .collect();
    read_items(client, &items, full, clock).await
}

/// One table, or heap pages `[start, end)` of it (`end: None`: to the end), for a work unit.
pub(super) struct ReadItem<'a> {
    pub table: &'a TableInfo,
    pub pages: Option<(u64, Option<u64>)>,
}

impl ReadItem<'_> {
    fn label(&self) -> String {
        match self.pages {
            None => self.table.qualified(),
            Some((s, Some(e))) => format!("{} (pages {s}..{e})", self.table.qualified()),
            Some((s, None)) => format!("{} (pages {s}..)", self.table.qualified()),
        }
    }

    /// A TID range (a TID Range Scan from PostgreSQL 14; a filtered scan before).
    fn filter(&self) -> String {
        match self.pages {
            None => String::new(),
            Some((s, None)) => format!(" WHERE t.ctid >= '({s},0)'::tid"),
            Some((s, Some(e))) => {
                format!(" WHERE t.ctid >= '({s},0)'::tid AND t.ctid < '({e},0)'::tid")
            }
        }
    }
}

/// [`read_pass`] over tables or page ranges of them.
pub(super) async fn read_items(
    client: &Client,
    tables: &[ReadItem<'_>],
    full: bool,
    clock: &Clock,
) -> ReadPass {
    let started = Instant::now();
    let mut pass = ReadPass::default();
    for (i, item) in tables.iter().enumerate() {
        let t = item.table;
        let by_deadline = match clock.bound(client).await {
            Ok(Bound::Go { by_deadline }) => by_deadline,
            Ok(Bound::OutOfTime) => {
                pass.out_of_time
                    .extend(tables[i..].iter().map(ReadItem::label));
                break;
            }
            Err(message) => {
                pass.failures.push(ReadFailure {
                    table: t.qualified(),
                    corruption: false,
                    message,
                });
                continue;
            }
        };
        let sql = if full {
            format!(
                "SELECT count(*), coalesce(sum(pg_column_size(t.*)), 0)::int8 FROM ONLY {} AS t{}",
                t.sql_name(),
                item.filter()
            )
        } else {
            format!(
                "SELECT count(*), 0::int8 FROM ONLY {} AS t{}",
                t.sql_name(),
                item.filter()
            )
        };
        let one = Instant::now();
        match client.query_one(&sql, &[]).await {
            Ok(row) => pass.reads.push(TableRead {
                table: t.qualified(),
                rows: row.get::<_, i64>(0) as u64,
                bytes: row.get::<_, i64>(1) as u64,
                duration_ms: one.elapsed().as_millis() as u64,
            }),
            Err(e) if by_deadline && is_timeout(&e) => {
                // Cancelled by the deadline, not by a slow table: this and the rest are unread.
                pass.out_of_time
                    .extend(tables[i..].iter().map(ReadItem::label));
                break;
            }
            Err(e) => pass.failures.push(ReadFailure {
                table: t.qualified(),
                corruption: is_corruption(&e),
                message: pg_message(&e),
            }),
        }
    }
    pass.duration = started.elapsed();
    pass
}

/// Creates amcheck if missing (in its own schema, so it is easy to drop again) and returns the
/// schema holding it and whether we created it.
async fn ensure_amcheck(client: &Client) -> Result<(String, bool), String> {
    let existing = client
        .query_opt(
            "SELECT n.nspname::text FROM pg_extension e \
             JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck'",
            &[],
        )
        .await
        .map_err(|e| pg_message(&e))?;
    if let Some(row) = existing {
        return Ok((row.get(0), false));
    }
    client
        .batch_execute("CREATE SCHEMA drill_amcheck; CREATE EXTENSION amcheck SCHEMA drill_amcheck")
        .await
        .map_err(|e| {
            format!(
                "amcheck is not installed and could not be created: {}",
                pg_message(&e)
            )
        })?;
    Ok(("drill_amcheck".to_owned(), true))
}

pub(super) async fn integrity_pass(
    client: &Client,
    catalog: &Catalog,
    config: &checks::IntegrityConfig,
    server_version_num: i32,
    clock: &Clock,
) -> IntegrityPass {
    let started = Instant::now();
    let mut pass = IntegrityPass::default();
    let (schema, created) = match ensure_amcheck(client).await {
        Ok(x) => x,
        Err(e) => {
            pass.errors.push(e);
            pass.duration = started.elapsed();
            return pass;
        }
    };
    let ns = quote_ident(&schema);
    let heap = config.heap && server_version_num >= 140000;
    if config.heap && !heap {
        pass.notes.push(format!(
            "heap checks need PostgreSQL 14+ (server is {server_version_num})"
        ));
    }
    let budget = Duration::from_secs(config.time_budget_seconds);
    // Every amcheck call is bounded by what is left of the budget and of the invocation, so one
    // huge index cannot overrun either.
    let mut jobs: Vec<(String, String, u32)> = Vec::new();
    for t in catalog.tables.iter().filter(|t| t.kind == "r") {
        if heap {
            jobs.push((
                format!("table {}", t.qualified()),
                format!(
                    "SELECT blkno::text || '/' || coalesce(offnum::text, '-') || ': ' || msg \
                     FROM {ns}.verify_heapam($1::oid::regclass, check_toast => true) LIMIT 5"
                ),
                t.oid,
            ));
        }
        for i in catalog
            .btree_indexes
            .iter()
            .filter(|i| i.table_oid == t.oid)
        {
            jobs.push((
                format!("index {}", i.qualified),
                // Returns one row of void: an error is the only finding. (A constant-false
                // filter around it would let the planner skip the call altogether.)
                format!(
                    "SELECT {ns}.bt_index_check($1::oid::regclass, {})",
                    config.heapallindexed
                ),
                i.oid,
            ));
        }
    }
    let mut out_of_time = false;
    for (label, sql, oid) in jobs {
        let left = budget.saturating_sub(started.elapsed());
        if out_of_time {
            pass.out_of_time.push(label);
            continue;
        }
        if left < Duration::from_millis(10) {
            pass.not_checked.push(label);
            continue;
        }
        let by_deadline = match clock.bound_to(client, left).await {
            Ok(Bound::Go { by_deadline }) => by_deadline,
            Ok(Bound::OutOfTime) => {
                out_of_time = true;
                pass.out_of_time.push(label);
                continue;
            }
            Err(e) => {
                pass.errors.push(format!("{label}: {e}"));
                continue;
            }
        };
        match client.query(&sql, &[&oid]).await {
            Ok(rows) => {
                if label.starts_with("table") {
                    pass.tables_checked += 1;
                } else {
                    pass.indexes_checked += 1;
                    continue;
                }
                let findings: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
                if !findings.is_empty() {
                    pass.corrupt
                        .push(format!("{label} is corrupt: {}", findings.join("; ")));
                }
            }
            Err(e) if is_corruption(&e) => pass
                .corrupt
                .push(format!("{label} is corrupt: {}", pg_message(&e))),
            Err(e) if is_timeout(&e) && by_deadline => {
                out_of_time = true;
                pass.out_of_time.push(label);
            }
            Err(e) if is_timeout(&e) => pass.not_checked.push(label),
            Err(e) => pass.errors.push(format!("{label}: {}", pg_message(&e))),
        }
    }
    // The clean-up below is quick; bounded all the same (out of time: the last bound stays).
    let _ = clock.bound_to(client, Duration::from_secs(10)).await;
    if created {
        if let Err(e) = client
            .batch_execute("DROP SCHEMA drill_amcheck CASCADE")
            .await
        {
            pass.notes.push(format!(
                "could not drop the amcheck extension created for the check: {}",
                pg_message(&e)
            ));
        }
    }
    pass.duration = started.elapsed();
    pass
}

pub(super) async fn newest_row(
    client: &Client,
    t: &checks::FreshnessTable,
) -> Result<Option<DateTime<Utc>>, String> {
    let (schema, table) = checks::split_qualified(&t.table);
    // extract(epoch) reads timestamptz as an instant and timestamp/date as UTC.
    let sql = format!(
        "SELECT extract(epoch FROM max({}))::float8 FROM {}.{}",
        quote_ident(&t.column),
        quote_ident(&schema),
        quote_ident(&table)
    );
    let row = client
        .query_one(&sql, &[])
        .await
        .map_err(|e| pg_message(&e))?;
    Ok(row.get::<_, Option<f64>>(0).and_then(|secs| {
        DateTime::from_timestamp(secs.floor() as i64, ((secs.fract()) * 1e9) as u32)
    }))
}
