//! The manifest of a logical backup set, and the decisions about it: is this set restorable, and
//! does an object or a table that was just loaded match what was exported.
//!
//! A backup set is a directory (or S3 prefix) holding schema files, compressed data objects,
//! `sequences.json` and `manifest.json`. The manifest is written last, so a set without one is
//! incomplete and is never restored. Everything here is pure: the engine reads and hashes bytes,
//! this module says whether they are the right bytes.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod sets;
mod units;
mod verify;

pub use sets::{
    check_max_age, choose_newest_set, manifest_url_of, set_name, ManifestUrlError, SetChoice,
    TooOld,
};
pub use units::{
    assemble, check_set_url, table_entries, unit_data_key, unit_result_key, AssembleError,
    ChunkObject, ExportPlan, PlannedTable, UnitResult, ITEMS_KEY, PLAN_KEY,
};
pub use verify::{verify_object, verify_table_rows, Mismatch, Observed};

/// Version of the backup set layout this build writes and reads. Bump it when a reader of the old
/// version would misread a new set.
pub const FORMAT_VERSION: u32 = 1;

/// Name of the manifest object inside a backup set.
pub const MANIFEST_KEY: &str = "manifest.json";
/// Schema objects (`pg_dump --schema-only --section=...`), psql meta-commands removed.
pub const PRE_DATA_KEY: &str = "schema/pre-data.sql";
pub const POST_DATA_KEY: &str = "schema/post-data.sql";
/// Written into a set (a new object: sets are write-once) when the drill that restored and
/// validated it failed: such a set is never picked as "the newest" by default.
pub const DRILL_FAILED_KEY: &str = "drill-failed.json";
/// Sequence values (JSON array of [`SequenceValue`]).
pub const SEQUENCES_KEY: &str = "sequences.json";

/// How table data is encoded inside each data object.
pub const DATA_FORMAT: &str = "copy-text+zstd";

/// One stored object and what its bytes must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectEntry {
    /// Key relative to the backup set root.
    pub key: String,
    /// Bytes before compression (the COPY text, or the file itself when not compressed).
    pub raw_bytes: u64,
    /// Bytes as stored.
    pub compressed_bytes: u64,
    /// sha256 of the stored bytes, lowercase hex.
    pub sha256: String,
    /// Rows in this object (data objects only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

/// A column as copied (generated and dropped columns are not in the data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    /// `format_type()` with an empty search path, so user types are schema-qualified.
    #[serde(rename = "type")]
    pub type_name: String,
}

/// One table (a plain table or a leaf partition) and the objects holding its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    pub rows: u64,
    /// In load order; a table with no rows still has one (empty) object.
    pub objects: Vec<ObjectEntry>,
}

impl TableEntry {
    /// `schema.name` as shown in messages (not quoted: for people, not SQL).
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// A sequence's state as `setval(seq, last_value, is_called)` restores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceValue {
    pub schema: String,
    pub name: String,
    pub last_value: i64,
    pub is_called: bool,
}

/// The manifest of a backup set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    pub tool: String,
    pub tool_version: String,
    pub server_version: String,
    pub database: String,
    pub encoding: String,
    /// When the consistent snapshot was taken: the point in time the data represents.
    pub snapshot_at: DateTime<Utc>,
    /// When the data itself was taken, if older than the export: an export of a restored
    /// backup carries the backup's time, so a chain of re-exports never looks fresher than its
    /// origin (RPO stays honest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_taken_at: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub data_format: String,
    pub pre_data: ObjectEntry,
    pub post_data: ObjectEntry,
    pub sequences: ObjectEntry,
    pub tables: Vec<TableEntry>,
    /// The schema as validation reads it from the catalog (the same query, at the export's
    /// snapshot): partitioned parents, generated columns, indexes and constraints included, so a
    /// good restore matches it exactly. Absent in sets written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<crate::checks::Fingerprint>,
    /// Materialized views in refresh order (dependencies first) and whether each was populated:
    /// the restore refreshes the populated ones after the data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub materialized_views: Vec<MatView>,
}

/// A materialized view of the set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatView {
    pub schema: String,
    pub name: String,
    pub populated: bool,
}

/// Orders `nodes` so that every node comes after the nodes it depends on (`edges`: dependent ->
/// dependency, by index); ties keep their input order. A cycle (which PostgreSQL does not allow
/// between views) leaves its members in input order at the end.
pub fn dependency_order(nodes: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut pending: Vec<usize> = vec![0; nodes];
    for &(dependent, dependency) in edges {
        if dependent < nodes && dependency < nodes && dependent != dependency {
            pending[dependent] += 1;
        }
    }
    let mut done = vec![false; nodes];
    let mut out = Vec::with_capacity(nodes);
    while let Some(next) = (0..nodes).find(|&i| !done[i] && pending[i] == 0) {
        done[next] = true;
        out.push(next);
        for &(dependent, dependency) in edges {
            if dependency == next && dependent < nodes && dependent != dependency {
                pending[dependent] -= 1;
            }
        }
    }
    out.extend((0..nodes).filter(|&i| !done[i]));
    out
}

