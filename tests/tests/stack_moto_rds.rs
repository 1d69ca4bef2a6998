//! The RDS fixes in tests/stack/moto_server.py, proven against the running moto: falsy restore
//! settings, the managed secret and capacity of a restore, snapshot ARNs across regions and
//! accounts, and one DbiResourceId per instance (how the Terraform provider reads one back).

use aws_sdk_rds::types::Filter;
use aws_sdk_rds::Client;
use drill_tests::{aws_config, unique};

async fn create(client: &Client, id: &str) -> String {
    drill_tests::rds::create_instance(client, id, false, vec![]).await;
    let found = client
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .unwrap();
    found.db_instances()[0]
        .dbi_resource_id()
        .expect("a new instance has a resource id")
        .to_owned()
}

#[tokio::test]
async fn every_instance_has_its_own_resource_id_and_the_filter_finds_only_it() {
    let client = Client::new(&aws_config().await);
    let (a, b) = (unique("rid-a"), unique("rid-b"));
    let (rid_a, rid_b) = (create(&client, &a).await, create(&client, &b).await);
    assert_ne!(rid_a, rid_b, "two instances share a DbiResourceId");
    for rid in [&rid_a, &rid_b] {
        assert!(
            rid.len() == 29
                && rid.starts_with("db-")
                && rid[3..]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "{rid} is not in AWS's form"
        );
    }
    let found = client
        .describe_db_instances()
        .filters(
            Filter::builder()
                .name("dbi-resource-id")
                .values(&rid_b)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = found
        .db_instances()
        .iter()
        .filter_map(|d| d.db_instance_identifier())
        .collect();
    assert_eq!(ids, vec![b.as_str()]);
    // Stable for the instance's life: describing it again gives the same id.
    let again = client
        .describe_db_instances()
        .db_instance_identifier(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.db_instances()[0].dbi_resource_id(),
        Some(rid_a.as_str())
    );
    for id in [&a, &b] {
        client
            .delete_db_instance()
            .db_instance_identifier(id)
            .skip_final_snapshot(true)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn rds_restore_applies_deletion_protection_false_and_other_falsy_settings() {
    let config = aws_config().await;
    let rds = aws_sdk_rds::Client::new(&config);
    let source = unique("prod-");
    rds.create_db_instance()
        .db_instance_identifier(&source)
        .engine("postgres")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("app")
        .master_user_password("not-a-real-secret")
        .deletion_protection(true)
        .backup_retention_period(7)
        .multi_az(true)
        .send()
        .await
        .unwrap();
    let snap = format!("{source}-snap");
    rds.create_db_snapshot()
        .db_instance_identifier(&source)
        .db_snapshot_identifier(&snap)
        .send()
        .await
        .unwrap();
    let temp = unique("rdrill-t-");
    rds.restore_db_instance_from_db_snapshot()
        .db_snapshot_identifier(&snap)
        .db_instance_identifier(&temp)
        .deletion_protection(false)
        .backup_retention_period(0)
        .multi_az(false)
        .publicly_accessible(false)
        .send()
        .await
        .unwrap();
    let describe = |id: String| {
        let rds = rds.clone();
        async move {
            rds.describe_db_instances()
                .db_instance_identifier(id)
                .send()
                .await
                .unwrap()
                .db_instances()[0]
                .clone()
        }
    };
    let restored = describe(temp.clone()).await;
    assert_eq!(restored.deletion_protection(), Some(false));
    assert_eq!(restored.backup_retention_period(), Some(0));
    assert_eq!(restored.multi_az(), Some(false));
    assert_eq!(restored.publicly_accessible(), Some(false));
    // The source keeps its own settings, and stays undeletable.
    let src = describe(source.clone()).await;
    assert_eq!(src.deletion_protection(), Some(true));
    assert!(rds
        .delete_db_instance()
        .db_instance_identifier(&source)
        .skip_final_snapshot(true)
        .send()
        .await
        .is_err());
    // The restored one can be deleted.
    rds.delete_db_instance()
        .db_instance_identifier(&temp)
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn rds_restore_creates_no_managed_secret_but_modify_does_and_capacity_can_run_out() {
    let config = aws_config().await;
    let rds = aws_sdk_rds::Client::new(&config);
    let source = unique("prod-");
    // A source whose own password is RDS-managed: its restore must not inherit that secret.
    rds.create_db_instance()
        .db_instance_identifier(&source)
        .engine("postgres")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("app")
        .manage_master_user_password(true)
        .send()
        .await
        .unwrap();
    let snap = format!("{source}-snap");
    rds.create_db_snapshot()
        .db_instance_identifier(&source)
        .db_snapshot_identifier(&snap)
        .send()
        .await
        .unwrap();
    let describe = |id: String| {
        let rds = rds.clone();
        async move {
            rds.describe_db_instances()
                .db_instance_identifier(id)
                .send()
                .await
                .unwrap()
                .db_instances()[0]
                .clone()
        }
    };
    // ManageMasterUserPassword on a restore applies to RDS for Oracle only: PostgreSQL gets none.
    let temp = unique("rdrill-t-");
    rds.restore_db_instance_from_db_snapshot()
        .db_snapshot_identifier(&snap)
        .db_instance_identifier(&temp)
        .manage_master_user_password(true)
        .send()
        .await
        .unwrap();
    let restored = describe(temp.clone()).await;
    assert!(restored.master_user_secret().is_none(), "{restored:?}");
    // ModifyDBInstance turns it on: creating first, then active.
    rds.modify_db_instance()
        .db_instance_identifier(&temp)
        .manage_master_user_password(true)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let secret = describe(temp.clone()).await.master_user_secret().cloned();
    let secret = secret.expect("a managed secret after ModifyDBInstance");
    assert!(secret
        .secret_arn()
        .is_some_and(|a| a.contains(":secret:rds!db-") || a.contains(":secret:")));
    let second = describe(temp.clone())
        .await
        .master_user_secret()
        .cloned()
        .unwrap();
    assert_eq!(second.secret_status(), Some("active"));
    // The source keeps its own secret, a different one.
    let src = describe(source.clone()).await;
    assert_ne!(
        src.master_user_secret().and_then(|s| s.secret_arn()),
        second.secret_arn()
    );
    // The class moto never has capacity for.
    let err = rds
        .restore_db_instance_from_db_snapshot()
        .db_snapshot_identifier(&snap)
        .db_instance_identifier(unique("rdrill-c-"))
        .db_instance_class("db.drill-no-capacity.large")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_rds::error::ProvideErrorMetadata::code(&err),
        Some("InsufficientDBInstanceCapacity"),
        "{err:?}"
    );
    for id in [&temp, &source] {
        rds.delete_db_instance()
            .db_instance_identifier(id)
            .skip_final_snapshot(true)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn rds_snapshot_arns_resolve_across_regions_and_across_accounts_only_when_shared() {
    use aws_sdk_rds::error::ProvideErrorMetadata;
    let home = drill_tests::rds::rds().await;
    let source = unique("prod-");
    drill_tests::rds::create_instance(&home, &source, false, vec![]).await;
    // An automated snapshot's name holds a colon (`rds:prod-...`): moto cut it off.
    let automated = drill_tests::rds::snapshot_ids(&home, &source).await[0].clone();
    let arn = format!("arn:aws:rds:us-east-1:123456789012:snapshot:{automated}");
    let away = drill_engine::rds::client_in_region(&home, "eu-west-1");
    let copy = unique("copy-");
    away.copy_db_snapshot()
        .source_db_snapshot_identifier(&arn)
        .target_db_snapshot_identifier(&copy)
        .send()
        .await
        .expect("cross-region copy by ARN");

    let other = drill_tests::rds::client_of_account("210987654321", "eu-west-1").await;
    let copy_arn = format!("arn:aws:rds:eu-west-1:123456789012:snapshot:{copy}");
    let look = || {
        other
            .describe_db_snapshots()
            .db_snapshot_identifier(&copy_arn)
            .include_shared(true)
            .send()
    };
    let err = look().await.unwrap_err();
    assert_eq!(err.code(), Some("DBSnapshotNotFound"), "not shared yet");
    let err = other
        .copy_db_snapshot()
        .source_db_snapshot_identifier(&copy_arn)
        .target_db_snapshot_identifier(unique("theirs-"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("DBSnapshotNotFound"),
        "copy of an unshared snapshot"
    );

    away.modify_db_snapshot_attribute()
        .db_snapshot_identifier(&copy)
        .attribute_name("restore")
        .values_to_add("210987654321")
        .send()
        .await
        .unwrap();
    let seen = look().await.unwrap().db_snapshots()[0].clone();
    // As AWS shows a shared snapshot to the account it is shared with.
    assert_eq!(seen.db_snapshot_identifier(), Some(copy_arn.as_str()));
    assert_eq!(seen.snapshot_type(), Some("shared"));
    other
        .copy_db_snapshot()
        .source_db_snapshot_identifier(&copy_arn)
        .target_db_snapshot_identifier(unique("theirs-"))
        .send()
        .await
        .expect("copy of a shared snapshot");
    // The receiving account may not change who else sees it.
    let err = other
        .modify_db_snapshot_attribute()
        .db_snapshot_identifier(&copy_arn)
        .attribute_name("restore")
        .values_to_add("999999999999")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DBSnapshotNotFound"));
    // Another region's snapshot is only a copy source: restoring it by ARN fails, as in AWS.
    let err = away
        .restore_db_instance_from_db_snapshot()
        .db_snapshot_identifier(&arn)
        .db_instance_identifier(unique("cross-region-"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DBSnapshotNotFound"));
    // And restored by ARN (moto looked the bare name up in the caller's own account).
    let restored = other
        .restore_db_instance_from_db_snapshot()
        .db_snapshot_identifier(&copy_arn)
        .db_instance_identifier(unique("theirs-db-"))
        .send()
        .await
        .expect("restore of a shared snapshot by ARN");
    assert!(restored
        .db_instance()
        .and_then(|d| d.db_instance_arn())
        .unwrap()
        .starts_with("arn:aws:rds:eu-west-1:210987654321:db:"));
}
