//! End to end on the local stack: moto executes the real state machine definition
//! (statemachine/drill.asl.json, rendered as Terraform renders it), and every Lambda invocation
//! runs our real handler code (lambda-host) against the throwaway PostgreSQL and moto.
//!
//! The success path of a `backup-set` source; the `rds-snapshot` path through restore, status and
//! cleanup; and a failure injected at each step — the execution fails, the temporary resource is
//! gone, and the report names the failing step.
//!
//! Every source's settings live in the deployment configuration (`config/drill.json` in the
//! bucket, as Terraform writes it); an execution names at most which source ids to run: `{}` as
//! the nightly schedule sends, `{"sources": [...]}` from the console, and the sample events of
//! `cargo lambda invoke` through the Lambda Invoke path.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use drill_tests::e2e::{defaults, rds_drill, source_db, temp_databases, Drill, Options, PREFIX};
use drill_tests::wait;
use drill_tests::{connect, pg_url, unique, with_database};
use serde_json::{json, Value};

#[tokio::test]
async fn backup_set_drill_succeeds_end_to_end_and_leaves_nothing_behind() {
    let drill = Drill::deploy(defaults()).await;
    let db = source_db().await;
    drill.seed_backup("app", &db).await;
    // The export goes under the exporting source's own prefix.
    let before = drill.keys("backups/app-logical/").await;
    let alerts = drill.subscribe_alerts().await;

    let (status, exec) = drill
        .run(vec![drill.backup_set_source("app-logical", "app", None)])
        .await;
    let report = drill.report("app-logical", &exec).await;
    assert_eq!(status, "SUCCEEDED", "report: {report:#}");
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["failed_step"], Value::Null);
    assert_eq!(report["validation"]["passed"], true);
    assert_eq!(report["validation"]["rows"], 3500, "{report:#}");
    assert!(report["rto_seconds"].as_u64().is_some());
    assert_eq!(report["backup"]["kind"], "backup-set");
    assert_eq!(report["cleanup"]["deleted"].as_array().unwrap().len(), 1);
    // The validated restore was exported: a new, complete backup set with a manifest.
    let after = drill.keys("backups/app-logical/").await;
    let manifests = |keys: &[String]| keys.iter().filter(|k| k.ends_with("manifest.json")).count();
    assert_eq!(manifests(&after), manifests(&before) + 1, "{after:?}");
    assert_eq!(report["export"]["rows"], 3500);
    // No temp database left, and no secret anywhere in the report.
    assert!(temp_databases(&exec).await.is_empty());
    let text = report.to_string();
    let password = url::Url::parse(&pg_url())
        .unwrap()
        .password()
        .unwrap()
        .to_owned();
    assert!(!text.contains(&password), "the report leaks the password");
    let notifications = alerts.lock().unwrap().clone();
    assert!(
        notifications
            .iter()
            .all(|n| !n.contains("failed their drill")),
        "no alert on success: {notifications:?}"
    );
    let _ = &drill.name;
}