impl Manifest {
    /// The point in time the data represents: the origin's time for a re-export.
    pub fn data_as_of(&self) -> DateTime<Utc> {
        self.data_taken_at
            .map_or(self.snapshot_at, |t| t.min(self.snapshot_at))
    }
}

/// Totals for the export summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub tables: u32,
    pub rows: u64,
    pub raw_bytes: u64,
    pub compressed_bytes: u64,
}

impl Manifest {
    /// Every object the set consists of (schema, sequences, data), manifest excluded.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectEntry> {
        [&self.pre_data, &self.post_data, &self.sequences]
            .into_iter()
            .chain(self.tables.iter().flat_map(|t| t.objects.iter()))
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            tables: self.tables.len() as u32,
            ..Totals::default()
        };
        for table in &self.tables {
            t.rows += table.rows;
        }
        for o in self.objects() {
            t.raw_bytes += o.raw_bytes;
            t.compressed_bytes += o.compressed_bytes;
        }
        t
    }
}

/// Why a manifest cannot be used. Each of these makes the set unrestorable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    NotJson(String),
    #[error("manifest has no format_version: not a restore-drill backup set manifest")]
    NoVersion,
    #[error(
        "manifest format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion { found: u64, supported: u32 },
    #[error("manifest is malformed: {0}")]
    Malformed(String),
    #[error("manifest is inconsistent: {0}")]
    Inconsistent(String),
}

