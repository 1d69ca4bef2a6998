//! Validation in work units: the heavy checks (`full_read` and amcheck) of a database too big
//! for one invocation run per unit in a Distributed Map, each unit's facts are written to S3, and
//! the finishing validate call sums them into the one report (the cheap checks — schema, row
//! counts, freshness, assertions, night-over-night — stay in that single call).
//!
//! The units are sized by the same planner as the export ([`crate::units::plan`]): chunks of
//! tables (whole small tables, heap page ranges of big ones) packed into units that fit one
//! invocation. A unit reads its chunks (`full_read`, with the exact counts) and runs amcheck on
//! the tables whose first chunk it holds (heap and indexes of the whole table: amcheck has no
//! index ranges). Reading page ranges in separate invocations is consistent only because the temp
//! restore has no writers (see [`crate::units`]).
//!
//! A unit without a result (its invocation failed or was killed) and a unit the deadline cut
//! short both make the checks `incomplete`, naming the unit: never a pass.

use serde::{Deserialize, Serialize};

use crate::checks::{CheckResult, IntegrityPass, ReadPass, Status};
use crate::units::WorkUnit;

/// Key of the plan below the drill's units prefix.
pub const PLAN_KEY: &str = "plan.json";
/// Key of the ItemReader input (`[{"unit": 0}, ...]`).
pub const ITEMS_KEY: &str = "items.json";

/// Key of one unit's result.
pub fn unit_key(unit: u32) -> String {
    format!("unit-{unit:05}.json")
}

/// Where the unit files of one drill live below the source's history (reports) store: derived
/// from the deployment and the drill, never taken from an event.
pub fn units_prefix(drill_id: &str) -> String {
    let safe: String = drill_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("validation-units/{safe}")
}

/// One planned table: its name and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedRead {
    /// `schema.table`.
    pub table: String,
    pub pages: u64,
}

/// What `plan_validation` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationPlan {
    pub drill_id: String,
    pub block_size: u64,
    pub budget_bytes: u64,
    pub tables: Vec<PlannedRead>,
    pub units: Vec<WorkUnit>,
}

/// What one unit measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitChecks {
    pub unit: u32,
    /// One read per chunk (a ranged table appears once per chunk).
    pub read: ReadPass,
    /// `None`: integrity disabled.
    pub integrity: Option<IntegrityPass>,
}

/// Every unit's facts summed: one read pass (chunks of a table added up), one amcheck pass, and
/// the units that are incomplete (cut short, or without a result).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summed {
    pub read: ReadPass,
    pub integrity: IntegrityPass,
    pub units: usize,
    /// Units without a result, named.
    pub missing: Vec<u32>,
    /// Units the deadline cut short.
    pub cut_short: Vec<u32>,
}

/// Sums the results of `plan`'s units (`results` in any order, a unit at most once).
pub fn sum(plan: &ValidationPlan, results: &[UnitChecks]) -> Summed {
    let mut out = Summed {
        units: plan.units.len(),
        ..Default::default()
    };
    for unit in &plan.units {
        let Some(r) = results.iter().find(|r| r.unit == unit.unit) else {
            out.missing.push(unit.unit);
            // Its tables were never read: name them under the unit.
            let mut tables: Vec<&str> = unit
                .chunks
                .iter()
                .filter_map(|c| plan.tables.get(c.table).map(|t| t.table.as_str()))
                .collect();
            tables.dedup();
            out.read.out_of_time.extend(
                tables
                    .iter()
                    .map(|t| format!("unit {} (no result): {t}", unit.unit)),
            );
            continue;
        };
        let cut = !r.read.out_of_time.is_empty()
            || r.integrity
                .as_ref()
                .is_some_and(|i| !i.out_of_time.is_empty());
        if cut {
            out.cut_short.push(unit.unit);
        }
        for read in &r.read.reads {
            match out.read.reads.iter_mut().find(|t| t.table == read.table) {
                Some(t) => {
                    t.rows += read.rows;
                    t.bytes += read.bytes;
                    t.duration_ms += read.duration_ms;
                }
                None => out.read.reads.push(read.clone()),
            }
        }
        out.read.failures.extend(r.read.failures.iter().cloned());
        out.read.out_of_time.extend(
            r.read
                .out_of_time
                .iter()
                .map(|t| format!("unit {}: {t}", unit.unit)),
        );
        out.read.duration += r.read.duration;
        if let Some(i) = &r.integrity {
            let all = &mut out.integrity;
            all.corrupt.extend(i.corrupt.iter().cloned());
            all.errors.extend(i.errors.iter().cloned());
            all.indexes_checked += i.indexes_checked;
            all.tables_checked += i.tables_checked;
            all.not_checked.extend(i.not_checked.iter().cloned());
            all.out_of_time.extend(
                i.out_of_time
                    .iter()
                    .map(|o| format!("unit {}: {o}", unit.unit)),
            );
            all.notes.extend(i.notes.iter().cloned());
            all.duration += i.duration;
        }
    }
    if !out.missing.is_empty() {
        out.integrity
            .out_of_time
            .extend(out.missing.iter().map(|u| format!("unit {u} (no result)")));
    }
    out.read.reads.sort_by(|a, b| a.table.cmp(&b.table));
    out
}

impl Summed {
    /// A per-unit verdict: an incomplete check says how many units finished and names the rest.
    pub fn tell(&self, mut result: CheckResult) -> CheckResult {
        if result.status != Status::Incomplete {
            return result;
        }
        let mut bad: Vec<u32> = self
            .missing
            .iter()
            .chain(&self.cut_short)
            .copied()
            .collect();
        bad.sort_unstable();
        bad.dedup();
        let list: Vec<String> = bad.iter().map(u32::to_string).collect();
        result.measured = format!(
            "{}, unit(s) {} incomplete; {}",
            crate::checks::deadline::out_of_time(self.units - bad.len(), self.units, "units"),
            list.join(", "),
            result.measured
        );
        result
    }
}

#[cfg(test)]
#[path = "units_validate_tests.rs"]
mod tests;