#[tokio::test]
async fn a_failed_validation_cleans_up_and_fails_the_execution_naming_validate() {
    let drill = Drill::deploy(defaults()).await;
    let db = source_db().await;
    drill.seed_backup("app", &db).await;
    let checks = r#"
[[sql]]
name = "enough students"
query = "SELECT count(*) FROM students"
expect = { at_least = 1000000 }
"#;
    let (status, exec) = drill
        .run(vec![drill.backup_set_source(
            "app-logical",
            "app",
            Some(checks),
        )])
        .await;
    assert_eq!(status, "FAILED");
    let report = drill.report("app-logical", &exec).await;
    assert_eq!(report["passed"], false);
    assert_eq!(report["failed_step"], "validate", "{report:#}");
    assert_eq!(
        report["failure"]["error"], "Drill.BackupInvalid",
        "{report:#}"
    );
    assert_eq!(
        report["cleanup"]["deleted"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    assert!(temp_databases(&exec).await.is_empty());
}

#[tokio::test]
async fn a_missing_backup_fails_the_restore_step() {
    let drill = Drill::deploy(defaults()).await;
    let (status, exec) = drill
        .run(vec![drill.backup_set_source(
            "app-logical",
            "nothing-here",
            None,
        )])
        .await;
    assert_eq!(status, "FAILED");
    let report = drill.report("app-logical", &exec).await;
    assert_eq!(report["failed_step"], "restore", "{report:#}");
    assert_eq!(
        report["failure"]["error"], "Drill.BackupInvalid",
        "{report:#}"
    );
    // The cleanup after a failed restore ran, and found nothing to delete.
    assert_eq!(
        report["cleanup"]["already_gone"].as_array().map(Vec::len),
        Some(1),
        "{report:#}"
    );
    assert!(temp_databases(&exec).await.is_empty());
}

#[tokio::test]
async fn a_failed_export_cleans_up_and_names_export() {
    let drill = Drill::deploy(Options {
        env: Vec::new(),
        backups_url: Some(format!("s3://{}/backups", unique("no-such-bucket-"))),
        wait_seconds: 1,
    })
    .await;
    let db = source_db().await;
    drill.seed_backup("app", &db).await;
    let (status, exec) = drill
        .run(vec![drill.backup_set_source("app-logical", "app", None)])
        .await;
    assert_eq!(status, "FAILED");
    let report = drill.report("app-logical", &exec).await;
    assert_eq!(report["failed_step"], "export", "{report:#}");
    assert_eq!(report["validation"]["passed"], true);
    assert!(temp_databases(&exec).await.is_empty());
}

#[tokio::test]
async fn a_refused_cleanup_fails_the_execution_naming_delete_temp_and_touches_nothing() {
    // delete-temp configured with another prefix: its guards must refuse the drill's database.
    let drill = Drill::deploy(Options {
        env: vec![("delete-temp", "DRILL_PREFIX", "other-".to_owned())],
        backups_url: None,
        wait_seconds: 1,
    })
    .await;
    let db = source_db().await;
    drill.seed_backup("app", &db).await;
    let (status, exec) = drill
        .run(vec![drill.backup_set_source("app-logical", "app", None)])
        .await;
    assert_eq!(status, "FAILED");
    let report = drill.report("app-logical", &exec).await;
    assert_eq!(report["failed_step"], "delete-temp", "{report:#}");
    assert_eq!(
        report["failure"]["error"], "Drill.GuardViolation",
        "{report:#}"
    );
    // The refused database is still there (nothing dropped without every guard); clean it up.
    let left = temp_databases(&exec).await;
    assert_eq!(left.len(), 1, "{left:?}");
    let admin = connect(&pg_url()).await;
    admin
        .batch_execute(&format!("DROP DATABASE \"{}\" WITH (FORCE)", left[0]))
        .await
        .unwrap();
    let _ = with_database(&pg_url(), "postgres");
}

#[tokio::test]
async fn one_failing_source_fails_the_fleet_but_the_other_still_passes() {
    let drill = Drill::deploy(defaults()).await;
    let db = source_db().await;
    drill.seed_backup("good", &db).await;
    let alerts = drill.subscribe_alerts().await;
    let (status, exec) = drill
        .run(vec![
            drill.backup_set_source("good-logical", "good", None),
            drill.backup_set_source("gone-logical", "gone", None),
        ])
        .await;
    assert_eq!(status, "FAILED");
    assert_eq!(drill.report("good-logical", &exec).await["passed"], true);
    assert_eq!(
        drill.report("gone-logical", &exec).await["failed_step"],
        "restore"
    );
    // One alert for the fleet, naming the failed source and its step.
    let notifications = alerts.lock().unwrap().clone();
    let alert = notifications
        .iter()
        .find(|n| n.contains("failed their drill"))
        .unwrap_or_else(|| panic!("no alert delivered: {notifications:?}"));
    assert!(alert.contains("1 of 2 sources"), "{alert}");
    assert!(alert.contains("gone-logical: restore failed"), "{alert}");
    assert!(!alert.contains("good-logical:"), "{alert}");
}

#[tokio::test]
async fn rds_snapshot_drill_runs_restore_status_and_cleanup_and_reports_the_failing_step() {
    // moto's restored instances are not databases (fake endpoints), so validate cannot connect:
    // the drill must fail at validate, delete the temp instance, and report it.
    // The restored instance has no managed master secret (as in AWS): the loop turns it on
    // (EnableManagedSecret) and waits for it; without that step the drill fails at `wait`.
    let (rds, prod, drill) = rds_drill(1).await;
    let source = json!({
        "id": "prod-app",
        "source": {"kind": "rds-snapshot", "instance_identifier": prod, "database": "app"}
    });
    let (status, exec) = drill.run(vec![source]).await;
    assert_eq!(status, "FAILED");
    let report = drill.report("prod-app", &exec).await;
    assert_eq!(report["failed_step"], "validate", "{report:#}");
    assert!(
        !report.to_string().to_lowercase().contains("password"),
        "{report:#}"
    );
    assert_eq!(
        report["failure"]["error"], "Drill.CouldNotRun",
        "{report:#}"
    );
    assert_eq!(report["backup"]["kind"], "rds-snapshot", "{report:#}");
    let temp = report["temp"]["identifier"].as_str().unwrap().to_owned();
    assert!(temp.starts_with(PREFIX), "{temp}");
    assert_eq!(report["cleanup"]["deleted"], json!([temp]), "{report:#}");
    // The temp instance is gone; production is untouched.
    let instances: Vec<String> = rds
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances()
        .iter()
        .filter_map(|i| i.db_instance_identifier().map(str::to_owned))
        .collect();
    assert!(!instances.contains(&temp), "temp instance left behind");
    assert!(instances.contains(&prod), "production must survive");
}

#[tokio::test]
async fn a_temp_instance_that_vanishes_during_the_wait_fails_the_wait_step_and_still_cleans_up() {
    let (rds, prod, drill) = rds_drill(3).await;
    let source = json!({
        "id": "vanishing",
        "source": {"kind": "rds-snapshot", "instance_identifier": prod, "database": "app"}
    });
    // Someone deletes the temp instance while the state machine waits before its status call.
    let saboteur = {
        let rds = rds.clone();
        let prod = prod.clone();
        tokio::spawn(async move {
            let (rds, prod) = (&rds, &prod);
            // Polled often: the temp must be deleted inside the wait step's window.
            let id = wait::until(
                "the drill to create its temp instance",
                Duration::from_secs(60),
                Duration::from_millis(25),
                || async move {
                    let all = rds.describe_db_instances().send().await.unwrap();
                    all.db_instances().iter().find_map(|i| {
                        let id = i.db_instance_identifier()?;
                        (id.starts_with(PREFIX) && id.contains(prod.as_str()))
                            .then(|| id.to_owned())
                    })
                },
            )
            .await;
            rds.delete_db_instance()
                .db_instance_identifier(&id)
                .skip_final_snapshot(true)
                .send()
                .await
                .unwrap();
            id
        })
    };
    let (status, exec) = drill.run(vec![source]).await;
    let deleted = saboteur.await.unwrap();
    assert_eq!(status, "FAILED");
    let report = drill.report("vanishing", &exec).await;
    assert_eq!(report["failed_step"], "wait", "{report:#}");
    assert_eq!(
        report["failure"]["error"], "Drill.TempNotReady",
        "{report:#}"
    );
    assert!(
        report["failure"]["cause"]
            .as_str()
            .unwrap()
            .contains("gone"),
        "{report:#}"
    );
    // Cleanup still ran, and found the instance already gone.
    assert_eq!(
        report["cleanup"]["already_gone"],
        json!([deleted]),
        "{report:#}"
    );
}

#[tokio::test]
async fn an_unwritable_report_still_fails_the_execution_after_cleanup() {
    let drill = Drill::deploy(Options {
        env: vec![(
            "validate",
            "DRILL_REPORTS_URL",
            format!("s3://{}/reports", unique("no-such-bucket-")),
        )],
        backups_url: None,
        wait_seconds: 1,
    })
    .await;
    let db = source_db().await;
    drill.seed_backup("app", &db).await;
    let (status, exec) = drill
        .run(vec![drill.backup_set_source("app-logical", "app", None)])
        .await;
    // Everything else passed, but a drill without its report does not count.
    assert_eq!(status, "FAILED");
    assert!(temp_databases(&exec).await.is_empty());
}

#[tokio::test]
async fn snapshot_copies_run_before_the_drill_and_a_failed_copy_fails_the_run_but_not_the_drill() {
    let (rds, prod, drill) = rds_drill(1).await;
    let copied = json!({
        "id": "prod-copied",
        "snapshot_copy": {"region": "eu-west-1", "share_with": ["210987654321"], "keep_newest": 1},
        "source": {"kind": "rds-snapshot", "instance_identifier": prod, "database": "app"}
    });
    let plain = json!({
        "id": "prod-plain",
        "source": {"kind": "rds-snapshot", "instance_identifier": prod, "database": "app"}
    });
    let (status, exec) = drill.run(vec![copied, plain]).await;
    assert_eq!(status, "FAILED", "moto's instances cannot be validated");

    let report = drill.report("prod-copied", &exec).await;
    let copy = &report["snapshot_copy"]["copy"];
    let copy_id = copy["copy"]
        .as_str()
        .unwrap_or_else(|| panic!("{report:#}"));
    assert!(copy_id.starts_with(PREFIX), "{copy_id}");
    assert_eq!(copy["region"], "eu-west-1");
    assert_eq!(copy["shared"], json!([copy_id]));
    assert!(
        report["snapshot_copy"]["expiry"]["expired"].is_array(),
        "{report:#}"
    );
    assert!(report["snapshot_copy_failure"].is_null(), "{report:#}");
    // The drill itself ran after the copy: restored, failed at validate, cleaned up.
    assert_eq!(report["failed_step"], "validate", "{report:#}");
    assert_eq!(
        report["cleanup"]["deleted"].as_array().map(Vec::len),
        Some(1)
    );
    let away = drill_engine::rds::client_in_region(&rds, "eu-west-1");
    let there = drill_tests::rds::snapshot_ids(&away, &prod).await;
    assert!(there.contains(&copy_id.to_owned()), "{there:?}");

    let report = drill.report("prod-plain", &exec).await;
    assert!(
        report["snapshot_copy"].is_null() && report["snapshot_copy_failure"].is_null(),
        "{report:#}"
    );
    // At home, only the automated snapshot: nothing was copied there, nothing deleted.
    let home = drill_tests::rds::snapshot_ids(&rds, &prod).await;
    assert_eq!(home.len(), 1, "{home:?}");
    assert!(home[0].starts_with("rds:"));
}

#[tokio::test]
async fn a_console_execution_runs_only_the_named_sources() {
    let drill = Drill::deploy(defaults()).await;
    let db = source_db().await;
    drill.seed_backup("app", &db).await;
    drill
        .configure(&[
            drill.backup_set_source("app-logical", "app", None),
            drill.backup_set_source("other-logical", "nothing-here", None),
        ])
        .await;
    let (status, exec, why) = drill.run_input(json!({"sources": ["app-logical"]})).await;
    assert_eq!(status, "SUCCEEDED", "{why}");
    assert_eq!(drill.report("app-logical", &exec).await["passed"], true);
    // The other configured source did not run: no report of it.
    assert!(
        drill.keys("reports/other-logical/").await.is_empty(),
        "only the named source runs"
    );
}

#[tokio::test]
async fn an_unknown_source_id_or_configuration_in_the_input_fails_the_execution_naming_it() {
    let drill = Drill::deploy(defaults()).await;
    drill
        .configure(&[drill.backup_set_source("app-logical", "app", None)])
        .await;
    let (status, exec, why) = drill
        .run_input(json!({"sources": ["app-logical", "prod-billing"]}))
        .await;
    assert_eq!(status, "FAILED");
    assert!(why.contains("Drill.InvalidInput"), "{why}");
    assert!(why.contains("unknown source id"), "{why}");
    assert!(why.contains("prod-billing"), "{why}");
    // The input form of old, a whole source in the input: refused, nothing ran.
    let (status, _, why) = drill
        .run_input(json!({"sources": [drill.backup_set_source("app-logical", "app", None)]}))
        .await;
    assert_eq!(status, "FAILED");
    assert!(why.contains("execution input"), "{why}");
    assert!(
        drill.keys("reports/").await.is_empty(),
        "nothing ran: {exec}"
    );
    assert!(temp_databases(&exec).await.is_empty());
}

#[tokio::test]
async fn the_local_invoke_sample_of_the_plan_step_works_through_the_lambda_invoke_path() {
    // `cargo lambda invoke restore --data-file crates/restore/events/plan.json`, against this
    // deployment: the same payload through Lambda's Invoke API (moto forwards it to our handler).
    let drill = Drill::deploy(defaults()).await;
    drill
        .configure(&[json!({
            "id": "prod-app",
            "source": {"kind": "rds-snapshot", "instance_identifier": "prod-app", "database": "app"}
        })])
        .await;
    let sample = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/restore/events/plan.json"),
    )
    .unwrap();
    let out = aws_sdk_lambda::Client::new(&drill.config)
        .invoke()
        .function_name(format!("{}-restore", drill.name))
        .payload(Blob::new(sample))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), None, "{:?}", out.payload());
    let plan: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(
        plan,
        json!({"sources": [{"id": "prod-app", "snapshot_copy": false}]})
    );
}
