//! What a restored database is expected to look like ([`Fingerprint`]: tables, columns, counts,
//! indexes, constraints) and where that expectation came from ([`Baseline`]).

use serde::{Deserialize, Serialize};

/// A table as expected: columns with their types (`format_type` spelling, e.g. `integer`,
/// `character varying(20)`) in column order, and its row count when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedTable {
    pub schema: String,
    pub name: String,
    pub columns: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

impl ExpectedTable {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// An index: its table and its definition (`pg_get_indexdef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedIndex {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub definition: String,
}

/// A constraint: its table, kind (`p`, `u`, `f`, `c`, `x`) and definition
/// (`pg_get_constraintdef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedConstraint {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub kind: String,
    pub definition: String,
}

/// What a restored database is expected to look like. A backup manifest converts into one
/// (tables, columns, exact counts; indexes and constraints when it records them); the report of
/// every drill carries the one measured, which the next drill reads from history.
/// `None` for indexes or constraints means "not known": they are not compared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fingerprint {
    pub tables: Vec<ExpectedTable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexes: Option<Vec<ExpectedIndex>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Vec<ExpectedConstraint>>,
}

impl Fingerprint {
    /// The expected fingerprint of a backup set: its tables, columns and exact row counts (a
    /// restore of the set must match it exactly).
    pub fn from_manifest(m: &crate::manifest::Manifest) -> Fingerprint {
        if let Some(schema) = &m.schema {
            return schema.clone();
        }
        // A set written before manifests carried the schema: only what its tables say.
        Fingerprint {
            tables: m
                .tables
                .iter()
                .map(|t| ExpectedTable {
                    schema: t.schema.clone(),
                    name: t.name.clone(),
                    columns: t
                        .columns
                        .iter()
                        .map(|c| (c.name.clone(), c.type_name.clone()))
                        .collect(),
                    rows: Some(t.rows),
                })
                .collect(),
            indexes: None,
            constraints: None,
        }
    }

    pub fn table(&self, schema: &str, name: &str) -> Option<&ExpectedTable> {
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.name == name)
    }

    pub fn total_rows(&self) -> u64 {
        self.tables.iter().filter_map(|t| t.rows).sum()
    }
}

/// Where an expectation came from; decides how strictly counts are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// The backup set's manifest: a dump restore must match it exactly.
    Manifest,
    /// The last good drill of the same source: production moves on, within tolerance.
    PreviousDrill,
}

impl Baseline {
    pub fn label(self) -> &'static str {
        match self {
            Baseline::Manifest => "manifest",
            Baseline::PreviousDrill => "last good drill",
        }
    }
}
