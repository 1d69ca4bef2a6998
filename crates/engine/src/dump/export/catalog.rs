//! What an export reads from the catalog inside its snapshot: the tables with their copied
//! columns and sizes, the sequences' values, the materialized views in refresh order.

use drill_core::manifest::{self, Column, MatView, SequenceValue};
use tokio_postgres::Client;

use super::super::{qualified, DumpError};
use crate::pg::PgError;

#[derive(Debug, Clone)]
pub(super) struct TableInfo {
    pub(super) schema: String,
    pub(super) name: String,
    pub(super) columns: Vec<Column>,
    /// Heap pages at snapshot time (pages added later hold no row visible to the snapshot).
    pub(super) pages: u64,
}

pub(super) async fn list_tables(client: &Client) -> Result<Vec<TableInfo>, DumpError> {
    // Leaf tables only (partitions included, partitioned parents hold no rows); not system
    // schemas, not tables that belong to an extension (its script recreates them).
    let rows = client
        .query(
            "SELECT c.oid, n.nspname, c.relname, \
                    (pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::int8)::int8 \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' \
               AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                               WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                                 AND d.objid = c.oid AND d.deptype = 'e') \
             ORDER BY n.nspname, c.relname",
            &[],
        )
        .await
        .map_err(PgError::query("listing tables"))?;
    let oids: Vec<u32> = rows.iter().map(|r| r.get(0)).collect();
    let mut tables: Vec<TableInfo> = rows
        .iter()
        .map(|r| TableInfo {
            schema: r.get(1),
            name: r.get(2),
            columns: Vec::new(),
            pages: r.get::<_, i64>(3).max(0) as u64,
        })
        .collect();
    // Generated columns are recomputed on load, dropped ones are gone: neither is copied.
    let cols = client
        .query(
            "SELECT a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) \
             FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped \
               AND a.attgenerated = '' \
             ORDER BY a.attrelid, a.attnum",
            &[&oids],
        )
        .await
        .map_err(PgError::query("listing columns"))?;
    let index: std::collections::HashMap<u32, usize> =
        oids.iter().enumerate().map(|(i, o)| (*o, i)).collect();
    for r in cols {
        let oid: u32 = r.get(0);
        if let Some(&i) = index.get(&oid) {
            tables[i].columns.push(Column {
                name: r.get(1),
                type_name: r.get(2),
            });
        }
    }
    Ok(tables)
}

pub(super) async fn read_sequences(client: &Client) -> Result<Vec<SequenceValue>, DumpError> {
    let rows = client
        .query(
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'S' AND n.nspname <> 'information_schema' \
               AND n.nspname NOT LIKE 'pg\\_%' \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                               WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                                 AND d.objid = c.oid AND d.deptype = 'e') \
             ORDER BY 1, 2",
            &[],
        )
        .await
        .map_err(PgError::query("listing sequences"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let (schema, name): (String, String) = (r.get(0), r.get(1));
        let q = format!(
            "SELECT last_value, is_called FROM {}",
            qualified(&schema, &name)
        );
        let row = client
            .query_one(&q, &[])
            .await
            .map_err(PgError::query(format!("reading sequence {schema}.{name}")))?;
        out.push(SequenceValue {
            schema,
            name,
            last_value: row.get(0),
            is_called: row.get(1),
        });
    }
    Ok(out)
}

/// Materialized views (not of extensions) in refresh order: a view over another materialized
/// view, directly or through plain views, comes after it.
pub(super) async fn list_matviews(client: &Client) -> Result<Vec<MatView>, DumpError> {
    let rows = client
        .query(
            "SELECT c.oid, n.nspname, c.relname, c.relkind::text, c.relispopulated \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('m', 'v') AND n.nspname <> 'information_schema' \
               AND n.nspname NOT LIKE 'pg\\_%' \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                               WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                                 AND d.objid = c.oid AND d.deptype = 'e') \
             ORDER BY 2, 3",
            &[],
        )
        .await
        .map_err(PgError::query("listing materialized views"))?;
    if !rows.iter().any(|r| r.get::<_, String>(3) == "m") {
        return Ok(Vec::new());
    }
    let oids: Vec<u32> = rows.iter().map(|r| r.get(0)).collect();
    // A view's query is its _RETURN rule; the rule depends on the relations it reads.
    let edges = client
        .query(
            "SELECT DISTINCT r.ev_class, d.refobjid FROM pg_catalog.pg_rewrite r \
             JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass \
              AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
             WHERE r.ev_class = ANY($1) AND d.refobjid = ANY($1) AND d.refobjid <> r.ev_class",
            &[&oids],
        )
        .await
        .map_err(PgError::query("reading view dependencies"))?;
    let index: std::collections::HashMap<u32, usize> =
        oids.iter().enumerate().map(|(i, o)| (*o, i)).collect();
    let edges: Vec<(usize, usize)> = edges
        .iter()
        .filter_map(|r| Some((*index.get(&r.get(0))?, *index.get(&r.get(1))?)))
        .collect();
    Ok(manifest::dependency_order(oids.len(), &edges)
        .into_iter()
        .map(|i| &rows[i])
        .filter(|r| r.get::<_, String>(3) == "m")
        .map(|r| MatView {
            schema: r.get(1),
            name: r.get(2),
            populated: r.get(4),
        })
        .collect())
}
