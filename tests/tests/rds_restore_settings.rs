//! Restore settings that matter in AWS, against moto: the instance class fallback when RDS has
//! no capacity, the temp's parameter group, the wait budget measured from the restore, and a
//! delete that never takes automated backups with it.

use chrono::{Duration, Utc};
use drill_core::events::{RestoreStarted, StatusReport, TempResource};
use drill_core::Classified;
use drill_engine::rds::RdsSettings;
use drill_tests::rds::*;
use drill_tests::{aws_config, unique};
use serde_json::json;

/// The class the local stack never has capacity for (tests/stack/moto_server.py).
const NO_CAPACITY: &str = "db.drill-no-capacity.large";

/// Configures `source` as the drill's source in the deployment configuration (the event then
/// names only the drill, as every event does since the trust boundary).
fn restore_event(
    drill: &drill_core::events::DrillContext,
    source: serde_json::Value,
) -> serde_json::Value {
    drill_tests::deployment::configure_source(&drill.source_id, source, None, None);
    json!({"action": "restore", "drill": drill})
}

fn temp_id(started: &RestoreStarted) -> String {
    match &started.temp {
        TempResource::RdsInstance { identifier, .. } => identifier.clone(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn no_capacity_for_a_class_tries_the_next_and_none_left_is_not_transient() {
    let client = rds().await;
    let net = network(&client).await;
    let source = unique("src-");
    create_instance(&client, &source, false, vec![]).await;
    let with_classes = |classes: &[&str]| RdsSettings {
        instance_classes: classes.iter().map(|c| c.to_string()).collect(),
        ..settings(Some(&net))
    };
    let event = |drill: &drill_core::events::DrillContext| {
        restore_event(
            drill,
            json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app"}),
        )
    };

    let deps = restore_deps(
        with_classes(&[NO_CAPACITY, "db.t4g.small"]),
        aws_config().await,
    );
    let drill = drill(&source, Utc::now());
    let started: RestoreStarted =
        serde_json::from_value(restore::handle(&deps, event(&drill)).await.unwrap()).unwrap();
    let db = drill_engine::rds::describe_instance(&client, &temp_id(&started))
        .await
        .unwrap()
        .expect("restored with the next class");
    assert_eq!(db.db_instance_class(), Some("db.t4g.small"));

    // Every class out of capacity: a clear error naming them, not a quick transient retry.
    let deps = restore_deps(with_classes(&[NO_CAPACITY]), aws_config().await);
    let drill = drill_tests::rds::drill(&source, Utc::now());
    let err = restore::handle(&deps, event(&drill)).await.unwrap_err();
    assert_eq!(err.error_type(), "Drill.CouldNotRun", "{err}");
    assert!(err.message.contains(NO_CAPACITY), "{err}");
    assert!(err.message.contains("DRILL_INSTANCE_CLASS"), "{err}");

    // The list comes from the environment, comma-separated.
    let s = RdsSettings::from_vars(|k| {
        (k == "DRILL_INSTANCE_CLASS").then(|| "db.t4g.medium, db.t3.medium".to_owned())
    })
    .unwrap();
    assert_eq!(s.instance_classes, ["db.t4g.medium", "db.t3.medium"]);
    let bad = RdsSettings::from_vars(|k| (k == "DRILL_INSTANCE_CLASS").then(|| " , ".to_owned()));
    assert_eq!(bad.unwrap_err().kind(), drill_core::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn the_temp_gets_the_sources_configured_parameter_group() {
    let client = rds().await;
    let net = network(&client).await;
    let source = unique("src-");
    create_instance(&client, &source, false, vec![]).await;
    let group = unique("drill-pg-");
    client
        .create_db_parameter_group()
        .db_parameter_group_name(&group)
        .db_parameter_group_family("postgres16")
        .description("shared_preload_libraries of the source")
        .send()
        .await
        .unwrap();
    let deps = restore_deps(settings(Some(&net)), aws_config().await);
    let drill = drill(&source, Utc::now());
    let out = restore::handle(
        &deps,
        restore_event(
            &drill,
            json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app",
                   "parameter_group": group}),
        ),
    )
    .await
    .unwrap();
    let started: RestoreStarted = serde_json::from_value(out).unwrap();
    let db = drill_engine::rds::describe_instance(&client, &temp_id(&started))
        .await
        .unwrap()
        .unwrap();
    let groups: Vec<_> = db
        .db_parameter_groups()
        .iter()
        .filter_map(|g| g.db_parameter_group_name())
        .collect();
    assert_eq!(groups, [group.as_str()]);
}

#[tokio::test]
async fn the_wait_budget_starts_at_the_restore_not_at_the_execution() {
    let client = rds().await;
    let net = network(&client).await;
    let source = unique("src-");
    create_instance(&client, &source, false, vec![]).await;
    let deps = restore_deps(settings(Some(&net)), aws_config().await);
    // Queued behind MaxConcurrency: the execution started three hours before this restore.
    let drill = drill(&source, Utc::now() - Duration::hours(3));
    let out = restore::handle(
        &deps,
        restore_event(
            &drill,
            json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app"}),
        ),
    )
    .await
    .unwrap();
    let started: RestoreStarted = serde_json::from_value(out).unwrap();
    assert!((Utc::now() - started.restore_started_at) < Duration::minutes(1));
    let status = |since: Option<chrono::DateTime<Utc>>| {
        let mut event = json!({"action": "status", "drill": drill, "temp": started.temp});
        if let Some(since) = since {
            event["since"] = json!(since);
        }
        let deps = &deps;
        async move {
            serde_json::from_value::<StatusReport>(restore::handle(deps, event).await.unwrap())
                .unwrap()
        }
    };
    let report = status(Some(started.restore_started_at)).await;
    assert!(report.elapsed_seconds < 60, "{report:?}");
    // Without the restore's start (an old state machine), the drill's start, as before.
    let report = status(None).await;
    assert!(report.elapsed_seconds >= 3 * 3600, "{report:?}");
}

#[tokio::test]
async fn deleting_a_temp_never_deletes_automated_backups() {
    let client = rds().await;
    let source = unique("src-");
    create_instance(&client, &source, true, vec![]).await;
    let drill = drill(&source, Utc::now() - Duration::seconds(5));
    // A drill temp that (unlike a real one, restored with BackupRetentionPeriod=0) has
    // automated backups: RDS would delete them with the instance unless told not to.
    drill_tests::deployment::configure_source(
        &drill.source_id,
        json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app"}),
        None,
        None,
    );
    // The temp's name is the one the configuration derives for this drill (delete checks it).
    let temp =
        drill_core::naming::temp_identifier("rdrill-", &source, &drill.drill_id, drill.started_at)
            .unwrap();
    create_instance(
        &client,
        &temp,
        false,
        temp_tags(&drill, Utc::now() + Duration::hours(6)),
    )
    .await;
    let automated = |id: String| {
        let client = client.clone();
        async move {
            drill_engine::rds::list_snapshots(&client, &id, Some("automated"))
                .await
                .unwrap()
                .len()
        }
    };
    assert!(
        automated(temp.clone()).await > 0,
        "moto made no automated snapshot"
    );
    let deps = delete_deps(settings(None), aws_config().await);
    let out = delete_temp::handle(
        &deps,
        json!({"action": "delete", "drill": drill,
               "temp": {"kind": "rds-instance", "identifier": temp, "database": "app"}}),
    )
    .await
    .expect("the drill's own temp");
    assert_eq!(out["deleted"], json!([temp]));
    assert!(
        automated(temp.clone()).await > 0,
        "DeleteAutomatedBackups must be false"
    );
}
