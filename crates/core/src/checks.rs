//! Validation checks: their configuration, their expectations and their verdicts.
//!
//! The engine measures facts (catalog, counts, timestamps, amcheck findings, query results); the
//! functions here turn facts plus expectations into a [`CheckResult`]. Nothing here does I/O, so
//! every verdict — above all "never pass when something failed" — is unit-tested.
//!
//! The configuration file format is documented in `docs/validation.md`; every field has a default,
//! so an absent file means "the default check set".

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Classified, ErrorKind};

// ---------------------------------------------------------------- configuration

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
            statement_timeout_seconds: 3600,
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
            time_budget_seconds: 1800,
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

// ---------------------------------------------------------------- results

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    /// The backup is wrong: what was measured contradicts what was expected.
    Fail,
    /// The check could not be completed (timeout, query error, missing extension): the backup
    /// is neither proven good nor proven bad.
    Error,
    /// Not configured, disabled, or nothing to compare against.
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Skipped => "skipped",
        }
    }
}

/// Result of one check as it appears in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    /// `connect`, `schema`, `row_counts`, `freshness:<table>`, `integrity`, `full_read`,
    /// `sql:<name>`.
    pub name: String,
    pub status: Status,
    /// What was measured, for people (`2000000 rows in 4 tables`, `lag 3h12m`).
    pub measured: String,
    /// What was expected (`= manifest`, `lag <= 26h`).
    pub expected: String,
    pub duration_ms: u64,
    /// One line per finding (a removed index, a table that lost rows, a corrupt index).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl CheckResult {
    pub fn new(name: impl Into<String>, status: Status) -> Self {
        Self {
            name: name.into(),
            status,
            measured: String::new(),
            expected: String::new(),
            duration_ms: 0,
            details: Vec::new(),
        }
    }
    pub fn measured(mut self, m: impl Into<String>) -> Self {
        self.measured = m.into();
        self
    }
    pub fn expected(mut self, e: impl Into<String>) -> Self {
        self.expected = e.into();
        self
    }
    pub fn details(mut self, d: Vec<String>) -> Self {
        self.details = d;
        self
    }
    pub fn took(mut self, d: Duration) -> Self {
        self.duration_ms = d.as_millis().try_into().unwrap_or(u64::MAX);
        self
    }
    pub fn skipped(name: impl Into<String>, why: impl Into<String>) -> Self {
        Self::new(name, Status::Skipped).measured(why)
    }
}

/// Verdict over all checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every check passed or was skipped, and at least one passed.
    Pass,
    /// At least one check failed: the backup is invalid.
    BackupInvalid,
    /// No check failed, but at least one errored (or none ran): validity is unknown.
    CouldNotRun,
}

impl Outcome {
    /// A failure outranks an error: a proven-bad backup is reported as such even when another
    /// check could not finish.
    pub fn of(results: &[CheckResult]) -> Outcome {
        if results.iter().any(|r| r.status == Status::Fail) {
            Outcome::BackupInvalid
        } else if results.iter().any(|r| r.status == Status::Error)
            || !results.iter().any(|r| r.status == Status::Pass)
        {
            Outcome::CouldNotRun
        } else {
            Outcome::Pass
        }
    }

    pub fn error_kind(self) -> Option<ErrorKind> {
        match self {
            Outcome::Pass => None,
            Outcome::BackupInvalid => Some(ErrorKind::BackupInvalid),
            Outcome::CouldNotRun => Some(ErrorKind::CouldNotRun),
        }
    }
}

// ---------------------------------------------------------------- fingerprints

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

