//! The adversarial input matrix: execution input and Lambda events are untrusted, so nothing in
//! them may steer what is restored, shared, validated, written, kept or deleted. Each attack is
//! made as an attacker would (a direct invoke with a crafted event, or an assertion written to
//! write), is refused with a clear error, and the test then looks at the state: nothing shared,
//! copied, written, deleted or changed. AWS state in moto, SQL on the throwaway cluster.

use chrono::{Duration, Utc};
use drill_core::checks::{CheckConfig, Status};
use drill_core::events::{BackupRef, DrillContext, TempResource};
use drill_engine::pg::Database;
use drill_engine::validate::{validate, ValidateInput};
use drill_tests::deployment::{configure_source, edit};
use drill_tests::rds::*;
use drill_tests::{aws_config, connect, pg_url, unique, with_database, TestDb};
use serde_json::{json, Value};

fn rds_source(instance: &str) -> Value {
    json!({"kind": "rds-snapshot", "instance_identifier": instance, "database": "app"})
}

/// Every instance identifier moto knows.
async fn instances(client: &aws_sdk_rds::Client) -> Vec<String> {
    client
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances()
        .iter()
        .filter_map(|i| i.db_instance_identifier().map(str::to_owned))
        .collect()
}

/// Temp instances (drill prefix) restored from `source`.
async fn temps_of(client: &aws_sdk_rds::Client, source: &str) -> Vec<String> {
    instances(client)
        .await
        .into_iter()
        .filter(|i| i.starts_with("rdrill-") && i.contains(source))
        .collect()
}

// ---------------------------------------------------------------- restore and copy

