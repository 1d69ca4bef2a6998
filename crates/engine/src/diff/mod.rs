//! The diff of a sandbox against the backup it came from.
//!
//! Right after a sandbox is restored, [`make_base`] copies it server-side into a read-only
//! "base" database (`CREATE DATABASE .. TEMPLATE`: a file copy, no second restore). [`diff`]
//! then streams both sides table by table — `(primary key, row hash)` ordered by key, or bare row
//! hashes ordered by hash for a table without a key — and merges them in one pass
//! ([`drill_core::diff`]): memory flat, about two full reads of the data. What the result means
//! is decided in [`drill_core::diff::judge`]. The same two functions serve a local sandbox and
//! an RDS one: they take [`Database`] descriptors.

mod catalog;
mod stream;

use std::time::Instant;

use drill_core::diff::{
    compare_columns, compare_sequences, merge_keyed, merge_multiset, DiffPolicy, DiffReport,
    Matching, MergeError, RowCounts, TableChange, TableDiff,
};
use drill_core::{Classified, ErrorKind};

use crate::pg::{quote_ident, Database, PgError};
use catalog::Table;

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error("table {table}: {source}")]
    Order {
        table: String,
        #[source]
        source: MergeError,
    },
    #[error("making the base copy {base} of {sandbox}: {reason}")]
    Base {
        sandbox: String,
        base: String,
        reason: String,
    },
    #[error("the diff stopped: {0}")]
    Aborted(String),
}

impl Classified for DiffError {
    fn kind(&self) -> ErrorKind {
        match self {
            DiffError::Pg(e) => e.kind(),
            DiffError::Order { .. } | DiffError::Base { .. } | DiffError::Aborted(_) => {
                ErrorKind::CouldNotRun
            }
        }
    }
}

/// Copies `sandbox` into a new database `base` on the same server (connected through `admin`,
/// a maintenance database) and makes it read-only: `default_transaction_read_only` on, and no
/// CONNECT for PUBLIC (the owner and superusers keep it, which is who diffs). `comment` marks it
/// (the caller's ownership marker). No other session may be connected to `sandbox` meanwhile:
/// PostgreSQL refuses to copy a database in use, and this says so.
pub async fn make_base(
    admin: &Database,
    sandbox: &str,
    base: &str,
    comment: Option<&str>,
) -> Result<(), DiffError> {
    let client = admin.connect_as("restore-drill sandbox base").await?;
    let fail = |reason: String| DiffError::Base {
        sandbox: sandbox.to_owned(),
        base: base.to_owned(),
        reason,
    };
    let (s, b) = (quote_ident(sandbox), quote_ident(base));
    // A backend exits a moment after its client closed: the restore's own sessions can still be
    // listed when the copy starts (55006, "being accessed by other users"). Retry that briefly;
    // a session that stays open is reported, never waited on without bound.
    let create = format!("CREATE DATABASE {b} TEMPLATE {s}");
    let mut attempt = 0;
    while let Err(e) = client.batch_execute(&create).await {
        let in_use = e.code().map(|c| c.code()) == Some("55006");
        attempt += 1;
        if in_use && attempt < 20 {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            continue;
        }
        let mut reason = crate::pg::error_text(&e);
        if in_use {
            reason.push_str(" (close every session on the sandbox and try again)");
        }
        return Err(fail(reason));
    }
    let mut statements = vec![
        format!("ALTER DATABASE {b} SET default_transaction_read_only = on"),
        format!("REVOKE CONNECT ON DATABASE {b} FROM PUBLIC"),
    ];
    if let Some(c) = comment {
        // E'' with backslashes and quotes escaped: safe whatever standard_conforming_strings.
        let lit = c.replace('\\', "\\\\").replace('\'', "\\'");
        statements.push(format!("COMMENT ON DATABASE {b} IS E'{lit}'"));
    }
    for sql in statements {
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| fail(crate::pg::error_text(&e)))?;
    }
    Ok(())
}

