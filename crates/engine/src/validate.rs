//! Validation of a restored database: gathers facts from PostgreSQL, asks `drill_core::checks`
//! what they mean, and writes the report to the source's history store.
//!
//! Passes over the data are kept few because the data can be large and the restored volume
//! cold: one read pass per table gives the exact row count *and* the full read (every row is
//! formed whole, which fetches every TOAST value), while amcheck runs on a second connection at
//! the same time. Catalog, freshness and assertion queries are small.
//!
//! The reading connection is `default_transaction_read_only`: a user assertion can never change
//! the database that is exported next. The amcheck connection may create the extension (in a
//! schema of its own, dropped again) when the restore lacks it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use drill_core::checks::{
    self, Baseline, CheckConfig, CheckResult, ExpectedConstraint, ExpectedIndex, ExpectedTable,
    Fingerprint, Status,
};
use drill_core::events::{BackupRef, ConnectionSpec};
use drill_core::report::{self, Report, TableRead, REPORT_FORMAT};
use drill_core::{Classified, ErrorKind};
use tokio_postgres::Client;

use crate::pg::{self, quote_ident, ConnectOptions, Credentials, PgError};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error(transparent)]
    Config(#[from] checks::ConfigError),
    #[error("expected fingerprint {url}: {reason}")]
    Manifest { url: String, reason: String },
    #[error("report: {0}")]
    Report(String),
}

impl Classified for ValidateError {
    fn kind(&self) -> ErrorKind {
        match self {
            ValidateError::Store(e) => e.kind(),
            ValidateError::Pg(e) => e.kind(),
            ValidateError::Config(e) => e.kind(),
            ValidateError::Manifest { .. } => ErrorKind::InvalidInput,
            ValidateError::Report(_) => ErrorKind::CouldNotRun,
        }
    }
}

/// The database to validate.
#[derive(Debug, Clone)]
pub enum Target {
    /// A `postgres://` URL (TLS per [`pg::url_tls_mode`]).
    Url(String),
    /// A connection spec with resolved credentials (the Lambda).
    Spec(ConnectionSpec, Credentials),
}

impl Target {
    pub(crate) async fn connect(&self, options: &ConnectOptions) -> Result<Client, PgError> {
        match self {
            Target::Url(url) => pg::connect_url(url, options).await,
            Target::Spec(spec, creds) => pg::connect(spec, creds, options).await,
        }
    }

    /// `host:port/database`, never credentials.
    pub fn describe(&self) -> String {
        match self {
            Target::Url(url) => pg::url_tls_mode(url)
                .map(|(c, _)| pg::describe(&c))
                .unwrap_or_else(|_| "(invalid URL)".into()),
            Target::Spec(s, _) => format!("{}:{}/{}", s.host, s.port, s.database),
        }
    }
}

/// Everything one validation needs besides the target.
#[derive(Debug, Clone)]
pub struct ValidateInput {
    pub source_id: String,
    pub drill_id: String,
    pub drill_started_at: DateTime<Utc>,
    pub backup: Option<BackupRef>,
    pub config: CheckConfig,
    /// Expected fingerprint from the backup manifest (exact counts).
    pub manifest: Option<Fingerprint>,
    /// This source's report history; `None` = no night-over-night comparison, report not kept.
    pub history: Option<Store>,
    pub connect: ConnectOptions,
}

/// A finished validation: the sealed report and where it was written.
#[derive(Debug, Clone)]
pub struct Validated {
    pub report: Report,
    pub report_url: Option<String>,
}

// ---------------------------------------------------------------- catalog

/// A table of the catalog walk.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `r` (has rows) or `p` (partitioned parent: its rows are in its partitions).
    pub kind: String,
}

