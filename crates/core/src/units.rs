//! Work units: how an export (and a full read) of a database too big for one Lambda invocation is
//! cut into pieces that each fit well inside one, for a Step Functions Distributed Map.
//!
//! Tables are first cut into chunks (whole small tables, or heap page ranges of big ones — the
//! same chunks the single-invocation export writes, so object keys do not depend on the split);
//! the chunks are then packed, biggest first, into units of at most [`PlannerSettings::budget_bytes`].
//!
//! Ranges are ctid page ranges rather than primary-key ranges: every table has a ctid (tables
//! without a primary key too), a page range maps directly onto the heap bytes the budget is
//! measured in (a key range would need a histogram and an index scan), and the reads are
//! sequential. That is only consistent across invocations because the temp restore has no
//! writers (no update can move a row from one range into another between two units): the plan
//! step sets the temp database `default_transaction_read_only` and refuses other sessions first.

use serde::{Deserialize, Serialize};

use crate::{Classified, ErrorKind};

/// Export rate of one 512 MB export Lambda (COPY out, zstd, S3 upload), from `bench/units_export.sh`
/// (10 M rows): the invocation's own CPU is 33..38 ms per heap MiB (PostgreSQL's is the RDS
/// instance's), and 512 MB gives 512/1769 = 0.29 vCPU, so ~7.6 MiB/s; 6 MiB/s leaves room for a
/// slower Lambda core and a source that reads slower than it. See README "Large databases".
pub const DEFAULT_THROUGHPUT_BYTES_PER_SECOND: u64 = 6 * 1024 * 1024;
/// The export function's timeout (infra/lambda.tf `function_timeout.export`).
pub const DEFAULT_INVOCATION_SECONDS: u64 = 900;
/// Share of the invocation a unit is planned to take: the rest absorbs a slow (lazily loaded,
/// cold) volume, a cold start, and the upload of the last part.
pub const DEFAULT_FILL_PERCENT: u64 = 40;

/// How the planner sizes units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannerSettings {
    /// Heap bytes one invocation reads, compresses and uploads per second.
    pub throughput_bytes_per_second: u64,
    /// The invocation's time limit.
    pub invocation_seconds: u64,
    /// Percent of `invocation_seconds` a unit is planned to take (1..=90).
    pub fill_percent: u64,
}

impl Default for PlannerSettings {
    fn default() -> Self {
        Self {
            throughput_bytes_per_second: DEFAULT_THROUGHPUT_BYTES_PER_SECOND,
            invocation_seconds: DEFAULT_INVOCATION_SECONDS,
            fill_percent: DEFAULT_FILL_PERCENT,
        }
    }
}

/// A planner setting out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("work-unit planner: {0}")]
pub struct PlannerError(pub String);

impl Classified for PlannerError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

impl PlannerSettings {
    pub fn check(&self) -> Result<(), PlannerError> {
        if self.throughput_bytes_per_second < 1024 * 1024 {
            return Err(PlannerError(format!(
                "throughput must be at least 1 MiB/s (got {} bytes/s)",
                self.throughput_bytes_per_second
            )));
        }
        if !(60..=900).contains(&self.invocation_seconds) {
            return Err(PlannerError(format!(
                "invocation time must be 60..=900 s, Lambda's limit (got {})",
                self.invocation_seconds
            )));
        }
        if !(1..=90).contains(&self.fill_percent) {
            return Err(PlannerError(format!(
                "fill must be 1..=90 percent (got {})",
                self.fill_percent
            )));
        }
        Ok(())
    }

    /// Heap bytes one unit may hold.
    pub fn budget_bytes(&self) -> u64 {
        self.throughput_bytes_per_second * self.invocation_seconds * self.fill_percent / 100
    }

    /// Seconds one invocation takes for `bytes` at the stated throughput.
    pub fn seconds_for(&self, bytes: u64) -> f64 {
        bytes as f64 / self.throughput_bytes_per_second.max(1) as f64
    }
}

/// One table's size as the catalog reports it (`pg_relation_size` / `block_size`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSize {
    pub pages: u64,
}

/// One chunk of one table: the whole table, or heap pages `[start, end)` (`end: None` = to the
/// end of the table, so a page added after sizing is never missed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chunk {
    /// Index into the planned table list.
    pub table: usize,
    /// The chunk's number within its table (its object key).
    pub chunk: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<(u64, Option<u64>)>,
    /// Estimated heap pages.
    pub estimated_pages: u64,
}

