//! Unit tests of the check configuration and the verdicts.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;
use crate::{Classified, ErrorKind};

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
    // Out of time: incomplete (a failed drill), outranked only by a proven failure.
    assert_eq!(
        Outcome::of(&[r(Status::Pass), r(Status::Incomplete), r(Status::Error)]),
        Outcome::Incomplete
    );
    assert_eq!(
        Outcome::of(&[r(Status::Incomplete), r(Status::Fail)]),
        Outcome::BackupInvalid
    );
    assert_eq!(
        Outcome::Incomplete.error_kind(),
        Some(ErrorKind::CouldNotRun)
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