#[tokio::test]
async fn a_copy_event_naming_an_account_to_share_with_is_refused_and_nothing_is_copied() {
    let client = rds().await;
    let prod = unique("prod-");
    create_instance(&client, &prod, true, vec![]).await;
    configure_source(&prod, rds_source(&prod), None, None);
    let deps = restore_deps(settings(None), aws_config().await);
    let drill = drill(&prod, Utc::now());
    let err = restore::handle(
        &deps,
        json!({"action": "copy_snapshot", "drill": drill, "instance_identifier": prod,
               "copy": {"share_with": ["999999999999"]}}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
    assert!(err.message.contains("unknown field"), "{err}");
    assert!(err.message.contains("expected `drill`"), "{err}");
    // Nothing was copied or shared: only the automated snapshot exists.
    let snaps = snapshot_ids(&client, &prod).await;
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    assert!(snaps[0].starts_with("rds:"), "{snaps:?}");
}

#[tokio::test]
async fn a_configured_copy_outside_the_allowlists_is_refused_before_any_call() {
    let client = rds().await;
    let prod = unique("prod-");
    create_instance(&client, &prod, true, vec![]).await;
    edit(|d| {
        d["copy_accounts"] = json!(["210987654321"]);
        d["copy_regions"] = json!(["eu-west-1"]);
    });
    let deps = restore_deps(settings(None), aws_config().await);
    let drill = drill(&prod, Utc::now());
    for (copy, named) in [
        (json!({"share_with": ["999999999999"]}), "999999999999"),
        (json!({"region": "ap-south-1"}), "ap-south-1"),
        (json!({"share_with": ["all"]}), "\"all\""),
    ] {
        configure_source(&prod, rds_source(&prod), None, Some(copy));
        let err = restore::handle(&deps, json!({"action": "copy_snapshot", "drill": drill}))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
        assert!(err.message.contains(named), "{err}");
    }
    let snaps = snapshot_ids(&client, &prod).await;
    assert_eq!(snaps.len(), 1, "nothing copied: {snaps:?}");
    let away = drill_engine::rds::client_in_region(&client, "ap-south-1");
    assert!(snapshot_ids(&away, &prod).await.is_empty());
}

#[tokio::test]
async fn a_restore_event_naming_another_instance_is_refused_and_nothing_is_restored() {
    let client = rds().await;
    let net = network(&client).await;
    let prod = unique("prod-");
    let billing = unique("billing-");
    create_instance(&client, &prod, true, vec![]).await;
    create_instance(&client, &billing, true, vec![]).await;
    configure_source(&prod, rds_source(&prod), None, None);
    let deps = restore_deps(settings(Some(&net)), aws_config().await);
    let drill = drill(&prod, Utc::now());
    // The entry id is one source, the instance another: the old event form.
    let err = restore::handle(
        &deps,
        json!({"action": "restore", "drill": drill, "source": rds_source(&billing)}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
    assert!(err.message.contains("unknown field `source`"), "{err}");
    assert!(temps_of(&client, &billing).await.is_empty());
    assert!(temps_of(&client, &prod).await.is_empty());
}

#[tokio::test]
async fn an_unknown_source_id_is_refused_naming_it() {
    let client = rds().await;
    let net = network(&client).await;
    let prod = unique("prod-");
    create_instance(&client, &prod, true, vec![]).await;
    configure_source(&prod, rds_source(&prod), None, None);
    let deps = restore_deps(settings(Some(&net)), aws_config().await);
    let stranger = unique("prod-billing-");
    create_instance(&client, &stranger, true, vec![]).await;
    let err = restore::handle(
        &deps,
        json!({"action": "restore", "drill": drill(&stranger, Utc::now())}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
    assert!(err.message.contains(&format!("{stranger:?}")), "{err}");
    assert!(temps_of(&client, &stranger).await.is_empty());
    // The plan step refuses it too, before any source runs.
    let err = restore::handle(
        &deps,
        json!({"action": "plan", "input": {"sources": [prod, stranger]}}),
    )
    .await
    .unwrap_err();
    assert!(err.message.contains(&format!("{stranger:?}")), "{err}");
}

#[tokio::test]
async fn a_configured_snapshot_id_of_another_instance_is_refused() {
    let client = rds().await;
    let net = network(&client).await;
    let prod = unique("prod-");
    let other = unique("other-");
    create_instance(&client, &prod, true, vec![]).await;
    create_instance(&client, &other, true, vec![]).await;
    let foreign = snapshot_ids(&client, &other).await.remove(0);
    configure_source(
        &prod,
        json!({"kind": "rds-snapshot", "instance_identifier": prod, "database": "app",
               "snapshot": {"pick": "id", "id": foreign}}),
        None,
        None,
    );
    let deps = restore_deps(settings(Some(&net)), aws_config().await);
    let err = restore::handle(
        &deps,
        json!({"action": "restore", "drill": drill(&prod, Utc::now())}),
    )
    .await
    .unwrap_err();
    assert!(err.message.contains(&foreign), "{err}");
    assert!(
        err.message.contains(&other),
        "names the instance it belongs to: {err}"
    );
    assert!(temps_of(&client, &prod).await.is_empty());
    assert!(temps_of(&client, &other).await.is_empty());
}

#[tokio::test]
async fn status_and_delete_touch_only_the_temp_of_the_drill_that_asks() {
    let client = rds().await;
    let net = network(&client).await;
    let prod = unique("prod-");
    create_instance(&client, &prod, false, vec![]).await;
    configure_source(&prod, rds_source(&prod), None, None);
    let aws = aws_config().await;
    let restore_deps = restore_deps(settings(Some(&net)), aws.clone());
    let delete_deps = delete_deps(settings(Some(&net)), aws);
    let mine = drill(&prod, Utc::now());
    let started: drill_core::events::RestoreStarted = serde_json::from_value(
        restore::handle(&restore_deps, json!({"action": "restore", "drill": mine}))
            .await
            .unwrap(),
    )
    .unwrap();
    let TempResource::RdsInstance { identifier, .. } = &started.temp else {
        panic!("{:?}", started.temp)
    };

    // Another execution's drill id with this drill's temp.
    let other = DrillContext {
        drill_id: unique("exec-"),
        started_at: mine.started_at + Duration::seconds(1),
        ..mine.clone()
    };
    let err = delete_temp::handle(
        &delete_deps,
        json!({"action": "delete", "drill": other, "temp": started.temp}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Drill.GuardViolation", "{err}");
    assert!(err.message.contains(identifier), "{err}");
    assert!(
        exists(&client, identifier).await,
        "another drill's temp survives"
    );

    // Production named as the temp, for status and for delete.
    let prod_as_temp = json!({"kind": "rds-instance", "identifier": prod, "database": "app"});
    for err in [
        restore::handle(
            &restore_deps,
            json!({"action": "status", "drill": mine, "temp": prod_as_temp}),
        )
        .await
        .unwrap_err(),
        delete_temp::handle(
            &delete_deps,
            json!({"action": "delete", "drill": mine, "temp": prod_as_temp}),
        )
        .await
        .unwrap_err(),
    ] {
        assert_eq!(err.error_type(), "Drill.GuardViolation", "{err}");
        assert!(err.message.contains("is not the one source"), "{err}");
    }
    assert!(exists(&client, &prod).await, "production survives");

    // The drill's own delete deletes exactly its temp.
    let out = delete_temp::handle(
        &delete_deps,
        json!({"action": "delete", "drill": mine, "temp": started.temp}),
    )
    .await
    .unwrap();
    assert_eq!(out["deleted"], json!([identifier]), "{out}");
    assert!(!exists(&client, identifier).await);
    assert!(exists(&client, &prod).await);
}

// ---------------------------------------------------------------- export

struct ExportSetup {
    deps: export::Deps,
    drill: DrillContext,
    bucket: String,
    temp_db: String,
    source: Value,
}

/// A backup-set source `app-logical` on the shared cluster, its temp database restored (made by
/// hand here), and a bucket under Object Lock as the configured backups URL.
async fn export_setup(lock_days: u32) -> ExportSetup {
    let cfg = aws_config().await;
    let s3 = drill_tests::s3(&cfg);
    let bucket = unique("tb-backups-");
    s3.create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let var = format!("DRILL_TEST_TB_SECRET_{}", std::process::id());
    std::env::set_var(&var, pg_url());
    let url = url::Url::parse(&pg_url()).unwrap();
    let server = json!({"host": "127.0.0.1", "port": url.port().unwrap(), "database": "postgres",
                        "secret": {"env": {"var": var}}, "tls": "disable"});
    edit(|d| {
        d["backups_url"] = format!("s3://{bucket}/backups").into();
        d["object_lock_days"] = lock_days.into();
    });
    configure_source(
        "app-logical",
        json!({"kind": "backup-set", "store": format!("s3://{bucket}/backups/app"), "server": server}),
        None,
        None,
    );
    let drill = drill("app-logical", Utc::now());
    let temp_db = drill_core::tempdb::temp_database_name(
        "rdrill-",
        "app-logical",
        &drill.drill_id,
        drill.started_at,
    )
    .unwrap();
    let admin = connect(&pg_url()).await;
    admin
        .batch_execute(&format!("CREATE DATABASE \"{temp_db}\""))
        .await
        .unwrap();
    connect(&with_database(&pg_url(), &temp_db))
        .await
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);",
        )
        .await
        .unwrap();
    let mut source = server.clone();
    source["database"] = temp_db.clone().into();
    let deps = export::Deps::new(
        export::Config {
            jobs: 1,
            chunk_mb: 8,
            pg_dump: None,
            allow_plaintext: true,
            pg_override: None,
            config_url: Some(drill_tests::deployment::url()),
            planner: Default::default(),
        },
        cfg,
    );
    ExportSetup {
        deps,
        drill,
        bucket,
        temp_db,
        source,
    }
}

async fn keys(bucket: &str) -> Vec<String> {
    let cfg = aws_config().await;
    drill_tests::s3(&cfg)
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

async fn drop_db(name: &str) {
    let admin = connect(&pg_url()).await;
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}

#[tokio::test]
async fn an_export_event_cannot_choose_lock_mode_days_or_destination_and_the_set_is_compliance_locked(
) {
    let setup = export_setup(3).await;
    let attacks = [
        ("object_lock", json!({"mode": "GOVERNANCE", "days": 1})),
        (
            "destination",
            json!(format!("s3://{}/elsewhere", setup.bucket)),
        ),
    ];
    for (field, value) in attacks {
        let mut event = json!({"drill": setup.drill, "source": setup.source});
        event[field] = value;
        let err = export::handle(&setup.deps, event).await.unwrap_err();
        assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
        assert!(
            err.message.contains(&format!("unknown field `{field}`")),
            "{err}"
        );
    }
    assert!(keys(&setup.bucket).await.is_empty(), "nothing written");

    // Another database than this drill's temp (production, say): refused, nothing written.
    let prod = TestDb::create("tb_prod_").await;
    let mut elsewhere = setup.source.clone();
    elsewhere["database"] = prod.name.clone().into();
    let err = export::handle(
        &setup.deps,
        json!({"drill": setup.drill, "source": elsewhere}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Drill.GuardViolation", "{err}");
    assert!(err.message.contains(&prod.name), "{err}");
    assert!(keys(&setup.bucket).await.is_empty(), "nothing written");

    // The legitimate export: under the source's own prefix, COMPLIANCE, at least the days.
    let out = export::handle(
        &setup.deps,
        json!({"drill": setup.drill, "source": setup.source}),
    )
    .await
    .unwrap();
    let set = out["backup_set"].as_str().unwrap();
    assert!(
        set.starts_with(&format!("s3://{}/backups/app-logical/", setup.bucket)),
        "{set}"
    );
    let written = keys(&setup.bucket).await;
    assert!(!written.is_empty());
    let cfg = aws_config().await;
    let s3 = drill_tests::s3(&cfg);
    for key in &written {
        assert!(key.starts_with("backups/app-logical/"), "{key}");
        let head = s3
            .head_object()
            .bucket(&setup.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.object_lock_mode().map(|m| m.as_str()),
            Some("COMPLIANCE"),
            "{key}"
        );
        let until = head.object_lock_retain_until_date().unwrap().secs();
        assert!(
            until >= (Utc::now() + Duration::days(3)).timestamp(),
            "{key}: locked for at least the configured 3 days"
        );
    }
    drop_db(&setup.temp_db).await;
}

// ---------------------------------------------------------------- validation cannot write

const DATA: &str = "
    CREATE TABLE t (id int PRIMARY KEY, v text);
    INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g;
    CREATE FUNCTION wipe() RETURNS int LANGUAGE sql AS 'DELETE FROM t; SELECT 1';
    CREATE FUNCTION wipe_definer() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'DELETE FROM t; SELECT 1';
";

fn assertion(query: &str) -> CheckConfig {
    let toml =
        format!("[[sql]]\nname = \"attack\"\nquery = '''{query}'''\nexpect = {{ equals = 1 }}\n");
    CheckConfig::from_toml(&toml).unwrap()
}

async fn run(url: &str, config: CheckConfig) -> drill_engine::validate::Validated {
    validate(
        &Database::from_url(url).unwrap(),
        ValidateInput {
            source_id: "app".into(),
            drill_id: unique("d-"),
            drill_started_at: Utc::now(),
            backup: Some(BackupRef {
                kind: drill_core::events::BackupKind::Cli,
                id: "b1".into(),
                taken_at: Utc::now(),
            }),
            config,
            manifest: None,
            history: None,
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn assertions_cannot_write_change_settings_or_run_several_statements() {
    // Connected as the server's superuser, as on a shared restore server's admin account.
    let db = TestDb::create("tb_sql_").await;
    connect(&db.url).await.batch_execute(DATA).await.unwrap();
    let roles_before: i64 = connect(&pg_url())
        .await
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'drill_reader_%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let attacks = [
        "ROLLBACK; BEGIN READ WRITE; DELETE FROM t; COMMIT; SELECT 1",
        "COMMIT",
        "SET default_transaction_read_only = off",
        "SELECT 1 FROM (SELECT set_config('work_mem', '1MB', false)) s",
        "SELECT set_config('transaction_read_only', 'off', false)",
        "SELECT wipe()",
        "SELECT wipe_definer()",
        "WITH d AS (DELETE FROM t RETURNING 1) SELECT count(*) FROM d",
        "SELECT 1 FROM (SELECT set_config('role', 'postgres', true)) s, LATERAL (SELECT wipe()) w",
    ];
    for attack in attacks {
        let v = run(&db.url, assertion(attack)).await;
        let c = v
            .report
            .checks
            .iter()
            .find(|c| c.name == "sql:attack")
            .unwrap();
        assert_eq!(c.status, Status::Error, "{attack}: {c:?}");
        assert!(
            v.report.outcome.error_kind().is_some(),
            "{attack}: the drill fails"
        );
    }
    // Every row is still there, and no reader role is left behind.
    let rows: i64 = connect(&db.url)
        .await
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 50);
    let roles_after: i64 = connect(&pg_url())
        .await
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'drill_reader_%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(roles_after, roles_before);

    // A reading assertion still passes.
    let v = run(&db.url, assertion("SELECT count(*) / 50 FROM t")).await;
    let c = v
        .report
        .checks
        .iter()
        .find(|c| c.name == "sql:attack")
        .unwrap();
    assert_eq!(c.status, Status::Pass, "{c:?}");
}
