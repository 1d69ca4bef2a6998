//! What the diff reads from each side's catalog: user tables with their columns and primary key,
//! and sequence positions; and the per-table queries that stream rows in merge order.

use drill_core::diff::ColumnDef;
use tokio_postgres::Client;

use crate::pg::{quote_ident, PgError};

/// One column, with whether it is an integer type (keys of those are fetched and ordered as
/// numbers; every other key as text in byte order).
#[derive(Debug, Clone)]
pub struct Column {
    pub def: ColumnDef,
    pub integer: bool,
}

/// A user table (leaf: partitions are tables of their own, a partitioned parent holds no rows).
#[derive(Debug, Clone)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    /// Primary key columns in key order; empty without one.
    pub primary_key: Vec<String>,
}

impl Table {
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    pub fn defs(&self) -> Vec<ColumnDef> {
        self.columns.iter().map(|c| c.def.clone()).collect()
    }

    fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.def.name == name)
    }
}

const USER_SCHEMAS: &str = "n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'";

/// Tables of the connected database, ordered by schema and name.
pub async fn tables(client: &Client) -> Result<Vec<Table>, PgError> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, a.attname::text, \
                pg_catalog.format_type(a.atttypid, a.atttypmod), \
                a.atttypid IN (20, 21, 23), \
                (SELECT k.ord FROM pg_catalog.pg_index i, \
                        unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
                  WHERE i.indrelid = c.oid AND i.indisprimary AND k.attnum = a.attnum)::int4 \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
         WHERE c.relkind = 'r' AND {USER_SCHEMAS} \
         ORDER BY 1, 2, a.attnum"
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(PgError::query("reading the tables and columns"))?;
    let mut out: Vec<Table> = Vec::new();
    let mut keys: Vec<(i32, String)> = Vec::new();
    for row in rows {
        let (schema, name): (String, String) = (row.get(0), row.get(1));
        let same = out
            .last()
            .is_some_and(|t| t.schema == schema && t.name == name);
        if !same {
            finish_key(out.last_mut(), &mut keys);
            out.push(Table {
                schema,
                name,
                columns: Vec::new(),
                primary_key: Vec::new(),
            });
        }
        let table = out.last_mut().unwrap_or_else(|| unreachable!());
        let column: String = row.get(2);
        if let Some(ord) = row.get::<_, Option<i32>>(5) {
            keys.push((ord, column.clone()));
        }
        table.columns.push(Column {
            def: ColumnDef {
                name: column,
                type_name: row.get(3),
            },
            integer: row.get(4),
        });
    }
    finish_key(out.last_mut(), &mut keys);
    Ok(out)
}

fn finish_key(table: Option<&mut Table>, keys: &mut Vec<(i32, String)>) {
    keys.sort();
    if let Some(t) = table {
        t.primary_key = keys.drain(..).map(|(_, c)| c).collect();
    }
    keys.clear();
}

/// `(schema, name, last_value)` of every sequence (`None`: never used, or not readable).
pub async fn sequences(client: &Client) -> Result<Vec<(String, String, Option<i64>)>, PgError> {
    let rows = client
        .query(
            "SELECT schemaname::text, sequencename::text, last_value FROM pg_catalog.pg_sequences \
             WHERE schemaname <> 'information_schema' AND schemaname NOT LIKE 'pg\\_%' \
             ORDER BY 1, 2",
            &[],
        )
        .await
        .map_err(PgError::query("reading the sequences"))?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Rows of a table with `count(*)` (a table on one side only).
pub async fn count(client: &Client, table: &Table) -> Result<u64, PgError> {
    let row = client
        .query_one(
            &format!("SELECT count(*) FROM ONLY {}", table.qualified()),
            &[],
        )
        .await
        .map_err(PgError::query(format!("counting {}", table.qualified())))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// How one table's rows are streamed from both sides: the same SQL text on each, so both
/// order and hash identically.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sql: String,
    /// Per key column: fetched as int8 (`true`) or as text. Empty: multiset of row hashes.
    pub key_integer: Vec<bool>,
}

/// Key columns usable on both sides: the base's primary key, when the sandbox has the same one
/// over columns of the same types. Otherwise rows are matched as a multiset.
pub fn shared_key(base: &Table, sandbox: &Table) -> Option<Vec<String>> {
    let same = !base.primary_key.is_empty()
        && base.primary_key == sandbox.primary_key
        && base.primary_key.iter().all(|k| {
            matches!((base.column(k), sandbox.column(k)),
                (Some(b), Some(s)) if b.def.type_name == s.def.type_name)
        });
    same.then(|| base.primary_key.clone())
}

/// The streaming query of a table. The row hash covers the `common` columns' text (the
/// record's text form: NULL and '' differ, and types without equality — json, point — are
/// compared by their text), as a 64-bit `hashtextextended`; keys order by number or by text
/// `COLLATE "C"`, the byte order the merge compares in.
pub fn plan(base: &Table, key: Option<&[String]>, common: &[String]) -> Plan {
    let row: Vec<String> = common
        .iter()
        .map(|c| format!("t.{}", quote_ident(c)))
        .collect();
    let hash = format!(
        "pg_catalog.hashtextextended((ROW({})::text) COLLATE \"C\", 0)",
        row.join(", ")
    );
    // ROW() of no column is not valid SQL; a table whose every column was dropped hashes ''.
    let hash = if row.is_empty() {
        "0::int8".to_owned()
    } else {
        hash
    };
    let from = format!("FROM ONLY {} AS t", base.qualified());
    match key {
        None => Plan {
            sql: format!("SELECT {hash} AS h {from} ORDER BY 1"),
            key_integer: Vec::new(),
        },
        Some(key) => {
            let mut select = Vec::new();
            let mut order = Vec::new();
            let mut key_integer = Vec::new();
            for k in key {
                let integer = base.column(k).is_some_and(|c| c.integer);
                let col = format!("t.{}", quote_ident(k));
                if integer {
                    select.push(format!("{col}::int8"));
                    order.push(col);
                } else {
                    let text = format!("({col})::text COLLATE \"C\"");
                    select.push(text.clone());
                    order.push(text);
                }
                key_integer.push(integer);
            }
            Plan {
                sql: format!(
                    "SELECT {}, {hash} {from} ORDER BY {}",
                    select.join(", "),
                    order.join(", ")
                ),
                key_integer,
            }
        }
    }
}
