//! Restore of an RDS snapshot to a temp instance, against moto: the parameters and tags moto
//! reports afterwards, snapshot selection, idempotent retries, and the status action.

use chrono::{DateTime, Duration, Utc};
use drill_core::events::{RestoreStarted, StatusReport, TempState};
use drill_core::guards::tag;
use drill_tests::rds::*;
use drill_tests::{aws_config, unique};
use serde_json::{json, Value};

/// Configures `source` as the drill's source in the deployment configuration; the event then
/// names only the drill.
fn restore_event(drill: &drill_core::events::DrillContext, source: Value) -> Value {
    drill_tests::deployment::configure_source(&drill.source_id, source, None, None);
    json!({"action": "restore", "drill": drill})
}

#[tokio::test]
async fn restore_sets_safe_parameters_and_tags_and_status_follows_it() {
    let client = rds().await;
    let net = network(&client).await;
    let source = unique("src-");
    create_instance(&client, &source, true, vec![t("app", "billing")]).await;
    let key = create_kms_key();
    let deps = restore_deps(
        drill_engine::rds::RdsSettings {
            secret_kms_key_id: Some(key.clone()),
            ..settings(Some(&net))
        },
        aws_config().await,
    );
    let drill = drill(&source, Utc::now());

    let out = restore::handle(
        &deps,
        restore_event(
            &drill,
            json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app"}),
        ),
    )
    .await
    .expect("restore starts");
    assert!(
        !out.to_string().to_lowercase().contains("password"),
        "{out}"
    );
    let started: RestoreStarted = serde_json::from_value(out).unwrap();
    let drill_core::events::TempResource::RdsInstance { identifier, .. } = &started.temp else {
        panic!("{:?}", started.temp)
    };
    assert!(identifier.starts_with("rdrill-"), "{identifier}");
    assert_eq!(started.backup.kind.as_str(), "rds-snapshot");
    assert!(
        started.backup.id.contains(&format!("rds:{source}")),
        "{}",
        started.backup.id
    );

    let db = drill_engine::rds::describe_instance(&client, identifier)
        .await
        .unwrap()
        .expect("temp instance exists");
    assert_eq!(db.backup_retention_period(), Some(0));
    assert_eq!(db.deletion_protection(), Some(false), "source had it on");
    assert_eq!(db.publicly_accessible(), Some(false));
    assert_eq!(db.multi_az(), Some(false));
    assert_eq!(db.copy_tags_to_snapshot(), Some(false));
    assert_eq!(db.db_instance_class(), Some("db.t4g.small"));
    assert_eq!(
        db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
        Some(net.subnet_group.as_str())
    );
    let sgs: Vec<_> = db
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(sgs, [net.security_group.as_str()]);
    // As in AWS, a restore from a snapshot has no RDS-managed master secret (the source had one).
    assert!(db.master_user_secret().is_none(), "{db:?}");
    // No parameter group asked for: the engine family's default, never the source's.
    let groups: Vec<_> = db
        .db_parameter_groups()
        .iter()
        .filter_map(|g| g.db_parameter_group_name())
        .collect();
    assert!(
        groups.iter().all(|g| g.starts_with("default.")),
        "{groups:?}"
    );

    let tags = instance_tags(&client, identifier).await;
    assert_eq!(
        tags.get(tag::ROLE).map(String::as_str),
        Some(tag::ROLE_TEMP)
    );
    assert_eq!(tags.get(tag::EXECUTION), Some(&drill.drill_id));
    assert_eq!(tags.get(tag::SOURCE), Some(&source));
    let restored_from = tags.get(tag::RESTORED_FROM).unwrap();
    assert!(
        restored_from.starts_with("arn:aws:rds:")
            && restored_from.contains(&format!(":snapshot:rds:{source}")),
        "{restored_from}"
    );
    assert!(
        !tags.contains_key("app"),
        "source tags must not be copied: {tags:?}"
    );
    let expires: DateTime<Utc> = tags[tag::EXPIRES_AT].parse().expect("RFC 3339");
    assert_eq!(expires.timestamp(), started.expires_at.timestamp());
    let ttl = expires - Utc::now();
    assert!(
        ttl > Duration::hours(11) && ttl <= Duration::hours(12),
        "{ttl}"
    );

    // The source is untouched.
    let src = drill_engine::rds::describe_instance(&client, &source)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(src.deletion_protection(), Some(true));

    // Status: up, but no secret to log in with yet; the wait loop turns it on and waits again.
    let status_event = json!({"action": "status", "drill": drill, "temp": started.temp,
                              "since": started.restore_started_at});
    let status = || async {
        let out = restore::handle(&deps, status_event.clone()).await.unwrap();
        assert!(
            !out.to_string().to_lowercase().contains("password"),
            "{out}"
        );
        serde_json::from_value::<StatusReport>(out).unwrap()
    };
    let report = status().await;
    assert_eq!(report.state, TempState::SecretNeeded, "{report:?}");
    assert!(report.connection.is_none());
    let secret_event = json!({"action": "manage_secret", "drill": drill, "temp": started.temp});
    let asked = restore::handle(&deps, secret_event.clone()).await.unwrap();
    assert_eq!(asked["requested"], json!(true), "{asked}");
    // Retried: nothing asked twice.
    let again = restore::handle(&deps, secret_event).await.unwrap();
    assert_eq!(again["requested"], json!(false), "{again}");
    let secret_key = drill_engine::rds::describe_instance(&client, identifier)
        .await
        .unwrap()
        .unwrap()
        .master_user_secret()
        .and_then(|s| s.kms_key_id().map(str::to_owned));
    assert_eq!(secret_key.as_deref(), Some(key.as_str()), "the drill's key");
    // The secret is being created: wait; once active: available with a connection.
    let mut report = status().await;
    for _ in 0..3 {
        if report.state == TempState::Available {
            break;
        }
        assert_eq!(report.state, TempState::Creating, "{report:?}");
        report = status().await;
    }
    assert_eq!(report.state, TempState::Available, "{report:?}");
    let conn = report.connection.expect("connection when available");
    assert_eq!(conn.database, "app");
    assert!(conn.host.starts_with(identifier.as_str()), "{}", conn.host);
    match conn.secret {
        drill_core::events::SecretRef::SecretsManager { secret_id } => {
            assert!(
                secret_id.starts_with("arn:aws:secretsmanager:"),
                "{secret_id}"
            )
        }
        other => panic!("{other:?}"),
    }

    // A retried restore of the same execution finds its own instance, not a second one.
    let again = restore::handle(
        &deps,
        restore_event(
            &drill,
            json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app"}),
        ),
    )
    .await
    .expect("retry is idempotent");
    assert_eq!(again["temp"], serde_json::to_value(&started.temp).unwrap());

    // Delete through delete-temp, then status reports gone.
    let deleter = delete_deps(settings(None), aws_config().await);
    let out = delete_temp::handle(
        &deleter,
        json!({"action": "delete", "drill": drill, "temp": started.temp}),
    )
    .await
    .expect("legitimate delete");
    assert_eq!(out["deleted"], json!([identifier]));
    let report = status().await;
    assert_eq!(report.state, TempState::Gone);
    assert!(exists(&client, &source).await);
}

