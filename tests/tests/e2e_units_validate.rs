//! Validation of a database larger than one invocation, end to end in moto's executor: the real
//! state machine plans validation units ("PlanValidation"), its Distributed Map
//! ("ValidateUnits") runs each unit's full read and amcheck through our real validate handler,
//! and the validate step sums the units into the one report.
//!
//! The validate function is sized down (1 MiB/s, 60 s, 1 %: units of ~600 KiB) so a few MB of
//! data make several units. One unit is made to run out of time by this test's own Lambda host,
//! which gives that invocation a deadline already reached (test-only: no event can do that).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use drill_engine::lambda::HandlerError;
use drill_tests::e2e::{source_db, temp_databases, Drill, Options};
use drill_tests::lambda_host::{serve, Handlers, Invoke};
use drill_tests::{connect, TestDb};
use serde_json::Value;

/// The real handlers; `late` gets a deadline already reached. Counts each unit's attempts.
struct Host {
    real: Handlers,
    late: Option<u32>,
    attempts: Mutex<HashMap<u32, u32>>,
}

impl Invoke for Host {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, HandlerError> {
        if payload["action"] == "validate_unit" {
            let unit = payload["unit"].as_u64().unwrap() as u32;
            *self.attempts.lock().unwrap().entry(unit).or_default() += 1;
            if self.late == Some(unit) {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as u64;
                return self
                    .real
                    .invoke_validate_until(function_name, payload, now)
                    .await;
            }
        }
        self.real.invoke(function_name, payload).await
    }
}

async fn deploy(late: Option<u32>) -> (Drill, Arc<Host>) {
    let small_units = [
        ("DRILL_UNIT_THROUGHPUT_MIBPS", "1"),
        ("DRILL_UNIT_INVOCATION_SECONDS", "60"),
        ("DRILL_UNIT_FILL_PERCENT", "1"),
        ("DRILL_VALIDATE_CHUNK_MB", "1"),
    ];
    let drill = Drill::deploy(Options {
        env: small_units
            .iter()
            .map(|(k, v)| ("validate", *k, (*v).to_owned()))
            .collect(),
        backups_url: None,
        wait_seconds: 1,
    })
    .await;
    let host = Arc::new(Host {
        real: Handlers::with_config(drill.config.clone()),
        late,
        attempts: Mutex::new(HashMap::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, host.clone()));
    drill.forward("validate", &url).await;
    (drill, host)
}

/// The e2e source plus a table of ~6 MB: with ~600 KiB units, several units.
async fn big_source() -> TestDb {
    let db = source_db().await;
    connect(&db.url)
        .await
        .batch_execute(
            "CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL, payload text);
             INSERT INTO events SELECT g, timestamptz '2026-01-01' + g * interval '1 second',
                    repeat(md5(g::text), 2)
               FROM generate_series(1, 60000) g;",
        )
        .await
        .unwrap();
    db
}

async fn json_at(drill: &Drill, key: &str) -> Value {
    let body = drill_tests::s3(&drill.config)
        .get_object()
        .bucket(&drill.bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    serde_json::from_slice(&body).unwrap()
}

/// The unit files of this execution's drill of `source`.
async fn unit_files(drill: &Drill, source: &str, exec: &str) -> Vec<String> {
    drill
        .keys(&format!(
            "reports/{source}/validation-units/{exec}-{source}/unit-"
        ))
        .await
}

async fn validation_report(drill: &Drill, source: &str, tag: &str) -> Value {
    let keys = drill.keys(&format!("reports/{source}/reports/")).await;
    let key = keys
        .iter()
        .find(|k| k.ends_with(&format!(".{tag}.json")))
        .unwrap_or_else(|| panic!("no .{tag}.json report in {keys:?}"));
    json_at(drill, key).await
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report:#}"))
}

#[tokio::test]
async fn a_database_in_many_validation_units_is_validated_once_and_the_report_sums_them() {
    let (drill, host) = deploy(None).await;
    let db = big_source().await;
    drill.seed_backup("app", &db).await;
    let (status, exec) = drill
        .run(vec![drill.backup_set_source("app-logical", "app", None)])
        .await;
    let run = drill.report("app-logical", &exec).await;
    assert_eq!(status, "SUCCEEDED", "report: {run:#}");
    // Every row counted once, summed over the units (events in several page ranges).
    assert_eq!(run["validation"]["rows"], 3500 + 60000, "{run:#}");

    let units = unit_files(&drill, "app-logical", &exec).await;
    assert!(units.len() >= 4, "only {} units: {units:?}", units.len());
    let attempts = host.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), units.len(), "{attempts:?}");
    assert!(attempts.values().all(|n| *n == 1), "{attempts:?}");

    let report = validation_report(&drill, "app-logical", "pass").await;
    assert_eq!(report["outcome"], "pass");
    let events = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "public.events")
        .unwrap();
    assert_eq!(events["rows"], 60000, "{report:#}");
    assert_eq!(check(&report, "full_read")["status"], "pass");
    assert_eq!(check(&report, "integrity")["status"], "pass");
    assert_eq!(check(&report, "row_counts")["status"], "pass");
    assert!(temp_databases(&exec).await.is_empty());
}

#[tokio::test]
async fn a_unit_that_runs_out_of_time_fails_the_drill_as_incomplete_naming_the_unit() {
    let (drill, host) = deploy(Some(1)).await;
    let db = big_source().await;
    drill.seed_backup("app", &db).await;
    let (status, exec) = drill
        .run(vec![drill.backup_set_source("app-logical", "app", None)])
        .await;
    assert_eq!(status, "FAILED");
    let run = drill.report("app-logical", &exec).await;
    assert_eq!(run["failed_step"], "validate", "{run:#}");
    let cause = run["failure"].to_string();
    assert!(cause.contains("incomplete"), "{run:#}");
    // The error names the unit (the first detail); the report says "unit(s) 1 incomplete".
    assert!(cause.contains("full_read incomplete: unit 1: "), "{run:#}");
    // Out of time is an answer, not a failure: the unit ran once, no retry.
    assert_eq!(host.attempts.lock().unwrap()[&1], 1);

    let report = validation_report(&drill, "app-logical", "incomplete").await;
    assert_eq!(report["passed"], false);
    assert_eq!(report["outcome"], "incomplete");
    let read = check(&report, "full_read");
    assert_eq!(read["status"], "incomplete", "{read:#}");
    let measured = read["measured"].as_str().unwrap();
    assert!(measured.starts_with("ran out of time after "), "{measured}");
    assert!(
        read["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().starts_with("unit 1: ")),
        "{read:#}"
    );
    // Nothing exported from a drill that did not pass validation; the temp is gone.
    let keys = drill.keys("backups/app-logical/").await;
    assert!(
        !keys.iter().any(|k| k.ends_with("manifest.json")),
        "{keys:?}"
    );
    assert!(temp_databases(&exec).await.is_empty());
}