/// Compares the measured schema with an expected one; every added, removed or changed object is
/// named in `details`.
pub fn evaluate_schema(
    measured: &Fingerprint,
    expected: Option<(&Fingerprint, Baseline)>,
    config: &SchemaConfig,
) -> CheckResult {
    const NAME: &str = "schema";
    if !config.enabled {
        return CheckResult::skipped(NAME, "disabled");
    }
    let summary = format!(
        "{} tables, {} indexes, {} constraints",
        measured.tables.len(),
        measured.indexes.as_ref().map_or(0, Vec::len),
        measured.constraints.as_ref().map_or(0, Vec::len)
    );
    let Some((expected, baseline)) = expected else {
        return CheckResult::skipped(NAME, format!("{summary}; nothing to compare against"))
            .expected("no manifest and no earlier good drill");
    };
    let mut details = Vec::new();

    let key = |t: &ExpectedTable| (t.schema.clone(), t.name.clone());
    let m: BTreeMap<_, _> = measured.tables.iter().map(|t| (key(t), t)).collect();
    let e: BTreeMap<_, _> = expected.tables.iter().map(|t| (key(t), t)).collect();
    for (k, et) in &e {
        match m.get(k) {
            None => details.push(format!("table {} is missing", et.qualified())),
            Some(mt) => diff_columns(et, mt, &mut details),
        }
    }
    for (k, mt) in &m {
        if !e.contains_key(k) {
            details.push(format!("table {} is unexpected (added)", mt.qualified()));
        }
    }
    if config.indexes {
        if let (Some(ei), Some(mi)) = (&expected.indexes, &measured.indexes) {
            diff_named(
                "index",
                ei.iter().map(|i| {
                    (
                        (i.schema.clone(), i.name.clone()),
                        (&i.table, &i.definition),
                    )
                }),
                mi.iter().map(|i| {
                    (
                        (i.schema.clone(), i.name.clone()),
                        (&i.table, &i.definition),
                    )
                }),
                &mut details,
            );
        }
    }
    if config.constraints {
        if let (Some(ec), Some(mc)) = (&expected.constraints, &measured.constraints) {
            // Constraint names are unique per table, not per schema.
            let k =
                |c: &ExpectedConstraint| (c.schema.clone(), format!("{} on {}", c.name, c.table));
            diff_named(
                "constraint",
                ec.iter().map(|c| (k(c), (&c.table, &c.definition))),
                mc.iter().map(|c| (k(c), (&c.table, &c.definition))),
                &mut details,
            );
        }
    }
    let status = if details.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    CheckResult::new(NAME, status)
        .measured(summary)
        .expected(format!("same as {}", baseline.label()))
        .details(details)
}

fn diff_columns(expected: &ExpectedTable, measured: &ExpectedTable, out: &mut Vec<String>) {
    let q = expected.qualified();
    let m: BTreeMap<&str, &str> = measured
        .columns
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let e: BTreeMap<&str, &str> = expected
        .columns
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    for (name, ty) in &e {
        match m.get(name) {
            None => out.push(format!("column {q}.{name} ({ty}) is missing")),
            Some(mt) if mt != ty => {
                out.push(format!("column {q}.{name} has type {mt}, expected {ty}"))
            }
            Some(_) => {}
        }
    }
    for (name, ty) in &m {
        if !e.contains_key(name) {
            out.push(format!("column {q}.{name} ({ty}) is unexpected (added)"));
        }
    }
}

fn diff_named<'a>(
    what: &str,
    expected: impl Iterator<Item = ((String, String), (&'a String, &'a String))>,
    measured: impl Iterator<Item = ((String, String), (&'a String, &'a String))>,
    out: &mut Vec<String>,
) {
    let e: BTreeMap<_, _> = expected.collect();
    let m: BTreeMap<_, _> = measured.collect();
    for ((schema, name), (table, def)) in &e {
        match m.get(&(schema.clone(), name.clone())) {
            None => out.push(format!(
                "{what} {schema}.{name} on {schema}.{table} is missing ({def})"
            )),
            Some((_, mdef)) if mdef != def => out.push(format!(
                "{what} {schema}.{name} changed: {mdef}, expected {def}"
            )),
            Some(_) => {}
        }
    }
    for ((schema, name), (table, def)) in &m {
        if !e.contains_key(&(schema.clone(), name.clone())) {
            out.push(format!(
                "{what} {schema}.{name} on {schema}.{table} is unexpected (added: {def})"
            ));
        }
    }
}

