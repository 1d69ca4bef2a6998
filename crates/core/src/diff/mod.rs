//! What a change did to a sandbox, and what that means: the diff report and its verdict.
//!
//! The engine compares a sandbox with the pristine copy of the backup it came from (its
//! "base") and fills a [`DiffReport`]; [`judge`] decides whether that is no change, changes a
//! person should read, or destructive (data lost) — and `drill sandbox diff` exits accordingly,
//! so a pipeline can stop before the change reaches production.

mod merge;

pub use merge::{merge_keyed, merge_multiset, KeyPart, KeyedRow, MergeError, RowCounts, SAMPLES};

use serde::{Deserialize, Serialize};

/// Exit code of `drill sandbox diff` for "nothing changed".
pub const EXIT_NO_CHANGE: u8 = 0;
/// Exit code for "changes, none destructive": read them before applying the change.
pub const EXIT_CHANGES: u8 = 10;
/// Exit code for "destructive": a table emptied or dropped, a column dropped, or more than the
/// allowed share of a table's rows deleted or updated. Distinct from the error codes 1–4.
pub const EXIT_DESTRUCTIVE: u8 = 11;

/// How a table's rows were matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "columns")]
pub enum Matching {
    /// By primary key (its columns).
    PrimaryKey(Vec<String>),
    /// No usable primary key: rows as a multiset of row hashes (updates show as delete + insert).
    RowHash,
}

/// What happened to one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableChange {
    Unchanged,
    Changed,
    Added,
    Dropped,
}

/// One table's diff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDiff {
    pub schema: String,
    pub name: String,
    pub change: TableChange,
    /// `None` for an added or dropped table (nothing to match against).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching: Option<Matching>,
    #[serde(flatten)]
    pub rows: RowCounts,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns_added: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns_dropped: Vec<String>,
    /// Columns whose type changed (`name: old → new`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns_retyped: Vec<String>,
}

impl TableDiff {
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// A table present on both sides, with its merge result and column changes; its change is
    /// derived from them.
    pub fn compared(
        schema: &str,
        name: &str,
        matching: Matching,
        rows: RowCounts,
        columns: ColumnChanges,
    ) -> TableDiff {
        let changed = rows.changed()
            || !columns.added.is_empty()
            || !columns.dropped.is_empty()
            || !columns.retyped.is_empty();
        TableDiff {
            schema: schema.to_owned(),
            name: name.to_owned(),
            change: if changed {
                TableChange::Changed
            } else {
                TableChange::Unchanged
            },
            matching: Some(matching),
            rows,
            columns_added: columns.added,
            columns_dropped: columns.dropped,
            columns_retyped: columns.retyped,
        }
    }

    /// A table on one side only, with its row count there.
    pub fn one_sided(schema: &str, name: &str, change: TableChange, rows: u64) -> TableDiff {
        let mut counts = RowCounts::default();
        if change == TableChange::Dropped {
            counts.base_rows = rows;
            counts.deleted = rows;
        } else {
            counts.sandbox_rows = rows;
            counts.inserted = rows;
        }
        TableDiff {
            schema: schema.to_owned(),
            name: name.to_owned(),
            change,
            matching: None,
            rows: counts,
            columns_added: Vec::new(),
            columns_dropped: Vec::new(),
            columns_retyped: Vec::new(),
        }
    }
}

/// Column differences of a table present on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnChanges {
    pub added: Vec<String>,
    pub dropped: Vec<String>,
    pub retyped: Vec<String>,
}

/// One column as the catalog describes it (name and `format_type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    pub type_name: String,
}

/// Which columns were added, dropped or retyped, and which the row hash covers: those present
/// on both sides (so adding a column does not make every row look updated — the added column is
/// reported once instead), in the base's order so both sides hash the same list.
pub fn compare_columns(base: &[ColumnDef], sandbox: &[ColumnDef]) -> (ColumnChanges, Vec<String>) {
    let mut changes = ColumnChanges::default();
    let mut common = Vec::new();
    for b in base {
        match sandbox.iter().find(|s| s.name == b.name) {
            None => changes.dropped.push(b.name.clone()),
            Some(s) => {
                if s.type_name != b.type_name {
                    changes
                        .retyped
                        .push(format!("{}: {} → {}", b.name, b.type_name, s.type_name));
                }
                common.push(b.name.clone());
            }
        }
    }
    for s in sandbox {
        if !base.iter().any(|b| b.name == s.name) {
            changes.added.push(s.name.clone());
        }
    }
    (changes, common)
}

/// A sequence's position on both sides (`last_value`, `None` when never used or dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceDiff {
    pub schema: String,
    pub name: String,
    pub change: TableChange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_value: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_value: Option<i64>,
}

/// What the diff means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    NoChange,
    Changes,
    Destructive,
}

impl Verdict {
    pub const fn exit_code(self) -> u8 {
        match self {
            Verdict::NoChange => EXIT_NO_CHANGE,
            Verdict::Changes => EXIT_CHANGES,
            Verdict::Destructive => EXIT_DESTRUCTIVE,
        }
    }

    /// The `drill` exit code.
    pub const fn exit(self) -> crate::ExitCode {
        match self {
            Verdict::NoChange => crate::ExitCode::Ok,
            Verdict::Changes => crate::ExitCode::DiffChanges,
            Verdict::Destructive => crate::ExitCode::DiffDestructive,
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Verdict::NoChange => "no change",
            Verdict::Changes => "changes",
            Verdict::Destructive => "destructive",
        }
    }
}

/// When changes count as destructive (configured by the deployment or the command line).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DiffPolicy {
    /// A table with more than this share (0–1) of its base rows deleted or updated is destructive.
    pub max_changed_share: f64,
}

