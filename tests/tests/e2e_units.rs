//! The export of a database larger than one invocation, end to end in moto's executor: the real
//! state machine plans work units, its Distributed Map ("ExportUnits") runs each unit through our
//! real export handler, and the finish step writes the manifest last.
//!
//! The export function is sized down (1 MiB/s, 60 s, 1 %: units of ~600 KiB) so a few MB of data
//! make >= 8 units. Failures are injected by this test's own Lambda host in front of the real
//! handlers (test-only: nothing in an event or in production code can make a unit fail).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use drill_core::ErrorKind;
use drill_engine::dump::{self, Database, RestoreOptions};
use drill_engine::lambda::HandlerError;
use drill_engine::store::Store;
use drill_tests::dump::assert_same_database;
use drill_tests::e2e::{source_db, temp_databases, Drill, Options};
use drill_tests::lambda_host::{serve, Handlers, Invoke};
use drill_tests::{connect, TestDb};
use serde_json::Value;

/// The real handlers, with unit failures injected: `once` fail their first attempt, `always`
/// every attempt. Counts the attempts of each unit.
struct Faulty {
    real: Handlers,
    once: Mutex<HashSet<u32>>,
    always: Option<u32>,
    attempts: Mutex<HashMap<u32, u32>>,
}

impl Invoke for Faulty {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, HandlerError> {
        if payload["action"] == "export_unit" {
            let unit = payload["unit"].as_u64().unwrap() as u32;
            *self.attempts.lock().unwrap().entry(unit).or_default() += 1;
            if self.always == Some(unit) || self.once.lock().unwrap().remove(&unit) {
                return Err(HandlerError::new(
                    ErrorKind::Transient,
                    format!("injected failure of unit {unit}"),
                ));
            }
        }
        self.real.invoke(function_name, payload).await
    }
}

async fn deploy(once: &[u32], always: Option<u32>) -> (Drill, Arc<Faulty>) {
    let small_units = [
        ("DRILL_UNIT_THROUGHPUT_MIBPS", "1"),
        ("DRILL_UNIT_INVOCATION_SECONDS", "60"),
        ("DRILL_UNIT_FILL_PERCENT", "1"),
        ("DRILL_EXPORT_CHUNK_MB", "1"),
    ];
    let drill = Drill::deploy(Options {
        env: small_units
            .iter()
            .map(|(k, v)| ("export", *k, (*v).to_owned()))
            .collect(),
        backups_url: None,
        wait_seconds: 1,
    })
    .await;
    let faulty = Arc::new(Faulty {
        real: Handlers::with_config(drill.config.clone()),
        once: Mutex::new(once.iter().copied().collect()),
        always,
        attempts: Mutex::new(HashMap::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, faulty.clone()));
    drill.forward("export", &url).await;
    (drill, faulty)
}

/// The e2e source plus a table of ~6 MB: with ~600 KiB units, well over 8 units.
async fn big_source() -> TestDb {
    let db = source_db().await;
    connect(&db.url)
        .await
        .batch_execute(
            "CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL, kind text NOT NULL, payload text);
             INSERT INTO events SELECT g, timestamptz '2026-01-01' + g * interval '1 second',
                    'kind-' || (g % 17), repeat(md5(g::text), 2)
               FROM generate_series(1, 60000) g;",
        )
        .await
        .unwrap();
    db
}

async fn units_of(drill: &Drill, set: &str) -> usize {
    let prefix = set
        .strip_prefix(&format!("s3://{}/", drill.bucket))
        .unwrap();
    drill.keys(&format!("{prefix}units/unit-")).await.len()
}

#[tokio::test]
async fn a_database_in_many_units_restores_byte_identically_and_a_unit_failing_once_is_retried_alone(
) {
    let (drill, faulty) = deploy(&[3], None).await;
    let db = big_source().await;
    drill.seed_backup("app", &db).await;
    let (status, exec) = drill
        .run(vec![drill.backup_set_source("app-logical", "app", None)])
        .await;
    let report = drill.report("app-logical", &exec).await;
    assert_eq!(status, "SUCCEEDED", "report: {report:#}");
    assert_eq!(report["export"]["rows"], 3500 + 60000, "{report:#}");

    let set = report["export"]["backup_set"].as_str().unwrap().to_owned();
    let units = units_of(&drill, &set).await;
    assert!(units >= 8, "only {units} units");
    let attempts = faulty.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), units, "{attempts:?}");
    // Unit 3 failed once and was retried; no other unit ran twice.
    assert_eq!(attempts[&3], 2, "{attempts:?}");
    assert!(
        attempts.iter().all(|(u, n)| *u == 3 || *n == 1),
        "{attempts:?}"
    );

    // The unit-exported set restores to the same database, by pg_dump.
    let s3 = drill_engine::aws::s3_client(&drill.config);
    let store = Store::open(&set, Some(&s3)).unwrap();
    let target = TestDb::create("e2e_units_restored_").await;
    dump::restore(
        &store,
        &Database::from_url(&target.url).unwrap(),
        &RestoreOptions::default(),
    )
    .await
    .unwrap();
    assert_same_database(&db.url, &target.url);
    assert!(temp_databases(&exec).await.is_empty());
}

#[tokio::test]
async fn a_unit_that_always_fails_leaves_no_manifest_and_the_drill_names_it() {
    let (drill, faulty) = deploy(&[], Some(5)).await;
    let db = big_source().await;
    drill.seed_backup("app", &db).await;
    let (status, exec) = drill
        .run(vec![drill.backup_set_source("app-logical", "app", None)])
        .await;
    assert_eq!(status, "FAILED");
    let report = drill.report("app-logical", &exec).await;
    assert_eq!(report["failed_step"], "export", "{report:#}");
    let cause = report["failure"].to_string();
    assert!(cause.contains("unit(s) 5 of"), "{report:#}");
    // Retried, then given up: 3 attempts (Retry MaxAttempts 3 means 1 + 3).
    assert!(faulty.attempts.lock().unwrap()[&5] >= 3);
    // The new set has units but no manifest: it is never restored.
    let keys = drill.keys("backups/app-logical/").await;
    assert!(keys.iter().any(|k| k.contains("/units/unit-")), "{keys:?}");
    assert!(
        !keys.iter().any(|k| k.ends_with("manifest.json")),
        "{keys:?}"
    );
    assert!(temp_databases(&exec).await.is_empty());
}
