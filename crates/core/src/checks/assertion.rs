//! The verdict of a user SQL assertion (`sql:<name>`): what its query returned against what the
//! configuration expects.

use super::{CheckResult, Expectation, Scalar, SqlAssertion, Status};

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