impl Default for DiffPolicy {
    fn default() -> Self {
        DiffPolicy {
            max_changed_share: 0.10,
        }
    }
}

impl DiffPolicy {
    /// Rejects a share outside (0, 1].
    pub fn new(max_changed_share: f64) -> Result<DiffPolicy, String> {
        if !(max_changed_share > 0.0 && max_changed_share <= 1.0) {
            return Err(format!(
                "the destructive share must be above 0 and at most 1 (100 %), got {max_changed_share}"
            ));
        }
        Ok(DiffPolicy { max_changed_share })
    }
}

/// The whole diff: what the engine found and what [`judge`] made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffReport {
    /// The sandbox and its base (`host:port/database`, never credentials).
    pub sandbox: String,
    pub base: String,
    pub tables: Vec<TableDiff>,
    pub sequences: Vec<SequenceDiff>,
    pub verdict: Verdict,
    /// Why the verdict is what it is, one line per finding (empty for no change).
    pub findings: Vec<String>,
    pub policy: DiffPolicy,
    pub seconds: f64,
}

impl DiffReport {
    /// Builds the report and its verdict from the comparisons.
    pub fn new(
        sandbox: String,
        base: String,
        tables: Vec<TableDiff>,
        sequences: Vec<SequenceDiff>,
        policy: DiffPolicy,
        seconds: f64,
    ) -> DiffReport {
        let (verdict, findings) = judge(&tables, &sequences, &policy);
        DiffReport {
            sandbox,
            base,
            tables,
            sequences,
            verdict,
            findings,
            policy,
            seconds,
        }
    }

    /// Tables with any change (what the table for people lists).
    pub fn changed_tables(&self) -> impl Iterator<Item = &TableDiff> {
        self.tables
            .iter()
            .filter(|t| t.change != TableChange::Unchanged)
    }
}

/// The verdict: destructive findings first (each named), then plain changes.
pub fn judge(
    tables: &[TableDiff],
    sequences: &[SequenceDiff],
    policy: &DiffPolicy,
) -> (Verdict, Vec<String>) {
    let mut destructive = Vec::new();
    let mut changes = Vec::new();
    for t in tables {
        let name = t.display_name();
        let r = &t.rows;
        match t.change {
            TableChange::Unchanged => continue,
            TableChange::Dropped => {
                destructive.push(format!("table {name} dropped ({} rows)", r.base_rows));
                continue;
            }
            TableChange::Added => {
                changes.push(format!("table {name} added ({} rows)", r.sandbox_rows));
                continue;
            }
            TableChange::Changed => {}
        }
        if r.base_rows > 0 && r.sandbox_rows == 0 {
            destructive.push(format!("table {name} emptied ({} rows deleted)", r.deleted));
        } else if r.base_rows > 0 {
            let share = (r.deleted + r.updated) as f64 / r.base_rows as f64;
            if share > policy.max_changed_share {
                destructive.push(format!(
                    "table {name}: {:.1} % of its {} rows deleted or updated (more than {:.1} %)",
                    share * 100.0,
                    r.base_rows,
                    policy.max_changed_share * 100.0
                ));
            }
        }
        // A dropped column loses data as surely as a dropped table.
        for c in &t.columns_dropped {
            destructive.push(format!("column {name}.{c} dropped"));
        }
        if r.changed() {
            changes.push(format!(
                "table {name}: {} inserted, {} deleted, {} updated",
                r.inserted, r.deleted, r.updated
            ));
        }
        for c in &t.columns_added {
            changes.push(format!("column {name}.{c} added"));
        }
        for c in &t.columns_retyped {
            changes.push(format!("column {name}.{c}"));
        }
    }
    for s in sequences {
        let name = format!("{}.{}", s.schema, s.name);
        match s.change {
            TableChange::Unchanged => {}
            TableChange::Changed => changes.push(format!(
                "sequence {name} moved {} → {}",
                show(s.base_value),
                show(s.sandbox_value)
            )),
            TableChange::Added => changes.push(format!("sequence {name} added")),
            TableChange::Dropped => changes.push(format!("sequence {name} dropped")),
        }
    }
    let verdict = if !destructive.is_empty() {
        Verdict::Destructive
    } else if !changes.is_empty() {
        Verdict::Changes
    } else {
        Verdict::NoChange
    };
    destructive.extend(changes);
    (verdict, destructive)
}

fn show(v: Option<i64>) -> String {
    v.map_or_else(|| "unset".to_owned(), |v| v.to_string())
}

/// Compares sequence positions by name.
pub fn compare_sequences(
    base: &[(String, String, Option<i64>)],
    sandbox: &[(String, String, Option<i64>)],
) -> Vec<SequenceDiff> {
    let mut out = Vec::new();
    let diff = |schema: &str, name: &str, change, b, s| SequenceDiff {
        schema: schema.to_owned(),
        name: name.to_owned(),
        change,
        base_value: b,
        sandbox_value: s,
    };
    for (schema, name, b) in base {
        match sandbox.iter().find(|(x, y, _)| x == schema && y == name) {
            None => out.push(diff(schema, name, TableChange::Dropped, *b, None)),
            Some((_, _, s)) => {
                let change = if s == b {
                    TableChange::Unchanged
                } else {
                    TableChange::Changed
                };
                out.push(diff(schema, name, change, *b, *s));
            }
        }
    }
    for (schema, name, s) in sandbox {
        if !base.iter().any(|(x, y, _)| x == schema && y == name) {
            out.push(diff(schema, name, TableChange::Added, None, *s));
        }
    }
    out
}

#[cfg(test)]
mod tests;