#[tokio::test]
async fn status_refuses_an_instance_the_drill_did_not_make() {
    let client = rds().await;
    let source = unique("src-");
    create_instance(&client, &source, true, vec![]).await;
    let deps = restore_deps(settings(None), aws_config().await);
    let drill = drill(&source, Utc::now());
    drill_tests::deployment::configure_source(
        &source,
        json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app"}),
        None,
        None,
    );
    let err = restore::handle(
        &deps,
        json!({"action": "status", "drill": drill,
               "temp": {"kind": "rds-instance", "identifier": source, "database": "app"}}),
    )
    .await
    .unwrap_err();
    // Refused before any call: the instance is not the temp this drill's restore creates.
    assert_eq!(err.error_type(), "Drill.GuardViolation", "{err}");
    assert!(err.message.contains("is not the one source"), "{err}");
}

#[tokio::test]
async fn snapshot_selection_automated_manual_explicit() {
    let client = rds().await;
    let net = network(&client).await;
    let source = unique("src-");
    create_instance(&client, &source, true, vec![]).await;
    let manual_old = unique("manual-a-");
    let manual_new = unique("manual-b-");
    // Each one strictly younger than the one before (and than the automated one).
    for id in [&manual_old, &manual_new] {
        clock_past(newest_snapshot_time(&client, &source).await).await;
        client
            .create_db_snapshot()
            .db_instance_identifier(&source)
            .db_snapshot_identifier(id)
            .send()
            .await
            .unwrap();
    }
    assert!(
        snapshot_created_at(&client, &source, &manual_new).await
            > snapshot_created_at(&client, &source, &manual_old).await
    );
    let settings = settings(Some(&net));
    let now = Utc::now();
    let restored_from = |selector: Value| {
        let client = client.clone();
        let settings = settings.clone();
        let source = source.clone();
        async move {
            let drill = drill(&source, Utc::now());
            let mut src =
                json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app"});
            src["snapshot"] = selector;
            let deps = restore_deps(settings, aws_config().await);
            let out = restore::handle(&deps, restore_event(&drill, src))
                .await
                .unwrap();
            let started: RestoreStarted = serde_json::from_value(out).unwrap();
            let drill_core::events::TempResource::RdsInstance { identifier, .. } = started.temp
            else {
                panic!()
            };
            // The snapshot's ARN (an automated snapshot's `rds:` name is no valid tag value).
            let arn = instance_tags(&client, &identifier).await[tag::RESTORED_FROM].clone();
            let (head, id) = arn.split_once(":snapshot:").expect("a snapshot ARN");
            assert!(head.starts_with("arn:aws:rds:"), "{arn}");
            id.to_owned()
        }
    };
    let automated = restored_from(json!({"pick": "newest-automated"})).await;
    assert!(
        automated.starts_with(&format!("rds:{source}")),
        "{automated}"
    );
    assert_eq!(
        restored_from(json!({"pick": "newest-manual"})).await,
        manual_new
    );
    assert_eq!(restored_from(json!({"pick": "newest"})).await, manual_new);
    assert_eq!(
        restored_from(json!({"pick": "id", "id": manual_old})).await,
        manual_old
    );
    assert!(Utc::now() - now < Duration::minutes(5));
}