/// Compares exact row counts (the `rows` of `measured`) with the manifest (exact) and with the
/// last good drill (a drop beyond tolerance is "data loss suspected").
pub fn evaluate_row_counts(
    measured: &Fingerprint,
    manifest: Option<&Fingerprint>,
    previous: Option<&Fingerprint>,
    config: &RowCountConfig,
) -> CheckResult {
    const NAME: &str = "row_counts";
    if !config.enabled {
        return CheckResult::skipped(NAME, "disabled");
    }
    let total: u64 = measured.total_rows();
    let counted = measured.tables.iter().filter(|t| t.rows.is_some()).count();
    let summary = format!("{total} rows in {counted} tables");
    let count_of = |schema: &str, name: &str| -> u64 {
        measured
            .table(schema, name)
            .and_then(|t| t.rows)
            .unwrap_or(0)
    };
    if measured.tables.is_empty() && !config.allow_empty {
        return CheckResult::new(NAME, Status::Fail)
            .measured("no user tables")
            .expected("at least one table (row_counts.allow_empty = false)")
            .details(vec![
                "the restored database has no user tables: wrong database, an empty backup, or \
                 every schema excluded"
                    .to_owned(),
            ]);
    }
    let mut details = Vec::new();
    let mut expected = Vec::new();
    if let Some(manifest) = manifest {
        expected.push("= manifest".to_owned());
        for et in &manifest.tables {
            let Some(want) = et.rows else { continue };
            let present = measured.table(&et.schema, &et.name).is_some();
            let got = count_of(&et.schema, &et.name);
            if !present {
                details.push(format!(
                    "{}: table missing, manifest has {want} rows",
                    et.qualified()
                ));
            } else if got != want {
                details.push(format!(
                    "{}: {got} rows, manifest has {want}",
                    et.qualified()
                ));
            }
        }
    }
    let mut loss = Vec::new();
    if let Some(previous) = previous {
        expected.push(format!(
            "no drop > {}% vs last good drill",
            config.max_drop_percent
        ));
        for pt in &previous.tables {
            let Some(before) = pt.rows else { continue };
            let now = count_of(&pt.schema, &pt.name);
            if now >= before || before == 0 {
                continue;
            }
            let drop = (before - now) as f64 * 100.0 / before as f64;
            let tolerance = config.tolerance_for(&pt.qualified());
            if drop > tolerance {
                loss.push(format!(
                    "{}: {before} -> {now} rows (-{drop:.1}%, tolerance {tolerance}%)",
                    pt.qualified()
                ));
            }
        }
    }
    if !loss.is_empty() {
        details.insert(
            0,
            format!(
                "data loss suspected: {} table(s) shrank beyond tolerance since the last good drill",
                loss.len()
            ),
        );
        details.extend(loss);
    }
    if manifest.is_none() && previous.is_none() {
        return CheckResult::new(NAME, Status::Pass)
            .measured(summary)
            .expected("exact counts (no manifest or earlier good drill to compare)");
    }
    let status = if details.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    let measured_text = if details.first().is_some_and(|d| d.starts_with("data loss")) {
        format!("{summary}; data loss suspected")
    } else {
        summary
    };
    CheckResult::new(NAME, status)
        .measured(measured_text)
        .expected(expected.join("; "))
        .details(details)
}

/// Freshness of one table: `newest` is `max(column)`, `None` when the table is empty.
pub fn evaluate_freshness(
    table: &FreshnessTable,
    newest: Option<DateTime<Utc>>,
    backup_time: DateTime<Utc>,
    default_max_lag: Duration,
) -> CheckResult {
    let name = format!("freshness:{}", table.table);
    let max_lag = table
        .max_lag_seconds
        .map(Duration::from_secs)
        .unwrap_or(default_max_lag);
    let expected = format!(
        "max({}) within {} of backup time {}",
        table.column,
        human_duration(max_lag),
        backup_time.to_rfc3339()
    );
    let Some(newest) = newest else {
        return CheckResult::new(name, Status::Fail)
            .measured("no rows (max is NULL)")
            .expected(expected);
    };
    let lag = backup_time.signed_duration_since(newest);
    let lag_secs = lag.num_seconds();
    let status = if lag_secs > max_lag.as_secs() as i64 {
        Status::Fail
    } else {
        Status::Pass
    };
    let measured = if lag_secs >= 0 {
        format!(
            "newest {} (lag {})",
            newest.to_rfc3339(),
            human_duration(Duration::from_secs(lag_secs as u64))
        )
    } else {
        format!(
            "newest {} ({} after the backup time)",
            newest.to_rfc3339(),
            human_duration(Duration::from_secs(lag_secs.unsigned_abs()))
        )
    };
    CheckResult::new(name, status)
        .measured(measured)
        .expected(expected)
}

/// What an assertion query returned.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryOutcome {
    /// Row count and the text of the first column of the first row (`None` = NULL; `t`/`f`
    /// for booleans, as PostgreSQL's text output spells them).
    Rows {
        rows: u64,
        first: Option<Option<String>>,
    },
    /// The query failed (syntax, missing object, timeout): the assertion is `error`.
    Failed(String),
}

