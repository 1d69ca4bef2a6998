//! The verdicts of the two data passes: `integrity` (amcheck over heaps and B-tree indexes, within
//! a time budget) and `full_read` (every row of every table formed whole), and what a failed read
//! means for `row_counts`.
//!
//! The engine runs the passes and fills [`IntegrityPass`] and [`ReadPass`]; corruption (SQLSTATE
//! class XX) is a failed backup, any other error a check that could not run, and nothing checked
//! is never a pass.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{CheckResult, Status};
use crate::report::TableRead;

/// What amcheck found, object by object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityPass {
    /// `table x is corrupt: ...`, `index y is corrupt: ...`.
    pub corrupt: Vec<String>,
    /// Checks that could not run (not corruption).
    pub errors: Vec<String>,
    pub indexes_checked: usize,
    pub tables_checked: usize,
    /// Objects left unchecked when the time budget ran out.
    pub not_checked: Vec<String>,
    /// Objects left unchecked because the invocation's deadline came first (see
    /// [`super::deadline`]): the check is incomplete, not a pass.
    pub out_of_time: Vec<String>,
    pub notes: Vec<String>,
    pub duration: Duration,
}

/// A table the read pass could not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadFailure {
    pub table: String,
    /// The server reported corruption (SQLSTATE class XX), not another error.
    pub corruption: bool,
    pub message: String,
}

/// One pass over every table: exact counts and, for a full read, the bytes formed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadPass {
    pub reads: Vec<TableRead>,
    pub failures: Vec<ReadFailure>,
    /// Tables not read because the invocation's deadline came first.
    pub out_of_time: Vec<String>,
    pub duration: Duration,
}