impl TableInfo {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
    fn sql_name(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

#[derive(Debug, Clone)]
pub struct BtreeIndex {
    pub oid: u32,
    pub qualified: String,
    pub table_oid: u32,
}

/// What the catalog says: the fingerprint (without counts) and what the data passes visit.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub fingerprint: Fingerprint,
    pub tables: Vec<TableInfo>,
    pub btree_indexes: Vec<BtreeIndex>,
}

const SYSTEM_SCHEMA_FILTER: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
     AND n.nspname <> 'drill_amcheck'";

/// Reads tables (user schemas, not extension members), columns, indexes and constraints, with an
/// empty search path so every name outside `pg_catalog` is schema-qualified (`public.mood`, not
/// `mood`): the export records its manifest's schema with this same function, so a good restore
/// matches it whatever the session's search path. The session's search path is put back.
pub async fn catalog(client: &Client, exclude_schemas: &[String]) -> Result<Catalog, PgError> {
    let saved: String = client
        .query_one("SELECT pg_catalog.current_setting('search_path')", &[])
        .await
        .map_err(PgError::query("reading search_path"))?
        .get(0);
    client
        .batch_execute("SELECT pg_catalog.set_config('search_path', '', false)")
        .await
        .map_err(PgError::query("clearing search_path"))?;
    let result = catalog_qualified(client, exclude_schemas).await;
    client
        .query(
            "SELECT pg_catalog.set_config('search_path', $1, false)",
            &[&saved],
        )
        .await
        .map_err(PgError::query("restoring search_path"))?;
    result
}

/// A column as the fingerprint describes it: its type, then what else a restore must keep —
/// a collation other than the type's, identity, and a generated column's expression.
const COLUMN_DESCRIPTION: &str = "format_type(a.atttypid, a.atttypmod) \
     || CASE WHEN a.attcollation <> 0 AND a.attcollation <> ty.typcollation \
             THEN ' COLLATE ' || quote_ident(cn.nspname) || '.' || quote_ident(co.collname) ELSE '' END \
     || CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY' \
                           WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END \
     || CASE a.attgenerated WHEN '' THEN '' \
             ELSE ' GENERATED ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ')' \
                  || CASE a.attgenerated WHEN 's' THEN ' STORED' ELSE ' VIRTUAL' END END";

async fn catalog_qualified(
    client: &Client,
    exclude_schemas: &[String],
) -> Result<Catalog, PgError> {
    let tables_sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND {SYSTEM_SCHEMA_FILTER} \
           AND NOT (n.nspname = ANY($1::text[])) \
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                           AND d.objid = c.oid AND d.deptype = 'e') \
         ORDER BY 2, 3"
    );
    let rows = client
        .query(&tables_sql, &[&exclude_schemas])
        .await
        .map_err(PgError::query("listing tables"))?;
    let tables: Vec<TableInfo> = rows
        .iter()
        .map(|r| TableInfo {
            oid: r.get(0),
            schema: r.get(1),
            name: r.get(2),
            kind: r.get(3),
        })
        .collect();
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();

    let mut columns: BTreeMap<u32, Vec<(String, String)>> = BTreeMap::new();
    for r in client
        .query(
            format!(
                "SELECT a.attrelid, a.attname::text, {COLUMN_DESCRIPTION} \
                 FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid \
                 LEFT JOIN pg_collation co ON co.oid = a.attcollation \
                 LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace \
                 LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
                 WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 \
                   AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum"
            )
            .as_str(),
            &[&oids],
        )
        .await
        .map_err(PgError::query("listing columns"))?
    {
        columns
            .entry(r.get(0))
            .or_default()
            .push((r.get(1), r.get(2)));
    }

    let mut indexes = Vec::new();
    let mut btree_indexes = Vec::new();
    for r in client
        .query(
            "SELECT c.oid, n.nspname::text, t.relname::text, c.relname::text, \
                    pg_get_indexdef(c.oid), am.amname::text, i.indisvalid AND i.indisready, \
                    i.indrelid \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_am am ON am.oid = c.relam \
             WHERE i.indrelid = ANY($1::oid[]) ORDER BY 2, 4",
            &[&oids],
        )
        .await
        .map_err(PgError::query("listing indexes"))?
    {
        let schema: String = r.get(1);
        let name: String = r.get(3);
        // Partitioned indexes (on 'p' tables) have no storage to check.
        let amname: String = r.get(5);
        let usable: bool = r.get(6);
        let table_oid: u32 = r.get(7);
        let on_heap = tables.iter().any(|t| t.oid == table_oid && t.kind == "r");
        if amname == "btree" && usable && on_heap {
            btree_indexes.push(BtreeIndex {
                oid: r.get(0),
                qualified: format!("{schema}.{name}"),
                table_oid,
            });
        }
        indexes.push(ExpectedIndex {
            schema,
            table: r.get(2),
            name,
            definition: r.get(4),
        });
    }

    let constraints = client
        .query(
            "SELECT n.nspname::text, t.relname::text, co.conname::text, co.contype::text, \
                    pg_get_constraintdef(co.oid) \
             FROM pg_constraint co JOIN pg_class t ON t.oid = co.conrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE co.conrelid = ANY($1::oid[]) ORDER BY 1, 2, 3",
            &[&oids],
        )
        .await
        .map_err(PgError::query("listing constraints"))?
        .iter()
        .map(|r| ExpectedConstraint {
            schema: r.get(0),
            table: r.get(1),
            name: r.get(2),
            kind: r.get(3),
            definition: r.get(4),
        })
        .collect();

    let fingerprint = Fingerprint {
        tables: tables
            .iter()
            .map(|t| ExpectedTable {
                schema: t.schema.clone(),
                name: t.name.clone(),
                columns: columns.remove(&t.oid).unwrap_or_default(),
                rows: None,
            })
            .collect(),
        indexes: Some(indexes),
        constraints: Some(constraints),
    };
    Ok(Catalog {
        fingerprint,
        tables,
        btree_indexes,
    })
}

