//! Point-in-time restores against moto (with the fixes of `fix_rds_point_in_time_restores`): each
//! moment's parameters and tags, the restore from retained automated backups after the source is
//! deleted, from automated backups replicated into the drill's region, and the AWS rules the
//! local stack now enforces (restore window, RestoreTime with UseLatestRestorableTime).

use chrono::{DateTime, Duration, Utc};
use drill_core::events::{DrillContext, RestoreStarted, StatusReport, TempResource, TempState};
use drill_core::guards::tag;
use drill_tests::rds::*;
use drill_tests::{aws_config, unique};
use serde_json::{json, Value};

/// Configures `instance` as source `drill.source_id`, restored as `restore` says.
fn restore_event(drill: &DrillContext, instance: &str, restore: Value) -> Value {
    let (id, instance) = (drill.source_id.clone(), instance.to_owned());
    drill_tests::deployment::edit(move |d| {
        let sources = d["sources"].as_array_mut().unwrap();
        sources.retain(|s| s["id"] != id.as_str());
        sources.push(json!({"id": id, "restore": restore, "source": {
            "kind": "rds-snapshot", "instance_identifier": instance, "database": "app"}}));
    });
    json!({"action": "restore", "drill": drill})
}

fn identifier_of(started: &RestoreStarted) -> String {
    let TempResource::RdsInstance { identifier, .. } = &started.temp else {
        panic!("{:?}", started.temp)
    };
    identifier.clone()
}

/// The automated backups of `instance` as the engine reads them.
async fn backups_of(
    client: &drill_engine::rds::Client,
    instance: &str,
) -> Vec<drill_core::point_in_time::AutomatedBackupFacts> {
    drill_engine::rds::list_automated_backups(client)
        .await
        .unwrap()
        .into_iter()
        .filter(|b| b.instance == instance)
        .collect()
}

async fn restore(deps: &restore::Deps, event: Value) -> RestoreStarted {
    let out = restore::handle(deps, event).await.expect("restore starts");
    assert!(
        !out.to_string().to_lowercase().contains("password"),
        "{out}"
    );
    serde_json::from_value(out).unwrap()
}