/// The `integrity` result: corruption fails, an error is an error, nothing verified (the budget
/// spent before the first object) is skipped, else pass.
pub fn evaluate_integrity(pass: IntegrityPass, budget_s: u64) -> CheckResult {
    let total = pass.indexes_checked + pass.tables_checked + pass.not_checked.len();
    let status = if !pass.corrupt.is_empty() {
        Status::Fail
    } else if !pass.out_of_time.is_empty() {
        Status::Incomplete
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
    if !pass.out_of_time.is_empty() {
        let done = pass.indexes_checked + pass.tables_checked;
        measured.push_str(&format!(
            "; {}",
            super::deadline::out_of_time(done, total + pass.out_of_time.len(), "objects")
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
    details.extend(
        pass.out_of_time
            .into_iter()
            .map(|l| format!("{l}: not checked before the invocation's deadline")),
    );
    CheckResult::new("integrity", status)
        .measured(measured)
        .expected(format!("amcheck finds no corruption (budget {budget_s}s)"))
        .details(details)
        .took(pass.duration)
}

/// The `full_read` result: an unreadable (corrupt) table fails, another read error is an error.
pub fn evaluate_full_read(pass: &ReadPass) -> CheckResult {
    let rows: u64 = pass.reads.iter().map(|r| r.rows).sum();
    let bytes: u64 = pass.reads.iter().map(|r| r.bytes).sum();
    let secs = pass.duration.as_secs_f64().max(1e-3);
    let status = if pass.failures.iter().any(|f| f.corruption) {
        Status::Fail
    } else if !pass.out_of_time.is_empty() {
        Status::Incomplete
    } else if !pass.failures.is_empty() {
        Status::Error
    } else {
        Status::Pass
    };
    let mut measured = format!(
        "{} tables, {rows} rows, {:.1} MB at {:.1} MB/s",
        pass.reads.len(),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs
    );
    if !pass.out_of_time.is_empty() {
        let total = pass.reads.len() + pass.failures.len() + pass.out_of_time.len();
        measured = format!(
            "{}; {measured}",
            super::deadline::out_of_time(total - pass.out_of_time.len(), total, "tables")
        );
    }
    let mut details: Vec<String> = pass
        .failures
        .iter()
        .map(|f| {
            if f.corruption {
                format!("{} is unreadable: {}", f.table, f.message)
            } else {
                format!("{}: read failed: {}", f.table, f.message)
            }
        })
        .collect();
    details.extend(
        pass.out_of_time
            .iter()
            .map(|t| format!("{t}: not read before the invocation's deadline")),
    );
    CheckResult::new("full_read", status)
        .measured(measured)
        .expected("every row of every table readable")
        .details(details)
        .took(pass.duration)
}

/// `row_counts` after the read pass that counted: a table that could not be counted turns a pass
/// into an error (a count never taken is not a count that matched) and is named.
pub fn with_count_failures(mut result: CheckResult, pass: &ReadPass) -> CheckResult {
    if !pass.out_of_time.is_empty() {
        // A count never taken is not a count that matched, and a partial count proves no loss:
        // incomplete, whatever the comparison of the partial sums said.
        result.status = Status::Incomplete;
        result.details.extend(
            pass.out_of_time
                .iter()
                .map(|t| format!("{t}: not counted before the invocation's deadline")),
        );
    }
    if !pass.failures.is_empty() {
        if result.status == Status::Pass {
            result.status = Status::Error;
        }
        result.details.extend(
            pass.failures
                .iter()
                .map(|f| format!("{}: could not count: {}", f.table, f.message)),
        );
    }
    result.took(pass.duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(table: &str, rows: u64) -> TableRead {
        TableRead {
            table: table.into(),
            rows,
            bytes: rows * 100,
            duration_ms: 1,
        }
    }

    fn failure(table: &str, corruption: bool) -> ReadFailure {
        ReadFailure {
            table: table.into(),
            corruption,
            message: "boom (SQLSTATE XX001)".into(),
        }
    }

    #[test]
    fn integrity_fails_on_corruption_errs_on_errors_and_never_passes_unchecked() {
        let clean = IntegrityPass {
            indexes_checked: 3,
            tables_checked: 2,
            ..Default::default()
        };
        let r = evaluate_integrity(clean.clone(), 60);
        assert_eq!(r.status, Status::Pass);
        assert_eq!(r.measured, "3 B-tree indexes, 2 tables checked");
        assert!(r.expected.contains("budget 60s"), "{}", r.expected);

        let mut corrupt = clean.clone();
        corrupt
            .corrupt
            .push("index public.t_pkey is corrupt: bad".into());
        corrupt
            .errors
            .push("table public.u: permission denied".into());
        let r = evaluate_integrity(corrupt, 60);
        assert_eq!(r.status, Status::Fail, "corruption outranks errors");
        assert!(r.measured.ends_with("; 1 corrupt"), "{}", r.measured);
        assert_eq!(r.details[0], "index public.t_pkey is corrupt: bad");

        let mut errored = clean.clone();
        errored.errors.push("amcheck could not be created".into());
        assert_eq!(evaluate_integrity(errored, 60).status, Status::Error);

        let nothing = IntegrityPass {
            not_checked: vec!["index public.big_pkey".into()],
            ..Default::default()
        };
        let r = evaluate_integrity(nothing, 1);
        assert_eq!(r.status, Status::Skipped);
        assert_eq!(
            r.details,
            vec!["index public.big_pkey: not checked within the time budget".to_owned()]
        );
        // Some objects checked, the rest out of budget: a pass that says what it left out.
        let mut partial = clean;
        partial.not_checked.push("index public.big_pkey".into());
        let r = evaluate_integrity(partial, 1);
        assert_eq!(r.status, Status::Pass);
        assert!(r.measured.contains("1 not checked"), "{}", r.measured);
    }

    #[test]
    fn full_read_fails_on_unreadable_rows_and_errs_on_other_failures() {
        let mut pass = ReadPass {
            reads: vec![read("public.a", 10), read("public.b", 5)],
            failures: Vec::new(),
            out_of_time: Vec::new(),
            duration: Duration::from_secs(1),
        };
        let r = evaluate_full_read(&pass);
        assert_eq!(r.status, Status::Pass);
        assert!(
            r.measured.starts_with("2 tables, 15 rows"),
            "{}",
            r.measured
        );

        pass.failures.push(failure("public.c", false));
        let r = evaluate_full_read(&pass);
        assert_eq!(r.status, Status::Error);
        assert_eq!(
            r.details,
            vec!["public.c: read failed: boom (SQLSTATE XX001)"]
        );

        pass.failures.push(failure("public.d", true));
        let r = evaluate_full_read(&pass);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.details[1].starts_with("public.d is unreadable"),
            "{:?}",
            r.details
        );
    }

    #[test]
    fn a_table_that_could_not_be_counted_is_never_a_passing_count() {
        let pass = ReadPass {
            reads: vec![read("public.a", 10)],
            failures: vec![failure("public.b", true)],
            out_of_time: Vec::new(),
            duration: Duration::from_millis(5),
        };
        let r = with_count_failures(CheckResult::new("row_counts", Status::Pass), &pass);
        assert_eq!(r.status, Status::Error);
        assert_eq!(
            r.details,
            vec!["public.b: could not count: boom (SQLSTATE XX001)"]
        );
        // A failing count stays a failure.
        let r = with_count_failures(CheckResult::new("row_counts", Status::Fail), &pass);
        assert_eq!(r.status, Status::Fail);
        let clean = ReadPass {
            failures: Vec::new(),
            ..pass
        };
        let r = with_count_failures(CheckResult::new("row_counts", Status::Pass), &clean);
        assert_eq!(r.status, Status::Pass);
        assert!(r.details.is_empty());
    }

    #[test]
    fn a_pass_cut_short_by_the_deadline_is_incomplete_never_a_pass_and_corruption_still_fails() {
        let pass = ReadPass {
            reads: vec![read("public.a", 10), read("public.b", 5)],
            failures: Vec::new(),
            out_of_time: vec!["public.c".into()],
            duration: Duration::from_secs(1),
        };
        let r = evaluate_full_read(&pass);
        assert_eq!(r.status, Status::Incomplete);
        assert!(
            r.measured
                .starts_with("ran out of time after 2 of 3 tables"),
            "{}",
            r.measured
        );
        assert_eq!(
            r.details,
            vec!["public.c: not read before the invocation's deadline"]
        );
        let counts = with_count_failures(CheckResult::new("row_counts", Status::Pass), &pass);
        assert_eq!(counts.status, Status::Incomplete);
        assert_eq!(
            with_count_failures(CheckResult::new("row_counts", Status::Fail), &pass).status,
            Status::Incomplete,
            "partial counts below the manifest are not a loss"
        );
        let mut corrupt = pass.clone();
        corrupt.failures.push(failure("public.d", true));
        assert_eq!(evaluate_full_read(&corrupt).status, Status::Fail);

        let amcheck = IntegrityPass {
            tables_checked: 1,
            indexes_checked: 2,
            out_of_time: vec!["index public.c_pkey".into()],
            ..Default::default()
        };
        let r = evaluate_integrity(amcheck.clone(), 480);
        assert_eq!(r.status, Status::Incomplete);
        assert!(
            r.measured.contains("ran out of time after 3 of 4 objects"),
            "{}",
            r.measured
        );
        let mut corrupt = amcheck;
        corrupt.corrupt.push("table public.a is corrupt: x".into());
        assert_eq!(evaluate_integrity(corrupt, 480).status, Status::Fail);
    }
}