fn as_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

fn as_bool(s: &str) -> Option<bool> {
    match s {
        "t" | "true" => Some(true),
        "f" | "false" => Some(false),
        _ => None,
    }
}

/// Verdict of one user assertion.
pub fn evaluate_assertion(assertion: &SqlAssertion, outcome: &QueryOutcome) -> CheckResult {
    let name = format!("sql:{}", assertion.name);
    let expected = assertion.expect.to_string();
    let (rows, first) = match outcome {
        QueryOutcome::Failed(e) => {
            return CheckResult::new(name, Status::Error)
                .measured(format!("query failed: {e}"))
                .expected(expected)
        }
        QueryOutcome::Rows { rows, first } => (*rows, first),
    };
    let result = |status: Status, measured: String| {
        CheckResult::new(name.clone(), status)
            .measured(measured)
            .expected(expected.clone())
    };
    let value = match (&assertion.expect, first) {
        (Expectation::NonEmpty, _) => {
            let status = if rows > 0 { Status::Pass } else { Status::Fail };
            return result(status, format!("{rows} rows"));
        }
        (_, None) => return result(Status::Fail, "no rows".into()),
        (_, Some(None)) => return result(Status::Fail, "NULL".into()),
        (_, Some(Some(v))) => v,
    };
    let ok = match &assertion.expect {
        Expectation::NonEmpty => Some(rows > 0),
        Expectation::True => as_bool(value),
        Expectation::AtLeast(min) => as_number(value).map(|x| x >= *min),
        Expectation::AtMost(max) => as_number(value).map(|x| x <= *max),
        Expectation::Equals(want) => Some(match want {
            Scalar::Bool(b) => as_bool(value) == Some(*b),
            Scalar::Int(i) => as_number(value) == Some(*i as f64),
            Scalar::Float(x) => as_number(value) == Some(*x),
            Scalar::Text(s) => value == s,
        }),
    };
    match ok {
        Some(true) => result(Status::Pass, value.clone()),
        Some(false) => result(Status::Fail, value.clone()),
        // Comparing a non-number with >= is a mistake in the assertion, not in the backup.
        None => result(
            Status::Error,
            format!("{value:?} cannot be compared with {expected}"),
        ),
    }
}

/// Measured RPO: how much data would have been lost had production died when the drill started —
/// the drill start minus the newest row found by the freshness checks, or minus the backup time
/// when no freshness table is configured.
pub fn measured_rpo(
    drill_started: DateTime<Utc>,
    backup_time: Option<DateTime<Utc>>,
    newest_rows: &[DateTime<Utc>],
) -> Option<u64> {
    let reference = newest_rows.iter().max().copied().or(backup_time)?;
    Some(
        drill_started
            .signed_duration_since(reference)
            .num_seconds()
            .max(0) as u64,
    )
}