#[tokio::test]
async fn no_snapshot_young_enough_or_none_at_all_fail_clearly() {
    let client = rds().await;
    let net = network(&client).await;
    let source = unique("src-");
    create_instance(&client, &source, true, vec![]).await;
    let deps = restore_deps(settings(Some(&net)), aws_config().await);
    let drill = drill(&source, Utc::now());
    // Too old: any snapshot is older than 0 hours once the clock is past it.
    clock_past(newest_snapshot_time(&client, &source).await).await;
    let err = restore::handle(
        &deps,
        restore_event(
            &drill,
            json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app",
                   "max_age_hours": 0}),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Drill.InvalidInput");
    assert!(
        err.message.contains(&source) && err.message.contains("more than the maximum"),
        "{err}"
    );
    assert!(err.message.contains("1 snapshot(s)"), "{err}");

    // No manual snapshot: names the source and lists the automated one it found.
    let err = restore::handle(
        &deps,
        restore_event(
            &drill,
            json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app",
                   "snapshot": {"pick": "newest-manual"}}),
        ),
    )
    .await
    .unwrap_err();
    assert!(
        err.message.contains("no available manual snapshot"),
        "{err}"
    );
    assert!(err.message.contains("(automated, available"), "{err}");

    // An explicit id that does not exist.
    let err = restore::handle(
        &deps,
        restore_event(
            &drill,
            json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app",
                   "snapshot": {"pick": "id", "id": "no-such-snapshot"}}),
        ),
    )
    .await
    .unwrap_err();
    assert!(err.message.contains("no snapshot found"), "{err}");

    // No snapshot at all (moto lets us delete the automated one; AWS would not).
    let auto = snapshot_ids(&client, &source).await;
    for id in &auto {
        client
            .delete_db_snapshot()
            .db_snapshot_identifier(id)
            .send()
            .await
            .unwrap();
    }
    let err = restore::handle(
        &deps,
        restore_event(
            &drill,
            json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app"}),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Drill.InvalidInput");
    assert!(
        err.message
            .contains(&format!("source {source:?}: no snapshot found")),
        "{err}"
    );

    // None of these created an instance.
    let temp = drill_engine::rds::temp_identifier(&settings(None), &drill, &source).unwrap();
    assert!(!exists(&client, &temp).await);
}