/// The fingerprint of a live database with exact row counts: the expectation a restore of it
/// must meet.
pub async fn fingerprint(client: &Client) -> Result<Fingerprint, PgError> {
    let catalog = catalog(client, &[]).await?;
    let mut fp = catalog.fingerprint;
    for (info, table) in catalog.tables.iter().zip(fp.tables.iter_mut()) {
        if info.kind == "r" {
            let row = client
                .query_one(
                    &format!("SELECT count(*) FROM ONLY {}", info.sql_name()),
                    &[],
                )
                .await
                .map_err(PgError::query(format!("counting {}", info.qualified())))?;
            table.rows = Some(row.get::<_, i64>(0) as u64);
        }
    }
    Ok(fp)
}

// ---------------------------------------------------------------- data passes

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

#[derive(Debug, Default)]
struct ReadPass {
    reads: Vec<TableRead>,
    /// Table → (corruption?, message).
    failures: Vec<(String, bool, String)>,
    duration: Duration,
}

/// One pass per table: the exact count and, when `full`, every row formed whole (all columns,
/// TOAST fetched) with its size summed.
async fn read_pass(client: &Client, tables: &[TableInfo], full: bool) -> ReadPass {
    let started = Instant::now();
    let mut pass = ReadPass::default();
    for t in tables.iter().filter(|t| t.kind == "r") {
        let sql = if full {
            format!(
                "SELECT count(*), coalesce(sum(pg_column_size(t.*)), 0)::int8 FROM ONLY {} AS t",
                t.sql_name()
            )
        } else {
            format!("SELECT count(*), 0::int8 FROM ONLY {}", t.sql_name())
        };
        let one = Instant::now();
        match client.query_one(&sql, &[]).await {
            Ok(row) => pass.reads.push(TableRead {
                table: t.qualified(),
                rows: row.get::<_, i64>(0) as u64,
                bytes: row.get::<_, i64>(1) as u64,
                duration_ms: one.elapsed().as_millis() as u64,
            }),
            Err(e) => pass
                .failures
                .push((t.qualified(), is_corruption(&e), pg_message(&e))),
        }
    }
    pass.duration = started.elapsed();
    pass
}