/// `3h12m`, `45s`, `2d4h`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86400, (s % 86400) / 3600, (s % 3600) / 60, s % 60);
    if days > 0 {
        format!("{days}d{h}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{sec:02}s")
    } else if d.as_millis() < 10_000 && d.as_secs() < 10 && d.subsec_millis() > 0 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{sec}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, rows: Option<u64>) -> ExpectedTable {
        ExpectedTable {
            schema: "public".into(),
            name: name.into(),
            columns: vec![("id".into(), "integer".into()), ("v".into(), "text".into())],
            rows,
        }
    }

    fn fp(tables: Vec<ExpectedTable>) -> Fingerprint {
        Fingerprint {
            tables,
            indexes: Some(vec![ExpectedIndex {
                schema: "public".into(),
                table: "a".into(),
                name: "a_pkey".into(),
                definition: "CREATE UNIQUE INDEX a_pkey ON public.a USING btree (id)".into(),
            }]),
            constraints: Some(vec![]),
        }
    }

    #[test]
    fn empty_config_gives_documented_defaults() {
        let c = CheckConfig::from_toml("").unwrap();
        assert_eq!(c, CheckConfig::default());
        assert!(c.integrity.enabled && c.integrity.heap && c.full_read.enabled);
        assert_eq!(c.freshness.max_lag_seconds, 26 * 3600);
        assert_eq!(c.row_counts.max_drop_percent, 10.0);
    }

    #[test]
    fn full_config_parses_all_expectation_forms() {
        let c = CheckConfig::from_toml(
            r#"
            statement_timeout_seconds = 120
            [row_counts]
            max_drop_percent = 5
            tables."public.events" = { max_drop_percent = 50 }
            [freshness]
            max_lag_seconds = 3600
            tables = [{ table = "public.orders", column = "created_at", max_lag_seconds = 60 }]
            [integrity]
            time_budget_seconds = 10
            [[sql]]
            name = "a"
            query = "select 1"
            expect = { equals = 1 }
            [[sql]]
            name = "b"
            query = "select 'x'"
            expect = { equals = "x" }
            timeout_seconds = 5
            [[sql]]
            name = "c"
            query = "select 3"
            expect = { at_least = 2.5 }
            [[sql]]
            name = "d"
            query = "select 1 where false"
            expect = "non_empty"
            [[sql]]
            name = "e"
            query = "select true"
            expect = "true"
            "#,
        )
        .unwrap();
        assert_eq!(c.row_counts.tolerance_for("public.events"), 50.0);
        assert_eq!(c.row_counts.tolerance_for("public.other"), 5.0);
        assert_eq!(c.freshness.tables[0].max_lag_seconds, Some(60));
        let expects: Vec<_> = c.sql.iter().map(|a| a.expect.clone()).collect();
        assert_eq!(
            expects,
            vec![
                Expectation::Equals(Scalar::Int(1)),
                Expectation::Equals(Scalar::Text("x".into())),
                Expectation::AtLeast(2.5),
                Expectation::NonEmpty,
                Expectation::True,
            ]
        );
        assert_eq!(c.sql[1].timeout(), Duration::from_secs(5));
        assert_eq!(c.sql[0].timeout(), Duration::from_secs(60));
    }

    #[test]
    fn config_mistakes_are_usage_errors() {
        for (text, needle) in [
            ("statment_timeout_seconds = 1", "unknown field"),
            ("[row_counts]\nmax_drop_percent = 150", "between 0 and 100"),
            (
                "[[sql]]\nname='a'\nquery='select 1'\nexpect='true'\n[[sql]]\nname='a'\nquery='select 1'\nexpect='true'",
                "used twice",
            ),
            ("[[sql]]\nname='a'\nquery='select 1'\nexpect='maybe'", "unknown variant"),
            ("[row_counts.tables.orders]\nmax_drop_percent = 1", "schema.table"),
        ] {
            let err = CheckConfig::from_toml(text).unwrap_err();
            assert!(err.to_string().contains(needle), "{text}: {err}");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn outcome_never_passes_with_a_failure_or_error() {
        let r = |s| CheckResult::new("x", s);
        assert_eq!(
            Outcome::of(&[r(Status::Pass), r(Status::Skipped)]),
            Outcome::Pass
        );
        assert_eq!(
            Outcome::of(&[r(Status::Pass), r(Status::Fail), r(Status::Error)]),
            Outcome::BackupInvalid
        );
        assert_eq!(
            Outcome::of(&[r(Status::Pass), r(Status::Error)]),
            Outcome::CouldNotRun
        );
        // Nothing ran: that is not a pass either.
        assert_eq!(Outcome::of(&[r(Status::Skipped)]), Outcome::CouldNotRun);
        assert_eq!(Outcome::of(&[]), Outcome::CouldNotRun);
        assert_eq!(
            Outcome::BackupInvalid.error_kind(),
            Some(ErrorKind::BackupInvalid)
        );
    }

    #[test]
    fn schema_names_removed_added_and_changed_objects() {
        let expected = fp(vec![table("a", None), table("b", None)]);
        let mut measured = expected.clone();
        assert_eq!(
            evaluate_schema(
                &measured,
                Some((&expected, Baseline::Manifest)),
                &SchemaConfig::default()
            )
            .status,
            Status::Pass
        );
        measured.tables.remove(1);
        measured.tables[0].columns[1].1 = "character varying(10)".into();
        measured.tables.push(table("c", None));
        measured.indexes = Some(vec![]);
        let r = evaluate_schema(
            &measured,
            Some((&expected, Baseline::PreviousDrill)),
            &SchemaConfig::default(),
        );
        assert_eq!(r.status, Status::Fail);
        let all = r.details.join("\n");
        assert!(all.contains("table public.b is missing"), "{all}");
        assert!(all.contains("table public.c is unexpected"), "{all}");
        assert!(
            all.contains("column public.a.v has type character varying(10), expected text"),
            "{all}"
        );
        assert!(
            all.contains("index public.a_pkey on public.a is missing"),
            "{all}"
        );
        assert!(r.expected.contains("last good drill"));
    }

    #[test]
    fn schema_without_baseline_is_skipped_and_unknown_indexes_are_not_compared() {
        let m = fp(vec![table("a", None)]);
        let r = evaluate_schema(&m, None, &SchemaConfig::default());
        assert_eq!(r.status, Status::Skipped);
        let mut manifest = m.clone();
        manifest.indexes = None;
        let mut measured = m.clone();
        measured.indexes = Some(vec![]);
        let r = evaluate_schema(
            &measured,
            Some((&manifest, Baseline::Manifest)),
            &SchemaConfig::default(),
        );
        assert_eq!(r.status, Status::Pass, "{:?}", r.details);
    }

    #[test]
    fn a_database_without_tables_fails_unless_allowed() {
        let empty = fp(vec![]);
        let mut cfg = RowCountConfig::default();
        let r = evaluate_row_counts(&empty, None, None, &cfg);
        assert_eq!(r.status, Status::Fail);
        assert!(r.details[0].contains("no user tables"), "{:?}", r.details);
        cfg.allow_empty = true;
        assert_eq!(
            evaluate_row_counts(&empty, None, None, &cfg).status,
            Status::Pass
        );
    }

    #[test]
    fn row_counts_must_match_the_manifest_exactly() {
        let manifest = fp(vec![table("a", Some(10)), table("b", Some(5))]);
        let same = manifest.clone();
        let cfg = RowCountConfig::default();
        assert_eq!(
            evaluate_row_counts(&same, Some(&manifest), None, &cfg).status,
            Status::Pass
        );
        let measured = fp(vec![table("a", Some(9))]);
        let r = evaluate_row_counts(&measured, Some(&manifest), None, &cfg);
        assert_eq!(r.status, Status::Fail);
        assert!(r
            .details
            .contains(&"public.a: 9 rows, manifest has 10".to_owned()));
        assert!(r
            .details
            .contains(&"public.b: table missing, manifest has 5 rows".to_owned()));
    }

    #[test]
    fn a_drop_beyond_tolerance_is_data_loss_naming_tables_and_counts() {
        let previous = fp(vec![table("a", Some(1000)), table("b", Some(1000))]);
        let mut cfg = RowCountConfig::default();
        cfg.tables.insert(
            "public.b".into(),
            TableTolerance {
                max_drop_percent: 60.0,
            },
        );
        // a: -5 % (within 10 %), b: -50 % (within its 60 %).
        let ok = fp(vec![table("a", Some(950)), table("b", Some(500))]);
        assert_eq!(
            evaluate_row_counts(&ok, None, Some(&previous), &cfg).status,
            Status::Pass
        );
        let bad = fp(vec![table("a", Some(0)), table("b", Some(300))]);
        let r = evaluate_row_counts(&bad, None, Some(&previous), &cfg);
        assert_eq!(r.status, Status::Fail);
        assert!(r.measured.contains("data loss suspected"), "{}", r.measured);
        assert!(
            r.details[0].starts_with("data loss suspected: 2 table"),
            "{:?}",
            r.details
        );
        assert!(r
            .details
            .iter()
            .any(|d| d.starts_with("public.a: 1000 -> 0 rows (-100.0%")));
        assert!(r
            .details
            .iter()
            .any(|d| d.starts_with("public.b: 1000 -> 300 rows (-70.0%, tolerance 60%)")));
        // Growth is never loss.
        let grown = fp(vec![table("a", Some(5000)), table("b", Some(5000))]);
        assert_eq!(
            evaluate_row_counts(&grown, None, Some(&previous), &cfg).status,
            Status::Pass
        );
    }

    #[test]
    fn freshness_reports_the_lag_and_fails_beyond_the_rpo() {
        let t = FreshnessTable {
            table: "public.orders".into(),
            column: "created_at".into(),
            max_lag_seconds: None,
        };
        let backup: DateTime<Utc> = "2026-03-01T02:00:00Z".parse().unwrap();
        let rpo = Duration::from_secs(3600);
        let recent = "2026-03-01T01:30:00Z".parse().unwrap();
        let r = evaluate_freshness(&t, Some(recent), backup, rpo);
        assert_eq!(r.status, Status::Pass);
        assert!(r.measured.contains("lag 30m00s"), "{}", r.measured);
        let old = "2026-02-28T20:00:00Z".parse().unwrap();
        let r = evaluate_freshness(&t, Some(old), backup, rpo);
        assert_eq!(r.status, Status::Fail);
        assert!(r.measured.contains("lag 6h00m"), "{}", r.measured);
        assert_eq!(r.name, "freshness:public.orders");
        assert_eq!(
            evaluate_freshness(&t, None, backup, rpo).status,
            Status::Fail
        );
        // Per-table lag overrides the default.
        let t2 = FreshnessTable {
            max_lag_seconds: Some(7 * 3600),
            ..t
        };
        assert_eq!(
            evaluate_freshness(&t2, Some(old), backup, rpo).status,
            Status::Pass
        );
    }

    fn assertion(expect: Expectation) -> SqlAssertion {
        SqlAssertion {
            name: "t".into(),
            query: "select".into(),
            expect,
            timeout_seconds: 1,
        }
    }

    fn rows(first: Option<&str>) -> QueryOutcome {
        QueryOutcome::Rows {
            rows: 1,
            first: Some(first.map(str::to_owned)),
        }
    }

    #[test]
    fn assertions_pass_fail_and_error() {
        use Expectation::*;
        let st = |e: Expectation, o: &QueryOutcome| evaluate_assertion(&assertion(e), o).status;
        assert_eq!(st(Equals(Scalar::Int(5)), &rows(Some("5"))), Status::Pass);
        assert_eq!(st(Equals(Scalar::Int(5)), &rows(Some("5.0"))), Status::Pass);
        assert_eq!(st(Equals(Scalar::Int(5)), &rows(Some("6"))), Status::Fail);
        assert_eq!(
            st(Equals(Scalar::Text("ok".into())), &rows(Some("ok"))),
            Status::Pass
        );
        assert_eq!(
            st(Equals(Scalar::Bool(false)), &rows(Some("f"))),
            Status::Pass
        );
        assert_eq!(st(AtLeast(10.0), &rows(Some("10"))), Status::Pass);
        assert_eq!(st(AtLeast(10.0), &rows(Some("9.5"))), Status::Fail);
        assert_eq!(st(AtMost(10.0), &rows(Some("11"))), Status::Fail);
        assert_eq!(st(True, &rows(Some("t"))), Status::Pass);
        assert_eq!(st(True, &rows(Some("f"))), Status::Fail);
        assert_eq!(st(True, &rows(None)), Status::Fail);
        let empty = QueryOutcome::Rows {
            rows: 0,
            first: None,
        };
        assert_eq!(st(NonEmpty, &empty), Status::Fail);
        assert_eq!(st(NonEmpty, &rows(None)), Status::Pass);
        assert_eq!(st(AtLeast(1.0), &empty), Status::Fail);
        // An assertion that cannot be evaluated is an error, never a failure.
        let failed = QueryOutcome::Failed("relation \"x\" does not exist".into());
        let r = evaluate_assertion(&assertion(True), &failed);
        assert_eq!(r.status, Status::Error);
        assert!(r.measured.contains("does not exist"));
        assert_eq!(st(AtLeast(1.0), &rows(Some("abc"))), Status::Error);
    }

    #[test]
    fn rpo_is_measured_from_the_newest_row_else_the_backup_time() {
        let start: DateTime<Utc> = "2026-03-01T03:00:00Z".parse().unwrap();
        let backup = Some("2026-03-01T02:00:00Z".parse().unwrap());
        assert_eq!(measured_rpo(start, backup, &[]), Some(3600));
        let rows = [
            "2026-03-01T00:00:00Z".parse().unwrap(),
            "2026-03-01T01:00:00Z".parse().unwrap(),
        ];
        assert_eq!(measured_rpo(start, backup, &rows), Some(7200));
        assert_eq!(measured_rpo(start, None, &[]), None);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(
            human_duration(Duration::from_secs(3 * 3600 + 12 * 60)),
            "3h12m"
        );
        assert_eq!(human_duration(Duration::from_secs(90000)), "1d1h");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.50s");
        assert_eq!(human_duration(Duration::from_secs(45)), "45s");
    }
}
