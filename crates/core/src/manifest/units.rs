//! A backup set exported in work units (one Lambda invocation each, run by a Distributed Map):
//! the plan written first, each unit's result, and the manifest assembled from them last.
//!
//! The objects live inside the set (`units/...`); the manifest lists only the data, schema and
//! sequence objects, so today's restore path reads a unit-exported set unchanged.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Column, Manifest, MatView, ObjectEntry, TableEntry, DATA_FORMAT, FORMAT_VERSION};
use crate::units::WorkUnit;

/// The plan document, relative to the set.
pub const PLAN_KEY: &str = "units/plan.json";
/// The Distributed Map's ItemReader input: a JSON array of `{"unit": n}`.
pub const ITEMS_KEY: &str = "units/items.json";

/// Where unit `n` reports what it wrote.
pub fn unit_result_key(unit: u32) -> String {
    format!("units/unit-{unit:05}.json")
}

/// A data object written by one attempt of a unit: sets are write-once (the bucket refuses
/// overwrites), so a retried unit writes new keys; only the keys of the attempt that finished
/// are in the manifest.
pub fn unit_data_key(schema: &str, table: &str, chunk: u32, attempt: &str) -> String {
    format!(
        "data/{}.{}.{chunk:04}.{attempt}.copy.zst",
        super::encode_name(schema),
        super::encode_name(table)
    )
}

/// Whether `set_url` (from an untrusted event) names a set below `destination`, the configured
/// export destination of the source, as [`super::set_name`] names them (`<label>/<time>-<id>`).
pub fn check_set_url(destination: &str, set_url: &str) -> Result<(), String> {
    let base = format!("{}/", destination.trim_end_matches('/'));
    let name = set_url
        .strip_prefix(&base)
        .map(|rest| rest.trim_end_matches('/'))
        .unwrap_or_default();
    let segments: Vec<&str> = name.split('/').collect();
    let ok = segments.len() == 2
        && segments.iter().all(|s| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.%".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "backup set {set_url:?} is not a set below the configured destination {destination:?}"
        ))
    }
}

/// One table as the plan saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedTable {
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    pub pages: u64,
}

/// Everything the plan step captured, and the units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportPlan {
    /// The drill this plan belongs to: a unit or finish call of another drill is refused.
    pub drill_id: String,
    pub server_version: String,
    pub database: String,
    pub encoding: String,
    /// When the plan read the catalog. The temp has no writers, so this is the data's point in
    /// time for every unit as well.
    pub planned_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_taken_at: Option<DateTime<Utc>>,
    pub block_size: u64,
    pub budget_bytes: u64,
    pub throughput_bytes_per_second: u64,
    pub tables: Vec<PlannedTable>,
    pub units: Vec<WorkUnit>,
    pub pre_data: ObjectEntry,
    pub post_data: ObjectEntry,
    pub sequences: ObjectEntry,
    pub schema: crate::checks::Fingerprint,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub materialized_views: Vec<MatView>,
}

/// One chunk's object as written by a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkObject {
    pub table: usize,
    pub chunk: u32,
    pub object: ObjectEntry,
}

/// What one unit wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitResult {
    pub unit: u32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub objects: Vec<ChunkObject>,
}

/// Why the units do not make a complete set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssembleError {
    #[error("work unit(s) {} of {total} have no result: the set is incomplete, no manifest written", list(.missing))]
    Missing { missing: Vec<u32>, total: usize },
    #[error("work unit {unit}: {reason}")]
    Inconsistent { unit: u32, reason: String },
}

fn list(units: &[u32]) -> String {
    units
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl crate::Classified for AssembleError {
    fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::CouldNotRun
    }
}

/// The manifest's table entries from each table's objects in chunk order, and the exported row
/// counts put into the schema fingerprint (the single-call export and [`assemble`] share it).
pub fn table_entries(
    tables: Vec<(String, String, Vec<Column>)>,
    objects: Vec<Vec<ObjectEntry>>,
    schema: &mut crate::checks::Fingerprint,
) -> Vec<TableEntry> {
    let entries: Vec<TableEntry> = tables
        .into_iter()
        .zip(objects)
        .map(|((schema, name, columns), objects)| TableEntry {
            schema,
            name,
            columns,
            rows: objects.iter().filter_map(|o| o.rows).sum(),
            objects,
        })
        .collect();
    for t in &mut schema.tables {
        t.rows = entries
            .iter()
            .find(|e| e.schema == t.schema && e.name == t.name)
            .map(|e| e.rows);
    }
    entries
}

/// The manifest of a set whose units all reported, or which units are missing. Each unit's
/// result must hold exactly its planned chunks.
pub fn assemble(
    plan: &ExportPlan,
    results: &BTreeMap<u32, UnitResult>,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    tool_version: &str,
) -> Result<Manifest, AssembleError> {
    let missing: Vec<u32> = plan
        .units
        .iter()
        .map(|u| u.unit)
        .filter(|u| !results.contains_key(u))
        .collect();
    if !missing.is_empty() {
        return Err(AssembleError::Missing {
            missing,
            total: plan.units.len(),
        });
    }
    let mut objects: Vec<Vec<(u32, ObjectEntry)>> = vec![Vec::new(); plan.tables.len()];
    for unit in &plan.units {
        let result = &results[&unit.unit];
        let bad = |reason: String| AssembleError::Inconsistent {
            unit: unit.unit,
            reason,
        };
        let mut planned: Vec<(usize, u32)> =
            unit.chunks.iter().map(|c| (c.table, c.chunk)).collect();
        let mut got: Vec<(usize, u32)> =
            result.objects.iter().map(|o| (o.table, o.chunk)).collect();
        planned.sort_unstable();
        got.sort_unstable();
        if result.unit != unit.unit || planned != got {
            return Err(bad(format!(
                "its result holds chunks {got:?}, the plan {planned:?}"
            )));
        }
        for o in &result.objects {
            objects[o.table].push((o.chunk, o.object.clone()));
        }
    }
    let mut schema = plan.schema.clone();
    let sorted: Vec<Vec<ObjectEntry>> = objects
        .into_iter()
        .map(|mut objs| {
            objs.sort_by_key(|(c, _)| *c);
            objs.into_iter().map(|(_, o)| o).collect()
        })
        .collect();
    let columns: Vec<(String, String, Vec<Column>)> = plan
        .tables
        .iter()
        .map(|t| (t.schema.clone(), t.name.clone(), t.columns.clone()))
        .collect();
    let tables = table_entries(columns, sorted, &mut schema);
    Ok(Manifest {
        format_version: FORMAT_VERSION,
        tool: "restore-drill".into(),
        tool_version: tool_version.into(),
        server_version: plan.server_version.clone(),
        database: plan.database.clone(),
        encoding: plan.encoding.clone(),
        snapshot_at: plan.planned_at,
        data_taken_at: plan.data_taken_at,
        started_at,
        finished_at,
        data_format: DATA_FORMAT.into(),
        pre_data: plan.pre_data.clone(),
        post_data: plan.post_data.clone(),
        sequences: plan.sequences.clone(),
        tables,
        schema: Some(schema),
        materialized_views: plan.materialized_views.clone(),
    })
}

#[cfg(test)]
#[path = "units_tests.rs"]
mod tests;