#[derive(Debug, Default)]
struct IntegrityPass {
    /// Object → finding.
    corrupt: Vec<String>,
    errors: Vec<String>,
    indexes_checked: usize,
    tables_checked: usize,
    not_checked: Vec<String>,
    notes: Vec<String>,
    duration: Duration,
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

async fn integrity_pass(
    client: &Client,
    catalog: &Catalog,
    config: &checks::IntegrityConfig,
    server_version_num: i32,
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
    // Every amcheck call is bounded by what is left of the budget, so one huge index cannot
    // overrun it.
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
    for (label, sql, oid) in jobs {
        let left = budget.saturating_sub(started.elapsed());
        if left < Duration::from_millis(10) {
            pass.not_checked.push(label);
            continue;
        }
        if let Err(e) = client
            .batch_execute(&format!("SET statement_timeout = {}", left.as_millis()))
            .await
        {
            pass.errors.push(format!("{label}: {}", pg_message(&e)));
            continue;
        }
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
            Err(e) if is_timeout(&e) => pass.not_checked.push(label),
            Err(e) => pass.errors.push(format!("{label}: {}", pg_message(&e))),
        }
    }
    let _ = client.batch_execute("RESET statement_timeout").await;
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

fn integrity_result(pass: IntegrityPass, budget_s: u64) -> CheckResult {
    let status = if !pass.corrupt.is_empty() {
        Status::Fail
    } else if !pass.errors.is_empty() {
        Status::Error
    } else if pass.indexes_checked + pass.tables_checked == 0 && !pass.not_checked.is_empty() {
        // Nothing was verified: not a pass.
        Status::Skipped
    } else {
        Status::Pass
    };
    let mut measured = format!(
        "{} B-tree indexes, {} tables checked",
        pass.indexes_checked, pass.tables_checked
    );
    if !pass.corrupt.is_empty() {
        measured.push_str(&format!("; {} corrupt", pass.corrupt.len()));
    }
    if !pass.not_checked.is_empty() {
        measured.push_str(&format!(
            "; {} not checked (time budget spent)",
            pass.not_checked.len()
        ));
    }
    let mut details = pass.corrupt;
    details.extend(pass.errors);
    details.extend(pass.notes);
    details.extend(
        pass.not_checked
            .into_iter()
            .map(|l| format!("{l}: not checked within the time budget")),
    );
    CheckResult::new("integrity", status)
        .measured(measured)
        .expected(format!("amcheck finds no corruption (budget {budget_s}s)"))
        .details(details)
        .took(pass.duration)
}

async fn newest_row(
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

// ---------------------------------------------------------------- history

/// The newest passing report of `source_id` in a history store, with its URL.
pub async fn previous_good_report(
    history: &Store,
    source_id: &str,
) -> Result<Option<(String, Report)>, StoreError> {
    let keys = history.list("reports/").await?;
    for key in keys.iter().rev().filter(|k| report::is_passing_key(k)) {
        let body = history.get(key).await?;
        match serde_json::from_slice::<Report>(&body) {
            Ok(r) if r.passed && r.source_id == source_id => {
                return Ok(Some((history.url_of(key), r)))
            }
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "skipping unreadable report in history");
            }
        }
    }
    Ok(None)
}

/// Loads an expected fingerprint (JSON) from a store URL (`file:///dir/x.json`, `s3://b/k`).
pub async fn load_fingerprint(
    url: &str,
    s3: Option<&aws_sdk_s3::Client>,
) -> Result<Fingerprint, ValidateError> {
    let bad = |reason: String| ValidateError::Manifest {
        url: url.to_owned(),
        reason,
    };
    // A backup set's own URL (the prefix holding manifest.json) names its manifest.
    let set_manifest;
    let url_of_file = if url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .is_some_and(|n| !n.ends_with(".json"))
        && url.contains("://")
    {
        set_manifest = format!(
            "{}/{}",
            url.trim_end_matches('/'),
            drill_core::manifest::MANIFEST_KEY
        );
        set_manifest.as_str()
    } else {
        url
    };
    let (dir, name) = url_of_file
        .rsplit_once('/')
        .filter(|(d, n)| !n.is_empty() && d.contains("://"))
        .ok_or_else(|| bad("must name a backup set or a JSON file (…/manifest.json)".into()))?;
    let dir = if dir.ends_with(":/") {
        format!("{dir}/")
    } else {
        dir.to_owned()
    };
    let body = Store::open(&dir, s3)?.get(name).await?;
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| bad(format!("not JSON: {e}")))?;
    // A backup set's manifest (exact counts), a report's fingerprint, or a bare fingerprint.
    if value.get("format_version").is_some() && value.get("tables").is_some() {
        let manifest = drill_core::manifest::parse(&body)
            .map_err(|e| bad(format!("not a readable backup-set manifest: {e}")))?;
        return Ok(Fingerprint::from_manifest(&manifest));
    }
    let fp = value.get("fingerprint").cloned().unwrap_or(value);
    serde_json::from_value(fp).map_err(|e| bad(format!("not an expected fingerprint: {e}")))
}

// ---------------------------------------------------------------- the run

fn not_run(name: &str, why: &str) -> CheckResult {
    CheckResult::skipped(name, why)
}