#[tokio::test]
async fn a_random_moment_is_restored_with_the_snapshot_settings_and_tags_and_recorded() {
    let client = rds().await;
    let net = network(&client).await;
    let source = unique("pitr-");
    create_instance(&client, &source, true, vec![t("app", "billing")]).await;
    let created = instance_created_at(&client, &source).await;
    let deps = restore_deps(settings(Some(&net)), aws_config().await);
    let drill = drill(&source, Utc::now());
    let event = restore_event(
        &drill,
        &source,
        json!({"mode": "point-in-time", "moment": "random", "seed": 42}),
    );
    let started = restore(&deps, event.clone()).await;
    assert_eq!(started.backup.kind.as_str(), "rds-point-in-time");
    assert!(
        started.backup.id.starts_with(&format!("{source}@")),
        "{}",
        started.backup.id
    );
    assert!(
        started.backup.id.contains("seed 42"),
        "{}",
        started.backup.id
    );
    // Freshness and RPO are measured against the chosen moment, inside the window.
    let at = started.backup.taken_at;
    assert!(
        at >= created - Duration::seconds(1) && at <= Utc::now(),
        "{at}"
    );

    let identifier = identifier_of(&started);
    let db = drill_engine::rds::describe_instance(&client, &identifier)
        .await
        .unwrap()
        .expect("temp exists");
    assert_eq!(db.backup_retention_period(), Some(0));
    assert_eq!(db.deletion_protection(), Some(false), "source had it on");
    assert_eq!(db.publicly_accessible(), Some(false));
    assert_eq!(db.multi_az(), Some(false));
    assert_eq!(db.db_instance_class(), Some("db.t4g.small"));
    assert_eq!(
        db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
        Some(net.subnet_group.as_str())
    );
    assert!(db.master_user_secret().is_none(), "{db:?}");
    let tags = instance_tags(&client, &identifier).await;
    assert_eq!(
        tags.get(tag::ROLE).map(String::as_str),
        Some(tag::ROLE_TEMP)
    );
    assert_eq!(tags.get(tag::EXECUTION), Some(&drill.drill_id));
    assert_eq!(tags.get(tag::SOURCE), Some(&source));
    let backup = &backups_of(&client, &source).await[0];
    assert_eq!(tags.get(tag::RESTORED_FROM), Some(&backup.arn));
    assert!(backup.arn.contains(":auto-backup:"), "{}", backup.arn);
    assert!(!tags.contains_key("app"), "source tags copied: {tags:?}");

    // A retry of the same execution, after the window has moved on (as it does every few
    // minutes in AWS), reports the moment the temp was restored to, not one chosen again.
    let first_latest = backup.window.expect("a window").latest;
    let moved = async {
        loop {
            let now = backups_of(&client, &source).await[0].window.unwrap().latest;
            if now > first_latest {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), moved)
        .await
        .expect("the restore window's latest time moves on");
    let recorded = tags
        .get(tag::MOMENT)
        .and_then(|v| drill_core::point_in_time::ChosenMoment::from_tag_value(v))
        .expect("the temp records its moment");
    assert_eq!(recorded.describe(&source), started.backup.id);
    let again = restore(&deps, event).await;
    assert_eq!(again.backup.taken_at, started.backup.taken_at);
    assert_eq!(again.backup.id, started.backup.id);
    assert_eq!(identifier_of(&again), identifier);

    // The wait loop is the snapshot restore's: no secret yet, the loop turns it on.
    let out = restore::handle(
        &deps,
        json!({"action": "status", "drill": drill, "temp": started.temp}),
    )
    .await
    .unwrap();
    let report: StatusReport = serde_json::from_value(out).unwrap();
    assert_eq!(report.state, TempState::SecretNeeded, "{report:?}");

    // And the same guards delete it.
    let deleter = delete_deps(settings(None), aws_config().await);
    let out = delete_temp::handle(
        &deleter,
        json!({"action": "delete", "drill": drill, "temp": started.temp}),
    )
    .await
    .expect("legitimate delete");
    assert_eq!(out["deleted"], json!([identifier]));
    assert!(exists(&client, &source).await);
}

#[tokio::test]
async fn the_latest_moment_without_a_seed_says_so_and_a_derived_seed_replays() {
    let client = rds().await;
    let net = network(&client).await;
    let source = unique("pitr-");
    create_instance(&client, &source, false, vec![]).await;
    let deps = restore_deps(settings(Some(&net)), aws_config().await);
    let before = Utc::now();
    let latest = restore(
        &deps,
        restore_event(
            &drill(&source, Utc::now()),
            &source,
            json!({"mode": "point-in-time"}),
        ),
    )
    .await;
    assert!(
        latest.backup.id.contains("latest restorable time"),
        "{}",
        latest.backup.id
    );
    assert!(latest.backup.taken_at >= before - Duration::seconds(1));

    // No seed configured: derived from the execution and source, and recorded.
    let d = drill(&source, Utc::now());
    let random = restore(
        &deps,
        restore_event(
            &d,
            &source,
            json!({"mode": "point-in-time", "moment": "random"}),
        ),
    )
    .await;
    let seed = drill_core::point_in_time::derive_seed(&d.drill_id, &d.source_id);
    assert!(
        random.backup.id.contains(&format!("seed {seed}")),
        "{}",
        random.backup.id
    );
}

#[tokio::test]
async fn retained_automated_backups_restore_after_the_source_is_deleted() {
    let client = rds().await;
    let net = network(&client).await;
    let source = unique("gone-");
    create_instance(&client, &source, false, vec![]).await;
    let created = instance_created_at(&client, &source).await;
    client
        .delete_db_instance()
        .db_instance_identifier(&source)
        .skip_final_snapshot(true)
        .delete_automated_backups(false)
        .send()
        .await
        .unwrap();
    assert!(!exists(&client, &source).await);
    let retained = backups_of(&client, &source).await;
    assert_eq!(retained.len(), 1, "{retained:?}");
    assert_eq!(retained[0].status, "retained");
    // The posture audit of the gone source: its backups survived, retained.
    let policy = drill_core::posture::PosturePolicy::default();
    let checks = drill_engine::rds::audit(&client, &source, &policy, Utc::now())
        .await
        .unwrap();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert!(
        checks[0].passed && checks[0].detail.contains(&retained[0].arn),
        "{checks:?}"
    );

    let deps = restore_deps(settings(Some(&net)), aws_config().await);
    let drill = drill(&source, Utc::now());
    let started = restore(
        &deps,
        restore_event(
            &drill,
            &source,
            json!({"mode": "point-in-time", "moment": "random", "seed": 9}),
        ),
    )
    .await;
    let window = retained[0].window.unwrap();
    let at: DateTime<Utc> = started.backup.taken_at;
    assert!(
        at >= window.earliest - Duration::seconds(1) && at <= window.latest,
        "{at}"
    );
    assert!(at >= created - Duration::seconds(1));
    let identifier = identifier_of(&started);
    let tags = instance_tags(&client, &identifier).await;
    assert_eq!(tags.get(tag::RESTORED_FROM), Some(&retained[0].arn));
    assert_eq!(tags.get(tag::EXECUTION), Some(&drill.drill_id));

    // Deleted the default way, the automated backups go with the instance: a clear refusal.
    let other = unique("gone-");
    create_instance(&client, &other, false, vec![]).await;
    client
        .delete_db_instance()
        .db_instance_identifier(&other)
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
    let err = restore::handle(
        &deps,
        restore_event(
            &drill_tests::rds::drill(&other, Utc::now()),
            &other,
            json!({"mode": "point-in-time"}),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
    assert!(err.message.contains("no automated backups"), "{err}");
}

#[tokio::test]
async fn automated_backups_replicated_into_the_drills_region_restore_there() {
    let client = rds().await;
    let net = network(&client).await;
    let west = drill_engine::rds::client_in_region(&client, "us-west-2");
    let source = unique("west-");
    create_instance(&west, &source, false, vec![]).await;
    let arn = drill_engine::rds::describe_instance(&west, &source)
        .await
        .unwrap()
        .unwrap()
        .db_instance_arn()
        .unwrap()
        .to_owned();
    let survive = |checks: Vec<drill_core::posture::PostureCheck>| {
        let c = checks
            .into_iter()
            .find(|c| c.name == "backups-survive-deletion")
            .expect("the audit has the check");
        (c.passed, c.detail)
    };
    let policy = drill_core::posture::PosturePolicy::default();
    let (passed, detail) = survive(
        drill_engine::rds::audit(&west, &source, &policy, Utc::now())
            .await
            .unwrap(),
    );
    assert!(!passed, "neither replicated nor retained: {detail}");
    client
        .start_db_instance_automated_backups_replication()
        .source_db_instance_arn(&arn)
        .backup_retention_period(7)
        .send()
        .await
        .unwrap();
    let (passed, detail) = survive(
        drill_engine::rds::audit(&west, &source, &policy, Utc::now())
            .await
            .unwrap(),
    );
    assert!(passed, "{detail}");
    // The source region's instance is gone; its replica in the drill's region remains.
    west.delete_db_instance()
        .db_instance_identifier(&source)
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
    let replicas = backups_of(&client, &source).await;
    assert_eq!(replicas.len(), 1, "{replicas:?}");
    assert_eq!(replicas[0].region.as_deref(), Some("us-west-2"));

    let deps = restore_deps(settings(Some(&net)), aws_config().await);
    let d = drill(&source, Utc::now());
    // Not configured as replicated: the drill's own region has no backups of it.
    let err = restore::handle(
        &deps,
        restore_event(&d, &source, json!({"mode": "point-in-time"})),
    )
    .await
    .unwrap_err();
    assert!(err.message.contains("no automated backups"), "{err}");
    let started = restore(
        &deps,
        restore_event(
            &d,
            &source,
            json!({"mode": "point-in-time", "replicated_from": "us-west-2"}),
        ),
    )
    .await;
    let tags = instance_tags(&client, &identifier_of(&started)).await;
    assert_eq!(tags.get(tag::RESTORED_FROM), Some(&replicas[0].arn));
}

fn code<E: aws_sdk_rds::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_rds::error::SdkError<E, R>,
) -> String {
    e.as_service_error()
        .and_then(|s| s.code())
        .unwrap_or("no service error")
        .to_owned()
}

#[tokio::test]
async fn the_local_stack_refuses_what_aws_refuses_for_point_in_time_restores() {
    let client = rds().await;
    let source = unique("pitr-");
    create_instance(&client, &source, false, vec![]).await;
    let call = |target: &str| {
        client
            .restore_db_instance_to_point_in_time()
            .source_db_instance_identifier(&source)
            .target_db_instance_identifier(target)
            .db_instance_class("db.t4g.small")
    };
    let before =
        aws_smithy_types::DateTime::from_secs((Utc::now() - Duration::days(30)).timestamp());
    let err = call(&unique("rdrill-x"))
        .restore_time(before)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRestoreFault");
    let now = aws_smithy_types::DateTime::from_secs(Utc::now().timestamp());
    let err = call(&unique("rdrill-x"))
        .restore_time(now)
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterCombination");
    // DescribeDBInstanceAutomatedBackups by the identifier of no existing instance.
    let err = client
        .describe_db_instance_automated_backups()
        .db_instance_identifier(unique("never-"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DBInstanceNotFound");
}
