//! The check configuration of a source (TOML, documented in `docs/validation.md`): which
//! checks run, their tolerances and budgets, and the user's SQL assertions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Classified, ErrorKind};

/// Check configuration of one source database (TOML). See `docs/validation.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckConfig {
    /// Session statement timeout for the catalog, count and read queries.
    pub statement_timeout_seconds: u64,
    /// Schemas left out of every table-level check (besides the system schemas, always left out).
    pub exclude_schemas: Vec<String>,
    pub schema: SchemaConfig,
    pub row_counts: RowCountConfig,
    pub freshness: FreshnessConfig,
    pub integrity: IntegrityConfig,
    pub full_read: FullReadConfig,
    /// User assertions, each run read-only with its own timeout.
    pub sql: Vec<SqlAssertion>,
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            // Below the 900 s Lambda limit with the amcheck budget (units::check_timeouts).
            statement_timeout_seconds: 300,
            exclude_schemas: Vec::new(),
            schema: SchemaConfig::default(),
            row_counts: RowCountConfig::default(),
            freshness: FreshnessConfig::default(),
            integrity: IntegrityConfig::default(),
            full_read: FullReadConfig::default(),
            sql: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaConfig {
    pub enabled: bool,
    /// Compare index definitions (names always are).
    pub indexes: bool,
    /// Compare constraints (primary, unique, foreign keys, checks, exclusions).
    pub constraints: bool,
}

impl Default for SchemaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            indexes: true,
            constraints: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RowCountConfig {
    pub enabled: bool,
    /// Largest tolerated drop, in percent of the last good drill's count, before "data loss
    /// suspected". Tables legitimately shrink (retention jobs); a truncate drops 100 %.
    pub max_drop_percent: f64,
    /// Per-table overrides, keyed `schema.table`.
    pub tables: BTreeMap<String, TableTolerance>,
    /// Accept a database without any user table. Off by default: an empty restore is the
    /// classic bad backup (wrong database, everything excluded), not a pass.
    pub allow_empty: bool,
}

impl Default for RowCountConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_drop_percent: 10.0,
            tables: BTreeMap::new(),
            allow_empty: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableTolerance {
    pub max_drop_percent: f64,
}

impl RowCountConfig {
    pub fn tolerance_for(&self, qualified: &str) -> f64 {
        self.tables
            .get(qualified)
            .map(|t| t.max_drop_percent)
            .unwrap_or(self.max_drop_percent)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FreshnessConfig {
    /// Default allowed lag between a table's newest row and the backup time (the RPO).
    pub max_lag_seconds: u64,
    pub tables: Vec<FreshnessTable>,
}

impl Default for FreshnessConfig {
    fn default() -> Self {
        Self {
            max_lag_seconds: 26 * 3600,
            tables: Vec::new(),
        }
    }
}

/// `max(column)` of `table` must be within the lag of the backup time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreshnessTable {
    /// `schema.table` (or `table` for `public`).
    pub table: String,
    /// A `timestamptz`, `timestamp` (read as UTC) or `date` column.
    pub column: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lag_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntegrityConfig {
    pub enabled: bool,
    /// Also run `verify_heapam` on every table (PostgreSQL 14+).
    pub heap: bool,
    /// `bt_index_check(heapallindexed => true)`: finds index entries missing for heap tuples, at
    /// the cost of another heap pass per index.
    pub heapallindexed: bool,
    /// Stop starting new amcheck calls after this long; what was not checked is reported.
    pub time_budget_seconds: u64,
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            heap: true,
            heapallindexed: false,
            time_budget_seconds: 480,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FullReadConfig {
    pub enabled: bool,
}

impl Default for FullReadConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// A user assertion: a read-only query and what its result must be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlAssertion {
    pub name: String,
    pub query: String,
    pub expect: Expectation,
    #[serde(default = "SqlAssertion::default_timeout")]
    pub timeout_seconds: u64,
}

impl SqlAssertion {
    fn default_timeout() -> u64 {
        60
    }
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds)
    }
}

/// What a query result must be. The value compared is the first column of the first row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expectation {
    /// Equal (numerically when both sides are numbers, else as text; booleans as `true`/`false`).
    Equals(Scalar),
    /// A number ≥ this.
    AtLeast(f64),
    /// A number ≤ this.
    AtMost(f64),
    /// At least one row.
    NonEmpty,
    /// The value is boolean true.
    True,
}

/// A literal in an expectation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Text(s) => write!(f, "{s:?}"),
        }
    }
}

impl std::fmt::Display for Expectation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expectation::Equals(v) => write!(f, "= {v}"),
            Expectation::AtLeast(v) => write!(f, ">= {v}"),
            Expectation::AtMost(v) => write!(f, "<= {v}"),
            Expectation::NonEmpty => write!(f, "at least one row"),
            Expectation::True => write!(f, "true"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("check configuration: {0}")]
    Parse(String),
    #[error("check configuration: {0}")]
    Invalid(String),
}

impl Classified for ConfigError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

impl CheckConfig {
    /// Parses and validates a TOML configuration.
    pub fn from_toml(text: &str) -> Result<CheckConfig, ConfigError> {
        let config: CheckConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let percent_ok = |p: f64| (0.0..=100.0).contains(&p);
        if !percent_ok(self.row_counts.max_drop_percent) {
            return bad("row_counts.max_drop_percent must be between 0 and 100".into());
        }
        for (table, t) in &self.row_counts.tables {
            if !percent_ok(t.max_drop_percent) {
                return bad(format!(
                    "row_counts.tables.\"{table}\".max_drop_percent must be between 0 and 100"
                ));
            }
            if !table.contains('.') {
                return bad(format!(
                    "row_counts.tables: {table:?} must be qualified as schema.table"
                ));
            }
        }
        for t in &self.freshness.tables {
            if t.table.is_empty() || t.column.is_empty() {
                return bad("freshness.tables entries need `table` and `column`".into());
            }
        }
        let mut names = BTreeSet::new();
        for a in &self.sql {
            if a.name.is_empty() || a.query.trim().is_empty() {
                return bad("every [[sql]] assertion needs a `name` and a `query`".into());
            }
            if !names.insert(a.name.as_str()) {
                return bad(format!("sql assertion name {:?} is used twice", a.name));
            }
            if a.timeout_seconds == 0 {
                return bad(format!(
                    "sql assertion {:?}: timeout_seconds must be > 0",
                    a.name
                ));
            }
        }
        if self.statement_timeout_seconds == 0 {
            return bad("statement_timeout_seconds must be > 0".into());
        }
        Ok(())
    }

    pub fn statement_timeout(&self) -> Duration {
        Duration::from_secs(self.statement_timeout_seconds)
    }
}

/// Splits `schema.table` (default schema `public`). Quotes are not interpreted: names are the
/// catalog spelling.
pub fn split_qualified(name: &str) -> (String, String) {
    match name.split_once('.') {
        Some((s, t)) => (s.to_owned(), t.to_owned()),
        None => ("public".to_owned(), name.to_owned()),
    }
}