/// Compares `sandbox` with its `base`.
pub async fn diff(
    base: &Database,
    sandbox: &Database,
    policy: &DiffPolicy,
) -> Result<DiffReport, DiffError> {
    let started = Instant::now();
    let (b, s) = tokio::try_join!(
        base.connect_as("restore-drill diff"),
        sandbox.connect_as("restore-drill diff")
    )?;
    let (base_tables, sandbox_tables) = tokio::try_join!(catalog::tables(&b), catalog::tables(&s))?;
    let (base_seqs, sandbox_seqs) =
        tokio::try_join!(catalog::sequences(&b), catalog::sequences(&s))?;

    // Tables on both sides are streamed; the others are counted.
    let find = |list: &[Table], t: &Table| {
        list.iter()
            .find(|x| x.schema == t.schema && x.name == t.name)
            .cloned()
    };
    let mut pending: Vec<Pending> = Vec::new();
    let mut plans = Vec::new();
    for t in &base_tables {
        match find(&sandbox_tables, t) {
            None => {
                let n = catalog::count(&b, t).await?;
                pending.push(Pending::Done(TableDiff::one_sided(
                    &t.schema,
                    &t.name,
                    TableChange::Dropped,
                    n,
                )));
            }
            Some(st) => {
                let (columns, common) = compare_columns(&t.defs(), &st.defs());
                let key = catalog::shared_key(t, &st);
                plans.push(catalog::plan(t, key.as_deref(), &common));
                let matching = key.map_or(Matching::RowHash, Matching::PrimaryKey);
                pending.push(Pending::Merge(t.clone(), matching, columns));
            }
        }
    }
    for t in &sandbox_tables {
        if find(&base_tables, t).is_none() {
            let n = catalog::count(&s, t).await?;
            pending.push(Pending::Done(TableDiff::one_sided(
                &t.schema,
                &t.name,
                TableChange::Added,
                n,
            )));
        }
    }

    let keyed: Vec<bool> = plans.iter().map(|p| !p.key_integer.is_empty()).collect();
    let names: Vec<String> = pending
        .iter()
        .filter_map(|p| match p {
            Pending::Merge(t, ..) => Some(t.qualified()),
            Pending::Done(_) => None,
        })
        .collect();
    let (mut brx, btask) = stream::spawn(b, plans.clone(), "base");
    let (mut srx, stask) = stream::spawn(s, plans, "sandbox");
    let merged = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for (keyed, table) in keyed.into_iter().zip(names) {
            let mut bt = stream::TableRows::new(&mut brx);
            let mut st = stream::TableRows::new(&mut srx);
            let counts = if keyed {
                merge_keyed(&mut bt, &mut st)
            } else {
                merge_multiset((&mut bt).map(|r| r.hash), (&mut st).map(|r| r.hash))
            };
            let counts = counts.map_err(|source| DiffError::Order {
                table: table.clone(),
                source,
            })?;
            if !(bt.complete && st.complete) {
                return Err(DiffError::Aborted(format!(
                    "{table} was not read to its end"
                )));
            }
            out.push(counts);
        }
        Ok::<_, DiffError>(out)
    })
    .await
    .map_err(|e| DiffError::Aborted(e.to_string()));
    // A side's own error explains an aborted merge better than the merge does.
    for task in [btask, stask] {
        match task.await {
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => return Err(DiffError::Aborted(e.to_string())),
            Ok(Ok(())) => {}
        }
    }
    let mut counts = merged??.into_iter();
    let tables = pending
        .into_iter()
        .map(|p| match p {
            Pending::Done(d) => d,
            Pending::Merge(t, matching, columns) => {
                let rows: RowCounts = counts.next().unwrap_or_default();
                TableDiff::compared(&t.schema, &t.name, matching, rows, columns)
            }
        })
        .collect();
    Ok(DiffReport::new(
        sandbox.describe(),
        base.describe(),
        tables,
        compare_sequences(&base_seqs, &sandbox_seqs),
        *policy,
        started.elapsed().as_secs_f64(),
    ))
}

enum Pending {
    Done(TableDiff),
    Merge(Table, Matching, drill_core::diff::ColumnChanges),
}