#[tokio::test]
async fn long_source_names_give_valid_temp_identifiers() {
    let client = rds().await;
    let net = network(&client).await;
    // 63 characters: the longest RDS allows; the temp name must still fit and keep the prefix.
    let source = format!("{}{}", unique("src-"), "x".repeat(63 - 16));
    assert_eq!(source.len(), 63);
    create_instance(&client, &source, false, vec![]).await;
    let deps = restore_deps(settings(Some(&net)), aws_config().await);
    let drill = drill(&source, Utc::now());
    let out = restore::handle(
        &deps,
        restore_event(
            &drill,
            json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app"}),
        ),
    )
    .await
    .unwrap();
    let id = out["temp"]["identifier"].as_str().unwrap().to_owned();
    assert!(id.len() <= 63 && id.starts_with("rdrill-src-"), "{id}");
    assert!(drill_core::naming::is_valid_rds_identifier(&id));
    assert!(exists(&client, &id).await);
}

#[tokio::test]
async fn an_existing_instance_with_the_temp_name_is_never_taken_over() {
    let client = rds().await;
    let net = network(&client).await;
    let source = unique("src-");
    create_instance(&client, &source, false, vec![]).await;
    let drill = drill(&source, Utc::now());
    let squatter = drill_engine::rds::temp_identifier(&settings(None), &drill, &source).unwrap();
    create_instance(&client, &squatter, false, vec![t("owner", "someone-else")]).await;
    let deps = restore_deps(settings(Some(&net)), aws_config().await);
    let err = restore::handle(
        &deps,
        restore_event(
            &drill,
            json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app"}),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Drill.GuardViolation", "{err}");
    let tags = instance_tags(&client, &squatter).await;
    assert_eq!(tags.get("owner").map(String::as_str), Some("someone-else"));
    assert!(!tags.contains_key(tag::ROLE));
}

#[tokio::test]
async fn misconfiguration_and_other_sources_are_clear_errors() {
    let client = rds().await;
    let source = unique("src-");
    create_instance(&client, &source, false, vec![]).await;
    let drill = drill(&source, Utc::now());
    // No subnet group configured: refuse rather than land in the default (maybe public) one.
    let deps = restore_deps(settings(None), aws_config().await);
    let err = restore::handle(
        &deps,
        restore_event(
            &drill,
            json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app"}),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Drill.InvalidInput");
    assert!(err.message.contains("DRILL_SUBNET_GROUP"), "{err}");
    let temp = drill_engine::rds::temp_identifier(&settings(None), &drill, &source).unwrap();
    assert!(!exists(&client, &temp).await);

    std::env::set_var(
        "DRILL_TEST_RESTORE_SERVER",
        r#"{"username": "u", "password": "p"}"#,
    );
    let err = restore::handle(
        &deps,
        restore_event(
            &drill,
            json!({"kind": "backup-set", "store": format!("file:///tmp/{}", unique("no-sets-")),
                   "server": {"host": "h", "port": 5432, "database": "d",
                              "secret": {"env": {"var": "DRILL_TEST_RESTORE_SERVER"}}}}),
        ),
    )
    .await
    .unwrap_err();
    // A source with no backup set at all is the loudest kind of failure: the backup is invalid.
    assert_eq!(err.error_type(), "Drill.BackupInvalid");
    assert!(err.message.contains("no complete backup set"), "{err}");
}
