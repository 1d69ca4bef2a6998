//! Validation inside an invocation's deadline, against real PostgreSQL: every statement's
//! timeout is bounded by the time left (Lambda's `Context.deadline` minus the report margin), so a
//! check the deadline cuts short is reported `incomplete` naming what it left out — never cut off
//! silently, never valid — and a deadline with time to spare changes nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use drill_core::checks::deadline::Deadline;
use drill_core::checks::{CheckConfig, Outcome, Status};
use drill_engine::pg::Database;
use drill_engine::validate::{validate_until, ValidateInput, Validated};
use drill_tests::{connect, TestDb};

fn input(config: CheckConfig) -> ValidateInput {
    ValidateInput {
        source_id: "app".into(),
        drill_id: drill_tests::unique("d-"),
        drill_started_at: Utc::now(),
        backup: None,
        config,
        manifest: None,
        history: None,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A deadline `left` from now, with no report margin (the margin has its own unit tests).
fn in_(left: Duration) -> Deadline {
    Deadline {
        at_epoch_ms: now_ms() + left.as_millis() as u64,
        margin_ms: 0,
    }
}

fn check<'a>(v: &'a Validated, name: &str) -> &'a drill_core::checks::CheckResult {
    v.report.checks.iter().find(|c| c.name == name).unwrap()
}

/// Three tables; `b` has no index or constraint, so the catalog never waits for a lock on it
/// (listing indexes and constraints does) and only reading it (or amcheck of its heap) does.
async fn three_tables() -> TestDb {
    let db = TestDb::create("deadline_").await;
    connect(&db.url)
        .await
        .batch_execute(
            "CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a SELECT generate_series(1, 100);
             CREATE TABLE b (id int); INSERT INTO b SELECT generate_series(1, 100);
             CREATE TABLE c (id int PRIMARY KEY); INSERT INTO c SELECT generate_series(1, 100);",
        )
        .await
        .unwrap();
    db
}

#[tokio::test]
async fn a_read_the_deadline_cuts_short_is_incomplete_naming_the_tables_left_and_never_valid() {
    let db = three_tables().await;
    // Another session holds table b: its read waits until the deadline-bounded timeout cancels it
    // (the configured 300 s timeout would outlive any Lambda).
    let locker = connect(&db.url).await;
    locker
        .batch_execute("BEGIN; LOCK TABLE b IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let mut config = CheckConfig::default();
    config.integrity.enabled = false;
    let started = std::time::Instant::now();
    let v = validate_until(
        &Database::from_url(&db.url).unwrap(),
        input(config),
        Some(in_(Duration::from_secs(4))),
    )
    .await
    .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert_eq!(
        v.report.outcome,
        Outcome::Incomplete,
        "{:#?}",
        v.report.checks
    );
    assert!(!v.report.passed);
    let read = check(&v, "full_read");
    assert_eq!(read.status, Status::Incomplete, "{read:?}");
    assert!(
        read.measured
            .starts_with("ran out of time after 1 of 3 tables"),
        "{read:?}"
    );
    // b (cancelled) and c (no time left to start) are named.
    assert_eq!(
        read.details,
        vec![
            "public.b: not read before the invocation's deadline",
            "public.c: not read before the invocation's deadline"
        ]
    );
    assert_eq!(check(&v, "row_counts").status, Status::Incomplete);
    assert_eq!(
        v.report.outcome.error_kind(),
        Some(drill_core::ErrorKind::CouldNotRun)
    );
    locker.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn amcheck_stops_at_the_deadline_and_says_so_and_a_deadline_with_time_to_spare_changes_nothing(
) {
    let db = three_tables().await;
    let target = Database::from_url(&db.url).unwrap();
    // Time to spare: the same verdict as without a deadline.
    let v = validate_until(
        &target,
        input(CheckConfig::default()),
        Some(in_(Duration::from_secs(600))),
    )
    .await
    .unwrap();
    assert_eq!(v.report.outcome, Outcome::Pass, "{:#?}", v.report.checks);
    assert_eq!(check(&v, "integrity").status, Status::Pass);

    // amcheck of b's heap (verify_heapam takes AccessShareLock) waits for the lock until the
    // deadline.
    let locker = connect(&db.url).await;
    locker
        .batch_execute("BEGIN; LOCK TABLE b IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let mut config = CheckConfig::default();
    config.full_read.enabled = false;
    config.row_counts.enabled = false;
    let v = validate_until(&target, input(config), Some(in_(Duration::from_secs(4))))
        .await
        .unwrap();
    let integrity = check(&v, "integrity");
    assert_eq!(integrity.status, Status::Incomplete, "{integrity:?}");
    assert!(
        integrity.measured.contains("ran out of time after"),
        "{integrity:?}"
    );
    assert!(
        integrity
            .details
            .iter()
            .any(|d| d.contains("public.b") && d.contains("before the invocation's deadline")),
        "{integrity:?}"
    );
    assert_eq!(v.report.outcome, Outcome::Incomplete);
    locker.batch_execute("ROLLBACK").await.unwrap();

    // No time at all: nothing runs, and that is incomplete, not a pass.
    let v = validate_until(
        &target,
        input(CheckConfig::default()),
        Some(in_(Duration::ZERO)),
    )
    .await
    .unwrap();
    assert_eq!(
        v.report.outcome,
        Outcome::Incomplete,
        "{:#?}",
        v.report.checks
    );
}
