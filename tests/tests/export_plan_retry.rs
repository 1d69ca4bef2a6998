//! A retried `plan_units`: the state machine retries PlanExport (Drill.Transient, Lambda service
//! errors), and an attempt that failed after it set the temp `default_transaction_read_only`
//! leaves the retry a database whose sessions start read-only. The retry must still plan (found
//! by bench/units_export.sh, which plans the same database more than once).

use drill_core::units::PlannerSettings;
use drill_engine::dump::{self, Database, ExportOptions};
use drill_engine::store::Store;
use drill_tests::{connect, TestDb};

#[tokio::test]
async fn a_retried_plan_finds_the_temp_read_only_and_still_plans() {
    let db = TestDb::create("plan_retry_").await;
    connect(&db.url)
        .await
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v text);
             INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("file://{}", dir.path().display()), None).unwrap();
    let source = Database::from_url(&db.url).unwrap();
    let options = ExportOptions::default();
    let settings = PlannerSettings::default();

    let first = dump::plan_units(&source, &store, &options, "retry-1", &settings)
        .await
        .unwrap();
    // The first attempt left the temp read-only: a new session starts read-only.
    let read_only: String = connect(&db.url)
        .await
        .query_one("SHOW default_transaction_read_only", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(read_only, "on");

    let second = dump::plan_units(&source, &store, &options, "retry-1", &settings)
        .await
        .unwrap();
    assert_ne!(first.set_url, second.set_url);
    assert_eq!(second.plan.units.len(), 1);
    assert_eq!(second.plan.tables.len(), 1);
    assert_eq!(second.plan.tables[0].name, "t");
}
