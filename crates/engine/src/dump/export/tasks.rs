//! How an export divides its tables into tasks (whole tables, or ctid page ranges of big ones)
//! and the COPY statement of each task.

use super::super::qualified;
use super::catalog::TableInfo;

#[derive(Debug, Clone)]
pub(super) struct Task {
    pub(super) table: usize,
    pub(super) chunk: u32,
    /// Page range `[start, end)`; `None` = the whole table; `end: None` = to the end.
    pub(super) range: Option<(u64, Option<u64>)>,
}

pub(super) fn copy_sql(t: &TableInfo, range: Option<(u64, Option<u64>)>) -> String {
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| crate::pg::quote_ident(&c.name))
        .collect();
    let table = qualified(&t.schema, &t.name);
    match range {
        None if cols.is_empty() => format!("COPY {table} TO STDOUT"),
        None => format!("COPY {table} ({}) TO STDOUT", cols.join(", ")),
        Some((start, end)) => {
            // ONLY: inheritance children are tables of their own and exported separately.
            let mut q = format!(
                "COPY (SELECT {} FROM ONLY {table} WHERE ctid >= '({start},0)'::pg_catalog.tid",
                cols.join(", ")
            );
            if let Some(end) = end {
                q.push_str(&format!(" AND ctid < '({end},0)'::pg_catalog.tid"));
            }
            q.push_str(") TO STDOUT");
            q
        }
    }
}

/// Splits tables into tasks, biggest tables first so the long tasks start early (the chunks of
/// [`drill_core::units::chunks`], so a work unit's chunks are the same tasks).
pub(super) fn plan(tables: &[TableInfo], pages_per_chunk: u64) -> Vec<Task> {
    drill_core::units::chunks(&sizes(tables), pages_per_chunk)
        .into_iter()
        .map(Task::from)
        .collect()
}

pub(super) fn sizes(tables: &[TableInfo]) -> Vec<drill_core::units::TableSize> {
    tables
        .iter()
        .map(|t| drill_core::units::TableSize { pages: t.pages })
        .collect()
}

impl From<drill_core::units::Chunk> for Task {
    fn from(c: drill_core::units::Chunk) -> Self {
        Task {
            table: c.table,
            chunk: c.chunk,
            range: c.pages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drill_core::manifest::Column;

    fn table(pages: u64) -> TableInfo {
        TableInfo {
            schema: "s".into(),
            name: format!("t{pages}"),
            columns: vec![Column {
                name: "a\"b".into(),
                type_name: "integer".into(),
            }],
            pages,
        }
    }

    #[test]
    fn big_tables_are_chunked_first_and_the_last_chunk_is_open() {
        let tables = vec![table(3), table(25), table(0)];
        let tasks = plan(&tables, 10);
        assert_eq!(tasks.len(), 5);
        assert_eq!(tasks[0].table, 1);
        assert_eq!(tasks[0].range, Some((0, Some(10))));
        assert_eq!(tasks[2].range, Some((20, None)));
        assert_eq!((tasks[3].table, tasks[3].range), (0, None));
        assert_eq!((tasks[4].table, tasks[4].range), (2, None));
    }

    #[test]
    fn copy_statements_quote_names_and_bound_chunks() {
        let t = table(1);
        assert_eq!(copy_sql(&t, None), r#"COPY "s"."t1" ("a""b") TO STDOUT"#);
        let q = copy_sql(&t, Some((10, Some(20))));
        assert!(q.contains(r#"FROM ONLY "s"."t1""#), "{q}");
        assert!(
            q.contains("ctid >= '(10,0)'") && q.contains("ctid < '(20,0)'"),
            "{q}"
        );
        assert!(!copy_sql(&t, Some((20, None))).contains("ctid <"));
    }
}