/// Parses and checks a manifest. The version is checked before the body, so a newer layout is
/// reported as "unsupported version" instead of a confusing field error.
pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::NotJson(e.to_string()))?;
    let version = value
        .get("format_version")
        .and_then(|v| v.as_u64())
        .ok_or(ManifestError::NoVersion)?;
    if version != u64::from(FORMAT_VERSION) {
        return Err(ManifestError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|e| ManifestError::Malformed(e.to_string()))?;
    check(&manifest)?;
    Ok(manifest)
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A key must stay inside the set: relative, no `..`, no empty segments.
fn is_safe_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// Internal consistency: what a reader relies on before touching any object.
pub fn check(m: &Manifest) -> Result<(), ManifestError> {
    let bad = |s: String| Err(ManifestError::Inconsistent(s));
    if m.data_format != DATA_FORMAT {
        return bad(format!(
            "data format {:?} is not supported (expected {DATA_FORMAT:?})",
            m.data_format
        ));
    }
    let mut keys = HashSet::new();
    for o in m.objects() {
        if !is_safe_key(&o.key) || o.key == MANIFEST_KEY {
            return bad(format!(
                "object key {:?} is not a valid key inside the set",
                o.key
            ));
        }
        if !keys.insert(o.key.as_str()) {
            return bad(format!("object {} is listed twice", o.key));
        }
        if !is_sha256_hex(&o.sha256) {
            return bad(format!(
                "object {} has an invalid sha256 {:?}",
                o.key, o.sha256
            ));
        }
    }
    let mut tables = HashSet::new();
    for t in &m.tables {
        if !tables.insert((t.schema.as_str(), t.name.as_str())) {
            return bad(format!("table {} is listed twice", t.display_name()));
        }
        if t.objects.is_empty() {
            return bad(format!("table {} has no data objects", t.display_name()));
        }
        let mut sum = 0u64;
        for o in &t.objects {
            match o.rows {
                Some(r) => sum += r,
                None => {
                    return bad(format!(
                        "object {} of table {} has no row count",
                        o.key,
                        t.display_name()
                    ))
                }
            }
        }
        if sum != t.rows {
            return bad(format!(
                "table {} claims {} rows but its objects hold {sum}",
                t.display_name(),
                t.rows
            ));
        }
    }
    Ok(())
}

/// Key of a data object: `data/<schema>.<table>.<chunk>.copy.zst`. Names are percent-encoded
/// where they are not plain ASCII letters/digits/`_`, so any identifier (quotes, slashes,
/// non-ASCII) gives a safe, unique key.
pub fn data_key(schema: &str, table: &str, chunk: u32) -> String {
    format!(
        "data/{}.{}.{chunk:04}.copy.zst",
        encode_name(schema),
        encode_name(table)
    )
}

pub(crate) fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(super) fn obj(key: &str, rows: Option<u64>) -> ObjectEntry {
        ObjectEntry {
            key: key.into(),
            raw_bytes: 10,
            compressed_bytes: 5,
            sha256: "a".repeat(64),
            rows,
        }
    }

    #[test]
    fn a_re_export_is_as_old_as_its_origin() {
        let mut m = manifest();
        assert_eq!(m.data_as_of(), m.snapshot_at);
        let origin = m.snapshot_at - chrono::Duration::days(40);
        m.data_taken_at = Some(origin);
        assert_eq!(m.data_as_of(), origin);
        // A claimed origin in the future never makes a set look fresher than its export.
        m.data_taken_at = Some(m.snapshot_at + chrono::Duration::days(1));
        assert_eq!(m.data_as_of(), m.snapshot_at);
    }

    pub(super) fn manifest() -> Manifest {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        Manifest {
            format_version: FORMAT_VERSION,
            tool: "restore-drill".into(),
            tool_version: "0.1.0".into(),
            server_version: "15.18".into(),
            database: "app".into(),
            encoding: "UTF8".into(),
            snapshot_at: at,
            data_taken_at: None,
            started_at: at,
            finished_at: at,
            data_format: DATA_FORMAT.into(),
            pre_data: obj(PRE_DATA_KEY, None),
            post_data: obj(POST_DATA_KEY, None),
            sequences: obj(SEQUENCES_KEY, None),
            tables: vec![TableEntry {
                schema: "public".into(),
                name: "t".into(),
                columns: vec![Column {
                    name: "id".into(),
                    type_name: "integer".into(),
                }],
                rows: 7,
                objects: vec![
                    obj("data/public.t.0000.copy.zst", Some(3)),
                    obj("data/public.t.0001.copy.zst", Some(4)),
                ],
            }],
            schema: None,
            materialized_views: Vec::new(),
        }
    }

    #[test]
    fn round_trips_through_json() {
        let m = manifest();
        let bytes = serde_json::to_vec(&m).unwrap();
        assert_eq!(parse(&bytes).unwrap(), m);
        let t = m.totals();
        assert_eq!(
            (t.tables, t.rows, t.raw_bytes, t.compressed_bytes),
            (1, 7, 50, 25)
        );
    }

    #[test]
    fn version_is_checked_before_the_body() {
        let mut v = serde_json::to_value(manifest()).unwrap();
        v["format_version"] = 2.into();
        v["new_field"] = "x".into();
        let err = parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(
            err,
            ManifestError::UnsupportedVersion {
                found: 2,
                supported: FORMAT_VERSION
            }
        );
        assert!(err.to_string().contains("version 2"), "{err}");
        v.as_object_mut().unwrap().remove("format_version");
        assert_eq!(
            parse(&serde_json::to_vec(&v).unwrap()).unwrap_err(),
            ManifestError::NoVersion
        );
        assert!(matches!(
            parse(b"{not json"),
            Err(ManifestError::NotJson(_))
        ));
    }

    #[test]
    fn table_rows_must_equal_the_sum_of_its_objects() {
        let mut m = manifest();
        m.tables[0].rows = 8;
        let err = check(&m).unwrap_err().to_string();
        assert!(err.contains("public.t") && err.contains("8"), "{err}");
    }

    #[test]
    fn unsafe_or_duplicate_keys_are_refused() {
        for key in ["../escape", "/abs", "data//x", "manifest.json", "a/./b"] {
            let mut m = manifest();
            m.tables[0].objects[0].key = key.into();
            assert!(check(&m).is_err(), "{key}");
        }
        let mut m = manifest();
        m.tables[0].objects[1].key = m.tables[0].objects[0].key.clone();
        assert!(check(&m).unwrap_err().to_string().contains("twice"));
        let mut m = manifest();
        m.pre_data.sha256 = "XYZ".into();
        assert!(check(&m).unwrap_err().to_string().contains("sha256"));
    }

    #[test]
    fn data_keys_are_safe_for_any_identifier() {
        assert_eq!(data_key("public", "t", 3), "data/public.t.0003.copy.zst");
        let odd = data_key("Sales Ünï", "a/b\"c.d", 0);
        assert!(is_safe_key(&odd), "{odd}");
        assert!(odd.is_ascii() && !odd[5..].contains('/'), "{odd}");
        // Distinct names never share a key (the dot separator is encoded inside names).
        assert_ne!(data_key("a.b", "c", 0), data_key("a", "b.c", 0));
    }

    #[test]
    fn dependencies_come_first_and_ties_keep_their_order() {
        // 0 depends on 2, 2 on 1, 3 on nothing.
        assert_eq!(dependency_order(4, &[(0, 2), (2, 1)]), vec![1, 2, 0, 3]);
        assert_eq!(dependency_order(3, &[]), vec![0, 1, 2]);
        // A cycle does not lose nodes.
        assert_eq!(dependency_order(3, &[(0, 1), (1, 0)]), vec![2, 0, 1]);
    }
}