/// The check names a run reports besides `connect`, for the "could not run" report.
fn planned_checks(config: &CheckConfig) -> Vec<String> {
    let mut names: Vec<String> = ["schema", "row_counts"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.extend(
        config
            .freshness
            .tables
            .iter()
            .map(|t| format!("freshness:{}", t.table)),
    );
    names.push("integrity".into());
    names.push("full_read".into());
    names.extend(config.sql.iter().map(|a| format!("sql:{}", a.name)));
    names
}

/// Validates `target`, writes the report to the history store (when there is one) and returns
/// it. A failed or errored check is a report outcome, not an `Err`: `Err` means no report could
/// be produced or kept (history unreadable or unwritable).
pub async fn validate(target: &Target, input: ValidateInput) -> Result<Validated, ValidateError> {
    let validation_started_at = Utc::now();
    let previous = match &input.history {
        Some(h) => previous_good_report(h, &input.source_id).await?,
        None => None,
    };
    let config = &input.config;
    let mut options = input.connect.clone();
    options.statement_timeout = Some(config.statement_timeout());
    options.application_name = "restore-drill validate".into();

    let mut checks_out = Vec::new();
    let mut tables = Vec::new();
    let mut server_version = None;
    let mut measured_fp = None;
    let mut newest_rows = Vec::new();

    let t0 = Instant::now();
    let connected = async {
        let client = target.connect(&options).await?;
        let row = client
            .query_one(
                "SELECT current_setting('server_version'), \
                        current_setting('server_version_num')::int4, current_database()::text",
                &[],
            )
            .await
            .map_err(PgError::query("reading the server version"))?;
        client
            .batch_execute("SET default_transaction_read_only = on")
            .await
            .map_err(PgError::query("making the session read-only"))?;
        let version: String = row.get(0);
        let num: i32 = row.get(1);
        let db: String = row.get(2);
        Ok::<_, PgError>((client, version, num, db))
    }
    .await;
    match connected {
        Err(e) => {
            checks_out.push(
                CheckResult::new("connect", Status::Error)
                    .measured(e.to_string())
                    .expected(format!("{} reachable", target.describe()))
                    .took(t0.elapsed()),
            );
            for name in planned_checks(config) {
                checks_out.push(not_run(&name, "not run: could not connect"));
            }
        }
        Ok((mut client, version, version_num, db)) => {
            server_version = Some(version.clone());
            checks_out.push(
                CheckResult::new("connect", Status::Pass)
                    .measured(format!("PostgreSQL {version}, database {db}"))
                    .expected("server reachable, database exists")
                    .took(t0.elapsed()),
            );
            run_checks(
                target,
                &options,
                &mut client,
                version_num,
                &input,
                previous.as_ref().map(|(_, r)| r),
                &mut checks_out,
                &mut tables,
                &mut measured_fp,
                &mut newest_rows,
            )
            .await;
        }
    }

    let finished_at = Utc::now();
    let backup_time = input.backup.as_ref().map(|b| b.taken_at);
    let mut report = Report {
        format_version: REPORT_FORMAT,
        source_id: input.source_id.clone(),
        drill_id: input.drill_id.clone(),
        backup: input.backup.clone(),
        target: target.describe(),
        server_version,
        drill_started_at: input.drill_started_at,
        validation_started_at,
        finished_at,
        outcome: checks::Outcome::CouldNotRun,
        passed: false,
        rto_seconds: finished_at
            .signed_duration_since(input.drill_started_at)
            .num_seconds()
            .max(0) as u64,
        rpo_seconds: checks::measured_rpo(input.drill_started_at, backup_time, &newest_rows),
        checks: checks_out,
        tables,
        fingerprint: measured_fp,
        baseline_report: previous.map(|(url, _)| url),
    };
    report.seal();

    let report_url = match &input.history {
        Some(h) => {
            let key = report.history_key();
            let body = serde_json::to_vec_pretty(&report)
                .map_err(|e| ValidateError::Report(e.to_string()))?;
            h.put(&key, Bytes::from(body), None).await?;
            Some(h.url_of(&key))
        }
        None => None,
    };
    Ok(Validated { report, report_url })
}

#[allow(clippy::too_many_arguments)]
async fn run_checks(
    target: &Target,
    options: &ConnectOptions,
    client: &mut Client,
    version_num: i32,
    input: &ValidateInput,
    previous: Option<&Report>,
    out: &mut Vec<CheckResult>,
    tables_out: &mut Vec<TableRead>,
    fp_out: &mut Option<Fingerprint>,
    newest_rows: &mut Vec<DateTime<Utc>>,
) {
    let config = &input.config;
    let t = Instant::now();
    let catalog = match catalog(client, &config.exclude_schemas).await {
        Ok(c) => c,
        Err(e) => {
            out.push(
                CheckResult::new("schema", Status::Error)
                    .measured(format!("{e}"))
                    .took(t.elapsed()),
            );
            for name in planned_checks(config).into_iter().skip(1) {
                out.push(not_run(&name, "not run: the catalog could not be read"));
            }
            return;
        }
    };
    let catalog_time = t.elapsed();

    // Count + full read on this connection, amcheck on a second one at the same time.
    let need_read = config.full_read.enabled || config.row_counts.enabled;
    let read = async {
        if need_read {
            Some(read_pass(client, &catalog.tables, config.full_read.enabled).await)
        } else {
            None
        }
    };
    let integrity = async {
        if !config.integrity.enabled {
            return None;
        }
        let mut opts = options.clone();
        opts.statement_timeout = None;
        opts.application_name = "restore-drill amcheck".into();
        Some(match target.connect(&opts).await {
            Ok(second) => integrity_pass(&second, &catalog, &config.integrity, version_num).await,
            Err(e) => IntegrityPass {
                errors: vec![format!("second connection for amcheck: {e}")],
                ..Default::default()
            },
        })
    };
    let (read, integrity) = tokio::join!(read, integrity);

    // schema
    let mut measured = catalog.fingerprint.clone();
    if let Some(read) = &read {
        for (info, table) in catalog.tables.iter().zip(measured.tables.iter_mut()) {
            let q = info.qualified();
            table.rows = read.reads.iter().find(|r| r.table == q).map(|r| r.rows);
        }
    }
    let prev_fp = previous.and_then(|r| r.fingerprint.as_ref());
    let schema_baseline = input
        .manifest
        .as_ref()
        .map(|m| (m, Baseline::Manifest))
        .or(prev_fp.map(|p| (p, Baseline::PreviousDrill)));
    out.push(
        checks::evaluate_schema(&measured, schema_baseline, &config.schema).took(catalog_time),
    );

    // row_counts
    let mut rc = checks::evaluate_row_counts(
        &measured,
        input.manifest.as_ref(),
        prev_fp,
        &config.row_counts,
    );
    if let Some(read) = &read {
        rc = rc.took(read.duration);
        if config.row_counts.enabled && !read.failures.is_empty() {
            if rc.status == Status::Pass {
                rc.status = Status::Error;
            }
            rc.details.extend(
                read.failures
                    .iter()
                    .map(|(t, _, m)| format!("{t}: could not count: {m}")),
            );
        }
    }
    out.push(rc);

    // freshness
    let backup_time = input
        .backup
        .as_ref()
        .map(|b| b.taken_at)
        .unwrap_or(input.drill_started_at);
    for ft in &config.freshness.tables {
        let t = Instant::now();
        match newest_row(client, ft).await {
            Ok(newest) => {
                if let Some(n) = newest {
                    newest_rows.push(n);
                }
                out.push(
                    checks::evaluate_freshness(
                        ft,
                        newest,
                        backup_time,
                        Duration::from_secs(config.freshness.max_lag_seconds),
                    )
                    .took(t.elapsed()),
                );
            }
            Err(e) => out.push(
                CheckResult::new(format!("freshness:{}", ft.table), Status::Error)
                    .measured(format!("query failed: {e}"))
                    .expected(format!("max({}) within the RPO", ft.column))
                    .took(t.elapsed()),
            ),
        }
    }

    // integrity
    out.push(match integrity {
        Some(pass) => integrity_result(pass, config.integrity.time_budget_seconds),
        None => CheckResult::skipped("integrity", "disabled"),
    });

    // full_read
    out.push(match (&read, config.full_read.enabled) {
        (Some(read), true) => {
            let rows: u64 = read.reads.iter().map(|r| r.rows).sum();
            let bytes: u64 = read.reads.iter().map(|r| r.bytes).sum();
            let secs = read.duration.as_secs_f64().max(1e-3);
            let status = if read.failures.iter().any(|f| f.1) {
                Status::Fail
            } else if !read.failures.is_empty() {
                Status::Error
            } else {
                Status::Pass
            };
            CheckResult::new("full_read", status)
                .measured(format!(
                    "{} tables, {rows} rows, {:.1} MB at {:.1} MB/s",
                    read.reads.len(),
                    bytes as f64 / 1e6,
                    bytes as f64 / 1e6 / secs
                ))
                .expected("every row of every table readable")
                .details(
                    read.failures
                        .iter()
                        .map(|(t, corrupt, m)| {
                            if *corrupt {
                                format!("{t} is unreadable: {m}")
                            } else {
                                format!("{t}: read failed: {m}")
                            }
                        })
                        .collect(),
                )
                .took(read.duration)
        }
        _ => CheckResult::skipped("full_read", "disabled"),
    });

    // sql: as a read-only role, one statement each (see crate::assertions)
    crate::assertions::run_all(target, options, client, &config.sql, out).await;

    if let Some(read) = read {
        *tables_out = read.reads;
    }
    *fp_out = Some(measured);
}