/// Cuts tables into chunks of at most `pages_per_chunk` pages, biggest tables first so the long
/// chunks start early.
pub fn chunks(tables: &[TableSize], pages_per_chunk: u64) -> Vec<Chunk> {
    let per = pages_per_chunk.max(1);
    let mut order: Vec<usize> = (0..tables.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(tables[i].pages));
    let mut out = Vec::new();
    for i in order {
        let pages = tables[i].pages;
        let n = pages.div_ceil(per).max(1);
        if n == 1 {
            out.push(Chunk {
                table: i,
                chunk: 0,
                pages: None,
                estimated_pages: pages,
            });
            continue;
        }
        for c in 0..n {
            let start = c * per;
            let end = (c + 1 < n).then_some((c + 1) * per);
            out.push(Chunk {
                table: i,
                chunk: c as u32,
                pages: Some((start, end)),
                estimated_pages: end.unwrap_or(pages) - start,
            });
        }
    }
    out
}

/// One work unit: the chunks one invocation exports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkUnit {
    pub unit: u32,
    pub chunks: Vec<Chunk>,
    pub estimated_bytes: u64,
}

/// Packs chunks into units of at most `budget_bytes` (first fit, biggest chunks first). A chunk
/// bigger than the budget gets a unit of its own (only if `pages_per_chunk` exceeds the budget).
/// Everything fits in one unit → exactly one unit: small databases keep the single-invocation path.
pub fn pack(chunks: Vec<Chunk>, block_size: u64, budget_bytes: u64) -> Vec<WorkUnit> {
    let mut sorted = chunks;
    sorted.sort_by_key(|c| std::cmp::Reverse(c.estimated_pages));
    let mut units: Vec<WorkUnit> = Vec::new();
    for c in sorted {
        let bytes = c.estimated_pages * block_size;
        match units
            .iter_mut()
            .find(|u| u.estimated_bytes + bytes <= budget_bytes)
        {
            Some(u) => {
                u.estimated_bytes += bytes;
                u.chunks.push(c);
            }
            None => units.push(WorkUnit {
                unit: units.len() as u32,
                chunks: vec![c],
                estimated_bytes: bytes,
            }),
        }
    }
    if units.is_empty() {
        units.push(WorkUnit {
            unit: 0,
            chunks: Vec::new(),
            estimated_bytes: 0,
        });
    }
    for u in &mut units {
        u.chunks.sort_by_key(|c| (c.table, c.chunk));
    }
    units
}

/// The planned units of one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPlan {
    pub units: Vec<WorkUnit>,
    pub budget_bytes: u64,
    pub total_bytes: u64,
}

/// Plans the units of a database with these tables.
pub fn plan(
    tables: &[TableSize],
    block_size: u64,
    chunk_bytes: u64,
    settings: &PlannerSettings,
) -> Result<UnitPlan, PlannerError> {
    settings.check()?;
    let block_size = block_size.max(1);
    let budget_bytes = settings.budget_bytes();
    // A chunk never exceeds the unit budget, so every unit stays inside it.
    let pages_per_chunk = (chunk_bytes.min(budget_bytes) / block_size).max(1);
    let units = pack(chunks(tables, pages_per_chunk), block_size, budget_bytes);
    Ok(UnitPlan {
        units,
        budget_bytes,
        total_bytes: tables.iter().map(|t| t.pages * block_size).sum(),
    })
}

/// Predicted wall time of `units` run by `lambdas` concurrent invocations at the stated
/// throughput: the units are dealt out in order of size, the longest lane is the answer.
pub fn predict_seconds(units: &[WorkUnit], lambdas: usize, settings: &PlannerSettings) -> f64 {
    let mut lanes = vec![0u64; lambdas.max(1)];
    let mut sizes: Vec<u64> = units.iter().map(|u| u.estimated_bytes).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    for s in sizes {
        let lane = lanes
            .iter_mut()
            .min()
            .expect("at least one lane is always there");
        *lane += s;
    }
    settings.seconds_for(lanes.into_iter().max().unwrap_or(0))
}

/// Whether check defaults end inside the invocation: a statement may run its whole timeout, and
/// the last amcheck call may start just before the budget ends and run a statement timeout more.
pub fn check_timeouts(
    statement_timeout_seconds: u64,
    amcheck_budget_seconds: u64,
    invocation_seconds: u64,
) -> Result<(), PlannerError> {
    let worst = amcheck_budget_seconds + statement_timeout_seconds;
    if statement_timeout_seconds >= invocation_seconds || worst >= invocation_seconds {
        return Err(PlannerError(format!(
            "checks may run {worst} s (amcheck budget {amcheck_budget_seconds} s + statement \
             timeout {statement_timeout_seconds} s), not below the invocation's {invocation_seconds} s"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[path = "units_tests.rs"]
mod tests;
